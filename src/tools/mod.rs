//! Thin wrappers around the external programs. Tools are located once, before
//! anything runs; a missing one is an error that says how to install it.

pub mod git;
pub mod packer;
pub mod process;
pub mod ssh;
pub mod terraform;

use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    Packer,
    Git,
    Terraform,
    Ssh,
}

impl Tool {
    pub fn name(self) -> &'static str {
        match self {
            Tool::Packer => "packer",
            Tool::Git => "git",
            Tool::Terraform => "terraform",
            Tool::Ssh => "ssh",
        }
    }

    fn install_hint(self) -> &'static str {
        match self {
            Tool::Packer => "install packer >= 1.6 (Debian/Ubuntu: `apt-get install packer`; elsewhere the HashiCorp release for your platform) and make sure it is on PATH",
            Tool::Git => "install git (Debian/Ubuntu: `apt-get install git`)",
            Tool::Terraform => "install terraform >= 0.12 (the HashiCorp release for your platform) and make sure it is on PATH",
            Tool::Ssh => "install the OpenSSH client (Debian/Ubuntu: `apt-get install openssh-client`)",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    #[error("`{name}` is not on PATH\n  = help: {hint}")]
    Missing { name: &'static str, hint: &'static str },
    #[error("could not start `{program}` to {description}: {source}")]
    Spawn { program: String, description: String, source: std::io::Error },
    #[error("failed to {description}: `{command}` exited with {status}\n{stderr}")]
    Failed { description: String, command: String, status: String, stderr: String },
}

/// The first executable `name` on `path` (a PATH-style list).
pub fn locate(tool: Tool, path: Option<&std::ffi::OsStr>) -> Result<PathBuf, ToolError> {
    let path = path.map(ToOwned::to_owned).or_else(|| std::env::var_os("PATH")).unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(tool.name()))
        .find(|p| is_executable(p))
        .ok_or(ToolError::Missing { name: tool.name(), hint: tool.install_hint() })
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    p.metadata().map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0).unwrap_or(false)
}

/// One external call, with the human description every error carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolCall {
    pub description: String,
    pub program: PathBuf,
    pub args: Vec<String>,
    pub cwd: PathBuf,
}

impl ToolCall {
    pub fn new<S: Into<String>>(description: &str, program: &Path, args: impl IntoIterator<Item = S>, cwd: &Path) -> ToolCall {
        ToolCall {
            description: description.to_owned(),
            program: program.to_owned(),
            args: args.into_iter().map(Into::into).collect(),
            cwd: cwd.to_owned(),
        }
    }

    pub fn display(&self) -> String {
        let name = self.program.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        std::iter::once(name).chain(self.args.iter().cloned()).collect::<Vec<_>>().join(" ")
    }

    /// Runs to completion, capturing output; a non-zero exit is an error that
    /// keeps the tool's own words (stderr, else stdout: packer validate prints
    /// its errors on stdout).
    pub fn run_captured(&self) -> Result<String, ToolError> {
        let out =
            capture(self).map_err(|source| ToolError::Spawn { program: self.display(), description: self.description.clone(), source })?;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        if out.status.success() {
            return Ok(stdout);
        }
        let stderr = String::from_utf8_lossy(&out.stderr);
        let said = if stderr.trim().is_empty() { stdout.trim().to_owned() } else { stderr.trim().to_owned() };
        Err(ToolError::Failed {
            description: self.description.clone(),
            command: self.display(),
            status: out.status.to_string(),
            stderr: said.lines().map(|l| format!("  | {l}")).collect::<Vec<_>>().join("\n"),
        })
    }
}

/// What a finished tool printed. Its exit ends the wait, not the end of its
/// output: a grandchild holding the pipes (an ssh ControlPersist master) gets
/// [`process::DRAIN`] to finish, then is no longer listened to.
fn capture(call: &ToolCall) -> std::io::Result<std::process::Output> {
    use std::io::Read;
    use std::process::Stdio;
    let mut child = std::process::Command::new(&call.program)
        .args(&call.args)
        .current_dir(&call.cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let (tx, rx) = std::sync::mpsc::channel::<(bool, Option<Vec<u8>>)>();
    let pipes: [(bool, Option<Box<dyn Read + Send>>); 2] = [
        (true, child.stdout.take().map(|p| Box::new(p) as Box<dyn Read + Send>)),
        (false, child.stderr.take().map(|p| Box::new(p) as Box<dyn Read + Send>)),
    ];
    for (is_stdout, pipe) in pipes {
        let Some(mut pipe) = pipe else { continue };
        let tx = tx.clone();
        // Chunks, not read_to_end: what came before the drain ends is kept.
        std::thread::spawn(move || {
            let mut chunk = [0u8; 8192];
            loop {
                match pipe.read(&mut chunk) {
                    Ok(0) | Err(_) => {
                        let _ = tx.send((is_stdout, None));
                        return;
                    }
                    Ok(n) => {
                        if tx.send((is_stdout, Some(chunk[..n].to_vec()))).is_err() {
                            return;
                        }
                    }
                }
            }
        });
    }
    drop(tx);
    let status = child.wait()?;
    let drain_until = std::time::Instant::now() + process::DRAIN;
    let (mut stdout, mut stderr, mut open) = (Vec::new(), Vec::new(), 2);
    while open > 0 {
        let left = drain_until.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(left) {
            Ok((true, Some(bytes))) => stdout.extend_from_slice(&bytes),
            Ok((false, Some(bytes))) => stderr.extend_from_slice(&bytes),
            Ok((_, None)) => open -= 1,
            Err(_) => break,
        }
    }
    Ok(std::process::Output { status, stdout, stderr })
}

//! The OpenSSH client, in batch mode with a run-local known_hosts: a run
//! never prompts and never touches the user's known_hosts.

use super::{Tool, ToolCall};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct Ssh {
    pub ssh: PathBuf,
    pub config_file: Option<PathBuf>,
    pub known_hosts: PathBuf,
    pub cwd: PathBuf,
}

impl Ssh {
    pub fn locate(config_file: Option<PathBuf>, run_dir: &Path) -> Result<Ssh, super::ToolError> {
        Ok(Ssh { ssh: super::locate(Tool::Ssh, None)?, config_file, known_hosts: run_dir.join("known_hosts"), cwd: run_dir.to_owned() })
    }

    fn options(&self) -> Vec<String> {
        let mut o = Vec::new();
        if let Some(f) = &self.config_file {
            o.push("-F".into());
            o.push(f.to_string_lossy().into_owned());
        }
        for opt in [
            "BatchMode=yes".to_owned(),
            "StrictHostKeyChecking=accept-new".to_owned(),
            format!("UserKnownHostsFile={}", self.known_hosts.display()),
            "ConnectTimeout=30".to_owned(),
            "ServerAliveInterval=30".to_owned(),
            "LogLevel=ERROR".to_owned(),
        ] {
            o.push("-o".into());
            o.push(opt);
        }
        o
    }

    /// `command` run on `user@host` by the remote user's shell.
    pub fn run(&self, description: &str, user: &str, host: &str, command: &str) -> ToolCall {
        let mut args = self.options();
        args.push(format!("{user}@{host}"));
        args.push(command.to_owned());
        ToolCall::new(description, &self.ssh, args, &self.cwd)
    }

    /// Prints `remote` from `user@host` on stdout. Over ssh itself rather than
    /// scp: OpenSSH's scp needs an sftp subsystem, which hardened hosts lack.
    pub fn fetch(&self, description: &str, user: &str, host: &str, remote: &str) -> ToolCall {
        self.run(description, user, host, &format!("cat -- {}", shell_quote(remote)))
    }
}

/// Quotes a word for a POSIX shell.
pub fn shell_quote(s: &str) -> String {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_./=:,@".contains(&b)) {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn quotes_only_what_needs_it() {
        assert_eq!(super::shell_quote("test_auth.py"), "test_auth.py");
        assert_eq!(super::shell_quote("not test_x"), "'not test_x'");
        assert_eq!(super::shell_quote("it's"), r"'it'\''s'");
    }
}

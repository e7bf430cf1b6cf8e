//! Running a long tool: in its own process group (so the terminal's Ctrl-C
//! reaches dcos-images, which decides, not the tool), with stdout and stderr
//! drained concurrently line by line, and stopped as a whole group.

use super::{ToolCall, ToolError};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::watch;

/// Counts SIGINT and SIGTERM from the moment it is installed. One per run;
/// every stage that waits on a tool also waits on it.
#[derive(Clone)]
pub struct Interrupts {
    rx: watch::Receiver<u32>,
}

impl Interrupts {
    /// Installs the handlers: from now on the signals no longer kill the
    /// process, they are counted here.
    pub fn install() -> std::io::Result<Interrupts> {
        use tokio::signal::unix::{signal, SignalKind};
        let mut int = signal(SignalKind::interrupt())?;
        let mut term = signal(SignalKind::terminate())?;
        let (tx, rx) = watch::channel(0u32);
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = int.recv() => {}
                    _ = term.recv() => {}
                }
                tx.send_modify(|n| *n += 1);
            }
        });
        Ok(Interrupts { rx })
    }

    pub fn count(&self) -> u32 {
        *self.rx.borrow()
    }

    /// Resolves when the count exceeds `seen`.
    pub async fn after(&mut self, seen: u32) -> u32 {
        loop {
            let n = *self.rx.borrow_and_update();
            if n > seen {
                return n;
            }
            if self.rx.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

#[derive(Debug)]
pub enum Finished {
    Exited {
        success: bool,
        status: String,
    },
    /// Stopped by a signal to dcos-images; the group was terminated.
    Interrupted,
}

/// How a tool is asked to stop on the first interrupt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopWith {
    /// SIGTERM to the whole group (packer: each plugin cleans up its part).
    GroupTerm,
    /// SIGINT to the tool alone, which stops its plugins itself and writes
    /// its state. Its provider, signalled directly, would die mid-create and
    /// leak more. (terraform still cancels the requests in flight: the
    /// teardown finds what EC2 created unrecorded by the run's tag.)
    LeaderInterrupt,
}

/// How long a tool gets to clean up after SIGTERM (packer deletes its
/// temporary instance, key pair and security group) before SIGKILL.
pub const GRACE: Duration = Duration::from_secs(60);

fn signal_group(pgid: i32, signal: i32) {
    // SAFETY: killpg has no memory-safety preconditions; a stale group id
    // yields ESRCH, which is what we want to ignore.
    unsafe {
        libc::killpg(pgid, signal);
    }
}

/// Runs `call` in its own process group, feeding each output line to
/// `on_line` and appending it to `log`. Interrupts up to `handled` were dealt
/// with by the caller; the next one: `stop_with`, then `grace` to exit, then
/// SIGKILL to the group; another one kills at once. Whatever is left of the
/// group when the tool exits is killed too. (The caller says what it handled,
/// rather than this reading the count at spawn, so that a signal arriving in
/// between is not lost.)
#[allow(clippy::too_many_arguments)] // each is one decision of the caller's; a struct would only rename them
pub async fn run_streaming(
    call: &ToolCall,
    log: &std::path::Path,
    interrupts: &mut Interrupts,
    handled: u32,
    stop_with: StopWith,
    grace: Duration,
    mut on_line: impl FnMut(Stream, &str),
    on_spawn: impl FnOnce(u32),
) -> Result<Finished, ToolError> {
    let spawn_err = |source| ToolError::Spawn { program: call.display(), description: call.description.clone(), source };
    let mut log_file = tokio::fs::File::create(log).await.map_err(spawn_err)?;
    let mut child = tokio::process::Command::new(&call.program)
        .args(&call.args)
        .current_dir(&call.cwd)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .process_group(0)
        .spawn()
        .map_err(spawn_err)?;
    let pid = child.id().expect("a just-spawned child has a pid");
    on_spawn(pid);
    let pgid = pid as i32;
    let mut out = BufReader::new(child.stdout.take().expect("piped")).lines();
    let mut err = BufReader::new(child.stderr.take().expect("piped")).lines();
    let (mut out_open, mut err_open) = (true, true);
    let mut seen = handled;
    let mut interrupted = false;
    let mut deadline: Option<tokio::time::Instant> = None;
    let status = loop {
        tokio::select! {
            line = out.next_line(), if out_open => match line {
                Ok(Some(l)) => { let _ = log_file.write_all(format!("{l}\n").as_bytes()).await; on_line(Stream::Stdout, &l); }
                _ => out_open = false,
            },
            line = err.next_line(), if err_open => match line {
                Ok(Some(l)) => { let _ = log_file.write_all(format!("stderr: {l}\n").as_bytes()).await; on_line(Stream::Stderr, &l); }
                _ => err_open = false,
            },
            status = child.wait(), if !out_open && !err_open => break status,
            n = interrupts.after(seen) => {
                let twice = n > seen + 1;
                seen = n;
                if interrupted || twice {
                    interrupted = true;
                    signal_group(pgid, libc::SIGKILL);
                } else {
                    interrupted = true;
                    match stop_with {
                        StopWith::GroupTerm => signal_group(pgid, libc::SIGTERM),
                        // SAFETY: kill has no memory-safety preconditions.
                        StopWith::LeaderInterrupt => unsafe {
                            libc::kill(pgid, libc::SIGINT);
                        },
                    }
                    deadline = Some(tokio::time::Instant::now() + grace);
                }
            },
            _ = sleep_until(deadline) => {
                signal_group(pgid, libc::SIGKILL);
                deadline = None;
            },
        }
    };
    // The leader has exited; anything left in its group goes with it.
    signal_group(pgid, libc::SIGKILL);
    let _ = log_file.flush().await;
    let status = status.map_err(spawn_err)?;
    if interrupted {
        return Ok(Finished::Interrupted);
    }
    Ok(Finished::Exited { success: status.success(), status: status.to_string() })
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

//! Running a long tool: in its own process group (so the terminal's Ctrl-C
//! reaches dcos-images, which decides, not the tool), with stdout and stderr
//! drained concurrently line by line, and stopped as a whole group.
//!
//! The tool's exit, not the end of its output, ends the wait: a grandchild
//! that keeps the pipes open (an ssh ControlPersist master, a daemon a script
//! started) gets [`DRAIN`] to finish writing, then the stage goes on. Output
//! is read as bytes and decoded lossily, so invalid UTF-8 is shown, not fatal.

use super::{ToolCall, ToolError};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWriteExt, BufReader};
use tokio::sync::{mpsc, watch};

/// How long the output of an exited tool is still read: what a grandchild
/// holding the pipes writes later is not the tool's.
pub const DRAIN: Duration = Duration::from_secs(2);

/// Counts SIGINT, SIGTERM, SIGHUP and SIGQUIT from the moment it is
/// installed (a CI runner cancelling a job, a closed terminal: each means
/// "stop, and clean up"). One per run; every stage that waits on a tool also
/// waits on it.
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
        let mut hup = signal(SignalKind::hangup())?;
        let mut quit = signal(SignalKind::quit())?;
        let (tx, rx) = watch::channel(0u32);
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = int.recv() => {}
                    _ = term.recv() => {}
                    _ = hup.recv() => {}
                    _ = quit.recv() => {}
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
    let (tx, mut lines) = mpsc::channel::<(Stream, String)>(256);
    let readers = [
        tokio::spawn(read_lines(child.stdout.take().expect("piped"), Stream::Stdout, tx.clone())),
        tokio::spawn(read_lines(child.stderr.take().expect("piped"), Stream::Stderr, tx)),
    ];
    let mut seen = handled;
    let mut interrupted = false;
    let mut deadline: Option<tokio::time::Instant> = None;
    let status = loop {
        tokio::select! {
            Some((stream, line)) = lines.recv() => {
                log_line(&mut log_file, stream, &line).await;
                on_line(stream, &line);
            }
            status = child.wait() => break status,
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
    // What is still in the pipes, for a bounded time: a grandchild that left
    // the group (setsid) may hold them open for as long as it lives.
    let drain_until = tokio::time::Instant::now() + DRAIN;
    while let Ok(Some((stream, line))) = tokio::time::timeout_at(drain_until, lines.recv()).await {
        log_line(&mut log_file, stream, &line).await;
        on_line(stream, &line);
    }
    for r in readers {
        r.abort();
    }
    let _ = log_file.flush().await;
    let status = status.map_err(spawn_err)?;
    if interrupted {
        return Ok(Finished::Interrupted);
    }
    Ok(Finished::Exited { success: status.success(), status: status.to_string() })
}

async fn log_line(log_file: &mut tokio::fs::File, stream: Stream, line: &str) {
    let entry = match stream {
        Stream::Stdout => format!("{line}\n"),
        Stream::Stderr => format!("stderr: {line}\n"),
    };
    let _ = log_file.write_all(entry.as_bytes()).await;
}

/// Sends each line of `pipe`, decoded lossily and without its line ending,
/// until the pipe closes or cannot be read.
async fn read_lines(pipe: impl AsyncRead + Unpin, stream: Stream, tx: mpsc::Sender<(Stream, String)>) {
    let mut pipe = BufReader::new(pipe);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match pipe.read_until(b'\n', &mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {
                let line = String::from_utf8_lossy(&buf);
                let line = line.trim_end_matches(['\n', '\r']).to_owned();
                if tx.send((stream, line)).await.is_err() {
                    return;
                }
            }
        }
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    fn script(dir: &std::path::Path, body: &str) -> ToolCall {
        let path = dir.join("tool.sh");
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        ToolCall::new("run a test tool", &path, Vec::<String>::new(), dir)
    }

    /// A grandchild in a session of its own (what an ssh ControlPersist
    /// master is) keeps both pipes open for 300 s; the tool itself is done.
    const GRANDCHILD_HOLDS_PIPES: &str = "setsid sleep 300 & echo $! > grandchild.pid\necho before-exit\nexit 3";

    fn kill_grandchild(dir: &std::path::Path) {
        let pid: i32 = std::fs::read_to_string(dir.join("grandchild.pid")).unwrap().trim().parse().unwrap();
        // SAFETY: kill has no memory-safety preconditions.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }

    /// A signal reaches every `Interrupts` of the process: the tests that
    /// raise one and those that watch a tool run one at a time.
    static SIGNALS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

    async fn stream(call: &ToolCall, log: &std::path::Path) -> (Finished, Vec<(Stream, String)>) {
        let _one_at_a_time = SIGNALS.lock().await;
        let mut interrupts = Interrupts::install().unwrap();
        let mut lines = Vec::new();
        let finished = tokio::time::timeout(
            Duration::from_secs(60),
            run_streaming(call, log, &mut interrupts, 0, StopWith::GroupTerm, GRACE, |s, l| lines.push((s, l.to_owned())), |_| {}),
        )
        .await
        .expect("the stage ends when the tool exits, not when its grandchild does")
        .unwrap();
        (finished, lines)
    }

    #[tokio::test]
    async fn a_grandchild_holding_the_pipes_does_not_hold_the_stage() {
        let dir = tempfile::tempdir().unwrap();
        let call = script(dir.path(), GRANDCHILD_HOLDS_PIPES);
        let started = Instant::now();
        let (finished, lines) = stream(&call, &dir.path().join("tool.log")).await;
        kill_grandchild(dir.path());
        assert!(matches!(finished, Finished::Exited { success: false, .. }), "{finished:?}");
        assert_eq!(lines, vec![(Stream::Stdout, "before-exit".to_owned())]);
        assert!(started.elapsed() < Duration::from_secs(60));
    }

    #[tokio::test]
    async fn invalid_utf8_is_shown_lossily_and_reading_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let call = script(dir.path(), r"printf 'a\377b\nsecond\n'; printf 'err\376\n' >&2; printf 'no newline at the end'");
        let log = dir.path().join("tool.log");
        let (finished, mut lines) = stream(&call, &log).await;
        assert!(matches!(finished, Finished::Exited { success: true, .. }), "{finished:?}");
        lines.sort_by_key(|(s, _)| *s == Stream::Stderr);
        assert_eq!(
            lines,
            vec![
                (Stream::Stdout, "a\u{FFFD}b".to_owned()),
                (Stream::Stdout, "second".to_owned()),
                (Stream::Stdout, "no newline at the end".to_owned()),
                (Stream::Stderr, "err\u{FFFD}".to_owned()),
            ]
        );
        let logged = std::fs::read_to_string(&log).unwrap();
        assert!(logged.contains("a\u{FFFD}b\n") && logged.contains("stderr: err\u{FFFD}\n"), "{logged}");
    }

    #[tokio::test]
    async fn hangup_and_quit_count_as_interrupts() {
        let _one_at_a_time = SIGNALS.lock().await;
        let mut interrupts = Interrupts::install().unwrap();
        for (signal, expected) in [(libc::SIGHUP, 1), (libc::SIGQUIT, 2)] {
            // SAFETY: raise has no memory-safety preconditions; the handler is installed.
            unsafe { libc::raise(signal) };
            let n = tokio::time::timeout(Duration::from_secs(10), interrupts.after(expected - 1)).await.expect("the signal is counted");
            assert_eq!(n, expected);
        }
    }

    #[test]
    fn captured_tools_end_with_the_tool_and_decode_lossily() {
        let dir = tempfile::tempdir().unwrap();
        let call = script(dir.path(), &format!("printf 'x\\377\\n'\n{GRANDCHILD_HOLDS_PIPES}"));
        let started = Instant::now();
        let err = call.run_captured().unwrap_err().to_string();
        kill_grandchild(dir.path());
        assert!(started.elapsed() < Duration::from_secs(60), "waited for the grandchild");
        assert!(err.contains("exited with exit status: 3") && err.contains("x\u{FFFD}") && err.contains("before-exit"), "{err}");
    }
}

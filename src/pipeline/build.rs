//! The packer stage: `packer build -machine-readable`, shown as readable
//! progress, logged whole, and read back from packer's manifest.

use crate::formats::history::BuildHistory;
use crate::formats::RegionImages;
use crate::tools::packer::parse_line;
use crate::tools::process::{self, Finished, Interrupts, Stream};
use crate::tools::{ToolCall, ToolError};
use std::io::{IsTerminal, Write};
use std::path::Path;
use std::time::Instant;

#[derive(Debug)]
pub enum BuildOutcome {
    Built { history: BuildHistory, history_text: String, images: RegionImages },
    Failed { error: ToolError },
    Interrupted,
}

/// Prints packer's progress: every `ui` line with the time since the build
/// started on a terminal; only the `==>` step lines when output is a log.
struct Progress<'a> {
    start: Instant,
    verbose: bool,
    errors: Vec<String>,
    label: &'a str,
}

impl Progress<'_> {
    fn line(&mut self, stream: Stream, raw: &str) {
        let Some(line) = parse_line(raw) else {
            if stream == Stream::Stderr && !raw.trim().is_empty() {
                self.errors.push(raw.to_owned());
            }
            return;
        };
        let Some((level, text)) = line.ui() else { return };
        let show = match level {
            "error" => {
                self.errors.extend(text.lines().filter(|l| !l.trim().is_empty()).map(str::to_owned));
                true
            }
            "say" => true,
            _ => self.verbose,
        };
        if show {
            let t = self.start.elapsed().as_secs_f64();
            let mut err = std::io::stderr().lock();
            for l in text.trim_end().lines().filter(|l| !l.trim().is_empty()) {
                let _ = writeln!(err, "{}[{t:>7.1}s] {l}", self.label);
            }
        }
    }
}

pub async fn packer_build(
    call: &ToolCall,
    run_dir: &Path,
    manifest: &Path,
    wanted_regions: &[String],
    interrupts: &mut Interrupts,
    label: &str,
    on_spawn: impl FnOnce(u32),
) -> BuildOutcome {
    let mut progress = Progress { start: Instant::now(), verbose: std::io::stderr().is_terminal(), errors: Vec::new(), label };
    let log = run_dir.join("packer.log");
    let finished = process::run_streaming(
        call,
        &log,
        interrupts,
        0,
        process::StopWith::GroupTerm,
        process::GRACE,
        |s, l| progress.line(s, l),
        on_spawn,
    )
    .await;
    let failed = |detail: String, status: &str| BuildOutcome::Failed {
        error: ToolError::Failed {
            description: call.description.clone(),
            command: call.display(),
            status: status.to_owned(),
            stderr: format!("{detail}\n  (full log: {})", log.display()),
        },
    };
    match finished {
        Err(error) => BuildOutcome::Failed { error },
        Ok(Finished::Interrupted) => BuildOutcome::Interrupted,
        Ok(Finished::Exited { success: false, status }) => {
            let last: Vec<String> = progress.errors.iter().rev().take(20).rev().map(|l| format!("  | {l}")).collect();
            failed(if last.is_empty() { "  | (packer printed no error line)".into() } else { last.join("\n") }, &status)
        }
        Ok(Finished::Exited { success: true, status }) => {
            let text = match std::fs::read_to_string(manifest) {
                Ok(t) => t,
                Err(e) => {
                    return failed(format!("  | packer succeeded but its manifest {} cannot be read: {e}", manifest.display()), &status)
                }
            };
            let Some(history) = BuildHistory::parse(&text).value else {
                return failed(format!("  | packer's manifest {} does not parse", manifest.display()), &status);
            };
            let Some(images) = history.last_build().and_then(|b| b.images().ok()) else {
                return failed("  | packer's manifest has no build with images".into(), &status);
            };
            let missing: Vec<&String> = wanted_regions.iter().filter(|r| !images.contains_key(*r)).collect();
            if !missing.is_empty() {
                return failed(format!("  | packer reported no image for {missing:?}"), &status);
            }
            BuildOutcome::Built { history, history_text: text, images }
        }
    }
}

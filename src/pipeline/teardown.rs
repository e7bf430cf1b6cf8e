//! The teardown: terraform destroy, then EC2 asked about every instance of
//! the run. A run's own teardown, and `destroy RUN_ID` / `cluster down`,
//! which finish the job from the journal alone.

use super::plan::StageKind;
use super::run::Run;
use super::runtime;
use crate::cloud::ec2::Ec2;
use crate::cloud::sweep;
use crate::error::{exit, Error};
use crate::journal::{ClusterState, Journal, RunState, StageState};
use crate::tools::process::{self, Finished, Interrupts};
use crate::tools::terraform::{self as tf, Terraform};
use crate::tools::{self, Tool};
use std::path::Path;
use std::time::Duration;

impl Run<'_> {
    /// Destroys the cluster, then asks EC2 about every instance the state
    /// held. Err: resources may be alive; the message says what and how to clean up.
    pub(super) async fn teardown(&mut self, keep: bool) -> Result<(), String> {
        let handled_before_teardown = self.interrupts.count();
        let tf_dir = self.plan.run_dir.join("cluster");
        let by_hand = format!(
            "dcos-images destroy {} --run-dir {}   (or: {})",
            self.plan.run_id,
            self.opts.run_root.display(),
            Terraform::destroy_by_hand(&tf_dir)
        );
        // What the state holds, read before it is destroyed.
        let terraform = self.stage(StageKind::Teardown).call.clone().map(|c| Terraform { program: c.program.clone(), dir: tf_dir.clone() });
        if let Some(ids) = match terraform {
            Some(t) => state_instance_ids(&t).await,
            None => None,
        } {
            if let Some(c) = &mut self.journal.cluster {
                c.instance_ids = ids;
            }
            let _ = self.journal.save();
        }
        if keep {
            self.skip(StageKind::Teardown);
            self.journal.set_cluster_state(ClusterState::Kept);
            let outputs = self.journal.cluster.as_ref().and_then(|c| c.outputs.clone());
            let reach = match outputs.as_ref().and_then(|o| o.first_master(self.config.ssh.connect_to)) {
                Some(m) => format!("ssh {}@{m}", self.plan.ssh_user),
                None => "(no master address: apply did not finish)".into(),
            };
            let mut lines = vec![format!("  reach it:   {reach}")];
            if let Some(ui) = outputs.as_ref().and_then(|o| o.masters_public_ips.first()) {
                lines.push(format!("  DC/OS UI:   http://{ui}/"));
            }
            if let Some(until) = &self.plan.keep_until {
                lines.push(format!("  keep until: {until} (tag dcos-images:keep-until)"));
            }
            let remove = match self.opts.cluster_up {
                Some(_) => format!("dcos-images cluster down {} --run-dir {}", self.plan.run_id, self.opts.run_root.display()),
                None => by_hand.clone(),
            };
            lines.push(format!("  remove it:  {remove}"));
            let why = if self.opts.cluster_up.is_some() { "cluster up" } else { "--keep-cluster" };
            self.say(&format!("the cluster is kept ({why})\n{}", lines.join("\n")));
            return Ok(());
        }
        let t = self.begin(StageKind::Teardown);
        self.journal.set_cluster_state(ClusterState::Destroying);
        // A destroy is never stopped by one Ctrl-C: the first interrupt of a
        // run stops the tool that was running and leads here; any signal from
        // now on (a second one) stops the destroy at once.
        let handled = handled_before_teardown.max(1);
        let call = self.stage(StageKind::Teardown).call.clone().expect("destroy has a call");
        let finished = self.streamed(&call, "terraform-destroy.log", handled, Duration::ZERO).await;
        let finished_interrupted = matches!(finished, Ok(Finished::Interrupted));
        let destroyed = match finished {
            Ok(Finished::Exited { success: true, .. }) => Ok(()),
            Ok(Finished::Exited { status, .. }) => {
                Err(format!("terraform destroy exited with {status}\n{}", self.tail("terraform-destroy.log")))
            }
            Ok(Finished::Interrupted) => Err("terraform destroy was stopped by a second interrupt".to_owned()),
            Err(e) => Err(e.to_string()),
        };
        // A second signal means "stop now": no EC2 cleanup either (on AWS it
        // waits minutes for instances to go); `destroy RUN_ID` does it later.
        let left = match finished_interrupted {
            true => Err("the cleanup through EC2 did not run".to_owned()),
            false => self.leftovers().await,
        };
        match (destroyed, left) {
            (Ok(()), Ok(left)) if left.is_empty() => {
                self.end(t, StageState::Ok, None);
                self.journal.set_cluster_state(ClusterState::Destroyed);
                Ok(())
            }
            // What terraform could not remove, EC2 did: the cluster is gone.
            (Err(e), Ok(left)) if left.is_empty() => {
                self.say(&format!("warning: {e}\nnothing of the run is left in EC2: the cluster is gone"));
                self.end(t, StageState::Ok, Some(format!("terraform destroy failed; EC2 removed the rest: {e}")));
                self.journal.set_cluster_state(ClusterState::Destroyed);
                Ok(())
            }
            (destroyed, left) => {
                let mut m = String::new();
                if let Err(e) = destroyed {
                    m.push_str(&e);
                    m.push('\n');
                }
                match left {
                    Ok(left) if !left.is_empty() => m.push_str(&format!("STILL IN EC2: {}\n", left.join(", "))),
                    Err(e) if finished_interrupted => m.push_str(&format!("{e}\n")),
                    Err(e) => m.push_str(&format!("cannot ask EC2 what is left of the run: {e}\n")),
                    _ => {}
                }
                m.push_str(&format!("clean up with: {by_hand}"));
                self.end(t, StageState::Failed, Some(m.clone()));
                self.journal.set_cluster_state(ClusterState::DestroyFailed);
                Err(m)
            }
        }
    }

    /// What is left of the cluster after terraform's destroy, once EC2 itself
    /// has removed what it could. The run's images stay (publishing or
    /// discarding them comes later).
    pub(super) async fn leftovers(&self) -> Result<Vec<String>, String> {
        let Some(c) = &self.journal.cluster else { return Ok(Vec::new()) };
        let ec2 = self.ec2.expect("EC2 is loaded for real runs");
        let regions = [c.region.clone()];
        finish_the_job(ec2, &regions, Some(&c.region), &c.instance_ids, &self.plan.run_id, sweep::Scope::AllButImages, &|l| self.say(l))
            .await
    }
}

/// After terraform's destroy: whatever EC2 still shows of the run in
/// `regions` (an interrupted create, a lost state, a killed packer) is
/// removed through EC2 itself, in dependency order, then EC2 is asked again.
/// `state_ids` are the instances terraform's state held, checked by id too
/// (a custom module may not tag them). What is left is named in the result.
async fn finish_the_job(
    ec2: &Ec2,
    regions: &[String],
    cluster_region: Option<&str>,
    state_ids: &[String],
    run_id: &str,
    scope: sweep::Scope,
    say: &(dyn Fn(&str) + Sync),
) -> Result<Vec<String>, String> {
    let mut left = Vec::new();
    if let Some(region) = cluster_region {
        let alive = ec2.instances_not_terminated(region, state_ids).await.map_err(|e| e.to_string())?;
        if !alive.is_empty() {
            say(&format!(
                "terraform left {} instance(s) of its state running ({}): terminating them through EC2",
                alive.len(),
                alive.join(", ")
            ));
            if let Err(e) = sweep::terminate_and_wait(ec2, region, &alive).await {
                left.push(format!("instance(s) of terraform's state in {region}: {e}"));
            }
        }
    }
    let tagged = sweep::clean_run(ec2, regions, run_id, scope, say).await.map_err(|e| e.to_string())?;
    left.extend(tagged.iter().map(ToString::to_string));
    Ok(left)
}

/// Every instance terraform's state holds (None when it cannot be read).
async fn state_instance_ids(terraform: &Terraform) -> Option<Vec<String>> {
    let show = terraform.show();
    match tokio::task::spawn_blocking(move || show.run_captured()).await {
        Ok(Ok(out)) => Some(tf::instance_ids(&out)),
        _ => None,
    }
}

/// `dcos-images destroy RUN_ID`: from the journal alone, also for a run whose
/// process died: the tool it left running is stopped, terraform destroys
/// what its state holds, and EC2 removes whatever else carries the run's tag
/// in every region the run used. The images of a run that did not end well
/// go too, unless `keep_images`. Exit 0 only when EC2 shows nothing of the run.
pub fn destroy_blocking(run_root: &Path, run_id: &str, keep_images: bool) -> Result<u8, Error> {
    runtime()?.block_on(destroy(run_root, run_id, keep_images))
}

/// `destroy RUN_ID...` or `destroy --all`: each run in turn; the worst exit wins.
pub fn destroy_runs(run_root: &Path, run_ids: &[String], all: bool, keep_images: bool) -> Result<u8, Error> {
    let ids: Vec<String> = if all {
        crate::journal::all(run_root).into_iter().filter(Journal::may_have_left_something).map(|j| j.run_id).collect()
    } else {
        run_ids.to_vec()
    };
    if all && ids.is_empty() {
        println!("no run under {} may have left anything", run_root.display());
        return Ok(exit::SUCCESS);
    }
    let rt = runtime()?;
    let mut codes = Vec::new();
    for id in &ids {
        codes.push(rt.block_on(destroy(run_root, id, keep_images))?);
    }
    Ok(super::worst(&codes))
}

async fn destroy(run_root: &Path, run_id: &str, keep_images: bool) -> Result<u8, Error> {
    let run_dir = run_root.join(run_id);
    let mut journal = Journal::load(&run_dir).ok_or_else(|| {
        Error::usage(format!("no run `{run_id}` under {}", run_root.display()), "`dcos-images runs --run-dir DIR` lists the runs")
    })?;
    if journal.state == RunState::Running && !journal.died() {
        return Err(Error::usage(
            format!("run {run_id} is still running (pid {})", journal.pid),
            "stop it with Ctrl-C (it tears its cluster down), or wait for it",
        ));
    }
    let terraform = match &journal.cluster {
        Some(c) => Some(Terraform { program: tools::locate(Tool::Terraform, None)?, dir: c.dir.clone() }),
        None => None,
    };
    let ec2 = Ec2::load().await;
    let mut interrupts = Interrupts::install().map_err(|e| Error::usage(format!("cannot install signal handlers: {e}"), "run again"))?;
    if matches!(stop_orphaned_tool(&journal, &mut interrupts).await, Some(Finished::Interrupted)) {
        return Ok(exit::INTERRUPTED);
    }
    let mut ids = Vec::new();
    let mut terraform_failed = None;
    if let (Some(cluster), Some(terraform)) = (journal.cluster.clone(), terraform) {
        // The state knows best what exists now; the journal is the fallback.
        ids = cluster.instance_ids.clone();
        for id in state_instance_ids(&terraform).await.unwrap_or_default() {
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        if let Some(c) = &mut journal.cluster {
            c.instance_ids = ids.clone();
            c.state = ClusterState::Destroying;
        }
        let _ = journal.save();
        eprintln!("==> destroy the cluster of {run_id} with terraform");
        let finished = process::run_streaming(
            &terraform.destroy(),
            &run_dir.join("terraform-destroy.log"),
            &mut interrupts,
            0,
            process::StopWith::LeaderInterrupt,
            process::GRACE,
            |_, l| eprintln!("{l}"),
            |_| {},
        )
        .await?;
        match finished {
            Finished::Exited { success: true, .. } => {}
            Finished::Exited { status, .. } => terraform_failed = Some(format!("terraform destroy exited with {status}")),
            Finished::Interrupted => {
                journal.set_cluster_state(ClusterState::DestroyFailed);
                eprintln!("destroy of {run_id} interrupted: the cluster may be alive; run it again");
                return Ok(exit::INTERRUPTED);
            }
        }
        if let Some(e) = &terraform_failed {
            eprintln!("warning: {e}: removing what is left through EC2");
        }
    }
    let mut regions = journal.regions.clone();
    regions.extend(journal.cluster.iter().map(|c| c.region.clone()));
    regions.extend(journal.images.keys().cloned());
    regions.sort();
    regions.dedup();
    let images = !keep_images && !journal.images_wanted();
    eprintln!("==> remove what EC2 still shows of {run_id} in {}", regions.join(", "));
    let cluster_region = journal.cluster.as_ref().map(|c| c.region.clone());
    let scope = if images { sweep::Scope::All } else { sweep::Scope::AllButImages };
    let left = finish_the_job(&ec2, &regions, cluster_region.as_deref(), &ids, run_id, scope, &|l| eprintln!("{l}"))
        .await
        .map_err(|e| Error::usage(e, "check your AWS credentials and run it again"))?;
    // A packer that died mid-cleanup: its temporaries, named by its log.
    let log = std::fs::read_to_string(run_dir.join("packer.log")).unwrap_or_default();
    let mut left = left;
    left.extend(sweep::remove_packer_temporaries(&ec2, &regions, &sweep::packer_temporaries(&log), &|l| eprintln!("{l}")).await);
    if images {
        journal.images_removed = true;
    }
    journal.set_cluster_state(if left.is_empty() { ClusterState::Destroyed } else { ClusterState::DestroyFailed });
    if left.is_empty() && journal.died() {
        // Killed, and cleaned up: an interrupted run from now on (`runs`,
        // `destroy --all` and the reports no longer see a dead one).
        journal.finish(RunState::Interrupted, exit::INTERRUPTED, Some("the run was killed; `destroy` removed what it left".into()));
    }
    if left.is_empty() {
        let kept = if images { "" } else { " (its images are kept: the run published them, qualified, or --keep-images)" };
        println!("nothing of {run_id} is left in EC2 ({}){kept}", regions.join(", "));
        Ok(exit::SUCCESS)
    } else {
        eprintln!(
            "error: TEARDOWN FAILED for {run_id}: still in EC2:\n{}\n  retry: dcos-images destroy {run_id} --run-dir {}",
            left.iter().map(|l| format!("  - {l}")).collect::<Vec<_>>().join("\n"),
            run_root.display()
        );
        Ok(exit::TEARDOWN_FAILED)
    }
}

/// A dead run's tool may live on: it runs in a process group of its own, so
/// a SIGKILL of dcos-images does not reach it (and a terraform still applying
/// would hold the state's lock and create more). It is asked to stop as the
/// run would have asked it, given the grace, then killed.
async fn stop_orphaned_tool(journal: &Journal, interrupts: &mut Interrupts) -> Option<Finished> {
    let stage = journal.stages.iter().rev().find(|s| s.state == StageState::Running)?;
    let pgid = i32::try_from(stage.pid?).ok()?;
    // SAFETY: killpg has no memory-safety preconditions.
    let alive = |sig: i32| unsafe { libc::killpg(pgid, sig) == 0 };
    if !alive(0) {
        return None;
    }
    let terraform = stage.name == StageKind::ClusterApply.name() || stage.name == StageKind::Teardown.name();
    eprintln!("==> run {} died while `{}` ran; stopping it (process group {pgid})", journal.run_id, stage.description);
    // SAFETY: as above.
    unsafe {
        if terraform {
            libc::kill(pgid, libc::SIGINT);
        } else {
            libc::killpg(pgid, libc::SIGTERM);
        }
    }
    let deadline = tokio::time::Instant::now() + process::GRACE;
    while alive(0) {
        if tokio::time::Instant::now() > deadline {
            eprintln!("it did not stop within {:?}: killing it", process::GRACE);
            // SAFETY: as above.
            unsafe { libc::killpg(pgid, libc::SIGKILL) };
            break;
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(250)) => {}
            _ = interrupts.after(0) => {
                // SAFETY: as above.
                unsafe { libc::killpg(pgid, libc::SIGKILL) };
                return Some(Finished::Interrupted);
            }
        }
    }
    Some(Finished::Exited { success: true, status: "stopped".into() })
}

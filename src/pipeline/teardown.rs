//! The teardown: terraform destroy, then EC2 asked about every instance of
//! the run. A run's own teardown, and `destroy RUN_ID` / `cluster down`,
//! which finish the job from the journal alone.

use super::plan::StageKind;
use super::run::Run;
use super::runtime;
use crate::cloud::ec2::Ec2;
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
        let destroyed = match finished {
            Ok(Finished::Exited { success: true, .. }) => Ok(()),
            Ok(Finished::Exited { status, .. }) => {
                Err(format!("terraform destroy exited with {status}\n{}", self.tail("terraform-destroy.log")))
            }
            Ok(Finished::Interrupted) => Err("terraform destroy was stopped by a second interrupt".to_owned()),
            Err(e) => Err(e.to_string()),
        };
        let alive = self.alive_instances().await;
        match (destroyed, alive) {
            (Ok(()), Ok(alive)) if alive.is_empty() => {
                self.end(t, StageState::Ok, None);
                self.journal.set_cluster_state(ClusterState::Destroyed);
                Ok(())
            }
            (destroyed, alive) => {
                let mut m = String::new();
                if let Err(e) = destroyed {
                    m.push_str(&e);
                    m.push('\n');
                }
                match alive {
                    Ok(a) if !a.is_empty() => {
                        m.push_str(&format!("THESE INSTANCES ARE STILL RUNNING in {}: {}\n", self.plan.cluster_region, a.join(", ")))
                    }
                    Err(e) => m.push_str(&format!("cannot ask EC2 whether the instances are gone: {e}\n")),
                    _ => {}
                }
                m.push_str(&format!("clean up with: {by_hand}"));
                self.end(t, StageState::Failed, Some(m.clone()));
                self.journal.set_cluster_state(ClusterState::DestroyFailed);
                Err(m)
            }
        }
    }

    /// Every instance of the run still alive: those the state held, and those
    /// tagged with the run id (an interrupted create can miss the state).
    pub(super) async fn alive_instances(&self) -> Result<Vec<String>, String> {
        let Some(c) = &self.journal.cluster else { return Ok(Vec::new()) };
        let ec2 = self.ec2.expect("EC2 is loaded for real runs");
        finish_the_job(ec2, &c.region, &c.instance_ids, &self.plan.run_id, |l| self.say(l)).await
    }
}

/// After terraform's destroy: whatever instance of the run EC2 still shows
/// (an interrupted create can leave instances terraform's state never held)
/// is terminated through EC2 itself, then EC2 is asked again. What is left
/// alive after that is the caller's teardown failure.
async fn finish_the_job(ec2: &Ec2, region: &str, ids: &[String], run_id: &str, say: impl Fn(&str)) -> Result<Vec<String>, String> {
    let left = alive(ec2, region, ids, run_id).await?;
    if left.is_empty() {
        return Ok(left);
    }
    say(&format!("terraform left {} instance(s) of the run running ({}): terminating them through EC2", left.len(), left.join(", ")));
    ec2.terminate_instances(region, &left).await.map_err(|e| e.to_string())?;
    let start = std::time::Instant::now();
    loop {
        let left = alive(ec2, region, ids, run_id).await?;
        if left.is_empty() || start.elapsed() > Duration::from_secs(600) {
            return Ok(left);
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

async fn alive(ec2: &Ec2, region: &str, ids: &[String], run_id: &str) -> Result<Vec<String>, String> {
    let mut alive = ec2.instances_not_terminated(region, ids).await.map_err(|e| e.to_string())?;
    for id in ec2.tagged_instances_alive(region, "dcos-images:run-id", run_id).await.map_err(|e| e.to_string())? {
        if !alive.contains(&id) {
            alive.push(id);
        }
    }
    Ok(alive)
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
/// process died.
pub fn destroy_blocking(run_root: &Path, run_id: &str) -> Result<u8, Error> {
    runtime()?.block_on(destroy(run_root, run_id))
}

async fn destroy(run_root: &Path, run_id: &str) -> Result<u8, Error> {
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
    let Some(cluster) = journal.cluster.clone() else {
        println!("run {run_id} created no cluster: nothing to destroy");
        return Ok(exit::SUCCESS);
    };
    let terraform = Terraform { program: tools::locate(Tool::Terraform, None)?, dir: cluster.dir.clone() };
    let ec2 = Ec2::load().await;
    let mut interrupts = Interrupts::install().map_err(|e| Error::usage(format!("cannot install signal handlers: {e}"), "run again"))?;
    // The state knows best what exists now; the journal is the fallback.
    let mut ids = cluster.instance_ids.clone();
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
    let alive = finish_the_job(&ec2, &cluster.region, &ids, run_id, |l| eprintln!("{l}"))
        .await
        .map_err(|e| Error::usage(e, "check your AWS credentials"))?;
    let ok = matches!(finished, Finished::Exited { success: true, .. }) && alive.is_empty();
    journal.set_cluster_state(if ok { ClusterState::Destroyed } else { ClusterState::DestroyFailed });
    if ok {
        println!("destroyed the cluster of {run_id}: {} instance(s) terminated", ids.len());
        Ok(exit::SUCCESS)
    } else {
        eprintln!(
            "error: TEARDOWN FAILED for {run_id}: still running: {}\n  retry: {}",
            alive.join(", "),
            Terraform::destroy_by_hand(&cluster.dir)
        );
        Ok(exit::TEARDOWN_FAILED)
    }
}

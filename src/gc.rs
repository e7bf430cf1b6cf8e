//! `dcos-images gc`, the janitor: what dcos-images tagged in EC2 and no run
//! needs any more is removed. A run that is running, a cluster kept until
//! later, an image that is published, qualified or listed in the tree, and
//! anything younger than the threshold are left alone, each with its reason.

use crate::cloud::ec2::Ec2;
use crate::cloud::sweep::{self, Kind, Removal, Resource, Runs};
use crate::error::{exit, Error};
use crate::journal::RunState;
use crate::tree::Tree;
use chrono::{DateTime, NaiveDateTime, Utc};
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct GcOptions {
    pub older_than: Duration,
    /// Empty: every region the tree's packer templates build in.
    pub regions: Vec<String>,
    pub dry_run: bool,
    pub json: bool,
    /// The run directory whose running runs are left alone.
    pub run_root: PathBuf,
}

/// Why a resource is left alone.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Kept {
    pub resource: Resource,
    pub reason: String,
}

#[derive(Debug, Default, serde::Serialize)]
pub struct GcReport {
    pub regions: Vec<String>,
    pub dry_run: bool,
    /// Removed (or, with `--dry-run`, to be removed); `error` when EC2 refused.
    pub removed: Vec<Removal>,
    pub kept: Vec<Kept>,
}

/// The time a run started, from its id (`20261123T101500Z-...`); None for
/// an id dcos-images did not make.
pub fn run_started(run_id: &str) -> Option<DateTime<Utc>> {
    let stamp = run_id.get(..16)?;
    NaiveDateTime::parse_from_str(stamp, "%Y%m%dT%H%M%SZ").ok().map(|t| t.and_utc())
}

/// What the janitor should do with one resource: None to remove it, else why not.
pub fn verdict(
    r: &Resource,
    now: DateTime<Utc>,
    older_than: Duration,
    running: &BTreeSet<String>,
    listed: &BTreeSet<String>,
) -> Option<String> {
    if running.contains(&r.run_id) {
        return Some(format!("its run {} is running", r.run_id));
    }
    if let Some(until) = r.tag(sweep::KEEP_UNTIL_TAG) {
        match DateTime::parse_from_rfc3339(until) {
            Ok(t) if t > now => return Some(format!("kept until {until}")),
            Ok(_) => {}
            Err(_) => return Some(format!("{} is `{until}`, not a time: left for a person to decide", sweep::KEEP_UNTIL_TAG)),
        }
    }
    if r.kind == Kind::Image {
        if listed.contains(&r.id) {
            return Some("listed in a dcos_images.yaml of the tree".into());
        }
        for tag in [sweep::PUBLISHED_TAG, sweep::QUALIFIED_TAG] {
            if let Some(at) = r.tag(tag) {
                return Some(format!("{tag} {at}"));
            }
        }
    }
    let Some(started) = run_started(&r.run_id) else {
        return Some(format!("run id `{}` carries no time: its age is unknown", r.run_id));
    };
    let age = (now - started).to_std().unwrap_or_default();
    if age < older_than {
        return Some(format!("younger than {} ({} min old)", humanize(older_than), age.as_secs() / 60));
    }
    None
}

fn humanize(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        s if s % 86400 == 0 => format!("{}d", s / 86400),
        s if s % 3600 == 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

pub fn run_blocking(tree: &Tree, opts: &GcOptions) -> Result<u8, Error> {
    crate::pipeline::runtime()?.block_on(run(tree, opts))
}

async fn run(tree: &Tree, opts: &GcOptions) -> Result<u8, Error> {
    let mut regions: Vec<String> = if opts.regions.is_empty() {
        tree.dirs.iter().filter_map(|d| d.packer.value()).flat_map(|t| t.builders.iter().flat_map(|b| b.image_regions())).collect()
    } else {
        opts.regions.clone()
    };
    regions.sort();
    regions.dedup();
    if regions.is_empty() {
        return Err(Error::usage("no region to clean: the tree's packer templates name none", "name them with --region REGION"));
    }
    let listed: BTreeSet<String> = tree.dirs.iter().filter_map(|d| d.images()).flat_map(|i| i.0.values().cloned()).collect();
    let running: BTreeSet<String> =
        crate::journal::all(&opts.run_root).into_iter().filter(|j| j.state == RunState::Running && !j.died()).map(|j| j.run_id).collect();
    let ec2 = Ec2::load().await;
    let now = Utc::now();
    let found = crate::pipeline::join_all(regions.iter().map(|r| sweep::list(&ec2, r, Runs::All))).await;
    let mut report = GcReport { regions: regions.clone(), dry_run: opts.dry_run, ..GcReport::default() };
    let mut doomed: Vec<Resource> = Vec::new();
    for resources in found {
        let resources = resources.map_err(|e| Error::usage(e.to_string(), "check your AWS credentials and the regions"))?;
        for r in resources {
            match verdict(&r, now, opts.older_than, &running, &listed) {
                Some(reason) => report.kept.push(Kept { resource: r, reason }),
                None => doomed.push(r),
            }
        }
    }
    // A kept instance keeps what it uses: packer's temporary key pair and
    // group have no tags of their own and are only found through it.
    let kept_runs: BTreeSet<String> =
        report.kept.iter().filter(|k| k.resource.kind == Kind::Instance).map(|k| k.resource.run_id.clone()).collect();
    let (held, doomed): (Vec<Resource>, Vec<Resource>) =
        doomed.into_iter().partition(|r| r.tags.is_empty() && kept_runs.contains(&r.run_id));
    report.kept.extend(held.into_iter().map(|resource| Kept { resource, reason: "used by a kept instance".into() }));
    if opts.dry_run {
        report.removed = doomed.into_iter().map(|resource| Removal { resource, error: None }).collect();
    } else {
        let quiet = |_: &str| {};
        let removals = crate::pipeline::join_all(regions.iter().map(|region| sweep::remove(&ec2, region, &doomed, &quiet))).await;
        report.removed = removals.into_iter().flatten().collect();
    }
    let failed = report.removed.iter().any(|r| r.error.is_some());
    if opts.json {
        println!("{}", serde_json::to_string_pretty(&report).expect("the report serializes"));
    } else {
        print!("{}", render(&report));
    }
    Ok(if failed { exit::TEARDOWN_FAILED } else { exit::SUCCESS })
}

pub fn render(report: &GcReport) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let verb = if report.dry_run { "would remove" } else { "removed" };
    for r in &report.removed {
        match &r.error {
            None => {
                let _ = writeln!(out, "{verb} {} (run {})", r.resource, r.resource.run_id);
            }
            Some(e) => {
                let _ = writeln!(out, "FAILED to remove {} (run {}): {e}", r.resource, r.resource.run_id);
            }
        }
    }
    for k in &report.kept {
        let _ = writeln!(out, "left {} (run {}): {}", k.resource, k.resource.run_id, k.reason);
    }
    let _ = writeln!(
        out,
        "{} resource(s) {verb}, {} left alone, in {}",
        report.removed.iter().filter(|r| r.error.is_none()).count(),
        report.kept.len(),
        report.regions.join(", ")
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn resource(kind: Kind, run_id: &str, tags: &[(&str, &str)]) -> Resource {
        let mut t: BTreeMap<String, String> = tags.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        t.insert(sweep::RUN_ID_TAG.into(), run_id.into());
        Resource { kind, region: "us-west-2".into(), id: "x-1".into(), run_id: run_id.into(), tags: t, snapshots: Vec::new() }
    }

    #[test]
    fn what_the_janitor_leaves_and_why() {
        let now = DateTime::parse_from_rfc3339("2026-11-23T12:00:00Z").unwrap().with_timezone(&Utc);
        let six_hours = Duration::from_secs(6 * 3600);
        let none = BTreeSet::new();
        let old = "20261123T010000Z-centos-7.8-ab12";
        assert_eq!(run_started(old).unwrap().to_rfc3339(), "2026-11-23T01:00:00+00:00");
        assert_eq!(verdict(&resource(Kind::Instance, old, &[]), now, six_hours, &none, &none), None);
        let young = "20261123T100000Z-centos-7.8-ab12";
        assert!(verdict(&resource(Kind::Vpc, young, &[]), now, six_hours, &none, &none).unwrap().contains("younger than 6h (120 min old)"));
        let kept = resource(Kind::Instance, old, &[(sweep::KEEP_UNTIL_TAG, "2026-11-24T00:00:00Z")]);
        assert_eq!(verdict(&kept, now, six_hours, &none, &none).unwrap(), "kept until 2026-11-24T00:00:00Z");
        let expired = resource(Kind::Instance, old, &[(sweep::KEEP_UNTIL_TAG, "2026-11-23T11:00:00Z")]);
        assert_eq!(verdict(&expired, now, six_hours, &none, &none), None);
        let running: BTreeSet<String> = [old.to_owned()].into();
        assert!(verdict(&resource(Kind::Instance, old, &[]), now, six_hours, &running, &none).unwrap().contains("is running"));
        let published = resource(Kind::Image, old, &[(sweep::PUBLISHED_TAG, "2026-11-23T02:00:00Z")]);
        assert!(verdict(&published, now, six_hours, &none, &none).unwrap().starts_with(sweep::PUBLISHED_TAG));
        let listed: BTreeSet<String> = ["x-1".to_owned()].into();
        assert!(verdict(&resource(Kind::Image, old, &[]), now, six_hours, &none, &listed).unwrap().contains("dcos_images.yaml"));
        assert!(verdict(&resource(Kind::Image, "by-hand", &[]), now, six_hours, &none, &none).unwrap().contains("age is unknown"));
    }
}

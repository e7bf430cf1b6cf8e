//! Preflight: before packer starts (and in `--dry-run`, and for `cluster up`),
//! EC2 is asked, per region, whether the run can succeed at all: the base
//! image (or, without a build, the recorded one) exists and is available;
//! every instance type of the build and of the cluster is offered where it
//! will run; the named key pairs exist; the account lets the template make
//! its images public. A refusal names the region, the resource and what to
//! do, and nothing is created. The vCPUs the run holds at its peak are
//! printed, to hold against the account's quota.

use super::plan::Plan;
use crate::cloud::ec2::{CloudError, Ec2};
use crate::formats::packer::PackerTemplate;
use aws_sdk_ec2::types::LocationType;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// What would make the run fail after spending, found before.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub region: String,
    /// The resource and what is wrong with it.
    pub what: String,
    /// What to do.
    pub todo: String,
}

/// Everything preflight found for one run.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// What was checked and is fine, a line each.
    pub checked: Vec<String>,
    pub warnings: Vec<String>,
    pub refusals: Vec<Refusal>,
}

impl Report {
    fn refuse(&mut self, region: &str, what: String, todo: impl Into<String>) {
        self.refusals.push(Refusal { region: region.to_owned(), what, todo: todo.into() });
    }

    /// An EC2 call that failed: the check could not be made, which is a
    /// refusal too (the build would meet the same EC2).
    fn cannot_ask(&mut self, e: CloudError) {
        let region = match &e {
            CloudError::Api { region, .. } | CloudError::NotAvailable { region, .. } => region.clone(),
        };
        self.refuse(
            &region,
            e.to_string(),
            "check the AWS credentials (AWS_PROFILE, AWS_ACCESS_KEY_ID, ...), the region and the IAM policy (iam/dcos-images-policy.json)",
        );
    }
}

/// A template value as packer would read it, when it can be known without
/// running packer: a literal, or `{{user `name`}}` whose default is one.
fn literal(doc: &Value, value: &Value) -> Option<String> {
    let text = value.as_str()?;
    if !text.contains("{{") {
        return Some(text.to_owned());
    }
    let inner = text.trim().strip_prefix("{{")?.strip_suffix("}}")?.trim();
    let name = inner.strip_prefix("user")?.trim().strip_prefix('`')?.strip_suffix('`')?;
    doc["variables"][name].as_str().filter(|v| !v.contains("{{")).map(str::to_owned)
}

/// One builder's facts, as far as they can be known.
struct BuilderFacts {
    region: String,
    instance_type: Option<String>,
    zone: Option<String>,
    key_pair: Option<String>,
    /// Regions the image lands in (the build region and ami_regions).
    image_regions: Vec<String>,
    public: bool,
}

fn builders(template: &PackerTemplate) -> Vec<BuilderFacts> {
    let doc = template.document();
    let raw = doc["builders"].as_array().cloned().unwrap_or_default();
    template
        .builders
        .iter()
        .zip(raw)
        .filter_map(|(b, raw)| {
            let region = b.region.clone()?;
            // `ami_groups` is a list in packer's documentation; the public
            // tree also writes the string "all", which packer accepts.
            let public = match &raw["ami_groups"] {
                Value::String(g) => g == "all",
                Value::Array(groups) => groups.iter().any(|g| g == "all"),
                _ => false,
            };
            Some(BuilderFacts {
                image_regions: b.image_regions(),
                instance_type: literal(doc, &raw["instance_type"]),
                zone: literal(doc, &raw["availability_zone"]).filter(|z| !z.is_empty()),
                key_pair: literal(doc, &raw["ssh_keypair_name"]).filter(|k| !k.is_empty()),
                region,
                public,
            })
        })
        .collect()
}

/// Asks EC2 everything a run needs before it spends anything.
pub async fn check(ec2: &Ec2, plan: &Plan, template: &PackerTemplate, builtin_module: bool) -> Report {
    let mut r = Report::default();
    let mut vcpus_wanted: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    // (region, instance type, count) the build and the cluster hold at once.
    let mut build_nodes: Vec<(String, String, u64)> = Vec::new();
    if plan.builds {
        for b in builders(template) {
            check_builder(ec2, plan, &b, &mut r).await;
            if let Some(t) = &b.instance_type {
                vcpus_wanted.entry(b.region.clone()).or_default().insert(t.clone());
                build_nodes.push((b.region.clone(), t.clone(), 1));
            }
        }
    } else {
        check_recorded_image(ec2, plan, &mut r).await;
    }
    let cluster_nodes = check_cluster(ec2, plan, builtin_module, &mut r).await;
    for (t, _) in &cluster_nodes {
        vcpus_wanted.entry(plan.cluster_region.clone()).or_default().insert(t.clone());
    }
    // vCPUs, for the account's quota (EC2 counts vCPUs of running instances).
    let mut vcpus: BTreeMap<(String, String), i32> = BTreeMap::new();
    for (region, types) in &vcpus_wanted {
        match ec2.vcpus(region, &types.iter().cloned().collect::<Vec<_>>()).await {
            Ok(known) => vcpus.extend(known.into_iter().map(|(t, n)| ((region.clone(), t), n))),
            Err(e) => r.warnings.push(format!("the vCPUs of {} are unknown: {e}", types.iter().cloned().collect::<Vec<_>>().join(", "))),
        }
    }
    let sum = |nodes: &[(String, String, u64)]| -> (u64, Vec<String>) {
        let mut total = 0;
        let mut parts = Vec::new();
        for (region, t, n) in nodes {
            let each = vcpus.get(&(region.clone(), t.clone())).copied().unwrap_or(0) as u64;
            total += each * n;
            parts.push(format!("{n} × {t} ({each})"));
        }
        (total, parts)
    };
    let cluster: Vec<(String, String, u64)> = cluster_nodes.iter().map(|(t, n)| (plan.cluster_region.clone(), t.clone(), *n)).collect();
    let (build_total, build_parts) = sum(&build_nodes);
    let (cluster_total, cluster_parts) = sum(&cluster);
    // The build's instance is gone before the cluster is created.
    let peak = build_total.max(cluster_total);
    let mut line = format!("peak: {peak} vCPUs at once (the cluster: {}", cluster_parts.join(" + "));
    if !build_parts.is_empty() {
        line.push_str(&format!("; the build, before it: {}", build_parts.join(" + ")));
    }
    line.push(')');
    r.checked.push(line);
    r
}

async fn check_builder(ec2: &Ec2, plan: &Plan, b: &BuilderFacts, r: &mut Report) {
    let region = &b.region;
    let mut fine = Vec::new();
    // (A region without a base image is validate's no-base-image-for-region.)
    if let Some(image) = plan.base_images.get(region) {
        match ec2.image_facts(region, image).await {
            Err(e) => r.cannot_ask(e),
            Ok(None) => r.refuse(
                region,
                format!("the base image {image} ({}) does not exist in {region}", plan.base_images_file),
                format!(
                    "run `dcos-images base-images refresh {}` for the vendor's current image, or fix {}",
                    plan.base_images_file.trim_end_matches("/base_images.json"),
                    plan.base_images_file
                ),
            ),
            Ok(Some(facts)) if facts.state != "available" => r.refuse(
                region,
                format!("the base image {image} ({}) is `{}`, not available", plan.base_images_file, facts.state),
                format!("run `dcos-images base-images refresh {}`", plan.base_images_file.trim_end_matches("/base_images.json")),
            ),
            Ok(Some(facts)) => {
                fine.push(format!("base image {image} available"));
                if let Some(when) = facts.deprecation_time.filter(|w| deprecated(w)) {
                    r.warnings.push(format!(
                        "{region}: the base image {image} is deprecated since {when}: it still builds, but `dcos-images base-images refresh` may find a newer one"
                    ));
                }
            }
        }
    }
    match &b.instance_type {
        None => r.warnings.push(format!("{region}: packer's instance type is templated: not checked")),
        Some(t) => {
            let (location_type, place) = match &b.zone {
                Some(z) => (LocationType::AvailabilityZone, z.clone()),
                None => (LocationType::Region, region.clone()),
            };
            match ec2.offerings(region, location_type, std::slice::from_ref(t)).await {
                Err(e) => r.cannot_ask(e),
                Ok(offered) if offered.iter().any(|(ty, loc)| ty == t && *loc == place) => fine.push(format!("{t} offered")),
                Ok(_) => r.refuse(
                    region,
                    format!("packer's instance type {t} is not offered in {place}"),
                    format!("set instance_type in packer.json to a type {place} offers (`aws ec2 describe-instance-type-offerings --region {region}`)"),
                ),
            }
        }
    }
    if let Some(k) = &b.key_pair {
        let whose = "packer's key pair (ssh_keypair_name)";
        check_key_pair(ec2, region, k, whose, "or fix ssh_keypair_name in packer.json", r, &mut fine).await;
    }
    r.checked.push(format!("build in {region}: {}", fine.join("; ")));
    if b.public {
        for image_region in &b.image_regions {
            match ec2.image_block_public_access(image_region).await {
                Err(e) => r.cannot_ask(e),
                Ok(state) if state == "block-new-sharing" => r.refuse(
                    image_region,
                    format!(
                        "packer.json makes the image public (ami_groups: all) but the account blocks public images in {image_region} (block public access for AMIs: block-new-sharing): the build would fail after the whole bake"
                    ),
                    format!(
                        "remove ami_groups from packer.json (the images stay the account's), or allow public images: `aws ec2 disable-image-block-public-access --region {image_region}`"
                    ),
                ),
                Ok(_) => {}
            }
        }
        r.checked.push(format!("public images (ami_groups: all) allowed in {}", b.image_regions.join(", ")));
    }
}

/// Whether an ISO 8601 deprecation time has passed.
fn deprecated(when: &str) -> bool {
    chrono::DateTime::parse_from_rfc3339(when).is_ok_and(|t| t <= chrono::Utc::now())
}

/// Without a build, the cluster boots the recorded image: it must still be there.
async fn check_recorded_image(ec2: &Ec2, plan: &Plan, r: &mut Report) {
    let region = &plan.cluster_region;
    let Some(image) = plan.recorded_images.get(region) else { return };
    match ec2.image_facts(region, image).await {
        Err(e) => r.cannot_ask(e),
        Ok(Some(facts)) if facts.state == "available" => r.checked.push(format!("recorded image {image} available in {region}")),
        Ok(found) => r.refuse(
            region,
            format!(
                "the recorded image {image} (dcos_images.yaml) is {} in {region}",
                found.map_or_else(|| "gone (deregistered, or never there)".to_owned(), |f| format!("`{}`, not available", f.state))
            ),
            "qualify with a build (publish after a step instead of never), or pass another image (cluster up --image REGION=AMI)",
        ),
    }
}

/// The cluster's instance types where it will run, and its key pair.
/// Returns (instance type, count) of its nodes.
async fn check_cluster(ec2: &Ec2, plan: &Plan, builtin_module: bool, r: &mut Report) -> Vec<(String, u64)> {
    let region = &plan.cluster_region;
    let spec = &plan.spec;
    let counts = spec.node_counts();
    let types = spec.instance_types_with_defaults(builtin_module);
    let mut nodes: Vec<(String, u64)> = Vec::new();
    for (t, n) in [
        (&types.bootstrap, counts.bootstrap),
        (&types.masters, counts.masters),
        (&types.private_agents, counts.private_agents),
        (&types.public_agents, counts.public_agents),
    ] {
        if let (Some(t), true) = (t, n > 0) {
            match nodes.iter_mut().find(|(x, _)| x == t) {
                Some((_, total)) => *total += n,
                None => nodes.push((t.clone(), n)),
            }
        }
    }
    let wanted: Vec<String> = nodes.iter().map(|(t, _)| t.clone()).collect();
    let mut fine = Vec::new();
    // The zone, as the built-in module picks it: the subnet's, the
    // profile's first, else the first that needs no opt-in and offers every type.
    let given_zone = match &spec.subnet_id {
        Some(subnet) => match ec2.subnet_zone(region, subnet).await {
            Err(e) => {
                r.cannot_ask(e);
                return nodes;
            }
            Ok(None) => {
                r.refuse(
                    region,
                    format!("the profile's subnet {subnet} does not exist in {region}"),
                    "fix subnet_id in the cluster profile",
                );
                return nodes;
            }
            Ok(zone) => zone,
        },
        None => spec.availability_zones.first().cloned(),
    };
    if !wanted.is_empty() {
        match ec2.offerings(region, LocationType::AvailabilityZone, &wanted).await {
            Err(e) => r.cannot_ask(e),
            Ok(offered) => {
                let offers_all = |zone: &str| wanted.iter().all(|t| offered.iter().any(|(ty, z)| ty == t && z == zone));
                match given_zone {
                    Some(zone) => {
                        let missing: Vec<&String> =
                            wanted.iter().filter(|t| !offered.iter().any(|(ty, z)| ty == *t && *z == zone)).collect();
                        if missing.is_empty() {
                            fine.push(format!("{} offered in {zone}", wanted.join(", ")));
                        } else {
                            r.refuse(
                                region,
                                format!("{} not offered in {zone}, the cluster's zone", join(&missing)),
                                "choose instance types the zone offers, or another zone (availability_zones in the cluster profile)",
                            );
                        }
                    }
                    None => match ec2.usable_zones(region).await {
                        Err(e) => r.cannot_ask(e),
                        Ok(zones) => match zones.iter().find(|z| offers_all(z)) {
                            Some(zone) => {
                                fine.push(format!("{} offered in {zone}, the zone the cluster module will pick", wanted.join(", ")))
                            }
                            None => {
                                let where_each: Vec<String> = wanted
                                    .iter()
                                    .map(|t| {
                                        let zs: Vec<&str> = offered.iter().filter(|(ty, _)| ty == t).map(|(_, z)| z.as_str()).collect();
                                        format!("{t}: {}", if zs.is_empty() { "nowhere".to_owned() } else { zs.join(", ") })
                                    })
                                    .collect();
                                r.refuse(
                                    region,
                                    format!(
                                        "no zone of {region} that needs no opt-in offers every instance type of the cluster ({})",
                                        where_each.join("; ")
                                    ),
                                    "choose instance types the region offers together, in the cluster profile",
                                );
                            }
                        },
                    },
                }
            }
        }
    }
    for key in &spec.ssh_keys {
        if let crate::formats::profile::SshKey::KeyName(k) = key {
            let whose = "the profile's key pair (ssh_key_name)";
            check_key_pair(ec2, region, k, whose, "or set ssh_public_key_file in the profile instead", r, &mut fine).await;
        }
    }
    r.checked.push(format!("cluster in {region}: {}", fine.join("; ")));
    nodes
}

/// A key pair named in `whose` exists in `region`.
async fn check_key_pair(ec2: &Ec2, region: &str, name: &str, whose: &str, or: &str, r: &mut Report, fine: &mut Vec<String>) {
    match ec2.key_pair_exists(region, name).await {
        Err(e) => r.cannot_ask(e),
        Ok(true) => fine.push(format!("key pair {name} exists")),
        Ok(false) => r.refuse(
            region,
            format!("{whose} {name} does not exist in {region}"),
            format!(
                "import your public key as {name} (`aws ec2 import-key-pair --region {region} --key-name {name} --public-key-material fileb://~/.ssh/id_ed25519.pub`), {or}"
            ),
        ),
    }
}

fn join(items: &[&String]) -> String {
    items.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
}

/// The refusals of every run, as one usage error (exit 2), or nothing.
pub fn refusal_error(refused: &[(&Plan, &Report)]) -> Option<crate::error::Error> {
    let refused: Vec<&(&Plan, &Report)> = refused.iter().filter(|(_, r)| !r.refusals.is_empty()).collect();
    if refused.is_empty() {
        return None;
    }
    let mut message = String::from("preflight: EC2 says these runs cannot succeed; nothing was created");
    for (plan, report) in refused {
        message.push_str(&format!("\n  {}:", plan.build_dir));
        for f in &report.refusals {
            message.push_str(&format!("\n    - {}: {}\n      to do: {}", f.region, f.what, f.todo));
        }
    }
    Some(crate::error::Error::usage(message, "fix what each line says, then run again (`--dry-run` asks the same questions)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_values_are_read_when_packer_would_know_them_without_running() {
        let doc: Value = serde_json::json!({"variables": {"type": "m5.large", "t2": "{{env `X`}}"}});
        assert_eq!(literal(&doc, &serde_json::json!("m4.xlarge")).as_deref(), Some("m4.xlarge"));
        assert_eq!(literal(&doc, &serde_json::json!("{{user `type`}}")).as_deref(), Some("m5.large"));
        assert_eq!(literal(&doc, &serde_json::json!("{{ user `type` }}")).as_deref(), Some("m5.large"));
        assert_eq!(literal(&doc, &serde_json::json!("{{user `t2`}}")), None);
        assert_eq!(literal(&doc, &serde_json::json!("{{env `X`}}")), None);
        assert_eq!(literal(&doc, &serde_json::json!(3)), None);
    }

    #[test]
    fn public_images_are_ami_groups_all_as_a_list_or_a_string() {
        for (groups, public) in [(r#"["all"]"#, true), (r#""all""#, true), (r#"["123456789012"]"#, false), ("null", false)] {
            let text = format!(r#"{{"builders": [{{"type": "amazon-ebs", "region": "us-west-2", "ami_groups": {groups}}}]}}"#);
            let t = PackerTemplate::parse(&text).value.unwrap();
            assert_eq!(builders(&t)[0].public, public, "{groups}");
        }
    }

    #[test]
    fn deprecation_times_in_the_past_only() {
        assert!(deprecated("2022-05-01T00:00:00.000Z"));
        assert!(!deprecated("2999-05-01T00:00:00Z"));
        assert!(!deprecated("not a time"));
    }
}

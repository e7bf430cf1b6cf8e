//! What a run left in EC2, found by its tag and removed through the EC2 API
//! in dependency order: what terraform's or packer's own cleanup cannot
//! reach (a lost state, a killed tool) is still the run's, and still found.
//!
//! Everything dcos-images creates carries `dcos-images:run-id`: the cluster
//! through the module's `default_tags`, packer's instance, volumes, image and
//! snapshots through the rendered template. Packer's temporary key pair and
//! security group cannot be tagged (packer 1.6): they are found through the
//! packer instance that uses them.

use super::ec2::{CloudError, Ec2};
use aws_sdk_ec2::types::{Filter, Tag};
use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

pub const RUN_ID_TAG: &str = "dcos-images:run-id";
pub const KEEP_UNTIL_TAG: &str = "dcos-images:keep-until";
/// Set on the images of a run that published them: they are in a
/// `dcos_images.yaml`, maybe on a branch not merged yet.
pub const PUBLISHED_TAG: &str = "dcos-images:published";
/// Set on the images of a run that qualified (also with `--no-publish`).
pub const QUALIFIED_TAG: &str = "dcos-images:qualified";
/// Packer's name prefix for its temporary key pair and security group.
const PACKER_TEMPORARY: &str = "packer_";

/// The kinds, in the order they are removed: what uses a resource goes
/// before it (instances before their volumes, network interfaces, key pair
/// and security groups; images before their snapshots; everything in a VPC
/// before the VPC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    Instance,
    Image,
    Snapshot,
    NetworkInterface,
    Volume,
    KeyPair,
    SecurityGroup,
    Subnet,
    RouteTable,
    InternetGateway,
    Vpc,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Instance => "instance",
            Kind::Image => "image",
            Kind::Snapshot => "snapshot",
            Kind::NetworkInterface => "network-interface",
            Kind::Volume => "volume",
            Kind::KeyPair => "key-pair",
            Kind::SecurityGroup => "security-group",
            Kind::Subnet => "subnet",
            Kind::RouteTable => "route-table",
            Kind::InternetGateway => "internet-gateway",
            Kind::Vpc => "vpc",
        }
    }

    /// The image and its snapshots: what a run hands on, as against the
    /// cluster and packer's builder, which only serve the run.
    pub fn is_image(self) -> bool {
        matches!(self, Kind::Image | Kind::Snapshot)
    }
}

/// One EC2 resource of a run.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Resource {
    pub kind: Kind,
    pub region: String,
    pub id: String,
    pub run_id: String,
    /// The resource's own tags (none for packer's temporary key pair and group).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    /// An image's snapshots, removed with it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub snapshots: Vec<String>,
}

impl Resource {
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags.get(key).map(String::as_str)
    }
}

impl fmt::Display for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} ({})", self.kind.name(), self.id, self.region)?;
        if !self.snapshots.is_empty() {
            write!(f, " with snapshot(s) {}", self.snapshots.join(", "))?;
        }
        Ok(())
    }
}

/// Which runs' resources to list.
#[derive(Debug, Clone, Copy)]
pub enum Runs<'a> {
    One(&'a str),
    /// Every resource dcos-images tagged, of any run (the janitor).
    All,
}

impl Runs<'_> {
    fn filter(&self) -> Filter {
        match self {
            Runs::One(id) => Filter::builder().name(format!("tag:{RUN_ID_TAG}")).values(*id).build(),
            Runs::All => Filter::builder().name("tag-key").values(RUN_ID_TAG).build(),
        }
    }
}

fn tags_of(tags: &[Tag]) -> BTreeMap<String, String> {
    tags.iter().filter_map(|t| Some((t.key()?.to_owned(), t.value().unwrap_or_default().to_owned()))).collect()
}

/// What EC2 shows of `runs` in `region`, in removal order. Terminated
/// instances are gone; an instance shutting down is still listed (it holds
/// its network interface and security groups until it is gone).
pub async fn list(ec2: &Ec2, region: &str, runs: Runs<'_>) -> Result<Vec<Resource>, CloudError> {
    let c = ec2.client(region);
    let f = runs.filter();
    fn err<E: std::error::Error>(region: &str, what: &str) -> impl FnOnce(E) -> CloudError {
        let (region, what) = (region.to_owned(), what.to_owned());
        move |e| Ec2::api_err(&region, &format!("list the {what} dcos-images tagged"), e)
    }
    let mut out = Vec::new();
    let mut push = |kind: Kind, id: Option<&str>, tags: &[Tag], snapshots: Vec<String>| {
        let tags = tags_of(tags);
        if let (Some(id), Some(run_id)) = (id, tags.get(RUN_ID_TAG).cloned()) {
            out.push(Resource { kind, region: region.to_owned(), id: id.to_owned(), run_id, tags, snapshots });
        }
    };
    // Packer's temporary key pair and security groups, named by its instances.
    let mut companions: Vec<(Kind, String, String)> = Vec::new();
    let mut pages = c.describe_instances().filters(f.clone()).into_paginator().send();
    while let Some(page) = pages.next().await {
        for i in page.map_err(err(region, "instances"))?.reservations().iter().flat_map(|r| r.instances()) {
            if i.state().and_then(|s| s.name()).map(|n| n.as_str()) == Some("terminated") {
                continue;
            }
            push(Kind::Instance, i.instance_id(), i.tags(), Vec::new());
            let run_id = tags_of(i.tags()).get(RUN_ID_TAG).cloned().unwrap_or_default();
            if let Some(k) = i.key_name().filter(|k| k.starts_with(PACKER_TEMPORARY)) {
                companions.push((Kind::KeyPair, k.to_owned(), run_id.clone()));
            }
            for g in i.security_groups() {
                if let (Some(id), Some(_)) = (g.group_id(), g.group_name().filter(|n| n.starts_with(PACKER_TEMPORARY))) {
                    companions.push((Kind::SecurityGroup, id.to_owned(), run_id.clone()));
                }
            }
        }
    }
    let images = c.describe_images().owners("self").filters(f.clone()).send().await.map_err(err(region, "images"))?;
    let mut image_snapshots = Vec::new();
    for i in images.images() {
        let snapshots: Vec<String> =
            i.block_device_mappings().iter().filter_map(|m| m.ebs().and_then(|e| e.snapshot_id())).map(str::to_owned).collect();
        image_snapshots.extend(snapshots.iter().cloned());
        push(Kind::Image, i.image_id(), i.tags(), snapshots);
    }
    let snapshots = c.describe_snapshots().owner_ids("self").filters(f.clone()).send().await.map_err(err(region, "snapshots"))?;
    for s in snapshots.snapshots() {
        // An image's snapshot goes with its image, after it.
        if !s.snapshot_id().is_some_and(|id| image_snapshots.iter().any(|i| i == id)) {
            push(Kind::Snapshot, s.snapshot_id(), s.tags(), Vec::new());
        }
    }
    let enis = c.describe_network_interfaces().filters(f.clone()).send().await.map_err(err(region, "network interfaces"))?;
    for n in enis.network_interfaces() {
        push(Kind::NetworkInterface, n.network_interface_id(), n.tag_set(), Vec::new());
    }
    let volumes = c.describe_volumes().filters(f.clone()).send().await.map_err(err(region, "volumes"))?;
    for v in volumes.volumes() {
        push(Kind::Volume, v.volume_id(), v.tags(), Vec::new());
    }
    let keys = c.describe_key_pairs().filters(f.clone()).send().await.map_err(err(region, "key pairs"))?;
    for k in keys.key_pairs() {
        push(Kind::KeyPair, k.key_name(), k.tags(), Vec::new());
    }
    let groups = c.describe_security_groups().filters(f.clone()).send().await.map_err(err(region, "security groups"))?;
    for g in groups.security_groups() {
        push(Kind::SecurityGroup, g.group_id(), g.tags(), Vec::new());
    }
    let subnets = c.describe_subnets().filters(f.clone()).send().await.map_err(err(region, "subnets"))?;
    for s in subnets.subnets() {
        push(Kind::Subnet, s.subnet_id(), s.tags(), Vec::new());
    }
    let tables = c.describe_route_tables().filters(f.clone()).send().await.map_err(err(region, "route tables"))?;
    for t in tables.route_tables() {
        // The main table goes with its VPC; it cannot be deleted alone.
        if !t.associations().iter().any(|a| a.main() == Some(true)) {
            push(Kind::RouteTable, t.route_table_id(), t.tags(), Vec::new());
        }
    }
    let gateways = c.describe_internet_gateways().filters(f.clone()).send().await.map_err(err(region, "internet gateways"))?;
    for g in gateways.internet_gateways() {
        push(Kind::InternetGateway, g.internet_gateway_id(), g.tags(), Vec::new());
    }
    let vpcs = c.describe_vpcs().filters(f).send().await.map_err(err(region, "VPCs"))?;
    for v in vpcs.vpcs() {
        push(Kind::Vpc, v.vpc_id(), v.tags(), Vec::new());
    }
    for (kind, id, run_id) in companions {
        if !out.iter().any(|r| r.kind == kind && r.id == id) {
            out.push(Resource { kind, region: region.to_owned(), id, run_id, tags: BTreeMap::new(), snapshots: Vec::new() });
        }
    }
    out.sort_by(|a, b| (a.kind, &a.id).cmp(&(b.kind, &b.id)));
    Ok(out)
}

/// One resource's removal.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Removal {
    pub resource: Resource,
    /// None when removed; else what EC2 said.
    pub error: Option<String>,
}

/// How long terminated instances get to be gone before what they used is
/// removed (EC2 refuses to delete a security group an instance still holds).
const INSTANCES_GONE: Duration = Duration::from_secs(600);

/// Removes `resources` (all of one region), kind by kind in dependency
/// order. Every resource is tried; each failure is kept with EC2's words.
pub async fn remove(ec2: &Ec2, region: &str, resources: &[Resource], say: &(dyn Fn(&str) + Sync)) -> Vec<Removal> {
    let c = ec2.client(region);
    let mut removals = Vec::new();
    let mut sorted: Vec<&Resource> = resources.iter().filter(|r| r.region == region).collect();
    sorted.sort_by_key(|r| r.kind);
    let instances: Vec<String> = sorted.iter().filter(|r| r.kind == Kind::Instance).map(|r| r.id.clone()).collect();
    if !instances.is_empty() {
        let gone = terminate_and_wait(ec2, region, &instances).await.err();
        for r in sorted.iter().filter(|r| r.kind == Kind::Instance) {
            removals.push(Removal { resource: (*r).clone(), error: gone.clone() });
        }
        if gone.is_none() {
            say(&format!("terminated {} instance(s) in {region}: {}", instances.len(), instances.join(", ")));
        }
    }
    // A group that refers to another (the cluster's internal group allows
    // itself and the admin group) cannot be deleted while the reference
    // stands: every rule goes first.
    for g in sorted.iter().filter(|r| r.kind == Kind::SecurityGroup) {
        if let Ok(out) = c.describe_security_groups().group_ids(&g.id).send().await {
            for sg in out.security_groups() {
                if !sg.ip_permissions().is_empty() {
                    let _ = c
                        .revoke_security_group_ingress()
                        .group_id(&g.id)
                        .set_ip_permissions(Some(sg.ip_permissions().to_vec()))
                        .send()
                        .await;
                }
                if !sg.ip_permissions_egress().is_empty() {
                    let _ = c
                        .revoke_security_group_egress()
                        .group_id(&g.id)
                        .set_ip_permissions(Some(sg.ip_permissions_egress().to_vec()))
                        .send()
                        .await;
                }
            }
        }
    }
    for r in sorted.into_iter().filter(|r| r.kind != Kind::Instance) {
        let result = remove_one(&c, r).await;
        if result.is_none() {
            say(&format!("removed {r}"));
        }
        removals.push(Removal { resource: r.clone(), error: result });
    }
    removals
}

/// What EC2 said, or Ok when it said the resource does not exist: removed
/// with what it belonged to (a volume with its instance), or by someone else.
fn done<T, E>(result: Result<T, aws_sdk_ec2::error::SdkError<E>>) -> Result<(), String>
where
    E: aws_sdk_ec2::error::ProvideErrorMetadata + std::error::Error + 'static,
{
    use aws_sdk_ec2::error::ProvideErrorMetadata;
    match result {
        Ok(_) => Ok(()),
        Err(e) if e.code().is_some_and(|c| c.ends_with(".NotFound") || c == "InvalidAMIID.Unavailable") => Ok(()),
        Err(e) => Err(aws_sdk_ec2::error::DisplayErrorContext(e).to_string()),
    }
}

/// Removes one resource that is not an instance; None when done.
async fn remove_one(c: &aws_sdk_ec2::Client, r: &Resource) -> Option<String> {
    let id = r.id.as_str();
    let result: Result<(), String> = async {
        match r.kind {
            Kind::Instance => Ok(()),
            Kind::Image => {
                done(c.deregister_image().image_id(id).send().await)?;
                for s in &r.snapshots {
                    done(c.delete_snapshot().snapshot_id(s).send().await)?;
                }
                Ok(())
            }
            Kind::Snapshot => done(c.delete_snapshot().snapshot_id(id).send().await),
            Kind::NetworkInterface => done(c.delete_network_interface().network_interface_id(id).send().await),
            Kind::Volume => done(c.delete_volume().volume_id(id).send().await),
            Kind::KeyPair => done(c.delete_key_pair().key_name(id).send().await),
            Kind::SecurityGroup => done(c.delete_security_group().group_id(id).send().await),
            Kind::Subnet => done(c.delete_subnet().subnet_id(id).send().await),
            Kind::RouteTable => {
                let tables = c.describe_route_tables().route_table_ids(id).send().await;
                if let Ok(tables) = &tables {
                    for a in tables.route_tables().iter().flat_map(|t| t.associations()) {
                        if let Some(assoc) = a.route_table_association_id().filter(|_| a.main() != Some(true)) {
                            done(c.disassociate_route_table().association_id(assoc).send().await)?;
                        }
                    }
                }
                done(tables)?;
                done(c.delete_route_table().route_table_id(id).send().await)
            }
            Kind::InternetGateway => {
                let gateways = c.describe_internet_gateways().internet_gateway_ids(id).send().await;
                if let Ok(gateways) = &gateways {
                    for vpc in gateways.internet_gateways().iter().flat_map(|g| g.attachments()).filter_map(|a| a.vpc_id()) {
                        done(c.detach_internet_gateway().internet_gateway_id(id).vpc_id(vpc).send().await)?;
                    }
                }
                done(gateways)?;
                done(c.delete_internet_gateway().internet_gateway_id(id).send().await)
            }
            Kind::Vpc => done(c.delete_vpc().vpc_id(id).send().await),
        }
    }
    .await;
    result.err()
}

/// Terminates `ids` and waits (at most [`INSTANCES_GONE`]) until EC2 shows
/// them terminated; Err names what EC2 refused or what is still there.
pub async fn terminate_and_wait(ec2: &Ec2, region: &str, ids: &[String]) -> Result<(), String> {
    ec2.terminate_instances(region, ids).await.map_err(|e| e.to_string())?;
    let start = tokio::time::Instant::now();
    loop {
        let alive = ec2.instances_not_terminated(region, ids).await.map_err(|e| e.to_string())?;
        if alive.is_empty() {
            return Ok(());
        }
        if start.elapsed() > INSTANCES_GONE {
            return Err(format!("still not terminated after {INSTANCES_GONE:?}: {}", alive.join(", ")));
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

/// Which of a run's resources a cleanup is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Everything but the images: the run's teardown, or `destroy` of a run
    /// whose images are wanted.
    AllButImages,
    /// Only the images and their snapshots: a failed run's, once it ended
    /// (a kept cluster stays).
    Images,
    /// Everything of the run.
    All,
}

impl Scope {
    fn covers(self, kind: Kind) -> bool {
        match self {
            Scope::AllButImages => !kind.is_image(),
            Scope::Images => kind.is_image(),
            Scope::All => true,
        }
    }
}

/// Everything of one run in `regions` that `scope` covers, removed and
/// checked: what EC2 still shows afterwards (empty: nothing is left).
pub async fn clean_run(
    ec2: &Ec2,
    regions: &[String],
    run_id: &str,
    scope: Scope,
    say: &(dyn Fn(&str) + Sync),
) -> Result<Vec<Resource>, CloudError> {
    let mut left = Vec::new();
    for region in regions {
        let found: Vec<Resource> = list(ec2, region, Runs::One(run_id)).await?.into_iter().filter(|r| scope.covers(r.kind)).collect();
        if found.is_empty() {
            continue;
        }
        for failed in remove(ec2, region, &found, say).await.into_iter().filter(|r| r.error.is_some()) {
            say(&format!("could not remove {}: {}", failed.resource, failed.error.unwrap_or_default()));
        }
        left.extend(list(ec2, region, Runs::One(run_id)).await?.into_iter().filter(|r| scope.covers(r.kind)));
    }
    Ok(left)
}

/// Packer's temporary security groups and key pairs, by the names its log
/// gives as it creates them (`Creating temporary security group for this
/// instance: packer_...`, `Creating temporary keypair: packer_...`). Packer
/// cannot tag them; a packer that died mid-cleanup (a SIGPIPE once its
/// reader is gone) leaves them, and only its log still names them.
pub fn packer_temporaries(log: &str) -> Vec<(Kind, String)> {
    let mut found = Vec::new();
    for line in log.lines() {
        for (marker, kind) in [
            ("Creating temporary security group for this instance: ", Kind::SecurityGroup),
            ("Creating temporary keypair: ", Kind::KeyPair),
        ] {
            if let Some(name) = line.split(marker).nth(1).map(str::trim).filter(|n| n.starts_with(PACKER_TEMPORARY)) {
                if !found.iter().any(|(k, n)| *k == kind && n == name) {
                    found.push((kind, name.to_owned()));
                }
            }
        }
    }
    found
}

/// Removes packer's temporaries (see [`packer_temporaries`]) wherever they
/// still are in `regions`; what could not be removed is named in the result.
pub async fn remove_packer_temporaries(
    ec2: &Ec2,
    regions: &[String],
    names: &[(Kind, String)],
    say: &(dyn Fn(&str) + Sync),
) -> Vec<String> {
    use aws_sdk_ec2::error::DisplayErrorContext;
    let mut left = Vec::new();
    for region in regions {
        let c = ec2.client(region);
        for (kind, name) in names {
            let result = match kind {
                Kind::SecurityGroup => {
                    let filter = Filter::builder().name("group-name").values(name).build();
                    match c.describe_security_groups().filters(filter).send().await {
                        Ok(out) => {
                            let mut r = Ok(false);
                            for id in out.security_groups().iter().filter_map(|g| g.group_id()) {
                                r = c
                                    .delete_security_group()
                                    .group_id(id)
                                    .send()
                                    .await
                                    .map(|_| true)
                                    .map_err(|e| DisplayErrorContext(e).to_string());
                            }
                            r
                        }
                        Err(e) => Err(DisplayErrorContext(e).to_string()),
                    }
                }
                _ => {
                    let filter = Filter::builder().name("key-name").values(name).build();
                    match c.describe_key_pairs().filters(filter).send().await {
                        Ok(out) if out.key_pairs().is_empty() => Ok(false),
                        Ok(_) => {
                            c.delete_key_pair().key_name(name).send().await.map(|_| true).map_err(|e| DisplayErrorContext(e).to_string())
                        }
                        Err(e) => Err(DisplayErrorContext(e).to_string()),
                    }
                }
            };
            match result {
                Ok(true) => say(&format!("removed packer's temporary {} {name} ({region})", kind.name())),
                Ok(false) => {}
                Err(e) => left.push(format!("packer's temporary {} {name} ({region}): {e}", kind.name())),
            }
        }
    }
    left
}

#[cfg(test)]
mod tests {
    #[test]
    fn packer_names_its_temporaries_in_its_log() {
        let log = "1795431725,,ui,say,==> amazon-ebs: Creating temporary keypair: packer_6b04aa\n\
                   1795431725,,ui,say,==> amazon-ebs: Creating temporary security group for this instance: packer_6b041d2d-b630\n\
                   1795431725,,ui,say,==> amazon-ebs: Deleting temporary security group...\n\
                   stderr: Creating temporary security group for this instance: packer_6b041d2d-b630\n";
        assert_eq!(
            super::packer_temporaries(log),
            vec![(super::Kind::KeyPair, "packer_6b04aa".to_owned()), (super::Kind::SecurityGroup, "packer_6b041d2d-b630".to_owned())]
        );
    }
}

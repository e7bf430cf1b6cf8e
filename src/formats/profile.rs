//! The cluster profile (`cluster_profile.tfvars`) read as a typed
//! [`ClusterSpec`]. Two vocabularies are understood: the current one (the
//! cluster module's inputs, as dcos-terraform named them) and terraform-dcos's
//! older names, which every profile of the public dcos-images tree uses. One
//! table, [`LEGACY`], maps the old names to the new; README.md shows it, and
//! `dcos-images migrate` rewrites a profile with it.

use super::tfvars::{TfEntry, TfValue, Tfvars};
use crate::diagnostic::{did_you_mean, Code, FileProblem};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// What a value must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text,
    /// A whole number >= 0; `"2"` is read as 2, as terraform converts it.
    Count,
    TextList,
    /// A map of strings (numbers and bools are converted, as terraform does).
    TextMap,
}

/// A variable of the current vocabulary.
#[derive(Debug, Clone, Copy)]
pub struct Variable {
    pub name: &'static str,
    pub kind: Kind,
    /// Where the value goes.
    pub used_by: UsedBy,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UsedBy {
    /// The cluster module's input of the same name.
    Module,
    /// The AWS provider (`aws_region`).
    Provider,
    /// The DC/OS installation (version, variant, installer).
    Installer,
}

const fn var(name: &'static str, kind: Kind, used_by: UsedBy) -> Variable {
    Variable { name, kind, used_by }
}

/// The current vocabulary. Module inputs are documented in cluster/aws/variables.tf.
pub const CURRENT: &[Variable] = &[
    var("aws_region", Kind::Text, UsedBy::Provider),
    var("dcos_version", Kind::Text, UsedBy::Installer),
    var("dcos_variant", Kind::Text, UsedBy::Installer),
    var("custom_dcos_download_path", Kind::Text, UsedBy::Installer),
    var("custom_dcos_download_sha256", Kind::Text, UsedBy::Installer),
    var("num_masters", Kind::Count, UsedBy::Module),
    var("num_private_agents", Kind::Count, UsedBy::Module),
    var("num_public_agents", Kind::Count, UsedBy::Module),
    var("bootstrap_instance_type", Kind::Text, UsedBy::Module),
    var("masters_instance_type", Kind::Text, UsedBy::Module),
    var("private_agents_instance_type", Kind::Text, UsedBy::Module),
    var("public_agents_instance_type", Kind::Text, UsedBy::Module),
    var("bootstrap_root_volume_size", Kind::Count, UsedBy::Module),
    var("masters_root_volume_size", Kind::Count, UsedBy::Module),
    var("private_agents_root_volume_size", Kind::Count, UsedBy::Module),
    var("public_agents_root_volume_size", Kind::Count, UsedBy::Module),
    var("admin_ips", Kind::TextList, UsedBy::Module),
    var("ssh_key_name", Kind::Text, UsedBy::Module),
    var("ssh_public_key", Kind::Text, UsedBy::Module),
    var("ssh_public_key_file", Kind::Text, UsedBy::Module),
    var("availability_zones", Kind::TextList, UsedBy::Module),
    var("subnet_id", Kind::Text, UsedBy::Module),
    var("vpc_cidr", Kind::Text, UsedBy::Module),
    var("tags", Kind::TextMap, UsedBy::Module),
];

/// Set by dcos-images for every run; a profile must not set them.
pub const RESERVED: &[&str] = &["aws_ami", "ssh_user", "cluster_name"];

/// What a terraform-dcos name becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Legacy {
    /// The same value under the current name.
    Renamed(&'static str),
    /// One value becomes the current name's one-item list.
    Listed(&'static str),
    /// A key of `tags`.
    Tag(&'static str),
    /// No longer used; why.
    Dropped(&'static str),
}

/// terraform-dcos's names, with what each becomes.
pub const LEGACY: &[(&str, Legacy)] = &[
    ("num_of_masters", Legacy::Renamed("num_masters")),
    ("num_of_private_agents", Legacy::Renamed("num_private_agents")),
    ("num_of_public_agents", Legacy::Renamed("num_public_agents")),
    ("aws_bootstrap_instance_type", Legacy::Renamed("bootstrap_instance_type")),
    ("aws_master_instance_type", Legacy::Renamed("masters_instance_type")),
    ("aws_agent_instance_type", Legacy::Renamed("private_agents_instance_type")),
    ("aws_public_agent_instance_type", Legacy::Renamed("public_agents_instance_type")),
    ("aws_bootstrap_instance_disk_size", Legacy::Renamed("bootstrap_root_volume_size")),
    ("aws_master_instance_disk_size", Legacy::Renamed("masters_root_volume_size")),
    ("aws_agent_instance_disk_size", Legacy::Renamed("private_agents_root_volume_size")),
    ("aws_public_agent_instance_disk_size", Legacy::Renamed("public_agents_root_volume_size")),
    ("admin_cidr", Legacy::Listed("admin_ips")),
    ("aws_availability_zone", Legacy::Listed("availability_zones")),
    ("owner", Legacy::Tag("owner")),
    ("expiration", Legacy::Tag("expiration")),
    ("os", Legacy::Dropped("the nodes run the image under test, whose OS is the build directory's")),
    ("user", Legacy::Dropped("the nodes' user is packer.json's ssh_username")),
    (
        "enable_os_setup_script",
        Legacy::Dropped("the image carries DC/OS's prerequisites (install_dcos_prerequisites.sh runs in the packer build)"),
    ),
];

pub fn current(name: &str) -> Option<&'static Variable> {
    CURRENT.iter().find(|v| v.name == name)
}

pub fn legacy(name: &str) -> Option<Legacy> {
    legacy_at(name).map(|at| LEGACY[at].1)
}

/// Where a terraform-dcos name is in [`LEGACY`] (and its texts in [`legacy_texts`]).
fn legacy_at(name: &str) -> Option<usize> {
    LEGACY.iter().position(|(n, _)| *n == name)
}

/// The node roles of a DC/OS cluster, in the order they are installed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PerRole<T> {
    pub bootstrap: T,
    pub masters: T,
    pub private_agents: T,
    pub public_agents: T,
}

/// How the nodes get their ssh key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SshKey {
    /// An existing EC2 key pair.
    KeyName(String),
    /// A key pair created from this public key.
    PublicKey(String),
    /// A key pair created from the public key in this file.
    PublicKeyFile(String),
}

/// A profile, typed: what the cluster module, the provider and the DC/OS
/// installation get. `None` leaves the module's default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterSpec {
    pub region: Option<String>,
    pub dcos_version: Option<String>,
    pub dcos_variant: Option<String>,
    pub download_url: Option<String>,
    /// The installer's expected sha256, checked on the bootstrap node.
    pub download_sha256: Option<String>,
    pub masters: Option<u64>,
    pub private_agents: Option<u64>,
    pub public_agents: Option<u64>,
    pub instance_types: PerRole<Option<String>>,
    pub root_volume_sizes: PerRole<Option<u64>>,
    pub admin_ips: Vec<String>,
    pub ssh_keys: Vec<SshKey>,
    pub availability_zones: Vec<String>,
    pub subnet_id: Option<String>,
    pub vpc_cidr: Option<String>,
    /// The profile's `tags`, with terraform-dcos's `owner` and `expiration`.
    pub tags: BTreeMap<String, String>,
}

/// The module's defaults (cluster/aws/variables.tf; a test keeps them equal).
pub const DEFAULT_MASTERS: u64 = 1;
pub const DEFAULT_PRIVATE_AGENTS: u64 = 2;
pub const DEFAULT_PUBLIC_AGENTS: u64 = 1;
pub const DEFAULT_BOOTSTRAP_INSTANCE_TYPE: &str = "m5.large";
pub const DEFAULT_NODE_INSTANCE_TYPE: &str = "m5.xlarge";

/// A value of the right kind.
#[derive(Debug, Clone, PartialEq)]
enum Typed {
    Text(String),
    Count(u64),
    List(Vec<String>),
    Map(Vec<(String, String)>),
}

fn scalar_text(v: &TfValue) -> Option<String> {
    match v {
        TfValue::String(s) | TfValue::Number(s) => Some(s.clone()),
        TfValue::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn typed(kind: Kind, v: &TfValue) -> Result<Typed, String> {
    match (kind, v) {
        (Kind::Text, TfValue::String(s)) => Ok(Typed::Text(s.clone())),
        (Kind::Text, _) => Err("a quoted string".into()),
        (Kind::Count, TfValue::String(s) | TfValue::Number(s)) => {
            s.trim().parse::<u64>().map(Typed::Count).map_err(|_| "a whole number >= 0".into())
        }
        (Kind::Count, _) => Err("a whole number >= 0".into()),
        (Kind::TextList, TfValue::List(items)) => items
            .iter()
            .map(|i| i.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .map(Typed::List)
            .ok_or_else(|| "a list of quoted strings".into()),
        (Kind::TextList, _) => Err("a list of quoted strings, e.g. [\"0.0.0.0/0\"]".into()),
        (Kind::TextMap, TfValue::Map(entries)) => entries
            .iter()
            .map(|(k, v)| scalar_text(v).map(|t| (k.clone(), t)))
            .collect::<Option<Vec<_>>>()
            .map(Typed::Map)
            .ok_or_else(|| "a map of strings, e.g. { owner = \"me\" }".into()),
        (Kind::TextMap, _) => Err("a map of strings, e.g. { owner = \"me\" }".into()),
    }
}

/// The profile read: the spec, and what is wrong or old in it.
#[derive(Debug, Clone, Default)]
pub struct ProfileReading {
    pub spec: ClusterSpec,
    pub problems: Vec<FileProblem>,
}

const MIGRATE_HINT: &str = "or let `dcos-images migrate` rewrite the profile";

/// Every name a profile may use, for "did you mean".
fn known_names() -> Vec<&'static str> {
    CURRENT.iter().map(|v| v.name).chain(LEGACY.iter().map(|(n, _)| *n)).chain(RESERVED.iter().copied()).collect()
}

/// What a profile entry sets: a current variable, or one key of `tags`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Target<'a> {
    Variable(&'static str),
    Tag(&'a str),
}

impl std::fmt::Display for Target<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Variable(name) => f.write_str(name),
            Target::Tag(key) => write!(f, "tags.{key}"),
        }
    }
}

/// The message and hint of each terraform-dcos name's `legacy-variable`
/// finding, in [`LEGACY`]'s order, written once: the real tree's profiles
/// have 2,330 of them.
fn legacy_texts() -> &'static [(String, String)] {
    static TEXTS: std::sync::OnceLock<Vec<(String, String)>> = std::sync::OnceLock::new();
    TEXTS.get_or_init(|| {
        LEGACY
            .iter()
            .map(|(old, what)| match what {
                Legacy::Renamed(new) => {
                    (format!("`{old}` is terraform-dcos's name of `{new}`"), format!("rename it to `{new}`, {MIGRATE_HINT}"))
                }
                Legacy::Listed(new) => (
                    format!("`{old}` is terraform-dcos's name: the current one is `{new}`, a list"),
                    format!("write `{new} = [...]`, {MIGRATE_HINT}"),
                ),
                Legacy::Tag(key) => (
                    format!("`{old}` is terraform-dcos's name: the current one is the tag `tags.{key}`"),
                    format!("move it into `tags`, {MIGRATE_HINT}"),
                ),
                Legacy::Dropped(why) => (format!("`{old}` is no longer used: {why}"), format!("remove it, {MIGRATE_HINT}")),
            })
            .collect()
    })
}

pub fn read(profile: &Tfvars) -> ProfileReading {
    let mut r = ProfileReading::default();
    // Which entry set each current variable (or tag), for conflicts between
    // an old and a new name: a profile sets a few dozen at most.
    let mut set_by: Vec<(Target, &str, usize)> = Vec::new();
    for e in &profile.entries {
        if RESERVED.contains(&e.key.as_str()) {
            continue; // reserved-tfvar, reported by the validator
        }
        if let Some(v) = current(&e.key) {
            match typed(v.kind, &e.value) {
                Ok(Typed::Map(entries)) => {
                    let TfValue::Map(written) = &e.value else { unreachable!("a map is typed from a map") };
                    for ((k, val), (key, _)) in entries.into_iter().zip(written) {
                        if claim(&mut set_by, &mut r.problems, Target::Tag(key), e) {
                            r.spec.tags.insert(k, val);
                        }
                    }
                }
                Ok(t) => {
                    if claim(&mut set_by, &mut r.problems, Target::Variable(v.name), e) {
                        r.spec.set(v.name, t);
                    }
                }
                Err(want) => r.problems.push(invalid(e, want)),
            }
            continue;
        }
        let Some(at) = legacy_at(&e.key) else {
            let hint = match did_you_mean(&e.key, &known_names()) {
                Some(k) => format!("did you mean `{k}`? The variables a profile may set are listed in docs/profiles.md"),
                None => "remove it; the variables a profile may set are listed in docs/profiles.md".to_owned(),
            };
            r.problems.push(FileProblem::new(
                Code::UnknownVariable,
                Some(e.line),
                format!("`{}` is not a variable of the cluster profile: the cluster module would refuse it", e.key),
                hint,
            ));
            continue;
        };
        let old = LEGACY[at].1;
        let (message, hint) = &legacy_texts()[at];
        r.problems.push(FileProblem::new(Code::LegacyVariable, Some(e.line), message.as_str(), hint.as_str()));
        match old {
            Legacy::Renamed(new) | Legacy::Listed(new) => {
                let v = current(new).expect("the table names current variables");
                let value = match (old, &e.value) {
                    (Legacy::Listed(_), TfValue::String(_)) => TfValue::List(vec![e.value.clone()]),
                    _ => e.value.clone(),
                };
                match typed(v.kind, &value) {
                    Ok(t) => {
                        if claim(&mut set_by, &mut r.problems, Target::Variable(v.name), e) {
                            r.spec.set(new, t);
                        }
                    }
                    Err(want) => r.problems.push(invalid(e, want)),
                }
            }
            Legacy::Tag(key) => match scalar_text(&e.value) {
                Some(t) => {
                    if claim(&mut set_by, &mut r.problems, Target::Tag(key), e) {
                        r.spec.tags.insert(key.to_owned(), t);
                    }
                }
                None => r.problems.push(invalid(e, "a quoted string".into())),
            },
            Legacy::Dropped(_) => {}
        }
    }
    r
}

/// Records that `e` sets `target`; false, with a `duplicate-key` finding,
/// when another entry set it first.
fn claim<'p>(set_by: &mut Vec<(Target<'p>, &'p str, usize)>, problems: &mut Vec<FileProblem>, target: Target<'p>, e: &'p TfEntry) -> bool {
    match set_by.iter().find(|(t, _, _)| *t == target) {
        // The same name twice is the tfvars parser's duplicate-key already.
        Some((_, by, _)) if *by == e.key => false,
        Some((_, by, line)) => {
            problems.push(FileProblem::new(
                Code::DuplicateKey,
                Some(e.line),
                format!("`{}` sets `{target}`, which `{by}` on line {line} sets already", e.key),
                "keep one of the two",
            ));
            false
        }
        None => {
            set_by.push((target, &e.key, e.line));
            true
        }
    }
}

fn invalid(e: &TfEntry, want: String) -> FileProblem {
    FileProblem::new(Code::InvalidValue, Some(e.line), format!("`{}` must be {want}", e.key), format!("fix the value of `{}`", e.key))
}

impl ClusterSpec {
    fn set(&mut self, name: &str, value: Typed) {
        let text = |v: Typed| match v {
            Typed::Text(s) => Some(s),
            _ => None,
        };
        let count = |v: Typed| match v {
            Typed::Count(n) => Some(n),
            _ => None,
        };
        let list = |v: Typed| match v {
            Typed::List(l) => l,
            _ => Vec::new(),
        };
        match name {
            "aws_region" => self.region = text(value),
            "dcos_version" => self.dcos_version = text(value),
            "dcos_variant" => self.dcos_variant = text(value),
            "custom_dcos_download_path" => self.download_url = text(value),
            "custom_dcos_download_sha256" => self.download_sha256 = text(value),
            "num_masters" => self.masters = count(value),
            "num_private_agents" => self.private_agents = count(value),
            "num_public_agents" => self.public_agents = count(value),
            "bootstrap_instance_type" => self.instance_types.bootstrap = text(value),
            "masters_instance_type" => self.instance_types.masters = text(value),
            "private_agents_instance_type" => self.instance_types.private_agents = text(value),
            "public_agents_instance_type" => self.instance_types.public_agents = text(value),
            "bootstrap_root_volume_size" => self.root_volume_sizes.bootstrap = count(value),
            "masters_root_volume_size" => self.root_volume_sizes.masters = count(value),
            "private_agents_root_volume_size" => self.root_volume_sizes.private_agents = count(value),
            "public_agents_root_volume_size" => self.root_volume_sizes.public_agents = count(value),
            "admin_ips" => self.admin_ips = list(value),
            "ssh_key_name" => self.ssh_keys.extend(text(value).map(SshKey::KeyName)),
            "ssh_public_key" => self.ssh_keys.extend(text(value).map(SshKey::PublicKey)),
            "ssh_public_key_file" => self.ssh_keys.extend(text(value).map(SshKey::PublicKeyFile)),
            "availability_zones" => self.availability_zones = list(value),
            "subnet_id" => self.subnet_id = text(value),
            "vpc_cidr" => self.vpc_cidr = text(value),
            other => unreachable!("`{other}` is in CURRENT but has no field"),
        }
    }

    /// The module's arguments from the profile (the run adds the image, the
    /// OS user, the cluster name and its own tags). Only what the profile
    /// sets: the module's defaults stay the module's.
    pub fn module_arguments(&self) -> Map<String, Value> {
        let mut m = Map::new();
        let mut put = |name: &str, v: Value| {
            m.insert(name.to_owned(), v);
        };
        for (count, value) in
            [("num_masters", self.masters), ("num_private_agents", self.private_agents), ("num_public_agents", self.public_agents)]
        {
            if let Some(n) = value {
                put(count, Value::from(n));
            }
        }
        for role in ["bootstrap", "masters", "private_agents", "public_agents"] {
            if let Some(t) = self.instance_types.get(role) {
                put(&format!("{role}_instance_type"), Value::from(t.clone()));
            }
            if let Some(n) = self.root_volume_sizes.get(role) {
                put(&format!("{role}_root_volume_size"), Value::from(*n));
            }
        }
        if !self.admin_ips.is_empty() {
            put("admin_ips", Value::from(self.admin_ips.clone()));
        }
        for key in &self.ssh_keys {
            match key {
                SshKey::KeyName(k) => put("ssh_key_name", Value::from(k.clone())),
                SshKey::PublicKey(k) => put("ssh_public_key", Value::from(k.clone())),
                SshKey::PublicKeyFile(f) => put("ssh_public_key_file", Value::from(f.clone())),
            }
        }
        if !self.availability_zones.is_empty() {
            put("availability_zones", Value::from(self.availability_zones.clone()));
        }
        if let Some(s) = &self.subnet_id {
            put("subnet_id", Value::from(s.clone()));
        }
        if let Some(c) = &self.vpc_cidr {
            put("vpc_cidr", Value::from(c.clone()));
        }
        m
    }

    /// Each role's instance type: the profile's, else the built-in module's
    /// default (`None` with another module, whose defaults are its own).
    pub fn instance_types_with_defaults(&self, builtin_module: bool) -> PerRole<Option<String>> {
        let or = |t: &Option<String>, default: &str| t.clone().or_else(|| builtin_module.then(|| default.to_owned()));
        PerRole {
            bootstrap: or(&self.instance_types.bootstrap, DEFAULT_BOOTSTRAP_INSTANCE_TYPE),
            masters: or(&self.instance_types.masters, DEFAULT_NODE_INSTANCE_TYPE),
            private_agents: or(&self.instance_types.private_agents, DEFAULT_NODE_INSTANCE_TYPE),
            public_agents: or(&self.instance_types.public_agents, DEFAULT_NODE_INSTANCE_TYPE),
        }
    }

    /// Nodes of each role the cluster will have.
    pub fn node_counts(&self) -> PerRole<u64> {
        PerRole {
            bootstrap: 1,
            masters: self.masters.unwrap_or(DEFAULT_MASTERS),
            private_agents: self.private_agents.unwrap_or(DEFAULT_PRIVATE_AGENTS),
            public_agents: self.public_agents.unwrap_or(DEFAULT_PUBLIC_AGENTS),
        }
    }
}

impl<T> PerRole<T> {
    fn get(&self, role: &str) -> &T {
        match role {
            "bootstrap" => &self.bootstrap,
            "masters" => &self.masters,
            "private_agents" => &self.private_agents,
            _ => &self.public_agents,
        }
    }
}

/// One change `migrate` makes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub line: usize,
    pub what: String,
}

/// A profile rewritten to the current vocabulary, or why it cannot be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migration {
    pub text: String,
    pub changes: Vec<Change>,
}

/// Rewrites terraform-dcos's names in `text` (whose parse is `profile`) to the
/// current vocabulary: renamed in place, one value made a list, `owner` and
/// `expiration` moved into `tags`, the unused removed. Everything else
/// (comments, order, blank lines, other assignments) is kept byte for byte.
/// `Ok(None)` when there is nothing to change.
pub fn migrate(text: &str, profile: &Tfvars) -> Result<Option<Migration>, String> {
    let mut edits: Vec<(std::ops::Range<usize>, String)> = Vec::new();
    let mut changes = Vec::new();
    let mut new_tags: Vec<(String, String, &TfEntry)> = Vec::new();
    for e in &profile.entries {
        let Some(old) = legacy(&e.key) else { continue };
        let value_text = &text[e.value_span.clone()];
        match old {
            Legacy::Renamed(new) => {
                let count = current(new).is_some_and(|v| v.kind == Kind::Count);
                let value = match (&e.value, count) {
                    // terraform-dcos quoted its numbers: "1" -> 1.
                    (TfValue::String(s), true) if s.trim().parse::<u64>().is_ok() => s.trim().to_owned(),
                    _ => value_text.to_owned(),
                };
                edits.push((e.span.clone(), format!("{new}{}{value}", &text[e.span.start + e.key.len()..e.value_span.start])));
                changes.push(Change { line: e.line, what: format!("`{}` -> `{new}`", e.key) });
            }
            Legacy::Listed(new) => {
                let value = match &e.value {
                    TfValue::List(_) => value_text.to_owned(),
                    _ => format!("[{value_text}]"),
                };
                edits.push((e.span.clone(), format!("{new}{}{value}", &text[e.span.start + e.key.len()..e.value_span.start])));
                changes.push(Change { line: e.line, what: format!("`{}` -> `{new} = {value}`", e.key) });
            }
            Legacy::Tag(key) => {
                let value = scalar_text(&e.value).ok_or_else(|| format!("line {}: `{}` is not a string", e.line, e.key))?;
                new_tags.push((key.to_owned(), value, e));
            }
            Legacy::Dropped(why) => {
                edits.push((whole_lines(text, e.span.clone()), String::new()));
                changes.push(Change { line: e.line, what: format!("`{}` removed ({why})", e.key) });
            }
        }
    }
    if !new_tags.is_empty() {
        let existing = profile.get("tags");
        let mut tags: Vec<(String, String)> = match existing.map(|t| &t.value) {
            Some(TfValue::Map(entries)) => entries
                .iter()
                .map(|(k, v)| Ok((k.clone(), scalar_text(v).ok_or_else(|| format!("`tags.{k}` is not a string"))?)))
                .collect::<Result<_, String>>()?,
            Some(_) => return Err("`tags` is not a map".into()),
            None => Vec::new(),
        };
        for (key, value, e) in &new_tags {
            if let Some((_, v)) = tags.iter().find(|(k, _)| k == key) {
                if v != value {
                    return Err(format!(
                        "line {}: `{}` = \"{value}\" but `tags.{key}` = \"{v}\": keep one of the two first",
                        e.line, e.key
                    ));
                }
            } else {
                tags.push((key.clone(), value.clone()));
            }
            changes.push(Change { line: e.line, what: format!("`{}` -> `tags.{key}`", e.key) });
        }
        match existing {
            Some(t) => {
                let multiline = text[t.value_span.clone()].contains('\n');
                edits.push((t.value_span.clone(), render_map(&tags, multiline)));
                for (_, _, e) in &new_tags {
                    edits.push((whole_lines(text, e.span.clone()), String::new()));
                }
            }
            None => {
                // `tags` takes the place of the first of them.
                let first = new_tags[0].2;
                edits.push((first.span.clone(), format!("tags = {}", render_map(&tags, true))));
                for (_, _, e) in &new_tags[1..] {
                    edits.push((whole_lines(text, e.span.clone()), String::new()));
                }
            }
        }
    }
    if edits.is_empty() {
        return Ok(None);
    }
    edits.sort_by_key(|(r, _)| std::cmp::Reverse(r.start));
    let mut out = text.to_owned();
    for (range, with) in edits {
        out.replace_range(range, &with);
    }
    changes.sort_by_key(|c| c.line);
    Ok(Some(Migration { text: out, changes }))
}

/// The lines holding `span` with their newline, when nothing but blanks and a
/// comment share them; else just the span.
fn whole_lines(text: &str, span: std::ops::Range<usize>) -> std::ops::Range<usize> {
    let start = text[..span.start].rfind('\n').map_or(0, |i| i + 1);
    let end = text[span.end..].find('\n').map_or(text.len(), |i| span.end + i + 1);
    let before = &text[start..span.start];
    let after = text[span.end..end].trim();
    if before.trim().is_empty() && (after.is_empty() || after.starts_with('#') || after.starts_with("//")) {
        start..end
    } else {
        span
    }
}

fn hcl_key(k: &str) -> String {
    let ident = k.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if ident {
        k.to_owned()
    } else {
        hcl_string(k)
    }
}

fn hcl_string(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

fn render_map(entries: &[(String, String)], multiline: bool) -> String {
    if !multiline {
        let inner: Vec<String> = entries.iter().map(|(k, v)| format!("{} = {}", hcl_key(k), hcl_string(v))).collect();
        return format!("{{ {} }}", inner.join(", "));
    }
    let width = entries.iter().map(|(k, _)| hcl_key(k).len()).max().unwrap_or(0);
    let mut s = String::from("{\n");
    for (k, v) in entries {
        s.push_str(&format!("  {:<width$} = {}\n", hcl_key(k), hcl_string(v)));
    }
    s.push('}');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    const TERRAFORM_DCOS: &str = r#"aws_region = "us-west-2"

aws_bootstrap_instance_type    = "m5.xlarge"
aws_master_instance_type       = "m5.xlarge"
aws_agent_instance_type        = "m5.large"
aws_public_agent_instance_type = "m5.xlarge"

ssh_key_name = "dcos-images"
# Inbound Master Access
admin_cidr = "0.0.0.0/0"

num_of_masters        = "3"
num_of_private_agents = "2"
num_of_public_agents  = "1"

custom_dcos_download_path = "https://downloads.dcos.io/dcos/stable/2.1.1/dcos_generate_config.sh"
enable_os_setup_script    = false
os = "centos" # the OS
owner      = "dcos-images"
expiration = "3h"
"#;

    fn parse(text: &str) -> Tfvars {
        let p = Tfvars::parse(text);
        assert!(p.problems.is_empty(), "{:?}", p.problems);
        p.value.unwrap()
    }

    #[test]
    fn both_vocabularies_give_one_spec() {
        let old = read(&parse(TERRAFORM_DCOS));
        let new_text = migrate(TERRAFORM_DCOS, &parse(TERRAFORM_DCOS)).unwrap().unwrap().text;
        let new = read(&parse(&new_text));
        assert_eq!(old.spec, new.spec);
        assert!(new.problems.is_empty(), "{:?}", new.problems);
        let s = old.spec;
        assert_eq!((s.masters, s.private_agents, s.public_agents), (Some(3), Some(2), Some(1)));
        assert_eq!(s.instance_types.private_agents.as_deref(), Some("m5.large"));
        assert_eq!(s.admin_ips, vec!["0.0.0.0/0"]);
        assert_eq!(s.ssh_keys, vec![SshKey::KeyName("dcos-images".into())]);
        assert_eq!(s.tags.get("expiration").map(String::as_str), Some("3h"));
        assert_eq!(s.region.as_deref(), Some("us-west-2"));
        let args = s.module_arguments();
        assert_eq!(args["num_masters"], 3);
        assert_eq!(args["masters_instance_type"], "m5.xlarge");
        assert!(args.get("aws_region").is_none() && args.get("custom_dcos_download_path").is_none());
        // Each old name is reported once, as legacy, at its line.
        let legacy: Vec<usize> = old.problems.iter().filter(|p| p.code == Code::LegacyVariable).filter_map(|p| p.line).collect();
        assert_eq!(legacy, vec![3, 4, 5, 6, 10, 12, 13, 14, 17, 18, 19, 20]);
    }

    #[test]
    fn migrate_keeps_comments_and_order_and_is_idempotent() {
        let m = migrate(TERRAFORM_DCOS, &parse(TERRAFORM_DCOS)).unwrap().unwrap();
        let expected = r#"aws_region = "us-west-2"

bootstrap_instance_type    = "m5.xlarge"
masters_instance_type       = "m5.xlarge"
private_agents_instance_type        = "m5.large"
public_agents_instance_type = "m5.xlarge"

ssh_key_name = "dcos-images"
# Inbound Master Access
admin_ips = ["0.0.0.0/0"]

num_masters        = 3
num_private_agents = 2
num_public_agents  = 1

custom_dcos_download_path = "https://downloads.dcos.io/dcos/stable/2.1.1/dcos_generate_config.sh"
tags = {
  owner      = "dcos-images"
  expiration = "3h"
}
"#;
        assert_eq!(m.text, expected);
        assert_eq!(m.changes.len(), 12);
        assert_eq!(migrate(&m.text, &parse(&m.text)).unwrap(), None);
    }

    #[test]
    fn owner_and_expiration_join_existing_tags() {
        let text = "owner = \"me\"\ntags={team = \"images\"}\n";
        let m = migrate(text, &parse(text)).unwrap().unwrap();
        assert_eq!(m.text, "tags={ team = \"images\", owner = \"me\" }\n");
        let clash = "owner = \"me\"\ntags={owner = \"you\"}\n";
        assert!(migrate(clash, &parse(clash)).unwrap_err().contains("keep one of the two"));
        let r = read(&parse(clash));
        assert!(r.problems.iter().any(|p| p.code == Code::DuplicateKey && p.line == Some(2)), "{:?}", r.problems);
    }

    #[test]
    fn unknown_names_get_a_suggestion_and_bad_values_a_type() {
        let r = read(&parse("num_master = 1\ncolour = \"red\"\nnum_masters = \"three\"\nadmin_ips = \"0.0.0.0/0\"\n"));
        let got: Vec<(Code, Option<usize>, &str)> = r.problems.iter().map(|p| (p.code, p.line, p.hint.as_ref())).collect();
        assert_eq!(got[0].0, Code::UnknownVariable);
        assert!(got[0].2.starts_with("did you mean `num_masters`?"), "{}", got[0].2);
        assert_eq!((got[1].0, got[1].1), (Code::UnknownVariable, Some(2)));
        assert!(got[1].2.starts_with("remove it"));
        assert_eq!((got[2].0, got[2].1), (Code::InvalidValue, Some(3)));
        assert_eq!((got[3].0, got[3].1), (Code::InvalidValue, Some(4)));
        // An old and a new name for one variable.
        let r = read(&parse("num_masters = 1\nnum_of_masters = \"3\"\n"));
        assert!(r.problems.iter().any(|p| p.code == Code::DuplicateKey && p.line == Some(2)));
        assert_eq!(r.spec.masters, Some(1));
    }

    #[test]
    fn the_module_declares_every_module_variable_with_the_same_defaults() {
        let variables = include_str!("../../cluster/aws/variables.tf");
        for v in CURRENT.iter().filter(|v| v.used_by == UsedBy::Module) {
            assert!(variables.contains(&format!("variable \"{}\"", v.name)), "cluster/aws lacks `{}`", v.name);
        }
        for r in RESERVED {
            assert!(variables.contains(&format!("variable \"{r}\"")), "cluster/aws lacks `{r}`");
        }
        let block = |name: &str| {
            let block = &variables[variables.find(&format!("variable \"{name}\"")).unwrap()..];
            block[..block.find("\n}").unwrap()].to_owned()
        };
        for (name, default) in
            [("num_masters", DEFAULT_MASTERS), ("num_private_agents", DEFAULT_PRIVATE_AGENTS), ("num_public_agents", DEFAULT_PUBLIC_AGENTS)]
        {
            assert!(block(name).contains(&format!("default     = {default}\n")), "{name}: {}", block(name));
        }
        let types = ClusterSpec::default().instance_types_with_defaults(true);
        for (role, default) in [
            ("bootstrap", &types.bootstrap),
            ("masters", &types.masters),
            ("private_agents", &types.private_agents),
            ("public_agents", &types.public_agents),
        ] {
            let name = format!("{role}_instance_type");
            assert!(block(&name).contains(&format!("default = \"{}\"", default.as_deref().unwrap())), "{name}: {}", block(&name));
        }
    }

    #[test]
    fn readme_shows_the_whole_table() {
        let readme = include_str!("../../docs/profiles.md");
        for (old, new) in LEGACY {
            let shown = match new {
                Legacy::Renamed(n) => format!("| `{old}` | `{n}` |"),
                Legacy::Listed(n) => format!("| `{old}` | `{n}` (a list) |"),
                Legacy::Tag(k) => format!("| `{old}` | `tags.{k}` |"),
                Legacy::Dropped(_) => format!("| `{old}` | removed:"),
            };
            assert!(readme.contains(&shown), "docs/profiles.md lacks the row {shown}");
        }
        for v in CURRENT {
            assert!(readme.contains(&format!("`{}`", v.name)), "docs/profiles.md never names `{}`", v.name);
        }
    }
}

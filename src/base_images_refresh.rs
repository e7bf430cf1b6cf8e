//! `dcos-images base-images refresh [PATH...] [--check]`: the vendors' newest
//! images into `base_images.json`, asked of EC2 rather than copied by hand
//! from the vendors' web pages.
//!
//! For each file, the OS is the first directory of its path and the OS
//! version the second; `base_images.<os>` in dcos-images.yaml (or the
//! defaults below) says whose images they are (owner account ids) and what
//! they are called (a name pattern, `*` and `?` as EC2 filters take them,
//! `{version}` replaced by the OS version). Each region the file lists gets
//! the newest available image EC2 has under that owner and name.

use crate::cloud::ec2::{CloudError, Ec2};
use crate::config::{RootConfig, VendorImages};
use crate::error::{exit, Error};
use crate::formats::base_images::BaseImages;
use crate::formats::find_json_key;
use crate::fsutil;
use crate::tree::Layout;
use std::collections::BTreeMap;
use std::path::Path;

/// Where each OS family's official images come from, for the OS directory
/// names the public tree uses. dcos-images.yaml's `base_images.<os>`
/// replaces an entry or adds an OS.
pub fn default_vendor(os: &str) -> Option<VendorImages> {
    let (owners, name): (&[&str], &str) = match os {
        // The CentOS project's account: "CentOS 7.8.2003 x86_64".
        "centos" => (&["125523088429"], "CentOS {version}* x86_64"),
        // Red Hat's account: "RHEL-7.8_HVM_GA-20200225-x86_64-1-Hourly2-GP2",
        // "RHEL-9.3.0_HVM-20231101-x86_64-5-Hourly2-GP3". The hourly images
        // only: the same account's `-Access2-` ones are Cloud Access
        // (bring your own subscription), which an account without one cannot launch.
        "rhel" => (&["309956199498"], "RHEL-{version}*_HVM*-x86_64-*-Hourly2-GP*"),
        // Kinvolk's account: "Flatcar-stable-2605.7.0-hvm".
        "flatcar" | "flatcar-linux" => (&["075585003325"], "Flatcar-stable-{version}-hvm"),
        // CoreOS's account: "CoreOS-stable-2191.5.0-hvm".
        "coreos" => (&["595879546273"], "CoreOS-stable-{version}-hvm"),
        // Oracle's account: "OL7.8-x86_64-HVM-2020-05-21".
        "oracle" | "oracle-linux" | "oraclelinux" => (&["131827586825"], "OL{version}-x86_64-HVM-*"),
        // Canonical's account: "ubuntu/images/hvm-ssd/ubuntu-bionic-18.04-amd64-server-20200908".
        "ubuntu" => (&["099720109477"], "ubuntu/images/hvm-ssd*/ubuntu-*-{version}-amd64-server-*"),
        _ => return None,
    };
    Some(VendorImages { owners: owners.iter().map(|o| (*o).to_owned()).collect(), name: name.to_owned() })
}

/// One region of one file whose image is not the newest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Newer {
    pub region: String,
    pub current: Option<String>,
    pub newest: crate::cloud::ec2::VendorImage,
}

/// What refreshing one base_images.json found.
#[derive(Debug)]
pub struct FileRefresh {
    pub file: String,
    pub newer: Vec<Newer>,
    /// Regions where EC2 has no image under the owner and name: kept as they are.
    pub not_found: Vec<String>,
}

/// `prefixes`: paths relative to the root whose files are refreshed (none: all).
pub fn run_blocking(root: &Path, config: &RootConfig, prefixes: &[String], check: bool) -> Result<u8, Error> {
    crate::pipeline::runtime()?.block_on(run(root, config, prefixes, check))
}

async fn run(root: &Path, config: &RootConfig, prefixes: &[String], check: bool) -> Result<u8, Error> {
    let layout = Layout::discover(root, &config.tree.exclude, &|_, _| true)?;
    let files: Vec<_> = layout
        .base_images
        .values()
        .filter(|f| prefixes.is_empty() || prefixes.iter().any(|p| p.is_empty() || f.rel == *p || f.rel.starts_with(&format!("{p}/"))))
        .collect();
    if files.is_empty() {
        return Err(Error::usage(
            "no base_images.json under the given paths",
            "pass directories of the tree that hold one (<os>/<os-version>/...)",
        ));
    }
    let ec2 = Ec2::load().await;
    let mut found_newer = false;
    for f in files {
        let Some(images) = f.value() else {
            return Err(Error::usage(
                format!("{} does not parse", f.rel),
                "fix it first: `dcos-images validate` says where; refresh rewrites only valid files",
            ));
        };
        let mut parts = f.rel.split('/');
        let (os, version) = (parts.next().unwrap_or_default(), parts.next().unwrap_or_default());
        let vendor = config.base_images.get(os).cloned().or_else(|| default_vendor(os)).ok_or_else(|| {
            Error::usage(
                format!("{}: no vendor images known for `{os}`", f.rel),
                format!("add `base_images: {{{os}: {{owners: [\"<account id>\"], name: \"<image name pattern with {{version}}>\"}}}}` to dcos-images.yaml"),
            )
        })?;
        let refresh = refresh_file(&ec2, &f.rel, images, &vendor, version).await.map_err(|e| {
            Error::usage(format!("{}: {e}", f.rel), "check your AWS credentials, and the owners and name pattern in dcos-images.yaml")
        })?;
        for region in &refresh.not_found {
            eprintln!(
                "warning: {}: no available image named `{}` owned by {} in {region}; kept as it is",
                refresh.file,
                vendor.pattern(version),
                vendor.owners.join(", ")
            );
        }
        if refresh.newer.is_empty() {
            println!("{}: up to date", refresh.file);
            continue;
        }
        found_newer = true;
        for n in &refresh.newer {
            // The newest may itself be deprecated (public images are, two
            // years after they are made): still the vendor's newest.
            let deprecated = match (&n.newest.deprecation_time, n.newest.is_deprecated()) {
                (Some(when), true) => format!(", deprecated since {when}: the vendor has published nothing newer"),
                _ => String::new(),
            };
            println!(
                "{}: {} {} -> {} ({}, created {}{deprecated})",
                refresh.file,
                n.region,
                n.current.as_deref().unwrap_or("(none)"),
                n.newest.id,
                n.newest.name,
                n.newest.created
            );
        }
        if !check {
            let path = root.join(&f.rel);
            let text = rewrite(&f.text, &refresh.newer).ok_or_else(|| {
                Error::usage(format!("{}: cannot edit the file in place", f.rel), "check it is a flat JSON object of region to image id")
            })?;
            fsutil::write_atomic(&path, text.as_bytes())
                .map_err(|e| Error::usage(format!("cannot write {}: {e}", path.display()), "check its permissions"))?;
        }
    }
    Ok(match (check, found_newer) {
        (true, true) => {
            eprintln!("newer base images exist: `dcos-images base-images refresh` writes them");
            exit::NEGATIVE
        }
        _ => exit::SUCCESS,
    })
}

/// The newest image per region of the file, compared with what it lists.
async fn refresh_file(ec2: &Ec2, rel: &str, images: &BaseImages, vendor: &VendorImages, version: &str) -> Result<FileRefresh, CloudError> {
    let pattern = vendor.pattern(version);
    let asked = images.0.keys().map(|region| ec2.vendor_images(region, &vendor.owners, &pattern));
    let answers = crate::pipeline::join_all(asked).await;
    let mut refresh = FileRefresh { file: rel.to_owned(), newer: Vec::new(), not_found: Vec::new() };
    for ((region, current), answer) in images.0.iter().zip(answers) {
        match newest_of_version(answer?, version) {
            None => refresh.not_found.push(region.clone()),
            Some(newest) if newest.id != *current => {
                refresh.newer.push(Newer { region: region.clone(), current: Some(current.clone()), newest })
            }
            Some(_) => {}
        }
    }
    Ok(refresh)
}

/// The newest image (by creation date; the id breaks ties) whose name
/// holds the OS version as whole components: EC2's `*` after `8.1` also
/// matches `8.10`, which is another version.
fn newest_of_version(images: Vec<crate::cloud::ec2::VendorImage>, version: &str) -> Option<crate::cloud::ec2::VendorImage> {
    // ISO 8601 dates in one format compare as text.
    images.into_iter().filter(|i| names_version(&i.name, version)).max_by(|a, b| (&a.created, &a.id).cmp(&(&b.created, &b.id)))
}

/// Whether `name` holds `version` with no digit right after it and no digit
/// or dot right before it (`CentOS 8.1.1911` holds 8.1; `CentOS 8.10` and
/// `CentOS 18.1` do not).
fn names_version(name: &str, version: &str) -> bool {
    if version.is_empty() {
        return true;
    }
    name.match_indices(version).any(|(at, _)| {
        let before = name[..at].chars().next_back();
        let after = name[at + version.len()..].chars().next();
        !before.is_some_and(|c| c.is_ascii_digit() || c == '.') && !after.is_some_and(|c| c.is_ascii_digit())
    })
}

/// `text` with the image of each region in `newer` replaced in place: key
/// order, indentation and everything else of the file stay as they are.
/// None when the text is not laid out as expected (the result is parsed
/// again and compared before it is accepted).
pub fn rewrite(text: &str, newer: &[Newer]) -> Option<String> {
    let mut out = text.to_owned();
    for n in newer {
        let mut nth = 0;
        let mut edited = false;
        while let Some((_, after_colon)) = find_json_key(&out, &n.region, nth) {
            let rest = &out[after_colon..];
            let open = after_colon + (rest.len() - rest.trim_start().len());
            if !out[open..].starts_with('"') {
                return None;
            }
            let close = open + 1 + out[open + 1..].find('"')?;
            out.replace_range(open + 1..close, &n.newest.id);
            edited = true;
            nth += 1;
        }
        if !edited {
            return None;
        }
    }
    let expected: BTreeMap<&str, &str> = newer.iter().map(|n| (n.region.as_str(), n.newest.id.as_str())).collect();
    let reread = BaseImages::parse(&out).value?;
    let before = BaseImages::parse(text).value?;
    let agrees = reread.0.iter().all(|(r, i)| expected.get(r.as_str()).map_or(before.0.get(r) == Some(i), |e| e == i));
    (agrees && reread.0.len() == before.0.len()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloud::ec2::VendorImage;

    fn newer(region: &str, id: &str) -> Newer {
        Newer {
            region: region.into(),
            current: None,
            newest: VendorImage { id: id.into(), name: "n".into(), created: "c".into(), deprecation_time: None },
        }
    }

    #[test]
    fn rewrites_in_place_keeping_order_and_layout() {
        let text = "{\n    \"us-west-2\":   \"ami-a9b24bd1\",\n  \"eu-west-1\": \"ami-0123abcd\"\n}";
        let out = rewrite(text, &[newer("us-west-2", "ami-0a1b2c3d4e5f60718")]).unwrap();
        assert_eq!(out, "{\n    \"us-west-2\":   \"ami-0a1b2c3d4e5f60718\",\n  \"eu-west-1\": \"ami-0123abcd\"\n}");
        assert_eq!(rewrite(text, &[newer("ap-south-1", "ami-0a1b2c3d")]), None, "a region the file does not list");
    }

    #[test]
    fn versions_match_whole_components() {
        assert!(names_version("CentOS 8.1.1911 x86_64", "8.1"));
        assert!(names_version("RHEL-8.1.0_HVM-20191029-x86_64-0-Hourly2-GP2", "8.1"));
        assert!(!names_version("CentOS 8.10.2099 x86_64", "8.1"));
        assert!(!names_version("RHEL-8.10.0_HVM-20240501-x86_64-0-Hourly2-GP3", "8.1"));
        assert!(!names_version("CentOS 18.1 x86_64", "8.1"));
        assert!(names_version("Flatcar-stable-2345.3.1-hvm", "2345.3.1"));
        assert!(!names_version("Flatcar-stable-2345.3.10-hvm", "2345.3.1"));
        let image = |id: &str, name: &str, created: &str| VendorImage {
            id: id.into(),
            name: name.into(),
            created: created.into(),
            deprecation_time: None,
        };
        let newest = newest_of_version(
            vec![
                image("ami-1", "CentOS 8.1.1911 x86_64", "2020-01-01"),
                image("ami-2", "CentOS 8.10.2099 x86_64", "2024-01-01"),
                image("ami-3", "CentOS 8.1.1911 x86_64", "2020-02-01"),
            ],
            "8.1",
        );
        assert_eq!(newest.unwrap().id, "ami-3");
    }

    #[test]
    fn every_os_of_the_public_tree_has_a_vendor() {
        for os in ["centos", "rhel", "flatcar", "coreos", "oracle-linux", "ubuntu"] {
            let v = default_vendor(os).unwrap();
            assert!(v.name.contains("{version}") && !v.owners.is_empty(), "{os}");
        }
        assert_eq!(default_vendor("centos").unwrap().pattern("7.8"), "CentOS 7.8* x86_64");
        assert!(default_vendor("plan9").is_none());
    }
}

//! What DC/OS itself dictates, by version: where its installer can be
//! fetched from and which post-start check its nodes have. One place for
//! both, asked by `validate` (so that it reports what `qualify` would
//! refuse) and by the plan.

use crate::formats::profile::ClusterSpec;
use crate::tree::version;

/// Where and how the installer is fetched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Installer {
    pub url: String,
    pub sha256: Option<String>,
}

/// Why no installer can be fetched, with the profile variable to fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoInstaller {
    /// The variable the finding points at, when the profile sets it.
    pub variable: &'static str,
    pub message: String,
    pub hint: String,
}

/// The DC/OS version a build directory qualifies: the profile's
/// `dcos_version`, else the directory's `DCOS-<v>`.
pub fn version_of<'a>(spec: &'a ClusterSpec, dir_version: &'a str) -> &'a str {
    spec.dcos_version.as_deref().unwrap_or(dir_version)
}

/// Whether `v` is a released DC/OS version (`2.1.1`): only those have a
/// stable download (`downloads.dcos.io/dcos/stable/<v>/`). A pre-release
/// (`2.2.0-beta1`, `1.14.0-alpha`), the `1.14.0-2.0` alias of 2.0.0, a
/// `-fix` build or a minor version alone have none.
pub fn is_release(v: &str) -> bool {
    let parts: Vec<&str> = v.split('.').collect();
    parts.len() == 3 && parts.iter().all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

/// Whether the profile asks for DC/OS Enterprise.
fn is_enterprise(spec: &ClusterSpec) -> bool {
    spec.dcos_variant.as_deref().is_some_and(|v| v.eq_ignore_ascii_case("ee") || v.eq_ignore_ascii_case("enterprise"))
}

/// The installer of a build directory: the profile's
/// `custom_dcos_download_path`, else the stable download of a released
/// open-source version. Anything else is refused before anything is spent,
/// not found missing forty minutes in (a 404 on the bootstrap node).
pub fn installer(spec: &ClusterSpec, dir_version: &str) -> Result<Installer, NoInstaller> {
    if let Some(url) = &spec.download_url {
        return Ok(Installer { url: url.clone(), sha256: spec.download_sha256.clone() });
    }
    if is_enterprise(spec) {
        return Err(NoInstaller {
            variable: "dcos_variant",
            message: "DC/OS Enterprise (`dcos_variant = \"ee\"`) has no public download: without custom_dcos_download_path the \
                      open-source installer would be installed, and the image qualified for the wrong DC/OS"
                .into(),
            hint: "set custom_dcos_download_path to your licensed Enterprise installer's URL (and custom_dcos_download_sha256), \
                   or dcos_variant = \"open\""
                .into(),
        });
    }
    let v = version_of(spec, dir_version);
    if !is_release(v) {
        return Err(NoInstaller {
            variable: "dcos_version",
            message: format!(
                "DC/OS {v} has no stable download (downloads.dcos.io/dcos/stable/ holds released versions only; {v} is a \
                 pre-release, an alias or a build): set custom_dcos_download_path"
            ),
            hint: "set custom_dcos_download_path in the cluster profile to the installer's URL, e.g. \
                   https://downloads.dcos.io/dcos/testing/<version>/dcos_generate_config.sh"
                .into(),
        });
    }
    Ok(Installer { url: format!("https://downloads.dcos.io/dcos/stable/{v}/dcos_generate_config.sh"), sha256: None })
}

/// A DC/OS node's post-start checks, as each version has them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PostStartCheck {
    pub command: &'static str,
    /// The tool, for the plan.
    pub tool: &'static str,
    /// The versions that have it.
    pub versions: &'static str,
}

/// The post-start check of DC/OS `v`, as dcos-e2e's
/// `_wait_for_node_poststart` runs it: `dcos-check-runner` exists from 1.12
/// on, `dcos-diagnostics check node-poststart` works on 1.10 and 1.11, `3dt`
/// on 1.9. `sudo`: some checks read the cluster's CA certificate.
pub fn post_start_check(v: &str) -> PostStartCheck {
    let canonical = version::canonical_dcos(v);
    if version::compare(&canonical, "1.12.0-alpha") != std::cmp::Ordering::Less {
        PostStartCheck {
            command: "sudo /opt/mesosphere/bin/dcos-check-runner check node-poststart",
            tool: "dcos-check-runner",
            versions: "DC/OS 1.12 and later",
        }
    } else if version::compare(&canonical, "1.10.0-alpha") != std::cmp::Ordering::Less {
        PostStartCheck {
            command: "sudo /opt/mesosphere/bin/dcos-diagnostics check node-poststart",
            tool: "dcos-diagnostics",
            versions: "DC/OS 1.10 and 1.11",
        }
    } else {
        PostStartCheck { command: "sudo /opt/mesosphere/bin/3dt --diag", tool: "3dt", versions: "DC/OS 1.9 and earlier" }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn releases_only_have_a_stable_download() {
        for v in ["2.1.1", "1.10.11", "1.13.10"] {
            assert!(is_release(v), "{v}");
        }
        for v in ["2.2.0-beta1", "1.14.0-alpha", "1.14.0-beta", "1.14.0-2.0", "1.13.7-fix", "1.12", "2.1.1.1", "x.y.z"] {
            assert!(!is_release(v), "{v}");
        }
        let spec = ClusterSpec::default();
        assert_eq!(installer(&spec, "2.1.1").unwrap().url, "https://downloads.dcos.io/dcos/stable/2.1.1/dcos_generate_config.sh");
        let refused = installer(&spec, "1.14.0-beta").unwrap_err();
        assert!(refused.message.contains("set custom_dcos_download_path"), "{}", refused.message);
        assert!(installer(&spec, "1.14.0-2.0").is_err());
        // The profile's version is the one installed.
        let spec = ClusterSpec { dcos_version: Some("2.2.0-beta1".into()), ..ClusterSpec::default() };
        assert!(installer(&spec, "2.2.0").is_err());
        let custom = ClusterSpec {
            download_url: Some("https://example.com/i.sh".into()),
            download_sha256: Some("ab".into()),
            ..ClusterSpec::default()
        };
        assert_eq!(
            installer(&custom, "2.2.0-beta1").unwrap(),
            Installer { url: "https://example.com/i.sh".into(), sha256: Some("ab".into()) }
        );
    }

    #[test]
    fn enterprise_needs_its_own_installer() {
        let ee = ClusterSpec { dcos_variant: Some("ee".into()), ..ClusterSpec::default() };
        let refused = installer(&ee, "2.1.1").unwrap_err();
        assert_eq!(refused.variable, "dcos_variant");
        assert!(refused.message.contains("open-source installer would be installed"), "{}", refused.message);
        let ee = ClusterSpec { download_url: Some("https://licensed.example/ee.sh".into()), ..ee };
        assert_eq!(installer(&ee, "2.1.1").unwrap().url, "https://licensed.example/ee.sh");
        let open = ClusterSpec { dcos_variant: Some("open".into()), ..ClusterSpec::default() };
        assert!(installer(&open, "2.1.1").is_ok());
    }

    #[test]
    fn the_post_start_check_follows_the_version() {
        let tool = |v: &str| {
            let check = post_start_check(v);
            assert!(check.command.contains(check.tool), "{v}");
            check.tool
        };
        for v in ["1.12.0", "1.12.0-beta1", "1.13.9", "1.14.0-alpha", "1.14.0-2.0", "2.0.0", "2.2.0-beta1"] {
            assert_eq!(tool(v), "dcos-check-runner", "{v}");
        }
        for v in ["1.10.0", "1.10.11", "1.11.0", "1.11.12"] {
            assert_eq!(tool(v), "dcos-diagnostics", "{v}");
        }
        assert_eq!(tool("1.9.4"), "3dt");
    }
}

//! `install_dcos_prerequisites.sh`, read for what can be known of a shell
//! script without running it: the package mirrors it names that no longer
//! exist, so that a packer build is not started only to fail at `yum`.

use super::Parsed;
use crate::diagnostic::{Code, FileProblem};

/// Hosts that are gone for good, with what replaced them.
pub const GONE_MIRRORS: &[(&str, &str)] = &[
    // CentOS 7 reached its end of life on 2024-06-30; its mirror network went
    // with it, and its packages live on at vault.centos.org.
    ("mirrorlist.centos.org", "vault.centos.org (CentOS 7 and 8 ended in 2024; their repositories moved there)"),
    ("mirror.centos.org", "vault.centos.org (CentOS 7 and 8 ended in 2024; their repositories moved there)"),
];

/// The script's findings: a `gone-mirror` for each line (not a comment)
/// naming a gone host. Nothing else of a script is judged.
pub fn parse(text: &str) -> Parsed<()> {
    let mut problems = Vec::new();
    // Most scripts name no gone host: one search of the whole text each.
    for (host, instead) in GONE_MIRRORS {
        if memchr::memmem::find(text.as_bytes(), host.as_bytes()).is_none() {
            continue;
        }
        for (i, line) in text.lines().enumerate() {
            let code = line.trim_start();
            if code.starts_with('#') || !names_host(code, host) {
                continue;
            }
            problems.push(FileProblem::new(
                Code::GoneMirror,
                Some(i + 1),
                format!("`{host}` no longer exists: the packer build would fail where this line installs packages"),
                format!("use {instead}, e.g. baseurl=https://vault.centos.org/<release>/os/$basearch/"),
            ));
        }
    }
    Parsed { value: Some(()), problems }
}

/// Whether `line` names `host` itself, not a longer name that ends with it
/// (`mirror.centos.org` inside `mirrorlist.centos.org` is the other host).
fn names_host(line: &str, host: &str) -> bool {
    line.match_indices(host).any(|(at, _)| {
        let before = line[..at].chars().next_back();
        !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gone_mirrors_are_found_on_their_lines_and_comments_are_not() {
        let script = "#!/bin/sh\n# mirrorlist.centos.org is gone\nsed -i 's|mirrorlist=http://mirrorlist.centos.org/?release=7|x|' f\nbaseurl=http://mirror.centos.org/centos/7/os/\nbaseurl=https://vault.centos.org/7.8.2003/os/\n";
        let found: Vec<(Option<usize>, String)> =
            parse(script).problems.iter().map(|p| (p.line, p.message.split('`').nth(1).unwrap().to_owned())).collect();
        assert_eq!(found, vec![(Some(3), "mirrorlist.centos.org".to_owned()), (Some(4), "mirror.centos.org".to_owned())]);
        assert!(parse("yum install -y docker\n").problems.is_empty());
        assert!(parse("curl https://vault.centos.org/7.8.2003/os/x86_64/\n").problems.is_empty());
    }
}

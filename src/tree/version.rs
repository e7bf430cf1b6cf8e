//! Versions as people mean them: `1.13.10` > `1.13.9`, `2.2.0-beta1` < `2.2.0`,
//! `18.09.2-ce` after `18.09.1-ce`. Digit runs compare as numbers everywhere.

use std::cmp::Ordering;

/// Compares two version strings.
pub fn compare(a: &str, b: &str) -> Ordering {
    // Sorting the tree compares neighbours, which mostly share versions.
    if a == b {
        return Ordering::Equal;
    }
    // Without collecting the numbers: the tree's directories are sorted with
    // this, and allocating was most of the sort.
    let (ea, eb) = (release_end(a), release_end(b));
    let (mut na, mut nb) = (numbers(&a[..ea]), numbers(&b[..eb]));
    loop {
        // A missing number is 0: `2.0` = `2.0.0`.
        let (x, y) = match (na.next(), nb.next()) {
            (None, None) => break,
            (x, y) => (x.unwrap_or(0), y.unwrap_or(0)),
        };
        if x != y {
            return x.cmp(&y);
        }
    }
    match (&a[ea..], &b[eb..]) {
        ("", "") => Ordering::Equal,
        // A pre-release (`-beta1`, `-rc2`, `-alpha`) comes before its release;
        // any other suffix (`-ce`, `-fix`, `.git1234`) after it.
        ("", s) => {
            if is_prerelease(s) {
                Ordering::Greater
            } else {
                Ordering::Less
            }
        }
        (s, "") => {
            if is_prerelease(s) {
                Ordering::Less
            } else {
                Ordering::Greater
            }
        }
        (x, y) => natural(x, y),
    }
}

/// The numbers of a release part (`1.13.10`).
fn numbers(release: &str) -> impl Iterator<Item = u64> + '_ {
    release.split('.').filter(|n| !n.is_empty()).map(|n| n.parse().unwrap_or(u64::MAX))
}

/// Where the leading dot-separated numbers end and the rest begins.
fn release_end(v: &str) -> usize {
    let mut end = 0;
    loop {
        let digits = v[end..].bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return end;
        }
        let after = end + digits;
        match v[after..].strip_prefix('.') {
            Some(r) if r.starts_with(|c: char| c.is_ascii_digit()) => end = after + 1,
            _ => return after,
        }
    }
}

fn is_prerelease(suffix: &str) -> bool {
    // Without lowering a copy: sorting the tree asks this of every `-ce`.
    let s = suffix.trim_start_matches(['-', '.', '_']).as_bytes();
    ["alpha", "beta", "rc", "dev", "pre"].iter().any(|p| s.get(..p.len()).is_some_and(|head| head.eq_ignore_ascii_case(p.as_bytes())))
}

/// Compares digit runs numerically and everything else as text.
fn natural(a: &str, b: &str) -> Ordering {
    let (mut a, mut b) = (a.as_bytes(), b.as_bytes());
    loop {
        match (a.first(), b.first()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) if x.is_ascii_digit() && y.is_ascii_digit() => {
                let na = a.iter().take_while(|c| c.is_ascii_digit()).count();
                let nb = b.iter().take_while(|c| c.is_ascii_digit()).count();
                let (da, db) = (trim_zeros(&a[..na]), trim_zeros(&b[..nb]));
                let o = da.len().cmp(&db.len()).then_with(|| da.cmp(db));
                if o != Ordering::Equal {
                    return o;
                }
                a = &a[na..];
                b = &b[nb..];
            }
            (Some(x), Some(y)) => {
                if x != y {
                    return x.cmp(y);
                }
                a = &a[1..];
                b = &b[1..];
            }
        }
    }
}

fn trim_zeros(d: &[u8]) -> &[u8] {
    let z = d.iter().take_while(|c| **c == b'0').count();
    &d[z.min(d.len().saturating_sub(1))..]
}

/// DC/OS renamed 1.14 to 2.0 late; the tree holds both names for one release.
pub fn canonical_dcos(version: &str) -> String {
    if let Some(rest) = version.strip_prefix("1.14.0-2.0") {
        return format!("2.0.0{rest}");
    }
    if let Some(rest) = version.strip_prefix("1.14.0-") {
        return format!("2.0.0-{rest}");
    }
    version.to_owned()
}

/// Whether `filter` selects `value`: equal, or a prefix of whole components
/// (`2.1` selects `2.1.1`, `19.03` selects `19.03.5-ce`).
pub fn matches_prefix(value: &str, filter: &str) -> bool {
    value == filter || value.strip_prefix(filter).is_some_and(|rest| rest.starts_with(['.', '-']))
}

#[cfg(test)]
mod tests {
    use super::*;
    use Ordering::*;

    #[test]
    fn orders_like_people_do() {
        assert_eq!(compare("1.13.10", "1.13.9"), Greater);
        assert_eq!(compare("2.2.0-beta1", "2.2.0"), Less);
        assert_eq!(compare("2.2.0-beta2", "2.2.0-beta10"), Less);
        assert_eq!(compare("1.12.0-beta1", "1.11.12"), Greater);
        assert_eq!(compare("18.09.2-ce", "18.09.10-ce"), Less);
        assert_eq!(compare("7.8", "7.10"), Less);
        assert_eq!(compare("1.13.7-fix", "1.13.7"), Greater);
        assert_eq!(compare("2.0", "2.0.0"), Equal);
        assert_eq!(compare("2.2.0-RC1", "2.2.0"), Less, "pre-releases in any case");
        assert_eq!(compare("2.2.0", "2.2.0_Beta"), Greater);
        assert_eq!(compare("2.2.0-r", "2.2.0"), Greater, "a suffix shorter than a pre-release word is not one");
        let mut v = vec!["1.13.9", "1.13.10", "1.14.0-beta", "1.13.9-rc1", "1.9"];
        v.sort_by(|a, b| compare(a, b));
        assert_eq!(v, vec!["1.9", "1.13.9-rc1", "1.13.9", "1.13.10", "1.14.0-beta"]);
    }

    #[test]
    fn dcos_aliases() {
        assert_eq!(canonical_dcos("1.14.0-beta"), "2.0.0-beta");
        assert_eq!(canonical_dcos("1.14.0-2.0"), "2.0.0");
        assert_eq!(canonical_dcos("2.1.1"), "2.1.1");
    }

    #[test]
    fn prefix_matches_whole_components_only() {
        assert!(matches_prefix("2.1.1", "2.1"));
        assert!(matches_prefix("19.03.5-ce", "19.03.5"));
        assert!(!matches_prefix("2.10.0", "2.1"));
    }
}

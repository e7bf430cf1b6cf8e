//! JUnit XML as pytest writes it: enough to count passed / failed / skipped,
//! name the failures, and carry each case into dcos-images' own report. A
//! small reader for a small format, not an XML parser (total: never panics,
//! tests/mutation.rs).

#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TestSummary {
    /// Passed in the end: on the first attempt, or (flaky) on a later one.
    pub passed: usize,
    /// Failed on every attempt.
    pub failed: usize,
    pub skipped: usize,
    /// `classname::name` of each test case that failed (or errored) on every attempt.
    pub failed_names: Vec<String>,
    /// How many times the command ran: the first run and its retries.
    #[serde(default = "one")]
    pub attempts: u32,
    /// Every test that failed on the first attempt, with all its attempts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub retried: Vec<RetriedTest>,
}

fn one() -> u32 {
    1
}

/// A test that failed and ran again: flaky when an attempt passed.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RetriedTest {
    /// `classname::name`, as `failed_names` has it.
    pub name: String,
    pub flaky: bool,
    pub attempts: Vec<TestAttempt>,
}

/// One attempt of one test.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TestAttempt {
    /// `passed`, `failed`, `error` or `skipped`.
    pub outcome: String,
    pub seconds: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl TestSummary {
    pub fn total(&self) -> usize {
        self.passed + self.failed + self.skipped
    }

    /// The tests that failed, then passed.
    pub fn flaky(&self) -> impl Iterator<Item = &RetriedTest> {
        self.retried.iter().filter(|t| t.flaky)
    }
}

impl Case {
    /// `classname::name`: how summaries and reports name the case.
    pub fn display_name(&self) -> String {
        match &self.classname {
            Some(c) => format!("{c}::{}", self.name),
            None => self.name.clone(),
        }
    }

    /// pytest's node id of the case, from its JUnit classname (dotted module
    /// path, then classes, which pytest names `Test...`):
    /// `tests.test_auth.TestLogin` + `test_x[a]` ->
    /// `tests/test_auth.py::TestLogin::test_x[a]`. None without a classname.
    pub fn node_id(&self) -> Option<String> {
        let classname = self.classname.as_deref()?;
        let parts: Vec<&str> = classname.split('.').collect();
        let class_at = parts.iter().position(|p| p.starts_with(|c: char| c.is_ascii_uppercase())).unwrap_or(parts.len());
        if class_at == 0 {
            return None;
        }
        let mut id = format!("{}.py", parts[..class_at].join("/"));
        for class in &parts[class_at..] {
            id.push_str("::");
            id.push_str(class);
        }
        id.push_str("::");
        id.push_str(&self.name);
        Some(id)
    }

    fn attempt(&self) -> TestAttempt {
        let (outcome, message) = match &self.outcome {
            Outcome::Passed => ("passed", None),
            Outcome::Failed { message, .. } => ("failed", Some(message.clone())),
            Outcome::Error { message, .. } => ("error", Some(message.clone())),
            Outcome::Skipped { message } => ("skipped", Some(message.clone())),
        };
        TestAttempt { outcome: outcome.into(), seconds: self.seconds, message: message.filter(|m| !m.is_empty()) }
    }

    pub fn failed(&self) -> bool {
        matches!(self.outcome, Outcome::Failed { .. } | Outcome::Error { .. })
    }
}

/// The summary of a test run and its retries: `attempts[0]` is every case
/// of the first run, each later one the cases run again (the ones still
/// failing). A test that passes on a later attempt is flaky, and counts
/// as passed; one that fails on every attempt counts as failed.
pub fn merge(attempts: &[Vec<Case>]) -> TestSummary {
    let mut s = TestSummary { attempts: attempts.len().max(1) as u32, ..TestSummary::default() };
    let Some(first) = attempts.first() else { return s };
    for case in first {
        if !case.failed() {
            match case.outcome {
                Outcome::Skipped { .. } => s.skipped += 1,
                _ => s.passed += 1,
            }
            continue;
        }
        let name = case.display_name();
        let mut tries = vec![case.attempt()];
        let mut flaky = false;
        for later in &attempts[1..] {
            // A test still failing is run again; one that passed is not.
            if flaky {
                break;
            }
            if let Some(again) = later.iter().find(|c| c.display_name() == name) {
                tries.push(again.attempt());
                flaky = !again.failed() && !matches!(again.outcome, Outcome::Skipped { .. });
            }
        }
        if flaky {
            s.passed += 1;
        } else {
            s.failed += 1;
            s.failed_names.push(name.clone());
        }
        if attempts.len() > 1 {
            s.retried.push(RetriedTest { name, flaky, attempts: tries });
        }
    }
    s
}

fn attr(tag: &str, name: &str) -> Option<String> {
    let key = format!(" {name}=\"");
    let start = tag.find(&key)? + key.len();
    let end = tag[start..].find('"')? + start;
    Some(tag[start..end].replace("&quot;", "\"").replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&"))
}

/// How one test case ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Passed,
    /// `<failure>`: an assertion of the test failed.
    Failed {
        message: String,
        text: String,
    },
    /// `<error>`: the test could not run (a fixture, a setup).
    Error {
        message: String,
        text: String,
    },
    Skipped {
        message: String,
    },
}

/// One `<testcase>`.
#[derive(Debug, Clone, PartialEq)]
pub struct Case {
    pub classname: Option<String>,
    pub name: String,
    pub seconds: Option<f64>,
    pub outcome: Outcome,
}

fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"").replace("&apos;", "'").replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
}

/// The `message` attribute and the text of the first `<element ...>` in `body`.
fn element(body: &str, element: &str) -> Option<(String, String)> {
    let start = body.find(&format!("<{element}"))?;
    let rest = &body[start..];
    let tag_end = rest.find('>')?;
    let tag = &rest[..tag_end];
    let message = attr(tag, "message").unwrap_or_default();
    if tag.ends_with('/') {
        return Some((message, String::new()));
    }
    let text_start = tag_end + 1;
    let text_end = rest[text_start..].find(&format!("</{element}>")).map_or(rest.len(), |e| e + text_start);
    Some((message, unescape(&rest[text_start..text_end])))
}

/// Every test case of a pytest report, in order.
pub fn cases(xml: &str) -> Result<Vec<Case>, String> {
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(i) = rest.find("<testcase") {
        rest = &rest[i..];
        let open_end = rest.find('>').ok_or("a <testcase> tag is not closed")?;
        let tag = &rest[..open_end];
        let (body, next) = if tag.ends_with('/') {
            ("", &rest[open_end + 1..])
        } else {
            let body_start = open_end + 1;
            let close = rest[body_start..].find("</testcase>").ok_or("a <testcase> has no </testcase>")? + body_start;
            (&rest[body_start..close], &rest[close + "</testcase>".len()..])
        };
        let outcome = if let Some((message, text)) = element(body, "failure") {
            Outcome::Failed { message, text }
        } else if let Some((message, text)) = element(body, "error") {
            Outcome::Error { message, text }
        } else if let Some((message, _)) = element(body, "skipped") {
            Outcome::Skipped { message }
        } else {
            Outcome::Passed
        };
        out.push(Case {
            classname: attr(tag, "classname").filter(|c| !c.is_empty()),
            name: attr(tag, "name").unwrap_or_else(|| "(unnamed)".into()),
            seconds: attr(tag, "time").and_then(|t| t.parse().ok()).filter(|t: &f64| t.is_finite() && *t >= 0.0),
            outcome,
        });
        rest = next;
    }
    if out.is_empty() && !xml.contains("<testsuite") {
        return Err("not a JUnit report: no <testsuite> and no <testcase>".into());
    }
    Ok(out)
}

pub fn parse(xml: &str) -> Result<TestSummary, String> {
    let mut s = TestSummary::default();
    let mut rest = xml;
    let mut found = false;
    while let Some(i) = rest.find("<testcase") {
        found = true;
        rest = &rest[i..];
        let open_end = rest.find('>').ok_or("a <testcase> tag is not closed")?;
        let tag = &rest[..open_end];
        let self_closing = tag.ends_with('/');
        let (body, next) = if self_closing {
            ("", &rest[open_end + 1..])
        } else {
            // Searched after the tag: a `</testcase>` inside an attribute must
            // not end the element before it starts.
            let body_start = open_end + 1;
            let close = rest[body_start..].find("</testcase>").ok_or("a <testcase> has no </testcase>")? + body_start;
            (&rest[body_start..close], &rest[close + "</testcase>".len()..])
        };
        let name = match (attr(tag, "classname"), attr(tag, "name")) {
            (Some(c), Some(n)) if !c.is_empty() => format!("{c}::{n}"),
            (_, Some(n)) => n,
            _ => "(unnamed)".into(),
        };
        if body.contains("<failure") || body.contains("<error") {
            s.failed += 1;
            s.failed_names.push(name);
        } else if body.contains("<skipped") {
            s.skipped += 1;
        } else {
            s.passed += 1;
        }
        rest = next;
    }
    if !found && !xml.contains("<testsuite") {
        return Err("not a JUnit report: no <testsuite> and no <testcase>".into());
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(classname: &str, name: &str, failed: bool) -> Case {
        Case {
            classname: Some(classname.into()),
            name: name.into(),
            seconds: Some(0.5),
            outcome: if failed { Outcome::Failed { message: "assert False".into(), text: String::new() } } else { Outcome::Passed },
        }
    }

    #[test]
    fn node_ids_from_pytest_classnames() {
        assert_eq!(case("test_cluster", "test_x", false).node_id().as_deref(), Some("test_cluster.py::test_x"));
        assert_eq!(
            case("tests.test_auth.TestLogin", "test_x[a-b]", false).node_id().as_deref(),
            Some("tests/test_auth.py::TestLogin::test_x[a-b]")
        );
        assert_eq!(case("TestOnly", "t", false).node_id(), None);
        assert_eq!(Case { classname: None, ..case("x", "t", false) }.node_id(), None);
    }

    #[test]
    fn a_test_that_fails_then_passes_is_flaky_and_one_that_always_fails_fails() {
        let first = vec![case("m", "ok", false), case("m", "flaky", true), case("m", "broken", true)];
        let second = vec![case("m", "flaky", false), case("m", "broken", true)];
        let third = vec![case("m", "broken", true)];
        let s = merge(&[first.clone(), second, third]);
        assert_eq!((s.passed, s.failed, s.skipped, s.attempts), (2, 1, 0, 3));
        assert_eq!(s.failed_names, vec!["m::broken"]);
        let flaky: Vec<&str> = s.flaky().map(|t| t.name.as_str()).collect();
        assert_eq!(flaky, vec!["m::flaky"]);
        let outcomes =
            |n: &str| s.retried.iter().find(|t| t.name == n).unwrap().attempts.iter().map(|a| a.outcome.clone()).collect::<Vec<_>>();
        assert_eq!(outcomes("m::flaky"), vec!["failed", "passed"]);
        assert_eq!(outcomes("m::broken"), vec!["failed", "failed", "failed"]);
        // Without retries, nothing is retried.
        let once = merge(&[first]);
        assert_eq!((once.passed, once.failed, once.attempts, once.retried.len()), (1, 2, 1, 0));
    }

    #[test]
    fn an_end_tag_inside_an_attribute_is_an_error_not_a_panic() {
        assert!(parse(r#"<testsuite><testcase name="</testcase>">"#).is_err());
        let s = super::parse(r#"<testsuite><testcase name="a>b"></testcase></testsuite>"#).unwrap();
        assert_eq!(s.total(), 1);
    }

    #[test]
    fn counts_like_pytest_reports() {
        let xml = r#"<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest" errors="0" failures="1" skipped="1" tests="4">
<testcase classname="test_auth" name="test_ok" time="0.001" />
<testcase classname="test_auth" name="test_bad" time="0.001"><failure message="assert 1 == 2">boom</failure></testcase>
<testcase classname="test_net" name="test_skip" time="0"><skipped type="pytest.skip" message="no">x</skipped></testcase>
<testcase classname="test_net" name="test_err &amp; more" time="0"><error message="setup">e</error></testcase>
</testsuite></testsuites>"#;
        let s = super::parse(xml).unwrap();
        assert_eq!((s.passed, s.failed, s.skipped), (1, 2, 1));
        assert_eq!(s.failed_names, vec!["test_auth::test_bad", "test_net::test_err & more"]);
        assert!(super::parse("<html/>").is_err());
        assert_eq!(super::parse("<testsuite tests=\"0\"></testsuite>").unwrap().total(), 0);
    }
}

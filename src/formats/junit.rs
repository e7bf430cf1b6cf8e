//! JUnit XML as pytest writes it: enough to count passed / failed / skipped,
//! name the failures, and carry each case into dcos-images' own report. A
//! small reader for a small format, not an XML parser (total: never panics,
//! tests/mutation.rs).

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TestSummary {
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
    /// `classname::name` of each failed (or errored) test case.
    pub failed_names: Vec<String>,
}

impl TestSummary {
    pub fn total(&self) -> usize {
        self.passed + self.failed + self.skipped
    }
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
    #[test]
    fn an_end_tag_inside_an_attribute_is_an_error_not_a_panic() {
        assert!(super::parse(r#"<testsuite><testcase name="</testcase>">"#).is_err());
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

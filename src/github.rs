//! GitHub (octocrab): the report as one comment on the pull request, updated
//! in place on later runs (found again by a hidden marker), and a commit
//! status per build directory. GitHub being down fails the report step only,
//! never the qualification or the teardown. The token is sent in a header and
//! appears nowhere else.

use http::Method;
use octocrab::service::middleware::retry::RetryConfig;
use octocrab::Octocrab;
use serde_json::{json, Value};
use std::path::Path;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum GitHubError {
    #[error("GitHub: {0}")]
    Config(String),
    #[error("GitHub: failed to {what}: {status}{message}")]
    Api { what: String, status: String, message: String },
}

/// Where reports go: the repository, the pull request and the head commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub api: String,
    pub owner: String,
    pub repo: String,
    pub pr: Option<u64>,
    pub sha: Option<String>,
}

impl Target {
    /// From `--pr` and the CI's variables: `GITHUB_REPOSITORY`, `GITHUB_API_URL`
    /// (GitHub Enterprise), the pull request of `GITHUB_EVENT_PATH`, Jenkins'
    /// `CHANGE_ID`; the head commit from the event, `GITHUB_SHA` or `GIT_COMMIT`.
    /// None when there is no repository to report to.
    pub fn from_env(pr: Option<u64>, fallback_sha: impl FnOnce() -> Option<String>) -> Option<Target> {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let (owner, repo) = var("GITHUB_REPOSITORY")?.split_once('/').map(|(o, r)| (o.to_owned(), r.to_owned()))?;
        let event: Value = var("GITHUB_EVENT_PATH")
            .and_then(|p| std::fs::read_to_string(Path::new(&p)).ok())
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or(Value::Null);
        let pr = pr.or_else(|| event["pull_request"]["number"].as_u64()).or_else(|| var("CHANGE_ID").and_then(|c| c.parse().ok()));
        let sha = event["pull_request"]["head"]["sha"]
            .as_str()
            .map(str::to_owned)
            .or_else(|| var("GITHUB_SHA"))
            .or_else(|| var("GIT_COMMIT"))
            .or_else(fallback_sha);
        Some(Target { api: var("GITHUB_API_URL").unwrap_or_else(|| "https://api.github.com".into()), owner, repo, pr, sha })
    }
}

pub struct GitHub {
    octo: Octocrab,
    owner: String,
    repo: String,
    /// Attempts per call when GitHub answers 5xx or a rate limit.
    pub attempts: u32,
    /// The first wait; doubled after each attempt.
    pub backoff: Duration,
    /// The longest wait GitHub may ask for (`retry-after`, a rate limit's
    /// reset); a longer one fails the call instead.
    pub max_wait: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommentOutcome {
    Created(u64),
    Updated(u64),
}

/// Commit status states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Pending,
    Success,
    Failure,
    Error,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Success => "success",
            Status::Failure => "failure",
            Status::Error => "error",
        }
    }
}

impl GitHub {
    pub fn new(target: &Target, token: &str) -> Result<GitHub, GitHubError> {
        let octo = Octocrab::builder()
            .base_uri(target.api.as_str())
            .map_err(|e| GitHubError::Config(format!("GITHUB_API_URL `{}` is not a URL: {e}", target.api)))?
            .personal_token(token.to_owned())
            // Retries are ours: with a backoff, and for rate limits too.
            .add_retry_config(RetryConfig::None)
            .set_connect_timeout(Some(Duration::from_secs(10)))
            .set_read_timeout(Some(Duration::from_secs(30)))
            .build()
            .map_err(|e| GitHubError::Config(format!("cannot set up the client: {e}")))?;
        Ok(GitHub {
            octo,
            owner: target.owner.clone(),
            repo: target.repo.clone(),
            attempts: 5,
            backoff: Duration::from_secs(2),
            max_wait: Duration::from_secs(300),
        })
    }

    /// One request, answered: the status code, headers and body as GitHub
    /// sent them, whatever the body is (an HTML 502 page, an empty 503).
    async fn send(&self, method: &Method, uri: &str, body: Option<&Value>) -> octocrab::Result<Answer> {
        let response = match *method {
            Method::GET => self.octo._get(uri).await?,
            Method::POST => self.octo._post(uri, body).await?,
            _ => self.octo._patch(uri, body).await?,
        };
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = http_body_util::BodyExt::collect(response.into_body()).await?.to_bytes();
        Ok(Answer { status, headers, body: String::from_utf8_lossy(&bytes).into_owned() })
    }

    /// `method uri`, again while GitHub answers 5xx, 429 or a rate-limited
    /// 403, or cannot be reached: after `retry-after` or `x-ratelimit-reset`
    /// when GitHub names a time (up to `max_wait`), else after a backoff that
    /// doubles. Any other 4xx is an error at once, with GitHub's message.
    async fn call(&self, what: &str, method: Method, uri: &str, body: Option<&Value>) -> Result<Answer, GitHubError> {
        let mut backoff = self.backoff;
        for attempt in 1..=self.attempts {
            let (status, message, wait) = match self.send(&method, uri, body).await {
                Ok(a) if a.status < 300 => return Ok(a),
                Ok(a) => {
                    let limited = a.status == 429
                        || (a.status == 403
                            && (a.header("x-ratelimit-remaining") == Some("0") || a.body.to_lowercase().contains("rate limit")));
                    let transient = a.status >= 500 || limited;
                    let wait = match (transient, a.named_wait()) {
                        (false, _) => None,
                        (true, Some(w)) if w > self.max_wait => {
                            return Err(GitHubError::Api {
                                what: what.to_owned(),
                                status: format!("{} ", a.status),
                                message: format!(
                                    "{} (rate limited for {}s more, over the {}s this run waits)",
                                    a.message(),
                                    w.as_secs(),
                                    self.max_wait.as_secs()
                                ),
                            })
                        }
                        (true, named) => Some(named.unwrap_or(backoff)),
                    };
                    (format!("{} ", a.status), a.message(), wait)
                }
                // Connection trouble is worth another try too.
                Err(e) => (String::new(), e.to_string(), Some(backoff)),
            };
            let hint = if status.starts_with("401") {
                " (the token was refused: check GITHUB_TOKEN)"
            } else if status.starts_with("403") || status.starts_with("404") {
                " (check that GITHUB_TOKEN may write pull request comments and commit statuses of this repository)"
            } else {
                ""
            };
            let Some(wait) = wait.filter(|_| attempt < self.attempts) else {
                let attempts = if attempt > 1 { format!(" (after {attempt} attempts)") } else { String::new() };
                return Err(GitHubError::Api { what: what.to_owned(), status, message: format!("{message}{hint}{attempts}") });
            };
            tokio::time::sleep(wait).await;
            backoff *= 2;
        }
        unreachable!("the last attempt returns")
    }

    /// Creates the report comment, or updates the one a previous run made,
    /// found by `marker` on any page of the pull request's comments (the
    /// pages GitHub's `Link` header names). A body over GitHub's limit is cut,
    /// with `overflow` appended (where the whole report is).
    pub async fn upsert_comment(&self, pr: u64, marker: &str, body: &str) -> Result<CommentOutcome, GitHubError> {
        self.upsert_comment_cut(pr, marker, body, "").await
    }

    pub async fn upsert_comment_cut(&self, pr: u64, marker: &str, body: &str, overflow: &str) -> Result<CommentOutcome, GitHubError> {
        let (o, r) = (&self.owner, &self.repo);
        let mut existing = None;
        let mut next = Some(format!("/repos/{o}/{r}/issues/{pr}/comments?per_page=100"));
        while let Some(uri) = next.take() {
            let page = self.call("list the pull request's comments", Method::GET, &uri, None).await?;
            let list: Value = serde_json::from_str(&page.body).unwrap_or(Value::Null);
            existing = list
                .as_array()
                .into_iter()
                .flatten()
                .find(|c| c["body"].as_str().is_some_and(|b| b.contains(marker)))
                .and_then(|c| c["id"].as_u64());
            if existing.is_none() {
                next = page.next_link();
            }
        }
        let payload = json!({ "body": fit_comment(body, overflow) });
        match existing {
            Some(id) => {
                let uri = format!("/repos/{o}/{r}/issues/comments/{id}");
                self.call("update the report comment", Method::PATCH, &uri, Some(&payload)).await?;
                Ok(CommentOutcome::Updated(id))
            }
            None => {
                let uri = format!("/repos/{o}/{r}/issues/{pr}/comments");
                let created = self.call("comment on the pull request", Method::POST, &uri, Some(&payload)).await?;
                let created: Value = serde_json::from_str(&created.body).unwrap_or(Value::Null);
                Ok(CommentOutcome::Created(created["id"].as_u64().unwrap_or_default()))
            }
        }
    }

    pub async fn set_status(
        &self,
        sha: &str,
        state: Status,
        context: &str,
        description: &str,
        target_url: Option<&str>,
    ) -> Result<(), GitHubError> {
        let mut payload = json!({
            "state": state.as_str(),
            "context": context,
            // GitHub refuses descriptions over 140 characters.
            "description": description.chars().take(140).collect::<String>(),
        });
        if let Some(u) = target_url {
            payload["target_url"] = json!(u);
        }
        let uri = format!("/repos/{}/{}/statuses/{sha}", self.owner, self.repo);
        self.call(&format!("set the commit status `{context}`"), Method::POST, &uri, Some(&payload)).await?;
        Ok(())
    }
}

/// GitHub's limit on a comment's body, in characters.
pub const COMMENT_LIMIT: usize = 65_536;

/// `body` as GitHub takes it: whole, or cut at a line below the limit with
/// `overflow` (and a note) after it. A code fence the cut leaves open is
/// closed first: the note and its link would otherwise render as code.
pub fn fit_comment(body: &str, overflow: &str) -> String {
    if body.chars().count() <= COMMENT_LIMIT {
        return body.to_owned();
    }
    let note = format!("\n\n---\n**The report is longer than a GitHub comment can be: cut here.** {overflow}\n");
    let mut room = COMMENT_LIMIT - note.chars().count();
    loop {
        let cut: String = body.chars().take(room).collect();
        // At a line's end, so no table row or code line is half there.
        let cut = match cut.rfind('\n') {
            Some(at) if at > 0 => &cut[..at],
            _ => cut.as_str(),
        };
        let closer = open_fence(cut).map(|f| format!("\n{f}")).unwrap_or_default();
        if cut.chars().count() + closer.chars().count() <= room {
            return format!("{cut}{closer}{note}");
        }
        room -= closer.chars().count();
    }
}

/// The line that closes the code fence `text` leaves open, if it leaves one
/// open (CommonMark: a fence is 3 or more backticks or tildes, indented at
/// most 3 spaces, closed by a line of at least as many of the same).
pub fn open_fence(text: &str) -> Option<String> {
    let mut open: Option<(char, usize)> = None;
    for line in text.lines() {
        let indent = line.len() - line.trim_start_matches(' ').len();
        if indent > 3 {
            continue;
        }
        let rest = &line[indent..];
        let Some(c) = rest.chars().next().filter(|c| *c == '`' || *c == '~') else { continue };
        let n = rest.chars().take_while(|x| *x == c).count();
        if n < 3 {
            continue;
        }
        match open {
            None if !(c == '`' && rest[n..].contains('`')) => open = Some((c, n)),
            Some((oc, on)) if oc == c && n >= on && rest[n..].trim().is_empty() => open = None,
            _ => {}
        }
    }
    open.map(|(c, n)| c.to_string().repeat(n))
}

/// A tilde fence longer than any run of `~` in `text` (at least 4), so that
/// nothing in the text can close it (CommonMark: a closing fence is at least
/// as long as the opening one).
pub fn fence_for(text: &str) -> String {
    let longest = text.split(|c| c != '~').map(str::len).max().unwrap_or(0);
    "~".repeat((longest + 1).max(4))
}

/// A response, whatever its body.
struct Answer {
    status: u16,
    headers: http::HeaderMap,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// GitHub's message (JSON), else the body's first line, else the reason.
    fn message(&self) -> String {
        if let Some(m) = serde_json::from_str::<Value>(&self.body).ok().and_then(|v| v["message"].as_str().map(str::to_owned)) {
            return m;
        }
        let text = self.body.trim();
        if text.is_empty() {
            return "(an empty body)".into();
        }
        // An HTML error page says most in its title.
        let title = text.split("<title>").nth(1).and_then(|t| t.split("</title>").next());
        title.unwrap_or(text).lines().next().unwrap_or_default().chars().take(200).collect()
    }

    /// The wait GitHub asks for: `retry-after` (seconds), else the time to
    /// `x-ratelimit-reset` (epoch seconds) when no request is left.
    fn named_wait(&self) -> Option<Duration> {
        if let Some(s) = self.header("retry-after").and_then(|v| v.trim().parse::<u64>().ok()) {
            return Some(Duration::from_secs(s));
        }
        if self.header("x-ratelimit-remaining") == Some("0") {
            let reset = self.header("x-ratelimit-reset")?.trim().parse::<i64>().ok()?;
            let now = chrono::Utc::now().timestamp();
            return Some(Duration::from_secs(u64::try_from(reset - now).unwrap_or(0) + 1));
        }
        None
    }

    /// The `rel="next"` page of a `Link` header.
    fn next_link(&self) -> Option<String> {
        self.header("link")?.split(',').find(|part| part.contains("rel=\"next\"")).and_then(|part| {
            let start = part.find('<')? + 1;
            let end = part.find('>')?;
            part.get(start..end).map(str::to_owned)
        })
    }
}

/// The status context of a build directory.
pub fn context(build_dir: &str) -> String {
    format!("dcos-images/{build_dir}")
}

/// The CI side of a qualify run: statuses at start and end, and the report
/// comment. Every failure here is a warning: GitHub being down must not
/// change the qualification's result, nor stop a teardown.
pub struct CiReporter {
    pub github: GitHub,
    pub target: Target,
}

impl CiReporter {
    /// From the environment; None (with the reason) when reporting is off.
    pub fn from_env(pr: Option<u64>, fallback_sha: impl FnOnce() -> Option<String>) -> Result<Option<CiReporter>, String> {
        let Some(target) = Target::from_env(pr, fallback_sha) else {
            return match pr {
                Some(_) => Err("--pr needs GITHUB_REPOSITORY (owner/name) to know where the pull request is".into()),
                None => Ok(None),
            };
        };
        let Some(token) = std::env::var("GITHUB_TOKEN").ok().filter(|t| !t.is_empty()) else {
            return Err(format!(
                "no GITHUB_TOKEN: no comment on the pull request and no commit statuses in {}/{}",
                target.owner, target.repo
            ));
        };
        let mut github = GitHub::new(&target, &token).map_err(|e| e.to_string())?;
        if let Some(ms) = std::env::var("DCOS_IMAGES_GITHUB_BACKOFF_MS").ok().and_then(|v| v.parse().ok()) {
            github.backoff = Duration::from_millis(ms);
        }
        Ok(Some(CiReporter { github, target }))
    }

    pub async fn statuses(&self, states: &[(String, Status, String)], target_url: Option<&str>) -> Vec<String> {
        let Some(sha) = &self.target.sha else { return vec!["no head commit known: no commit statuses".into()] };
        self.statuses_on(sha, states, target_url).await
    }

    pub async fn statuses_on(&self, sha: &str, states: &[(String, Status, String)], target_url: Option<&str>) -> Vec<String> {
        let mut warnings = Vec::new();
        for (build_dir, state, description) in states {
            if let Err(e) = self.github.set_status(sha, *state, &context(build_dir), description, target_url).await {
                warnings.push(e.to_string());
            }
        }
        warnings
    }

    pub async fn comment(&self, marker: &str, body: &str) -> Vec<String> {
        self.comment_cut(marker, body, "").await
    }

    /// The comment, cut to GitHub's limit with `overflow` after the cut.
    pub async fn comment_cut(&self, marker: &str, body: &str, overflow: &str) -> Vec<String> {
        let Some(pr) = self.target.pr else { return Vec::new() };
        match self.github.upsert_comment_cut(pr, marker, body, overflow).await {
            Ok(_) => Vec::new(),
            Err(e) => vec![e.to_string()],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fences_open_and_close_as_commonmark_says() {
        assert_eq!(open_fence("a\n~~~~text\nb\n"), Some("~~~~".into()));
        assert_eq!(open_fence("~~~~text\nb\n~~~~\n"), None);
        assert_eq!(open_fence("~~~~text\n~~~\n"), Some("~~~~".into()), "a shorter run does not close it");
        assert_eq!(open_fence("~~~~text\n```\n"), Some("~~~~".into()), "nor does the other character");
        assert_eq!(open_fence("```rust\nx\n"), Some("```".into()));
        assert_eq!(open_fence("``` a ` b\n"), None, "a backtick in the info string: no fence");
        assert_eq!(open_fence("    ~~~~\n"), None, "indented four: code, not a fence");
        assert_eq!(open_fence("~~~~\n~~~~~~ x\n"), Some("~~~~".into()), "a closing fence has nothing after it");
    }

    #[test]
    fn a_fence_is_longer_than_any_run_of_tildes_in_its_text() {
        assert_eq!(fence_for("no tildes"), "~~~~");
        assert_eq!(fence_for("a\n~~~~\nb ~~~~~~ c"), "~~~~~~~");
        let text = "x\n~~~~~~~~~\n@someone";
        let fence = fence_for(text);
        assert_eq!(open_fence(&format!("{fence}text\n{text}\n")), Some(fence.clone()), "the text cannot close it");
        assert_eq!(open_fence(&format!("{fence}text\n{text}\n{fence}\n")), None);
    }
}

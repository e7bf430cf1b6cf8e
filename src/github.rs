//! GitHub (octocrab): the report as one comment on the pull request, updated
//! in place on later runs (found again by a hidden marker), and a commit
//! status per build directory. GitHub being down fails the report step only,
//! never the qualification or the teardown. The token is sent in a header and
//! appears nowhere else.

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
        Ok(GitHub { octo, owner: target.owner.clone(), repo: target.repo.clone(), attempts: 5, backoff: Duration::from_secs(2) })
    }

    /// Runs `call`, again after a backoff while GitHub answers 5xx or a rate limit.
    async fn retrying<F, Fut>(&self, what: &str, mut call: F) -> Result<Value, GitHubError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = octocrab::Result<Value>>,
    {
        let mut wait = self.backoff;
        for attempt in 1..=self.attempts {
            let err = match call().await {
                Ok(v) => return Ok(v),
                Err(e) => e,
            };
            let (status, message, transient) = match &err {
                octocrab::Error::GitHub { source, .. } => {
                    let code = source.status_code.as_u16();
                    let limited = code == 429 || (code == 403 && source.message.to_lowercase().contains("rate limit"));
                    (format!("{code} "), source.message.clone(), code >= 500 || limited)
                }
                // Connection trouble is worth another try too.
                octocrab::Error::Hyper { .. } | octocrab::Error::Service { .. } => (String::new(), err.to_string(), true),
                other => (String::new(), other.to_string(), false),
            };
            let hint = if status.starts_with("401") {
                " (the token was refused: check GITHUB_TOKEN)"
            } else if status.starts_with("403") || status.starts_with("404") {
                " (check that GITHUB_TOKEN may write pull request comments and commit statuses of this repository)"
            } else {
                ""
            };
            if !transient || attempt == self.attempts {
                let attempts = if attempt > 1 { format!(" (after {attempt} attempts)") } else { String::new() };
                return Err(GitHubError::Api { what: what.to_owned(), status, message: format!("{message}{hint}{attempts}") });
            }
            tokio::time::sleep(wait).await;
            wait *= 2;
        }
        unreachable!("the last attempt returns")
    }

    /// Creates the report comment, or updates the one a previous run made.
    pub async fn upsert_comment(&self, pr: u64, marker: &str, body: &str) -> Result<CommentOutcome, GitHubError> {
        let (o, r) = (&self.owner, &self.repo);
        let mut existing = None;
        for page in 1..=50u32 {
            let route = format!("/repos/{o}/{r}/issues/{pr}/comments?per_page=100&page={page}");
            let comments = self.retrying("list the pull request's comments", || self.octo.get::<Value, _, ()>(&route, None)).await?;
            let list = comments.as_array().cloned().unwrap_or_default();
            existing = list.iter().find(|c| c["body"].as_str().is_some_and(|b| b.contains(marker))).and_then(|c| c["id"].as_u64());
            if existing.is_some() || list.len() < 100 {
                break;
            }
        }
        let payload = json!({ "body": body });
        match existing {
            Some(id) => {
                let route = format!("/repos/{o}/{r}/issues/comments/{id}");
                self.retrying("update the report comment", || self.octo.patch::<Value, _, _>(&route, Some(&payload))).await?;
                Ok(CommentOutcome::Updated(id))
            }
            None => {
                let route = format!("/repos/{o}/{r}/issues/{pr}/comments");
                let created = self.retrying("comment on the pull request", || self.octo.post::<_, Value>(&route, Some(&payload))).await?;
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
        let route = format!("/repos/{}/{}/statuses/{sha}", self.owner, self.repo);
        self.retrying(&format!("set the commit status `{context}`"), || self.octo.post::<_, Value>(&route, Some(&payload))).await?;
        Ok(())
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
        let mut warnings = Vec::new();
        for (build_dir, state, description) in states {
            if let Err(e) = self.github.set_status(sha, *state, &context(build_dir), description, target_url).await {
                warnings.push(e.to_string());
            }
        }
        warnings
    }

    pub async fn comment(&self, marker: &str, body: &str) -> Vec<String> {
        let Some(pr) = self.target.pr else { return Vec::new() };
        match self.github.upsert_comment(pr, marker, body).await {
            Ok(_) => Vec::new(),
            Err(e) => vec![e.to_string()],
        }
    }
}

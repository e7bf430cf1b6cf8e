//! A local HTTP server that answers like GitHub's REST API for the calls
//! dcos-images makes (issue comments, commit statuses) and records every
//! request: 201 for a creation, 200 otherwise; comment lists paged by
//! `per_page`/`page` with a `Link` header; 422 for an invalid status payload.
//! It can be told to fail a route a number of times as GitHub does: 502
//! with an HTML page, 503 with an empty body, 403 rate limit with
//! `x-ratelimit-remaining: 0` and `x-ratelimit-reset`, 429 with
//! `retry-after`; and it refuses a wrong token (401).

use serde_json::{json, Value};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub authorization: String,
    pub body: Value,
    /// When it arrived (Unix seconds, fractional).
    pub at: f64,
}

#[derive(Default)]
pub struct State {
    pub requests: Vec<Request>,
    pub comments: Vec<(u64, String)>,
    pub statuses: Vec<(String, Value)>,
    /// (method, path prefix) -> (status code, times left).
    pub failures: HashMap<(String, String), (u16, u32)>,
    /// A rate limit's reset, this many seconds after the refused request.
    pub rate_limit_reset_secs: i64,
    /// The server's own address, for the `Link` header.
    url: String,
    next_id: u64,
}

/// An answer: status, extra headers, content type and body.
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    content_type: &'static str,
    body: String,
}

impl Reply {
    fn json(status: u16, body: Value) -> Reply {
        Reply { status, headers: Vec::new(), content_type: "application/json; charset=utf-8", body: body.to_string() }
    }
}

pub struct FakeGitHub {
    pub url: String,
    pub token: String,
    pub state: Arc<Mutex<State>>,
}

impl FakeGitHub {
    pub fn start(token: &str) -> FakeGitHub {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
        let state = Arc::new(Mutex::new(State { next_id: 1000, rate_limit_reset_secs: 2, url: url.clone(), ..State::default() }));
        let (s, t) = (state.clone(), token.to_owned());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let (s, t) = (s.clone(), t.clone());
                std::thread::spawn(move || serve(stream, &s, &t));
            }
        });
        FakeGitHub { url, token: token.to_owned(), state }
    }

    pub fn fail(&self, method: &str, path_prefix: &str, status: u16, times: u32) {
        self.state.lock().unwrap().failures.insert((method.into(), path_prefix.into()), (status, times));
    }

    pub fn requests(&self) -> Vec<Request> {
        self.state.lock().unwrap().requests.clone()
    }
}

fn serve(mut stream: std::net::TcpStream, state: &Mutex<State>, token: &str) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let (method, path) = (parts.next().unwrap_or("").to_owned(), parts.next().unwrap_or("").to_owned());
        let (mut length, mut authorization) = (0usize, String::new());
        loop {
            let mut h = String::new();
            reader.read_line(&mut h).unwrap();
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                match k.to_ascii_lowercase().as_str() {
                    "content-length" => length = v.trim().parse().unwrap_or(0),
                    "authorization" => authorization = v.trim().to_owned(),
                    _ => {}
                }
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
        let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let at = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();
        let reply = answer(state, token, Request { method, path, authorization, body, at });
        let reason = match reply.status {
            200 => "OK",
            201 => "Created",
            401 => "Unauthorized",
            403 => "Forbidden",
            404 => "Not Found",
            422 => "Unprocessable Entity",
            429 => "Too Many Requests",
            503 => "Service Unavailable",
            _ => "Bad Gateway",
        };
        let mut head = format!(
            "HTTP/1.1 {} {reason}\r\nContent-Type: {}\r\nContent-Length: {}\r\n",
            reply.status,
            reply.content_type,
            reply.body.len()
        );
        for (k, v) in &reply.headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        if stream.write_all(head.as_bytes()).and_then(|_| stream.write_all(reply.body.as_bytes())).is_err() {
            return;
        }
    }
}

/// `name=value` of a query string.
fn query(path: &str, name: &str) -> Option<usize> {
    path.split_once('?')?.1.split('&').find_map(|kv| kv.strip_prefix(&format!("{name}="))).and_then(|v| v.parse().ok())
}

fn answer(state: &Mutex<State>, token: &str, req: Request) -> Reply {
    let mut s = state.lock().unwrap();
    s.requests.push(req.clone());
    if req.authorization != format!("Bearer {token}") && req.authorization != format!("token {token}") {
        return Reply::json(401, json!({"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"}));
    }
    let key = s.failures.keys().find(|(m, p)| *m == req.method && req.path.starts_with(p.as_str())).cloned();
    if let Some(key) = key {
        let (code, left) = s.failures[&key];
        if left > 0 {
            s.failures.insert(key, (code, left - 1));
            return match code {
                // What GitHub's front end sends when the API is down: not JSON.
                502 => Reply {
                    status: 502,
                    headers: Vec::new(),
                    content_type: "text/html",
                    body: "<html><head><title>502 Bad Gateway</title></head><body><h1>Unicorn!</h1></body></html>".into(),
                },
                503 => Reply { status: 503, headers: Vec::new(), content_type: "text/plain", body: String::new() },
                403 => {
                    let reset = req.at as i64 + s.rate_limit_reset_secs;
                    Reply {
                        status: 403,
                        headers: vec![
                            ("x-ratelimit-limit".into(), "5000".into()),
                            ("x-ratelimit-remaining".into(), "0".into()),
                            ("x-ratelimit-reset".into(), reset.to_string()),
                        ],
                        ..Reply::json(
                            403,
                            json!({"message": "API rate limit exceeded for installation ID 1.", "documentation_url": "https://docs.github.com/rest/rate-limit"}),
                        )
                    }
                }
                429 => Reply {
                    status: 429,
                    headers: vec![("retry-after".into(), "1".into())],
                    ..Reply::json(429, json!({"message": "You have exceeded a secondary rate limit."}))
                },
                other => Reply::json(other, json!({"message": "Server Error"})),
            };
        }
    }
    let path = req.path.split('?').next().unwrap_or("").to_owned();
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match (req.method.as_str(), segments.as_slice()) {
        ("GET", ["repos", _, _, "issues", _, "comments"]) => {
            let per_page = query(&req.path, "per_page").unwrap_or(30).clamp(1, 100);
            let page = query(&req.path, "page").unwrap_or(1).max(1);
            let pages = s.comments.len().div_ceil(per_page).max(1);
            let list: Vec<Value> =
                s.comments.iter().skip((page - 1) * per_page).take(per_page).map(|(id, b)| json!({"id": id, "body": b})).collect();
            let mut reply = Reply::json(200, Value::Array(list));
            if page < pages {
                // Absolute, as GitHub's are; the client follows them as given.
                let link = |p: usize| format!("<{}{path}?per_page={per_page}&page={p}>", s.url);
                reply.headers.push(("Link".into(), format!("{}; rel=\"next\", {}; rel=\"last\"", link(page + 1), link(pages))));
            }
            reply
        }
        ("POST", ["repos", _, _, "issues", _, "comments"]) => {
            s.next_id += 1;
            let id = s.next_id;
            let body = req.body["body"].as_str().unwrap_or_default().to_owned();
            if body.chars().count() > 65_536 {
                return Reply::json(
                    422,
                    json!({"message": "Validation Failed", "errors": [{"resource": "IssueComment", "code": "custom", "field": "body", "message": "body is too long (maximum is 65536 characters)"}]}),
                );
            }
            s.comments.push((id, body.clone()));
            Reply::json(201, json!({"id": id, "body": body}))
        }
        ("PATCH", ["repos", _, _, "issues", "comments", id]) => {
            let id: u64 = id.parse().unwrap_or(0);
            let body = req.body["body"].as_str().unwrap_or_default().to_owned();
            if body.chars().count() > 65_536 {
                return Reply::json(
                    422,
                    json!({"message": "Validation Failed", "errors": [{"resource": "IssueComment", "code": "custom", "field": "body", "message": "body is too long (maximum is 65536 characters)"}]}),
                );
            }
            match s.comments.iter_mut().find(|(i, _)| *i == id) {
                Some(c) => {
                    c.1 = body.clone();
                    Reply::json(200, json!({"id": id, "body": body}))
                }
                None => Reply::json(404, json!({"message": "Not Found"})),
            }
        }
        ("POST", ["repos", _, _, "statuses", sha]) if !sha.chars().all(|c| c.is_ascii_hexdigit()) => Reply::json(
            422,
            json!({"message": format!("No commit found for SHA: {sha}"), "documentation_url": "https://docs.github.com/rest/commits/statuses"}),
        ),
        ("POST", ["repos", _, _, "statuses", sha]) => {
            let valid_state = matches!(req.body["state"].as_str(), Some("error" | "failure" | "pending" | "success"));
            let valid_description = req.body["description"].as_str().is_none_or(|d| d.chars().count() <= 140);
            if !valid_state || !req.body["context"].is_string() || !valid_description {
                return Reply::json(
                    422,
                    json!({"message": "Validation Failed", "errors": [{"resource": "Status", "code": "custom", "field": "state", "message": "state is not included in the list"}]}),
                );
            }
            let sha = (*sha).to_owned();
            s.statuses.push((sha, req.body.clone()));
            Reply::json(201, req.body.clone())
        }
        _ => Reply::json(404, json!({"message": "Not Found", "documentation_url": "https://docs.github.com/rest"})),
    }
}

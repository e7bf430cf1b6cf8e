//! A local HTTP server that answers like GitHub's REST API for the calls
//! dcos-images makes (issue comments, commit statuses) and records every
//! request. It can be told to fail a route a number of times (502, 403 rate
//! limit) or to refuse the token (401).

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
}

#[derive(Default)]
pub struct State {
    pub requests: Vec<Request>,
    pub comments: Vec<(u64, String)>,
    pub statuses: Vec<(String, Value)>,
    /// (method, path prefix) -> (status code, times left).
    pub failures: HashMap<(String, String), (u16, u32)>,
    next_id: u64,
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
        let state = Arc::new(Mutex::new(State { next_id: 1000, ..State::default() }));
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
        let (status, response) = answer(state, token, Request { method, path, authorization, body });
        let text = response.to_string();
        let reason = match status {
            200 => "OK",
            201 => "Created",
            401 => "Unauthorized",
            403 => "Forbidden",
            404 => "Not Found",
            _ => "Bad Gateway",
        };
        let head = format!("HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n", text.len());
        if stream.write_all(head.as_bytes()).and_then(|_| stream.write_all(text.as_bytes())).is_err() {
            return;
        }
    }
}

fn answer(state: &Mutex<State>, token: &str, req: Request) -> (u16, Value) {
    let mut s = state.lock().unwrap();
    s.requests.push(req.clone());
    if req.authorization != format!("Bearer {token}") && req.authorization != format!("token {token}") {
        return (401, json!({"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"}));
    }
    let key = s.failures.keys().find(|(m, p)| *m == req.method && req.path.starts_with(p.as_str())).cloned();
    if let Some(key) = key {
        let (code, left) = s.failures[&key];
        if left > 0 {
            s.failures.insert(key, (code, left - 1));
            let message = if code == 403 { "API rate limit exceeded for installation" } else { "Server Error" };
            return (code, json!({"message": message, "documentation_url": "https://docs.github.com/rest"}));
        }
    }
    let path = req.path.split('?').next().unwrap_or("").to_owned();
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match (req.method.as_str(), segments.as_slice()) {
        ("GET", ["repos", _, _, "issues", _, "comments"]) => {
            let page: usize =
                req.path.split("page=").nth(2).or_else(|| req.path.rsplit("page=").next()).and_then(|p| p.parse().ok()).unwrap_or(1);
            let list: Vec<Value> = if page == 1 { s.comments.iter().map(|(id, b)| json!({"id": id, "body": b})).collect() } else { vec![] };
            (200, Value::Array(list))
        }
        ("POST", ["repos", _, _, "issues", _, "comments"]) => {
            s.next_id += 1;
            let id = s.next_id;
            let body = req.body["body"].as_str().unwrap_or_default().to_owned();
            s.comments.push((id, body.clone()));
            (201, json!({"id": id, "body": body}))
        }
        ("PATCH", ["repos", _, _, "issues", "comments", id]) => {
            let id: u64 = id.parse().unwrap_or(0);
            let body = req.body["body"].as_str().unwrap_or_default().to_owned();
            match s.comments.iter_mut().find(|(i, _)| *i == id) {
                Some(c) => {
                    c.1 = body.clone();
                    (200, json!({"id": id, "body": body}))
                }
                None => (404, json!({"message": "Not Found"})),
            }
        }
        ("POST", ["repos", _, _, "statuses", sha]) => {
            let sha = (*sha).to_owned();
            s.statuses.push((sha, req.body.clone()));
            (201, req.body.clone())
        }
        _ => (404, json!({"message": "Not Found"})),
    }
}

//! A loopback stand-in for the Telegram Bot API (`getMe`, `getUpdates`,
//! `sendMessage`), shared by the delivery tests and the load benchmark
//! (`server/examples/telegram_load.rs` includes this file).
//!
//! It records when each `sendMessage` was accepted, as Telegram would see it
//! (after the simulated network latency), and can:
//! - add a random latency before a request is looked at ([`MockApi::set_latency`]);
//! - answer like Telegram's flood control, with 429 and `retry_after`, when
//!   more than N messages arrive within a second or two within a chat's
//!   interval ([`MockApi::enforce_limits`]);
//! - hold requests unanswered ([`MockApi::hold`]) and later drop them
//!   unaccepted ([`MockApi::reject_held`]), as when the sender dies while
//!   its request is on the way;
//! - answer the next calls with scripted errors ([`MockApi::script`]).

#![allow(dead_code, reason = "each user needs a different subset")]
#![allow(clippy::unwrap_used, reason = "test support")]

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::sync::Notify;

pub const TOKEN: &str = "123456:TEST-token_secret";
pub const SECRET: &str = "TEST-token_secret";
pub const BOT_NAME: &str = "finstage_test_bot";

/// One `sendMessage` call as the mock saw it.
#[derive(Debug, Clone)]
pub struct Sent {
    pub chat_id: i64,
    pub text: String,
    /// When it was accepted (or refused).
    pub at: Instant,
}

/// What happens to `sendMessage` calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Gate {
    /// Answered.
    Open,
    /// Held unanswered.
    Hold,
    /// Answered 502 without being accepted (held ones included).
    Reject,
}

/// Telegram-like flood control.
#[derive(Debug, Clone, Copy)]
struct Limits {
    per_second: usize,
    per_chat: Duration,
}

#[derive(Debug)]
pub struct MockState {
    /// Every `sendMessage` call that got an answer, accepted or not.
    pub attempts: Vec<Sent>,
    /// The accepted ones.
    pub sent: Vec<Sent>,
    /// Calls refused by the flood limits (429).
    pub refused: usize,
    /// Calls held right now.
    pub held: usize,
    /// Updates not yet confirmed by an offset.
    updates: Vec<Value>,
    last_update_id: i64,
    /// Answers for the next `sendMessage` calls (status, body); then success.
    scripted: VecDeque<(u16, Value)>,
    /// Fail every `sendMessage` with 500, quoting the request path (and so the token).
    pub fail_quoting_path: bool,
    latency: Option<(Duration, Duration)>,
    gate: Gate,
    limits: Option<Limits>,
    /// Accepted arrivals within the last second (for the limits), and each chat's last one.
    recent: VecDeque<Instant>,
    last_by_chat: HashMap<i64, Instant>,
}

struct Shared {
    state: Mutex<MockState>,
    gate_changed: Notify,
}

/// A loopback Bot API; cheap to clone.
#[derive(Clone)]
pub struct MockApi {
    pub url: String,
    shared: Arc<Shared>,
}

impl MockApi {
    pub async fn start() -> Self {
        let state = MockState {
            attempts: Vec::new(),
            sent: Vec::new(),
            refused: 0,
            held: 0,
            updates: Vec::new(),
            last_update_id: 1_000,
            scripted: VecDeque::new(),
            fail_quoting_path: false,
            latency: None,
            gate: Gate::Open,
            limits: None,
            recent: VecDeque::new(),
            last_by_chat: HashMap::new(),
        };
        let shared = Arc::new(Shared { state: Mutex::new(state), gate_changed: Notify::new() });
        let app = axum::Router::new().fallback(answer).with_state(Arc::clone(&shared));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { url, shared }
    }

    pub fn state(&self) -> std::sync::MutexGuard<'_, MockState> {
        self.shared.state.lock().unwrap()
    }

    /// Queues a text message from `chat_id` (a private chat) for `getUpdates`; returns its update id.
    pub fn message(&self, chat_id: i64, text: &str) -> i64 {
        let mut state = self.state();
        state.last_update_id += 1;
        let id = state.last_update_id;
        state.updates.push(json!({
            "update_id": id,
            "message": {
                "message_id": id, "date": 0, "text": text,
                "chat": {"id": chat_id, "type": "private", "first_name": "Tess"},
                "from": {"id": chat_id, "is_bot": false, "first_name": "Tess"}
            }
        }));
        id
    }

    pub fn last_update_id(&self) -> i64 {
        self.state().last_update_id
    }

    pub fn sent_to(&self, chat_id: i64) -> Vec<Sent> {
        self.state().sent.iter().filter(|s| s.chat_id == chat_id).cloned().collect()
    }

    pub fn attempts_to(&self, chat_id: i64) -> Vec<Sent> {
        self.state().attempts.iter().filter(|s| s.chat_id == chat_id).cloned().collect()
    }

    pub fn all_sent(&self) -> Vec<Sent> {
        self.state().sent.clone()
    }

    pub fn all_attempts(&self) -> Vec<Sent> {
        self.state().attempts.clone()
    }

    pub fn sent_count(&self) -> usize {
        self.state().sent.len()
    }

    pub fn held(&self) -> usize {
        self.state().held
    }

    pub fn refused(&self) -> usize {
        self.state().refused
    }

    pub fn script(&self, status: u16, body: Value) {
        self.state().scripted.push_back((status, body));
    }

    /// Every `sendMessage` waits a random time in `min..=max` before it is looked at.
    pub fn set_latency(&self, min: Duration, max: Duration) {
        self.state().latency = Some((min, max.max(min)));
    }

    /// Refuses (429, `retry_after` 1) a message that would be the
    /// `per_second + 1`-th accepted within a second, or would follow the
    /// chat's previous one within `per_chat`.
    pub fn enforce_limits(&self, per_second: usize, per_chat: Duration) {
        self.state().limits = Some(Limits { per_second, per_chat });
    }

    /// Holds `sendMessage` calls unanswered from now on.
    pub fn hold(&self) {
        self.set_gate(Gate::Hold);
    }

    /// Answers held and new `sendMessage` calls with 502, unaccepted.
    pub fn reject_held(&self) {
        self.set_gate(Gate::Reject);
    }

    /// Answers `sendMessage` calls again.
    pub fn open(&self) {
        self.set_gate(Gate::Open);
    }

    fn set_gate(&self, gate: Gate) {
        self.state().gate = gate;
        self.shared.gate_changed.notify_waiters();
    }

    pub fn assert_no_secret(&self) {
        for s in &self.state().attempts {
            assert!(!s.text.contains(SECRET), "a message carries the token: {}", s.text);
        }
    }
}

/// The most of `times` within any window `[t, t + window)`.
pub fn max_in_window(times: &[Instant], window: Duration) -> usize {
    let mut times = times.to_vec();
    times.sort();
    let mut most = 0;
    let mut start = 0;
    for end in 0..times.len() {
        while times[end].duration_since(times[start]) >= window {
            start += 1;
        }
        most = most.max(end - start + 1);
    }
    most
}

/// The shortest gap between two of a chat's messages, per chat.
pub fn min_gap_per_chat(sent: &[Sent]) -> HashMap<i64, Duration> {
    let mut by_chat: HashMap<i64, Vec<Instant>> = HashMap::new();
    for s in sent {
        by_chat.entry(s.chat_id).or_default().push(s.at);
    }
    by_chat
        .into_iter()
        .filter_map(|(chat, mut times)| {
            times.sort();
            times.windows(2).map(|w| w[1].duration_since(w[0])).min().map(|gap| (chat, gap))
        })
        .collect()
}

fn json_response(status: u16, body: &Value) -> Response {
    let status = StatusCode::from_u16(status).unwrap();
    (status, [("content-type", "application/json")], body.to_string()).into_response()
}

pub fn too_many_requests(retry_after: u64) -> Value {
    json!({"ok": false, "error_code": 429,
           "description": format!("Too Many Requests: retry after {retry_after}"),
           "parameters": {"retry_after": retry_after}})
}

async fn answer(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let arrived = Instant::now();
    let path = request.uri().path().to_owned();
    let Some(method) = path.strip_prefix(&format!("/bot{TOKEN}/")).map(str::to_owned) else {
        return json_response(404, &json!({"ok": false, "error_code": 404, "description": "Not Found"}));
    };
    let body = axum::body::to_bytes(Body::new(request.into_body()), 1 << 20).await.unwrap();
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    match method.as_str() {
        "getMe" => json_response(
            200,
            &json!({"ok": true, "result": {"id": 1, "is_bot": true, "first_name": "Finstage", "username": BOT_NAME}}),
        ),
        "getUpdates" => {
            let offset = body["offset"].as_i64().unwrap_or(0);
            let deadline = arrived + Duration::from_secs(body["timeout"].as_u64().unwrap_or(0));
            loop {
                {
                    let mut state = shared.state.lock().unwrap();
                    state.updates.retain(|u| u["update_id"].as_i64().unwrap() >= offset);
                    if !state.updates.is_empty() || Instant::now() >= deadline {
                        return json_response(200, &json!({"ok": true, "result": state.updates}));
                    }
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        "sendMessage" => send_message(&shared, &path, &body).await,
        _ => json_response(404, &json!({"ok": false, "error_code": 404, "description": "Not Found"})),
    }
}

async fn send_message(shared: &Shared, path: &str, body: &Value) -> Response {
    let latency = shared.state.lock().unwrap().latency;
    if let Some((min, max)) = latency {
        let extra = max.saturating_sub(min).as_micros();
        let jitter = if extra == 0 { 0 } else { rand::random_range(0..=extra) };
        tokio::time::sleep(min + Duration::from_micros(u64::try_from(jitter).unwrap())).await;
    }
    // Counts this call as held while it is; dropped when it goes on, or when
    // the server drops the call because the client went away.
    struct Held<'a>(&'a Shared);
    impl Drop for Held<'_> {
        fn drop(&mut self) {
            self.0.state.lock().unwrap().held -= 1;
        }
    }
    let mut held = None;
    loop {
        let changed = shared.gate_changed.notified();
        tokio::pin!(changed);
        changed.as_mut().enable();
        {
            let mut state = shared.state.lock().unwrap();
            match state.gate {
                Gate::Open => break,
                Gate::Reject => {
                    drop(state);
                    drop(held);
                    return json_response(502, &json!({"ok": false, "error_code": 502, "description": "Bad Gateway"}));
                }
                Gate::Hold if held.is_none() => {
                    state.held += 1;
                    held = Some(Held(shared));
                }
                Gate::Hold => {}
            }
        }
        changed.await;
    }
    drop(held);
    let now = Instant::now();
    let sent =
        Sent { chat_id: body["chat_id"].as_i64().unwrap(), text: body["text"].as_str().unwrap().to_owned(), at: now };
    let mut state = shared.state.lock().unwrap();
    state.attempts.push(sent.clone());
    if state.fail_quoting_path {
        let description = format!("Internal Server Error while handling {path}");
        return json_response(500, &json!({"ok": false, "error_code": 500, "description": description}));
    }
    if let Some((status, body)) = state.scripted.pop_front() {
        return json_response(status, &body);
    }
    if let Some(limits) = state.limits {
        while state.recent.front().is_some_and(|&t| now.duration_since(t) >= Duration::from_secs(1)) {
            state.recent.pop_front();
        }
        let chat_too_soon =
            state.last_by_chat.get(&sent.chat_id).is_some_and(|&t| now.duration_since(t) < limits.per_chat);
        if state.recent.len() >= limits.per_second || chat_too_soon {
            state.refused += 1;
            return json_response(429, &too_many_requests(1));
        }
        state.recent.push_back(now);
        state.last_by_chat.insert(sent.chat_id, now);
    }
    state.sent.push(sent.clone());
    let id = state.sent.len();
    json_response(
        200,
        &json!({"ok": true, "result": {"message_id": id, "date": 0, "text": sent.text,
                "chat": {"id": sent.chat_id, "type": "private"}}}),
    )
}

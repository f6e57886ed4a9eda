//! Shared by the `providers_*` tests: a scripted loopback HTTP server and a
//! clock whose sleeps only advance a counter.
#![allow(dead_code, reason = "each test file uses a different part")]
#![allow(clippy::unwrap_used, reason = "test helpers should fail loudly at the failing line")]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Response};
use futures::future::BoxFuture;
use server::providers::resilience::Clock;

/// One scripted answer.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
    pub delay: Duration,
}

impl Reply {
    pub fn json(status: u16, body: impl Into<String>) -> Self {
        Self {
            status,
            headers: vec![("content-type", "application/json".into())],
            body: body.into(),
            delay: Duration::ZERO,
        }
    }

    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    pub fn delayed(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }
}

/// What the server saw.
#[derive(Debug, Clone)]
pub struct Seen {
    pub path: String,
    pub query: String,
    pub headers: HeaderMap,
}

#[derive(Debug)]
struct Script {
    replies: Vec<Reply>,
    hits: AtomicUsize,
    seen: Mutex<Vec<Seen>>,
}

/// A loopback server answering with `replies` in order, repeating the last.
#[derive(Debug, Clone)]
pub struct MockServer {
    pub base_url: String,
    script: Arc<Script>,
}

impl MockServer {
    pub async fn start(replies: Vec<Reply>) -> Self {
        assert!(!replies.is_empty());
        let script = Arc::new(Script { replies, hits: AtomicUsize::new(0), seen: Mutex::new(Vec::new()) });
        let app = axum::Router::new().fallback(answer).with_state(Arc::clone(&script));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { base_url: format!("http://{addr}"), script }
    }

    /// Requests received so far.
    pub fn hits(&self) -> usize {
        self.script.hits.load(Ordering::SeqCst)
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.script.seen.lock().unwrap().clone()
    }
}

async fn answer(State(script): State<Arc<Script>>, req: Request) -> Response<Body> {
    let n = script.hits.fetch_add(1, Ordering::SeqCst);
    script.seen.lock().unwrap().push(Seen {
        path: req.uri().path().to_owned(),
        query: req.uri().query().unwrap_or_default().to_owned(),
        headers: req.headers().clone(),
    });
    let reply = script.replies[n.min(script.replies.len() - 1)].clone();
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    let mut builder = Response::builder().status(reply.status);
    for (name, value) in &reply.headers {
        builder = builder.header(*name, value);
    }
    builder.body(Body::from(reply.body)).unwrap()
}

/// A clock whose `sleep` returns at once after moving "now" forward, and
/// which remembers every sleep.
#[derive(Debug)]
pub struct ManualClock {
    start: Instant,
    offset: Mutex<Duration>,
    sleeps: Mutex<Vec<Duration>>,
}

impl ManualClock {
    pub fn new() -> Arc<Self> {
        Arc::new(Self { start: Instant::now(), offset: Mutex::new(Duration::ZERO), sleeps: Mutex::new(Vec::new()) })
    }

    pub fn advance(&self, by: Duration) {
        *self.offset.lock().unwrap() += by;
    }

    pub fn sleeps(&self) -> Vec<Duration> {
        self.sleeps.lock().unwrap().clone()
    }

    pub fn elapsed(&self) -> Duration {
        *self.offset.lock().unwrap()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        self.start + *self.offset.lock().unwrap()
    }

    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        self.sleeps.lock().unwrap().push(duration);
        self.advance(duration);
        Box::pin(async {})
    }
}

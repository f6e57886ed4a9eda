//! The core every HTTP stand-in is built on: a loopback server that answers
//! from a script of [`Reply`]s first, then from the service's own answer
//! function, records what it saw, and can be held (requests wait unanswered)
//! to freeze a client mid-request. Also a clock whose sleeps only advance a
//! counter, for the provider tests.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Response};
use futures::future::BoxFuture;
use server::providers::resilience::Clock;
use tokio::sync::watch;

/// One answer.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
    pub delay: Duration,
}

/// A Cloudflare "Just a moment..." challenge page, as a blocked client sees it.
pub const CHALLENGE: &str = "<!DOCTYPE html><html lang=\"en-US\"><head><title>Just a moment...</title></head><body>\
    <noscript>Enable JavaScript and cookies to continue</noscript>\
    <script src=\"/cdn-cgi/challenge-platform/h/b/orchestrate/chl_page/v1?ray=8f\"></script></body></html>";

impl Reply {
    pub fn json(status: u16, body: impl Into<String>) -> Self {
        Self::with_type(status, "application/json", body)
    }

    pub fn with_type(status: u16, content_type: &str, body: impl Into<String>) -> Self {
        Self {
            status,
            headers: vec![("content-type", content_type.to_owned())],
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

    /// 429 with `Retry-After` in seconds.
    pub fn rate_limited(retry_after_secs: u64, body: impl Into<String>) -> Self {
        Self::json(429, body).header("retry-after", retry_after_secs.to_string())
    }

    /// A 200 whose body was cut off half way.
    pub fn truncated(body: &str) -> Self {
        Self::json(200, &body[..body.len() / 2])
    }

    /// A Cloudflare challenge (403), as every provider behind Cloudflare answers a blocked client.
    pub fn cloudflare() -> Self {
        Self::with_type(403, "text/html; charset=UTF-8", CHALLENGE)
            .header("server", "cloudflare")
            .header("cf-mitigated", "challenge")
    }

    /// An answer that comes after `after`: longer than a client's timeout, it is a timeout.
    pub fn hang(after: Duration) -> Self {
        Self::json(200, "{}").delayed(after)
    }
}

/// What the server saw.
#[derive(Debug, Clone)]
pub struct Seen {
    pub path: String,
    pub query: String,
    pub headers: HeaderMap,
}

impl Seen {
    /// The value of query parameter `name`, percent-decoded.
    pub fn param(&self, name: &str) -> Option<String> {
        let url = reqwest::Url::parse(&format!("http://mock/?{}", self.query)).ok()?;
        url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
    }
}

/// A service's own answer to a request no script entry covers.
pub type Answer = Arc<dyn Fn(&Seen) -> Reply + Send + Sync>;

struct Inner {
    script: Mutex<VecDeque<Reply>>,
    /// Without an answer function, the last scripted reply is repeated.
    last: Mutex<Option<Reply>>,
    answer: Option<Answer>,
    hits: AtomicUsize,
    answered: AtomicUsize,
    seen: Mutex<Vec<Seen>>,
    held: watch::Sender<bool>,
}

/// A loopback HTTP server; cheap to clone.
#[derive(Clone)]
pub struct MockServer {
    pub base_url: String,
    inner: Arc<Inner>,
}

impl MockServer {
    /// Answers with `replies` in order, repeating the last.
    pub async fn start(replies: Vec<Reply>) -> Self {
        assert!(!replies.is_empty());
        Self::launch(replies.into(), None).await
    }

    /// Answers every request with `answer`, after any scripted replies ([`MockServer::push`]).
    pub async fn serve(answer: Answer) -> Self {
        Self::launch(VecDeque::new(), Some(answer)).await
    }

    async fn launch(script: VecDeque<Reply>, answer: Option<Answer>) -> Self {
        let inner = Arc::new(Inner {
            script: Mutex::new(script),
            last: Mutex::new(None),
            answer,
            hits: AtomicUsize::new(0),
            answered: AtomicUsize::new(0),
            seen: Mutex::new(Vec::new()),
            held: watch::Sender::new(false),
        });
        let app = axum::Router::new().fallback(respond).with_state(Arc::clone(&inner));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { base_url: format!("http://{addr}"), inner }
    }

    /// Answers the next requests with `replies` (faults, say) before the service's own answers.
    pub fn push(&self, replies: impl IntoIterator<Item = Reply>) {
        self.inner.script.lock().unwrap().extend(replies);
    }

    /// Requests received so far.
    pub fn hits(&self) -> usize {
        self.inner.hits.load(Ordering::SeqCst)
    }

    /// Requests answered so far (the answer was handed to the connection).
    pub fn answered(&self) -> usize {
        self.inner.answered.load(Ordering::SeqCst)
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.inner.seen.lock().unwrap().clone()
    }

    /// From now on requests wait unanswered until [`MockServer::release`].
    pub fn hold(&self) {
        self.inner.held.send_replace(true);
    }

    pub fn release(&self) {
        self.inner.held.send_replace(false);
    }
}

async fn respond(State(inner): State<Arc<Inner>>, req: Request) -> Response<Body> {
    inner.hits.fetch_add(1, Ordering::SeqCst);
    let seen = Seen {
        path: req.uri().path().to_owned(),
        query: req.uri().query().unwrap_or_default().to_owned(),
        headers: req.headers().clone(),
    };
    inner.seen.lock().unwrap().push(seen.clone());
    let mut held = inner.held.subscribe();
    let _ = held.wait_for(|h| !*h).await;
    // The script stays locked until `last` is set, so a request arriving at
    // the same time as the one taking the last scripted reply repeats it
    // instead of finding neither.
    let reply = {
        let mut script = inner.script.lock().unwrap();
        match (script.pop_front(), &inner.answer) {
            (Some(reply), _) => {
                *inner.last.lock().unwrap() = Some(reply.clone());
                reply
            }
            (None, Some(answer)) => {
                drop(script);
                answer(&seen)
            }
            (None, None) => inner.last.lock().unwrap().clone().expect("a scripted reply"),
        }
    };
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    let mut builder = Response::builder().status(reply.status);
    for (name, value) in &reply.headers {
        builder = builder.header(*name, value);
    }
    inner.answered.fetch_add(1, Ordering::SeqCst);
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

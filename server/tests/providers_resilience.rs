//! The resilience decorator around a scripted in-process provider: no
//! sockets, so time is either a manual clock or tokio's paused clock.
#![allow(clippy::unwrap_used, reason = "tests should fail loudly at the failing line")]

mod mocks;

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use mocks::http::ManualClock;
use quant::Timeframe;
use server::providers::resilience::{Backoff, BreakerConfig, CircuitState, LimiterConfig, ResilienceConfig, Resilient};
use server::providers::{History, HistoryProvider, HistoryRequest, NamedRange, ProviderError};
use server::symbol::Symbol;

#[derive(Debug, Clone, Copy)]
enum Step {
    Ok,
    Status(u16),
    RateLimited(Option<u64>),
    Blocked,
    UnknownSymbol,
    Hang(Duration),
}

/// Plays `steps` in order, then answers Ok.
#[derive(Debug)]
struct Scripted {
    steps: Mutex<VecDeque<Step>>,
    calls: AtomicUsize,
}

impl Scripted {
    fn new(steps: &[Step]) -> Self {
        Self { steps: Mutex::new(steps.iter().copied().collect()), calls: AtomicUsize::new(0) }
    }

    fn push(&self, steps: &[Step]) {
        self.steps.lock().unwrap().extend(steps);
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

impl HistoryProvider for Scripted {
    fn name(&self) -> &'static str {
        "scripted"
    }

    async fn history(&self, _req: &HistoryRequest) -> Result<History, ProviderError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let step = self.steps.lock().unwrap().pop_front().unwrap_or(Step::Ok);
        let provider = "scripted";
        match step {
            Step::Ok => Ok(History::default()),
            Step::Status(status) => {
                Err(ProviderError::Status { provider, status, excerpt: String::new(), retry_after: None })
            }
            Step::RateLimited(secs) => {
                Err(ProviderError::RateLimited { provider, retry_after: secs.map(Duration::from_secs) })
            }
            Step::Blocked => Err(ProviderError::Blocked { provider, evidence: "test" }),
            Step::UnknownSymbol => Err(ProviderError::UnknownSymbol { provider, symbol: "X".into() }),
            Step::Hang(d) => {
                tokio::time::sleep(d).await;
                Ok(History::default())
            }
        }
    }
}

fn request() -> HistoryRequest {
    HistoryRequest::named(Symbol::parse("AAPL").unwrap(), Timeframe::D1, NamedRange::Month1)
}

fn config() -> ResilienceConfig {
    ResilienceConfig {
        max_attempts: 4,
        backoff: Backoff { base: Duration::from_millis(100), max: Duration::from_secs(1) },
        max_retry_after: Duration::from_secs(60),
        call_timeout: Duration::from_secs(1),
        breaker: BreakerConfig { failure_threshold: 10, cool_down: Duration::from_secs(30) },
        limiter: LimiterConfig {
            rate: 1_000.0,
            min_rate: 1.0,
            burst: 1_000,
            recovery: 0.1,
            max_wait: Duration::from_secs(60),
        },
    }
}

#[tokio::test]
async fn retries_5xx_with_full_jitter_and_stops_on_success() {
    let clock = ManualClock::new();
    let r = Resilient::with_clock(Scripted::new(&[Step::Status(502), Step::Status(500)]), config(), clock.clone());
    assert!(r.history(&request()).await.is_ok());
    assert_eq!(r.inner().calls(), 3);
    let sleeps = clock.sleeps();
    assert_eq!(sleeps.len(), 2);
    // Full jitter: within [0, 100 ms] then [0, 200 ms].
    assert!(sleeps[0] <= Duration::from_millis(100) && sleeps[1] <= Duration::from_millis(200), "{sleeps:?}");
    let h = r.health();
    assert_eq!((h.successes, h.failures, h.retries, h.state), (1, 2, 2, CircuitState::Closed));
    assert!(h.last_success.is_some() && h.last_error.as_deref().is_some_and(|e| e.contains("HTTP 500")));
}

#[tokio::test]
async fn gives_up_after_max_attempts() {
    // Also when the breaker opens mid-call: the provider's error is returned.
    let cfg = ResilienceConfig {
        breaker: BreakerConfig { failure_threshold: 2, cool_down: Duration::from_secs(30) },
        ..config()
    };
    let r = Resilient::with_clock(Scripted::new(&[Step::Status(503); 10]), cfg, ManualClock::new());
    assert!(matches!(r.history(&request()).await, Err(ProviderError::Status { status: 503, .. })));
    assert_eq!(r.inner().calls(), 2);

    let r = Resilient::with_clock(Scripted::new(&[Step::Status(503); 10]), config(), ManualClock::new());
    let err = r.history(&request()).await.unwrap_err();
    assert!(matches!(err, ProviderError::Status { status: 503, .. }), "{err}");
    assert_eq!(r.inner().calls(), 4);
    assert_eq!(r.health().retries, 3);
}

#[tokio::test]
async fn does_not_retry_what_cannot_succeed() {
    for step in [Step::Blocked, Step::UnknownSymbol, Step::Status(404)] {
        let r = Resilient::with_clock(Scripted::new(&[step]), config(), ManualClock::new());
        assert!(r.history(&request()).await.is_err());
        assert_eq!(r.inner().calls(), 1, "{step:?}");
        assert_eq!(r.health().retries, 0);
    }
}

#[tokio::test]
async fn honours_retry_after_but_not_beyond_the_cap() {
    let clock = ManualClock::new();
    let r = Resilient::with_clock(Scripted::new(&[Step::RateLimited(Some(7))]), config(), clock.clone());
    assert!(r.history(&request()).await.is_ok());
    assert!(clock.sleeps().contains(&Duration::from_secs(7)), "{:?}", clock.sleeps());

    let r = Resilient::with_clock(Scripted::new(&[Step::RateLimited(Some(3_600))]), config(), ManualClock::new());
    assert!(r.history(&request()).await.unwrap_err().is_rate_limited());
    assert_eq!(r.inner().calls(), 1);
}

#[tokio::test]
async fn circuit_opens_after_n_failures_and_recovers_through_a_probe() {
    let clock = ManualClock::new();
    let cfg = ResilienceConfig {
        max_attempts: 1,
        breaker: BreakerConfig { failure_threshold: 3, cool_down: Duration::from_secs(30) },
        ..config()
    };
    let r = Resilient::with_clock(Scripted::new(&[Step::Status(500); 3]), cfg, clock.clone());
    for _ in 0..3 {
        assert!(matches!(r.history(&request()).await, Err(ProviderError::Status { .. })));
    }
    assert_eq!(r.health().state, CircuitState::Open);

    // Open: refused at once, the provider is not called.
    let err = r.history(&request()).await.unwrap_err();
    assert!(matches!(err, ProviderError::CircuitOpen { retry_in, .. } if retry_in == Duration::from_secs(30)), "{err}");
    assert_eq!(r.inner().calls(), 3);
    assert_eq!(r.health().rejections, 1);

    // After the cool-down a failing probe re-opens the circuit...
    clock.advance(Duration::from_secs(30));
    assert_eq!(r.health().state, CircuitState::HalfOpen);
    r.inner().push(&[Step::Status(500)]);
    assert!(matches!(r.history(&request()).await, Err(ProviderError::Status { .. })));
    assert_eq!(r.health().state, CircuitState::Open);
    assert!(matches!(r.history(&request()).await, Err(ProviderError::CircuitOpen { .. })));

    // ...and a successful one closes it.
    clock.advance(Duration::from_secs(30));
    assert!(r.history(&request()).await.is_ok());
    let h = r.health();
    assert_eq!((h.state, h.consecutive_failures, h.rejections), (CircuitState::Closed, 0, 2));
    assert_eq!(r.inner().calls(), 5);
    let json = serde_json::to_value(&h).unwrap();
    assert_eq!(json["state"], "closed");
    assert_eq!(json["provider"], "scripted");
}

#[tokio::test]
async fn caller_errors_do_not_open_the_circuit() {
    let cfg = ResilienceConfig { max_attempts: 1, ..config() };
    let r = Resilient::with_clock(Scripted::new(&[Step::UnknownSymbol; 5]), cfg, ManualClock::new());
    for _ in 0..5 {
        assert!(matches!(r.history(&request()).await, Err(ProviderError::UnknownSymbol { .. })));
    }
    let h = r.health();
    assert_eq!((h.state, h.failures), (CircuitState::Closed, 0));
}

#[tokio::test]
async fn the_limiter_halves_on_429_and_recovers_on_success() {
    let clock = ManualClock::new();
    let cfg = ResilienceConfig {
        limiter: LimiterConfig {
            rate: 10.0,
            min_rate: 1.0,
            burst: 1,
            recovery: 0.1,
            max_wait: Duration::from_secs(60),
        },
        ..config()
    };
    let r = Resilient::with_clock(Scripted::new(&[]), cfg, clock.clone());
    // At full speed, five calls take 4 intervals of 100 ms.
    for _ in 0..5 {
        r.history(&request()).await.unwrap();
    }
    assert_eq!(clock.elapsed(), Duration::from_millis(400));

    // One 429 (retried after 0 s): the rate halves, and the retry waits a
    // whole interval at the new rate.
    r.inner().push(&[Step::RateLimited(Some(0))]);
    let before = clock.elapsed();
    r.history(&request()).await.unwrap();
    assert_eq!(r.health().current_rate, 6.0, "halved to 5, then one success adds 10%");
    assert!(clock.elapsed() - before >= Duration::from_millis(300), "{:?}", clock.elapsed() - before);

    // Repeated 429s stop at the floor; successes bring it back to 10/s.
    r.inner().push(&[Step::RateLimited(Some(0)); 3]);
    assert!(r.history(&request()).await.is_ok());
    assert_eq!(r.health().current_rate, 1.0 + 1.0);
    for _ in 0..10 {
        r.history(&request()).await.unwrap();
    }
    assert_eq!(r.health().current_rate, 10.0);
}

#[tokio::test]
async fn the_limiter_refuses_calls_it_would_queue_too_long() {
    let cfg = ResilienceConfig {
        limiter: LimiterConfig { rate: 1.0, min_rate: 1.0, burst: 1, recovery: 0.1, max_wait: Duration::from_secs(2) },
        ..config()
    };
    // A clock that never moves: every reservation stacks up.
    #[derive(Debug)]
    struct Frozen(std::time::Instant);
    impl server::providers::resilience::Clock for Frozen {
        fn now(&self) -> std::time::Instant {
            self.0
        }
        fn sleep(&self, _: Duration) -> futures::future::BoxFuture<'static, ()> {
            Box::pin(async {})
        }
    }
    let r = Resilient::with_clock(Scripted::new(&[]), cfg, std::sync::Arc::new(Frozen(std::time::Instant::now())));
    for _ in 0..3 {
        r.history(&request()).await.unwrap();
    }
    let err = r.history(&request()).await.unwrap_err();
    assert!(matches!(err, ProviderError::Throttled { wait, .. } if wait == Duration::from_secs(3)), "{err}");
    assert_eq!(r.inner().calls(), 3);
    assert_eq!(r.health().rejections, 1);
}

#[tokio::test(start_paused = true)]
async fn each_attempt_has_a_timeout() {
    let r = Resilient::new(Scripted::new(&[Step::Hang(Duration::from_secs(600)); 2]), config());
    let started = tokio::time::Instant::now();
    let h = r.history(&request()).await;
    // Two attempts time out after 1 s each, the third succeeds.
    assert!(h.is_ok());
    assert_eq!(r.inner().calls(), 3);
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_secs(2) && elapsed <= Duration::from_millis(2_300), "{elapsed:?}");
    assert!(r.health().last_error.is_some_and(|e| e.contains("no answer within 1s")));
}

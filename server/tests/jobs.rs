//! The durable job queue, on SQLite and PostgreSQL. Time is passed in
//! explicitly (`now` in Unix ms), so leases and backoff are tested without waiting.
#![allow(clippy::unwrap_used, reason = "test helpers should fail loudly at the failing line")]

mod common;

use std::collections::HashSet;

use serde_json::json;
use server::storage::Db;
use server::storage::jobs::{self, NewJob};

const T0: i64 = 1_700_000_000_000;
/// A lease longer than any test's clock moves.
const HOUR: i64 = 3_600_000;

async fn ready_jobs_run_by_priority_then_due_time(db: &Db) {
    let low = jobs::enqueue(db, &NewJob::new("a", json!(1)), T0).await.unwrap();
    let high = jobs::enqueue(db, &NewJob { priority: 5, ..NewJob::new("b", json!(2)) }, T0 + 1).await.unwrap();
    let later = jobs::enqueue(db, &NewJob { priority: 9, run_at: Some(T0 + 60_000), ..NewJob::new("c", json!(3)) }, T0)
        .await
        .unwrap();
    let first = jobs::claim(db, "w1", T0 + 10, HOUR).await.unwrap().unwrap();
    assert_eq!((first.id, first.status.as_str(), first.attempts), (high, "running", 1));
    assert_eq!(first.payload_json().unwrap(), json!(2));
    assert_eq!(jobs::claim(db, "w1", T0 + 10, HOUR).await.unwrap().unwrap().id, low);
    // The priority-9 job is not due yet.
    assert!(jobs::claim(db, "w1", T0 + 10, HOUR).await.unwrap().is_none());
    assert_eq!(jobs::claim(db, "w1", T0 + 60_000, HOUR).await.unwrap().unwrap().id, later);
    assert!(jobs::complete(db, high, "w1", T0 + 20).await.unwrap());
    let done = jobs::list(db, Some("done"), 10).await.unwrap();
    assert_eq!(done.iter().map(|j| j.id).collect::<Vec<_>>(), vec![high]);
}

async fn an_idempotency_key_enqueues_once(db: &Db) {
    let job =
        NewJob { idempotency_key: Some("backfill:AAPL:2024".into()), ..NewJob::new("backfill", json!({"s": "AAPL"})) };
    let a = jobs::enqueue(db, &job, T0).await.unwrap();
    let b = jobs::enqueue(db, &job, T0 + 5).await.unwrap();
    assert_eq!(a, b);
    assert_eq!(jobs::list(db, None, 10).await.unwrap().len(), 1);
}

async fn failures_back_off_then_go_to_the_dead_letter(db: &Db) {
    let id = jobs::enqueue(db, &NewJob { max_attempts: 2, ..NewJob::new("flaky", json!(null)) }, T0).await.unwrap();
    let job = jobs::claim(db, "w", T0, HOUR).await.unwrap().unwrap();
    assert!(jobs::fail(db, &job, "w", "upstream 500", false, T0).await.unwrap());
    // Re-queued 1 s later (first backoff), not before.
    assert!(jobs::claim(db, "w", T0 + 999, HOUR).await.unwrap().is_none());
    let job = jobs::claim(db, "w", T0 + 1_000, HOUR).await.unwrap().unwrap();
    assert_eq!((job.id, job.attempts, job.last_error.as_deref()), (id, 2, Some("upstream 500")));
    assert!(jobs::fail(db, &job, "w", "upstream 500 again", false, T0 + 1_000).await.unwrap());
    let dead = jobs::list(db, Some("dead"), 10).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].last_error.as_deref(), Some("upstream 500 again"));
    assert!(jobs::claim(db, "w", T0 + 10_000_000, HOUR).await.unwrap().is_none());
}

async fn an_expired_lease_is_taken_over_and_the_old_worker_is_fenced(db: &Db) {
    let id = jobs::enqueue(db, &NewJob { timeout_ms: 1_000, ..NewJob::new("slow", json!(null)) }, T0).await.unwrap();
    let crashed = jobs::claim(db, "crashed", T0, 1_500).await.unwrap().unwrap();
    // Before the lease (1.5 s) ends nobody else may claim.
    assert!(jobs::claim(db, "rescuer", T0 + 1_499, 1_500).await.unwrap().is_none());
    let rescued = jobs::claim(db, "rescuer", T0 + 1_501, 1_500).await.unwrap().unwrap();
    assert_eq!((rescued.id, rescued.attempts), (id, 2));
    // The first worker wakes up late: its outcome is refused either way.
    assert!(!jobs::complete(db, id, "crashed", T0 + 1_600).await.unwrap());
    assert!(!jobs::fail(db, &crashed, "crashed", "late", false, T0 + 1_600).await.unwrap());
    assert!(jobs::complete(db, id, "rescuer", T0 + 1_700).await.unwrap());
    assert_eq!(jobs::list(db, Some("done"), 10).await.unwrap().len(), 1);
}

/// A worker renewing its lease keeps the job past the first lease; once it
/// stops (killed), the job is taken over within one lease, and the old
/// worker can renew no more.
async fn a_renewed_lease_holds_and_a_lapsed_one_is_taken_over(db: &Db) {
    let id = jobs::enqueue(db, &NewJob::new("long", json!(null)), T0).await.unwrap();
    jobs::claim(db, "w1", T0, 1_000).await.unwrap().unwrap();
    for t in [800, 1_600, 2_400] {
        assert!(jobs::renew(db, id, "w1", T0 + t + 1_000).await.unwrap());
        assert!(jobs::claim(db, "w2", T0 + t + 999, 1_000).await.unwrap().is_none(), "held at {t} ms");
    }
    // w1 dies after its last renewal (until T0 + 3,400).
    let taken = jobs::claim(db, "w2", T0 + 3_401, 1_000).await.unwrap().unwrap();
    assert_eq!((taken.id, taken.attempts), (id, 2));
    assert!(!jobs::renew(db, id, "w1", T0 + 5_000).await.unwrap(), "the old worker is fenced");
    assert!(jobs::complete(db, id, "w2", T0 + 3_500).await.unwrap());
    assert!(!jobs::renew(db, id, "w2", T0 + 5_000).await.unwrap(), "a finished job has no lease");
}

async fn a_lease_expiring_on_the_last_attempt_is_reaped_to_the_dead_letter(db: &Db) {
    jobs::enqueue(db, &NewJob { max_attempts: 1, timeout_ms: 100, ..NewJob::new("once", json!(null)) }, T0)
        .await
        .unwrap();
    jobs::claim(db, "w", T0, 100).await.unwrap().unwrap();
    assert!(jobs::claim(db, "w", T0 + 1_000, HOUR).await.unwrap().is_none(), "no attempts left");
    assert_eq!(jobs::reap(db, T0 + 1_000).await.unwrap(), 1);
    let dead = jobs::list(db, Some("dead"), 10).await.unwrap();
    assert_eq!(dead[0].last_error.as_deref(), Some("lease expired"));
}

async fn concurrent_claimers_never_share_a_job(db: &Db) {
    for i in 0..60 {
        jobs::enqueue(db, &NewJob::new("n", json!(i)), T0).await.unwrap();
    }
    let workers: Vec<_> = (0..4)
        .map(|w| {
            let db = db.clone();
            tokio::spawn(async move {
                let name = format!("w{w}");
                let mut got = Vec::new();
                while let Some(job) = jobs::claim(&db, &name, T0, 60_000).await.unwrap() {
                    got.push(job.id);
                    assert!(jobs::complete(&db, job.id, &name, T0).await.unwrap());
                }
                got
            })
        })
        .collect();
    let mut all = Vec::new();
    for w in workers {
        all.extend(w.await.unwrap());
    }
    let unique: HashSet<i64> = all.iter().copied().collect();
    assert_eq!((all.len(), unique.len()), (60, 60));
}

/// A job that could not start goes back with its attempt returned: before
/// deferral existed, an open circuit used up attempts until the job was dead.
async fn a_deferred_job_keeps_its_attempts(db: &Db) {
    let id = jobs::enqueue(db, &NewJob { max_attempts: 2, ..NewJob::new("fetch", json!(null)) }, T0).await.unwrap();
    for round in 0..5 {
        let now = T0 + round * 60_000;
        let job = jobs::claim(db, "w", now, HOUR).await.unwrap().unwrap();
        assert_eq!(job.attempts, 1, "round {round}: the deferrals used no attempt");
        assert!(jobs::defer(db, &job, "w", "circuit open", now + 30_000, now).await.unwrap());
        assert!(jobs::claim(db, "w", now + 29_999, HOUR).await.unwrap().is_none(), "not before it is due");
    }
    let job = jobs::get(db, id).await.unwrap().unwrap();
    assert_eq!((job.status.as_str(), job.attempts), ("queued", 0));
    assert_eq!(job.last_error.as_deref(), Some("circuit open"));
    // A worker whose lease was taken over cannot defer the job either.
    let job = jobs::claim(db, "w", T0 + 400_000, HOUR).await.unwrap().unwrap();
    assert!(!jobs::defer(db, &job, "someone else", "late", T0, T0).await.unwrap());
}

async fn a_dead_job_is_retried_with_fresh_attempts(db: &Db) {
    let dead = jobs::enqueue(db, &NewJob { max_attempts: 1, ..NewJob::new("x", json!(1)) }, T0).await.unwrap();
    let live = jobs::enqueue(db, &NewJob::new("x", json!(2)), T0).await.unwrap();
    let job = jobs::claim(db, "w", T0, HOUR).await.unwrap().unwrap();
    assert_eq!(job.id, dead);
    assert!(jobs::fail(db, &job, "w", "boom", false, T0).await.unwrap());
    assert_eq!(jobs::get(db, dead).await.unwrap().unwrap().status, "dead");

    assert_eq!(jobs::retry(db, live, T0).await.unwrap(), jobs::Retry::NotDead, "queued");
    let running = jobs::claim(db, "w", T0, HOUR).await.unwrap().unwrap();
    assert_eq!(jobs::retry(db, live, T0).await.unwrap(), jobs::Retry::NotDead, "running");
    assert!(jobs::complete(db, running.id, "w", T0).await.unwrap());
    assert_eq!(jobs::retry(db, live, T0).await.unwrap(), jobs::Retry::NotDead, "done");
    assert_eq!(jobs::retry(db, 999_999, T0).await.unwrap(), jobs::Retry::Missing);
    assert_eq!(jobs::retry(db, dead, T0 + 5).await.unwrap(), jobs::Retry::Requeued);
    let again = jobs::get(db, dead).await.unwrap().unwrap();
    assert_eq!((again.status.as_str(), again.attempts, again.run_at), ("queued", 0, T0 + 5));
    let job = jobs::claim(db, "w", T0 + 5, HOUR).await.unwrap().unwrap();
    assert_eq!(job.id, dead, "the retried job runs again");
    assert!(jobs::fail(db, &job, "w", "boom", false, T0 + 6).await.unwrap());
    assert_eq!(jobs::retry_dead(db, T0 + 7).await.unwrap(), 1);
    assert!(jobs::list(db, Some("dead"), 10).await.unwrap().is_empty());
}

/// Asking again for a job that died revives it: `finstage backfill` run a
/// second time used to reprint the dead job's error and do nothing.
async fn enqueueing_the_key_of_a_dead_job_revives_it(db: &Db) {
    let job = NewJob { max_attempts: 1, idempotency_key: Some("k".into()), ..NewJob::new("x", json!(null)) };
    let id = jobs::enqueue(db, &job, T0).await.unwrap();
    let claimed = jobs::claim(db, "w", T0, HOUR).await.unwrap().unwrap();
    assert!(jobs::fail(db, &claimed, "w", "boom", false, T0).await.unwrap());
    assert_eq!(jobs::enqueue(db, &job, T0 + 10).await.unwrap(), id, "the same job, not a new one");
    let revived = jobs::get(db, id).await.unwrap().unwrap();
    assert_eq!((revived.status.as_str(), revived.attempts, revived.run_at), ("queued", 0, T0 + 10));
    // A job that is queued, running or done is left as it is.
    let running = jobs::claim(db, "w", T0 + 10, HOUR).await.unwrap().unwrap();
    assert_eq!(jobs::enqueue(db, &job, T0 + 20).await.unwrap(), id);
    assert_eq!(jobs::get(db, id).await.unwrap().unwrap().status, "running");
    assert!(jobs::complete(db, running.id, "w", T0 + 30).await.unwrap());
    assert_eq!(jobs::enqueue(db, &job, T0 + 40).await.unwrap(), id);
    assert_eq!(jobs::get(db, id).await.unwrap().unwrap().status, "done");
    assert_eq!(jobs::list(db, None, 10).await.unwrap().len(), 1);
}

on_both_backends!(
    a_deferred_job_keeps_its_attempts,
    a_dead_job_is_retried_with_fresh_attempts,
    enqueueing_the_key_of_a_dead_job_revives_it,
    ready_jobs_run_by_priority_then_due_time,
    an_idempotency_key_enqueues_once,
    failures_back_off_then_go_to_the_dead_letter,
    an_expired_lease_is_taken_over_and_the_old_worker_is_fenced,
    a_renewed_lease_holds_and_a_lapsed_one_is_taken_over,
    a_lease_expiring_on_the_last_attempt_is_reaped_to_the_dead_letter,
    concurrent_claimers_never_share_a_job,
);

/// The runner: handlers by kind, timeouts, kinds it has no handler for (left
/// for a process that has one), and a clean stop.
#[tokio::test]
async fn the_runner_works_the_queue_until_stopped() {
    use server::jobs::{JobError, Registry, RunnerConfig};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    let t = common::TestDb::sqlite().await;
    let ran = Arc::new(AtomicUsize::new(0));
    let mut registry = Registry::default();
    let counter = ran.clone();
    registry.register("count", move |_| {
        let counter = counter.clone();
        async move {
            counter.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
    });
    registry.register("broken", |_| async { Err(JobError::Failed("always fails".into())) });
    registry.register("hopeless", |_| async { Err(JobError::Permanent("no such symbol".into())) });
    registry.register("slow", |_| async {
        tokio::time::sleep(std::time::Duration::from_secs(5)).await;
        Ok(())
    });
    let now = server::jobs::now_ms();
    for i in 0..5 {
        jobs::enqueue(&t.db, &NewJob::new("count", json!(i)), now).await.unwrap();
    }
    jobs::enqueue(&t.db, &NewJob { max_attempts: 1, ..NewJob::new("broken", json!(null)) }, now).await.unwrap();
    jobs::enqueue(&t.db, &NewJob { max_attempts: 1, timeout_ms: 50, ..NewJob::new("slow", json!(null)) }, now)
        .await
        .unwrap();
    jobs::enqueue(&t.db, &NewJob { max_attempts: 1, ..NewJob::new("unknown", json!(null)) }, now).await.unwrap();
    // Five attempts allowed, but a permanent failure ends it after the first.
    jobs::enqueue(&t.db, &NewJob::new("hopeless", json!(null)), now).await.unwrap();

    let shutdown = tokio_util::sync::CancellationToken::new();
    let config = RunnerConfig { workers: 2, idle_poll: std::time::Duration::from_millis(10), name: "test".into() };
    let runner = tokio::spawn(server::jobs::run(t.db.clone(), registry, config, shutdown.clone()));
    for _ in 0..500 {
        let open = jobs::list(&t.db, None, 100)
            .await
            .unwrap()
            .iter()
            .filter(|j| j.kind != "unknown" && (j.status == "queued" || j.status == "running"))
            .count();
        if open == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    shutdown.cancel();
    tokio::time::timeout(std::time::Duration::from_secs(10), runner).await.expect("runner stops").unwrap();

    assert_eq!(ran.load(Ordering::SeqCst), 5);
    assert_eq!(jobs::list(&t.db, Some("done"), 100).await.unwrap().len(), 5);
    let dead = jobs::list(&t.db, Some("dead"), 100).await.unwrap();
    let mut errors: Vec<(String, String)> =
        dead.into_iter().map(|j| (j.kind, j.last_error.unwrap_or_default())).collect();
    errors.sort();
    assert_eq!(
        errors,
        vec![
            ("broken".to_owned(), "always fails".to_owned()),
            ("hopeless".to_owned(), "no such symbol".to_owned()),
            ("slow".to_owned(), "timed out after 50 ms".to_owned()),
        ]
    );
    // Never claimed, so no attempt was spent on it.
    let waiting = jobs::list(&t.db, Some("queued"), 10).await.unwrap();
    assert_eq!(waiting.iter().map(|j| (j.kind.as_str(), j.attempts)).collect::<Vec<_>>(), vec![("unknown", 0)]);
    t.cleanup().await;
}

//! Sweeps and walk-forward validations running in the background, with
//! progress and cancellation, in a bounded in-memory registry held by
//! [`crate::state::AppState`].
//!
//! Not the durable job queue ([`crate::storage::jobs`]): a sweep is
//! interactive (someone polls it for a progress bar and may cancel it), it is
//! cheap to run again from its input, and its result only matters to whoever
//! asked. Surviving a restart, retries and leases would buy nothing; the
//! registry forgets a task an hour after it ends, or sooner when it is full.
//!
//! Bounds: at most [`MAX_RUNNING`] tasks run at once (each spreads its
//! backtests over every core already), at most [`MAX_TASKS`] are kept, the
//! oldest finished one making room for a new one.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use quant::backtest::{Progress, Sweep, WalkForwardReport};
use serde::Serialize;
use tokio_util::sync::CancellationToken;

/// Tasks running at once; more are refused until one ends.
pub const MAX_RUNNING: usize = 4;
/// Tasks kept, running or finished.
pub const MAX_TASKS: usize = 64;
/// How long a finished task's result is kept.
pub const KEEP: Duration = Duration::from_secs(3_600);

/// What a task computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TaskKind {
    /// A parameter sweep.
    Sweep,
    /// A walk-forward validation.
    WalkForward,
}

/// Where a task is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskState {
    /// Still running.
    Running,
    /// Finished; the result is whole.
    Done,
    /// Stopped by a cancel (or by shutdown); a sweep's result holds the runs that finished.
    Cancelled,
    /// Ended with an error.
    Failed,
}

/// A finished task's outcome.
#[derive(Debug, Clone)]
pub enum TaskResult {
    /// A sweep's ranked runs.
    Sweep(Sweep),
    /// A walk-forward validation's windows and curves.
    WalkForward(WalkForwardReport),
}

/// A task as its caller sees it.
#[derive(Debug, Clone)]
pub struct TaskStatus {
    /// Its id.
    pub id: String,
    /// What it computes.
    pub kind: TaskKind,
    /// Where it is.
    pub state: TaskState,
    /// Backtests finished.
    pub done: usize,
    /// Backtests in all.
    pub total: usize,
    /// The outcome, once there is one.
    pub result: Option<Arc<TaskResult>>,
    /// Why it failed.
    pub error: Option<String>,
}

/// Why a task was not started.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{MAX_RUNNING} sweeps or walk-forward validations are running already; cancel one or wait")]
pub struct Busy;

struct Task {
    id: String,
    kind: TaskKind,
    total: usize,
    progress: Arc<Progress>,
    state: TaskState,
    result: Option<Arc<TaskResult>>,
    error: Option<String>,
    ended: Option<Instant>,
}

impl Task {
    fn status(&self) -> TaskStatus {
        TaskStatus {
            id: self.id.clone(),
            kind: self.kind,
            state: self.state,
            done: self.progress.done().min(self.total),
            total: self.total,
            result: self.result.clone(),
            error: self.error.clone(),
        }
    }
}

/// The registry; cheap to clone (one shared list).
#[derive(Clone, Default)]
pub struct Tasks(Arc<Mutex<VecDeque<Task>>>);

impl std::fmt::Debug for Tasks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tasks").field("kept", &self.lock().len()).finish()
    }
}

/// What a task's work returns: `Ok(None)` when it stopped before it had a result.
pub type Outcome = Result<Option<TaskResult>, String>;

impl Tasks {
    fn lock(&self) -> MutexGuard<'_, VecDeque<Task>> {
        // Every change under the lock is a single assignment or push: a panic cannot leave it half done.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Starts `work` on a blocking thread, reporting to the [`Progress`] it is
    /// given, and returns its status. The task is cancelled when `shutdown` is.
    ///
    /// # Errors
    /// [`Busy`] when [`MAX_RUNNING`] tasks are running.
    pub fn start<F>(
        &self,
        kind: TaskKind,
        total: usize,
        shutdown: &CancellationToken,
        work: F,
    ) -> Result<TaskStatus, Busy>
    where
        F: FnOnce(&Progress) -> Outcome + Send + 'static,
    {
        let progress = Arc::new(Progress::default());
        let id = format!("{:016x}", rand::random::<u64>());
        let status = {
            let mut tasks = self.lock();
            let now = Instant::now();
            tasks.retain(|t| t.ended.is_none_or(|at| now.duration_since(at) < KEEP));
            if tasks.iter().filter(|t| t.state == TaskState::Running).count() >= MAX_RUNNING {
                return Err(Busy);
            }
            while tasks.len() >= MAX_TASKS {
                match tasks.iter().position(|t| t.state != TaskState::Running) {
                    Some(i) => drop(tasks.remove(i)),
                    None => return Err(Busy),
                }
            }
            let task = Task {
                id: id.clone(),
                kind,
                total,
                progress: progress.clone(),
                state: TaskState::Running,
                result: None,
                error: None,
                ended: None,
            };
            let status = task.status();
            tasks.push_back(task);
            status
        };
        let registry = self.clone();
        let shutdown = shutdown.clone();
        let worker_progress = progress.clone();
        let mut handle = tokio::task::spawn_blocking(move || work(&worker_progress));
        tokio::spawn(async move {
            let joined = tokio::select! {
                joined = &mut handle => joined,
                () = shutdown.cancelled() => {
                    progress.cancel();
                    handle.await
                }
            };
            let outcome = joined.unwrap_or_else(|e| {
                tracing::error!(error = %e, "a lab task panicked");
                Err("the task failed; see the server log".into())
            });
            registry.finish(&id, &progress, outcome);
        });
        Ok(status)
    }

    fn finish(&self, id: &str, progress: &Progress, outcome: Outcome) {
        let mut tasks = self.lock();
        let Some(task) = tasks.iter_mut().find(|t| t.id == id) else { return };
        task.ended = Some(Instant::now());
        match outcome {
            Ok(result) => {
                let cancelled = progress.is_cancelled()
                    || result.is_none()
                    || matches!(&result, Some(TaskResult::Sweep(s)) if s.cancelled);
                task.state = if cancelled { TaskState::Cancelled } else { TaskState::Done };
                task.result = result.map(Arc::new);
            }
            Err(error) => {
                task.state = TaskState::Failed;
                task.error = Some(error);
            }
        }
    }

    /// The status of task `id` of `kind`; `None` when there is none (or it was forgotten).
    #[must_use]
    pub fn status(&self, id: &str, kind: TaskKind) -> Option<TaskStatus> {
        self.lock().iter().find(|t| t.id == id && t.kind == kind).map(Task::status)
    }

    /// Asks task `id` of `kind` to stop (within one backtest); its status
    /// turns `cancelled` when it has. `None` when there is no such task.
    #[must_use]
    pub fn cancel(&self, id: &str, kind: TaskKind) -> Option<TaskStatus> {
        let tasks = self.lock();
        let task = tasks.iter().find(|t| t.id == id && t.kind == kind)?;
        if task.state == TaskState::Running {
            task.progress.cancel();
        }
        Some(task.status())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn settled(tasks: &Tasks, id: &str) -> TaskStatus {
        for _ in 0..1_000 {
            let s = tasks.status(id, TaskKind::Sweep).unwrap();
            if s.state != TaskState::Running {
                return s;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        panic!("task {id} did not end");
    }

    #[tokio::test]
    async fn tasks_report_progress_end_and_can_be_cancelled() {
        let tasks = Tasks::default();
        let shutdown = CancellationToken::new();
        let sweep = || Sweep { runs: vec![], skipped: 0, total: 3, cancelled: false };
        let done = tasks.start(TaskKind::Sweep, 3, &shutdown, move |_| Ok(Some(TaskResult::Sweep(sweep())))).unwrap();
        assert_eq!((done.state, done.total), (TaskState::Running, 3));
        assert_eq!(settled(&tasks, &done.id).await.state, TaskState::Done);
        assert!(tasks.status(&done.id, TaskKind::WalkForward).is_none(), "ids are per kind");

        // A task that waits for its cancel.
        let waiting = tasks
            .start(TaskKind::Sweep, 10, &shutdown, |p| {
                while !p.is_cancelled() {
                    std::thread::sleep(Duration::from_millis(1));
                }
                Ok(None)
            })
            .unwrap();
        assert_eq!(tasks.cancel(&waiting.id, TaskKind::Sweep).unwrap().state, TaskState::Running);
        assert_eq!(settled(&tasks, &waiting.id).await.state, TaskState::Cancelled);

        let failing = tasks.start(TaskKind::Sweep, 1, &shutdown, |_| Err("no".into())).unwrap();
        let failed = settled(&tasks, &failing.id).await;
        assert_eq!((failed.state, failed.error.as_deref()), (TaskState::Failed, Some("no")));
        assert!(tasks.cancel("nope", TaskKind::Sweep).is_none());
    }

    #[tokio::test]
    async fn running_tasks_are_bounded_and_shutdown_cancels_them() {
        let tasks = Tasks::default();
        let shutdown = CancellationToken::new();
        let wait = |p: &Progress| {
            while !p.is_cancelled() {
                std::thread::sleep(Duration::from_millis(1));
            }
            Ok(None)
        };
        let ids: Vec<String> =
            (0..MAX_RUNNING).map(|_| tasks.start(TaskKind::Sweep, 1, &shutdown, wait).unwrap().id).collect();
        assert_eq!(tasks.start(TaskKind::Sweep, 1, &shutdown, wait).unwrap_err(), Busy);
        shutdown.cancel();
        for id in &ids {
            assert_eq!(settled(&tasks, id).await.state, TaskState::Cancelled);
        }
        // Finished tasks make room for new ones.
        let shutdown = CancellationToken::new();
        for _ in 0..MAX_TASKS + 2 {
            let s = tasks.start(TaskKind::Sweep, 1, &shutdown, |_| Err("x".into())).unwrap();
            settled(&tasks, &s.id).await;
        }
        assert_eq!(tasks.lock().len(), MAX_TASKS);
    }
}

//! Import progress as clients follow it. A running job publishes its state through the
//! `ProgressHub`: to this process's subscribers at once (a broadcast channel) and, on
//! PostgreSQL, to every other server process (NOTIFY on `PG_CHANNEL`, relayed by `relay`).
//! `follow` turns that into what `importProgress` promises: the job's current state first,
//! then each new state, then the final one, then the end.

use std::time::{Duration, Instant};

use futures_util::Stream;
use sea_orm::{ConnectionTrait, DatabaseBackend, DatabaseConnection, EntityTrait, Statement};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;
use uuid::Uuid;

use crate::db::import_jobs;
use crate::domain::ImportStatus;
use crate::types::ImportJobId;

pub const PG_CHANNEL: &str = "portal_import_progress";

/// What a subscriber sees: the job's status and counters.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Progress {
    pub job_id: ImportJobId,
    pub status: ImportStatus,
    pub total_rows: i32,
    pub processed_rows: i32,
    pub created_count: i32,
    pub error_count: i32,
    pub warning_count: i32,
}

impl Progress {
    pub fn of(job: &import_jobs::Model) -> Progress {
        Progress {
            job_id: job.id,
            status: job.status,
            total_rows: job.total_rows,
            processed_rows: job.processed_rows,
            created_count: job.created_count,
            error_count: job.error_count,
            warning_count: job.warning_count,
        }
    }

    /// Newer than `last`: another status, or the same with more done.
    fn is_ahead_of(&self, last: &Progress) -> bool {
        self.status != last.status
            || (self.processed_rows, self.created_count, self.error_count)
                > (last.processed_rows, last.created_count, last.error_count)
            || self.total_rows != last.total_rows
    }

    /// No further state will follow.
    pub fn is_final(&self) -> bool {
        is_final(self.status)
    }
}

/// The statuses of a job at work; every other one is final.
pub const RUNNING: [ImportStatus; 2] = [ImportStatus::Validating, ImportStatus::Importing];

pub fn is_final(status: ImportStatus) -> bool {
    !RUNNING.contains(&status)
}

/// What crosses processes: the progress and which process sent it (so it is not relayed back).
#[derive(Serialize, Deserialize)]
struct Envelope {
    origin: Uuid,
    progress: Progress,
}

#[derive(Clone)]
pub struct ProgressHub {
    sender: broadcast::Sender<Progress>,
    origin: Uuid,
}

impl Default for ProgressHub {
    fn default() -> Self {
        ProgressHub { sender: broadcast::channel(1024).0, origin: Uuid::new_v4() }
    }
}

impl ProgressHub {
    pub fn subscribe(&self) -> broadcast::Receiver<Progress> {
        self.sender.subscribe()
    }

    /// To this process's subscribers, and on PostgreSQL to the other processes'. `db` must be
    /// free to run a statement (not a connection held by an open transaction).
    pub async fn publish(&self, db: &DatabaseConnection, progress: Progress) {
        let _ = self.sender.send(progress.clone());
        if db.get_database_backend() == DatabaseBackend::Postgres {
            let payload = serde_json::to_string(&Envelope { origin: self.origin, progress }).unwrap_or_default();
            let notify = Statement::from_sql_and_values(
                DatabaseBackend::Postgres,
                "SELECT pg_notify($1, $2)",
                [PG_CHANNEL.into(), payload.into()],
            );
            if let Err(error) = db.execute_raw(notify).await {
                tracing::warn!(%error, "import progress: NOTIFY failed");
            }
        }
    }

    /// On PostgreSQL, feeds other processes' progress to this process's subscribers until
    /// aborted; reconnects when the connection drops. Elsewhere, does nothing.
    pub fn relay(&self, db: &DatabaseConnection) -> Option<tokio::task::JoinHandle<()>> {
        if db.get_database_backend() != DatabaseBackend::Postgres {
            return None;
        }
        let (pool, hub) = (db.get_postgres_connection_pool().clone(), self.clone());
        Some(tokio::spawn(async move {
            loop {
                match sea_orm::sqlx::postgres::PgListener::connect_with(&pool).await {
                    Ok(mut listener) => match listener.listen(PG_CHANNEL).await {
                        Ok(()) => {
                            while let Ok(notification) = listener.recv().await {
                                match serde_json::from_str::<Envelope>(notification.payload()) {
                                    Ok(envelope) if envelope.origin != hub.origin => {
                                        let _ = hub.sender.send(envelope.progress);
                                    }
                                    Ok(_) => {}
                                    Err(error) => tracing::warn!(%error, "import progress: bad NOTIFY payload"),
                                }
                            }
                        }
                        Err(error) => tracing::warn!(%error, "import progress: LISTEN failed"),
                    },
                    Err(error) => tracing::warn!(%error, "import progress: cannot open the LISTEN connection"),
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }))
    }
}

/// Decides when a new state is worth sending: after `every` or when `step` (a fraction of the
/// total) more has been done, whichever comes first, and only when something changed.
pub struct Throttle {
    every: Duration,
    step: f64,
    last_at: Instant,
    last_done: i64,
}

impl Throttle {
    pub fn new(every: Duration, step: f64) -> Throttle {
        Throttle { every, step, last_at: Instant::now(), last_done: 0 }
    }

    /// Subscribers: at least every 500 ms or 1%.
    pub fn subscribers() -> Throttle {
        Throttle::new(Duration::from_millis(500), 0.01)
    }

    /// Webhooks: at most every 5 s or 10%.
    pub fn webhooks() -> Throttle {
        Throttle::new(Duration::from_secs(5), 0.10)
    }

    pub fn due(&mut self, done: i64, total: i64) -> bool {
        let changed = done != self.last_done;
        let stepped = total > 0 && (done - self.last_done) as f64 >= self.step * total as f64;
        if changed && (stepped || self.last_at.elapsed() >= self.every) {
            self.last_at = Instant::now();
            self.last_done = done;
            return true;
        }
        false
    }
}

/// The states of job `first.job_id` from `first` on, ending after the final one. `receiver`
/// must have been subscribed before `first` was read, so nothing falls in between. When the
/// channel goes quiet or this subscriber falls behind, the job is read again from `db`: a lost
/// notification delays a state, never loses the end.
pub fn follow(
    db: DatabaseConnection,
    first: Progress,
    receiver: broadcast::Receiver<Progress>,
) -> impl Stream<Item = Progress> + Send {
    struct State {
        db: DatabaseConnection,
        receiver: broadcast::Receiver<Progress>,
        pending: Option<Progress>,
        last: Option<Progress>,
        done: bool,
    }
    let state = State { db, receiver, pending: Some(first), last: None, done: false };
    futures_util::stream::unfold(state, |mut state| async move {
        loop {
            if state.done {
                return None;
            }
            if let Some(next) = state.pending.take() {
                // Only what changed, and never a step back (a late NOTIFY after a newer state).
                let stale = state.last.as_ref().is_some_and(|last| last.is_final() || !next.is_ahead_of(last));
                if stale {
                    continue;
                }
                state.done = next.is_final();
                state.last = Some(next.clone());
                return Some((next, state));
            }
            let job_id = state.last.as_ref().map(|p| p.job_id)?;
            match tokio::time::timeout(Duration::from_secs(2), state.receiver.recv()).await {
                Ok(Ok(progress)) if progress.job_id == job_id => state.pending = Some(progress),
                Ok(Ok(_)) => {}
                Ok(Err(broadcast::error::RecvError::Closed)) => return None,
                Ok(Err(broadcast::error::RecvError::Lagged(_))) | Err(_) => {
                    match import_jobs::Entity::find_by_id(job_id).one(&state.db).await {
                        Ok(Some(job)) => state.pending = Some(Progress::of(&job)),
                        Ok(None) => return None,
                        Err(error) => tracing::warn!(%error, "import progress: cannot read the job"),
                    }
                }
            }
        }
    })
}

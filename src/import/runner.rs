//! Running jobs in the background, so that no job is lost: a job is leased to the process that
//! runs it (renewed while it runs); a server resumes jobs whose lease ran out (their process
//! died) at start-up and every `LEASE`. Each running job has a cancellation flag, checked
//! between batches.

use super::Imports;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tracing::Instrument;

use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, QuerySelect, Set};

use super::job::{announce_final, run, transition};
use super::progress::RUNNING;
use crate::db::import_jobs;
use crate::domain::{DomainError, DomainResult, ImportStatus};
use crate::types::ImportJobId;

/// The work goes on without the client: it is not tied to the request. The job is leased to
/// this process first (another process, or this one's sweep, may have taken it).
pub(super) fn spawn(svc: &Imports, job_id: ImportJobId) {
    let svc = svc.clone();
    // Everything the job logs, on any thread, names it (the span outlives the request).
    tokio::spawn(
        async move {
            match claim(&svc, job_id).await {
                Ok(true) => {}
                Ok(false) => return,
                Err(error) => return tracing::error!(%job_id, %error, "import: cannot lease the job"),
            }
            let cancelled = svc.running.register(job_id);
            let renewal = tokio::spawn(renew_lease(svc.clone(), job_id));
            if let Err(error) = run(&svc, job_id, &cancelled).await {
                tracing::error!(%job_id, %error, "import failed");
                let failure = match error {
                    DomainError::Conflict { message, .. } => format!("{message}; nothing was imported"),
                    _ => "The import failed; the cause has been logged".to_owned(),
                };
                let changes = import_jobs::ActiveModel { failure_message: Set(Some(failure)), ..Default::default() };
                let _ = transition(&svc, &svc.db, job_id, &RUNNING, ImportStatus::Failed, changes).await;
                let _ = announce_final(&svc, job_id).await;
            }
            renewal.abort();
            svc.running.unregister(job_id);
        }
        .instrument(tracing::info_span!("import", %job_id)),
    );
}

/// How long a job stays leased without renewal; renewed every third of it.
const LEASE: Duration = Duration::from_secs(30);

fn lease() -> chrono::Duration {
    #[allow(clippy::expect_used, reason = "LEASE is a constant of seconds")]
    chrono::Duration::from_std(LEASE).expect("a short duration")
}

fn lease_end(svc: &Imports) -> chrono::DateTime<chrono::Utc> {
    svc.clock.now() + lease()
}

/// Leases job `job_id` to this process when it is running and nobody holds it (never leased,
/// or the lease ran out: its process died).
async fn claim(svc: &Imports, job_id: ImportJobId) -> DomainResult<bool> {
    let now = svc.clock.now();
    let claimed = import_jobs::Entity::update_many()
        .col_expr(import_jobs::Column::LeaseUntil, Expr::value(Some(lease_end(svc))))
        .filter(import_jobs::Column::Id.eq(job_id))
        .filter(import_jobs::Column::Status.is_in(RUNNING))
        .filter(
            Condition::any()
                .add(import_jobs::Column::LeaseUntil.is_null())
                .add(import_jobs::Column::LeaseUntil.lt(now)),
        )
        .exec(&svc.db)
        .await?;
    Ok(claimed.rows_affected == 1)
}

async fn renew_lease(svc: Imports, job_id: ImportJobId) {
    loop {
        tokio::time::sleep(LEASE / 3).await;
        let renewed = import_jobs::Entity::update_many()
            .col_expr(import_jobs::Column::LeaseUntil, Expr::value(Some(lease_end(&svc))))
            .filter(import_jobs::Column::Id.eq(job_id))
            .exec(&svc.db)
            .await;
        if let Err(error) = renewed {
            tracing::warn!(%job_id, %error, "import: cannot renew the lease");
        }
    }
}

/// Resumes the jobs whose process died while running them (their lease ran out): validation
/// starts over, and a write starts again (its transaction died with the process). Run at
/// start-up and every `LEASE` by the server.
pub async fn resume_interrupted(svc: &Imports) -> DomainResult<usize> {
    let now = svc.clock.now();
    let interrupted: Vec<ImportJobId> = import_jobs::Entity::find()
        .select_only()
        .column(import_jobs::Column::Id)
        .filter(import_jobs::Column::Status.is_in(RUNNING))
        .filter(
            Condition::any().add(import_jobs::Column::LeaseUntil.lt(now)).add(
                // Never leased: its process died between storing the file and starting it.
                Condition::all()
                    .add(import_jobs::Column::LeaseUntil.is_null())
                    .add(import_jobs::Column::CreatedAt.lt(now - lease())),
            ),
        )
        .into_tuple()
        .all(&svc.db)
        .await?;
    for job_id in &interrupted {
        if !svc.running.is_running(*job_id) {
            tracing::info!(%job_id, "resuming an interrupted import");
            spawn(svc, *job_id);
        }
    }
    Ok(interrupted.len())
}

/// Every `LEASE`, until aborted: what `resume_interrupted` does, for a server.
pub async fn keep_resuming(svc: Imports) {
    loop {
        if let Err(error) = resume_interrupted(&svc).await {
            tracing::warn!(%error, "import: cannot look for interrupted jobs");
        }
        tokio::time::sleep(LEASE).await;
    }
}

/// The jobs this process is running, each with its cancellation flag (checked between batches),
/// and the gate every validation batch passes.
#[derive(Clone, Default)]
pub struct RunningImports {
    flags: Arc<Mutex<HashMap<ImportJobId, Arc<AtomicBool>>>>,
    gate: Arc<tokio::sync::RwLock<()>>,
}

impl RunningImports {
    fn register(&self, job_id: ImportJobId) -> Arc<AtomicBool> {
        self.flags.lock().unwrap_or_else(std::sync::PoisonError::into_inner).entry(job_id).or_default().clone()
    }

    fn is_running(&self, job_id: ImportJobId) -> bool {
        self.flags.lock().unwrap_or_else(std::sync::PoisonError::into_inner).contains_key(&job_id)
    }

    fn unregister(&self, job_id: ImportJobId) {
        self.flags.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(&job_id);
    }

    pub(super) fn cancel(&self, job_id: ImportJobId) {
        if let Some(flag) = self.flags.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(&job_id) {
            flag.store(true, Ordering::SeqCst);
        }
    }

    /// Holds every validation in this process after its current batch, until the guard is
    /// dropped: a test can then act on a job that is certainly still validating, whatever the
    /// machine's speed.
    pub async fn pause_validation(&self) -> tokio::sync::OwnedRwLockWriteGuard<()> {
        self.gate.clone().write_owned().await
    }

    /// Where a validation waits while paused (between batches, before the cancellation check).
    pub(super) async fn checkpoint(&self) {
        drop(self.gate.read().await);
    }
}

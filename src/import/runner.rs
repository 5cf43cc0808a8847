//! Running jobs in the background, so that no job is lost: a job is leased to the process that
//! runs it (`states::claim`, renewed while it runs); a server resumes jobs whose lease ran out
//! (their process died) at start-up and every `LEASE`. Each running job has a cancellation
//! flag, checked between batches.

use super::Imports;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tracing::Instrument;

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use super::check::{self, Checked};
use super::file;
use super::report::Reporter;
use super::states::{self, LEASE, Step, load};
use super::welcome;
use super::write::{self, Outcome};
use crate::db::import_row_issues;
use crate::domain::{DomainError, DomainResult, ImportStatus};
use crate::types::ImportJobId;

/// The work goes on without the client: it is not tied to the request. The job is leased to
/// this process first (another process, or this one's sweep, may have taken it).
pub(super) fn spawn(svc: &Imports, job_id: ImportJobId) {
    let svc = svc.clone();
    // Everything the job logs, on any thread, names it (the span outlives the request).
    tokio::spawn(
        async move {
            match states::claim(&svc, job_id).await {
                Ok(true) => {}
                Ok(false) => return,
                Err(error) => return tracing::error!(%job_id, %error, "import: cannot lease the job"),
            }
            let cancelled = svc.running.register(job_id);
            let renewal = tokio::spawn(states::keep_lease(svc.clone(), job_id));
            if let Err(error) = run(&svc, job_id, &cancelled).await {
                tracing::error!(%job_id, %error, "import failed");
                let failure = match error {
                    DomainError::Conflict { message, .. } => format!("{message}; nothing was imported"),
                    _ => "The import failed; the cause has been logged".to_owned(),
                };
                let _ = states::advance(&svc.db, svc.clock.now(), job_id, Step::Failed(failure)).await;
                if let Err(error) = write::discard(&svc, job_id).await {
                    // Hidden still; the next sweep (`resume_interrupted`) deletes them.
                    tracing::warn!(%job_id, %error, "import: cannot delete the rows of a failed write");
                }
                let _ = states::announce(&svc, job_id).await;
            }
            renewal.abort();
            svc.running.unregister(job_id);
        }
        .instrument(tracing::info_span!("import", %job_id)),
    );
}

/// A job's work, from wherever it stands: validation of the whole file (from the start, also
/// when resuming an interrupted one), then, unless it is a dry run or has errors, the
/// all-or-nothing write. A step refused means the job was cancelled meanwhile.
async fn run(svc: &Imports, job_id: ImportJobId, cancelled: &AtomicBool) -> DomainResult<()> {
    let job = load(svc, job_id).await?;
    if job.status == ImportStatus::Completed {
        return welcome_pass(svc, job_id).await; // written; its welcome emails still owed
    }
    if job.status == ImportStatus::Validating {
        import_row_issues::Entity::delete_many()
            .filter(import_row_issues::Column::JobId.eq(job_id))
            .exec(&svc.db)
            .await?;
        let mut reporter = Reporter::new(svc, &job);
        (reporter.progress.total_rows, reporter.progress.processed_rows, reporter.progress.error_count) = (0, 0, 0);
        let verdict = match check::run(svc, &job, &mut reporter, cancelled).await? {
            Checked::Cancelled => return states::close_cancelled(svc, job_id).await,
            Checked::Verdict(verdict) => verdict,
        };
        let step = Step::Validated { verdict: &verdict, dry_run: job.dry_run };
        let next = step.to();
        if !states::advance(&svc.db, svc.clock.now(), job_id, step).await? {
            return states::close_cancelled(svc, job_id).await;
        }
        match next {
            ImportStatus::FailedValidation => return states::announce_failed_validation(svc, job_id).await,
            ImportStatus::Importing => {}
            _ => return states::announce(svc, job_id).await,
        }
    }
    let job = load(svc, job_id).await?;
    if job.status != ImportStatus::Importing {
        return Ok(()); // cancelled meanwhile
    }
    let mut reporter = Reporter::new(svc, &job);
    if reporter.report().await? {
        return states::close_cancelled(svc, job_id).await;
    }
    match write::run(svc, &job, &mut reporter, cancelled).await? {
        Outcome::Done => {
            file::delete(&svc.db, job_id).await?;
            states::announce(svc, job_id).await?;
            welcome_pass(svc, job_id).await
        }
        Outcome::Cancelled => states::close_cancelled(svc, job_id).await,
        Outcome::Abandoned => Ok(()),
    }
}

/// The welcome emails of a COMPLETED job: a pass that stops (a shutdown, a database gone) is
/// not the import's failure, and nothing of the import is to undo. Its lease runs out, and a
/// server goes on after the last batch recorded.
async fn welcome_pass(svc: &Imports, job_id: ImportJobId) -> DomainResult<()> {
    if let Err(error) = welcome::run(svc, job_id).await {
        tracing::warn!(%job_id, %error, "import: the welcome emails stopped; a server resumes them after the last batch sent");
    }
    Ok(())
}

/// Resumes the jobs whose process died while running them (their lease ran out): validation
/// starts over, and a write goes on after the batches it committed. Deletes the hidden rows of
/// writes that ended without completing, when their process died before it could. Run at
/// start-up and every `LEASE` by the server.
pub async fn resume_interrupted(svc: &Imports) -> DomainResult<usize> {
    for job_id in states::abandoned_hidden(svc).await? {
        tracing::info!(%job_id, "deleting the hidden rows of an import that ended");
        write::discard(svc, job_id).await?;
    }
    let interrupted = states::unleased(svc).await?;
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
/// and the gates every validation batch and every write batch pass.
#[derive(Clone, Default)]
pub struct RunningImports {
    flags: Arc<Mutex<HashMap<ImportJobId, Arc<AtomicBool>>>>,
    gate: Arc<tokio::sync::RwLock<()>>,
    write_gate: Arc<tokio::sync::RwLock<()>>,
    /// Writes at `write_checkpoint` now (held there while a test pauses them).
    writes_at_checkpoint: Arc<AtomicUsize>,
    /// Writes stop at their next checkpoint as if their process had died (`simulate_crash`).
    crashing: Arc<AtomicBool>,
}

impl RunningImports {
    fn register(&self, job_id: ImportJobId) -> Arc<AtomicBool> {
        self.flags.lock().unwrap_or_else(std::sync::PoisonError::into_inner).entry(job_id).or_default().clone()
    }

    pub fn is_running(&self, job_id: ImportJobId) -> bool {
        self.flags.lock().unwrap_or_else(std::sync::PoisonError::into_inner).contains_key(&job_id)
    }

    fn unregister(&self, job_id: ImportJobId) {
        self.flags.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(&job_id);
    }

    /// Asks a job this process runs to stop at its next batch; true when this call is the one
    /// that asked (the job runs here and had not been asked yet).
    pub(super) fn cancel(&self, job_id: ImportJobId) -> bool {
        let flags = self.flags.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        flags.get(&job_id).is_some_and(|flag| !flag.swap(true, Ordering::SeqCst))
    }

    /// Whether a job this process runs has been asked to stop (for tests, which wait on it).
    pub fn cancel_requested(&self, job_id: ImportJobId) -> bool {
        let flags = self.flags.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        flags.get(&job_id).is_some_and(|flag| flag.load(Ordering::SeqCst))
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

    /// Holds every write in this process after its current batch (committed, hidden), until
    /// the guard is dropped: a test can then act while a write is certainly half done.
    pub async fn pause_write(&self) -> tokio::sync::OwnedRwLockWriteGuard<()> {
        self.write_gate.clone().write_owned().await
    }

    /// Where a write waits while paused (after a batch committed and its progress, before the
    /// cancellation check). True when the write is to stop there as if its process had died.
    pub(super) async fn write_checkpoint(&self) -> bool {
        self.writes_at_checkpoint.fetch_add(1, Ordering::SeqCst);
        drop(self.write_gate.read().await);
        self.writes_at_checkpoint.fetch_sub(1, Ordering::SeqCst);
        self.crashing.load(Ordering::SeqCst)
    }

    /// While `on`, every write in this process stops after its current batch without a word,
    /// its job left as a process that died would leave it (IMPORTING, leased until the lease
    /// runs out, its batches committed and hidden): a test can then check what a crash in the
    /// middle of a write leaves, and resume it.
    pub fn simulate_crash(&self, on: bool) {
        self.crashing.store(on, Ordering::SeqCst);
    }

    /// How many writes wait at their checkpoint (while `pause_write` holds them: a test knows
    /// a write is half done once this is above zero).
    pub fn writes_paused(&self) -> usize {
        self.writes_at_checkpoint.load(Ordering::SeqCst)
    }
}

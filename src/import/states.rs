//! An import job's states, the only ways between them, its lease, and what each change tells
//! the world. Nothing else in `import/` writes a job's status or lease.
//!
//! ```text
//! VALIDATING ─┬─ the file has errors ──> FAILED_VALIDATION
//!             ├─ clean, a dry run ─────> VALIDATED ── commit ──┐
//!             └─ clean ────────────────────────────────────────┴──> IMPORTING ── written ──> COMPLETED
//! VALIDATING, IMPORTING, VALIDATED ── cancel ──> CANCELLED
//! VALIDATING, IMPORTING ── an unexpected error ──> FAILED
//! ```
//!
//! The job row is the truth every server process shares. Each step is one UPDATE conditional
//! on the status it starts from, so a cancellation from any process is never overwritten, and
//! a step that finds the job elsewhere is refused (the caller then knows it was cancelled).
//! A running job is leased to the process that runs it; a lease that ran out means that
//! process died, and any server may take the job over (`claim`).

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect, Set};
use serde_json::json;

use super::file;
use super::progress::{Progress, RUNNING, is_final};
use super::{Imports, Options};
use crate::db::import_jobs;
use crate::domain::audit::AuditEvent;
use crate::domain::{DomainError, DomainResult, ImportStatus};
use crate::notify::Notification;
use crate::types::{AuditAction, CompanyId, EventType, ImportJobId, TargetKind, UserId};

/// What validation of the whole file concluded.
pub(super) struct Verdict {
    pub total_rows: i32,
    pub error_count: i32,
    /// Why the file as a whole could not be read, if it could not.
    pub file_error: Option<String>,
}

impl Verdict {
    pub fn clean(&self) -> bool {
        self.error_count == 0
    }
}

/// The sub-accounts a job limits its users to.
pub fn sub_accounts_of(job: &import_jobs::Model) -> Vec<crate::types::SubAccountId> {
    let ids: std::collections::BTreeSet<crate::types::SubAccountId> =
        job.sub_account_ids.split(',').filter_map(|id| id.parse().ok()).collect();
    ids.into_iter().collect()
}

/// A job's first state: VALIDATING, its file still to be stored.
pub(super) fn new_job(
    company_id: CompanyId,
    started_by: Option<UserId>,
    options: &Options,
    now: DateTime<Utc>,
) -> import_jobs::ActiveModel {
    // The column holds 400 characters; a longer name is only a label.
    let file_name = options.file_name.as_ref().map(|name| name.chars().take(400).collect::<String>());
    import_jobs::ActiveModel {
        id: Set(ImportJobId::new()),
        company_id: Set(company_id),
        started_by: Set(started_by),
        status: Set(ImportStatus::Validating),
        dry_run: Set(options.dry_run),
        send_welcome_emails: Set(options.send_welcome_emails),
        file_name: Set(file_name),
        file_size: Set(0),
        file_sha256: Set(None),
        total_rows: Set(0),
        processed_rows: Set(0),
        created_count: Set(0),
        error_count: Set(0),
        warning_count: Set(0),
        failure_message: Set(None),
        created_at: Set(now),
        started_at: Set(Some(now)),
        finished_at: Set(None),
        lease_until: Set(None),
        sub_account_ids: Set(options.sub_account_ids.iter().map(ToString::to_string).collect::<Vec<_>>().join(",")),
        welcomes_pending: Set(false),
        welcomed_through: Set(None),
    }
}

/// A move from one status to the next.
pub(super) enum Step<'a> {
    /// Validation of the whole file ended.
    Validated {
        verdict: &'a Verdict,
        dry_run: bool,
    },
    /// A validated dry run is to be written.
    Committed,
    /// Every row is written (taken inside the write's transaction); `welcomes`: the welcome
    /// emails are still to queue (`super::welcome`).
    Written {
        created: i32,
        total_rows: i32,
        welcomes: bool,
    },
    Cancelled,
    /// Something unexpected stopped the job; the message is what its owner is told.
    Failed(String),
}

impl Step<'_> {
    fn from(&self) -> &'static [ImportStatus] {
        use ImportStatus::*;
        match self {
            Step::Validated { .. } => &[Validating],
            Step::Committed => &[Validated],
            Step::Written { .. } => &[Importing],
            Step::Cancelled => &[Validating, Importing, Validated],
            Step::Failed(_) => &RUNNING,
        }
    }

    pub(super) fn to(&self) -> ImportStatus {
        match self {
            Step::Validated { verdict, .. } if !verdict.clean() => ImportStatus::FailedValidation,
            Step::Validated { dry_run: true, .. } => ImportStatus::Validated,
            Step::Validated { .. } | Step::Committed => ImportStatus::Importing,
            Step::Written { .. } => ImportStatus::Completed,
            Step::Cancelled => ImportStatus::Cancelled,
            Step::Failed(_) => ImportStatus::Failed,
        }
    }

    fn changes(&self) -> import_jobs::ActiveModel {
        let mut changes = import_jobs::ActiveModel::default();
        match self {
            Step::Validated { verdict, .. } => {
                changes.total_rows = Set(verdict.total_rows);
                changes.processed_rows = Set(verdict.total_rows);
                changes.error_count = Set(verdict.error_count);
                changes.failure_message = Set(verdict.file_error.clone());
            }
            Step::Committed => {
                changes.dry_run = Set(false);
                changes.lease_until = Set(None); // whoever runs it next claims it afresh
            }
            Step::Written { created, total_rows, welcomes } => {
                changes.created_count = Set(*created);
                changes.processed_rows = Set(*total_rows);
                changes.welcomes_pending = Set(*welcomes);
            }
            // Whatever the write had reached is deleted (`write::discard`), never shown.
            Step::Cancelled => changes.created_count = Set(0),
            Step::Failed(message) => {
                changes.created_count = Set(0);
                changes.failure_message = Set(Some(message.clone()));
            }
        }
        changes
    }
}

/// Takes `step` when the job is in a status it starts from; false when it was not (cancelled
/// or ended meanwhile, perhaps by another process). `db` is the pool, or the transaction the
/// step belongs to (then it happens only if that commits).
pub(super) async fn advance(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
    job_id: ImportJobId,
    step: Step<'_>,
) -> DomainResult<bool> {
    let to = step.to();
    let mut changes = step.changes();
    changes.status = Set(to);
    changes.finished_at = Set(is_final(to).then_some(now));
    if let Step::Written { .. } = step {
        // The lease is renewed as the write completes, so that no sweep takes the job (its
        // welcome emails) from this process, even if `keep_lease` could not renew it lately.
        changes.lease_until = Set(Some(now + lease()));
    }
    let updated = import_jobs::Entity::update_many()
        .set(changes)
        .filter(import_jobs::Column::Id.eq(job_id))
        .filter(import_jobs::Column::Status.is_in(step.from().iter().copied()))
        .exec(db)
        .await?;
    Ok(updated.rows_affected == 1)
}

/// Stores a running job's counters, only while it is still in the status they were counted in:
/// false when it left it (a cancellation, seen here when it came from another process).
pub(super) async fn save_progress(db: &impl ConnectionTrait, p: &Progress) -> DomainResult<bool> {
    let saved = import_jobs::Entity::update_many()
        .col_expr(import_jobs::Column::TotalRows, Expr::value(p.total_rows))
        .col_expr(import_jobs::Column::ProcessedRows, Expr::value(p.processed_rows))
        .col_expr(import_jobs::Column::ErrorCount, Expr::value(p.error_count))
        .col_expr(import_jobs::Column::CreatedCount, Expr::value(p.created_count))
        .filter(import_jobs::Column::Id.eq(p.job_id))
        .filter(import_jobs::Column::Status.eq(p.status))
        .exec(db)
        .await?;
    Ok(saved.rows_affected == 1)
}

pub async fn load(svc: &Imports, job_id: ImportJobId) -> DomainResult<import_jobs::Model> {
    import_jobs::Entity::find_by_id(job_id).one(&svc.db).await?.ok_or(DomainError::NotFound("import job"))
}

/// Tells subscribers (in every process) the job's state as stored: the last word of a job.
pub(super) async fn announce(svc: &Imports, job_id: ImportJobId) -> DomainResult<()> {
    let job = load(svc, job_id).await?;
    svc.progress.publish(&svc.db, Progress::of(&job)).await;
    Ok(())
}

/// After a cancellation took effect: nothing was written, and the file is no longer needed.
/// The job is marked CANCELLED here too (unless its canceller already did, or it ended): a
/// canceller in this process asks the job to stop before it changes the status (on SQLite the
/// write it stops holds the only writer), so the job may be the first to stop.
pub(super) async fn close_cancelled(svc: &Imports, job_id: ImportJobId) -> DomainResult<()> {
    advance(&svc.db, svc.clock.now(), job_id, Step::Cancelled).await?;
    file::delete(&svc.db, job_id).await?;
    announce(svc, job_id).await
}

/// `import.completed` and its audit event for a file with errors (nothing written); a written
/// import sends them from its own transaction.
pub(super) async fn announce_failed_validation(svc: &Imports, job_id: ImportJobId) -> DomainResult<()> {
    let job = load(svc, job_id).await?;
    let mut tx = svc.begin().await?;
    let notification = completed_notification(svc, &job, 0);
    tx.audit(
        AuditEvent::new(AuditAction::ImportFailedValidation, TargetKind::ImportJob, job.id)
            .company(Some(job.company_id))
            .actor(job.started_by)
            .after(notification.data.clone()),
    );
    tx.notify(notification).await?;
    tx.commit().await?;
    announce(svc, job_id).await
}

/// The `import.completed` webhook event of a job that wrote `created` users (none when the file
/// had errors).
pub(super) fn completed_notification(svc: &Imports, job: &import_jobs::Model, created: i64) -> Notification {
    let error_log_url = (job.error_count > 0).then(|| svc.link(&format!("imports/{}/errors.csv", job.id)));
    let status = if job.error_count > 0 { ImportStatus::FailedValidation } else { ImportStatus::Completed };
    Notification {
        company_id: Some(job.company_id),
        event_type: EventType::ImportCompleted,
        data: json!({
            "jobId": job.id,
            "status": status,
            "totalRows": job.total_rows,
            "createdCount": created,
            "errorCount": job.error_count,
            "errorLogUrl": error_log_url,
        }),
        email: None,
    }
}

/// How long a job stays leased without renewal; renewed every third of it.
pub const LEASE: std::time::Duration = std::time::Duration::from_secs(30);

fn lease() -> chrono::Duration {
    #[allow(clippy::expect_used, reason = "LEASE is a constant of seconds")]
    chrono::Duration::from_std(LEASE).expect("a short duration")
}

/// Jobs with work left for a server process: running, or COMPLETED with welcome emails still
/// to queue.
fn has_work() -> Condition {
    let welcoming = Condition::all()
        .add(import_jobs::Column::Status.eq(ImportStatus::Completed))
        .add(import_jobs::Column::WelcomesPending.eq(true));
    Condition::any().add(import_jobs::Column::Status.is_in(RUNNING)).add(welcoming)
}

/// Leases the job to this process when it has work left and nobody holds it (never leased, or the
/// lease ran out: its process died).
pub(super) async fn claim(svc: &Imports, job_id: ImportJobId) -> DomainResult<bool> {
    let now = svc.clock.now();
    let claimed = import_jobs::Entity::update_many()
        .col_expr(import_jobs::Column::LeaseUntil, Expr::value(Some(now + lease())))
        .filter(import_jobs::Column::Id.eq(job_id))
        .filter(has_work())
        .filter(nobody_holds(now))
        .exec(&svc.db)
        .await?;
    Ok(claimed.rows_affected == 1)
}

/// The job's lease is free: never taken, or run out (its process died).
fn nobody_holds(now: DateTime<Utc>) -> Condition {
    Condition::any().add(import_jobs::Column::LeaseUntil.is_null()).add(import_jobs::Column::LeaseUntil.lt(now))
}

/// Keeps the lease of a job this process runs, until aborted.
pub(super) async fn keep_lease(svc: Imports, job_id: ImportJobId) {
    loop {
        tokio::time::sleep(LEASE / 3).await;
        let renewed = import_jobs::Entity::update_many()
            .col_expr(import_jobs::Column::LeaseUntil, Expr::value(Some(svc.clock.now() + lease())))
            .filter(import_jobs::Column::Id.eq(job_id))
            .exec(&svc.db)
            .await;
        if let Err(error) = renewed {
            tracing::warn!(%job_id, %error, "import: cannot renew the lease");
        }
    }
}

/// Jobs whose write ended without completing (cancelled, failed) and whose hidden rows are still
/// there, their process gone (the lease ran out, or never was): `write::discard` is owed.
pub(super) async fn abandoned_hidden(svc: &Imports) -> DomainResult<Vec<ImportJobId>> {
    let jobs = import_jobs::Entity::find()
        .select_only()
        .column(import_jobs::Column::Id)
        .filter(import_jobs::Column::Id.in_subquery(crate::db::hidden_imports::job_ids()))
        .filter(import_jobs::Column::Status.is_in([ImportStatus::Cancelled, ImportStatus::Failed]))
        .filter(nobody_holds(svc.clock.now()))
        .into_tuple()
        .all(&svc.db)
        .await?;
    Ok(jobs)
}

/// Jobs with work left that nobody holds: their lease ran out, or they were stored and never leased (their
/// process died between storing the file and starting the job).
pub(super) async fn unleased(svc: &Imports) -> DomainResult<Vec<ImportJobId>> {
    let now = svc.clock.now();
    let jobs = import_jobs::Entity::find()
        .select_only()
        .column(import_jobs::Column::Id)
        .filter(has_work())
        .filter(
            Condition::any().add(import_jobs::Column::LeaseUntil.lt(now)).add(
                Condition::all()
                    .add(import_jobs::Column::LeaseUntil.is_null())
                    .add(import_jobs::Column::CreatedAt.lt(now - lease())),
            ),
        )
        .into_tuple()
        .all(&svc.db)
        .await?;
    Ok(jobs)
}

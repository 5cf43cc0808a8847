//! An import job's life: `start` stores the upload and returns the job at once; `run` works in
//! the background (validation of the whole file, then, unless it is a dry run or has errors,
//! the all-or-nothing write); `commit` writes a validated dry run; `cancel` stops a job and
//! rolls back what it wrote. The job row is the truth every server process shares: status
//! changes are conditional on the status expected, so a cancellation is never overwritten.

use super::Imports;
use std::sync::atomic::AtomicBool;

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QuerySelect, Set,
};
use serde_json::json;
use tokio::io::AsyncRead;

use super::check::{self, Checked};
use super::file;
use super::progress::{Progress, RUNNING, is_final};
use super::report::Reporter;
use super::runner::spawn;
use super::write;
use crate::db::{companies, import_jobs, import_row_issues};
use crate::domain::audit::AuditEvent;
use crate::domain::page::{Page, PageRequest, newest_first};
use crate::domain::principal::Principal;
use crate::domain::{DomainError, DomainResult, ImportStatus};
use crate::notify::Notification;
use crate::types::{AuditAction, TargetKind};
use crate::types::{CompanyId, ImportJobId, UserId};

/// What the uploader chose.
#[derive(Clone, Debug)]
pub struct Options {
    pub file_name: Option<String>,
    pub dry_run: bool,
    pub send_welcome_emails: bool,
}

/// Imports of one company that may run at once: each holds a file's rows in flight and, when
/// writing, a transaction; more is a mistake (a double click) or an abuse.
pub const MAX_RUNNING_PER_COMPANY: u64 = 3;

/// Stores the file and starts the job in the background; returns the job at once. A read
/// error on `content` (a client gone, a body over the limit) stores nothing.
pub async fn start(
    svc: &Imports,
    company_id: CompanyId,
    started_by: Option<UserId>,
    options: Options,
    content: impl AsyncRead + Unpin,
) -> DomainResult<import_jobs::Model> {
    let spooled = file::Spooled::receive(content).await.map_err(|error| {
        DomainError::invalid("file", format!("the upload did not complete ({error}); nothing was imported"))
    })?;
    let tx = svc.begin().await?;
    let now = tx.now();
    // Concurrent starts of one company wait here for each other (PostgreSQL locks the company
    // row; SQLite has one writer), so the count below includes every job they committed.
    companies::Entity::find_by_id(company_id).lock_exclusive().one(&tx).await?;
    let running = import_jobs::Entity::find()
        .filter(import_jobs::Column::CompanyId.eq(company_id))
        .filter(import_jobs::Column::Status.is_in(RUNNING))
        .count(&tx)
        .await?;
    if running >= MAX_RUNNING_PER_COMPANY {
        return Err(DomainError::Conflict {
            field: Some("file".into()),
            message: format!(
                "{running} imports of your company are running; start this one when one of them has finished"
            ),
        });
    }
    // The column holds 400 characters; a longer name is only a label.
    let file_name = options.file_name.map(|name| name.chars().take(400).collect::<String>());
    let job = import_jobs::ActiveModel {
        id: Set(crate::types::ImportJobId::new()),
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
    }
    .insert(&tx)
    .await?;
    let local = spooled.open().await.map_err(DomainError::internal)?;
    let stored = file::store(&tx, job.id, local).await?.map_err(DomainError::internal)?;
    let mut job: import_jobs::ActiveModel = job.into();
    job.file_size = Set(stored.size);
    job.file_sha256 = Set(Some(stored.sha256));
    let job = job.update(&tx).await?;
    tx.commit().await?;
    spawn(svc, job.id);
    Ok(job)
}

/// How a pass ended when nothing went wrong.
pub(super) enum Outcome {
    Done,
    Cancelled,
}

pub(super) async fn run(svc: &Imports, job_id: ImportJobId, cancelled: &AtomicBool) -> DomainResult<()> {
    let job = load(svc, job_id).await?;
    if job.status == ImportStatus::Validating {
        // From the start, also when resuming an interrupted validation.
        import_row_issues::Entity::delete_many()
            .filter(import_row_issues::Column::JobId.eq(job_id))
            .exec(&svc.db)
            .await?;
        let mut reporter = Reporter::new(svc, &job);
        (reporter.progress.total_rows, reporter.progress.processed_rows, reporter.progress.error_count) = (0, 0, 0);
        let verdict = match check::run(svc, &job, &mut reporter, cancelled).await? {
            Checked::Cancelled => return finish_cancelled(svc, job_id).await,
            Checked::Verdict(verdict) => verdict,
        };
        let next = match (verdict.clean(), job.dry_run) {
            (false, _) => ImportStatus::FailedValidation,
            (true, true) => ImportStatus::Validated,
            (true, false) => ImportStatus::Importing,
        };
        let changes = import_jobs::ActiveModel {
            total_rows: Set(verdict.total_rows),
            processed_rows: Set(verdict.total_rows),
            error_count: Set(verdict.error_count),
            failure_message: Set(verdict.file_error.clone()),
            ..Default::default()
        };
        if !transition(svc, &svc.db, job_id, &[ImportStatus::Validating], next, changes).await? {
            return finish_cancelled(svc, job_id).await;
        }
        if next != ImportStatus::Importing {
            let job = load(svc, job_id).await?;
            if next == ImportStatus::FailedValidation {
                completed_event(svc, &job).await?;
            }
            return announce_final(svc, job_id).await;
        }
    }
    let job = load(svc, job_id).await?;
    if job.status != ImportStatus::Importing {
        return Ok(()); // cancelled meanwhile
    }
    let mut reporter = Reporter::new(svc, &job);
    if reporter.report().await? {
        return finish_cancelled(svc, job_id).await;
    }
    match write::run(svc, &job, &mut reporter, cancelled).await? {
        Outcome::Done => {
            file::delete(&svc.db, job_id).await?;
            announce_final(svc, job_id).await
        }
        Outcome::Cancelled => finish_cancelled(svc, job_id).await,
    }
}

/// After a cancellation: nothing was written, and the file is no longer needed.
async fn finish_cancelled(svc: &Imports, job_id: ImportJobId) -> DomainResult<()> {
    import_jobs::Entity::update_many()
        .col_expr(import_jobs::Column::CreatedCount, Expr::value(0))
        .filter(import_jobs::Column::Id.eq(job_id))
        .exec(&svc.db)
        .await?;
    file::delete(&svc.db, job_id).await?;
    announce_final(svc, job_id).await
}

pub(super) async fn announce_final(svc: &Imports, job_id: ImportJobId) -> DomainResult<()> {
    let job = load(svc, job_id).await?;
    svc.progress.publish(&svc.db, Progress::of(&job)).await;
    Ok(())
}

/// `import.completed` for a job that ended without writing (a file with errors); a written
/// import sends it from its transaction.
async fn completed_event(svc: &Imports, job: &import_jobs::Model) -> DomainResult<()> {
    let mut tx = svc.begin().await?;
    let notification = completed_notification(svc, job, 0);
    tx.audit(
        AuditEvent::new(AuditAction::ImportFailedValidation, TargetKind::ImportJob, job.id)
            .company(Some(job.company_id))
            .actor(job.started_by)
            .after(notification.data.clone()),
    );
    tx.notify(notification).await?;
    tx.commit().await
}

pub(super) fn completed_notification(svc: &Imports, job: &import_jobs::Model, created: i64) -> Notification {
    let error_log_url = (job.error_count > 0).then(|| svc.link(&format!("imports/{}/errors.csv", job.id)));
    let status = if job.error_count > 0 { ImportStatus::FailedValidation } else { ImportStatus::Completed };
    Notification {
        company_id: Some(job.company_id),
        event_type: crate::types::EventType::ImportCompleted,
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

pub async fn load(svc: &Imports, job_id: ImportJobId) -> DomainResult<import_jobs::Model> {
    import_jobs::Entity::find_by_id(job_id).one(&svc.db).await?.ok_or(DomainError::NotFound("import job"))
}

/// Moves the job to `to`, with `changes`, if it is in one of `from`; false when it was not
/// (cancelled or ended meanwhile). Every status change goes through here, conditional on the
/// status expected, so that none overwrites another process's. `db` is the pool, or the
/// transaction the change belongs to.
pub(super) async fn transition(
    svc: &Imports,
    db: &impl ConnectionTrait,
    job_id: ImportJobId,
    from: &[ImportStatus],
    to: ImportStatus,
    mut changes: import_jobs::ActiveModel,
) -> DomainResult<bool> {
    changes.status = Set(to);
    if is_final(to) {
        changes.finished_at = Set(Some(svc.clock.now()));
    }
    let updated = import_jobs::Entity::update_many()
        .set(changes)
        .filter(import_jobs::Column::Id.eq(job_id))
        .filter(import_jobs::Column::Status.is_in(from.iter().copied()))
        .exec(db)
        .await?;
    Ok(updated.rows_affected == 1)
}

/// Writes a validated dry run, exactly as validated. Refused with CONFLICT when the portal
/// changed meanwhile in a way that breaks the file (an address taken, a manager gone).
pub async fn commit(svc: &Imports, principal: &Principal, id: ImportJobId) -> DomainResult<import_jobs::Model> {
    let job = get(svc, principal, id).await?;
    if job.status != ImportStatus::Validated {
        return Err(DomainError::Conflict {
            field: Some("id".into()),
            message: format!("only a validated dry run can be committed; this import is {:?}", job.status),
        });
    }
    let problems = check::recheck(svc, &job).await?;
    if !problems.is_empty() {
        let shown: Vec<String> = problems.iter().take(5).map(|i| format!("row {}: {}", i.row, i.message)).collect();
        return Err(DomainError::Conflict {
            field: Some("id".into()),
            message: format!(
                "the portal changed since the dry run ({} problem(s): {}); upload the file again",
                problems.len(),
                shown.join("; ")
            ),
        });
    }
    let changes = import_jobs::ActiveModel {
        dry_run: Set(false),
        finished_at: Set(None),
        lease_until: Set(None),
        ..Default::default()
    };
    if !transition(svc, &svc.db, id, &[ImportStatus::Validated], ImportStatus::Importing, changes).await? {
        return Err(DomainError::Conflict { field: Some("id".into()), message: "the import changed meanwhile".into() });
    }
    spawn(svc, id);
    load(svc, id).await
}

/// Stops a running job (rolling back what it wrote) or discards a validated dry run.
pub async fn cancel(svc: &Imports, principal: &Principal, id: ImportJobId) -> DomainResult<import_jobs::Model> {
    let job = get(svc, principal, id).await?;
    cancel_job(svc, job, Some(principal.user_id)).await
}

/// `cancel` for a job already authorized (or an operator at a terminal: `actor` None).
pub async fn cancel_job(
    svc: &Imports,
    job: import_jobs::Model,
    actor: Option<UserId>,
) -> DomainResult<import_jobs::Model> {
    let id = job.id;
    let open = [RUNNING[0], RUNNING[1], ImportStatus::Validated];
    if !transition(svc, &svc.db, id, &open, ImportStatus::Cancelled, Default::default()).await? {
        let job = load(svc, id).await?;
        return Err(DomainError::Conflict {
            field: Some("id".into()),
            message: format!("this import has already ended ({:?})", job.status),
        });
    }
    svc.running.cancel(id);
    let mut work = svc.begin().await?;
    work.audit(
        AuditEvent::new(AuditAction::ImportCancelled, TargetKind::ImportJob, id)
            .company(Some(job.company_id))
            .actor(actor)
            .after(json!({"status": ImportStatus::Cancelled, "was": job.status})),
    );
    work.commit().await?;
    if job.status == ImportStatus::Validated {
        file::delete(&svc.db, id).await?; // nothing runs it any more
        announce_final(svc, id).await?;
    }
    load(svc, id).await
}

pub async fn get(svc: &Imports, principal: &Principal, id: ImportJobId) -> DomainResult<import_jobs::Model> {
    import_jobs::Entity::find_by_id(id)
        .filter(import_jobs::Column::CompanyId.eq(principal.company()?))
        .one(&svc.db)
        .await?
        .ok_or(DomainError::NotFound("import job"))
}

pub async fn list(svc: &Imports, principal: &Principal, page: PageRequest) -> DomainResult<Page<import_jobs::Model>> {
    let query = import_jobs::Entity::find().filter(import_jobs::Column::CompanyId.eq(principal.company()?));
    newest_first(&svc.db, query, import_jobs::Column::Id, page).await
}

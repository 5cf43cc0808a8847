//! An import job's life: `start` stores the upload and returns the job at once; `run` works in
//! the background (validation of the whole file, then, unless it is a dry run or has errors,
//! the all-or-nothing write); `commit` writes a validated dry run; `cancel` stops a job and
//! rolls back what it wrote. The job row is the truth every server process shares: status
//! changes are conditional on the status expected, so a cancellation is never overwritten.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use sea_orm::sea_query::Expr;
use std::time::Duration;

use sea_orm::{ActiveModelTrait, ColumnTrait, Condition, EntityTrait, QueryFilter, QuerySelect, Set};
use serde_json::json;
use tokio::io::AsyncRead;
use uuid::Uuid;

use super::check::{self, Checked};
use super::file;
use super::progress::{Progress, Throttle};
use super::write;
use crate::db::{import_jobs, import_row_issues};
use crate::domain::audit::AuditEvent;
use crate::domain::page::{Page, PageRequest, newest_first};
use crate::domain::principal::Principal;
use crate::domain::{DomainError, DomainResult, ImportStatus, Services};
use crate::notify::{self, Notification};

/// What the uploader chose.
#[derive(Clone, Debug)]
pub struct Options {
    pub file_name: Option<String>,
    pub dry_run: bool,
    pub send_welcome_emails: bool,
}

/// Stores the file and starts the job in the background; returns the job at once. A read
/// error on `content` (a client gone, a body over the limit) stores nothing.
pub async fn start(
    svc: &Services,
    company_id: Uuid,
    started_by: Option<Uuid>,
    options: Options,
    content: impl AsyncRead + Unpin,
) -> DomainResult<import_jobs::Model> {
    let now = svc.clock.now();
    let tx = svc.begin().await?;
    let job = import_jobs::ActiveModel {
        id: Set(Uuid::now_v7()),
        company_id: Set(company_id),
        started_by: Set(started_by),
        status: Set(ImportStatus::Validating),
        dry_run: Set(options.dry_run),
        send_welcome_emails: Set(options.send_welcome_emails),
        file_name: Set(options.file_name),
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
    let stored = file::store(&tx, job.id, content).await?.map_err(|error| {
        DomainError::invalid("file", format!("the upload did not complete ({error}); nothing was imported"))
    })?;
    let mut job: import_jobs::ActiveModel = job.into();
    job.file_size = Set(stored.size);
    job.file_sha256 = Set(Some(stored.sha256));
    let job = job.update(&tx).await?;
    svc.commit(tx).await?;
    spawn(svc, job.id);
    Ok(job)
}

/// The work goes on without the client: it is not tied to the request. The job is leased to
/// this process first (another process, or this one's sweep, may have taken it).
fn spawn(svc: &Services, job_id: Uuid) {
    let svc = svc.clone();
    tokio::spawn(async move {
        match claim(&svc, job_id).await {
            Ok(true) => {}
            Ok(false) => return,
            Err(error) => return tracing::error!(%job_id, %error, "import: cannot lease the job"),
        }
        let cancelled = svc.running_imports.register(job_id);
        let renewal = tokio::spawn(renew_lease(svc.clone(), job_id));
        if let Err(error) = run(&svc, job_id, &cancelled).await {
            tracing::error!(%job_id, %error, "import failed");
            let failure = match error {
                DomainError::Conflict { message, .. } => format!("{message}; nothing was imported"),
                _ => "The import failed; the cause has been logged".to_owned(),
            };
            let running = [ImportStatus::Validating, ImportStatus::Importing];
            let _ = set_status(&svc, job_id, &running, ImportStatus::Failed, Some(failure)).await;
            let _ = announce_final(&svc, job_id).await;
        }
        renewal.abort();
        svc.running_imports.unregister(job_id);
        // Free for whoever runs it next (`commitUserImport` runs a validated job again).
        let released = import_jobs::Entity::update_many()
            .col_expr(import_jobs::Column::LeaseUntil, Expr::value(None::<chrono::DateTime<chrono::Utc>>))
            .filter(import_jobs::Column::Id.eq(job_id))
            .exec(&svc.db)
            .await;
        if let Err(error) = released {
            tracing::warn!(%job_id, %error, "import: cannot release the lease");
        }
    });
}

/// How long a job stays leased without renewal; renewed every third of it.
const LEASE: Duration = Duration::from_secs(30);

fn lease_end(svc: &Services) -> chrono::DateTime<chrono::Utc> {
    svc.clock.now() + chrono::Duration::from_std(LEASE).expect("a short duration")
}

/// Leases job `job_id` to this process when it is running and nobody holds it (never leased,
/// or the lease ran out: its process died).
async fn claim(svc: &Services, job_id: Uuid) -> DomainResult<bool> {
    let now = svc.clock.now();
    let claimed = import_jobs::Entity::update_many()
        .col_expr(import_jobs::Column::LeaseUntil, Expr::value(Some(lease_end(svc))))
        .filter(import_jobs::Column::Id.eq(job_id))
        .filter(import_jobs::Column::Status.is_in([ImportStatus::Validating, ImportStatus::Importing]))
        .filter(
            Condition::any()
                .add(import_jobs::Column::LeaseUntil.is_null())
                .add(import_jobs::Column::LeaseUntil.lt(now)),
        )
        .exec(&svc.db)
        .await?;
    Ok(claimed.rows_affected == 1)
}

async fn renew_lease(svc: Services, job_id: Uuid) {
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
pub async fn resume_interrupted(svc: &Services) -> DomainResult<usize> {
    let now = svc.clock.now();
    let interrupted: Vec<Uuid> = import_jobs::Entity::find()
        .select_only()
        .column(import_jobs::Column::Id)
        .filter(import_jobs::Column::Status.is_in([ImportStatus::Validating, ImportStatus::Importing]))
        .filter(import_jobs::Column::LeaseUntil.lt(now))
        .into_tuple()
        .all(&svc.db)
        .await?;
    for job_id in &interrupted {
        if !svc.running_imports.is_running(*job_id) {
            tracing::info!(%job_id, "resuming an interrupted import");
            spawn(svc, *job_id);
        }
    }
    Ok(interrupted.len())
}

/// Every `LEASE`, until aborted: what `resume_interrupted` does, for a server.
pub async fn keep_resuming(svc: Services) {
    loop {
        if let Err(error) = resume_interrupted(&svc).await {
            tracing::warn!(%error, "import: cannot look for interrupted jobs");
        }
        tokio::time::sleep(LEASE).await;
    }
}

/// The jobs this process is running, each with its cancellation flag (checked between batches).
#[derive(Clone, Default)]
pub struct RunningImports(Arc<Mutex<HashMap<Uuid, Arc<AtomicBool>>>>);

impl RunningImports {
    fn register(&self, job_id: Uuid) -> Arc<AtomicBool> {
        self.0.lock().expect("not poisoned").entry(job_id).or_default().clone()
    }

    fn is_running(&self, job_id: Uuid) -> bool {
        self.0.lock().expect("not poisoned").contains_key(&job_id)
    }

    fn unregister(&self, job_id: Uuid) {
        self.0.lock().expect("not poisoned").remove(&job_id);
    }

    fn cancel(&self, job_id: Uuid) {
        if let Some(flag) = self.0.lock().expect("not poisoned").get(&job_id) {
            flag.store(true, Ordering::SeqCst);
        }
    }
}

/// How a pass ended when nothing went wrong.
pub(super) enum Outcome {
    Done,
    Cancelled,
}

async fn run(svc: &Services, job_id: Uuid, cancelled: &AtomicBool) -> DomainResult<()> {
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
        if !transition(svc, job_id, ImportStatus::Validating, next, changes).await? {
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
async fn finish_cancelled(svc: &Services, job_id: Uuid) -> DomainResult<()> {
    import_jobs::Entity::update_many()
        .col_expr(import_jobs::Column::CreatedCount, Expr::value(0))
        .filter(import_jobs::Column::Id.eq(job_id))
        .exec(&svc.db)
        .await?;
    file::delete(&svc.db, job_id).await?;
    announce_final(svc, job_id).await
}

async fn announce_final(svc: &Services, job_id: Uuid) -> DomainResult<()> {
    let job = load(svc, job_id).await?;
    svc.import_progress.publish(&svc.db, Progress::of(&job)).await;
    Ok(())
}

/// `import.completed` for a job that ended without writing (a file with errors); a written
/// import sends it from its transaction.
async fn completed_event(svc: &Services, job: &import_jobs::Model) -> DomainResult<()> {
    let tx = svc.begin().await?;
    let notification = completed_notification(svc, job, 0);
    AuditEvent::new("import.failed_validation", "import_job", job.id)
        .company(Some(job.company_id))
        .actor(job.started_by)
        .after(notification.data.clone())
        .record(&tx, svc.clock.now())
        .await?;
    notify::enqueue(&tx, svc.clock.now(), notification).await?;
    svc.commit(tx).await
}

pub(super) fn completed_notification(svc: &Services, job: &import_jobs::Model, created: i64) -> Notification {
    let error_log_url = (job.error_count > 0).then(|| svc.link(&format!("imports/{}/errors.csv", job.id)));
    let status = if job.error_count > 0 { ImportStatus::FailedValidation } else { ImportStatus::Completed };
    Notification {
        company_id: Some(job.company_id),
        event_type: "import.completed",
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

pub async fn load(svc: &Services, job_id: Uuid) -> DomainResult<import_jobs::Model> {
    import_jobs::Entity::find_by_id(job_id).one(&svc.db).await?.ok_or(DomainError::NotFound("import job"))
}

/// Moves the job from `from` to `to` with `changes`; false when it was not in `from` any more
/// (cancelled meanwhile).
pub(super) async fn transition(
    svc: &Services,
    job_id: Uuid,
    from: ImportStatus,
    to: ImportStatus,
    mut changes: import_jobs::ActiveModel,
) -> DomainResult<bool> {
    changes.status = Set(to);
    if super::progress::is_final(to) {
        changes.finished_at = Set(Some(svc.clock.now()));
    }
    let updated = import_jobs::Entity::update_many()
        .set(changes)
        .filter(import_jobs::Column::Id.eq(job_id))
        .filter(import_jobs::Column::Status.eq(from))
        .exec(&svc.db)
        .await?;
    Ok(updated.rows_affected == 1)
}

async fn set_status(
    svc: &Services,
    job_id: Uuid,
    from: &[ImportStatus],
    to: ImportStatus,
    failure: Option<String>,
) -> DomainResult<u64> {
    let updated = import_jobs::Entity::update_many()
        .col_expr(import_jobs::Column::Status, Expr::value(to))
        .col_expr(import_jobs::Column::FailureMessage, Expr::value(failure))
        .col_expr(import_jobs::Column::FinishedAt, Expr::value(Some(svc.clock.now())))
        .filter(import_jobs::Column::Id.eq(job_id))
        .filter(import_jobs::Column::Status.is_in(from.iter().copied()))
        .exec(&svc.db)
        .await?;
    Ok(updated.rows_affected)
}

/// Publishes a running job's state as it moves: to subscribers at least every 500 ms or 1%,
/// to webhooks (`import.progress`) at most every 5 s or 10%.
pub(super) struct Reporter {
    svc: Services,
    company_id: Uuid,
    pub progress: Progress,
    subscribers: Throttle,
    webhooks: Throttle,
    /// False while this process's only connection may be inside the write transaction
    /// (SQLite): then states go to this process's subscribers only.
    pub side_connection: bool,
}

impl Reporter {
    fn new(svc: &Services, job: &import_jobs::Model) -> Reporter {
        Reporter {
            svc: svc.clone(),
            company_id: job.company_id,
            progress: Progress::of(job),
            subscribers: Throttle::subscribers(),
            webhooks: Throttle::webhooks(),
            side_connection: true,
        }
    }

    /// Rows done in the current phase: validated while validating, written while importing.
    fn done(&self) -> i64 {
        match self.progress.status {
            ImportStatus::Importing => self.progress.created_count.into(),
            _ => self.progress.processed_rows.into(),
        }
    }

    /// Called after each batch: sends what is due. Returns whether the job was cancelled
    /// (by another process: this one's cancellations are seen through the flag).
    pub async fn tick(&mut self) -> DomainResult<bool> {
        let (done, total) = (self.done(), self.progress.total_rows.into());
        if self.subscribers.due(done, total) {
            return self.report().await;
        }
        Ok(false)
    }

    /// Sends the current state now (a phase starts, or a tick is due).
    pub async fn report(&mut self) -> DomainResult<bool> {
        let (done, total) = (self.done(), self.progress.total_rows.into());
        let hub = self.svc.import_progress.clone();
        if !self.side_connection {
            hub.publish_here(self.progress.clone());
            return Ok(false);
        }
        let p = &self.progress;
        let saved = import_jobs::Entity::update_many()
            .col_expr(import_jobs::Column::TotalRows, Expr::value(p.total_rows))
            .col_expr(import_jobs::Column::ProcessedRows, Expr::value(p.processed_rows))
            .col_expr(import_jobs::Column::ErrorCount, Expr::value(p.error_count))
            .col_expr(import_jobs::Column::CreatedCount, Expr::value(p.created_count))
            .filter(import_jobs::Column::Id.eq(p.job_id))
            .filter(import_jobs::Column::Status.eq(p.status))
            .exec(&self.svc.db)
            .await?;
        if saved.rows_affected == 0 {
            return Ok(true);
        }
        hub.publish(&self.svc.db, self.progress.clone()).await;
        if self.webhooks.due(done, total) {
            let data = serde_json::to_value(&self.progress).map_err(DomainError::internal)?;
            let event =
                Notification { company_id: Some(self.company_id), event_type: "import.progress", data, email: None };
            let tx = self.svc.begin().await?;
            notify::enqueue(&tx, self.svc.clock.now(), event).await?;
            self.svc.commit(tx).await?;
        }
        Ok(false)
    }
}

/// Writes a validated dry run, exactly as validated. Refused with CONFLICT when the portal
/// changed meanwhile in a way that breaks the file (an address taken, a manager gone).
pub async fn commit(svc: &Services, principal: &Principal, id: Uuid) -> DomainResult<import_jobs::Model> {
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
    if !transition(svc, id, ImportStatus::Validated, ImportStatus::Importing, changes).await? {
        return Err(DomainError::Conflict { field: Some("id".into()), message: "the import changed meanwhile".into() });
    }
    spawn(svc, id);
    load(svc, id).await
}

/// Stops a running job (rolling back what it wrote) or discards a validated dry run.
pub async fn cancel(svc: &Services, principal: &Principal, id: Uuid) -> DomainResult<import_jobs::Model> {
    let job = get(svc, principal, id).await?;
    let open = [ImportStatus::Validating, ImportStatus::Importing, ImportStatus::Validated];
    if set_status(svc, id, &open, ImportStatus::Cancelled, None).await? == 0 {
        let job = load(svc, id).await?;
        return Err(DomainError::Conflict {
            field: Some("id".into()),
            message: format!("this import has already ended ({:?})", job.status),
        });
    }
    svc.running_imports.cancel(id);
    AuditEvent::new("import.cancelled", "import_job", id)
        .company(Some(job.company_id))
        .actor(Some(principal.user_id))
        .after(json!({"status": ImportStatus::Cancelled, "was": job.status}))
        .record(&svc.db, svc.clock.now())
        .await?;
    if job.status == ImportStatus::Validated {
        file::delete(&svc.db, id).await?; // nothing runs it any more
        announce_final(svc, id).await?;
    }
    load(svc, id).await
}

pub async fn get(svc: &Services, principal: &Principal, id: Uuid) -> DomainResult<import_jobs::Model> {
    import_jobs::Entity::find_by_id(id)
        .filter(import_jobs::Column::CompanyId.eq(principal.company()?))
        .one(&svc.db)
        .await?
        .ok_or(DomainError::NotFound("import job"))
}

pub async fn list(svc: &Services, principal: &Principal, page: PageRequest) -> DomainResult<Page<import_jobs::Model>> {
    let query = import_jobs::Entity::find().filter(import_jobs::Column::CompanyId.eq(principal.company()?));
    newest_first(&svc.db, query, import_jobs::Column::Id, page).await
}

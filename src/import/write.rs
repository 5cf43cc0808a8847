//! The all-or-nothing write of a validated file, in short transactions: each batch of users
//! (`db::bulk`) commits on its own, while the job is listed in `hidden_imports`, so that nobody
//! reads them (`db::users::find`); the last transaction takes the job to COMPLETED and takes it
//! off that list, which shows every user of the file at once. So a long import never holds the
//! database's only writer (SQLite) for more than a batch: sign-ins and every other write go on
//! meanwhile, and the job's progress is stored as it goes.
//!
//! A job cancelled or failed deletes the rows it wrote (`discard`), still hidden, then leaves
//! the list. A process that dies mid-write leaves its batches hidden; whoever resumes the job
//! (`runner`) writes only the rows after them. The welcome emails are queued after the write
//! (`super::welcome`), each user marked with the job so that pass can find them.

use super::Imports;
use std::sync::atomic::{AtomicBool, Ordering};

use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseBackend, EntityTrait, PaginatorTrait, QueryFilter, QuerySelect, QueryTrait,
};
use serde_json::json;
use tokio::sync::mpsc;

use super::check::{Parsed, parse_file};
use super::file;
use super::report::Reporter;
use super::states::{self, Step, completed_notification};
use super::validate::{InvalidRow, ValidRow};
use crate::db::{bulk, hidden_imports, import_jobs, user_sub_accounts, users};
use crate::domain::audit::AuditEvent;
use crate::domain::{DomainError, DomainResult};
use crate::types::{AuditAction, TargetKind};
use crate::types::{ImportJobId, SubAccountId, UserId};
use sea_orm::Set;

/// How the write ended when nothing went wrong.
pub(super) enum Outcome {
    Done,
    Cancelled,
    /// Stopped where it stood, as if its process had died (a test's `simulate_crash`).
    Abandoned,
}

pub(super) async fn run(
    svc: &Imports,
    job: &import_jobs::Model,
    reporter: &mut Reporter,
    cancelled: &AtomicBool,
) -> DomainResult<Outcome> {
    // A sub-account named at the start and deleted since: refuse rather than create people
    // without the limit (who would then see the whole company). Once a batch is in, the
    // sub-account has members and cannot be deleted.
    let limits = states::sub_accounts_of(job);
    let still_there = crate::domain::permissions::check_sub_accounts(&svc.db, job.company_id, &limits).await;
    if still_there.is_err() {
        return Err(DomainError::Conflict {
            field: Some("subAccountIds".into()),
            message: "a sub-account this import limits its users to no longer exists".into(),
        });
    }
    hide(svc, job.id).await?;
    // What an earlier run of this job committed before its process died: whole batches, in the
    // file's order, so the first `written` rows of the file are in.
    let written = written_by(&svc.db, job.id).await?;
    let parsed = parse_file(None, file::open(svc.reads.clone(), job.id));
    let mut prepared = prepare(svc, job, limits, parsed, written);
    let mut created = written as i64;
    while let Some(batch) = prepared.recv().await {
        let batch = batch?;
        batch.load.commit(&svc.db).await.map_err(taken_meanwhile)?;
        created += batch.users as i64;
        reporter.progress.created_count = created as i32;
        let stopped = reporter.tick().await?;
        if svc.running.write_checkpoint().await {
            return Ok(Outcome::Abandoned);
        }
        if stopped || cancelled.load(Ordering::SeqCst) {
            discard(svc, job.id).await?;
            return Ok(Outcome::Cancelled);
        }
    }
    finish(svc, job, created).await
}

/// A unique index refused a row: someone took one of the file's addresses after validation.
fn taken_meanwhile(error: sea_orm::DbErr) -> DomainError {
    match DomainError::from(error) {
        DomainError::Conflict { .. } => DomainError::Conflict {
            field: Some("file".into()),
            message: "an address in the file was given to someone else after the file was checked".into(),
        },
        other => other,
    }
}

/// Lists the job in `hidden_imports` (already there when resuming).
async fn hide(svc: &Imports, job_id: ImportJobId) -> DomainResult<()> {
    let listed = hidden_imports::Entity::find_by_id(job_id).one(&svc.db).await?;
    if listed.is_none() {
        let row = hidden_imports::ActiveModel { job_id: Set(job_id) };
        hidden_imports::Entity::insert(row).exec_without_returning(&svc.db).await?;
    }
    Ok(())
}

async fn written_by(db: &impl ConnectionTrait, job_id: ImportJobId) -> DomainResult<usize> {
    let count = users::find_including_hidden().filter(users::Column::ImportJobId.eq(job_id)).count(db).await?;
    Ok(count as usize)
}

/// Deletes what a job that will not complete wrote, while it is still hidden, a batch of users
/// at a time (their sub-account limits go with them), then takes the job off the hidden list.
/// Nothing when the job was shown (it completed).
pub(super) async fn discard(svc: &Imports, job_id: ImportJobId) -> DomainResult<()> {
    if hidden_imports::Entity::find_by_id(job_id).one(&svc.db).await?.is_none() {
        return Ok(());
    }
    loop {
        let some = users::find_including_hidden()
            .select_only()
            .column(users::Column::Id)
            .filter(users::Column::ImportJobId.eq(job_id))
            .limit(super::check::BATCH as u64)
            .into_query();
        let deleted = users::Entity::delete_many().filter(users::Column::Id.in_subquery(some)).exec(&svc.db).await?;
        if deleted.rows_affected == 0 {
            break;
        }
    }
    hidden_imports::Entity::delete_by_id(job_id).exec(&svc.db).await?;
    Ok(())
}

/// The write's last transaction: the audit event, `import.completed`, the step to COMPLETED
/// (refused if another process cancelled: then the rows are discarded), and the job off the
/// hidden list: everyone of the file shows at once.
async fn finish(svc: &Imports, job: &import_jobs::Model, created: i64) -> DomainResult<Outcome> {
    let mut tx = svc.begin().await?;
    let counts = json!({"jobId": job.id, "totalRows": job.total_rows, "created": created, "fileName": job.file_name});
    tx.audit(
        AuditEvent::new(AuditAction::ImportCompleted, TargetKind::ImportJob, job.id)
            .company(Some(job.company_id))
            .actor(job.started_by)
            .after(counts),
    );
    tx.notify(completed_notification(svc, job, created)).await?;
    let welcomes = job.send_welcome_emails && created > 0;
    let written = Step::Written { created: created as i32, total_rows: job.total_rows, welcomes };
    // The clock now, not the transaction's start: the lease this step renews runs from here.
    if !states::advance(&tx, svc.clock.now(), job.id, written).await? {
        tx.rollback().await?;
        discard(svc, job.id).await?;
        return Ok(Outcome::Cancelled);
    }
    hidden_imports::Entity::delete_by_id(job.id).exec(&tx).await?;
    tx.commit().await?;
    Ok(Outcome::Done)
}

/// A batch ready to write, and how many users it creates.
struct Prepared {
    users: usize,
    load: bulk::Load,
}

/// Turns the parser's batches into loads (`COPY` data, or statements) on a blocking thread of
/// its own, so that the next batch is built while the database writes this one (building was a
/// third of the write's time on SQLite, and the connection waited for it).
fn prepare(
    svc: &Imports,
    job: &import_jobs::Model,
    limits: Vec<SubAccountId>,
    mut parsed: mpsc::Receiver<Parsed>,
    mut skip: usize,
) -> mpsc::Receiver<DomainResult<Prepared>> {
    let (sender, receiver) = mpsc::channel(2);
    let (clock, backend, job) = (svc.clock.clone(), svc.db.get_database_backend(), job.clone());
    let span = tracing::Span::current();
    tokio::task::spawn_blocking(move || {
        let _entered = span.enter();
        while let Some(message) = parsed.blocking_recv() {
            let batch = match message {
                Parsed::Total(_) => continue,
                Parsed::Batch(mut batch) => {
                    let written = skip.min(batch.len());
                    skip -= written;
                    if written == batch.len() {
                        continue; // written by an earlier run of the job
                    }
                    statements(backend, &job, &limits, clock.now(), batch.split_off(written))
                }
                Parsed::Failed(error) => {
                    Err(DomainError::internal(anyhow::anyhow!("a validated file no longer reads: {error}")))
                }
            };
            let failed = batch.is_err();
            if sender.blocking_send(batch).is_err() || failed {
                return; // the write stopped (cancelled, or failed), or this batch failed it
            }
        }
    });
    receiver
}

/// One batch: the users, each marked with the job, and their sub-accounts.
fn statements(
    backend: DatabaseBackend,
    job: &import_jobs::Model,
    limits: &[SubAccountId],
    now: DateTime<Utc>,
    batch: Vec<Result<ValidRow, InvalidRow>>,
) -> DomainResult<Prepared> {
    let mut new_users = Vec::with_capacity(batch.len());
    let mut limited = Vec::with_capacity(batch.len() * limits.len());
    for row in batch {
        let row = row.map_err(|_| DomainError::internal(anyhow::anyhow!("a validated row no longer passes")))?;
        let mut user = row.person.new_user(job.company_id, now);
        user.import_job_id = Set(Some(job.id));
        let user_id: UserId = *user.id.as_ref();
        limited.extend(limits.iter().map(|sub_account| user_sub_accounts::ActiveModel {
            user_id: Set(user_id),
            sub_account_id: Set(*sub_account),
        }));
        new_users.push(user);
    }
    let users = new_users.len();
    let mut load = bulk::Load::new(backend);
    load.add(new_users)?;
    load.add(limited)?;
    Ok(Prepared { users, load })
}

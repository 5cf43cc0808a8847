//! The all-or-nothing write of a validated file: every row in one transaction, in batches
//! (`db::bulk`); the welcome emails are queued after it commits (`super::welcome`), each user
//! marked with the job so that pass can find them. The file is read
//! again from its stored chunks, through the transaction itself: on SQLite the transaction
//! holds the only connection.

use super::Imports;
use std::sync::atomic::{AtomicBool, Ordering};

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DatabaseBackend, Statement};
use serde_json::json;
use tokio::sync::mpsc;

use super::check::{Parsed, parse_file};
use super::file;
use super::report::Reporter;
use super::states::{self, Step, completed_notification};
use super::validate::{InvalidRow, ValidRow};
use crate::db::{bulk, import_jobs, user_sub_accounts, users};
use crate::domain::audit::AuditEvent;
use crate::domain::{DomainError, DomainResult, UnitOfWork};
use crate::types::{AuditAction, TargetKind};
use crate::types::{SubAccountId, UserId};
use sea_orm::Set;

/// How the write ended when nothing went wrong.
pub(super) enum Outcome {
    Done,
    Cancelled,
}

pub(super) async fn run(
    svc: &Imports,
    job: &import_jobs::Model,
    reporter: &mut Reporter,
    cancelled: &AtomicBool,
) -> DomainResult<Outcome> {
    // On SQLite the transaction below takes the only connection: progress then goes to this
    // process's subscribers only, and the job row is updated at the end.
    reporter.side_connection = svc.db.get_database_backend() == DatabaseBackend::Postgres;
    let tx = svc.begin().await?;
    // A sub-account named at the start and deleted since: refuse rather than create people
    // without the limit (who would then see the whole company).
    let limits = states::sub_accounts_of(job);
    let still_there = crate::domain::permissions::check_sub_accounts(&tx, job.company_id, &limits).await;
    if still_there.is_err() {
        return Err(DomainError::Conflict {
            field: Some("subAccountIds".into()),
            message: "a sub-account this import limits its users to no longer exists".into(),
        });
    }
    let (feed, reading) = file::channel();
    let mut feed = Some(feed);
    let parsed = parse_file(None, reading);
    let mut prepared = prepare(svc, job, limits, parsed);
    let mut seq = 0;
    let mut created: i64 = 0;
    // The parser (a blocking thread) asks for chunks and hands back checked batches, which
    // `prepare` (another) turns into statements; this one loop serves both ends, so that every
    // statement goes through the transaction. Batches first (`biased`): the parser stays at
    // most a few chunks ahead.
    loop {
        let feeder = feed.clone();
        tokio::select! {
            biased;
            message = prepared.recv() => match message {
                None => break,
                Some(batch) => {
                    let batch = batch?;
                    for statement in batch.statements {
                        tx.execute_raw(statement).await?;
                    }
                    created += batch.users as i64;
                    reporter.progress.created_count = created as i32;
                    let stopped = reporter.tick().await?;
                    svc.running.write_checkpoint().await;
                    if stopped || cancelled.load(Ordering::SeqCst) {
                        tx.rollback().await?;
                        return Ok(Outcome::Cancelled);
                    }
                }
            },
            // The parser wants the next chunk: load it through the transaction.
            permit = async move { feeder?.reserve_owned().await.ok() }, if feed.is_some() => {
                let Some(permit) = permit else { feed = None; continue };
                match file::chunk(&tx, job.id, seq).await? {
                    Some(data) => drop(permit.send(Ok(data))),
                    None => feed = None, // the end of the file: the parser sees it once `permit` is gone too
                }
                seq += 1;
            }
        }
    }
    finish(svc, tx, job, created).await
}

/// The write's last statements, in its transaction: the audit event, `import.completed`, and
/// the step to COMPLETED (refused, and everything rolled back, if another process cancelled).
async fn finish(
    svc: &Imports,
    mut tx: UnitOfWork<'_>,
    job: &import_jobs::Model,
    created: i64,
) -> DomainResult<Outcome> {
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
        return Ok(Outcome::Cancelled);
    }
    tx.commit().await?;
    Ok(Outcome::Done)
}

/// A batch ready to run: its statements in order, and how many users they create.
struct Prepared {
    users: usize,
    statements: Vec<Statement>,
}

/// Turns the parser's batches into statements on a blocking thread of its own, so that the
/// next batch is built while the database runs this one (building was a third of the write's
/// time on SQLite, and the connection waited for it).
fn prepare(
    svc: &Imports,
    job: &import_jobs::Model,
    limits: Vec<SubAccountId>,
    mut parsed: mpsc::Receiver<Parsed>,
) -> mpsc::Receiver<DomainResult<Prepared>> {
    let (sender, receiver) = mpsc::channel(2);
    let (clock, backend, job) = (svc.clock.clone(), svc.db.get_database_backend(), job.clone());
    let span = tracing::Span::current();
    tokio::task::spawn_blocking(move || {
        let _entered = span.enter();
        while let Some(message) = parsed.blocking_recv() {
            let batch = match message {
                Parsed::Total(_) => continue,
                Parsed::Batch(batch) => statements(backend, &job, &limits, clock.now(), batch),
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
    let mut statements = bulk::statements::<users::ActiveModel>(backend, new_users)?;
    statements.extend(bulk::statements(backend, limited)?);
    Ok(Prepared { users, statements })
}

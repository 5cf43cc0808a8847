//! The welcome emails of a written import, sent after its write by the process that ran it:
//! 2,000 users at a time, each batch's emails handed to the transport at once
//! (`notify::direct`) and recorded afterwards, with the mark of the last user covered, in one
//! short transaction, while the next batch is sent. They are not queued first: three outbox
//! rows a user, written before the first email left, took longer than the import (4.4x a
//! `COPY` of the users, 200,000 rows), and a million queued welcomes stood in front of every
//! password reset.
//!
//! The job, COMPLETED with `welcomes_pending`, keeps its lease while this runs; a process that
//! dies here leaves the lease to run out, and the server that resumes the job goes on after
//! `welcomed_through`. A batch's activation links are stored before its emails leave, so a
//! link in an email always works; a process that dies between sending a batch and recording it
//! (a server stopped meanwhile, too) has that batch, and the one sent while it was recorded,
//! sent again with new links: at least once, as the outbox worker, but up to 4,000 emails.
//! Only users still ACTIVE when their batch is read are welcomed: someone an administrator
//! deactivated or anonymized meanwhile gets nothing. When the transport fails, the rest of the
//! pass is queued to the outbox untried, where the worker retries it with its backoff.

use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde_json::json;

use super::Imports;
use crate::db::{bulk, companies, import_jobs, users};
use crate::domain::users::greeting_name;
use crate::domain::{DomainResult, welcome};
use crate::notify::direct::{Sent, TransportHealth};
use crate::notify::{self, Notification};
use crate::types::enums::UserStatus;
use crate::types::{EventType, ImportJobId, UserId};

/// Users per transaction: about as long a write as a batch of the import's own.
const BATCH: u64 = 2_000;

/// Sends the welcome emails the job still owes, batch after batch, until none is left.
pub(super) async fn run(svc: &Imports, job_id: ImportJobId) -> DomainResult<()> {
    let job = super::states::load(svc, job_id).await?;
    if !job.welcomes_pending {
        return Ok(());
    }
    let company = companies::Entity::find_by_id(job.company_id).one(&svc.db).await?;
    let company_name = company.map(|c| c.name).unwrap_or_default();
    let health = TransportHealth::default();
    let mut sent = send_batch(svc, &job, &company_name, job.welcomed_through, &health).await?;
    let mut batches = 0;
    while sent.more {
        // The next batch goes out while this one is recorded: the transport and the database
        // work at the same time.
        let after = sent.last;
        let (recorded, next) =
            tokio::join!(record(svc, &job, sent), send_batch(svc, &job, &company_name, after, &health));
        let (moved, next) = (recorded?, next?);
        if !moved {
            record(svc, &job, next).await?; // another process has the job now: what this one sent is kept
            return Ok(());
        }
        sent = next;
        batches += 1;
        if batches % REFRESH_EVERY == 1 {
            refresh_statistics(svc, job_id).await;
        }
    }
    record(svc, &job, sent).await?;
    refresh_statistics(svc, job_id).await;
    Ok(())
}

/// Batches between two refreshes of the outbox's statistics while the emails are recorded.
const REFRESH_EVERY: u64 = 50;

/// PostgreSQL's planner learns the deliveries table's new size now rather than at autovacuum's
/// next analyze (`notify::refresh_statistics`): a table it believes small is claimed from by
/// a scan of every row. A failure only costs claim speed until then: logged, not the job's
/// error.
async fn refresh_statistics(svc: &Imports, job_id: ImportJobId) {
    if let Err(error) = notify::refresh_statistics(&svc.db).await {
        tracing::warn!(%job_id, %error, "import: cannot refresh the outbox's statistics");
    }
}

/// A batch of users whose welcome emails are out, to record.
struct SentBatch {
    /// The mark before this batch.
    after: Option<UserId>,
    /// The last user it read (active or not).
    last: Option<UserId>,
    /// A full batch: more users may follow.
    more: bool,
    sent: Sent,
}

/// The next users of the job after `after`: their activation links stored, then a welcome
/// email sent to each active one.
async fn send_batch(
    svc: &Imports,
    job: &import_jobs::Model,
    company_name: &str,
    after: Option<UserId>,
    health: &TransportHealth,
) -> DomainResult<SentBatch> {
    let mut next = users::find().filter(users::Column::ImportJobId.eq(job.id));
    if let Some(after) = after {
        next = next.filter(users::Column::Id.gt(after));
    }
    // From a reader: on SQLite the writer is left to the records and to everyone else.
    let batch = users::read_all(next.order_by_asc(users::Column::Id).limit(BATCH), &svc.reads).await?;
    let now = svc.clock.now();
    let (mut tokens, mut emails) = (Vec::new(), Vec::new());
    for user in batch.iter().filter(|user| user.status == UserStatus::Active) {
        let greeting = greeting_name(user);
        let to = welcome::Addressee { email: &user.email, given_name: &greeting, locale: &user.locale };
        let (token, email) = welcome::with_activation_link(svc, user.id, &to, company_name, now);
        tokens.push(token);
        emails.push(Notification {
            company_id: Some(job.company_id),
            event_type: EventType::UserCreated,
            data: json!({"userId": user.id, "email": user.email.as_str(), "importJobId": job.id}),
            email: Some(email),
        });
    }
    let tx = svc.begin().await?;
    bulk::insert(&tx, tokens).await?;
    tx.commit().await?;
    let sent = svc.notifier.send_now(emails, health).await?;
    Ok(SentBatch { after, last: batch.last().map(|user| user.id), more: batch.len() as u64 == BATCH, sent })
}

/// The batch's emails recorded (event, delivery, attempt) and the job's mark moved past it, in
/// one transaction. False when the mark had moved meanwhile: the job is another process's now
/// (this one lost its lease in a long pause); what this one sent is recorded all the same.
async fn record(svc: &Imports, job: &import_jobs::Model, batch: SentBatch) -> DomainResult<bool> {
    let SentBatch { after, last, more, sent } = batch;
    let tx = svc.begin().await?;
    let mark = match after {
        Some(after) => import_jobs::Column::WelcomedThrough.eq(after),
        None => import_jobs::Column::WelcomedThrough.is_null(),
    };
    let moved = import_jobs::Entity::update_many()
        .col_expr(import_jobs::Column::WelcomedThrough, Expr::value(last.or(after)))
        .col_expr(import_jobs::Column::WelcomesPending, Expr::value(more))
        .filter(import_jobs::Column::Id.eq(job.id))
        .filter(import_jobs::Column::WelcomesPending.eq(true))
        .filter(mark)
        .exec(&tx)
        .await?;
    bulk::insert(&tx, sent.events).await?;
    bulk::insert(&tx, sent.deliveries).await?;
    bulk::insert(&tx, sent.attempts).await?;
    if sent.waiting > 0 {
        notify::announce(&tx).await?;
    }
    tx.commit().await?;
    Ok(moved.rows_affected == 1)
}

//! The welcome emails of a written import, queued after its write rather than inside it: the
//! write stays one users-only transaction (four rows per user made it 3.8x slower, and on
//! SQLite held the only writer that much longer), and each batch of emails here is a short
//! transaction of its own that other writes interleave with.
//!
//! The job, COMPLETED with `welcomes_pending`, keeps its lease while this runs; a process that
//! dies here leaves the lease to run out, and the server that resumes the job goes on after
//! `welcomed_through` (the batch and that mark commit together, so no email is queued twice
//! or skipped). Only users still ACTIVE when their batch is queued are welcomed: someone an
//! administrator deactivated or anonymized meanwhile gets nothing.

use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde_json::json;

use super::Imports;
use crate::db::{bulk, companies, import_jobs, users};
use crate::domain::users::greeting_name;
use crate::domain::{DomainResult, welcome};
use crate::notify::{self, Notification};
use crate::types::enums::UserStatus;
use crate::types::{EventType, ImportJobId, UserId};

/// Users per transaction: about as long a write as a batch of the import's own.
const BATCH: u64 = 2_000;

/// Queues the welcome emails the job still owes, batch after batch, until none is left.
pub(super) async fn run(svc: &Imports, job_id: ImportJobId) -> DomainResult<()> {
    let job = super::states::load(svc, job_id).await?;
    if !job.welcomes_pending {
        return Ok(());
    }
    let company = companies::Entity::find_by_id(job.company_id).one(&svc.db).await?;
    let company_name = company.map(|c| c.name).unwrap_or_default();
    let mut after = job.welcomed_through;
    let mut batches = 0;
    while let Some(last) = queue_batch(svc, &job, &company_name, after).await? {
        after = Some(last);
        batches += 1;
        if batches % REFRESH_EVERY == 1 {
            refresh_statistics(svc, job_id).await;
        }
    }
    refresh_statistics(svc, job_id).await;
    Ok(())
}

/// Batches between two refreshes of the outbox's statistics while the emails are queued.
const REFRESH_EVERY: u64 = 50;

/// PostgreSQL's planner learns the backlog's size now rather than at autovacuum's next analyze
/// (`notify::refresh_statistics`). A failure only costs claim speed until then: logged, not the
/// job's error.
async fn refresh_statistics(svc: &Imports, job_id: ImportJobId) {
    if let Err(error) = notify::refresh_statistics(&svc.db).await {
        tracing::warn!(%job_id, %error, "import: cannot refresh the outbox's statistics");
    }
}

/// One transaction: the next users of the job after `after`, a welcome email (and its 7-day
/// activation link) for each active one, and the mark. The last user it read, or None when
/// the job owes no more.
async fn queue_batch(
    svc: &Imports,
    job: &import_jobs::Model,
    company_name: &str,
    after: Option<UserId>,
) -> DomainResult<Option<UserId>> {
    let tx = svc.begin().await?;
    let mut next = users::find().filter(users::Column::ImportJobId.eq(job.id));
    if let Some(after) = after {
        next = next.filter(users::Column::Id.gt(after));
    }
    let batch = users::read_all(next.order_by_asc(users::Column::Id).limit(BATCH), &tx).await?;
    let now = tx.now();
    let (mut tokens, mut events, mut deliveries) = (Vec::new(), Vec::new(), Vec::new());
    for user in batch.iter().filter(|user| user.status == UserStatus::Active) {
        let greeting = greeting_name(user);
        let to = welcome::Addressee { email: &user.email, given_name: &greeting, locale: &user.locale };
        let (token, email) = welcome::with_activation_link(svc, user.id, &to, company_name, now);
        let notification = Notification {
            company_id: Some(job.company_id),
            event_type: EventType::UserCreated,
            data: json!({"userId": user.id, "email": user.email.as_str(), "importJobId": job.id}),
            email: Some(email),
        };
        let (event, delivery) = notify::event_row(&notification, now)?;
        tokens.push(token);
        events.push(event);
        deliveries.extend(delivery);
    }
    bulk::insert(&tx, tokens).await?;
    bulk::insert(&tx, events).await?;
    bulk::insert(&tx, deliveries).await?;
    notify::announce(&tx).await?;
    let last = batch.last().map(|user| user.id);
    let more = batch.len() as u64 == BATCH;
    // The mark moves only from where this batch started: a process that lost its lease (a long
    // pause) and queued the same batch as the one that took the job over finds it moved, and
    // rolls its batch back instead of sending those emails twice.
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
    if moved.rows_affected == 0 {
        tx.rollback().await?;
        return Ok(None); // another process has the job now
    }
    tx.commit().await?;
    Ok(if more { last } else { None })
}

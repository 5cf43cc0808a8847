//! The outbox worker: claims due deliveries under a lease, renders, hands each to its plugin,
//! records the attempt, and schedules retries.
//!
//! Claiming: on PostgreSQL, `SELECT … FOR UPDATE SKIP LOCKED` then a lease (`lease_until`,
//! `leased_by`), so several server processes share the work and each delivery goes to exactly
//! one; a process that dies holding a lease loses it when the lease expires. SQLite has a
//! single writer, so the same statements without the lock clause are enough there.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use rand::Rng;
use sea_orm::sea_query::{Expr, ExprTrait, LockBehavior, LockType};
use sea_orm::{
    ActiveEnum, ActiveModelTrait, ColumnTrait, Condition, DatabaseBackend, DatabaseConnection, EntityTrait,
    IntoActiveModel, QueryFilter, QueryOrder, QuerySelect, Select, Set, TransactionTrait,
};
use tokio::sync::{Notify, watch};
use uuid::Uuid;

use super::NotifyResult;
use super::plugin::{Outcome, Outgoing};
use super::registry::Registry;
use super::templates::Templates;
use super::{Payload, Template};
use crate::db::{deliveries, delivery_attempts, outbox_events};
use crate::types::DeliveryId;
use crate::types::clock::Clock;
use crate::types::enums::{AttemptOutcome, DeliveryStatus};

#[derive(Clone, Debug)]
pub struct RetryPolicy {
    /// Wait before the 2nd, 3rd, … attempt; after the last, the delivery is dead.
    pub backoff: Vec<Duration>,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        let minutes = |m: u64| Duration::from_secs(60 * m);
        RetryPolicy {
            backoff: vec![
                Duration::from_secs(5),
                Duration::from_secs(30),
                minutes(2),
                minutes(10),
                minutes(60),
                minutes(360),
            ],
        }
    }
}

impl RetryPolicy {
    /// After `attempts` failed attempts: when to try again (±20% jitter, so deliveries that
    /// failed together do not all retry in the same second), or None when it is over.
    fn next_delay(&self, attempts: usize) -> Option<Duration> {
        let base = self.backoff.get(attempts.checked_sub(1)?)?;
        let jitter = rand::rng().random_range(0.8..1.2);
        Some(base.mul_f64(jitter))
    }
}

#[derive(Clone)]
pub struct Worker {
    pub db: DatabaseConnection,
    pub registry: Registry,
    pub templates: Arc<Templates>,
    pub clock: Arc<dyn Clock>,
    pub wakeup: Arc<Notify>,
    pub retry: RetryPolicy,
    /// Names this process in `leased_by`.
    pub id: String,
    pub batch_size: u64,
    /// Batches in flight at once, so that one batch's database work (its claim, its record)
    /// overlaps another's deliveries instead of leaving the plugins idle.
    pub lanes: usize,
    /// Deliveries handled at the same time in each lane.
    pub concurrency: usize,
    pub lease: Duration,
    /// How often to look for due deliveries when nothing wakes the worker (retries, rows
    /// written by other processes).
    pub sweep_every: Duration,
}

impl Worker {
    pub fn new(
        db: DatabaseConnection,
        registry: Registry,
        templates: Arc<Templates>,
        clock: Arc<dyn Clock>,
        wakeup: Arc<Notify>,
    ) -> Self {
        Worker {
            db,
            registry,
            templates,
            clock,
            wakeup,
            retry: RetryPolicy::default(),
            id: format!("{}-{}", std::process::id(), &Uuid::new_v4().simple().to_string()[..8]),
            batch_size: 32,
            lanes: 2,
            concurrency: 4,
            lease: Duration::from_secs(120),
            sweep_every: Duration::from_secs(2),
        }
    }

    /// Works until `stop` turns true; the batch in hand is finished first.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let listener = (self.db.get_database_backend() == DatabaseBackend::Postgres)
            .then(|| tokio::spawn(listen_for_new_rows(self.db.clone(), self.wakeup.clone())));
        loop {
            if *stop.borrow() {
                if let Some(listener) = listener {
                    listener.abort();
                }
                return;
            }
            if let Err(error) = self.drain_until_empty().await {
                tracing::error!(error = %error, "outbox worker");
            }
            tokio::select! {
                () = self.wakeup.notified() => {}
                () = tokio::time::sleep(self.sweep_every) => {}
                changed = stop.changed() => if changed.is_err() {
                    if let Some(listener) = &listener {
                        listener.abort();
                    }
                    return;
                },
            }
        }
    }

    /// Drains until nothing is due, `lanes` batches at a time; returns how many were handled.
    pub async fn drain_until_empty(&self) -> NotifyResult<usize> {
        let lane = async || -> NotifyResult<usize> {
            let mut handled = 0;
            loop {
                let round = self.drain_once().await?;
                handled += round;
                // A short batch took all that was due: one more claim would find nothing.
                if round == 0 || (round as u64) < self.batch_size {
                    return Ok(handled);
                }
            }
        };
        let lanes = futures_util::future::join_all((0..self.lanes.max(1)).map(|_| lane())).await;
        lanes.into_iter().sum()
    }

    /// Claims one batch of due deliveries, hands them to their plugins, and records every
    /// outcome in one transaction; returns how many. The batch's events are read in one
    /// statement, and the delivered ones are marked in one: per delivery, only the attempt row
    /// (bulk) and, for a failure, its retry schedule are written. A process that dies between
    /// sending and recording leaves the batch leased; it is sent again when the lease expires
    /// (at least once, as before, for up to a batch instead of one).
    pub async fn drain_once(&self) -> NotifyResult<usize> {
        let claimed = self.claim().await?;
        let count = claimed.len();
        if count == 0 {
            return Ok(0);
        }
        let event_ids: std::collections::BTreeSet<_> = claimed.iter().map(|d| d.event_id).collect();
        let events: std::collections::HashMap<_, _> = outbox_events::Entity::find()
            .filter(outbox_events::Column::Id.is_in(event_ids))
            .all(&self.db)
            .await?
            .into_iter()
            .map(|event| (event.id, event))
            .collect();
        // Several at once: a slow webhook does not hold up the emails behind it, and SMTP
        // uses its connection pool (lettre 0.11.23 leaves Nagle on, ~40 ms a message on one
        // connection; see the README's benchmark notes).
        let attempts: Vec<Attempt> = futures_util::stream::iter(claimed)
            .map(|delivery| {
                let event = events.get(&delivery.event_id).cloned();
                self.attempt(delivery, event)
            })
            .buffer_unordered(self.concurrency)
            .collect()
            .await;
        self.record(attempts).await?;
        Ok(count)
    }

    async fn claim(&self) -> NotifyResult<Vec<deliveries::Model>> {
        // The selection and its lease in one transaction: on PostgreSQL the rows are locked
        // (others skip them), on SQLite the one writer serialises claims.
        let now = self.clock.now();
        let tx = self.db.begin().await?;
        let due = claimable(self.db.get_database_backend(), now, self.batch_size);
        let due = due.all(&tx).await?;
        if due.is_empty() {
            tx.commit().await?;
            return Ok(due);
        }
        let lease_until = now + self.lease;
        deliveries::Entity::update_many()
            .col_expr(deliveries::Column::LeaseUntil, Expr::value(lease_until))
            .col_expr(deliveries::Column::LeasedBy, Expr::value(self.id.clone()))
            .filter(deliveries::Column::Id.is_in(due.iter().map(|d| d.id)))
            .exec(&tx)
            .await?;
        tx.commit().await?;
        Ok(due)
    }

    /// One delivery handed to its plugin (rendered first, for an email).
    async fn attempt(&self, delivery: deliveries::Model, event: Option<outbox_events::Model>) -> Attempt {
        let started = Instant::now();
        let (plugin, outcome) = match &event {
            None => ("none", Outcome::Permanent(format!("outbox event {} is missing", delivery.event_id))),
            Some(event) => self.hand_over(&delivery, event).await,
        };
        Attempt { delivery, event, plugin, outcome, elapsed: started.elapsed() }
    }

    /// Renders `delivery` of `event` and hands it to its channel's plugin: which plugin, and
    /// what came of it.
    pub(super) async fn hand_over(
        &self,
        delivery: &deliveries::Model,
        event: &outbox_events::Model,
    ) -> (&'static str, Outcome) {
        match self.prepare(delivery, event) {
            Err(problem) => ("render", Outcome::Permanent(problem)),
            Ok(outgoing) => match self.registry.for_channel(outgoing.channel) {
                Some(plugin) => (plugin.name(), plugin.deliver(&outgoing).await),
                None => (
                    "none",
                    Outcome::Permanent(format!("no notifier plugin serves channel `{}`", delivery.channel.name())),
                ),
            },
        }
    }

    fn prepare(&self, delivery: &deliveries::Model, event: &outbox_events::Model) -> Result<Outgoing, String> {
        let payload: Payload =
            serde_json::from_value(event.payload.clone()).map_err(|e| format!("outbox payload: {e}"))?;
        let email = match (&delivery.template, &payload.email) {
            (Some(name), Some(email)) => {
                let template = Template::from_name(name).ok_or_else(|| format!("unknown template `{name}`"))?;
                Some(self.templates.render(template, &email.locale, &email.vars).map_err(|e| e.to_string())?)
            }
            _ => None,
        };
        Ok(Outgoing {
            delivery_id: delivery.id,
            event_id: event.id,
            event_type: event.event_type.clone(),
            occurred_at: event.created_at,
            channel: delivery.channel,
            recipient: delivery.recipient.clone(),
            data: payload.data,
            email,
        })
    }

    /// Every outcome of a batch, in one transaction.
    async fn record(&self, attempts: Vec<Attempt>) -> NotifyResult<()> {
        let now = self.clock.now();
        let tx = self.db.begin().await?;
        let mut rows = Vec::with_capacity(attempts.len());
        let mut delivered = Vec::new();
        let mut erase = std::collections::BTreeMap::new();
        for Attempt { delivery, event, plugin, outcome, elapsed } in attempts {
            let attempts = delivery.attempts + 1;
            let id = delivery.id;
            let Verdict { status, error, next_attempt_at } = self.judge(id, plugin, &outcome, attempts, now);
            rows.push(attempt_row(id, plugin, &outcome, elapsed, now));
            if status == DeliveryStatus::Delivered {
                delivered.push(id);
                if let Some(event) = event {
                    erase.insert(event.id, event);
                }
                continue;
            }
            // A failure: its own schedule (rare next to the deliveries).
            let mut active = delivery.into_active_model();
            active.status = Set(status);
            active.attempts = Set(attempts);
            active.last_error = Set(error);
            active.lease_until = Set(None);
            active.leased_by = Set(None);
            if let Some(next) = next_attempt_at {
                active.next_attempt_at = Set(next);
            }
            active.update(&tx).await?;
        }
        crate::db::bulk::insert(&tx, rows).await?;
        if !delivered.is_empty() {
            deliveries::Entity::update_many()
                .col_expr(deliveries::Column::Status, Expr::value(DeliveryStatus::Delivered.to_value()))
                .col_expr(deliveries::Column::Attempts, Expr::col(deliveries::Column::Attempts).add(1))
                .col_expr(deliveries::Column::LastError, Expr::value(None::<String>))
                .col_expr(deliveries::Column::LeaseUntil, Expr::value(None::<DateTime<Utc>>))
                .col_expr(deliveries::Column::LeasedBy, Expr::value(None::<String>))
                .col_expr(deliveries::Column::DeliveredAt, Expr::value(Some(now)))
                .filter(deliveries::Column::Id.is_in(delivered))
                .exec(&tx)
                .await?;
        }
        erase_email_variables(&tx, erase.into_values()).await?;
        tx.commit().await?;
        Ok(())
    }
}

impl Worker {
    /// What the `attempts`-th attempt's outcome makes of a delivery (logged when it failed).
    pub(super) fn judge(
        &self,
        id: DeliveryId,
        plugin: &str,
        outcome: &Outcome,
        attempts: i32,
        now: DateTime<Utc>,
    ) -> Verdict {
        let verdict = match outcome {
            Outcome::Delivered => Verdict { status: DeliveryStatus::Delivered, error: None, next_attempt_at: None },
            Outcome::Permanent(error) => {
                Verdict { status: DeliveryStatus::Dead, error: Some(error.clone()), next_attempt_at: None }
            }
            Outcome::Transient(error) => match self.retry.next_delay(attempts as usize) {
                Some(delay) => Verdict {
                    status: DeliveryStatus::Failed,
                    error: Some(error.clone()),
                    next_attempt_at: Some(now + delay),
                },
                None => Verdict { status: DeliveryStatus::Dead, error: Some(error.clone()), next_attempt_at: None },
            },
        };
        match &verdict.error {
            Some(error) => {
                tracing::warn!(delivery = %id, plugin, attempts, status = ?verdict.status, error, "notification not delivered")
            }
            None => tracing::debug!(delivery = %id, plugin, "notification delivered"),
        }
        verdict
    }
}

/// A delivery's state after an attempt.
pub(super) struct Verdict {
    pub status: DeliveryStatus,
    pub error: Option<String>,
    /// When to try again (a transient failure with retries left).
    pub next_attempt_at: Option<DateTime<Utc>>,
}

/// The record of one attempt.
pub(super) fn attempt_row(
    delivery_id: DeliveryId,
    plugin: &str,
    outcome: &Outcome,
    elapsed: Duration,
    now: DateTime<Utc>,
) -> delivery_attempts::ActiveModel {
    let (kind, error) = match outcome {
        Outcome::Delivered => (AttemptOutcome::Delivered, None),
        Outcome::Transient(error) => (AttemptOutcome::Transient, Some(error.clone())),
        Outcome::Permanent(error) => (AttemptOutcome::Permanent, Some(error.clone())),
    };
    delivery_attempts::ActiveModel {
        id: Set(Uuid::now_v7()),
        delivery_id: Set(delivery_id),
        plugin: Set(plugin.to_owned()),
        outcome: Set(kind),
        error: Set(error),
        duration_ms: Set(elapsed.as_millis().min(i32::MAX as u128) as i32),
        attempted_at: Set(now),
    }
}

/// One delivery's attempt, to be recorded with the rest of its batch.
struct Attempt {
    delivery: deliveries::Model,
    event: Option<outbox_events::Model>,
    plugin: &'static str,
    outcome: Outcome,
    elapsed: Duration,
}

/// PostgreSQL: rows queued by any process (`NOTIFY` in `enqueue`) wake this worker at once.
async fn listen_for_new_rows(db: DatabaseConnection, wakeup: Arc<Notify>) {
    let pool = db.get_postgres_connection_pool().clone();
    loop {
        match sea_orm::sqlx::postgres::PgListener::connect_with(&pool).await {
            Ok(mut listener) => {
                if let Err(error) = listener.listen(super::PG_CHANNEL).await {
                    tracing::warn!(%error, "outbox: LISTEN failed");
                } else {
                    while listener.recv().await.is_ok() {
                        wakeup.notify_one();
                    }
                }
            }
            Err(error) => tracing::warn!(%error, "outbox: cannot open the LISTEN connection"),
        }
        // Lost the connection: the periodic sweep covers the gap until it is back.
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// What a delivered email's variables become in its outbox row.
pub(super) const ERASED_VARIABLES: &str = r#"{"erased": "delivered"}"#;

/// Once the email is out, its variables (which may hold a temporary password or a link token)
/// have no reason to stay in the database: erased from every event of the batch that has them,
/// in one statement.
async fn erase_email_variables(
    db: &impl sea_orm::ConnectionTrait,
    events: impl Iterator<Item = outbox_events::Model>,
) -> NotifyResult<()> {
    let with_variables: Vec<_> = events
        .filter(|event| event.payload.get("email").and_then(|email| email.get("vars")).is_some())
        .map(|event| event.id)
        .collect();
    if with_variables.is_empty() {
        return Ok(());
    }
    let erased = match db.get_database_backend() {
        DatabaseBackend::Postgres => {
            format!(r#"jsonb_set("payload"::jsonb, '{{email,vars}}', '{ERASED_VARIABLES}'::jsonb)::json"#)
        }
        _ => format!(r#"json_set("payload", '$.email.vars', json('{ERASED_VARIABLES}'))"#),
    };
    outbox_events::Entity::update_many()
        .col_expr(outbox_events::Column::Payload, Expr::cust(erased))
        .filter(outbox_events::Column::Id.is_in(with_variables))
        .exec(db)
        .await?;
    Ok(())
}

/// The next `limit` due deliveries nobody holds, oldest first (locked, skipping locked ones, on
/// PostgreSQL). The status condition is literal, as the partial index `ix_deliveries_claimable`
/// is declared, so the planner walks that index in due order and stops after `limit` rows
/// (EXPLAIN in `tests/api/notifications.rs`), however large the backlog.
pub fn claimable(backend: DatabaseBackend, now: DateTime<Utc>, limit: u64) -> Select<deliveries::Entity> {
    let claimable = format!(
        "\"deliveries\".\"status\" IN ('{}', '{}')",
        DeliveryStatus::Pending.to_value(),
        DeliveryStatus::Failed.to_value()
    );
    let due = deliveries::Entity::find()
        .filter(Expr::cust(claimable))
        .filter(deliveries::Column::NextAttemptAt.lte(now))
        .filter(
            Condition::any().add(deliveries::Column::LeaseUntil.is_null()).add(deliveries::Column::LeaseUntil.lt(now)),
        )
        .order_by_asc(deliveries::Column::NextAttemptAt)
        .limit(limit);
    match backend {
        DatabaseBackend::Postgres => due.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked),
        _ => due,
    }
}

//! Emails sent at once by the work that composes them, rather than queued for the worker: an
//! import's welcome emails, thousands a batch. Queueing them cost three rows a user before the
//! first was sent and, with a million users, put every password reset behind a million
//! welcomes in the outbox.
//!
//! Each email is still recorded as the worker would have (its outbox event, its delivery, the
//! attempt), but written once, after the attempt, by the caller in the transaction that marks
//! its own progress. An email the transport could not take is recorded waiting, with its
//! retry schedule, and the worker carries it from there: nothing is lost to an outage. Once
//! the transport has failed, the rest of the caller's run (`TransportHealth`) is queued without
//! being tried, so an outage costs one failed attempt rather than one per email.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use sea_orm::{IntoActiveModel, TryIntoModel};

use super::plugin::Outcome;
use super::worker::{ERASED_VARIABLES, Verdict, Worker, attempt_row};
use super::{Notification, NotifyError, NotifyResult, event_row};
use crate::db::{deliveries, delivery_attempts, outbox_events};
use crate::types::enums::DeliveryStatus;

/// Whether the transport has failed during a caller's run: from then on its emails are queued
/// for the worker (and its backoff) instead of tried.
#[derive(Default)]
pub struct TransportHealth {
    failed: AtomicBool,
}

impl TransportHealth {
    pub fn has_failed(&self) -> bool {
        self.failed.load(Ordering::Relaxed)
    }
}

/// The outbox rows that record what `Worker::send_now` did, to insert together.
#[derive(Default)]
pub struct Sent {
    pub events: Vec<outbox_events::ActiveModel>,
    pub deliveries: Vec<deliveries::ActiveModel>,
    pub attempts: Vec<delivery_attempts::ActiveModel>,
    /// Emails left to the worker (not delivered, not dead): the caller wakes it after commit.
    pub waiting: usize,
}

/// One email of a `send_now` call: its rows, and its attempt unless it was left to the worker.
struct Tried {
    delivery: deliveries::Model,
    event: outbox_events::Model,
    attempt: Option<(&'static str, Outcome, Duration)>,
}

impl Worker {
    /// Sends the emails of `notifications` now, `lanes × concurrency` at a time, and returns
    /// their records. Email only: a notification's webhooks are not this path's (its callers
    /// have none), and one without an email is refused. A delivered email's variables (its link
    /// token) are not kept, as the worker erases them.
    pub async fn send_now(&self, notifications: Vec<Notification>, health: &TransportHealth) -> NotifyResult<Sent> {
        let now = self.clock.now();
        let mut composed = Vec::with_capacity(notifications.len());
        for notification in &notifications {
            let (event, delivery) = event_row(notification, now)?;
            let delivery =
                delivery.ok_or_else(|| NotifyError::Payload("send_now: a notification without email".into()))?;
            let model = |e: sea_orm::DbErr| NotifyError::Payload(e.to_string());
            composed.push((delivery.try_into_model().map_err(model)?, event.try_into_model().map_err(model)?));
        }
        let tried: Vec<Tried> = futures_util::stream::iter(composed)
            .map(|(delivery, event)| async move {
                if health.has_failed() {
                    return Tried { delivery, event, attempt: None };
                }
                let started = Instant::now();
                let (plugin, outcome) = self.hand_over(&delivery, &event).await;
                if matches!(outcome, Outcome::Transient(_)) {
                    health.failed.store(true, Ordering::Relaxed);
                }
                Tried { delivery, event, attempt: Some((plugin, outcome, started.elapsed())) }
            })
            .buffer_unordered(self.lanes.max(1) * self.concurrency.max(1))
            .collect()
            .await;
        let finished = self.clock.now();
        let mut sent = Sent::default();
        for Tried { mut delivery, mut event, attempt } in tried {
            match attempt {
                // Left as the outbox would have queued it.
                None => sent.waiting += 1,
                Some((plugin, outcome, elapsed)) => {
                    let Verdict { status, error, next_attempt_at } =
                        self.judge(delivery.id, plugin, &outcome, 1, finished);
                    sent.attempts.push(attempt_row(delivery.id, plugin, &outcome, elapsed, finished));
                    match status {
                        DeliveryStatus::Delivered => {
                            delivery.delivered_at = Some(finished);
                            erase_variables(&mut event.payload);
                        }
                        DeliveryStatus::Failed => sent.waiting += 1,
                        _ => {}
                    }
                    delivery.status = status;
                    delivery.attempts = 1;
                    delivery.last_error = error;
                    delivery.next_attempt_at = next_attempt_at.unwrap_or(delivery.next_attempt_at);
                }
            }
            sent.deliveries.push(delivery.into_active_model());
            sent.events.push(event.into_active_model());
        }
        Ok(sent)
    }
}

/// As `worker::erase_email_variables` does in the database.
fn erase_variables(payload: &mut serde_json::Value) {
    if let Some(email) = payload.get_mut("email").and_then(|email| email.as_object_mut())
        && let Ok(erased) = serde_json::from_str(ERASED_VARIABLES)
    {
        email.insert("vars".into(), erased);
    }
}

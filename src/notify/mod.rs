//! The notification engine.
//!
//! `enqueue` writes an event to the outbox, with one delivery per channel that should carry
//! it, in the caller's transaction: the change and its notifications commit together or not at
//! all. The `worker` claims due deliveries, renders them (`templates`) and hands each to the
//! notifier plugin of its channel (`plugin`: email by `smtp` or `mailbox`, `webhook`), recording
//! every attempt and retrying transient failures with backoff. Work that composes thousands of
//! emails at once (an import's welcomes) sends them itself through the same plugins and
//! records them afterwards (`direct`), leaving the worker only what the transport refused.

pub mod direct;
pub mod email;
pub mod mailbox;
pub mod plugin;
pub mod registry;
pub mod smtp;
pub mod templates;
pub mod webhook;
pub mod worker;

use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseBackend, EntityTrait, QueryFilter, Set};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::db::{deliveries, outbox_events, webhook_endpoints};
use crate::types::Email;
use crate::types::enums::DeliveryStatus;
use crate::types::{CompanyId, EventId, EventType, WebhookEndpointId};
use plugin::Channel;

/// What can go wrong in the engine itself (a delivery that fails is an `Outcome`, not this).
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error(transparent)]
    Database(#[from] sea_orm::DbErr),
    #[error("outbox payload: {0}")]
    Payload(String),
}

pub type NotifyResult<T> = Result<T, NotifyError>;

/// PostgreSQL channel on which `enqueue` announces new rows to every server process.
pub const PG_CHANNEL: &str = "portal_outbox";

/// The email templates that ship with Portal (`email-templates/NAME.*.hbs`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Template {
    #[serde(rename = "welcome")]
    Welcome,
    #[serde(rename = "reset-password")]
    ResetPassword,
    #[serde(rename = "invitation")]
    Invitation,
    #[serde(rename = "support-ticket-confirmation")]
    SupportTicketConfirmation,
}

impl Template {
    pub const ALL: [Template; 4] =
        [Template::Welcome, Template::ResetPassword, Template::Invitation, Template::SupportTicketConfirmation];

    pub fn name(self) -> &'static str {
        match self {
            Template::Welcome => "welcome",
            Template::ResetPassword => "reset-password",
            Template::Invitation => "invitation",
            Template::SupportTicketConfirmation => "support-ticket-confirmation",
        }
    }

    pub fn from_name(name: &str) -> Option<Template> {
        Template::ALL.into_iter().find(|t| t.name() == name)
    }
}

/// Something that happened and that someone should hear about.
pub struct Notification {
    pub company_id: Option<CompanyId>,
    pub event_type: EventType,
    /// The event's data (what a webhook would carry); never secrets.
    pub data: Value,
    pub email: Option<EmailNotification>,
}

/// An email to send for the event.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EmailNotification {
    pub to: String,
    pub template: Template,
    pub locale: String,
    /// The template's variables. They may hold secrets (a temporary password, a link token):
    /// the worker erases them once the email is delivered or dead.
    pub vars: Value,
}

impl EmailNotification {
    pub fn new(to: &Email, template: Template, locale: &str, vars: Value) -> Self {
        EmailNotification { to: to.as_str().to_owned(), template, locale: locale.to_owned(), vars }
    }
}

/// What the outbox row's payload holds.
#[derive(Debug, Serialize, Deserialize)]
pub struct Payload {
    pub data: Value,
    pub email: Option<EmailNotification>,
}

/// Writes the event and its deliveries with `db` (the caller's transaction): the email, if
/// any, and one webhook delivery per endpoint of the company subscribed to the event type.
/// The caller commits through `UnitOfWork::commit`, which wakes this process's worker; on
/// PostgreSQL a NOTIFY, delivered at commit, wakes the others.
pub async fn enqueue(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
    notification: Notification,
) -> NotifyResult<EventId> {
    let endpoints = match notification.company_id {
        Some(company_id) => webhook_endpoints::Entity::find()
            .filter(webhook_endpoints::Column::CompanyId.eq(company_id))
            .filter(webhook_endpoints::Column::Enabled.eq(true))
            .all(db)
            .await?
            .into_iter()
            .filter(|endpoint| subscribed(endpoint, notification.event_type))
            .map(|endpoint| endpoint.id)
            .collect(),
        None => Vec::new(),
    };
    write(db, now, notification, &endpoints).await
}

/// Like `enqueue`, but the only webhook delivery is to `endpoint_id` (test events).
pub async fn enqueue_to_endpoint(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
    notification: Notification,
    endpoint_id: WebhookEndpointId,
) -> NotifyResult<EventId> {
    write(db, now, notification, &[endpoint_id]).await
}

fn subscribed(endpoint: &webhook_endpoints::Model, event_type: EventType) -> bool {
    event_type.subscribable()
        && endpoint.events.as_array().is_some_and(|events| events.iter().any(|e| e.as_str() == Some(event_type.name())))
}

async fn write(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
    notification: Notification,
    endpoints: &[WebhookEndpointId],
) -> NotifyResult<EventId> {
    let (event, email) = event_row(&notification, now)?;
    let event_id = event.id.clone().unwrap();
    event.insert(db).await?;
    if let Some(email) = email {
        email.insert(db).await?;
    }
    for endpoint in endpoints {
        new_delivery(event_id, &notification, Channel::Webhook, &endpoint.to_string(), None, now).insert(db).await?;
    }
    announce(db).await?;
    Ok(event_id)
}

/// The outbox row of `notification` and the delivery of its email, if it has one, to insert
/// by the caller: bulk writers (the import) insert thousands at once. Webhook deliveries are
/// not included.
pub fn event_row(
    notification: &Notification,
    now: DateTime<Utc>,
) -> NotifyResult<(outbox_events::ActiveModel, Option<deliveries::ActiveModel>)> {
    let event_id = EventId::new();
    let payload = Payload { data: notification.data.clone(), email: notification.email.clone() };
    let event = outbox_events::ActiveModel {
        id: Set(event_id),
        company_id: Set(notification.company_id),
        event_type: Set(notification.event_type.name().to_owned()),
        payload: Set(serde_json::to_value(&payload).map_err(|e| NotifyError::Payload(e.to_string()))?),
        created_at: Set(now),
    };
    let email = notification
        .email
        .as_ref()
        .map(|email| new_delivery(event_id, notification, Channel::Email, &email.to, Some(email.template), now));
    Ok((event, email))
}

/// After a bulk enqueue (an import's welcome emails): PostgreSQL's planner learns the backlog's
/// size now rather than at autovacuum's next analyze. Until it does, it believes the table
/// small and claims by sorting every due delivery (168 ms a claim with 200,000 waiting)
/// instead of walking `ix_deliveries_claimable` (0.07 ms). SQLite's planner takes the partial
/// index without statistics.
pub async fn refresh_statistics(db: &impl ConnectionTrait) -> NotifyResult<()> {
    if db.get_database_backend() == DatabaseBackend::Postgres {
        db.execute_unprepared("ANALYZE deliveries").await?;
    }
    Ok(())
}

/// On PostgreSQL, wakes every process's worker when `db`'s transaction commits.
pub async fn announce(db: &impl ConnectionTrait) -> NotifyResult<()> {
    if db.get_database_backend() == DatabaseBackend::Postgres {
        db.execute_unprepared(&format!("NOTIFY {PG_CHANNEL}")).await?;
    }
    Ok(())
}

fn new_delivery(
    event_id: EventId,
    notification: &Notification,
    channel: Channel,
    recipient: &str,
    template: Option<Template>,
    now: DateTime<Utc>,
) -> deliveries::ActiveModel {
    deliveries::ActiveModel {
        id: Set(crate::types::DeliveryId::new()),
        event_id: Set(event_id),
        company_id: Set(notification.company_id),
        channel: Set(channel),
        recipient: Set(recipient.to_owned()),
        template: Set(template.map(|t| t.name().to_owned())),
        event_type: Set(notification.event_type.name().to_owned()),
        status: Set(DeliveryStatus::Pending),
        attempts: Set(0),
        next_attempt_at: Set(now),
        lease_until: Set(None),
        leased_by: Set(None),
        last_error: Set(None),
        created_at: Set(now),
        delivered_at: Set(None),
    }
}

//! The notification engine as administrators see it: deliveries and their attempts, email
//! templates and previews, webhook endpoints.

use super::paging::{connection, page_request};
use std::sync::Arc;

use async_graphql::connection::Connection;
use async_graphql::{Context, Enum, ID, InputObject, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};

use super::guard::{authorize, services};
use super::ids::{cursor, id};
use crate::db::{deliveries, delivery_attempts, webhook_endpoints};
use crate::domain::deliveries::{self as delivery_rules, DeliveryWithAttempts};
use crate::domain::{self, DomainError, webhooks};
use crate::notify::Template;
use crate::notify::templates::Templates;
use crate::types::{DeliveryId, WebhookEndpointId};

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "domain::DeliveryStatus")]
pub enum DeliveryStatus {
    Pending,
    Delivered,
    /// Failed for now; will be retried (see `nextAttemptAt`).
    Failed,
    /// Failed for good; `retryDelivery` re-queues it.
    Dead,
}

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "domain::AttemptOutcome")]
pub enum AttemptOutcome {
    Delivered,
    Transient,
    Permanent,
}

pub struct Delivery(DeliveryWithAttempts);

#[Object]
impl Delivery {
    async fn id(&self) -> ID {
        id(self.0.delivery.id)
    }
    /// `email` or `webhook`.
    async fn channel(&self) -> &str {
        self.0.delivery.channel.name()
    }
    /// An email address, or a webhook endpoint's id.
    async fn recipient(&self) -> &str {
        &self.0.delivery.recipient
    }
    async fn template(&self) -> Option<&str> {
        self.0.delivery.template.as_deref()
    }
    /// The event type, e.g. `user.created`.
    async fn event(&self) -> &str {
        &self.0.delivery.event_type
    }
    async fn status(&self) -> DeliveryStatus {
        self.0.delivery.status.into()
    }
    /// Attempts since the delivery was (re-)queued.
    async fn attempts(&self) -> i32 {
        self.0.delivery.attempts
    }
    /// Every attempt ever made, oldest first.
    async fn attempt_history(&self) -> Vec<DeliveryAttempt<'_>> {
        self.0.attempts.iter().map(DeliveryAttempt).collect()
    }
    async fn last_error(&self) -> Option<&str> {
        self.0.delivery.last_error.as_deref()
    }
    async fn next_attempt_at(&self) -> Option<DateTime<Utc>> {
        let d: &deliveries::Model = &self.0.delivery;
        matches!(d.status, domain::DeliveryStatus::Pending | domain::DeliveryStatus::Failed)
            .then_some(d.next_attempt_at)
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.delivery.created_at
    }
    async fn delivered_at(&self) -> Option<DateTime<Utc>> {
        self.0.delivery.delivered_at
    }
}

pub struct DeliveryAttempt<'a>(&'a delivery_attempts::Model);

#[Object]
impl DeliveryAttempt<'_> {
    async fn attempted_at(&self) -> DateTime<Utc> {
        self.0.attempted_at
    }
    /// The plugin that made it: `smtp`, `mailbox`, `webhook`, …
    async fn plugin(&self) -> &str {
        &self.0.plugin
    }
    async fn outcome(&self) -> AttemptOutcome {
        self.0.outcome.into()
    }
    async fn error(&self) -> Option<&str> {
        self.0.error.as_deref()
    }
    async fn duration_ms(&self) -> i32 {
        self.0.duration_ms
    }
}

/// The `totalCount` of a connection: counted only when a client selects it.
pub struct TotalCount {
    total: crate::domain::page::Total,
}

impl TotalCount {
    pub fn new(total: crate::domain::page::Total) -> Self {
        TotalCount { total }
    }
}

#[Object]
impl TotalCount {
    /// How many items the listing has in all (every page). Costs a count: select it only when
    /// it is shown.
    async fn total_count(&self) -> Result<u64> {
        Ok(self.total.count().await?)
    }
}

pub type DeliveryConnection = Connection<String, Delivery, TotalCount>;

#[derive(SimpleObject)]
pub struct EmailTemplate {
    /// `welcome`, `reset-password`, `invitation`, `support-ticket-confirmation`.
    name: &'static str,
    /// Locales with their own wording; others fall back to English.
    locales: Vec<String>,
    variables: Vec<TemplateVariable>,
}

#[derive(SimpleObject)]
pub struct TemplateVariable {
    name: String,
    /// The sample value used by `previewEmail`, as JSON.
    sample: String,
}

#[derive(SimpleObject)]
pub struct RenderedEmail {
    subject: String,
    html: String,
    text: String,
}

pub struct WebhookEndpoint(webhook_endpoints::Model);

#[Object]
impl WebhookEndpoint {
    async fn id(&self) -> ID {
        id(self.0.id)
    }
    async fn url(&self) -> &str {
        &self.0.url
    }
    /// The event types it receives.
    async fn events(&self) -> Vec<String> {
        self.0.events.as_array().into_iter().flatten().filter_map(|e| e.as_str().map(str::to_owned)).collect()
    }
    async fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    /// While a rotated-out secret still signs requests (both signatures are sent).
    async fn previous_secret_expires_at(&self) -> Option<DateTime<Utc>> {
        self.0.previous_secret_expires_at
    }
}

#[derive(SimpleObject)]
pub struct WebhookEndpointWithSecret {
    /// `whsec_…`: shown only now. Verify requests with it (Standard Webhooks).
    secret: String,
    endpoint: WebhookEndpoint,
}

#[derive(InputObject)]
pub struct CreateWebhookEndpointInput {
    url: String,
    /// Event types, e.g. `user.created`, `import.progress`.
    events: Vec<String>,
    description: Option<String>,
}

#[derive(Default)]
pub struct NotificationQuery;

#[Object]
impl NotificationQuery {
    /// The company's notifications, newest first, with their attempts.
    async fn notification_deliveries(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
        status: Option<DeliveryStatus>,
    ) -> Result<DeliveryConnection> {
        let principal = authorize(ctx)?;
        let request = page_request(first, after, last, before)?;
        let page = delivery_rules::list(services(ctx), principal, status.map(Into::into), request).await?;
        Ok(connection(page, |item| (cursor(item.delivery.id), Delivery(item))))
    }

    /// The email templates and the variables each one needs.
    async fn email_templates(&self, ctx: &Context<'_>) -> Result<Vec<EmailTemplate>> {
        authorize(ctx)?;
        let templates = ctx.data_unchecked::<Arc<Templates>>();
        Ok(Template::ALL
            .into_iter()
            .map(|template| EmailTemplate {
                name: template.name(),
                locales: templates.locales(template),
                variables: templates
                    .sample(template)
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(name, sample)| TemplateVariable { name: name.clone(), sample: sample.to_string() })
                    .collect(),
            })
            .collect())
    }

    /// A template rendered with its sample values.
    async fn preview_email(
        &self,
        ctx: &Context<'_>,
        template: String,
        locale: Option<String>,
    ) -> Result<RenderedEmail> {
        authorize(ctx)?;
        let templates = ctx.data_unchecked::<Arc<Templates>>();
        let known = Template::ALL.map(|t| t.name()).join(", ");
        let template = Template::from_name(&template)
            .ok_or_else(|| DomainError::invalid("template", format!("is not one of {known}")))?;
        let email = templates
            .render(template, locale.as_deref().unwrap_or("en"), templates.sample(template))
            .map_err(DomainError::internal)?;
        Ok(RenderedEmail { subject: email.subject, html: email.html, text: email.text })
    }

    async fn webhook_endpoints(&self, ctx: &Context<'_>) -> Result<Vec<WebhookEndpoint>> {
        let principal = authorize(ctx)?;
        Ok(webhooks::list(services(ctx), principal).await?.into_iter().map(WebhookEndpoint).collect())
    }

    /// The event types an endpoint may subscribe to (`createWebhookEndpoint`'s `events`).
    async fn webhook_event_types(&self, ctx: &Context<'_>) -> Result<Vec<&'static str>> {
        authorize(ctx)?;
        Ok(crate::types::EventType::subscribable_names().collect())
    }
}

#[derive(Default)]
pub struct NotificationMutation;

#[Object]
impl NotificationMutation {
    /// Re-queues a failed or dead delivery, due now.
    async fn retry_delivery(&self, ctx: &Context<'_>, id: DeliveryId) -> Result<Delivery> {
        let principal = authorize(ctx)?;
        Ok(Delivery(delivery_rules::retry(services(ctx), principal, id).await?))
    }

    async fn create_webhook_endpoint(
        &self,
        ctx: &Context<'_>,
        input: CreateWebhookEndpointInput,
    ) -> Result<WebhookEndpointWithSecret> {
        let principal = authorize(ctx)?;
        let input = webhooks::NewEndpoint { url: input.url, events: input.events, description: input.description };
        let (endpoint, secret) = webhooks::create(services(ctx), principal, input).await?;
        Ok(WebhookEndpointWithSecret { secret, endpoint: WebhookEndpoint(endpoint) })
    }

    async fn delete_webhook_endpoint(&self, ctx: &Context<'_>, id: WebhookEndpointId) -> Result<bool> {
        let principal = authorize(ctx)?;
        webhooks::delete(services(ctx), principal, id).await?;
        Ok(true)
    }

    /// A new secret, shown once; the old one keeps signing for 24 hours.
    async fn rotate_webhook_secret(
        &self,
        ctx: &Context<'_>,
        id: WebhookEndpointId,
    ) -> Result<WebhookEndpointWithSecret> {
        let principal = authorize(ctx)?;
        let (endpoint, secret) = webhooks::rotate_secret(services(ctx), principal, id).await?;
        Ok(WebhookEndpointWithSecret { secret, endpoint: WebhookEndpoint(endpoint) })
    }

    /// Sends a `webhook.test` event to this endpoint; returns the event id (`webhook-id`).
    async fn test_webhook_endpoint(&self, ctx: &Context<'_>, id: WebhookEndpointId) -> Result<String> {
        let principal = authorize(ctx)?;
        let event_id = webhooks::send_test(services(ctx), principal, id).await?;
        Ok(format!("msg_{}", event_id.0.simple()))
    }
}

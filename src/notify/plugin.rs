//! The notifier plugin interface. A plugin is one file implementing `Notifier`, plus one line
//! in `Registry::from_config`.

use crate::types::{DeliveryId, EventId};
use std::sync::Arc;

use serde_json::Value;

use super::templates::RenderedEmail;

/// One delivery, ready to hand over.
pub struct Outgoing {
    pub delivery_id: DeliveryId,
    /// Stable across retries: consumers deduplicate on it.
    pub event_id: EventId,
    pub event_type: String,
    /// When the event happened (the outbox row's time).
    pub occurred_at: chrono::DateTime<chrono::Utc>,
    pub channel: String,
    pub recipient: String,
    pub data: Value,
    /// Rendered when the delivery is an email.
    pub email: Option<RenderedEmail>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    Delivered,
    /// Worth retrying later (server down, timeout, 5xx, 429).
    Transient(String),
    /// Retrying cannot help (recipient rejected, 4xx): the delivery goes dead at once.
    Permanent(String),
}

#[async_trait::async_trait]
pub trait Notifier: Send + Sync + 'static {
    /// Recorded on every attempt.
    fn name(&self) -> &'static str;
    fn accepts(&self, outgoing: &Outgoing) -> bool;
    async fn deliver(&self, outgoing: &Outgoing) -> Outcome;
}

/// The plugins of this process, asked in order; the first that accepts a delivery carries it.
#[derive(Clone, Default)]
pub struct Registry {
    plugins: Vec<Arc<dyn Notifier>>,
}

impl Registry {
    pub fn new(plugins: Vec<Arc<dyn Notifier>>) -> Self {
        Registry { plugins }
    }

    /// Email goes by SMTP when `PORTAL_SMTP_URL` is set, else to the mailbox directory;
    /// webhooks to the company's endpoints; the `log` channel to the log.
    pub fn from_config(
        config: &crate::config::Config,
        db: sea_orm::DatabaseConnection,
        clock: Arc<dyn crate::domain::clock::Clock>,
    ) -> anyhow::Result<Registry> {
        let from = config.mail_from.clone();
        let email: Arc<dyn Notifier> = match &config.smtp_url {
            Some(url) => Arc::new(super::smtp::SmtpNotifier::new(url, from)?),
            None => Arc::new(super::mailbox::MailboxNotifier::new(config.mailbox_dir.clone(), from)),
        };
        let webhook = super::webhook::WebhookNotifier::new(db, clock, config.webhook_allow_private)?;
        Ok(Registry::new(vec![email, Arc::new(webhook), Arc::new(super::log::LogNotifier)]))
    }

    pub fn for_delivery(&self, outgoing: &Outgoing) -> Option<&Arc<dyn Notifier>> {
        self.plugins.iter().find(|plugin| plugin.accepts(outgoing))
    }
}

//! The notifier plugin interface. A plugin is one file implementing `Notifier` for the channel
//! it serves, plus one line in `Registry::from_config` (or, for an embedding program or a
//! test, one `Registry::register` call).

use std::collections::BTreeMap;
use std::sync::Arc;

use secrecy::ExposeSecret;
use serde_json::Value;

use super::email::EmailNotifier;
use super::mailbox::MailboxDir;
use super::smtp::Smtp;
use super::templates::RenderedEmail;
use crate::types::{DeliveryId, EventId};

pub use crate::types::enums::Channel;

/// One delivery, ready to hand over.
pub struct Outgoing {
    pub delivery_id: DeliveryId,
    /// Stable across retries: consumers deduplicate on it.
    pub event_id: EventId,
    pub event_type: String,
    /// When the event happened (the outbox row's time).
    pub occurred_at: chrono::DateTime<chrono::Utc>,
    pub channel: Channel,
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
    /// The channel whose deliveries this plugin carries.
    fn channel(&self) -> Channel;
    async fn deliver(&self, outgoing: &Outgoing) -> Outcome;
}

/// The plugins of this process: one per channel, and (`check`) one for every channel.
#[derive(Clone, Default)]
pub struct Registry {
    plugins: BTreeMap<Channel, Arc<dyn Notifier>>,
}

impl Registry {
    /// Adds `plugin` for its channel, replacing the one that served it.
    pub fn register(&mut self, plugin: Arc<dyn Notifier>) -> &mut Self {
        self.plugins.insert(plugin.channel(), plugin);
        self
    }

    /// Email goes by SMTP when `PORTAL_SMTP_URL` is set, else to the mailbox directory;
    /// webhooks to the company's endpoints.
    pub fn from_config(
        config: &crate::config::Config,
        db: sea_orm::DatabaseConnection,
        clock: Arc<dyn crate::types::clock::Clock>,
    ) -> anyhow::Result<Registry> {
        let from = config.mail_from.clone();
        let mut registry = Registry::default();
        match &config.smtp_url {
            Some(url) => registry.register(Arc::new(EmailNotifier::new(Smtp::new(url.expose_secret())?, from))),
            None => registry.register(Arc::new(EmailNotifier::new(MailboxDir::new(config.mailbox_dir.clone()), from))),
        };
        registry.register(Arc::new(super::webhook::WebhookNotifier::new(db, clock, config.webhook_allow_private)?));
        Ok(registry)
    }

    /// Every channel has a plugin: a server that could queue deliveries nobody carries does not
    /// start.
    pub fn check(&self) -> anyhow::Result<()> {
        let missing: Vec<&str> =
            Channel::ALL.iter().filter(|c| !self.plugins.contains_key(c)).map(|c| c.name()).collect();
        if !missing.is_empty() {
            anyhow::bail!("no notifier plugin serves the channel(s) {}", missing.join(", "));
        }
        Ok(())
    }

    pub fn for_channel(&self, channel: Channel) -> Option<&Arc<dyn Notifier>> {
        self.plugins.get(&channel)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Silent(Channel);

    #[async_trait::async_trait]
    impl Notifier for Silent {
        fn name(&self) -> &'static str {
            "silent"
        }
        fn channel(&self) -> Channel {
            self.0
        }
        async fn deliver(&self, _: &Outgoing) -> Outcome {
            Outcome::Delivered
        }
    }

    #[test]
    fn a_channel_without_a_plugin_is_refused() {
        let mut registry = Registry::default();
        registry.register(Arc::new(Silent(Channel::Email)));
        let error = registry.check().unwrap_err().to_string();
        assert!(error.contains("webhook"), "{error}");
        registry.register(Arc::new(Silent(Channel::Webhook)));
        registry.check().unwrap();
    }
}

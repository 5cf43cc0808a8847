//! The plugins of this process, one per channel: built from the configuration, checked at
//! start-up (every channel served).

use std::collections::BTreeMap;
use std::sync::Arc;

use secrecy::ExposeSecret;

use super::email::EmailNotifier;
use super::mailbox::MailboxDir;
use super::plugin::{Channel, Notifier};
use super::smtp::Smtp;
use super::webhook::WebhookNotifier;

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
        registry.register(Arc::new(WebhookNotifier::new(db, clock, config.webhook_allow_private)?));
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
    use crate::notify::plugin::{Outcome, Outgoing};

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

//! `smtp`: lettre's async SMTP transport, pooled, with timeouts. The URL says how to connect
//! (lettre's format): `smtp://host:25` in the clear, `smtp://user:pass@host:587?tls=required`
//! with STARTTLS, `smtps://host:465` with TLS from the start.

use std::time::Duration;

use lettre::message::Mailbox;
use lettre::transport::smtp::PoolConfig;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use super::email::build_message;
use super::plugin::{Channel, Notifier, Outcome, Outgoing};

pub struct SmtpNotifier {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl SmtpNotifier {
    pub fn new(url: &str, from: Mailbox) -> anyhow::Result<Self> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)?
            .timeout(Some(Duration::from_secs(15)))
            .pool_config(PoolConfig::new().max_size(8).idle_timeout(Duration::from_secs(60)))
            .build();
        Ok(SmtpNotifier { transport, from })
    }
}

#[async_trait::async_trait]
impl Notifier for SmtpNotifier {
    fn name(&self) -> &'static str {
        "smtp"
    }

    fn channel(&self) -> Channel {
        Channel::Email
    }

    async fn deliver(&self, outgoing: &Outgoing) -> Outcome {
        let message = match build_message(outgoing, &self.from) {
            Ok(message) => message,
            Err(error) => return Outcome::Permanent(error),
        };
        match self.transport.send(message).await {
            Ok(_) => Outcome::Delivered,
            // A 5xx reply (mailbox unknown, rejected) will not change by retrying.
            Err(error) if error.is_permanent() => Outcome::Permanent(format!("SMTP: {error}")),
            Err(error) => Outcome::Transient(format!("SMTP: {error}")),
        }
    }
}

//! `smtp`: lettre's async SMTP transport, pooled, with timeouts. The URL says how to connect
//! (lettre's format): `smtp://host:25` in the clear, `smtp://user:pass@host:587?tls=required`
//! with STARTTLS, `smtps://host:465` with TLS from the start.

use std::time::Duration;

use lettre::transport::smtp::PoolConfig;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::email::EmailTransport;
use super::plugin::{Outcome, Outgoing};

pub struct Smtp {
    transport: AsyncSmtpTransport<Tokio1Executor>,
}

impl Smtp {
    pub fn new(url: &str) -> anyhow::Result<Self> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)?
            .timeout(Some(Duration::from_secs(15)))
            .pool_config(PoolConfig::new().max_size(8).idle_timeout(Duration::from_secs(60)))
            .build();
        Ok(Smtp { transport })
    }
}

#[async_trait::async_trait]
impl EmailTransport for Smtp {
    fn name(&self) -> &'static str {
        "smtp"
    }

    async fn send(&self, message: Message, _outgoing: &Outgoing) -> Outcome {
        match self.transport.send(message).await {
            Ok(_) => Outcome::Delivered,
            // A 5xx reply (mailbox unknown, rejected) will not change by retrying.
            Err(error) if error.is_permanent() => Outcome::Permanent(format!("SMTP: {error}")),
            Err(error) => Outcome::Transient(format!("SMTP: {error}")),
        }
    }
}

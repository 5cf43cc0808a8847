//! The one email path: every email plugin is an `EmailNotifier` around a transport (SMTP, the
//! mailbox directory), so the MIME message is built once, the same way, whatever carries it:
//! multipart/alternative (text, then HTML), Date, a Message-ID derived from the delivery (the
//! same email retried keeps its id), UTF-8 headers encoded.

use lettre::Message;
use lettre::message::{Mailbox, MultiPart};

use super::plugin::{Channel, Notifier, Outcome, Outgoing};

/// What carries a built message: the part of an email plugin that differs.
#[async_trait::async_trait]
pub trait EmailTransport: Send + Sync + 'static {
    /// The plugin's name (logs, `PORTAL_NOTIFY_*` settings).
    fn name(&self) -> &'static str;
    async fn send(&self, message: Message, outgoing: &Outgoing) -> Outcome;
}

pub struct EmailNotifier<T> {
    transport: T,
    from: Mailbox,
}

impl<T: EmailTransport> EmailNotifier<T> {
    pub fn new(transport: T, from: Mailbox) -> Self {
        EmailNotifier { transport, from }
    }
}

#[async_trait::async_trait]
impl<T: EmailTransport> Notifier for EmailNotifier<T> {
    fn name(&self) -> &'static str {
        self.transport.name()
    }

    fn channel(&self) -> Channel {
        Channel::Email
    }

    async fn deliver(&self, outgoing: &Outgoing) -> Outcome {
        match build_message(outgoing, &self.from) {
            Ok(message) => self.transport.send(message, outgoing).await,
            Err(error) => Outcome::Permanent(error),
        }
    }
}

pub fn build_message(outgoing: &Outgoing, from: &Mailbox) -> Result<Message, String> {
    let email = outgoing.email.as_ref().ok_or("the delivery has no rendered email")?;
    let to: Mailbox = outgoing.recipient.parse().map_err(|e| format!("recipient {}: {e}", outgoing.recipient))?;
    let domain = from.email.domain().to_owned();
    Message::builder()
        .from(from.clone())
        .to(to)
        .subject(email.subject.clone())
        .date_now()
        .message_id(Some(format!("<{}@{domain}>", outgoing.delivery_id)))
        .multipart(MultiPart::alternative_plain_html(email.text.clone(), email.html.clone()))
        .map_err(|e| format!("building the message: {e}"))
}

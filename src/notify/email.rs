//! Building the MIME message: multipart/alternative (text, then HTML), Date, a Message-ID
//! derived from the delivery (the same email retried keeps its id), UTF-8 headers encoded.

use lettre::Message;
use lettre::message::{Mailbox, MultiPart};

use super::plugin::Outgoing;

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

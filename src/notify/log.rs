//! `log`: writes deliveries of the `log` channel to the server log. Useful for development
//! and as the smallest example of a plugin.

use super::plugin::{Notifier, Outcome, Outgoing};

pub const LOG_CHANNEL: &str = "log";

pub struct LogNotifier;

#[async_trait::async_trait]
impl Notifier for LogNotifier {
    fn name(&self) -> &'static str {
        "log"
    }

    fn accepts(&self, outgoing: &Outgoing) -> bool {
        outgoing.channel == LOG_CHANNEL
    }

    async fn deliver(&self, outgoing: &Outgoing) -> Outcome {
        tracing::info!(event = %outgoing.event_type, event_id = %outgoing.event_id, data = %outgoing.data, "notification");
        Outcome::Delivered
    }
}

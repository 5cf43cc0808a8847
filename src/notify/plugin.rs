//! The notifier plugin interface. A plugin is one file implementing `Notifier` for the channel
//! it serves, plus one line in `registry.rs`'s `Registry::from_config` (or, for an embedding
//! program or a test, one `Registry::register` call).

use serde_json::Value;

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

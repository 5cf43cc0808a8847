//! The leaf types: values that carry their rules (an `Email` is valid and lower-cased, a
//! `UserId` is a user's), used by every layer and using nothing of this crate.

pub mod audit;
pub mod clock;
pub mod email;
pub mod enums;
pub mod event_type;
pub mod ids;
pub mod locale;
pub mod text;

pub use audit::{AuditAction, AuditTarget, TargetKind};
pub use email::Email;
pub use event_type::EventType;
pub use ids::*;
pub use locale::Locale;
pub use text::{Line, Paragraphs, Text, TextError};

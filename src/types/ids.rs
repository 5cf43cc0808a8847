//! Typed IDs: one type per kind of row, so that a project's id cannot be passed where a user's
//! is expected (it does not compile). Each is a UUID (v7, time-ordered) inside; to the database
//! it is that UUID (the column type of the entities), and to GraphQL clients an `ID` (input and
//! output, so the schema is unchanged); an `ID` that is not a UUID is refused before any
//! resolver runs, with VALIDATION_FAILED and the value.

use std::borrow::Cow;
use std::fmt;

use async_graphql::registry::Registry;
use async_graphql::{ContextSelectionSet, ID, InputType, InputValueError, InputValueResult, OutputType, Positioned};
use uuid::Uuid;

macro_rules! typed_id {
    ($($(#[$meta:meta])* $name:ident;)+) => {$(
        $(#[$meta])*
        #[derive(
            Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord,
            sea_orm::DeriveValueType, serde::Serialize, serde::Deserialize,
        )]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A new, time-ordered id.
            #[allow(clippy::new_without_default)] // a default id would be a random one: say `new`
            pub fn new() -> Self {
                $name(Uuid::now_v7())
            }

            pub fn uuid(self) -> Uuid {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl From<Uuid> for $name {
            fn from(id: Uuid) -> $name {
                $name(id)
            }
        }

        impl From<$name> for Uuid {
            fn from(id: $name) -> Uuid {
                id.0
            }
        }

        impl std::str::FromStr for $name {
            type Err = uuid::Error;
            fn from_str(text: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(text).map($name)
            }
        }

        // Primary keys need it; UUIDs are never made from numbers.
        impl sea_orm::TryFromU64 for $name {
            fn try_from_u64(_: u64) -> Result<Self, sea_orm::DbErr> {
                Err(sea_orm::DbErr::ConvertFromU64(stringify!($name)))
            }
        }

        impl InputType for $name {
            type RawValueType = Self;

            fn type_name() -> Cow<'static, str> {
                <ID as InputType>::type_name()
            }

            fn create_type_info(registry: &mut Registry) -> String {
                <ID as InputType>::create_type_info(registry)
            }

            fn parse(value: Option<async_graphql::Value>) -> InputValueResult<Self> {
                let id = <ID as InputType>::parse(value).map_err(InputValueError::propagate)?;
                id.parse().map_err(|_| {
                    InputValueError::custom(format!("{} is not a valid id", quoted_prefix(id.as_str())))
                        .with_extension("code", "VALIDATION_FAILED")
                })
            }

            fn to_value(&self) -> async_graphql::Value {
                async_graphql::Value::String(self.0.to_string())
            }

            fn as_raw_value(&self) -> Option<&Self::RawValueType> {
                Some(self)
            }
        }

        impl OutputType for $name {
            fn type_name() -> Cow<'static, str> {
                <ID as OutputType>::type_name()
            }

            fn create_type_info(registry: &mut Registry) -> String {
                <ID as OutputType>::create_type_info(registry)
            }

            async fn resolve(
                &self,
                _: &ContextSelectionSet<'_>,
                _: &Positioned<async_graphql::parser::types::Field>,
            ) -> async_graphql::ServerResult<async_graphql::Value> {
                Ok(async_graphql::Value::String(self.0.to_string()))
            }
        }
    )+};
}

typed_id! {
    UserId;
    CompanyId;
    SubAccountId;
    /// A service subscription (a company's product and plan).
    SubscriptionId;
    /// A user's membership of a service subscription.
    MemberId;
    ProjectId;
    ProjectMemberId;
    EnvironmentId;
    /// A process model of a project.
    ModelId;
    ContactId;
    TicketId;
    InvitationId;
    ImportJobId;
    WebhookEndpointId;
    DeliveryId;
    /// An outbox event (one notification, delivered on each of its channels).
    EventId;
    AuditEventId;
    /// An integration's API key (a principal of its own).
    ApiKeyId;
}

/// The value as the client sent it, cut to 40 characters: a megabyte "id" is not echoed back.
fn quoted_prefix(value: &str) -> String {
    let mut chars = value.chars();
    let shown: String = chars.by_ref().take(40).collect();
    let more = if chars.next().is_some() { "…" } else { "" };
    format!("{shown:?}{more}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_uuids_inside_and_ids_outside() {
        let id = UserId::new();
        assert_eq!(id.to_string().parse::<UserId>().unwrap(), id);
        assert_eq!(<UserId as InputType>::type_name(), "ID");
        let parsed = <UserId as InputType>::parse(Some(async_graphql::Value::String(id.to_string())));
        assert_eq!(parsed.unwrap(), id);
        let refused = <ProjectId as InputType>::parse(Some(async_graphql::Value::String("42".into())));
        assert!(refused.is_err());
    }

    #[test]
    fn a_huge_malformed_id_is_not_echoed_whole() {
        let huge = "x".repeat(100_000);
        let refused = <UserId as InputType>::parse(Some(async_graphql::Value::String(huge))).unwrap_err();
        let message = refused.into_server_error(Default::default()).message;
        assert!(message.len() < 120 && message.contains("…") && message.ends_with("is not a valid id"), "{message}");
    }
}

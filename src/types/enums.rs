//! The closed sets of values of the domain. Each is stored as its SCREAMING_SNAKE_CASE name in a
//! string column (never as a number, so the database stays readable and reordering is safe).

use sea_orm::entity::prelude::StringLen;
use sea_orm::{DeriveActiveEnum, EnumIter};
use serde::{Deserialize, Serialize};

macro_rules! stored_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
        #[sea_orm(rs_type = "String", db_type = "String(StringLen::N(40))", rename_all = "SCREAMING_SNAKE_CASE")]
        #[serde(rename_all = "SCREAMING_SNAKE_CASE")]
        pub enum $name { $($(#[$vmeta])* $variant),+ }
    };
}

stored_enum! {
    /// Platform staff roles (`Operator`, `SupportAgent`) and company roles.
    Role { Operator, SupportAgent, Owner, Admin, User }
}

impl Role {
    pub fn is_platform_staff(self) -> bool {
        matches!(self, Role::Operator | Role::SupportAgent)
    }

    /// Owners and administrators hold every module.
    pub fn is_company_admin(self) -> bool {
        matches!(self, Role::Owner | Role::Admin)
    }
}

stored_enum! {
    /// Areas of the portal; every mutation belongs to one.
    Module { Projects, Subscriptions, Support, Reports, Pricing, Payment, UserManagement }
}

impl Module {
    /// Every module, in the order the API lists them.
    pub fn all() -> impl Iterator<Item = Module> {
        <Module as sea_orm::Iterable>::iter()
    }

    /// The name clients know (`USER_MANAGEMENT`), for messages.
    pub fn code(self) -> String {
        sea_orm::ActiveEnum::to_value(&self)
    }

    /// Modules that only administrators hold; granting them to a `USER` is a validation error.
    pub fn is_admin_only(self) -> bool {
        matches!(self, Module::Pricing | Module::Payment | Module::UserManagement)
    }
}

stored_enum! { UserStatus { Invited, Active, Inactive, Anonymized } }

stored_enum! {
    /// What is wrong with an imported row (or, `File`, with the file as a whole).
    IssueCode {
        Required,
        TooLong,
        /// Text with a character no name or title holds (a line break, an invisible character).
        InvalidText,
        InvalidEmail,
        SelfManager,
        InvalidFlag,
        UnknownCountry,
        DuplicateEmail,
        EmailExists,
        UnknownManager,
        File,
    }
}

stored_enum! {
    /// What a single-use link token is for.
    LinkPurpose { PasswordReset, Activation, Invitation }
}

stored_enum! {
    /// `EXPIRED` is never stored: it is derived from `expires_at` when read.
    InvitationStatus { Pending, Accepted, Revoked, Expired }
}

stored_enum! { SubscriptionStatus { Active, Suspended, Cancelled } }

stored_enum! {
    /// A suspended company's users cannot sign in (platform operators suspend and reactivate).
    CompanyStatus { Active, Suspended }
}

stored_enum! { SubscriptionRole { Admin, User } }

stored_enum! { MemberStatus { Active, PendingConfirmation } }

stored_enum! { EnvironmentKind { Development, Test, Production, Other } }

stored_enum! { ContactRole { Administrator, Support, Billing, License } }

stored_enum! { ContactStatus { Active, Inactive } }

stored_enum! { TicketKind { General, AdminDelegation, UserRemoval } }

stored_enum! { TicketStatus { Open, Confirmed, Resolved, Rejected, Closed } }

stored_enum! {
    ImportStatus { Validating, Validated, FailedValidation, Importing, Completed, Failed, Cancelled }
}

stored_enum! { IssueSeverity { Error, Warning } }

stored_enum! { DeliveryStatus { Pending, Delivered, Failed, Dead } }

stored_enum! { AttemptOutcome { Delivered, Transient, Permanent } }

/// How a delivery travels. Stored on each delivery by its name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(40))", rename_all = "lowercase")]
pub enum Channel {
    /// To a person's address; the recipient is the address.
    Email,
    /// To a company's webhook endpoint; the recipient is the endpoint's id.
    Webhook,
}

impl Channel {
    pub const ALL: [Channel; 2] = [Channel::Email, Channel::Webhook];

    pub fn name(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Webhook => "webhook",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::ActiveEnum;

    #[test]
    fn enums_are_stored_by_screaming_snake_case_name() {
        assert_eq!(Module::UserManagement.to_value(), "USER_MANAGEMENT");
        assert_eq!(Role::SupportAgent.to_value(), "SUPPORT_AGENT");
        assert_eq!(
            ImportStatus::try_from_value(&"FAILED_VALIDATION".to_owned()).unwrap(),
            ImportStatus::FailedValidation
        );
        assert!(UserStatus::try_from_value(&"active".to_owned()).is_err());
    }

    #[test]
    fn a_channel_is_named_as_it_is_stored() {
        for channel in Channel::ALL {
            assert_eq!(channel.name(), channel.to_value());
        }
        assert_eq!(<Channel as sea_orm::Iterable>::iter().count(), Channel::ALL.len());
    }
}

/// The kinds of `Held`, as clients and the audit trail name them (`name`, also their JSON form).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HoldingKind {
    Subscription,
    Project,
    Model,
    SubscriptionMembership,
    ProjectMembership,
    SupportContact,
    ModulePermission,
}

impl HoldingKind {
    /// The name clients see (`SUBSCRIPTION_MEMBERSHIP`), also the audit event's target type.
    pub fn name(self) -> &'static str {
        match self {
            HoldingKind::Subscription => "SUBSCRIPTION",
            HoldingKind::Project => "PROJECT",
            HoldingKind::Model => "MODEL",
            HoldingKind::SubscriptionMembership => "SUBSCRIPTION_MEMBERSHIP",
            HoldingKind::ProjectMembership => "PROJECT_MEMBERSHIP",
            HoldingKind::SupportContact => "SUPPORT_CONTACT",
            HoldingKind::ModulePermission => "MODULE_PERMISSION",
        }
    }
}

impl Serialize for HoldingKind {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

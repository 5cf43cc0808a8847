//! What the audit trail records: the actions and the kinds of target, one list each, so an
//! event cannot be written under a misspelt name and the names readers filter on are here.

use super::enums::HoldingKind;

macro_rules! named {
    ($(#[$meta:meta])* $enum:ident { $($variant:ident = $name:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $enum {
            $($variant,)+
        }

        impl $enum {
            pub const ALL: &[$enum] = &[$($enum::$variant),+];

            pub fn name(self) -> &'static str {
                match self {
                    $($enum::$variant => $name,)+
                }
            }
        }
    };
}

named! {
    /// `subject.verb`, as stored in `audit_events.action`.
    AuditAction {
        ApiKeyCreated = "api_key.created",
        ApiKeyRevoked = "api_key.revoked",
        ApiKeyRotated = "api_key.rotated",
        CompanyProvisioned = "company.provisioned",
        CompanySettingsChanged = "company.settings_changed",
        CompanySuspended = "company.suspended",
        CompanyReactivated = "company.reactivated",
        DeliveryRetried = "delivery.retried",
        ImportCancelled = "import.cancelled",
        ImportCompleted = "import.completed",
        ImportFailedValidation = "import.failed_validation",
        InvitationAccepted = "invitation.accepted",
        InvitationCreated = "invitation.created",
        InvitationResent = "invitation.resent",
        InvitationRevoked = "invitation.revoked",
        OperatorBootstrapped = "operator.bootstrapped",
        ProjectCreated = "project.created",
        ProjectEnvironmentAdded = "project.environment_added",
        ProjectMemberAdded = "project.member_added",
        ProjectModelCreated = "project.model_created",
        ResourceTransferred = "resource.transferred",
        StaffCreated = "staff.created",
        SubAccountCreated = "sub_account.created",
        SubAccountRenamed = "sub_account.renamed",
        SubAccountMembersSet = "sub_account.members_set",
        SubAccountDeleted = "sub_account.deleted",
        SubscriptionCreated = "subscription.created",
        SubscriptionMemberAdded = "subscription.member_added",
        SubscriptionMemberRemoved = "subscription.member_removed",
        SubscriptionMoved = "subscription.moved",
        SupportContactCreated = "support_contact.created",
        SupportContactDeactivated = "support_contact.deactivated",
        SupportContactReactivated = "support_contact.reactivated",
        SupportContactUpdated = "support_contact.updated",
        TicketConfirmed = "ticket.confirmed",
        TicketCreated = "ticket.created",
        TicketStatusChanged = "ticket.status_changed",
        UserAdminAdded = "user.admin_added",
        UserAdminRemoved = "user.admin_removed",
        UserAnonymized = "user.anonymized",
        UserCreated = "user.created",
        UserDeactivated = "user.deactivated",
        UserLockedOut = "user.locked_out",
        UserLoggedIn = "user.logged_in",
        UserLoginFailed = "user.login_failed",
        UserPasswordChanged = "user.password_changed",
        UserPasswordResetRequested = "user.password_reset_requested",
        UserPermissionsSet = "user.permissions_set",
        UserReactivated = "user.reactivated",
        UserRemoved = "user.removed",
        UserUpdated = "user.updated",
        UsersExported = "users.exported",
        WebhookEndpointCreated = "webhook_endpoint.created",
        WebhookEndpointDeleted = "webhook_endpoint.deleted",
        WebhookEndpointSecretRotated = "webhook_endpoint.secret_rotated",
    }
}

named! {
    /// The kind of row an event is about (`audit_events.target_type`).
    TargetKind {
        User = "user",
        Company = "company",
        Subscription = "subscription",
        SubAccount = "sub_account",
        Project = "project",
        Invitation = "invitation",
        ImportJob = "import_job",
        Delivery = "delivery",
        SupportContact = "support_contact",
        SupportTicket = "support_ticket",
        WebhookEndpoint = "webhook_endpoint",
        ApiKey = "api_key",
    }
}

/// What an event is about: a row of one of the kinds, or something a user held and handed
/// over (named like `OwnedResource.kind`: `SUBSCRIPTION_MEMBERSHIP`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuditTarget {
    Row(TargetKind),
    Held(HoldingKind),
}

impl AuditTarget {
    pub fn name(self) -> &'static str {
        match self {
            AuditTarget::Row(kind) => kind.name(),
            AuditTarget::Held(kind) => kind.name(),
        }
    }
}

impl From<TargetKind> for AuditTarget {
    fn from(kind: TargetKind) -> Self {
        AuditTarget::Row(kind)
    }
}

impl From<HoldingKind> for AuditTarget {
    fn from(kind: HoldingKind) -> Self {
        AuditTarget::Held(kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_dotted() {
        let names: std::collections::BTreeSet<_> = AuditAction::ALL.iter().map(|a| a.name()).collect();
        assert_eq!(names.len(), AuditAction::ALL.len());
        assert!(names.iter().all(|n| n.split_once('.').is_some_and(|(s, v)| !s.is_empty() && !v.is_empty())));
    }
}

//! What every root operation requires, in one table. Resolvers call `guard::authorize(ctx)`,
//! which looks the operation up here: an operation missing from the table cannot run, and a
//! test walks the served schema to check that each one is listed.

use crate::domain::Module::{Projects, Subscriptions, Support, UserManagement};
use crate::domain::principal::Access::{self, *};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Requirement {
    /// Anyone, signed in or not (signing in, forgotten passwords, public reference data).
    Public,
    Signed(Access),
}

use Requirement::{Public, Signed};

/// The requirement of a root field of Query, Mutation or Subscription, by its GraphQL name.
pub fn requirement(operation: &str) -> Option<Requirement> {
    Some(match operation {
        // Reference data and signing in.
        "countries" | "passwordPolicy" | "login" | "requestPasswordReset" | "resetPassword" | "acceptInvitation" => {
            Public
        }
        // Null when anonymous; a temporary password may still read it.
        "viewer" | "logout" | "changePassword" => Signed(SignedInEvenWithTemporaryPassword),
        "company" => Signed(CompanyMember),
        "provisionCompany" => Signed(Operator),

        // Users, invitations, permissions.
        "users" | "user" | "deactivationPlan" | "createUser" | "updateUser" | "deactivateUser" | "reactivateUser"
        | "anonymizeUser" | "removeUser" | "inviteUsers" | "invitations" | "resendInvitation" | "revokeInvitation"
        | "setUserPermissions" | "subAccounts" | "createSubAccount" | "renameSubAccount" | "userImportTemplate"
        | "importJob" | "importJobs" | "startUserImport" | "commitUserImport" | "cancelUserImport"
        | "importProgress" => Signed(Module(UserManagement)),
        "addCompanyAdmin" | "removeCompanyAdmin" => Signed(CompanyOwner),
        "auditEvents" => Signed(CompanyAdmin),

        // Subscriptions, projects, support (the subscriptions-and-support issue).
        "createServiceSubscription" => Signed(OperatorOrCompanyOwner),
        "serviceSubscriptions" | "addSubscriptionMember" | "removeSubscriptionMember" => Signed(Module(Subscriptions)),
        "projects" | "createProject" | "addProjectMember" | "createEnvironment" | "createModel" => {
            Signed(Module(Projects))
        }
        "supportContacts"
        | "createSupportContact"
        | "updateSupportContact"
        | "deactivateSupportContact"
        | "reactivateSupportContact"
        | "createSupportTicket" => Signed(Module(Support)),
        "supportTickets" => Signed(SupportModuleOrAgent),
        "confirmSupportTicket" | "resolveSupportTicket" | "closeSupportTicket" => Signed(SupportAgent),
        "createStaffUser" => Signed(Operator),

        // The notification engine.
        "notificationDeliveries"
        | "retryDelivery"
        | "webhookEndpoints"
        | "createWebhookEndpoint"
        | "deleteWebhookEndpoint"
        | "rotateWebhookSecret"
        | "testWebhookEndpoint" => Signed(CompanyAdmin),
        "emailTemplates" | "previewEmail" => Signed(AnyAdministrator),
        _ => return None,
    })
}

//! What every field requires, in two tables: root operations (`requirement`) and the fields of
//! object types (`field_requirement`), nested reads included. The field guard (`field_access.rs`)
//! applies both to every field before it resolves: a field missing from them cannot resolve,
//! and a test walks the served schema to check that each one is listed. Resolvers also call
//! `guard::authorize(ctx)` to learn who is calling.

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
        "countries"
        | "passwordPolicy"
        | "passwordLink"
        | "login"
        | "requestPasswordReset"
        | "resetPassword"
        | "acceptInvitation" => Public,
        // Null when anonymous; a temporary password may still read it.
        "viewer" => Signed(SignedInEvenWithTemporaryPassword),
        "logout" | "changePassword" => Signed(PersonEvenWithTemporaryPassword),
        "company" => Signed(CompanyMemberOrStaff),
        "companies" => Signed(PlatformStaff),
        "suspendCompany" | "reactivateCompany" => Signed(Operator),
        "provisionCompany" => Signed(Operator),

        // Users, invitations, permissions.
        "users" | "usersByIds" | "user" | "deactivationPlan" | "createUser" | "updateUser" | "deactivateUser"
        | "reactivateUser" | "anonymizeUser" | "removeUser" | "inviteUsers" | "invitations" | "resendInvitation"
        | "revokeInvitation" | "setUserPermissions" | "subAccounts" | "createSubAccount" | "renameSubAccount"
        | "userImportTemplate" | "importJob" | "importJobs" | "startUserImport" | "commitUserImport"
        | "cancelUserImport" | "importProgress" => Signed(Module(UserManagement)),
        "addCompanyAdmin" | "removeCompanyAdmin" => Signed(CompanyOwner),
        "auditEvents" | "updateCompanySettings" => Signed(CompanyAdmin),

        // Subscriptions, projects, support (the subscriptions-and-support issue).
        "createServiceSubscription" => Signed(OperatorOrCompanyOwner),
        "moveServiceSubscription" => Signed(AnyAdministrator),
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
        | "webhookEventTypes"
        | "createWebhookEndpoint"
        | "deleteWebhookEndpoint"
        | "rotateWebhookSecret"
        | "testWebhookEndpoint" => Signed(CompanyAdmin),
        "emailTemplates" | "previewEmail" => Signed(AnyAdministrator),

        // API keys: made and managed by people (a key cannot mint keys); who sees which key is
        // the domain's rule (administrators all, others their own).
        "apiKeys" | "createApiKey" | "revokeApiKey" | "rotateApiKey" => Signed(CompanyPerson),
        _ => return None,
    })
}

/// What reading a field of an object type requires, beyond reaching the object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldRequirement {
    /// Whoever could reach the object may read this.
    Open,
    /// The caller must satisfy the access, however they reached the object.
    Signed(Access),
    /// About a person: free when it is the caller's own account (`viewer`, the user of the
    /// session just opened), otherwise as `Signed`.
    OwnOr(Access),
}

/// The requirement of `field` of object type `parent`, by their GraphQL names. Types whose
/// fields are all open are listed whole; a type with guarded fields lists every field, so a
/// new one must be decided here before it can be read.
pub fn field_requirement(parent: &str, field: &str) -> Option<FieldRequirement> {
    use FieldRequirement::{Open, OwnOr};
    let signed = FieldRequirement::Signed;
    Some(match (parent, field) {
        // A person's profile is visible wherever the person is (a manager, a project member,
        // a ticket's opener); what they may do and hold is for user managers and themself.
        (
            "User",
            "id" | "email" | "givenName" | "surname" | "jobTitle" | "managerEmail" | "country" | "locale" | "status"
            | "role" | "manager" | "createdAt",
        ) => Open,
        (
            "User",
            "modules" | "subAccounts" | "projects" | "subscriptions" | "externalId" | "updatedAt" | "activatedAt"
            | "deactivatedAt" | "lastSignedInAt" | "invitedBy" | "directReports",
        ) => OwnOr(Module(UserManagement)),
        // A subscription reached from a project or a ticket shows what it is; who is in it and
        // who supports it need the module of that list.
        ("ServiceSubscription", "id" | "product" | "plan" | "status" | "owner" | "subAccount" | "createdAt") => Open,
        ("ServiceSubscription", "members") => signed(ModuleOrOperator(Subscriptions)),
        ("ServiceSubscription", "projects") => signed(Module(Projects)),
        ("ServiceSubscription", "contacts") => signed(Module(Support)),
        // Contacts are reached only through SUPPORT (`supportContacts`, `contacts` above).
        ("SupportContact", _) => Open,
        // What platform staff need to run the platform: no company's personal data beyond whom
        // to talk to (the owner), and counts rather than people (docs/security.md).
        ("Company", "id" | "name" | "createdAt" | "status" | "suspendedAt" | "owner") => Open,
        ("Company", "userCounts") => signed(AnyAdministrator),
        ("Company", "subscriptions") => signed(ModuleOrOperator(Subscriptions)),
        // Who is limited to a sub-account is user management; what it holds, the subscriptions
        // module (filtered by the caller's reach).
        ("SubAccount", "id" | "name" | "createdAt") => Open,
        ("SubAccount", "members") => signed(Module(UserManagement)),
        ("SubAccount", "subscriptions") => signed(Module(Subscriptions)),
        // How the company provisions people is its administrators' business.
        ("Company", "settings") => signed(CompanyAdmin),
        (
            "Anonymization"
            | "ApiKey"
            | "ApiKeyConnection"
            | "ApiKeyEdge"
            | "ApiKeyWithSecret"
            | "AuditEvent"
            | "AuditEventConnection"
            | "AuditEventEdge"
            | "CompanyConnection"
            | "CompanyEdge"
            | "CompanySettings"
            | "Country"
            | "Delivery"
            | "DeliveryAttempt"
            | "DeliveryConnection"
            | "DeliveryEdge"
            | "EmailTemplate"
            | "Environment"
            | "ImportJob"
            | "ImportJobConnection"
            | "ImportJobEdge"
            | "ImportProgress"
            | "Invitation"
            | "InvitationConnection"
            | "InvitationEdge"
            | "Model"
            | "OwnedResource"
            | "PageInfo"
            | "PasswordLink"
            | "PasswordPolicy"
            | "PasswordPolicyRule"
            | "Project"
            | "ProjectMember"
            | "RenderedEmail"
            | "Session"
            | "SubscriptionMember"
            | "SupportTicket"
            | "SupportTicketConnection"
            | "SupportTicketEdge"
            | "TemplateVariable"
            | "UserCounts"
            | "UserConnection"
            | "UserEdge"
            | "WebhookEndpoint"
            | "WebhookEndpointWithSecret",
            _,
        ) => Open,
        _ => return None,
    })
}

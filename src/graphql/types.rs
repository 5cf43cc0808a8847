//! GraphQL object types over domain values. Enums mirror the domain ones (`remote`), so a
//! variant added to one and not the other does not compile.

use std::sync::Arc;

use async_graphql::dataloader::DataLoader;
use async_graphql::{Context, Enum, ID, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};

use super::guard::caller;
use super::loaders::{
    ContactsOfSubscription, HoldingsOf, Loaders, MembersOfSubAccount, MembersOfSubscription, OwnerOf,
    ProjectsOfSubscription, SubAccountById, SubscriptionsOfCompany, UserById, UserCountsOf,
};

use crate::db::{companies, service_subscriptions, sub_accounts, subscription_members};
use crate::domain::{self, password_policy::PasswordRule};

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "domain::Role")]
pub enum Role {
    Operator,
    SupportAgent,
    Owner,
    Admin,
    User,
}

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "domain::Module")]
pub enum Module {
    Projects,
    Subscriptions,
    Support,
    Reports,
    Pricing,
    Payment,
    UserManagement,
}

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "domain::UserStatus")]
pub enum UserStatus {
    Invited,
    Active,
    Inactive,
    Anonymized,
}

pub use super::user::User;

pub fn loader<'a>(ctx: &Context<'a>) -> &'a DataLoader<Loaders> {
    ctx.data_unchecked::<DataLoader<Loaders>>()
}

/// A member's user: the one read with the member, or, for a member just added, read now.
pub async fn held_or_loaded(ctx: &Context<'_>, held: Option<&User>, id: crate::types::UserId) -> Result<Option<User>> {
    match held {
        Some(user) => Ok(Some(user.clone())),
        None => Ok(loader(ctx).load_one(UserById(id)).await?.map(User::from)),
    }
}

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "domain::SubscriptionRole")]
pub enum SubscriptionRole {
    Admin,
    User,
}

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "domain::MemberStatus")]
pub enum MemberStatus {
    Active,
    /// An ADMIN membership waits for a support agent to confirm an ADMIN_DELEGATION ticket.
    PendingConfirmation,
}

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "domain::SubscriptionStatus")]
pub enum SubscriptionStatus {
    Active,
    Suspended,
    Cancelled,
}

pub struct ServiceSubscription(pub service_subscriptions::Model);

#[Object]
impl ServiceSubscription {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn product(&self) -> &str {
        &self.0.product
    }
    async fn plan(&self) -> &str {
        &self.0.plan
    }
    async fn status(&self) -> SubscriptionStatus {
        self.0.status.into()
    }
    async fn owner(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        Ok(loader(ctx).load_one(UserById(self.0.owner_id)).await?.map(User::from))
    }
    async fn members(&self, ctx: &Context<'_>) -> Result<Vec<SubscriptionMember>> {
        let read = super::user::columns_under(&ctx.field(), "user");
        let members = loader(ctx).load_one(MembersOfSubscription((self.0.id, read))).await?.unwrap_or_default();
        let subscription = Arc::new(self.0.clone());
        Ok(members
            .into_iter()
            .map(|(member, user)| SubscriptionMember {
                member,
                subscription: subscription.clone(),
                user: Some(User::read_with(user, read)),
            })
            .collect())
    }
    // The subscription itself was resolved within the caller's company (and the field guard judged
    // these fields), so what hangs under it is the caller's to see.
    async fn projects(&self, ctx: &Context<'_>) -> Result<Vec<super::service_subscriptions::Project>> {
        let list = loader(ctx).load_one(ProjectsOfSubscription(self.0.id)).await?.unwrap_or_default();
        Ok(list.into_iter().map(super::service_subscriptions::Project).collect())
    }
    /// Active and inactive support contacts.
    async fn contacts(&self, ctx: &Context<'_>) -> Result<Vec<super::support::SupportContact>> {
        let list = loader(ctx).load_one(ContactsOfSubscription(self.0.id)).await?.unwrap_or_default();
        Ok(list.into_iter().map(super::support::SupportContact).collect())
    }
    /// The sub-account that holds it; null: the company as a whole.
    async fn sub_account(&self, ctx: &Context<'_>) -> Result<Option<SubAccount>> {
        let Some(id) = self.0.sub_account_id else { return Ok(None) };
        Ok(loader(ctx).load_one(SubAccountById(id)).await?.map(SubAccount))
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

pub struct SubscriptionMember {
    pub member: subscription_members::Model,
    /// Shared by the subscription's members, which a dashboard lists by the hundred.
    pub subscription: Arc<service_subscriptions::Model>,
    /// Read with the member when it came in a list (`batch::members_of_subscriptions`); for a
    /// member just added, `None`: read only if the client asks for it.
    pub user: Option<User>,
}

#[Object]
impl SubscriptionMember {
    async fn id(&self) -> ID {
        ID(self.member.id.to_string())
    }
    async fn subscription(&self) -> ServiceSubscription {
        ServiceSubscription(self.subscription.as_ref().clone())
    }
    async fn user(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        held_or_loaded(ctx, self.user.as_ref(), self.member.user_id).await
    }
    async fn role(&self) -> SubscriptionRole {
        self.member.role.into()
    }
    async fn status(&self) -> MemberStatus {
        self.member.status.into()
    }
}

pub struct Company(pub companies::Model);

#[Object]
impl Company {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn status(&self) -> super::companies::CompanyStatus {
        self.0.status.into()
    }
    /// When the current suspension began; null while active.
    async fn suspended_at(&self) -> Option<DateTime<Utc>> {
        self.0.suspended_at
    }
    /// The company's owner.
    async fn owner(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        Ok(loader(ctx).load_one(OwnerOf(self.0.id)).await?.map(User::from))
    }
    /// How many users it has, by status (batched across companies: one statement per page).
    async fn user_counts(&self, ctx: &Context<'_>) -> Result<super::companies::UserCounts> {
        Ok(loader(ctx).load_one(UserCountsOf(self.0.id)).await?.unwrap_or_default().into())
    }
    /// Its service subscriptions, oldest first: those the caller reaches (a user limited to
    /// sub-accounts sees theirs; platform operators see all).
    async fn subscriptions(&self, ctx: &Context<'_>) -> Result<Vec<ServiceSubscription>> {
        let list = loader(ctx).load_one(SubscriptionsOfCompany(self.0.id)).await?.unwrap_or_default();
        let reach = &caller(ctx)?.reach;
        Ok(list.into_iter().filter(|s| reach.covers(s.sub_account_id)).map(ServiceSubscription).collect())
    }
    /// How the company provisions people (administrators only).
    async fn settings(&self) -> CompanySettings {
        CompanySettings {
            scim_enabled: self.0.scim_enabled,
            scim_default_job_title: self.0.scim_default_job_title.clone(),
            scim_default_manager_email: self.0.scim_default_manager_email.as_ref().map(|e| e.to_string()),
            scim_welcome_email: self.0.scim_welcome_email,
        }
    }
}

#[derive(SimpleObject)]
pub struct CompanySettings {
    /// Whether `/scim/v2` answers the company's API keys (those holding USER_MANAGEMENT).
    scim_enabled: bool,
    /// The job title given to people an identity provider creates without one.
    scim_default_job_title: Option<String>,
    /// The manager given to people an identity provider creates without one.
    scim_default_manager_email: Option<String>,
    /// Whether people created over SCIM get the welcome email (with a link to set a password).
    scim_welcome_email: bool,
}

pub struct SubAccount(pub sub_accounts::Model);

#[Object]
impl SubAccount {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// The users limited to it.
    async fn members(&self, ctx: &Context<'_>) -> Result<Vec<User>> {
        let ids = loader(ctx).load_one(MembersOfSubAccount(self.0.id)).await?.unwrap_or_default();
        let mut found = loader(ctx).load_many(ids.iter().copied().map(UserById)).await?;
        Ok(ids.into_iter().filter_map(|id| found.remove(&UserById(id))).map(User::from).collect())
    }
    /// The service subscriptions it holds (with everything under them), of those the caller
    /// reaches.
    async fn subscriptions(&self, ctx: &Context<'_>) -> Result<Vec<ServiceSubscription>> {
        let list = loader(ctx).load_one(HoldingsOf(self.0.id)).await?.unwrap_or_default();
        let reach = &caller(ctx)?.reach;
        Ok(list.into_iter().filter(|s| reach.covers(s.sub_account_id)).map(ServiceSubscription).collect())
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

pub struct Country(pub domain::countries::Country);

#[Object]
impl Country {
    /// ISO 3166-1 alpha-2 code: the form stored and accepted everywhere.
    async fn code(&self) -> &str {
        self.0.code
    }
    async fn alpha3(&self) -> &str {
        self.0.alpha3
    }
    /// English short name.
    async fn name(&self) -> &str {
        self.0.name
    }
}

/// Which page asks about a link (`passwordLink`).
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "domain::links::LinkKind")]
pub enum PasswordLinkKind {
    /// A reset link or a welcome email's activation link (/reset-password, /set-password).
    Password,
    /// An invitation link (/accept-invitation).
    Invitation,
}

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "domain::links::LinkState")]
pub enum PasswordLinkState {
    Usable,
    Used,
    Expired,
    /// Unknown, replaced by a newer link, or no longer for this person.
    Invalid,
}

/// What a password page says when it opens.
pub struct PasswordLink(pub domain::links::LinkInspection);

#[Object]
impl PasswordLink {
    async fn state(&self) -> PasswordLinkState {
        self.0.state.into()
    }
    /// The address the link was sent to, only while it is usable.
    async fn email(&self) -> Option<&str> {
        self.0.email.as_deref()
    }
}

pub struct PasswordPolicy(pub domain::password_policy::PasswordPolicy);

#[derive(SimpleObject)]
pub struct PasswordPolicyRule {
    /// Stable machine name, e.g. `MIN_LENGTH`.
    code: &'static str,
    /// Sentence to show to a person.
    description: String,
}

#[Object]
impl PasswordPolicy {
    async fn min_length(&self) -> usize {
        self.0.min_length
    }
    async fn max_length(&self) -> usize {
        self.0.max_length
    }
    /// How many previous passwords may not be reused.
    async fn history_size(&self) -> usize {
        self.0.history_size
    }
    /// Every rule, in the order to show them.
    async fn rules(&self) -> Vec<PasswordPolicyRule> {
        PasswordRule::ALL
            .iter()
            .map(|rule| PasswordPolicyRule { code: rule.code(), description: self.0.describe(*rule) })
            .collect()
    }
}

//! Invitations, module permissions and sub-accounts.

use super::paging::{connection, page_request};
use async_graphql::connection::Connection;
use async_graphql::{Context, Enum, ID, InputObject, Object, Result};
use chrono::{DateTime, Utc};

use super::accounts::Session;
use super::guard::{authorize, request, services};
use super::ids::{cursor, id};
use super::loaders::UserById;
use super::notifications::TotalCount;
use super::types::{Module, Role, SubAccount, User, loader};
use crate::db::invitations;
use crate::domain::invitations::{self as rules, Invite};
use crate::domain::{self, permissions};
use crate::types::{InvitationId, SubAccountId, UserId};

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "domain::InvitationStatus")]
pub enum InvitationStatus {
    Pending,
    Accepted,
    Revoked,
    /// Pending past its 7 days.
    Expired,
}

pub struct Invitation(invitations::Model);

#[Object]
impl Invitation {
    async fn id(&self) -> ID {
        id(self.0.id)
    }
    async fn email(&self) -> &str {
        &self.0.email
    }
    async fn role(&self) -> Role {
        self.0.role.into()
    }
    async fn status(&self, ctx: &Context<'_>) -> InvitationStatus {
        rules::status(&self.0, services(ctx).clock.now()).into()
    }
    /// The invited person while the invitation is pending or accepted.
    async fn user(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        let Some(user_id) = self.0.user_id else { return Ok(None) };
        Ok(loader(ctx).load_one(UserById(user_id)).await?.map(User::from))
    }
    async fn invited_by(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        let Some(user_id) = self.0.invited_by else { return Ok(None) };
        Ok(loader(ctx).load_one(UserById(user_id)).await?.map(User::from))
    }
    /// How many times the email was sent (the first time included).
    async fn send_count(&self) -> i32 {
        self.0.send_count
    }
    async fn last_sent_at(&self) -> DateTime<Utc> {
        self.0.last_sent_at
    }
    async fn expires_at(&self) -> DateTime<Utc> {
        self.0.expires_at
    }
    async fn accepted_at(&self) -> Option<DateTime<Utc>> {
        self.0.accepted_at
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

#[derive(InputObject)]
pub struct InviteUsersInput {
    /// Up to 100 addresses.
    emails: Vec<String>,
    /// ADMIN (every module) or USER.
    role: Role,
    /// For USER: any but PRICING, PAYMENT and USER_MANAGEMENT.
    #[graphql(default)]
    modules: Vec<Module>,
    /// Limit the people to these sub-accounts; none means the whole company.
    #[graphql(default)]
    sub_account_ids: Vec<SubAccountId>,
}

pub type InvitationConnection = Connection<String, Invitation, TotalCount>;

#[derive(Default)]
pub struct InvitationQuery;

#[Object]
impl InvitationQuery {
    /// The company's invitations, newest first.
    async fn invitations(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
        status: Option<InvitationStatus>,
    ) -> Result<InvitationConnection> {
        let principal = authorize(ctx)?;
        let page = page_request(first, after, last, before)?;
        let found = rules::list(services(ctx), principal, status.map(Into::into), page).await?;
        Ok(connection(found, |i| (cursor(i.id), Invitation(i))))
    }

    /// The company's sub-accounts, by name.
    async fn sub_accounts(&self, ctx: &Context<'_>) -> Result<Vec<SubAccount>> {
        let principal = authorize(ctx)?;
        Ok(permissions::list_sub_accounts(services(ctx), principal).await?.into_iter().map(SubAccount).collect())
    }
}

#[derive(Default)]
pub struct InvitationMutation;

#[Object]
impl InvitationMutation {
    /// Invites every address or none: any address that cannot be invited is listed with its
    /// reason (`emails[i]`). An address with a pending invitation gets a new link.
    async fn invite_users(&self, ctx: &Context<'_>, input: InviteUsersInput) -> Result<Vec<Invitation>> {
        let principal = authorize(ctx)?;
        let invite = Invite {
            emails: input.emails,
            role: input.role.into(),
            modules: input.modules.into_iter().map(Into::into).collect(),
            sub_account_ids: input.sub_account_ids,
        };
        Ok(rules::invite(services(ctx), principal, invite).await?.into_iter().map(Invitation).collect())
    }

    /// A new link (the previous one stops working); at most 5 an hour.
    async fn resend_invitation(&self, ctx: &Context<'_>, id: InvitationId) -> Result<Invitation> {
        let principal = authorize(ctx)?;
        Ok(Invitation(rules::resend(services(ctx), principal, id).await?))
    }

    /// Voids the link and removes the invited person; the address can be invited again.
    async fn revoke_invitation(&self, ctx: &Context<'_>, id: InvitationId) -> Result<Invitation> {
        let principal = authorize(ctx)?;
        Ok(Invitation(rules::revoke(services(ctx), principal, id).await?))
    }

    /// Sets the password (the policy applies) and signs the new user in.
    async fn accept_invitation(
        &self,
        ctx: &Context<'_>,
        token: String,
        password: String,
        given_name: Option<String>,
        surname: Option<String>,
    ) -> Result<Session> {
        let client = request(ctx).client_address;
        Ok(rules::accept(services(ctx), &token, &password, given_name, surname, client).await?.into())
    }

    /// Replaces a user's modules (and sub-accounts, when given); live sessions follow at once.
    async fn set_user_permissions(
        &self,
        ctx: &Context<'_>,
        user_id: UserId,
        modules: Vec<Module>,
        sub_account_ids: Option<Vec<SubAccountId>>,
    ) -> Result<User> {
        let principal = authorize(ctx)?;
        let modules: Vec<domain::Module> = modules.into_iter().map(Into::into).collect();
        let subs = sub_account_ids;
        let user = permissions::set(services(ctx), principal, user_id, &modules, subs.as_deref()).await?;
        Ok(User::from(user))
    }

    async fn create_sub_account(&self, ctx: &Context<'_>, name: String) -> Result<SubAccount> {
        let principal = authorize(ctx)?;
        Ok(SubAccount(permissions::create_sub_account(services(ctx), principal, &name).await?))
    }

    async fn rename_sub_account(&self, ctx: &Context<'_>, id: SubAccountId, name: String) -> Result<SubAccount> {
        let principal = authorize(ctx)?;
        Ok(SubAccount(permissions::rename_sub_account(services(ctx), principal, id, &name).await?))
    }
}

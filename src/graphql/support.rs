//! Support contacts and tickets, and platform staff.

use super::paging::{connection, page_request};
use async_graphql::connection::Connection;
use async_graphql::{Context, Enum, ID, InputObject, Object, Result};
use chrono::{DateTime, Utc};

use super::guard::{authorize, services};
use super::ids::{cursor, id};
use super::loaders::{SubscriptionById, UserById};
use super::notifications::TotalCount;
use super::types::{Role, ServiceSubscription, User, loader};
use crate::db::support_tickets;
use crate::domain::support::{self as rules, Contact, ContactInput, TicketInput};
use crate::domain::{self, DomainError};
use crate::types::{ContactId, SubscriptionId, TicketId, UserId};

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "domain::ContactRole")]
pub enum ContactRole {
    Administrator,
    Support,
    Billing,
    License,
}

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "domain::ContactStatus")]
pub enum ContactStatus {
    Active,
    Inactive,
}

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "domain::TicketKind")]
pub enum TicketKind {
    General,
    /// Confirms an ADMIN subscription membership (`relatedUserId`).
    AdminDelegation,
    /// Removes a user's personal data for good (`relatedUserId`).
    UserRemoval,
}

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "domain::TicketStatus")]
pub enum TicketStatus {
    Open,
    Confirmed,
    Resolved,
    Rejected,
    Closed,
}

async fn subscription(ctx: &Context<'_>, id: SubscriptionId) -> Result<ServiceSubscription> {
    let found = loader(ctx).load_one(SubscriptionById(id)).await?;
    Ok(ServiceSubscription(found.ok_or(DomainError::NotFound("subscription"))?))
}

pub struct SupportContact(pub Contact);

#[Object]
impl SupportContact {
    async fn id(&self) -> ID {
        id(self.0.contact.id)
    }
    async fn user(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        Ok(loader(ctx).load_one(UserById(self.0.contact.user_id)).await?.map(User::from))
    }
    async fn subscription(&self, ctx: &Context<'_>) -> Result<ServiceSubscription> {
        subscription(ctx, self.0.contact.subscription_id).await
    }
    async fn roles(&self) -> Vec<ContactRole> {
        self.0.roles.iter().map(|r| (*r).into()).collect()
    }
    /// The subscription's first administrator contact: manages the other contacts.
    async fn is_primary(&self) -> bool {
        self.0.contact.is_primary
    }
    async fn phone(&self) -> Option<&str> {
        self.0.contact.phone.as_deref()
    }
    /// Where the contact is: their user's country (ISO 3166-1 alpha-2).
    async fn country(&self, ctx: &Context<'_>) -> Result<Option<String>> {
        Ok(loader(ctx).load_one(UserById(self.0.contact.user_id)).await?.and_then(|u| u.country))
    }
    async fn status(&self) -> ContactStatus {
        self.0.contact.status.into()
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.contact.created_at
    }
}

pub struct SupportTicket(support_tickets::Model);

#[Object]
impl SupportTicket {
    /// The ticket number.
    async fn id(&self) -> ID {
        id(self.0.id)
    }
    async fn kind(&self) -> TicketKind {
        self.0.kind.into()
    }
    async fn status(&self) -> TicketStatus {
        self.0.status.into()
    }
    async fn subject(&self) -> &str {
        &self.0.subject
    }
    async fn description(&self) -> &str {
        &self.0.description
    }
    async fn subscription(&self, ctx: &Context<'_>) -> Result<ServiceSubscription> {
        subscription(ctx, self.0.subscription_id).await
    }
    /// The company that opened it (support agents work across companies).
    async fn company(&self, ctx: &Context<'_>) -> Result<super::types::Company> {
        let found = loader(ctx).load_one(super::loaders::CompanyById(self.0.company_id)).await?;
        Ok(super::types::Company(found.ok_or(crate::domain::DomainError::NotFound("company"))?))
    }
    async fn opened_by(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        Ok(loader(ctx).load_one(UserById(self.0.opened_by)).await?.map(User::from))
    }
    async fn related_user(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        let Some(user) = self.0.related_user_id else { return Ok(None) };
        Ok(loader(ctx).load_one(UserById(user)).await?.map(User::from))
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn confirmed_at(&self) -> Option<DateTime<Utc>> {
        self.0.confirmed_at
    }
}

pub type SupportTicketConnection = Connection<String, SupportTicket, TotalCount>;

#[derive(InputObject)]
pub struct CreateSupportContactInput {
    subscription_id: SubscriptionId,
    /// A company user, or a new address: then the user is created and gets the welcome email.
    email: String,
    /// Required for a new user.
    given_name: Option<String>,
    surname: Option<String>,
    phone: Option<String>,
    /// At least one.
    roles: Vec<ContactRole>,
}

#[derive(InputObject)]
pub struct UpdateSupportContactInput {
    phone: Option<String>,
    roles: Option<Vec<ContactRole>>,
}

#[derive(InputObject)]
pub struct CreateSupportTicketInput {
    subscription_id: SubscriptionId,
    kind: TicketKind,
    subject: String,
    description: String,
    /// The user an ADMIN_DELEGATION or USER_REMOVAL is about.
    related_user_id: Option<UserId>,
}

#[derive(InputObject)]
pub struct CreateStaffUserInput {
    email: String,
    given_name: String,
    surname: String,
    /// OPERATOR or SUPPORT_AGENT.
    role: Role,
}

#[derive(Default)]
pub struct SupportQuery;

#[Object]
impl SupportQuery {
    async fn support_contacts(
        &self,
        ctx: &Context<'_>,
        subscription_id: SubscriptionId,
        status: Option<ContactStatus>,
    ) -> Result<Vec<SupportContact>> {
        let principal = authorize(ctx)?;
        let subscription = subscription_id;
        let contacts = rules::list_contacts(services(ctx), principal, subscription, status.map(Into::into)).await?;
        Ok(contacts.into_iter().map(SupportContact).collect())
    }

    /// The tickets the caller opened (support agents: every ticket), newest first.
    async fn support_tickets(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Result<SupportTicketConnection> {
        let principal = authorize(ctx)?;
        let page = page_request(first, after, last, before)?;
        let found = rules::list_tickets(services(ctx), principal, page).await?;
        Ok(connection(found, |t| (cursor(t.id), SupportTicket(t))))
    }
}

#[derive(Default)]
pub struct SupportMutation;

#[Object]
impl SupportMutation {
    /// By the subscription's primary contact, the company owner or an administrator.
    async fn create_support_contact(
        &self,
        ctx: &Context<'_>,
        input: CreateSupportContactInput,
    ) -> Result<SupportContact> {
        let principal = authorize(ctx)?;
        let input = ContactInput {
            subscription_id: input.subscription_id,
            email: input.email,
            given_name: input.given_name,
            surname: input.surname,
            phone: input.phone,
            roles: input.roles.into_iter().map(Into::into).collect(),
        };
        Ok(SupportContact(rules::create_contact(services(ctx), principal, input).await?))
    }

    async fn update_support_contact(
        &self,
        ctx: &Context<'_>,
        id: ContactId,
        input: UpdateSupportContactInput,
    ) -> Result<SupportContact> {
        let principal = authorize(ctx)?;
        let roles = input.roles.map(|roles| roles.into_iter().map(Into::into).collect());
        Ok(SupportContact(rules::update_contact(services(ctx), principal, id, input.phone, roles).await?))
    }

    async fn deactivate_support_contact(&self, ctx: &Context<'_>, id: ContactId) -> Result<SupportContact> {
        let principal = authorize(ctx)?;
        Ok(SupportContact(
            rules::set_contact_status(services(ctx), principal, id, domain::ContactStatus::Inactive).await?,
        ))
    }

    async fn reactivate_support_contact(&self, ctx: &Context<'_>, id: ContactId) -> Result<SupportContact> {
        let principal = authorize(ctx)?;
        Ok(SupportContact(
            rules::set_contact_status(services(ctx), principal, id, domain::ContactStatus::Active).await?,
        ))
    }

    /// By an active SUPPORT contact (administrators: the delegation and removal kinds); sends
    /// the support-ticket-confirmation email.
    async fn create_support_ticket(&self, ctx: &Context<'_>, input: CreateSupportTicketInput) -> Result<SupportTicket> {
        let principal = authorize(ctx)?;
        let input = TicketInput {
            subscription_id: input.subscription_id,
            kind: input.kind.into(),
            subject: input.subject,
            description: input.description,
            related_user_id: input.related_user_id,
        };
        Ok(SupportTicket(rules::create_ticket(services(ctx), principal, input).await?))
    }

    /// Support agents: applies the ticket (delegation: the membership becomes ACTIVE; removal:
    /// the user's personal data is erased).
    async fn confirm_support_ticket(&self, ctx: &Context<'_>, id: TicketId) -> Result<SupportTicket> {
        let principal = authorize(ctx)?;
        Ok(SupportTicket(rules::confirm_ticket(services(ctx), principal, id).await?))
    }

    async fn resolve_support_ticket(&self, ctx: &Context<'_>, id: TicketId) -> Result<SupportTicket> {
        let principal = authorize(ctx)?;
        Ok(SupportTicket(rules::set_ticket_status(services(ctx), principal, id, domain::TicketStatus::Resolved).await?))
    }

    async fn close_support_ticket(&self, ctx: &Context<'_>, id: TicketId) -> Result<SupportTicket> {
        let principal = authorize(ctx)?;
        Ok(SupportTicket(rules::set_ticket_status(services(ctx), principal, id, domain::TicketStatus::Closed).await?))
    }

    /// Operators create platform staff (support agents, operators) with a temporary password.
    async fn create_staff_user(&self, ctx: &Context<'_>, input: CreateStaffUserInput) -> Result<User> {
        let principal = authorize(ctx)?;
        let user = rules::create_staff_user(
            services(ctx),
            principal,
            &input.email,
            &input.given_name,
            &input.surname,
            input.role.into(),
        )
        .await?;
        Ok(User::from(user))
    }
}

//! Service subscriptions and projects.

use async_graphql::{Context, Enum, ID, InputObject, Object, Result};
use chrono::{DateTime, Utc};
use std::sync::Arc;

use super::guard::{authorize, services};
use super::ids::id;
use super::loaders::{EnvironmentsOf, MembersOfProject, ModelsOf, SubscriptionById, UserById};
use super::types::{ServiceSubscription, SubscriptionMember, SubscriptionRole, User, loader};
use crate::db::{environments, project_members, project_models, projects};
use crate::domain::{self, DomainError, subscriptions as rules};
use crate::types::{ProjectId, SubAccountId, SubscriptionId, UserId};

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "domain::EnvironmentKind")]
pub enum EnvironmentKind {
    Development,
    Test,
    Production,
    /// Added later by the company.
    Other,
}

pub struct Project(pub projects::Model);

#[Object]
impl Project {
    async fn id(&self) -> ID {
        id(self.0.id)
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn subscription(&self, ctx: &Context<'_>) -> Result<ServiceSubscription> {
        let found = loader(ctx).load_one(SubscriptionById(self.0.subscription_id)).await?;
        Ok(ServiceSubscription(found.ok_or(DomainError::NotFound("subscription"))?))
    }
    async fn owner(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        Ok(loader(ctx).load_one(UserById(self.0.owner_id)).await?.map(User::from))
    }
    async fn environments(&self, ctx: &Context<'_>) -> Result<Vec<Environment>> {
        let list = loader(ctx).load_one(EnvironmentsOf(self.0.id)).await?.unwrap_or_default();
        Ok(list.into_iter().map(Environment).collect())
    }
    async fn models(&self, ctx: &Context<'_>) -> Result<Vec<Model>> {
        let list = loader(ctx).load_one(ModelsOf(self.0.id)).await?.unwrap_or_default();
        Ok(list.into_iter().map(Model).collect())
    }
    async fn members(&self, ctx: &Context<'_>) -> Result<Vec<ProjectMember>> {
        let read = super::user::columns_under(&ctx.field(), "user");
        let list = loader(ctx).load_one(MembersOfProject((self.0.id, read))).await?.unwrap_or_default();
        Ok(list
            .into_iter()
            .map(|(member, user)| ProjectMember { member, user: Some(User::read_with(user, read)) })
            .collect())
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

pub struct Environment(environments::Model);

#[Object]
impl Environment {
    async fn id(&self) -> ID {
        id(self.0.id)
    }
    async fn kind(&self) -> EnvironmentKind {
        self.0.kind.into()
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
}

/// A process model of a project.
pub struct Model(project_models::Model);

#[Object]
impl Model {
    async fn id(&self) -> ID {
        id(self.0.id)
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn owner(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        Ok(loader(ctx).load_one(UserById(self.0.owner_id)).await?.map(User::from))
    }
}

pub struct ProjectMember {
    member: project_members::Model,
    /// Read with the member when it came in a list (`batch::members_of_projects`); for a
    /// member just added, `None`: read only if the client asks for it.
    user: Option<User>,
}

#[Object]
impl ProjectMember {
    async fn id(&self) -> ID {
        id(self.member.id)
    }
    async fn user(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        super::types::held_or_loaded(ctx, self.user.as_ref(), self.member.user_id).await
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.member.created_at
    }
}

#[derive(InputObject)]
pub struct CreateServiceSubscriptionInput {
    product: String,
    plan: String,
    /// An active user of the company; they become its first ADMIN member.
    owner_id: UserId,
    /// The sub-account that holds it (and all under it); omitted: the company as a whole,
    /// which users limited to sub-accounts do not see.
    sub_account_id: Option<SubAccountId>,
}

#[derive(InputObject)]
pub struct CreateProjectInput {
    subscription_id: SubscriptionId,
    name: String,
    owner_id: UserId,
}

#[derive(InputObject)]
pub struct CreateModelInput {
    project_id: ProjectId,
    name: String,
    owner_id: UserId,
}

#[derive(Default)]
pub struct SubscriptionQuery;

#[Object]
impl SubscriptionQuery {
    /// The company's service subscriptions.
    async fn service_subscriptions(&self, ctx: &Context<'_>) -> Result<Vec<ServiceSubscription>> {
        let principal = authorize(ctx)?;
        Ok(rules::list(services(ctx), principal).await?.into_iter().map(ServiceSubscription).collect())
    }

    /// The company's projects, of one subscription when given.
    async fn projects(&self, ctx: &Context<'_>, subscription_id: Option<SubscriptionId>) -> Result<Vec<Project>> {
        let principal = authorize(ctx)?;
        let subscription = subscription_id;
        Ok(rules::list_projects(services(ctx), principal, subscription).await?.into_iter().map(Project).collect())
    }
}

#[derive(Default)]
pub struct SubscriptionMutation;

#[Object]
impl SubscriptionMutation {
    /// Operators, for any company (the owner's); company owners, for their own.
    async fn create_service_subscription(
        &self,
        ctx: &Context<'_>,
        input: CreateServiceSubscriptionInput,
    ) -> Result<ServiceSubscription> {
        let principal = authorize(ctx)?;
        let (owner, holder) = (input.owner_id, input.sub_account_id);
        let created = rules::create(services(ctx), principal, &input.product, &input.plan, owner, holder).await?;
        Ok(ServiceSubscription(created))
    }

    /// Gives the subscription, with its projects, contacts and tickets, to a sub-account of its
    /// company, or back to the company as a whole (`subAccountId: null`). Users limited to other
    /// sub-accounts stop seeing it at once.
    async fn move_service_subscription(
        &self,
        ctx: &Context<'_>,
        id: SubscriptionId,
        sub_account_id: Option<SubAccountId>,
    ) -> Result<ServiceSubscription> {
        let principal = authorize(ctx)?;
        Ok(ServiceSubscription(rules::move_to(services(ctx), principal, id, sub_account_id).await?))
    }

    /// USER members count at once; ADMIN members wait for a confirmed ADMIN_DELEGATION ticket.
    async fn add_subscription_member(
        &self,
        ctx: &Context<'_>,
        subscription_id: SubscriptionId,
        user_id: UserId,
        role: SubscriptionRole,
    ) -> Result<SubscriptionMember> {
        let principal = authorize(ctx)?;
        let member = rules::add_member(services(ctx), principal, subscription_id, user_id, role.into()).await?;
        let subscription = Arc::new(rules::get(&services(ctx).db, principal, subscription_id).await?);
        Ok(SubscriptionMember { member, subscription, user: None })
    }

    /// Also removes the user from the subscription's projects.
    async fn remove_subscription_member(
        &self,
        ctx: &Context<'_>,
        subscription_id: SubscriptionId,
        user_id: UserId,
    ) -> Result<bool> {
        let principal = authorize(ctx)?;
        rules::remove_member(services(ctx), principal, subscription_id, user_id).await?;
        Ok(true)
    }

    /// Created with DEVELOPMENT, TEST and PRODUCTION environments; the owner is a member.
    async fn create_project(&self, ctx: &Context<'_>, input: CreateProjectInput) -> Result<Project> {
        let principal = authorize(ctx)?;
        let subscription = input.subscription_id;
        let owner = input.owner_id;
        Ok(Project(rules::create_project(services(ctx), principal, subscription, &input.name, owner).await?))
    }

    /// For members of the project's subscription.
    async fn add_project_member(
        &self,
        ctx: &Context<'_>,
        project_id: ProjectId,
        user_id: UserId,
    ) -> Result<ProjectMember> {
        let principal = authorize(ctx)?;
        let project = project_id;
        let member = rules::add_project_member(services(ctx), principal, project, user_id).await?;
        Ok(ProjectMember { member, user: None })
    }

    async fn create_environment(&self, ctx: &Context<'_>, project_id: ProjectId, name: String) -> Result<Environment> {
        let principal = authorize(ctx)?;
        let project = project_id;
        Ok(Environment(rules::create_environment(services(ctx), principal, project, &name).await?))
    }

    async fn create_model(&self, ctx: &Context<'_>, input: CreateModelInput) -> Result<Model> {
        let principal = authorize(ctx)?;
        let project = input.project_id;
        let owner = input.owner_id;
        Ok(Model(rules::create_model(services(ctx), principal, project, &input.name, owner).await?))
    }
}

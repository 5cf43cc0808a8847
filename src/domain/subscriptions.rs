//! Service subscriptions and their projects: members, environments, models.
//! Everything owned here is what deactivation must transfer (see `lifecycle`).

use super::ForField;
use crate::types::Line;
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, IntoActiveModel, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, QueryTrait, Set,
};
use serde_json::json;

use super::OnConstraint;
use super::audit::AuditEvent;
use super::principal::{Principal, Reach};
use super::services::Services;
use super::{
    DomainError, DomainResult, EnvironmentKind, MemberStatus, Module, Role, SubscriptionRole, SubscriptionStatus,
    UserStatus,
};
use crate::db::{
    environments, project_members, project_models, projects, service_subscriptions, sub_accounts, subscription_members,
    user_modules, users,
};
use crate::types::{AuditAction, TargetKind};
use crate::types::{CompanyId, MemberId, ProjectId, SubAccountId, SubscriptionId, UserId};

/// Products, plans, and the names of projects, environments and models.
type Label = Line<200>;

fn text(field: &str, value: &str) -> DomainResult<String> {
    Label::required(value).for_field(field).map(Label::into_inner)
}

/// An active user of `company_id`; otherwise a validation error on `field`.
async fn active_user(
    db: &impl ConnectionTrait,
    company_id: CompanyId,
    id: UserId,
    field: &str,
) -> DomainResult<users::Model> {
    users::find_by_id(id)
        .filter(users::Column::CompanyId.eq(company_id))
        .filter(users::Column::Status.eq(UserStatus::Active))
        .one(db)
        .await?
        .ok_or_else(|| DomainError::invalid(field, "is not an active user of the company"))
}

/// Who may own a project or a model: an active member of the subscription who holds PROJECTS
/// (administrators hold every module); otherwise a validation error on `field`.
async fn check_project_owner(
    db: &impl ConnectionTrait,
    subscription_id: SubscriptionId,
    user: &users::Model,
    field: &str,
) -> DomainResult<()> {
    let member = subscription_members::Entity::find()
        .filter(subscription_members::Column::SubscriptionId.eq(subscription_id))
        .filter(subscription_members::Column::UserId.eq(user.id))
        .filter(subscription_members::Column::Status.eq(MemberStatus::Active))
        .count(db)
        .await?;
    if member == 0 {
        return Err(DomainError::invalid(field, "must be an active member of the subscription"));
    }
    let holds_projects = user.role.is_company_admin()
        || user_modules::Entity::find()
            .filter(user_modules::Column::UserId.eq(user.id))
            .filter(user_modules::Column::Module.eq(Module::Projects))
            .count(db)
            .await?
            > 0;
    if !holds_projects {
        return Err(DomainError::invalid(field, "must hold the PROJECTS module"));
    }
    Ok(())
}

/// The subscriptions the caller reaches: their company's, and of those, only the ones held by
/// their sub-accounts when they are limited to some. Every read of the subscription tree
/// (subscriptions, projects, contacts, tickets) starts from here.
pub fn in_reach(principal: &Principal) -> DomainResult<Condition> {
    let company = service_subscriptions::Column::CompanyId.eq(principal.company()?);
    Ok(match &principal.reach {
        Reach::WholeCompany => Condition::all().add(company),
        Reach::SubAccounts(ids) => {
            Condition::all().add(company).add(service_subscriptions::Column::SubAccountId.is_in(ids.iter().copied()))
        }
    })
}

/// The ids of the subscriptions in reach, to filter what hangs under them.
pub fn ids_in_reach(principal: &Principal) -> DomainResult<sea_orm::sea_query::SelectStatement> {
    Ok(service_subscriptions::Entity::find()
        .select_only()
        .column(service_subscriptions::Column::Id)
        .filter(in_reach(principal)?)
        .into_query())
}

/// One subscription the caller reaches; any other is NOT_FOUND, like one that does not exist.
pub async fn get(
    db: &impl ConnectionTrait,
    principal: &Principal,
    id: SubscriptionId,
) -> DomainResult<service_subscriptions::Model> {
    service_subscriptions::Entity::find_by_id(id)
        .filter(in_reach(principal)?)
        .one(db)
        .await?
        .ok_or(DomainError::NotFound("subscription"))
}

#[tracing::instrument(skip_all)]
pub async fn list(svc: &Services, principal: &Principal) -> DomainResult<Vec<service_subscriptions::Model>> {
    Ok(service_subscriptions::Entity::find()
        .filter(in_reach(principal)?)
        .order_by_asc(service_subscriptions::Column::CreatedAt)
        .all(&svc.db)
        .await?)
}

/// A user limited to sub-accounts can only take part in what those hold: a member, owner or
/// project member they could not see would be a hole in both directions.
pub(crate) async fn check_reaches(
    db: &impl ConnectionTrait,
    user: &users::Model,
    subscription: &service_subscriptions::Model,
    field: &str,
) -> DomainResult<()> {
    if Reach::of(db, user).await?.covers(subscription.sub_account_id) {
        return Ok(());
    }
    Err(DomainError::invalid(field, "is limited to sub-accounts that do not hold this subscription"))
}

/// A sub-account of `company_id`; otherwise a validation error on `subAccountId`.
async fn sub_account_of(
    db: &impl ConnectionTrait,
    company_id: CompanyId,
    id: SubAccountId,
) -> DomainResult<sub_accounts::Model> {
    sub_accounts::Entity::find_by_id(id)
        .filter(sub_accounts::Column::CompanyId.eq(company_id))
        .one(db)
        .await?
        .ok_or_else(|| DomainError::invalid("subAccountId", "is not a sub-account of the subscription's company"))
}

async fn add_member_row(
    db: &impl ConnectionTrait,
    subscription_id: SubscriptionId,
    user_id: UserId,
    role: SubscriptionRole,
    status: MemberStatus,
    now: DateTime<Utc>,
) -> DomainResult<subscription_members::Model> {
    Ok(subscription_members::ActiveModel {
        id: Set(crate::types::MemberId::new()),
        subscription_id: Set(subscription_id),
        user_id: Set(user_id),
        role: Set(role),
        status: Set(status),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(db)
    .await?)
}

/// Operators create one for any company (the owner's); a company owner for their own.
#[tracing::instrument(skip_all)]
pub async fn create(
    svc: &Services,
    principal: &Principal,
    product: &str,
    plan: &str,
    owner_id: UserId,
    sub_account_id: Option<SubAccountId>,
) -> DomainResult<service_subscriptions::Model> {
    let product = text("product", product)?;
    let plan = text("plan", plan)?;
    let mut tx = svc.begin_as(principal).await?;
    let now = tx.now();
    let owner = users::find_by_id(owner_id)
        .filter(users::Column::Status.eq(UserStatus::Active))
        .one(&tx)
        .await?
        .ok_or_else(|| DomainError::invalid("ownerId", "is not an active company user"))?;
    let company_id =
        owner.company_id.ok_or_else(|| DomainError::invalid("ownerId", "is not an active company user"))?;
    if principal.role != Role::Operator && principal.company_id != Some(company_id) {
        return Err(DomainError::invalid("ownerId", "is not an active company user"));
    }
    let holder = match sub_account_id {
        Some(id) => Some(sub_account_of(&tx, company_id, id).await?.id),
        None => None,
    };
    if !Reach::of(&tx, &owner).await?.covers(holder) {
        return Err(DomainError::invalid("ownerId", "is limited to sub-accounts that do not hold this subscription"));
    }
    let subscription = service_subscriptions::ActiveModel {
        id: Set(crate::types::SubscriptionId::new()),
        company_id: Set(company_id),
        product: Set(product),
        plan: Set(plan),
        owner_id: Set(owner.id),
        status: Set(SubscriptionStatus::Active),
        created_at: Set(now),
        updated_at: Set(now),
        sub_account_id: Set(holder),
    }
    .insert(&tx)
    .await?;
    // The owner administers it from the start.
    add_member_row(&tx, subscription.id, owner.id, SubscriptionRole::Admin, MemberStatus::Active, now).await?;
    tx.audit(
        AuditEvent::new(AuditAction::SubscriptionCreated, TargetKind::Subscription, subscription.id)
            .company(Some(company_id))
            .after(json!({"product": subscription.product, "plan": subscription.plan, "ownerId": owner.id,
                    "subAccountId": holder})),
    );
    tx.commit().await?;
    Ok(subscription)
}

/// A USER member counts at once; an ADMIN waits for a support agent to confirm an
/// ADMIN_DELEGATION ticket naming the membership.
#[tracing::instrument(skip_all)]
pub async fn add_member(
    svc: &Services,
    principal: &Principal,
    subscription_id: SubscriptionId,
    user_id: UserId,
    role: SubscriptionRole,
) -> DomainResult<subscription_members::Model> {
    let mut tx = svc.begin_as(principal).await?;
    let now = tx.now();
    let subscription = get(&tx, principal, subscription_id).await?;
    let user = active_user(&tx, subscription.company_id, user_id, "userId").await?;
    check_reaches(&tx, &user, &subscription, "userId").await?;
    let status = match role {
        SubscriptionRole::User => MemberStatus::Active,
        SubscriptionRole::Admin => MemberStatus::PendingConfirmation,
    };
    let member = add_member_row(&tx, subscription.id, user.id, role, status, now)
        .await
        .on_constraint("userId", || "This user is already a member".into())?;
    tx.audit(
        AuditEvent::new(AuditAction::SubscriptionMemberAdded, TargetKind::Subscription, subscription.id)
            .company(Some(subscription.company_id))
            .after(json!({"memberId": member.id, "userId": user.id, "role": role, "status": status})),
    );
    tx.commit().await?;
    Ok(member)
}

#[tracing::instrument(skip_all)]
pub async fn remove_member(
    svc: &Services,
    principal: &Principal,
    subscription_id: SubscriptionId,
    user_id: UserId,
) -> DomainResult<()> {
    let mut tx = svc.begin_as(principal).await?;
    let subscription = get(&tx, principal, subscription_id).await?;
    if subscription.owner_id == user_id {
        return Err(DomainError::invalid(
            "userId",
            "the subscription's owner stays a member; transfer the ownership first",
        ));
    }
    let member = subscription_members::Entity::find()
        .filter(subscription_members::Column::SubscriptionId.eq(subscription.id))
        .filter(subscription_members::Column::UserId.eq(user_id))
        .one(&tx)
        .await?
        .ok_or(DomainError::NotFound("member"))?;
    // Leaving the subscription means leaving its projects too.
    let project_ids: Vec<ProjectId> = projects::Entity::find()
        .filter(projects::Column::SubscriptionId.eq(subscription.id))
        .all(&tx)
        .await?
        .into_iter()
        .map(|p| p.id)
        .collect();
    project_members::Entity::delete_many()
        .filter(project_members::Column::UserId.eq(user_id))
        .filter(project_members::Column::ProjectId.is_in(project_ids))
        .exec(&tx)
        .await?;
    subscription_members::Entity::delete_by_id(member.id).exec(&tx).await?;
    let audit = AuditEvent::new(AuditAction::SubscriptionMemberRemoved, TargetKind::Subscription, subscription.id)
        .company(Some(subscription.company_id))
        .before(json!({"memberId": member.id, "userId": user_id, "role": member.role}));
    tx.audit(audit);
    tx.commit().await
}

/// One project of a subscription the caller reaches.
pub async fn project(db: &impl ConnectionTrait, principal: &Principal, id: ProjectId) -> DomainResult<projects::Model> {
    projects::Entity::find_by_id(id)
        .filter(projects::Column::SubscriptionId.in_subquery(ids_in_reach(principal)?))
        .one(db)
        .await?
        .ok_or(DomainError::NotFound("project"))
}

#[tracing::instrument(skip_all)]
pub async fn list_projects(
    svc: &Services,
    principal: &Principal,
    subscription_id: Option<SubscriptionId>,
) -> DomainResult<Vec<projects::Model>> {
    let mut query =
        projects::Entity::find().filter(projects::Column::SubscriptionId.in_subquery(ids_in_reach(principal)?));
    if let Some(subscription_id) = subscription_id {
        query = query.filter(projects::Column::SubscriptionId.eq(subscription_id));
    }
    Ok(query.order_by_asc(projects::Column::Name).all(&svc.db).await?)
}

async fn new_environment(
    db: &impl ConnectionTrait,
    project_id: ProjectId,
    kind: EnvironmentKind,
    name: &str,
    now: DateTime<Utc>,
) -> DomainResult<environments::Model> {
    Ok(environments::ActiveModel {
        id: Set(crate::types::EnvironmentId::new()),
        project_id: Set(project_id),
        kind: Set(kind),
        name: Set(name.to_owned()),
        created_at: Set(now),
    }
    .insert(db)
    .await?)
}

/// A project with its development, test and production environments; its owner is a member.
#[tracing::instrument(skip_all)]
pub async fn create_project(
    svc: &Services,
    principal: &Principal,
    subscription_id: SubscriptionId,
    name: &str,
    owner_id: UserId,
) -> DomainResult<projects::Model> {
    let name = text("name", name)?;
    let mut tx = svc.begin_as(principal).await?;
    let now = tx.now();
    let subscription = get(&tx, principal, subscription_id).await?;
    let owner = active_user(&tx, subscription.company_id, owner_id, "ownerId").await?;
    check_project_owner(&tx, subscription.id, &owner, "ownerId").await?;
    let project = projects::ActiveModel {
        id: Set(crate::types::ProjectId::new()),
        company_id: Set(subscription.company_id),
        subscription_id: Set(subscription.id),
        name: Set(name.clone()),
        owner_id: Set(owner.id),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&tx)
    .await
    .on_constraint("name", || format!("A project named {name} exists"))?;
    for (kind, env_name) in [
        (EnvironmentKind::Development, "Development"),
        (EnvironmentKind::Test, "Test"),
        (EnvironmentKind::Production, "Production"),
    ] {
        new_environment(&tx, project.id, kind, env_name, now).await?;
    }
    project_members::ActiveModel {
        id: Set(crate::types::ProjectMemberId::new()),
        project_id: Set(project.id),
        user_id: Set(owner.id),
        created_at: Set(now),
    }
    .insert(&tx)
    .await?;
    tx.audit(
        AuditEvent::new(AuditAction::ProjectCreated, TargetKind::Project, project.id)
            .company(Some(project.company_id))
            .after(json!({"name": project.name, "subscriptionId": subscription.id, "ownerId": owner.id})),
    );
    tx.commit().await?;
    Ok(project)
}

/// Only members of the project's subscription may join the project.
#[tracing::instrument(skip_all)]
pub async fn add_project_member(
    svc: &Services,
    principal: &Principal,
    project_id: ProjectId,
    user_id: UserId,
) -> DomainResult<project_members::Model> {
    let mut tx = svc.begin_as(principal).await?;
    let now = tx.now();
    let project = project(&tx, principal, project_id).await?;
    let user = active_user(&tx, project.company_id, user_id, "userId").await?;
    let in_subscription = subscription_members::Entity::find()
        .filter(subscription_members::Column::SubscriptionId.eq(project.subscription_id))
        .filter(subscription_members::Column::UserId.eq(user.id))
        .filter(subscription_members::Column::Status.eq(MemberStatus::Active))
        .count(&tx)
        .await?;
    if in_subscription == 0 {
        return Err(DomainError::invalid("userId", "must first be an active member of the project's subscription"));
    }
    let member = project_members::ActiveModel {
        id: Set(crate::types::ProjectMemberId::new()),
        project_id: Set(project.id),
        user_id: Set(user.id),
        created_at: Set(now),
    }
    .insert(&tx)
    .await
    .on_constraint("userId", || "This user is already a member".into())?;
    tx.audit(
        AuditEvent::new(AuditAction::ProjectMemberAdded, TargetKind::Project, project.id)
            .company(Some(project.company_id))
            .after(json!({"userId": user.id})),
    );
    tx.commit().await?;
    Ok(member)
}

#[tracing::instrument(skip_all)]
pub async fn create_environment(
    svc: &Services,
    principal: &Principal,
    project_id: ProjectId,
    name: &str,
) -> DomainResult<environments::Model> {
    let name = text("name", name)?;
    let mut tx = svc.begin_as(principal).await?;
    let now = tx.now();
    let project = project(&tx, principal, project_id).await?;
    let environment = new_environment(&tx, project.id, EnvironmentKind::Other, &name, now)
        .await
        .on_constraint("name", || format!("An environment named {name} exists"))?;
    tx.audit(
        AuditEvent::new(AuditAction::ProjectEnvironmentAdded, TargetKind::Project, project.id)
            .company(Some(project.company_id))
            .after(json!({"name": environment.name})),
    );
    tx.commit().await?;
    Ok(environment)
}

#[tracing::instrument(skip_all)]
pub async fn create_model(
    svc: &Services,
    principal: &Principal,
    project_id: ProjectId,
    name: &str,
    owner_id: UserId,
) -> DomainResult<project_models::Model> {
    let name = text("name", name)?;
    let mut tx = svc.begin_as(principal).await?;
    let now = tx.now();
    let project = project(&tx, principal, project_id).await?;
    let owner = active_user(&tx, project.company_id, owner_id, "ownerId").await?;
    check_project_owner(&tx, project.subscription_id, &owner, "ownerId").await?;
    let model = project_models::ActiveModel {
        id: Set(crate::types::ModelId::new()),
        project_id: Set(project.id),
        name: Set(name),
        owner_id: Set(owner.id),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&tx)
    .await
    .on_constraint("name", || "A model of that name exists".into())?;
    tx.audit(
        AuditEvent::new(AuditAction::ProjectModelCreated, TargetKind::Project, project.id)
            .company(Some(project.company_id))
            .after(json!({"modelId": model.id, "name": model.name, "ownerId": owner.id})),
    );
    tx.commit().await?;
    Ok(model)
}

/// Used by the support issue's ADMIN_DELEGATION confirmation.
pub async fn confirm_admin_membership(
    db: &impl ConnectionTrait,
    member_id: MemberId,
    now: DateTime<Utc>,
) -> DomainResult<()> {
    let member =
        subscription_members::Entity::find_by_id(member_id).one(db).await?.ok_or(DomainError::NotFound("member"))?;
    let mut active = member.into_active_model();
    active.status = Set(MemberStatus::Active);
    active.updated_at = Set(now);
    active.update(db).await?;
    Ok(())
}

/// Gives a subscription (with everything under it) to a sub-account of its company, or back to
/// the company as a whole (`None`). Company administrators move their company's; operators any.
/// Members limited to other sub-accounts stop seeing it at once.
#[tracing::instrument(skip_all)]
pub async fn move_to(
    svc: &Services,
    principal: &Principal,
    id: SubscriptionId,
    sub_account_id: Option<SubAccountId>,
) -> DomainResult<service_subscriptions::Model> {
    let mut tx = svc.begin_as(principal).await?;
    let mut query = service_subscriptions::Entity::find_by_id(id);
    if principal.role != Role::Operator {
        query = query.filter(in_reach(principal)?);
    }
    let subscription = query.one(&tx).await?.ok_or(DomainError::NotFound("subscription"))?;
    let holder = match sub_account_id {
        Some(id) => Some(sub_account_of(&tx, subscription.company_id, id).await?.id),
        None => None,
    };
    let before = subscription.sub_account_id;
    let mut active = subscription.into_active_model();
    active.sub_account_id = Set(holder);
    active.updated_at = Set(tx.now());
    let subscription = active.update(&tx).await?;
    tx.audit(
        AuditEvent::new(AuditAction::SubscriptionMoved, TargetKind::Subscription, subscription.id)
            .company(Some(subscription.company_id))
            .before(json!({"subAccountId": before}))
            .after(json!({"subAccountId": holder})),
    );
    tx.commit().await?;
    Ok(subscription)
}

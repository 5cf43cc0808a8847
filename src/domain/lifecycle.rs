//! The end of a user's life in a company: deactivation with transfer of what
//! they own, reactivation, GDPR anonymization, removal of people who never joined.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, Iterable, QueryFilter, Set,
};
use serde_json::json;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::audit::AuditEvent;
use super::people::{get, snapshot};
use super::principal::Principal;
use super::services::Services;
use super::work::UnitOfWork;
use super::{DomainError, DomainResult, Email, FieldError, InvitationStatus, Module, Role, UserStatus};
use crate::db::{
    invitations, link_tokens, password_history, project_members, project_models, projects, service_subscriptions,
    sessions, subscription_members, support_contacts, user_modules, user_passwords, users,
};
use crate::notify::Notification;
use crate::types::{AuditAction, TargetKind};
use crate::types::{ContactId, MemberId, ModelId, ProjectId, ProjectMemberId, SubscriptionId, UserId};

/// What a user can own or hold, with the id of the thing held: what deactivation (and
/// anonymization) must hand over to someone else first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Held {
    Subscription(SubscriptionId),
    Project(ProjectId),
    Model(ModelId),
    SubscriptionMembership(MemberId),
    ProjectMembership(ProjectMemberId),
    SupportContact(ContactId),
    ModulePermission(Module),
}

pub use crate::types::enums::HoldingKind;

impl Held {
    pub fn kind(self) -> HoldingKind {
        match self {
            Held::Subscription(_) => HoldingKind::Subscription,
            Held::Project(_) => HoldingKind::Project,
            Held::Model(_) => HoldingKind::Model,
            Held::SubscriptionMembership(_) => HoldingKind::SubscriptionMembership,
            Held::ProjectMembership(_) => HoldingKind::ProjectMembership,
            Held::SupportContact(_) => HoldingKind::SupportContact,
            Held::ModulePermission(_) => HoldingKind::ModulePermission,
        }
    }

    /// The id of what is held (a module's name for a module permission).
    pub fn id(self) -> String {
        match self {
            Held::Subscription(id) => id.to_string(),
            Held::Project(id) => id.to_string(),
            Held::Model(id) => id.to_string(),
            Held::SubscriptionMembership(id) => id.to_string(),
            Held::ProjectMembership(id) => id.to_string(),
            Held::SupportContact(id) => id.to_string(),
            Held::ModulePermission(module) => module.code(),
        }
    }

    /// The row the audit event names: the thing itself, or (a module) the user who held it.
    fn audit_target(self, holder: UserId) -> Uuid {
        match self {
            Held::Subscription(id) => id.into(),
            Held::Project(id) => id.into(),
            Held::Model(id) => id.into(),
            Held::SubscriptionMembership(id) => id.into(),
            Held::ProjectMembership(id) => id.into(),
            Held::SupportContact(id) => id.into(),
            Held::ModulePermission(_) => holder.into(),
        }
    }

    /// The module whoever takes it over must hold.
    fn needs(self) -> Option<Module> {
        match self {
            Held::Subscription(_) | Held::SubscriptionMembership(_) => Some(Module::Subscriptions),
            Held::Project(_) | Held::Model(_) | Held::ProjectMembership(_) => Some(Module::Projects),
            Held::SupportContact(_) => Some(Module::Support),
            Held::ModulePermission(_) => None,
        }
    }
}

/// Something a user owns or holds that must go to someone else before they leave.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Holding {
    pub held: Held,
    /// Human-readable: a product and plan, a project's name, a module.
    pub name: String,
}

/// What `userId` owns or holds.
pub async fn plan(db: &impl ConnectionTrait, user_id: UserId) -> DomainResult<Vec<Holding>> {
    let mut held = Vec::new();
    let hold = |held, name: String| Holding { held, name };
    for s in
        service_subscriptions::Entity::find().filter(service_subscriptions::Column::OwnerId.eq(user_id)).all(db).await?
    {
        held.push(hold(Held::Subscription(s.id), format!("{} {}", s.product, s.plan)));
    }
    for p in projects::Entity::find().filter(projects::Column::OwnerId.eq(user_id)).all(db).await? {
        held.push(hold(Held::Project(p.id), p.name));
    }
    for m in project_models::Entity::find().filter(project_models::Column::OwnerId.eq(user_id)).all(db).await? {
        held.push(hold(Held::Model(m.id), m.name));
    }
    for m in
        subscription_members::Entity::find().filter(subscription_members::Column::UserId.eq(user_id)).all(db).await?
    {
        held.push(hold(Held::SubscriptionMembership(m.id), format!("{:?} member", m.role)));
    }
    for m in project_members::Entity::find().filter(project_members::Column::UserId.eq(user_id)).all(db).await? {
        held.push(hold(Held::ProjectMembership(m.id), "project member".into()));
    }
    for c in support_contacts::Entity::find().filter(support_contacts::Column::UserId.eq(user_id)).all(db).await? {
        held.push(hold(Held::SupportContact(c.id), "support contact".into()));
    }
    for m in user_modules::Entity::find().filter(user_modules::Column::UserId.eq(user_id)).all(db).await? {
        held.push(hold(Held::ModulePermission(m.module), m.module.code()));
    }
    Ok(held)
}

/// Checks the heir and moves everything to them, one audit event per thing moved.
async fn transfer(
    db: &mut UnitOfWork<'_>,
    principal: &Principal,
    user: &users::Model,
    transfer_to: Option<UserId>,
) -> DomainResult<()> {
    let held = plan(db, user.id).await?;
    if held.is_empty() {
        return Ok(());
    }
    let Some(heir_id) = transfer_to else {
        let fields = held
            .iter()
            .map(|h| {
                FieldError::new(
                    "transferTo",
                    format!(
                        "{} {} ({}) must be transferred to another user",
                        h.held.kind().name(),
                        h.name,
                        h.held.id()
                    ),
                )
            })
            .collect();
        return Err(DomainError::Validation(fields));
    };
    let heir = heir_for(&*db, principal, user, heir_id, &held).await?;
    for holding in &held {
        move_holding(db, holding.held, user, &heir).await?;
        let (kind, id) = (holding.held.kind(), holding.held.id());
        db.audit(
            AuditEvent::new(AuditAction::ResourceTransferred, kind, holding.held.audit_target(user.id))
                .company(user.company_id)
                .before(json!({"kind": kind, "id": id, "from": user.id}))
                .after(json!({"kind": kind, "id": id, "name": holding.name, "to": heir.id})),
        );
    }
    Ok(())
}

/// The heir, if they may take everything `held`: another active user of the company holding
/// every module the holdings need.
async fn heir_for(
    db: &impl ConnectionTrait,
    principal: &Principal,
    user: &users::Model,
    heir_id: UserId,
    held: &[Holding],
) -> DomainResult<users::Model> {
    if heir_id == user.id {
        return Err(DomainError::invalid("transferTo", "cannot be the user themself"));
    }
    let heir = get(db, principal, heir_id)
        .await
        .map_err(|_| DomainError::invalid("transferTo", "is not a user of your company"))?;
    if heir.status != UserStatus::Active {
        return Err(DomainError::invalid("transferTo", "must be an active user"));
    }
    let heir_modules: BTreeSet<Module> = if heir.role.is_company_admin() {
        Module::iter().collect()
    } else {
        user_modules::Entity::find()
            .filter(user_modules::Column::UserId.eq(heir.id))
            .all(db)
            .await?
            .into_iter()
            .map(|m| m.module)
            .collect()
    };
    // What a subscription's sub-account holds goes only to someone who reaches it.
    let reach = super::principal::Reach::of(db, &heir).await?;
    for holding in held {
        if let Some(subscription) = subscription_of(db, holding.held).await?
            && !reach.covers(subscription.sub_account_id)
        {
            return Err(DomainError::invalid(
                "transferTo",
                format!("is limited to sub-accounts that do not hold {} ({})", holding.name, holding.held.id()),
            ));
        }
    }
    let missing: BTreeSet<Module> =
        held.iter().filter_map(|h| h.held.needs()).filter(|m| !heir_modules.contains(m)).collect();
    if !missing.is_empty() {
        let names: Vec<String> = missing.iter().map(|m| m.code()).collect();
        return Err(DomainError::invalid(
            "transferTo",
            format!("lacks the modules these resources need: {}", names.join(", ")),
        ));
    }
    Ok(heir)
}

/// The subscription a holding is part of (None for a module permission).
async fn subscription_of(db: &impl ConnectionTrait, held: Held) -> DomainResult<Option<service_subscriptions::Model>> {
    let project_subscription = |project: Option<projects::Model>| project.map(|p| p.subscription_id);
    let id = match held {
        Held::Subscription(id) => Some(id),
        Held::Project(id) => project_subscription(projects::Entity::find_by_id(id).one(db).await?),
        Held::Model(id) => match project_models::Entity::find_by_id(id).one(db).await? {
            Some(model) => project_subscription(projects::Entity::find_by_id(model.project_id).one(db).await?),
            None => None,
        },
        Held::SubscriptionMembership(id) => {
            subscription_members::Entity::find_by_id(id).one(db).await?.map(|m| m.subscription_id)
        }
        Held::ProjectMembership(id) => match project_members::Entity::find_by_id(id).one(db).await? {
            Some(member) => project_subscription(projects::Entity::find_by_id(member.project_id).one(db).await?),
            None => None,
        },
        Held::SupportContact(id) => support_contacts::Entity::find_by_id(id).one(db).await?.map(|c| c.subscription_id),
        Held::ModulePermission(_) => None,
    };
    Ok(match id {
        Some(id) => service_subscriptions::Entity::find_by_id(id).one(db).await?,
        None => None,
    })
}

/// `UPDATE table SET column = heir WHERE id = …` (ownership).
macro_rules! reassign {
    ($table:ident, $column:ident, $id:expr, $heir:expr, $db:expr) => {{
        $table::Entity::update_many()
            .col_expr($table::Column::$column, Expr::value($heir))
            .filter($table::Column::Id.eq($id))
            .exec($db)
            .await?;
    }};
}

/// A membership row: the heir takes the place, unless they already have one in the same
/// parent (then the leaver's row just goes).
macro_rules! take_place {
    ($table:ident, $parent:ident, $parent_column:ident, $id:expr, $heir:expr, $db:expr) => {{
        if let Some(row) = $table::Entity::find_by_id($id).one($db).await? {
            let heir_there = $table::Entity::find()
                .filter($table::Column::$parent_column.eq(row.$parent))
                .filter($table::Column::UserId.eq($heir))
                .one($db)
                .await?
                .is_some();
            if heir_there {
                $table::Entity::delete_by_id(row.id).exec($db).await?;
            } else {
                let mut active = row.into_active_model();
                active.user_id = Set($heir);
                active.update($db).await?;
            }
        }
    }};
}

async fn move_holding(
    db: &impl ConnectionTrait,
    held: Held,
    from: &users::Model,
    to: &users::Model,
) -> DomainResult<()> {
    match held {
        Held::Subscription(id) => reassign!(service_subscriptions, OwnerId, id, to.id, db),
        Held::Project(id) => reassign!(projects, OwnerId, id, to.id, db),
        Held::Model(id) => reassign!(project_models, OwnerId, id, to.id, db),
        Held::SubscriptionMembership(id) => {
            take_place!(subscription_members, subscription_id, SubscriptionId, id, to.id, db)
        }
        Held::ProjectMembership(id) => take_place!(project_members, project_id, ProjectId, id, to.id, db),
        Held::SupportContact(id) => take_place!(support_contacts, subscription_id, SubscriptionId, id, to.id, db),
        Held::ModulePermission(module) => {
            let removed = user_modules::Entity::delete_many()
                .filter(user_modules::Column::UserId.eq(from.id))
                .filter(user_modules::Column::Module.eq(module))
                .exec(db)
                .await?;
            if removed.rows_affected == 0 {
                return Ok(());
            }
            // An administrator heir already holds every module; a user heir gains this one.
            let heir_has = to.role.is_company_admin()
                || user_modules::Entity::find()
                    .filter(user_modules::Column::UserId.eq(to.id))
                    .filter(user_modules::Column::Module.eq(module))
                    .one(db)
                    .await?
                    .is_some();
            let forbidden_to_heir = module.is_admin_only() && to.role == Role::User;
            if !heir_has && !forbidden_to_heir {
                user_modules::ActiveModel { user_id: Set(to.id), module: Set(module) }.insert(db).await?;
            }
        }
    }
    Ok(())
}

/// Only the owner deals with administrators; nobody deals with the owner or themself here.
fn check_may_change(principal: &Principal, user: &users::Model, what: &str) -> DomainResult<()> {
    if user.role == Role::Owner {
        return Err(DomainError::invalid("id", format!("the owner cannot be {what}")));
    }
    if Some(user.id) == principal.person_id() {
        return Err(DomainError::invalid("id", format!("you cannot be {what} by yourself")));
    }
    principal.may_manage(user.id, user.role)
}

async fn end_sessions(db: &impl ConnectionTrait, user_id: UserId, now: DateTime<Utc>) -> DomainResult<()> {
    sessions::Entity::update_many()
        .col_expr(sessions::Column::RevokedAt, Expr::value(now))
        .filter(sessions::Column::UserId.eq(user_id))
        .filter(sessions::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(())
}

#[tracing::instrument(skip_all)]
pub async fn deactivate(
    svc: &Services,
    principal: &Principal,
    id: UserId,
    transfer_to: Option<UserId>,
) -> DomainResult<users::Model> {
    let mut tx = svc.begin_as(principal).await?;
    let now = tx.now();
    let user = get(&tx, principal, id).await?;
    check_may_change(principal, &user, "deactivated")?;
    if user.status != UserStatus::Active {
        return Err(DomainError::invalid(
            "id",
            format!("only an active user can be deactivated (this one is {:?})", user.status),
        ));
    }
    transfer(&mut tx, principal, &user, transfer_to).await?;
    end_sessions(&tx, user.id, now).await?;
    let before = snapshot(&user);
    let mut active = user.into_active_model();
    active.status = Set(UserStatus::Inactive);
    active.deactivated_at = Set(Some(now));
    active.updated_at = Set(now);
    let user = active.update(&tx).await?;
    let audit = AuditEvent::new(AuditAction::UserDeactivated, TargetKind::User, user.id)
        .company(user.company_id)
        .after(snapshot(&user))
        .before(before);
    tx.audit(audit);
    let data = json!({"userId": user.id, "transferredTo": transfer_to});
    tx.notify(Notification {
        company_id: user.company_id,
        event_type: crate::types::EventType::UserDeactivated,
        data,
        email: None,
    })
    .await?;
    tx.commit().await?;
    Ok(user)
}

#[tracing::instrument(skip_all)]
pub async fn reactivate(svc: &Services, principal: &Principal, id: UserId) -> DomainResult<users::Model> {
    let mut tx = svc.begin_as(principal).await?;
    let now = tx.now();
    let user = get(&tx, principal, id).await?;
    check_may_change(principal, &user, "reactivated")?;
    if user.status != UserStatus::Inactive {
        return Err(DomainError::invalid(
            "id",
            format!("only an inactive user can be reactivated (this one is {:?})", user.status),
        ));
    }
    let mut active = user.into_active_model();
    active.status = Set(UserStatus::Active);
    active.deactivated_at = Set(None);
    active.updated_at = Set(now);
    let user = active.update(&tx).await?;
    tx.audit(
        AuditEvent::new(AuditAction::UserReactivated, TargetKind::User, user.id)
            .company(user.company_id)
            .after(snapshot(&user)),
    );
    let data = json!({"userId": user.id});
    tx.notify(Notification {
        company_id: user.company_id,
        event_type: crate::types::EventType::UserReactivated,
        data,
        email: None,
    })
    .await?;
    tx.commit().await?;
    Ok(user)
}

pub struct Anonymized {
    pub user: users::Model,
    /// The personal fields that were replaced or erased.
    pub scrubbed: Vec<&'static str>,
}

/// A stable pseudonym from the id: the same user always gets the same one, and it reveals
/// nothing of who they were.
fn pseudonym(id: UserId) -> String {
    Sha256::digest(id.0.as_bytes()).iter().take(6).map(|b| format!("{b:02x}")).collect()
}

/// GDPR erasure: personal fields replaced irreversibly, secrets and sessions deleted; the row
/// and the audit trail (which refers to the user by id) stay.
#[tracing::instrument(skip_all)]
pub async fn anonymize(
    svc: &Services,
    principal: &Principal,
    id: UserId,
    transfer_to: Option<UserId>,
) -> DomainResult<Anonymized> {
    let mut tx = svc.begin_as(principal).await?;
    let user = get(&tx, principal, id).await?;
    check_may_change(principal, &user, "anonymized")?;
    if user.status == UserStatus::Anonymized {
        return Err(DomainError::invalid("id", "this user is already anonymized"));
    }
    transfer(&mut tx, principal, &user, transfer_to).await?;
    let done = scrub(&mut tx, user, principal.person_id()).await?;
    tx.commit().await?;
    Ok(done)
}

/// The irreversible part of anonymization, once nothing is left to transfer (also used when a
/// support agent confirms a USER_REMOVAL ticket).
pub async fn scrub(tx: &mut UnitOfWork<'_>, user: users::Model, actor: Option<UserId>) -> DomainResult<Anonymized> {
    let now = tx.now();
    let tag = pseudonym(user.id);
    let new_email = Email::parse(&format!("anonymized-{tag}@anonymized.invalid"))
        .map_err(|e| DomainError::internal(anyhow::anyhow!("the pseudonymous address: {e}")))?;
    let old_email = user.email.clone();
    let has_password =
        user_passwords::Entity::find_by_id(user.id).one(tx).await?.and_then(|row| row.password_hash).is_some();
    if has_password {
        user_passwords::set(tx, user.id, None).await?;
    }
    let mut scrubbed = vec!["email", "givenName", "surname"];
    for (present, field) in [
        (user.job_title.is_some(), "jobTitle"),
        (user.manager_email.is_some(), "managerEmail"),
        (user.country.is_some(), "country"),
        (has_password, "password"),
        (user.external_id.is_some(), "externalId"),
        (user.scim_user_name.is_some(), "userName"),
    ] {
        if present {
            scrubbed.push(field);
        }
    }
    let given = "Anonymized".to_owned();
    let surname = format!("User {tag}");
    let company_id = user.company_id;
    let mut active = user.into_active_model();
    active.email = Set(new_email.clone());
    active.given_name = Set(Some(given.clone()));
    active.surname = Set(Some(surname.clone()));
    active.job_title = Set(None);
    active.manager_email = Set(None);
    active.country = Set(None);
    active.external_id = Set(None);
    active.scim_user_name = Set(None);
    active.locale = Set(crate::types::Locale::default());
    active.must_change_password = Set(false);
    active.status = Set(UserStatus::Anonymized);
    active.anonymized_at = Set(Some(now));
    active.updated_at = Set(now);
    let user = active.update(tx).await?;

    erase_traces(tx, &user, company_id, &old_email).await?;
    tx.audit(
        AuditEvent::new(AuditAction::UserAnonymized, TargetKind::User, user.id)
            .company(company_id)
            .actor(actor)
            .after(json!({"scrubbed": scrubbed})),
    );
    let data = json!({"userId": user.id});
    tx.notify(Notification { company_id, event_type: crate::types::EventType::UserAnonymized, data, email: None })
        .await?;
    Ok(Anonymized { user, scrubbed })
}

/// What else held the person: secrets go, and their old address is rewritten wherever others
/// point at them (managers, invitations, the outbox); contact phones are cleared.
async fn erase_traces(
    db: &impl ConnectionTrait,
    user: &users::Model,
    company_id: Option<crate::types::CompanyId>,
    old_email: &Email,
) -> DomainResult<()> {
    let new_email = &user.email;
    sessions::Entity::delete_many().filter(sessions::Column::UserId.eq(user.id)).exec(db).await?;
    link_tokens::Entity::delete_many().filter(link_tokens::Column::UserId.eq(user.id)).exec(db).await?;
    password_history::Entity::delete_many().filter(password_history::Column::UserId.eq(user.id)).exec(db).await?;
    users::Entity::update_many()
        .col_expr(users::Column::ManagerEmail, Expr::value(new_email.clone()))
        .filter(users::Column::CompanyId.eq(company_id))
        .filter(users::Column::ManagerEmail.eq(old_email.clone()))
        .exec(db)
        .await?;
    invitations::Entity::update_many()
        .col_expr(invitations::Column::Email, Expr::value(new_email.clone()))
        .filter(invitations::Column::Email.eq(old_email.clone()))
        .exec(db)
        .await?;
    support_contacts::Entity::update_many()
        .col_expr(support_contacts::Column::Phone, Expr::value(Option::<String>::None))
        .filter(support_contacts::Column::UserId.eq(user.id))
        .exec(db)
        .await?;
    crate::db::deliveries::Entity::update_many()
        .col_expr(crate::db::deliveries::Column::Recipient, Expr::value(new_email.clone()))
        .filter(crate::db::deliveries::Column::Recipient.eq(old_email.clone()))
        .exec(db)
        .await?;
    Ok(())
}

/// Removes someone who never accepted their invitation; the address can be invited again.
#[tracing::instrument(skip_all)]
pub async fn remove(svc: &Services, principal: &Principal, id: UserId) -> DomainResult<()> {
    let mut tx = svc.begin_as(principal).await?;
    let now = tx.now();
    let user = get(&tx, principal, id).await?;
    principal.may_manage(user.id, user.role)?;
    if user.status != UserStatus::Invited {
        return Err(DomainError::invalid(
            "id",
            "only users who never activated can be removed; deactivate or anonymize this user, or open a USER_REMOVAL support ticket",
        ));
    }
    invitations::Entity::update_many()
        .col_expr(invitations::Column::Status, Expr::value(InvitationStatus::Revoked))
        .col_expr(invitations::Column::RevokedAt, Expr::value(now))
        .filter(invitations::Column::UserId.eq(user.id))
        .filter(invitations::Column::Status.eq(InvitationStatus::Pending))
        .exec(&tx)
        .await?;
    users::Entity::delete_by_id(user.id).exec(&tx).await?;
    tx.audit(
        AuditEvent::new(AuditAction::UserRemoved, TargetKind::User, user.id)
            .company(user.company_id)
            .before(snapshot(&user)),
    );
    tx.commit().await
}

//! Module permissions and sub-account access: who may use which part of the portal,
//! and for which units of the company.

use super::ForField;
use crate::types::Line;
use std::collections::BTreeSet;

use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, Set,
};
use serde_json::json;

use super::OnConstraint;
use super::audit::AuditEvent;
use super::people::get;
use super::principal::Principal;
use super::services::Services;
use super::{DomainError, DomainResult, FieldError, Module, Role};
use crate::db::{sub_accounts, user_modules, user_sub_accounts, users};
use crate::types::{AuditAction, TargetKind};
use crate::types::{CompanyId, SubAccountId, UserId};

/// Checks a grant for `role`: a USER cannot hold PRICING, PAYMENT or USER_MANAGEMENT;
/// administrators hold every module, so naming some is meaningless but harmless.
pub fn check_modules(role: Role, modules: &[Module]) -> Result<BTreeSet<Module>, FieldError> {
    let granted: BTreeSet<Module> = modules.iter().copied().collect();
    if role == Role::User
        && let Some(module) = granted.iter().find(|m| m.is_admin_only())
    {
        return Err(FieldError::new("modules", format!("{} can only be held by administrators", module.code())));
    }
    Ok(if role.is_company_admin() { BTreeSet::new() } else { granted })
}

/// The sub-accounts, all of the caller's company.
pub async fn check_sub_accounts(
    db: &impl ConnectionTrait,
    company_id: CompanyId,
    ids: &[SubAccountId],
) -> Result<BTreeSet<SubAccountId>, FieldError> {
    let wanted: BTreeSet<SubAccountId> = ids.iter().copied().collect();
    let found = sub_accounts::Entity::find()
        .filter(sub_accounts::Column::CompanyId.eq(company_id))
        .filter(sub_accounts::Column::Id.is_in(wanted.iter().copied()))
        .count(db)
        .await
        .map_err(|_| FieldError::new("subAccountIds", "could not be checked"))?;
    if found as usize != wanted.len() {
        return Err(FieldError::new("subAccountIds", "names a sub-account that is not your company's"));
    }
    Ok(wanted)
}

/// Replaces a user's grants.
pub async fn write(
    db: &impl ConnectionTrait,
    user_id: UserId,
    modules: &BTreeSet<Module>,
    sub_accounts: &BTreeSet<SubAccountId>,
) -> DomainResult<()> {
    user_modules::Entity::delete_many().filter(user_modules::Column::UserId.eq(user_id)).exec(db).await?;
    user_sub_accounts::Entity::delete_many().filter(user_sub_accounts::Column::UserId.eq(user_id)).exec(db).await?;
    for module in modules {
        user_modules::ActiveModel { user_id: Set(user_id), module: Set(*module) }.insert(db).await?;
    }
    for sub_account in sub_accounts {
        user_sub_accounts::ActiveModel { user_id: Set(user_id), sub_account_id: Set(*sub_account) }.insert(db).await?;
    }
    Ok(())
}

/// `setUserPermissions`: takes effect on the user's live sessions at once (a session's modules
/// are read on every request).
#[tracing::instrument(skip_all)]
pub async fn set(
    svc: &Services,
    principal: &Principal,
    user_id: UserId,
    modules: &[Module],
    sub_account_ids: Option<&[SubAccountId]>,
) -> DomainResult<users::Model> {
    let company_id = principal.company()?;
    let mut tx = svc.begin_as(principal).await?;
    let user = get(&tx, principal, user_id).await?;
    principal.may_manage(user.id, user.role)?;
    let modules = check_modules(user.role, modules).map_err(|e| DomainError::Validation(vec![e]))?;
    let current_subs: Vec<SubAccountId> = user_sub_accounts::Entity::find()
        .filter(user_sub_accounts::Column::UserId.eq(user.id))
        .all(&tx)
        .await?
        .into_iter()
        .map(|row| row.sub_account_id)
        .collect();
    let sub_accounts = match sub_account_ids {
        Some(ids) => check_sub_accounts(&tx, company_id, ids).await.map_err(|e| DomainError::Validation(vec![e]))?,
        None => current_subs.iter().copied().collect(),
    };
    write(&tx, user.id, &modules, &sub_accounts).await?;
    tx.audit(
        AuditEvent::new(AuditAction::UserPermissionsSet, TargetKind::User, user.id)
            .company(Some(company_id))
            .after(json!({"modules": modules, "subAccountIds": sub_accounts})),
    );
    tx.commit().await?;
    Ok(user)
}

#[tracing::instrument(skip_all)]
pub async fn list_sub_accounts(svc: &Services, principal: &Principal) -> DomainResult<Vec<sub_accounts::Model>> {
    Ok(sub_accounts::Entity::find()
        .filter(sub_accounts::Column::CompanyId.eq(principal.company()?))
        .order_by_asc(sub_accounts::Column::Name)
        .all(&svc.db)
        .await?)
}

fn sub_account_name(name: &str) -> DomainResult<String> {
    Line::<200>::required(name).for_field("name").map(Line::into_inner)
}

fn name_taken(name: &str) -> impl FnOnce() -> String + '_ {
    move || format!("A sub-account named {name} exists")
}

#[tracing::instrument(skip_all)]
pub async fn create_sub_account(
    svc: &Services,
    principal: &Principal,
    name: &str,
) -> DomainResult<sub_accounts::Model> {
    let company_id = principal.company()?;
    let name = sub_account_name(name)?;
    let mut tx = svc.begin_as(principal).await?;
    let now = tx.now();
    let created = sub_accounts::ActiveModel {
        id: Set(crate::types::SubAccountId::new()),
        company_id: Set(company_id),
        name: Set(name.clone()),
        created_at: Set(now),
        external_id: Set(None),
    }
    .insert(&tx)
    .await
    .on_constraint("name", name_taken(&name))?;
    tx.audit(
        AuditEvent::new(AuditAction::SubAccountCreated, TargetKind::SubAccount, created.id)
            .company(Some(company_id))
            .after(json!({"name": created.name})),
    );
    tx.commit().await?;
    Ok(created)
}

#[tracing::instrument(skip_all)]
pub async fn rename_sub_account(
    svc: &Services,
    principal: &Principal,
    id: SubAccountId,
    name: &str,
) -> DomainResult<sub_accounts::Model> {
    let company_id = principal.company()?;
    let name = sub_account_name(name)?;
    let mut tx = svc.begin_as(principal).await?;
    let found = sub_accounts::Entity::find_by_id(id)
        .filter(sub_accounts::Column::CompanyId.eq(company_id))
        .one(&tx)
        .await?
        .ok_or(DomainError::NotFound("sub-account"))?;
    let before = json!({"name": found.name});
    let mut active: sub_accounts::ActiveModel = found.into();
    active.name = Set(name.clone());
    let renamed = active.update(&tx).await.on_constraint("name", name_taken(&name))?;
    let audit = AuditEvent::new(AuditAction::SubAccountRenamed, TargetKind::SubAccount, renamed.id)
        .company(Some(company_id))
        .after(json!({"name": renamed.name}))
        .before(before);
    tx.audit(audit);
    tx.commit().await?;
    Ok(renamed)
}

/// A sub-account of the caller's company; another company's is "not found".
pub async fn sub_account(
    db: &impl ConnectionTrait,
    principal: &Principal,
    id: SubAccountId,
) -> DomainResult<sub_accounts::Model> {
    sub_accounts::Entity::find_by_id(id)
        .filter(sub_accounts::Column::CompanyId.eq(principal.company()?))
        .one(db)
        .await?
        .ok_or(DomainError::NotFound("sub-account"))
}

/// Sets who is limited to the sub-account (SCIM's group members): each must be a user of the
/// company whom the caller may manage; people added or removed keep their other sub-accounts.
#[tracing::instrument(skip_all)]
pub async fn set_sub_account_members(
    svc: &Services,
    principal: &Principal,
    id: SubAccountId,
    members: &[UserId],
) -> DomainResult<Vec<UserId>> {
    let mut tx = svc.begin_as(principal).await?;
    let found = sub_account(&tx, principal, id).await?;
    let wanted: BTreeSet<UserId> = members.iter().copied().collect();
    let current: BTreeSet<UserId> = user_sub_accounts::Entity::find()
        .filter(user_sub_accounts::Column::SubAccountId.eq(found.id))
        .all(&tx)
        .await?
        .into_iter()
        .map(|row| row.user_id)
        .collect();
    let changed: Vec<UserId> = wanted.symmetric_difference(&current).copied().collect();
    for user_id in &changed {
        let user = get(&tx, principal, *user_id).await.map_err(|error| match error {
            DomainError::NotFound(_) => {
                DomainError::invalid("members", format!("{user_id} is not a user of your company"))
            }
            other => other,
        })?;
        principal.may_manage(user.id, user.role)?;
    }
    let added: Vec<UserId> = wanted.difference(&current).copied().collect();
    let removed: Vec<UserId> = current.difference(&wanted).copied().collect();
    if !removed.is_empty() {
        user_sub_accounts::Entity::delete_many()
            .filter(user_sub_accounts::Column::SubAccountId.eq(found.id))
            .filter(user_sub_accounts::Column::UserId.is_in(removed.iter().copied()))
            .exec(&tx)
            .await?;
    }
    if !added.is_empty() {
        let rows = added
            .iter()
            .map(|user_id| user_sub_accounts::ActiveModel { user_id: Set(*user_id), sub_account_id: Set(found.id) });
        user_sub_accounts::Entity::insert_many(rows).exec_without_returning(&tx).await?;
    }
    if !changed.is_empty() {
        tx.audit(
            AuditEvent::new(AuditAction::SubAccountMembersSet, TargetKind::SubAccount, found.id)
                .after(json!({"added": added, "removed": removed})),
        );
    }
    tx.commit().await?;
    Ok(wanted.into_iter().collect())
}

/// Deletes an empty sub-account. One with members is refused: deleting it would leave the
/// people limited to it unlimited, seeing the whole company.
#[tracing::instrument(skip_all)]
pub async fn delete_sub_account(svc: &Services, principal: &Principal, id: SubAccountId) -> DomainResult<()> {
    let mut tx = svc.begin_as(principal).await?;
    let found = sub_account(&tx, principal, id).await?;
    let members = user_sub_accounts::Entity::find()
        .filter(user_sub_accounts::Column::SubAccountId.eq(found.id))
        .count(&tx)
        .await?;
    if members > 0 {
        return Err(DomainError::Conflict {
            field: Some("members".into()),
            message: format!(
                "{} has {members} members: remove them first (deleting it would leave them seeing the whole company)",
                found.name
            ),
        });
    }
    sub_accounts::Entity::delete_by_id(found.id).exec(&tx).await?;
    tx.audit(
        AuditEvent::new(AuditAction::SubAccountDeleted, TargetKind::SubAccount, found.id)
            .before(json!({"name": found.name})),
    );
    tx.commit().await
}

/// Records the identity provider's id of the group a sub-account mirrors (`None` clears it).
#[tracing::instrument(skip_all)]
pub async fn set_sub_account_external_id(
    svc: &Services,
    principal: &Principal,
    id: SubAccountId,
    external_id: Option<&str>,
) -> DomainResult<sub_accounts::Model> {
    let external_id = match external_id {
        Some(value) => Some(super::people::ExternalId::parse(value).for_field("externalId")?.into_inner()),
        None => None,
    }
    .filter(|id| !id.is_empty());
    let tx = svc.begin_as(principal).await?;
    let found = sub_account(&tx, principal, id).await?;
    if found.external_id == external_id {
        return Ok(found);
    }
    let mut active: sub_accounts::ActiveModel = found.into();
    active.external_id = Set(external_id);
    let updated = active.update(&tx).await?;
    tx.commit().await?;
    Ok(updated)
}

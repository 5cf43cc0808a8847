//! API keys: credentials a company gives its integrations (scripts, SCIM provisioning). A key
//! is a principal of its own (the audit trail names the key, not a person), scoped to its
//! company and to the modules it was given, and never more than its creator holds: the modules
//! it acts with are those it was given that its creator still holds, and it works only while
//! its creator is an active user of the company. So a key cannot outlive its creator's rights
//! (a deactivated person's keys stop at once) without anything having to remember to revoke it.
//!
//! The secret (`pk_live_` and 32 random bytes) is shown once and stored as its SHA-256.

use chrono::{DateTime, Duration, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, PaginatorTrait, QueryFilter, Set,
};
use serde_json::json;

use super::audit::AuditEvent;
use super::page::{Page, PageRequest, newest_first};
use super::principal::{Actor, Principal};
use super::tokens::{hash_token, new_token};
use super::{DomainError, DomainResult, FieldError, Module, Problems, Services, UserStatus};
use crate::db::{api_keys, users};
use crate::notify::Notification;
use crate::types::{ApiKeyId, AuditAction, EventType, Line, TargetKind};

/// What every key's secret starts with, so that secret scanners (and people) recognise one,
/// and so a bearer token is looked up where it belongs.
pub const SECRET_PREFIX: &str = "pk_live_";
/// How much of the secret listings show: the prefix and four characters.
const SHOWN_PREFIX_LEN: usize = SECRET_PREFIX.len() + 4;
/// Usable keys (neither revoked nor expired) a company may hold: enough for every integration,
/// a bound on what one administrator's script gone wrong can create.
pub const MAX_USABLE_KEYS: u64 = 100;
/// `lastUsedAt` is written at most this often per key, so a busy integration does not turn
/// every read into a write.
const LAST_USED_PRECISION: Duration = Duration::minutes(1);

pub type KeyName = Line<100>;

pub fn looks_like_key(token: &str) -> bool {
    token.starts_with(SECRET_PREFIX)
}

pub struct NewApiKey {
    pub name: String,
    pub modules: Vec<Module>,
    pub expires_at: Option<DateTime<Utc>>,
}

/// What a key can do now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyStatus {
    Active,
    Expired,
    Revoked,
    /// Its creator is no longer an active user of the company: it works again if they are
    /// reactivated, or can be revoked and replaced by someone else's.
    CreatorInactive,
}

pub fn status(key: &api_keys::Model, creator: Option<&users::Model>, now: DateTime<Utc>) -> KeyStatus {
    if key.revoked_at.is_some() {
        KeyStatus::Revoked
    } else if key.expires_at.is_some_and(|at| at <= now) {
        KeyStatus::Expired
    } else if !creator.is_some_and(|c| c.status == UserStatus::Active && c.company_id == Some(key.company_id)) {
        KeyStatus::CreatorInactive
    } else {
        KeyStatus::Active
    }
}

/// The modules a key was given (stored as their codes).
pub fn modules(key: &api_keys::Model) -> Vec<Module> {
    serde_json::from_value(key.modules.clone()).unwrap_or_default()
}

fn new_secret() -> (String, String) {
    let secret = format!("{SECRET_PREFIX}{}", new_token());
    let shown = secret[..SHOWN_PREFIX_LEN].to_owned();
    (secret, shown)
}

/// Checks a new key's input: a name, at least one module, each held by the creator (the
/// administrators' own modules only from an administrator), an expiry in the future.
fn parse(principal: &Principal, input: &NewApiKey, now: DateTime<Utc>) -> DomainResult<(KeyName, Vec<Module>)> {
    let mut problems = Problems::default();
    let name = problems.field("name", KeyName::parse(&input.name));
    if name.is_empty() && problems.is_empty() {
        problems.push(FieldError::new("name", "is required"));
    }
    // Judged once per module however often it is named (a list may hold a thousand).
    let mut modules = input.modules.clone();
    modules.sort();
    modules.dedup();
    if modules.is_empty() {
        problems.push(FieldError::new("modules", "name at least one module the key may use"));
    }
    for module in &modules {
        if module.is_admin_only() && !principal.role.is_company_admin() {
            problems.push(FieldError::new("modules", format!("only administrators may give a key {}", module.code())));
        } else if !principal.modules.contains(module) {
            problems.push(FieldError::new(
                "modules",
                format!("you do not hold {}, so a key of yours cannot", module.code()),
            ));
        }
    }
    if input.expires_at.is_some_and(|at| at <= now) {
        problems.push(FieldError::new("expiresAt", "must be in the future"));
    }
    problems.finish()?;
    Ok((name, modules))
}

fn snapshot(key: &api_keys::Model) -> serde_json::Value {
    json!({
        "id": key.id,
        "name": key.name,
        "prefix": key.prefix,
        "modules": key.modules,
        "expiresAt": key.expires_at,
        "createdBy": key.created_by,
    })
}

/// The change's notification for webhook consumers (no email: the key's secret is not in it).
fn announcement(event_type: EventType, key: &api_keys::Model) -> Notification {
    Notification { company_id: Some(key.company_id), event_type, data: snapshot(key), email: None }
}

/// A new key and its secret, which is not kept and cannot be shown again.
#[tracing::instrument(skip_all)]
pub async fn create(
    svc: &Services,
    principal: &Principal,
    input: NewApiKey,
) -> DomainResult<(api_keys::Model, String)> {
    let company_id = principal.company()?;
    let creator = principal.person()?;
    let now = svc.clock.now();
    let (name, modules) = parse(principal, &input, now)?;
    let mut tx = svc.begin_as(principal).await?;
    let usable = api_keys::Entity::find()
        .filter(api_keys::Column::CompanyId.eq(company_id))
        .filter(api_keys::Column::RevokedAt.is_null())
        .filter(
            sea_orm::Condition::any()
                .add(api_keys::Column::ExpiresAt.is_null())
                .add(api_keys::Column::ExpiresAt.gt(now)),
        )
        .count(&tx)
        .await?;
    if usable >= MAX_USABLE_KEYS {
        return Err(DomainError::Conflict {
            field: None,
            message: format!("The company has {MAX_USABLE_KEYS} usable API keys: revoke one first"),
        });
    }
    let (secret, shown) = new_secret();
    let key = api_keys::ActiveModel {
        id: Set(ApiKeyId::new()),
        company_id: Set(company_id),
        name: Set(name.into_inner()),
        prefix: Set(shown),
        secret_hash: Set(hash_token(&secret)),
        modules: Set(json!(modules)),
        created_by: Set(Some(creator)),
        created_at: Set(tx.now()),
        expires_at: Set(input.expires_at),
        revoked_at: Set(None),
        last_used_at: Set(None),
    }
    .insert(&tx)
    .await?;
    tx.audit(AuditEvent::new(AuditAction::ApiKeyCreated, TargetKind::ApiKey, key.id).after(snapshot(&key)));
    tx.notify(announcement(EventType::ApiKeyCreated, &key)).await?;
    tx.commit().await?;
    Ok((key, secret))
}

/// The keys an administrator sees (all the company's) or a person sees (their own).
fn visible(principal: &Principal) -> DomainResult<sea_orm::Select<api_keys::Entity>> {
    let query = api_keys::Entity::find().filter(api_keys::Column::CompanyId.eq(principal.company()?));
    Ok(if principal.role.is_company_admin() {
        query
    } else {
        query.filter(api_keys::Column::CreatedBy.eq(principal.person()?))
    })
}

#[tracing::instrument(skip_all)]
pub async fn list(
    svc: &Services,
    principal: &Principal,
    include_revoked: bool,
    page: PageRequest,
) -> DomainResult<Page<api_keys::Model>> {
    let mut query = visible(principal)?;
    if !include_revoked {
        query = query.filter(api_keys::Column::RevokedAt.is_null());
    }
    newest_first(&svc.db, query, api_keys::Column::Id, page).await
}

/// One key the caller may see; anyone else's is "not found", like a missing one.
async fn find(db: &impl ConnectionTrait, principal: &Principal, id: ApiKeyId) -> DomainResult<api_keys::Model> {
    visible(principal)?.filter(api_keys::Column::Id.eq(id)).one(db).await?.ok_or(DomainError::NotFound("API key"))
}

/// Stops the key at once (its next request is refused). Revoking a revoked key changes nothing.
#[tracing::instrument(skip_all)]
pub async fn revoke(svc: &Services, principal: &Principal, id: ApiKeyId) -> DomainResult<api_keys::Model> {
    let mut tx = svc.begin_as(principal).await?;
    let key = find(&tx, principal, id).await?;
    if key.revoked_at.is_some() {
        return Ok(key);
    }
    let mut active = key.into_active_model();
    active.revoked_at = Set(Some(tx.now()));
    let key = active.update(&tx).await?;
    tx.audit(AuditEvent::new(AuditAction::ApiKeyRevoked, TargetKind::ApiKey, key.id).before(snapshot(&key)));
    tx.notify(announcement(EventType::ApiKeyRevoked, &key)).await?;
    tx.commit().await?;
    Ok(key)
}

/// A new secret for the key (same name, modules and expiry); the old secret stops at once, so a
/// leaked one is dead the moment the key is rotated.
#[tracing::instrument(skip_all)]
pub async fn rotate(svc: &Services, principal: &Principal, id: ApiKeyId) -> DomainResult<(api_keys::Model, String)> {
    let mut tx = svc.begin_as(principal).await?;
    let key = find(&tx, principal, id).await?;
    if key.revoked_at.is_some() {
        return Err(DomainError::invalid("id", "this key is revoked: create a new one"));
    }
    if key.expires_at.is_some_and(|at| at <= tx.now()) {
        return Err(DomainError::invalid("id", "this key has expired: create a new one"));
    }
    let (secret, shown) = new_secret();
    let mut active = key.into_active_model();
    active.secret_hash = Set(hash_token(&secret));
    active.prefix = Set(shown);
    let key = active.update(&tx).await?;
    tx.audit(AuditEvent::new(AuditAction::ApiKeyRotated, TargetKind::ApiKey, key.id).after(snapshot(&key)));
    tx.notify(announcement(EventType::ApiKeyRotated, &key)).await?;
    tx.commit().await?;
    Ok((key, secret))
}

/// The principal of a key's secret: refused (as an unknown token is) when revoked, expired, or
/// when its creator is no longer an active user of its company.
pub async fn authenticate(db: &impl ConnectionTrait, secret: &str, now: DateTime<Utc>) -> DomainResult<Principal> {
    let rejected = || DomainError::Unauthenticated("the API key is invalid, revoked or expired".into());
    let (key, creator) = api_keys::Entity::find()
        .filter(api_keys::Column::SecretHash.eq(hash_token(secret)))
        // A suspended company's keys are refused like unknown ones.
        .filter(super::companies::not_suspended(api_keys::Column::CompanyId))
        .find_also_related(users::Entity)
        .one(db)
        .await?
        .ok_or_else(rejected)?;
    let creator = match (status(&key, creator.as_ref(), now), creator) {
        (KeyStatus::Active, Some(creator)) => creator,
        _ => return Err(rejected()),
    };
    // What the creator holds now: a key never does more than the person who made it may.
    // Administrators' own modules only while the creator is one (a stray grant row never counts).
    let held: Vec<Module> = super::principal::held_modules(db, &creator)
        .await?
        .into_iter()
        .filter(|module| creator.role.is_company_admin() || !module.is_admin_only())
        .collect();
    let modules = modules(&key).into_iter().filter(|module| held.contains(module)).collect();
    if key.last_used_at.is_none_or(|at| at + LAST_USED_PRECISION <= now) {
        api_keys::Entity::update_many()
            .col_expr(api_keys::Column::LastUsedAt, sea_orm::sea_query::Expr::value(now))
            .filter(api_keys::Column::Id.eq(key.id))
            .exec(db)
            .await?;
    }
    Ok(Principal {
        actor: Actor::ApiKey { key_id: key.id },
        company_id: Some(key.company_id),
        role: crate::types::enums::Role::User,
        modules,
        must_change_password: false,
        // A key made by a user limited to sub-accounts is limited to theirs, as they are now.
        reach: super::principal::Reach::of(db, &creator).await?,
    })
}

//! Signing in and out, passwords, reset links, lockout.

use std::net::IpAddr;

use chrono::{DateTime, Duration, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder, QuerySelect,
    Set,
};
use serde_json::json;
use uuid::Uuid;

use super::attempts;
use super::audit::AuditEvent;
use super::password_policy::{POLICY, PasswordRule};
use super::principal::Principal;
use super::services::Services;
use super::tokens::{hash_token, new_token};
use super::users::{find_by_email, greeting_name};
use super::work::UnitOfWork;
use super::{DomainError, DomainResult, Email, LinkPurpose, UserStatus};
use crate::db::{link_tokens, password_history, sessions, user_passwords, users};
use crate::notify::{EmailNotification, Notification, Template};
use crate::types::UserId;
use crate::types::{AuditAction, TargetKind};

pub const RESET_LINK_VALIDITY: Duration = Duration::minutes(5);

pub struct NewSession {
    /// Shown once; only its hash is stored.
    pub token: String,
    pub expires_at: DateTime<Utc>,
    pub user: users::Model,
}

fn wrong_credentials() -> DomainError {
    DomainError::Unauthenticated("Email or password is incorrect".into())
}

/// The key attempts are counted under: the address as the account would have it, or the text
/// as typed when it is no address at all (it is still counted: same answer, same cost).
fn address_key(email: &str) -> (Option<Email>, String) {
    match Email::parse(email) {
        Ok(email) => {
            let key = email.as_str().to_owned();
            (Some(email), key)
        }
        Err(_) => (None, email.trim().to_lowercase()),
    }
}

#[tracing::instrument(skip_all)]
pub async fn login(svc: &Services, email: &str, password: &str, client: Option<IpAddr>) -> DomainResult<NewSession> {
    if let Some(address) = client {
        svc.login_limiter.check(address)?;
    }
    let now = svc.clock.now();
    let (email, key) = address_key(email);
    // Counted before the password is checked, so concurrent guesses cannot outrun the lock.
    let attempt = attempts::LOGIN.attempt(&svc.db, &key, now).await?;
    let found = match &email {
        // Through the readers: on SQLite the writer may be an import's for a batch, and a
        // sign-in already waits for it twice (the attempt, the session).
        Some(email) => user_passwords::with_password(users::find().filter(users::Column::Email.eq(email.as_str())))
            .one(&svc.reads)
            .await?
            .filter(|found| found.user.status == UserStatus::Active),
        None => None,
    };
    // An unknown address costs a verification too, against a dummy hash.
    let verified = svc.passwords.verify(password, found.as_ref().and_then(|f| f.password_hash.as_deref())).await?;
    let user = match found.map(|found| found.user) {
        Some(user) if verified => user,
        user => return Err(failed_login(svc, &key, attempt, user.as_ref(), now).await?),
    };

    let mut tx = svc.begin().await?;
    let (token, expires_at) = open_session(svc, &tx, &user, client, now).await?;
    // Always: a first attempt's counter left behind would make the next wrong password the
    // second of the window, and the limit one less than it says.
    attempts::LOGIN.clear(&tx, &key).await?;
    tx.audit(
        AuditEvent::new(AuditAction::UserLoggedIn, TargetKind::User, user.id)
            .company(user.company_id)
            .actor(Some(user.id))
            .after(json!({"clientAddress": client.map(|a| a.to_string())})),
    );
    tx.commit().await?;
    Ok(NewSession { token, expires_at, user })
}

/// Counts the failure (the one that reaches the limit locks the address) and audits it for an
/// account; the error to answer, the same for every address.
async fn failed_login(
    svc: &Services,
    key: &str,
    attempt: attempts::Attempt,
    user: Option<&users::Model>,
    now: DateTime<Utc>,
) -> DomainResult<DomainError> {
    // The count and the audit in one transaction, written for every address alike.
    let mut work = svc.begin().await?;
    let locked = attempts::LOGIN.failed(&work, key, attempt, now).await?;
    if let Some(user) = user {
        let action = if locked { AuditAction::UserLockedOut } else { AuditAction::UserLoginFailed };
        work.audit(
            AuditEvent::new(action, TargetKind::User, user.id)
                .company(user.company_id)
                .after(json!({"failedAttempts": attempt.0})),
        );
    }
    work.commit().await?;
    Ok(wrong_credentials())
}

/// A new session for `user`: the token (shown once) and when it expires.
#[tracing::instrument(skip_all)]
pub async fn open_session(
    svc: &Services,
    db: &impl ConnectionTrait,
    user: &users::Model,
    client: Option<IpAddr>,
    now: DateTime<Utc>,
) -> DomainResult<(String, DateTime<Utc>)> {
    // Every sign-in comes here: the one place that refuses a suspended company's people.
    super::companies::ensure_not_suspended(db, user.company_id).await?;
    let user_id = user.id;
    let token = new_token();
    let expires_at = now + svc.settings.session_ttl;
    sessions::ActiveModel {
        id: Set(Uuid::now_v7()),
        user_id: Set(user_id),
        token_hash: Set(hash_token(&token)),
        created_at: Set(now),
        expires_at: Set(expires_at),
        last_seen_at: Set(now),
        revoked_at: Set(None),
        client_address: Set(client.map(|a| a.to_string())),
        user_agent: Set(None),
    }
    .insert(db)
    .await?;
    // Every sign-in comes here (login, an accepted invitation): the one place that keeps it.
    users::Entity::update_many()
        .col_expr(users::Column::LastSignedInAt, Expr::value(now))
        .filter(users::Column::Id.eq(user_id))
        .exec(db)
        .await?;
    Ok((token, expires_at))
}

#[tracing::instrument(skip_all)]
pub async fn logout(svc: &Services, principal: &Principal) -> DomainResult<()> {
    let now = svc.clock.now();
    sessions::Entity::update_many()
        .col_expr(sessions::Column::RevokedAt, Expr::value(now))
        .filter(sessions::Column::Id.eq(principal.session()?))
        .exec(&svc.db)
        .await?;
    Ok(())
}

#[tracing::instrument(skip_all)]
pub async fn change_password(svc: &Services, principal: &Principal, current: &str, new: &str) -> DomainResult<()> {
    let user_passwords::WithPassword { user, password_hash } =
        user_passwords::with_password(users::find_by_id(principal.person()?))
            .one(&svc.db)
            .await?
            .ok_or(DomainError::NotFound("user"))?;
    // A stolen session must not be a way to guess the password it lacks.
    let key = user.id.to_string();
    let attempt = attempts::CHANGE_PASSWORD.attempt(&svc.db, &key, svc.clock.now()).await?;
    if !svc.passwords.verify(current, password_hash.as_deref()).await? {
        attempts::CHANGE_PASSWORD.failed(&svc.db, &key, attempt, svc.clock.now()).await?;
        return Err(DomainError::invalid("currentPassword", "is not your current password"));
    }
    attempts::CHANGE_PASSWORD.clear(&svc.db, &key).await?;
    let mut tx = svc.begin_as(principal).await?;
    set_password(svc, &mut tx, user, "newPassword", new, Some(principal.session()?)).await?;
    tx.commit().await
}

/// Checks the policy (every broken rule reported on `field`), stores the new hash,
/// clears the temporary-password flag and the lockout, and ends every session but `keep`.
pub(crate) async fn set_password(
    svc: &Services,
    tx: &mut UnitOfWork<'_>,
    user: users::Model,
    field: &str,
    new: &str,
    keep: Option<Uuid>,
) -> DomainResult<users::Model> {
    let now = tx.now();
    let mut broken = POLICY.broken_rules(new, Some(&user.email));
    let recent: Vec<String> = password_history::Entity::find()
        .filter(password_history::Column::UserId.eq(user.id))
        .order_by_desc(password_history::Column::CreatedAt)
        .limit(POLICY.history_size as u64)
        .all(tx)
        .await?
        .into_iter()
        .map(|row| row.password_hash)
        .collect();
    if broken.is_empty() && svc.passwords.matches_any(new, recent).await? {
        broken.push(PasswordRule::NotRecentlyUsed);
    }
    if !broken.is_empty() {
        return Err(DomainError::Validation(POLICY.field_errors(field, &broken)));
    }
    let hash = svc.passwords.hash(new).await?;
    remember_password(tx, user.id, &hash, now).await?;
    let (user_id, company_id, was_temporary) = (user.id, user.company_id, user.must_change_password);
    user_passwords::set(tx, user.id, Some(hash)).await?;
    let mut active = user.into_active_model();
    active.must_change_password = Set(false);
    active.password_changed_at = Set(Some(now));
    active.updated_at = Set(now);
    let user = active.update(tx).await?;
    // Whoever proved they own the account (a link, the current password) is not locked out.
    attempts::LOGIN.clear(tx, &user.email).await?;
    let mut others = sessions::Entity::update_many()
        .col_expr(sessions::Column::RevokedAt, Expr::value(now))
        .filter(sessions::Column::UserId.eq(user_id))
        .filter(sessions::Column::RevokedAt.is_null());
    if let Some(keep) = keep {
        others = others.filter(sessions::Column::Id.ne(keep));
    }
    others.exec(tx).await?;
    tx.audit(
        AuditEvent::new(AuditAction::UserPasswordChanged, TargetKind::User, user_id)
            .company(company_id)
            .actor(Some(user_id))
            .after(json!({"wasTemporary": was_temporary, "viaResetLink": keep.is_none()})),
    );
    Ok(user)
}

/// Adds a hash to the history the "not one of the last N" rule checks.
pub async fn remember_password(
    db: &impl ConnectionTrait,
    user_id: UserId,
    hash: &str,
    now: DateTime<Utc>,
) -> DomainResult<()> {
    password_history::ActiveModel {
        id: Set(Uuid::now_v7()),
        user_id: Set(user_id),
        password_hash: Set(hash.to_owned()),
        created_at: Set(now),
    }
    .insert(db)
    .await?;
    Ok(())
}

/// Emails a reset link to an active user. Answers the same, at the same cost, whether or not
/// the address is known: the answer waits only for the per-address count (the same statement
/// either way); looking the address up and writing the email happen after it.
#[tracing::instrument(skip_all)]
pub async fn request_password_reset(svc: &Services, email: &str) -> DomainResult<()> {
    let email = Email::parse(email).map_err(|e| DomainError::invalid("email", e.to_string()))?;
    attempts::PASSWORD_RESET.attempt(&svc.db, email.as_str(), svc.clock.now()).await?;
    let svc = svc.clone();
    svc.background.clone().spawn(async move {
        if let Err(error) = send_reset_link(&svc, &email).await {
            tracing::error!(error = %error, "password reset email");
        }
    });
    Ok(())
}

async fn send_reset_link(svc: &Services, email: &Email) -> DomainResult<()> {
    let Some(user) = find_by_email(&svc.db, email).await?.filter(|u| u.status == UserStatus::Active) else {
        return Ok(());
    };
    let mut tx = svc.begin().await?;
    let now = tx.now();
    let token = issue_link(&tx, user.id, LinkPurpose::PasswordReset, now + RESET_LINK_VALIDITY, now).await?;
    let vars = json!({
        "givenName": greeting_name(&user),
        "resetUrl": svc.link(&format!("reset-password?token={token}")),
        "validMinutes": RESET_LINK_VALIDITY.num_minutes(),
    });
    tx.notify(Notification {
        company_id: user.company_id,
        event_type: crate::types::EventType::PasswordResetRequested,
        data: json!({"userId": user.id}),
        email: Some(EmailNotification::new(email, Template::ResetPassword, &user.locale, vars)),
    })
    .await?;
    tx.audit(
        AuditEvent::new(AuditAction::UserPasswordResetRequested, TargetKind::User, user.id).company(user.company_id),
    );
    tx.commit().await
}

/// A new single-use link for `purpose`; any earlier unused one for the same purpose is void.
pub async fn issue_link(
    db: &impl ConnectionTrait,
    user_id: UserId,
    purpose: LinkPurpose,
    expires_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> DomainResult<String> {
    link_tokens::Entity::update_many()
        .col_expr(link_tokens::Column::VoidedAt, Expr::value(now))
        .filter(link_tokens::Column::UserId.eq(user_id))
        .filter(link_tokens::Column::Purpose.eq(purpose))
        .filter(link_tokens::Column::UsedAt.is_null())
        .filter(link_tokens::Column::VoidedAt.is_null())
        .exec(db)
        .await?;
    let (token, row) = new_link(user_id, purpose, expires_at, now);
    row.insert(db).await?;
    Ok(token)
}

/// A fresh link token for a user who has none yet (bulk imports insert these in batches):
/// the token to put in the link, and the row that stores only its hash.
pub fn new_link(
    user_id: UserId,
    purpose: LinkPurpose,
    expires_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> (String, link_tokens::ActiveModel) {
    let token = new_token();
    let row = link_tokens::ActiveModel {
        id: Set(Uuid::now_v7()),
        user_id: Set(user_id),
        purpose: Set(purpose),
        token_hash: Set(hash_token(&token)),
        created_at: Set(now),
        expires_at: Set(expires_at),
        used_at: Set(None),
        voided_at: Set(None),
    };
    (token, row)
}

/// The live link behind `token`, marked used; unknown, used, voided and expired links get one
/// and the same error.
pub async fn redeem_link(
    db: &impl ConnectionTrait,
    token: &str,
    purposes: &[LinkPurpose],
    now: DateTime<Utc>,
) -> DomainResult<link_tokens::Model> {
    let invalid = || {
        DomainError::invalid("token", "This link is invalid, has already been used, or has expired: ask for a new one")
    };
    let link = link_tokens::Entity::find()
        .filter(link_tokens::Column::TokenHash.eq(hash_token(token.trim())))
        .filter(link_tokens::Column::Purpose.is_in(purposes.iter().copied()))
        .one(db)
        .await?
        .ok_or_else(invalid)?;
    if link.used_at.is_some() || link.voided_at.is_some() || link.expires_at <= now {
        return Err(invalid());
    }
    // Conditional on still being unused: of two concurrent redemptions, one wins.
    let claimed = link_tokens::Entity::update_many()
        .col_expr(link_tokens::Column::UsedAt, Expr::value(now))
        .filter(link_tokens::Column::Id.eq(link.id))
        .filter(link_tokens::Column::UsedAt.is_null())
        .exec(db)
        .await?;
    if claimed.rows_affected != 1 {
        return Err(invalid());
    }
    Ok(link)
}

#[tracing::instrument(skip_all)]
pub async fn reset_password(svc: &Services, token: &str, new_password: &str) -> DomainResult<()> {
    let mut tx = svc.begin().await?;
    let now = tx.now();
    // Reset links and the activation links of welcome emails both set a password.
    let link = redeem_link(&tx, token, &[LinkPurpose::PasswordReset, LinkPurpose::Activation], now).await?;
    let user = users::find_by_id(link.user_id).one(&tx).await?.filter(|u| u.status == UserStatus::Active).ok_or_else(
        || {
            DomainError::invalid(
                "token",
                "This link is invalid, has already been used, or has expired: ask for a new one",
            )
        },
    )?;
    set_password(svc, &mut tx, user, "newPassword", new_password, None).await?;
    tx.commit().await
}

//! How a new account starts: stored with its first password (when it has one), and welcomed by
//! an email that carries either a temporary password or a single-use link to choose one.

use chrono::{DateTime, Duration, Utc};
use sea_orm::{ActiveModelTrait, ConnectionTrait, Set};
use serde_json::json;

use super::accounts::{issue_link, remember_password};
use super::services::Services;
use super::users::greeting_name;
use super::{DomainError, DomainResult, Email, LinkPurpose};
use crate::db::users;
use crate::notify::{EmailNotification, Template};

pub const ACTIVATION_LINK_VALIDITY: Duration = Duration::days(7);

/// What the welcome email gives the person to sign in the first time.
pub enum FirstSignIn {
    /// Shown in the email; to be changed at the first sign-in.
    TemporaryPassword(String),
    /// A 7-day single-use link to the set-password page.
    ActivationLink,
}

/// Inserts `user` with `hash` as its password, remembered in the password history.
/// `must_change` makes it a temporary password.
pub async fn insert_with_password(
    db: &impl ConnectionTrait,
    mut user: users::ActiveModel,
    hash: &str,
    must_change: bool,
    now: DateTime<Utc>,
) -> DomainResult<users::Model> {
    user.password_hash = Set(Some(hash.to_owned()));
    user.must_change_password = Set(must_change);
    let user = user.insert(db).await?;
    remember_password(db, user.id, hash, now).await?;
    Ok(user)
}

/// The welcome email for `user`, in their language, naming `company_name`.
pub async fn email(
    svc: &Services,
    db: &impl ConnectionTrait,
    user: &users::Model,
    company_name: &str,
    first: FirstSignIn,
    now: DateTime<Utc>,
) -> DomainResult<EmailNotification> {
    let (temporary_password, activation_url) = match first {
        FirstSignIn::TemporaryPassword(password) => (Some(password), None),
        FirstSignIn::ActivationLink => {
            let token = issue_link(db, user.id, LinkPurpose::Activation, now + ACTIVATION_LINK_VALIDITY, now).await?;
            (None, Some(svc.link(&format!("set-password?token={token}"))))
        }
    };
    let vars = json!({
        "givenName": greeting_name(user),
        "companyName": company_name,
        "email": user.email,
        "loginUrl": svc.link(""),
        "temporaryPassword": temporary_password,
        "activationUrl": activation_url,
    });
    let to = Email::parse(&user.email).map_err(|e| DomainError::internal(anyhow::anyhow!("stored email: {e}")))?;
    Ok(EmailNotification::new(&to, Template::Welcome, &user.locale, vars))
}

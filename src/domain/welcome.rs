//! How a new account starts: stored with its first password (when it has one), and welcomed by
//! an email that carries either a temporary password or a single-use link to choose one.

use chrono::{DateTime, Duration, Utc};
use sea_orm::{ActiveModelTrait, ConnectionTrait, Set};
use serde_json::json;

use super::accounts::{issue_link, new_link, remember_password};
use super::services::Services;
use super::users::greeting_name;
use super::{DomainResult, Email, LinkPurpose};
use crate::db::{link_tokens, users};
use crate::notify::{EmailNotification, Template};
use crate::types::UserId;

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
    user.must_change_password = Set(must_change);
    let user = user.insert(db).await?;
    crate::db::user_passwords::set(db, user.id, Some(hash.to_owned())).await?;
    remember_password(db, user.id, hash, now).await?;
    Ok(user)
}

/// The welcome email for `user`, in their language, naming `company_name`.
#[tracing::instrument(skip_all)]
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
    let to = user.email.clone();
    let greeting = greeting_name(user);
    Ok(compose(svc, &to, &greeting, &user.locale, company_name, temporary_password, activation_url))
}

/// Whom a welcome email is for, before their row exists.
pub struct Addressee<'a> {
    pub email: &'a crate::types::Email,
    pub given_name: &'a str,
    pub locale: &'a crate::types::Locale,
}

/// A new user's welcome email with a 7-day activation link, for users inserted in bulk: the
/// link token row to insert with the user, and the email.
pub fn with_activation_link(
    svc: &Services,
    user_id: UserId,
    to: &Addressee<'_>,
    company_name: &str,
    now: DateTime<Utc>,
) -> (link_tokens::ActiveModel, EmailNotification) {
    let (token, row) = new_link(user_id, LinkPurpose::Activation, now + ACTIVATION_LINK_VALIDITY, now);
    let url = svc.link(&format!("set-password?token={token}"));
    let email = compose(svc, to.email, to.given_name, to.locale, company_name, None, Some(url));
    (row, email)
}

fn compose(
    svc: &Services,
    to: &Email,
    greeting: &str,
    locale: &str,
    company_name: &str,
    temporary_password: Option<String>,
    activation_url: Option<String>,
) -> EmailNotification {
    let vars = json!({
        "givenName": greeting,
        "companyName": company_name,
        "email": to.as_str(),
        "loginUrl": svc.settings.sign_in_url.as_str(),
        "temporaryPassword": temporary_password,
        "activationUrl": activation_url,
    });
    EmailNotification::new(to, Template::Welcome, locale, vars)
}

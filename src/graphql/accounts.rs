//! Signing in, passwords, and companies (provisioning).

use async_graphql::{Context, InputObject, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};

use super::guard::{authorize, request, services};
use super::types::{Company, User};
use crate::domain::companies::ProvisionCompany;
use crate::domain::{accounts, companies as company_rules};

#[derive(SimpleObject)]
pub struct Session {
    /// Send as `Authorization: Bearer <token>`. Shown once: the server keeps only a hash.
    token: String,
    expires_at: DateTime<Utc>,
    user: User,
    /// True after signing in with a temporary password: only `changePassword`, `logout` and
    /// `viewer` are allowed until it is changed.
    must_change_password: bool,
}

impl From<accounts::NewSession> for Session {
    fn from(session: accounts::NewSession) -> Self {
        Session {
            token: session.token,
            expires_at: session.expires_at,
            must_change_password: session.user.must_change_password,
            user: User::from(session.user),
        }
    }
}

#[derive(InputObject)]
pub struct ProvisionCompanyInput {
    name: String,
    owner_email: String,
    owner_given_name: String,
    owner_surname: String,
    /// Language of the owner's emails (`en`, `es`, …); English when omitted.
    owner_locale: Option<String>,
}

/// Only the settings named change; an empty text clears one.
#[derive(InputObject)]
pub struct CompanySettingsInput {
    scim_enabled: Option<bool>,
    scim_default_job_title: Option<String>,
    scim_default_manager_email: Option<String>,
    scim_welcome_email: Option<bool>,
}

#[derive(Default)]
pub struct AccountMutation;

#[Object]
impl AccountMutation {
    /// Changes how the company provisions people (SCIM).
    async fn update_company_settings(&self, ctx: &Context<'_>, input: CompanySettingsInput) -> Result<Company> {
        let principal = authorize(ctx)?;
        let change = company_rules::SettingsChange {
            scim_enabled: input.scim_enabled,
            scim_default_job_title: input.scim_default_job_title,
            scim_default_manager_email: input.scim_default_manager_email,
            scim_welcome_email: input.scim_welcome_email,
        };
        Ok(Company(company_rules::update_settings(services(ctx), principal, change).await?))
    }

    /// Signs in. Five wrong passwords within 15 minutes lock the account for 15 minutes
    /// (`RATE_LIMITED`, with `retryAfterSeconds`).
    async fn login(&self, ctx: &Context<'_>, email: String, password: String) -> Result<Session> {
        let client = request(ctx).client_address;
        Ok(accounts::login(services(ctx), &email, &password, client).await?.into())
    }

    /// Ends the current session.
    async fn logout(&self, ctx: &Context<'_>) -> Result<bool> {
        let principal = authorize(ctx)?;
        accounts::logout(services(ctx), principal).await?;
        Ok(true)
    }

    /// Emails a single-use link valid 5 minutes, if the address belongs to an active user.
    /// Always answers true: the answer does not tell who has an account.
    async fn request_password_reset(&self, ctx: &Context<'_>, email: String) -> Result<bool> {
        accounts::request_password_reset(services(ctx), &email).await?;
        Ok(true)
    }

    /// Sets a new password with a reset link's token; ends every session of the user.
    async fn reset_password(&self, ctx: &Context<'_>, token: String, new_password: String) -> Result<bool> {
        accounts::reset_password(services(ctx), &token, &new_password).await?;
        Ok(true)
    }

    /// Changes the signed-in user's password; ends their other sessions.
    async fn change_password(&self, ctx: &Context<'_>, current_password: String, new_password: String) -> Result<bool> {
        let principal = authorize(ctx)?;
        accounts::change_password(services(ctx), principal, &current_password, &new_password).await?;
        Ok(true)
    }

    /// Creates a company and its owner, who gets a welcome email with a temporary password.
    /// Platform operators only.
    async fn provision_company(&self, ctx: &Context<'_>, input: ProvisionCompanyInput) -> Result<Company> {
        let principal = authorize(ctx)?;
        let input = ProvisionCompany {
            name: input.name,
            owner_email: input.owner_email,
            owner_given_name: input.owner_given_name,
            owner_surname: input.owner_surname,
            owner_locale: input.owner_locale,
        };
        let company = company_rules::provision_company(services(ctx), principal.person_id(), input).await?;
        Ok(Company(company))
    }
}

//! GraphQL object types over domain values. Enums mirror the domain ones (`remote`), so a
//! variant added to one and not the other does not compile.

use async_graphql::{Context, Enum, ID, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};

use super::guard::services;

use crate::db::{companies, sub_accounts, user_modules, user_sub_accounts, users};
use crate::domain::{self, DomainError, password_policy::PasswordRule};

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "domain::Role")]
pub enum Role {
    Operator,
    SupportAgent,
    Owner,
    Admin,
    User,
}

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "domain::Module")]
pub enum Module {
    Projects,
    Subscriptions,
    Support,
    Reports,
    Pricing,
    Payment,
    UserManagement,
}

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "domain::UserStatus")]
pub enum UserStatus {
    Invited,
    Active,
    Inactive,
    Anonymized,
}

pub struct User(pub users::Model);

#[Object]
impl User {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn email(&self) -> &str {
        &self.0.email
    }
    async fn given_name(&self) -> Option<&str> {
        self.0.given_name.as_deref()
    }
    async fn surname(&self) -> Option<&str> {
        self.0.surname.as_deref()
    }
    async fn job_title(&self) -> Option<&str> {
        self.0.job_title.as_deref()
    }
    async fn manager_email(&self) -> Option<&str> {
        self.0.manager_email.as_deref()
    }
    /// ISO 3166-1 alpha-2 code.
    async fn country(&self) -> Option<&str> {
        self.0.country.as_deref()
    }
    async fn locale(&self) -> &str {
        &self.0.locale
    }
    async fn status(&self) -> UserStatus {
        self.0.status.into()
    }
    async fn role(&self) -> Role {
        self.0.role.into()
    }
    /// The modules the user may use; owners and administrators hold all of them.
    async fn modules(&self, ctx: &Context<'_>) -> Result<Vec<Module>> {
        use sea_orm::Iterable;
        if self.0.role.is_company_admin() {
            return Ok(domain::Module::iter().map(Module::from).collect());
        }
        let db = &services(ctx).db;
        let rows = user_modules::Entity::find()
            .filter(user_modules::Column::UserId.eq(self.0.id))
            .all(db)
            .await
            .map_err(DomainError::from)?;
        let mut modules: Vec<domain::Module> = rows.into_iter().map(|row| row.module).collect();
        modules.sort();
        Ok(modules.into_iter().map(Module::from).collect())
    }
    /// The sub-accounts the user is limited to; empty means the whole company.
    async fn sub_accounts(&self, ctx: &Context<'_>) -> Result<Vec<SubAccount>> {
        let db = &services(ctx).db;
        let rows = sub_accounts::Entity::find()
            .inner_join(user_sub_accounts::Entity)
            .filter(user_sub_accounts::Column::UserId.eq(self.0.id))
            .order_by_asc(sub_accounts::Column::Name)
            .all(db)
            .await
            .map_err(DomainError::from)?;
        Ok(rows.into_iter().map(SubAccount).collect())
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

pub struct Company(pub companies::Model);

#[Object]
impl Company {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

pub struct SubAccount(pub sub_accounts::Model);

#[Object]
impl SubAccount {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
}

pub struct Country(pub domain::countries::Country);

#[Object]
impl Country {
    /// ISO 3166-1 alpha-2 code: the form stored and accepted everywhere.
    async fn code(&self) -> &str {
        self.0.code
    }
    async fn alpha3(&self) -> &str {
        self.0.alpha3
    }
    /// English short name.
    async fn name(&self) -> &str {
        self.0.name
    }
}

pub struct PasswordPolicy(pub domain::password_policy::PasswordPolicy);

#[derive(SimpleObject)]
pub struct PasswordPolicyRule {
    /// Stable machine name, e.g. `MIN_LENGTH`.
    code: &'static str,
    /// Sentence to show to a person.
    description: String,
}

#[Object]
impl PasswordPolicy {
    async fn min_length(&self) -> usize {
        self.0.min_length
    }
    async fn max_length(&self) -> usize {
        self.0.max_length
    }
    /// How many previous passwords may not be reused.
    async fn history_size(&self) -> usize {
        self.0.history_size
    }
    /// Every rule, in the order to show them.
    async fn rules(&self) -> Vec<PasswordPolicyRule> {
        PasswordRule::ALL
            .iter()
            .map(|rule| PasswordPolicyRule { code: rule.code(), description: self.0.describe(*rule) })
            .collect()
    }
}

//! DataLoaders: fields that reach other rows (a user's manager, a project's environments, a
//! subscription's members…) are collected across the whole response and fetched in one
//! statement per kind, through `domain::batch`. One set per request, so nothing cached crosses
//! users or companies.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Arc;

use async_graphql::dataloader::Loader;

use crate::db::{
    api_keys, environments, project_members, project_models, projects, service_subscriptions, sub_accounts,
    subscription_members, users,
};
use crate::domain::support::Contact;
use crate::domain::{DomainResult, Module, Services, batch};
use crate::types::{ApiKeyId, CompanyId, Email, ProjectId, SubAccountId, SubscriptionId, UserId};

pub struct Loaders {
    pub services: Services,
}

/// Declares a key type (a newtype around what is looked up) and its loader, which hands the
/// keys' inner values to a `domain::batch` function and re-keys the answer.
macro_rules! loader {
    ($(#[$meta:meta])* $key:ident($inner:ty) => $value:ty, $batch:path) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash)]
        pub struct $key(pub $inner);

        impl Loader<$key> for Loaders {
            type Value = $value;
            type Error = async_graphql::Error;

            async fn load(&self, keys: &[$key]) -> Result<HashMap<$key, $value>, Self::Error> {
                let inner: Vec<$inner> = keys.iter().map(|k| k.0.clone()).collect();
                rekeyed($batch(&self.services.db, &inner).await, $key)
            }
        }
    };
}

fn rekeyed<I: Eq + Hash, K: Eq + Hash, V>(
    found: DomainResult<HashMap<I, V>>,
    key: impl Fn(I) -> K,
) -> Result<HashMap<K, V>, async_graphql::Error> {
    Ok(found?.into_iter().map(|(k, v)| (key(k), v)).collect())
}

loader!(
    /// A user by company and address (managers are named by address).
    ByEmail((CompanyId, Email)) => users::Model, batch::users_by_email
);
loader!(
    /// Users by id (owners, members, audit actors).
    UserById(UserId) => users::Model, batch::users_by_id
);
loader!(
    /// A user's explicit module grants.
    ModulesOf(UserId) => Vec<Module>, batch::modules_of
);
loader!(SubAccountsOf(UserId) => Vec<sub_accounts::Model>, batch::sub_accounts_of);
loader!(
    /// A user's subscription memberships, each with its subscription.
    MembershipsOf(UserId) => Vec<(subscription_members::Model, service_subscriptions::Model)>, batch::memberships_of
);
loader!(
    /// The projects a user is a member of.
    ProjectsOf(UserId) => Vec<projects::Model>, batch::projects_of
);
loader!(
    /// API keys by id (audit actors).
    ApiKeyById(ApiKeyId) => api_keys::Model, batch::api_keys_by_id
);
loader!(SubscriptionById(SubscriptionId) => service_subscriptions::Model, batch::subscriptions_by_id);
loader!(
    /// Each subscription's members, each with their user (read with these columns).
    MembersOfSubscription((SubscriptionId, users::Columns)) => Vec<(subscription_members::Model, Arc<users::Model>)>, batch::members_of_subscriptions
);
loader!(EnvironmentsOf(ProjectId) => Vec<environments::Model>, batch::environments_of);
loader!(ModelsOf(ProjectId) => Vec<project_models::Model>, batch::models_of);
loader!(
    /// Each project's members, each with their user (read with these columns).
    MembersOfProject((ProjectId, users::Columns)) => Vec<(project_members::Model, Arc<users::Model>)>, batch::members_of_projects
);
loader!(ProjectsOfSubscription(SubscriptionId) => Vec<projects::Model>, batch::projects_of_subscriptions);
loader!(ContactsOfSubscription(SubscriptionId) => Vec<Contact>, batch::contacts_of_subscriptions);
loader!(
    /// Each company's owner (the staff console, `Company.owner`).
    OwnerOf(CompanyId) => users::Model, batch::owners_of
);
loader!(UserCountsOf(CompanyId) => batch::UserCounts, batch::user_counts_of);
loader!(
    /// Each company's subscriptions (filtered by the caller's reach where shown).
    SubscriptionsOfCompany(CompanyId) => Vec<service_subscriptions::Model>, batch::subscriptions_of_companies
);
loader!(CompanyById(CompanyId) => crate::db::companies::Model, batch::companies_by_id);
loader!(SubAccountById(SubAccountId) => sub_accounts::Model, batch::sub_accounts_by_id);
loader!(
    /// The users limited to each sub-account.
    MembersOfSubAccount(SubAccountId) => Vec<UserId>, batch::members_of_sub_accounts
);
loader!(
    /// The subscriptions each sub-account holds (filtered by the caller's reach where shown).
    HoldingsOf(SubAccountId) => Vec<service_subscriptions::Model>, batch::holdings_of_sub_accounts
);
loader!(
    /// Who invited each user (`User.invitedBy`).
    InviterOf(UserId) => users::Model, batch::inviters_of
);
loader!(
    /// The first page of each manager's direct reports: company, address, page size + 1.
    FirstReports((CompanyId, Email, u64)) => Vec<users::Model>, batch::first_reports
);

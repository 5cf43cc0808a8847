//! DataLoaders: fields that reach other rows (a user's manager, modules, sub-accounts,
//! subscriptions) are collected across the whole response and fetched in one query per kind.
//! One set per request, so nothing cached crosses users or companies.

use std::collections::HashMap;

use async_graphql::dataloader::Loader;
use sea_orm::{ColumnTrait, EntityTrait, Iterable, QueryFilter, QueryOrder};
use uuid::Uuid;

use crate::db::{service_subscriptions, sub_accounts, subscription_members, user_modules, user_sub_accounts, users};
use crate::domain::{self, DomainError, Services};

pub struct Loaders {
    pub services: Services,
}

fn failed(error: sea_orm::DbErr) -> async_graphql::Error {
    DomainError::from(error).into()
}

/// A user by company and email (managers are named by email).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ByEmail(pub Uuid, pub String);

impl Loader<ByEmail> for Loaders {
    type Value = users::Model;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[ByEmail]) -> Result<HashMap<ByEmail, Self::Value>, Self::Error> {
        let companies: Vec<Uuid> = keys.iter().map(|k| k.0).collect();
        let emails: Vec<String> = keys.iter().map(|k| k.1.clone()).collect();
        let found = users::Entity::find()
            .filter(users::Column::CompanyId.is_in(companies))
            .filter(users::Column::Email.is_in(emails))
            .all(&self.services.db)
            .await
            .map_err(failed)?;
        Ok(found.into_iter().filter_map(|u| Some((ByEmail(u.company_id?, u.email.clone()), u))).collect())
    }
}

/// A user's explicit module grants.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ModulesOf(pub Uuid);

impl Loader<ModulesOf> for Loaders {
    type Value = Vec<domain::Module>;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[ModulesOf]) -> Result<HashMap<ModulesOf, Self::Value>, Self::Error> {
        let rows = user_modules::Entity::find()
            .filter(user_modules::Column::UserId.is_in(keys.iter().map(|k| k.0)))
            .all(&self.services.db)
            .await
            .map_err(failed)?;
        let mut by_user: HashMap<ModulesOf, Vec<domain::Module>> = HashMap::new();
        for row in rows {
            by_user.entry(ModulesOf(row.user_id)).or_default().push(row.module);
        }
        // In the enum's order, whatever the database returned.
        for modules in by_user.values_mut() {
            modules.sort_by_key(|m| domain::Module::iter().position(|x| x == *m));
        }
        Ok(by_user)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SubAccountsOf(pub Uuid);

impl Loader<SubAccountsOf> for Loaders {
    type Value = Vec<sub_accounts::Model>;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[SubAccountsOf]) -> Result<HashMap<SubAccountsOf, Self::Value>, Self::Error> {
        let rows = user_sub_accounts::Entity::find()
            .filter(user_sub_accounts::Column::UserId.is_in(keys.iter().map(|k| k.0)))
            .find_also_related(sub_accounts::Entity)
            .order_by_asc(user_sub_accounts::Column::UserId)
            .all(&self.services.db)
            .await
            .map_err(failed)?;
        let mut by_user: HashMap<SubAccountsOf, Vec<sub_accounts::Model>> = HashMap::new();
        for (link, sub_account) in rows {
            if let Some(sub_account) = sub_account {
                by_user.entry(SubAccountsOf(link.user_id)).or_default().push(sub_account);
            }
        }
        for list in by_user.values_mut() {
            list.sort_by(|a, b| a.name.cmp(&b.name));
        }
        Ok(by_user)
    }
}

/// A user's subscription memberships, each with its subscription.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MembershipsOf(pub Uuid);

impl Loader<MembershipsOf> for Loaders {
    type Value = Vec<(subscription_members::Model, service_subscriptions::Model)>;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[MembershipsOf]) -> Result<HashMap<MembershipsOf, Self::Value>, Self::Error> {
        let memberships = subscription_members::Entity::find()
            .filter(subscription_members::Column::UserId.is_in(keys.iter().map(|k| k.0)))
            .all(&self.services.db)
            .await
            .map_err(failed)?;
        let subscriptions: HashMap<Uuid, service_subscriptions::Model> = service_subscriptions::Entity::find()
            .filter(service_subscriptions::Column::Id.is_in(memberships.iter().map(|m| m.subscription_id)))
            .all(&self.services.db)
            .await
            .map_err(failed)?
            .into_iter()
            .map(|s| (s.id, s))
            .collect();
        let mut by_user: HashMap<MembershipsOf, Self::Value> = HashMap::new();
        for membership in memberships {
            if let Some(subscription) = subscriptions.get(&membership.subscription_id) {
                by_user.entry(MembershipsOf(membership.user_id)).or_default().push((membership, subscription.clone()));
            }
        }
        Ok(by_user)
    }
}

/// Users by id (audit actors).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct UserById(pub Uuid);

impl Loader<UserById> for Loaders {
    type Value = users::Model;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[UserById]) -> Result<HashMap<UserById, Self::Value>, Self::Error> {
        let found = users::Entity::find()
            .filter(users::Column::Id.is_in(keys.iter().map(|k| k.0)))
            .all(&self.services.db)
            .await
            .map_err(failed)?;
        Ok(found.into_iter().map(|u| (UserById(u.id), u)).collect())
    }
}

/// The projects a user is a member of.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ProjectsOf(pub Uuid);

impl Loader<ProjectsOf> for Loaders {
    type Value = Vec<crate::db::projects::Model>;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[ProjectsOf]) -> Result<HashMap<ProjectsOf, Self::Value>, Self::Error> {
        use crate::db::{project_members, projects};
        let memberships = project_members::Entity::find()
            .filter(project_members::Column::UserId.is_in(keys.iter().map(|k| k.0)))
            .all(&self.services.db)
            .await
            .map_err(failed)?;
        let found: HashMap<Uuid, projects::Model> = projects::Entity::find()
            .filter(projects::Column::Id.is_in(memberships.iter().map(|m| m.project_id)))
            .order_by_asc(projects::Column::Name)
            .all(&self.services.db)
            .await
            .map_err(failed)?
            .into_iter()
            .map(|p| (p.id, p))
            .collect();
        let mut by_user: HashMap<ProjectsOf, Self::Value> = HashMap::new();
        for membership in memberships {
            if let Some(project) = found.get(&membership.project_id) {
                by_user.entry(ProjectsOf(membership.user_id)).or_default().push(project.clone());
            }
        }
        for list in by_user.values_mut() {
            list.sort_by(|a, b| a.name.cmp(&b.name));
        }
        Ok(by_user)
    }
}

//! Lookups by many keys at once, for the read side: one statement per kind of row, whatever the
//! number of parents asking (the DataLoaders in `graphql/loaders.rs` collect the keys of a whole
//! response and call these). The keys come from rows the caller was already allowed to see, so
//! these add no rule of their own; each list comes back in the order the API promises.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Arc;

use crate::types::{ApiKeyId, CompanyId, ContactId, Email, ProjectId, SubAccountId, SubscriptionId, UserId};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, Iterable, QueryFilter, QueryOrder, QuerySelect};

use super::support::Contact;
use super::{ContactRole, DomainResult, Module, Role, UserStatus};
use crate::db::{
    api_keys, companies, environments, project_members, project_models, projects, service_subscriptions, sub_accounts,
    subscription_members, support_contact_roles, support_contacts, user_modules, user_sub_accounts, users,
};

/// `(key, value)` pairs grouped by key, each group keeping the pairs' order.
fn grouped_pairs<K: Eq + Hash, V>(pairs: impl IntoIterator<Item = (K, V)>) -> HashMap<K, Vec<V>> {
    let mut groups: HashMap<K, Vec<V>> = HashMap::new();
    for (key, value) in pairs {
        groups.entry(key).or_default().push(value);
    }
    groups
}

/// `rows` grouped by `key`, each group keeping the rows' order.
fn grouped<K: Eq + Hash, V>(rows: impl IntoIterator<Item = V>, key: impl Fn(&V) -> K) -> HashMap<K, Vec<V>> {
    grouped_pairs(rows.into_iter().map(|row| (key(&row), row)))
}

/// Users of the given companies with the given addresses (managers are named by address).
pub async fn users_by_email(
    db: &impl ConnectionTrait,
    keys: &[(CompanyId, Email)],
) -> DomainResult<HashMap<(CompanyId, Email), users::Model>> {
    let select = users::find()
        .filter(users::Column::CompanyId.is_in(keys.iter().map(|k| k.0)))
        .filter(users::Column::Email.is_in(keys.iter().map(|k| k.1.clone())));
    let found = users::read_all(select, db).await?;
    Ok(found.into_iter().filter_map(|u| Some(((u.company_id?, u.email.clone()), u))).collect())
}

pub async fn users_by_id(db: &impl ConnectionTrait, ids: &[UserId]) -> DomainResult<HashMap<UserId, users::Model>> {
    users_by_id_reading(db, ids, users::Columns::ALL).await
}

/// `users_by_id`, reading `columns` only (`users::read_columns`).
async fn users_by_id_reading(
    db: &impl ConnectionTrait,
    ids: &[UserId],
    columns: users::Columns,
) -> DomainResult<HashMap<UserId, users::Model>> {
    let mut by_id = HashMap::with_capacity(ids.len());
    // A thousand at a time: a subscription's members may outnumber what one `IN` may bind.
    for chunk in ids.chunks(1000) {
        let select = users::find().filter(users::Column::Id.is_in(chunk.iter().copied()));
        by_id.extend(users::read_columns(select, columns, db).await?.into_iter().map(|u| (u.id, u)));
    }
    Ok(by_id)
}

/// `members` each with their user, read in one more statement: a dashboard lists hundreds of
/// members with their addresses, and a loader round per member cost more than the rows.
async fn with_their_users<M>(
    db: &impl ConnectionTrait,
    members: Vec<M>,
    user_of: impl Fn(&M) -> UserId,
    columns: users::Columns,
) -> DomainResult<Vec<(M, Arc<users::Model>)>> {
    let mut ids: Vec<UserId> = members.iter().map(&user_of).collect();
    ids.sort_unstable();
    ids.dedup();
    let users: HashMap<UserId, Arc<users::Model>> =
        users_by_id_reading(db, &ids, columns).await?.into_iter().map(|(id, user)| (id, Arc::new(user))).collect();
    // Every member has a user (a foreign key); one removed in the meantime is left out.
    Ok(members
        .into_iter()
        .filter_map(|member| {
            let user = users.get(&user_of(&member))?.clone();
            Some((member, user))
        })
        .collect())
}

pub async fn api_keys_by_id(
    db: &impl ConnectionTrait,
    ids: &[ApiKeyId],
) -> DomainResult<HashMap<ApiKeyId, api_keys::Model>> {
    let found = api_keys::Entity::find().filter(api_keys::Column::Id.is_in(ids.iter().copied())).all(db).await?;
    Ok(found.into_iter().map(|k| (k.id, k)).collect())
}

/// Each user's explicit module grants, in the enum's order.
pub async fn modules_of(db: &impl ConnectionTrait, users: &[UserId]) -> DomainResult<HashMap<UserId, Vec<Module>>> {
    let rows =
        user_modules::Entity::find().filter(user_modules::Column::UserId.is_in(users.iter().copied())).all(db).await?;
    let mut by_user = grouped_pairs(rows.into_iter().map(|row| (row.user_id, row.module)));
    for modules in by_user.values_mut() {
        modules.sort_by_key(|m| Module::iter().position(|x| x == *m));
    }
    Ok(by_user)
}

/// The users limited to each sub-account (SCIM's group members).
pub async fn members_of_sub_accounts(
    db: &impl ConnectionTrait,
    ids: &[SubAccountId],
) -> DomainResult<HashMap<SubAccountId, Vec<UserId>>> {
    let rows = user_sub_accounts::Entity::find()
        .filter(user_sub_accounts::Column::SubAccountId.is_in(ids.iter().copied()))
        .order_by_asc(user_sub_accounts::Column::UserId)
        .all(db)
        .await?;
    Ok(grouped_pairs(rows.into_iter().map(|row| (row.sub_account_id, row.user_id))))
}

/// Each company's subscriptions, oldest first.
pub async fn subscriptions_of_companies(
    db: &impl ConnectionTrait,
    ids: &[CompanyId],
) -> DomainResult<HashMap<CompanyId, Vec<service_subscriptions::Model>>> {
    let rows = service_subscriptions::Entity::find()
        .filter(service_subscriptions::Column::CompanyId.is_in(ids.iter().copied()))
        .order_by_asc(service_subscriptions::Column::CreatedAt)
        .all(db)
        .await?;
    Ok(grouped(rows, |s| s.company_id))
}

pub async fn companies_by_id(
    db: &impl ConnectionTrait,
    ids: &[CompanyId],
) -> DomainResult<HashMap<CompanyId, companies::Model>> {
    let found = companies::Entity::find().filter(companies::Column::Id.is_in(ids.iter().copied())).all(db).await?;
    Ok(found.into_iter().map(|c| (c.id, c)).collect())
}

pub async fn sub_accounts_by_id(
    db: &impl ConnectionTrait,
    ids: &[SubAccountId],
) -> DomainResult<HashMap<SubAccountId, sub_accounts::Model>> {
    let found =
        sub_accounts::Entity::find().filter(sub_accounts::Column::Id.is_in(ids.iter().copied())).all(db).await?;
    Ok(found.into_iter().map(|s| (s.id, s)).collect())
}

/// The subscriptions each sub-account holds, oldest first.
pub async fn holdings_of_sub_accounts(
    db: &impl ConnectionTrait,
    ids: &[SubAccountId],
) -> DomainResult<HashMap<SubAccountId, Vec<service_subscriptions::Model>>> {
    let rows = service_subscriptions::Entity::find()
        .filter(service_subscriptions::Column::SubAccountId.is_in(ids.iter().copied()))
        .order_by_asc(service_subscriptions::Column::CreatedAt)
        .all(db)
        .await?;
    Ok(grouped_pairs(rows.into_iter().filter_map(|s| Some((s.sub_account_id?, s)))))
}

/// The sub-accounts each user is limited to, by name.
pub async fn sub_accounts_of(
    db: &impl ConnectionTrait,
    users: &[UserId],
) -> DomainResult<HashMap<UserId, Vec<sub_accounts::Model>>> {
    let rows = user_sub_accounts::Entity::find()
        .filter(user_sub_accounts::Column::UserId.is_in(users.iter().copied()))
        .find_also_related(sub_accounts::Entity)
        .order_by_asc(sub_accounts::Column::Name)
        .all(db)
        .await?;
    Ok(grouped_pairs(rows.into_iter().filter_map(|(link, sub_account)| Some((link.user_id, sub_account?)))))
}

/// Each user's subscription memberships, each with its subscription.
pub async fn memberships_of(
    db: &impl ConnectionTrait,
    users: &[UserId],
) -> DomainResult<HashMap<UserId, Vec<(subscription_members::Model, service_subscriptions::Model)>>> {
    let memberships = subscription_members::Entity::find()
        .filter(subscription_members::Column::UserId.is_in(users.iter().copied()))
        .order_by_asc(subscription_members::Column::Id)
        .all(db)
        .await?;
    let ids: Vec<SubscriptionId> = memberships.iter().map(|m| m.subscription_id).collect();
    let subscriptions = subscriptions_by_id(db, &ids).await?;
    let paired = memberships
        .into_iter()
        .filter_map(|m| subscriptions.get(&m.subscription_id).cloned().map(|subscription| (m, subscription)));
    Ok(grouped(paired, |(m, _)| m.user_id))
}

/// The projects each user is a member of, by name.
pub async fn projects_of(
    db: &impl ConnectionTrait,
    users: &[UserId],
) -> DomainResult<HashMap<UserId, Vec<projects::Model>>> {
    let memberships = project_members::Entity::find()
        .filter(project_members::Column::UserId.is_in(users.iter().copied()))
        .find_also_related(projects::Entity)
        .order_by_asc(projects::Column::Name)
        .all(db)
        .await?;
    Ok(grouped_pairs(memberships.into_iter().filter_map(|(m, project)| Some((m.user_id, project?)))))
}

pub async fn subscriptions_by_id(
    db: &impl ConnectionTrait,
    ids: &[SubscriptionId],
) -> DomainResult<HashMap<SubscriptionId, service_subscriptions::Model>> {
    let found = service_subscriptions::Entity::find()
        .filter(service_subscriptions::Column::Id.is_in(ids.iter().copied()))
        .all(db)
        .await?;
    Ok(found.into_iter().map(|s| (s.id, s)).collect())
}

/// Each subscription's members, oldest first.
/// Each subscription's members with their users, read with the columns its key names.
pub async fn members_of_subscriptions(
    db: &impl ConnectionTrait,
    keys: &[(SubscriptionId, users::Columns)],
) -> DomainResult<HashMap<(SubscriptionId, users::Columns), Vec<(subscription_members::Model, Arc<users::Model>)>>> {
    use subscription_members::{Column, Entity};
    members_under::<Entity, _>(db, keys, Column::SubscriptionId, Column::Id, |m| m.subscription_id, |m| m.user_id).await
}

/// Each project's environments, oldest first.
pub async fn environments_of(
    db: &impl ConnectionTrait,
    projects: &[ProjectId],
) -> DomainResult<HashMap<ProjectId, Vec<environments::Model>>> {
    let rows = environments::Entity::find()
        .filter(environments::Column::ProjectId.is_in(projects.iter().copied()))
        .order_by_asc(environments::Column::Id)
        .all(db)
        .await?;
    Ok(grouped(rows, |e| e.project_id))
}

/// Each project's models, by name.
pub async fn models_of(
    db: &impl ConnectionTrait,
    projects: &[ProjectId],
) -> DomainResult<HashMap<ProjectId, Vec<project_models::Model>>> {
    let rows = project_models::Entity::find()
        .filter(project_models::Column::ProjectId.is_in(projects.iter().copied()))
        .order_by_asc(project_models::Column::Name)
        .order_by_asc(project_models::Column::Id)
        .all(db)
        .await?;
    Ok(grouped(rows, |m| m.project_id))
}

/// Each project's members, oldest first.
/// Each project's members with their users, read with the columns its key names.
pub async fn members_of_projects(
    db: &impl ConnectionTrait,
    keys: &[(ProjectId, users::Columns)],
) -> DomainResult<HashMap<(ProjectId, users::Columns), Vec<(project_members::Model, Arc<users::Model>)>>> {
    use project_members::{Column, Entity};
    members_under::<Entity, _>(db, keys, Column::ProjectId, Column::Id, |m| m.project_id, |m| m.user_id).await
}

/// The members (rows of `E`) under the keys' parents, in `order`, each with their user read
/// with the columns its key names: per set of columns (in a response, nearly always one), one
/// statement for the members and one for their users.
async fn members_under<E, K>(
    db: &impl ConnectionTrait,
    keys: &[(K, users::Columns)],
    parent: E::Column,
    order: E::Column,
    parent_of: impl Fn(&E::Model) -> K,
    user_of: impl Fn(&E::Model) -> UserId,
) -> DomainResult<HashMap<(K, users::Columns), Vec<(E::Model, Arc<users::Model>)>>>
where
    E: EntityTrait,
    K: Copy + Eq + Hash + Into<sea_orm::Value>,
{
    let mut found = HashMap::new();
    for (columns, parents) in grouped_pairs(keys.iter().map(|(key, columns)| (*columns, *key))) {
        let rows = E::find().filter(parent.is_in(parents)).order_by_asc(order).all(db).await?;
        let members = with_their_users(db, rows, &user_of, columns).await?;
        found.extend(grouped(members, |(member, _)| (parent_of(member), columns)));
    }
    Ok(found)
}

/// Each subscription's projects, by name.
pub async fn projects_of_subscriptions(
    db: &impl ConnectionTrait,
    subscriptions: &[SubscriptionId],
) -> DomainResult<HashMap<SubscriptionId, Vec<projects::Model>>> {
    let rows = projects::Entity::find()
        .filter(projects::Column::SubscriptionId.is_in(subscriptions.iter().copied()))
        .order_by_asc(projects::Column::Name)
        .order_by_asc(projects::Column::Id)
        .all(db)
        .await?;
    Ok(grouped(rows, |p| p.subscription_id))
}

/// Each support contact's roles, sorted.
pub async fn roles_of_contacts(
    db: &impl ConnectionTrait,
    contacts: &[ContactId],
) -> DomainResult<HashMap<ContactId, Vec<ContactRole>>> {
    let rows = support_contact_roles::Entity::find()
        .filter(support_contact_roles::Column::ContactId.is_in(contacts.iter().copied()))
        .all(db)
        .await?;
    let mut by_contact = grouped_pairs(rows.into_iter().map(|row| (row.contact_id, row.role)));
    by_contact.values_mut().for_each(|roles| roles.sort());
    Ok(by_contact)
}

/// `contacts` with their roles (one more statement, whatever their number).
pub async fn with_roles(
    db: &impl ConnectionTrait,
    contacts: Vec<support_contacts::Model>,
) -> DomainResult<Vec<Contact>> {
    let ids: Vec<ContactId> = contacts.iter().map(|c| c.id).collect();
    let mut roles = roles_of_contacts(db, &ids).await?;
    Ok(contacts
        .into_iter()
        .map(|contact| Contact { roles: roles.remove(&contact.id).unwrap_or_default(), contact })
        .collect())
}

/// Each subscription's support contacts (active and inactive, oldest first), with their roles.
pub async fn contacts_of_subscriptions(
    db: &impl ConnectionTrait,
    subscriptions: &[SubscriptionId],
) -> DomainResult<HashMap<SubscriptionId, Vec<Contact>>> {
    let rows = support_contacts::Entity::find()
        .filter(support_contacts::Column::SubscriptionId.is_in(subscriptions.iter().copied()))
        .order_by_asc(support_contacts::Column::Id)
        .all(db)
        .await?;
    Ok(grouped(with_roles(db, rows).await?, |c| c.contact.subscription_id))
}

/// The first `limit` direct reports (users whose `managerEmail` is the address) of each manager
/// `(company, address, limit)`, in the listing's order (surname, given name, id), never the
/// anonymized: one statement for every manager of a page, each cut to its own limit by a
/// window function rather than by reading everyone's reports.
pub async fn first_reports(
    db: &impl ConnectionTrait,
    keys: &[(CompanyId, Email, u64)],
) -> DomainResult<HashMap<(CompanyId, Email, u64), Vec<users::Model>>> {
    use sea_orm::FromQueryResult;
    use sea_orm::sea_query::{Alias, Expr, ExprTrait, Func, Order, OverStatement, Query, WindowStatement};
    let Some(limit) = keys.iter().map(|k| k.2).max() else { return Ok(HashMap::new()) };
    let mut ranked = Query::select();
    ranked
        .columns(users::Column::iter().map(|c| (users::Entity, c)))
        .expr_window_as(
            Func::cust("ROW_NUMBER"),
            WindowStatement::new()
                .partition_by((users::Entity, users::Column::CompanyId))
                .partition_by((users::Entity, users::Column::ManagerEmail))
                .order_by((users::Entity, users::Column::SortKey), Order::Asc)
                .order_by((users::Entity, users::Column::Id), Order::Asc)
                .to_owned(),
            Alias::new("report_rank"),
        )
        .from(users::Entity)
        .and_where(users::Column::CompanyId.is_in(keys.iter().map(|k| k.0)))
        .and_where(users::Column::ManagerEmail.is_in(keys.iter().map(|k| k.1.clone())))
        .and_where(users::Column::Status.ne(super::UserStatus::Anonymized))
        .cond_where(users::visible());
    let mut outer = Query::select();
    outer
        .columns(users::Column::iter().map(|c| (Alias::new("ranked"), c)))
        .from_subquery(ranked, Alias::new("ranked"))
        .and_where(Expr::col((Alias::new("ranked"), Alias::new("report_rank"))).lte(limit))
        .order_by((Alias::new("ranked"), users::Column::SortKey), Order::Asc)
        .order_by((Alias::new("ranked"), users::Column::Id), Order::Asc);
    let statement = db.get_database_backend().build(&outer);
    let rows = users::Model::find_by_statement(statement).all(db).await?;
    let by_manager =
        grouped_pairs(rows.into_iter().filter_map(|u| Some(((u.company_id?, u.manager_email.clone()?), u))));
    Ok(keys
        .iter()
        .map(|key| {
            let mut reports = by_manager.get(&(key.0, key.1.clone())).cloned().unwrap_or_default();
            reports.truncate(key.2 as usize);
            (key.clone(), reports)
        })
        .collect())
}

/// Who invited each user: the inviter of the user's latest invitation, when the inviter is a
/// user of the same company (an operator who provisioned the company is not shown to it).
pub async fn inviters_of(db: &impl ConnectionTrait, ids: &[UserId]) -> DomainResult<HashMap<UserId, users::Model>> {
    use crate::db::invitations;
    let found = invitations::Entity::find()
        .filter(invitations::Column::UserId.is_in(ids.iter().copied()))
        .filter(invitations::Column::InvitedBy.is_not_null())
        .order_by_asc(invitations::Column::CreatedAt)
        .all(db)
        .await?;
    // The latest invitation of each user wins (ordered oldest first, later ones overwrite).
    let latest: HashMap<UserId, invitations::Model> = found.into_iter().filter_map(|i| Some((i.user_id?, i))).collect();
    let inviter_ids: Vec<UserId> = latest.values().filter_map(|i| i.invited_by).collect();
    let inviters = users_by_id(db, &inviter_ids).await?;
    Ok(latest
        .into_iter()
        .filter_map(|(user, invitation)| {
            let inviter = inviters.get(&invitation.invited_by?)?;
            (inviter.company_id == Some(invitation.company_id)).then(|| (user, inviter.clone()))
        })
        .collect())
}

/// Each company's owner (platform staff need to know whom to talk to).
pub async fn owners_of(db: &impl ConnectionTrait, ids: &[CompanyId]) -> DomainResult<HashMap<CompanyId, users::Model>> {
    let owners = users::find()
        .filter(users::Column::CompanyId.is_in(ids.iter().copied()))
        .filter(users::Column::Role.eq(Role::Owner))
        .all(db)
        .await?;
    Ok(owners.into_iter().filter_map(|owner| Some((owner.company_id?, owner))).collect())
}

/// How many users each company has, by status.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UserCounts {
    pub invited: u64,
    pub active: u64,
    pub inactive: u64,
    pub anonymized: u64,
}

pub async fn user_counts_of(
    db: &impl ConnectionTrait,
    ids: &[CompanyId],
) -> DomainResult<HashMap<CompanyId, UserCounts>> {
    let rows: Vec<(CompanyId, UserStatus, i64)> = users::find()
        .select_only()
        .column(users::Column::CompanyId)
        .column(users::Column::Status)
        .column_as(users::Column::Id.count(), "n")
        .filter(users::Column::CompanyId.is_in(ids.iter().copied()))
        .group_by(users::Column::CompanyId)
        .group_by(users::Column::Status)
        .into_tuple()
        .all(db)
        .await?;
    let mut counts: HashMap<CompanyId, UserCounts> = ids.iter().map(|id| (*id, UserCounts::default())).collect();
    for (company, status, n) in rows {
        let entry = counts.entry(company).or_default();
        let n = u64::try_from(n).unwrap_or(0);
        match status {
            UserStatus::Invited => entry.invited = n,
            UserStatus::Active => entry.active = n,
            UserStatus::Inactive => entry.inactive = n,
            UserStatus::Anonymized => entry.anonymized = n,
        }
    }
    Ok(counts)
}

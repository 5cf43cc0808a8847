//! The GraphQL `User`, over a users row that may have been read in part: a listing reads only
//! the columns of the fields its client selected (`columns_selected`). Every field answers
//! through `User::row`, naming the columns it reads, so a column that was not read is an error,
//! never a value: the table `FIELDS` is what both the listing and the fields go by.

use std::sync::Arc;

use async_graphql::{Context, ID, Object, Result, SelectionField};
use chrono::{DateTime, Utc};

use super::guard::caller;
use super::loaders::{
    ByEmail, FirstReports, InviterOf, MembershipsOf, ModulesOf, ProjectsOf, SubAccountsOf, SubscriptionById,
};
use super::types::{Module, Role, SubAccount, SubscriptionMember, UserStatus, loader};
use crate::db::users;
use crate::db::users::{Column, Columns};
use crate::domain;

/// Shared, not copied: a user appears wherever they are a member, an owner or a manager, and a
/// dashboard names the same people many times.
#[derive(Clone)]
pub struct User {
    row: Arc<users::Model>,
    /// The columns `row` was read with; its other fields hold neutral values nobody may see.
    read: Columns,
}

impl From<users::Model> for User {
    fn from(user: users::Model) -> User {
        User { row: Arc::new(user), read: Columns::ALL }
    }
}

impl From<Arc<users::Model>> for User {
    fn from(user: Arc<users::Model>) -> User {
        User { row: user, read: Columns::ALL }
    }
}

/// The columns each field of `User` answers from. A field not named here (one that hands the
/// user on, like `subscriptions`) needs the whole row.
mod field {
    use super::{Column, Columns};
    pub const ID: Columns = Columns::of(&[Column::Id]);
    pub const EMAIL: Columns = Columns::of(&[Column::Email]);
    pub const GIVEN_NAME: Columns = Columns::of(&[Column::GivenName]);
    pub const SURNAME: Columns = Columns::of(&[Column::Surname]);
    pub const JOB_TITLE: Columns = Columns::of(&[Column::JobTitle]);
    pub const MANAGER_EMAIL: Columns = Columns::of(&[Column::ManagerEmail]);
    pub const COUNTRY: Columns = Columns::of(&[Column::Country]);
    pub const LOCALE: Columns = Columns::of(&[Column::Locale]);
    pub const STATUS: Columns = Columns::of(&[Column::Status]);
    pub const ROLE: Columns = Columns::of(&[Column::Role]);
    pub const MODULES: Columns = Columns::of(&[Column::Id, Column::Role]);
    pub const MANAGER: Columns = Columns::of(&[Column::CompanyId, Column::ManagerEmail]);
    pub const CREATED_AT: Columns = Columns::of(&[Column::CreatedAt]);
    pub const UPDATED_AT: Columns = Columns::of(&[Column::UpdatedAt]);
    pub const ACTIVATED_AT: Columns = Columns::of(&[Column::ActivatedAt]);
    pub const DEACTIVATED_AT: Columns = Columns::of(&[Column::DeactivatedAt]);
    pub const LAST_SIGNED_IN_AT: Columns = Columns::of(&[Column::LastSignedInAt]);
    pub const DIRECT_REPORTS: Columns = Columns::of(&[Column::CompanyId, Column::Email]);
    pub const EXTERNAL_ID: Columns = Columns::of(&[Column::ExternalId]);
    pub const NONE: Columns = Columns::of(&[]);
}

/// Every field a partly read user can answer, by its GraphQL name.
const FIELDS: [(&str, Columns); 23] = [
    ("__typename", field::NONE),
    ("id", field::ID),
    ("email", field::EMAIL),
    ("givenName", field::GIVEN_NAME),
    ("surname", field::SURNAME),
    ("jobTitle", field::JOB_TITLE),
    ("managerEmail", field::MANAGER_EMAIL),
    ("country", field::COUNTRY),
    ("locale", field::LOCALE),
    ("status", field::STATUS),
    ("role", field::ROLE),
    ("modules", field::MODULES),
    ("subAccounts", field::ID),
    ("manager", field::MANAGER),
    ("projects", field::ID),
    ("createdAt", field::CREATED_AT),
    ("updatedAt", field::UPDATED_AT),
    ("activatedAt", field::ACTIVATED_AT),
    ("deactivatedAt", field::DEACTIVATED_AT),
    ("lastSignedInAt", field::LAST_SIGNED_IN_AT),
    ("invitedBy", field::ID),
    ("directReports", field::DIRECT_REPORTS),
    ("externalId", field::EXTERNAL_ID),
];

impl User {
    /// A user read with `read` only (by `users::read_columns`, which reads the keys too).
    pub fn read_with(row: impl Into<Arc<users::Model>>, read: Columns) -> User {
        User { row: row.into(), read: read.and(Columns::KEYS) }
    }

    /// The row, for a field that reads `columns` of it.
    fn row(&self, columns: Columns) -> Result<&users::Model> {
        if self.read.holds(columns) {
            Ok(&self.row)
        } else {
            tracing::error!(?columns, read = ?self.read, "a user field asked for a column its listing did not read");
            Err(super::error::coded(super::error::ErrorCode::Internal, "Internal error; it has been logged"))
        }
    }

    /// The whole row, to hand the user on (as a member's user, whose fields nobody chose yet).
    pub fn whole(&self) -> Result<Arc<users::Model>> {
        self.row(Columns::ALL).map(|_| self.row.clone())
    }
}

/// The columns a `users` listing must read for what its client selected under `edges.node` and
/// `nodes` (fragments included): `Columns::ALL` when a field is not in `FIELDS`.
pub fn columns_selected(listing: &SelectionField<'_>) -> Columns {
    let mut columns = field::NONE;
    for part in listing.selection_set() {
        columns = columns.and(match part.name() {
            "nodes" => columns_of(&part),
            "edges" => columns_under(&part, "node"),
            _ => continue,
        });
    }
    columns
}

/// The columns the users selected as `name` under `parent` need (a member's `user`; none when
/// no user is selected).
pub fn columns_under(parent: &SelectionField<'_>, name: &str) -> Columns {
    parent
        .selection_set()
        .filter(|child| child.name() == name)
        .fold(field::NONE, |columns, user| columns.and(columns_of(&user)))
}

/// The columns of the fields selected on one `User`.
fn columns_of(user: &SelectionField<'_>) -> Columns {
    let mut columns = field::NONE;
    for selected in user.selection_set() {
        match FIELDS.iter().find(|(name, _)| *name == selected.name()) {
            Some((_, needs)) => columns = columns.and(*needs),
            None => return Columns::ALL,
        }
    }
    columns
}

#[Object]
impl User {
    async fn id(&self) -> Result<ID> {
        Ok(ID(self.row(field::ID)?.id.to_string()))
    }
    async fn email(&self) -> Result<&str> {
        Ok(&self.row(field::EMAIL)?.email)
    }
    async fn given_name(&self) -> Result<Option<&str>> {
        Ok(self.row(field::GIVEN_NAME)?.given_name.as_deref())
    }
    async fn surname(&self) -> Result<Option<&str>> {
        Ok(self.row(field::SURNAME)?.surname.as_deref())
    }
    async fn job_title(&self) -> Result<Option<&str>> {
        Ok(self.row(field::JOB_TITLE)?.job_title.as_deref())
    }
    async fn manager_email(&self) -> Result<Option<&str>> {
        Ok(self.row(field::MANAGER_EMAIL)?.manager_email.as_deref())
    }
    /// ISO 3166-1 alpha-2 code.
    async fn country(&self) -> Result<Option<&str>> {
        Ok(self.row(field::COUNTRY)?.country.as_deref())
    }
    async fn locale(&self) -> Result<&str> {
        Ok(&self.row(field::LOCALE)?.locale)
    }
    async fn status(&self) -> Result<UserStatus> {
        Ok(self.row(field::STATUS)?.status.into())
    }
    async fn role(&self) -> Result<Role> {
        Ok(self.row(field::ROLE)?.role.into())
    }
    /// The modules the user may use; owners and administrators hold all of them.
    async fn modules(&self, ctx: &Context<'_>) -> Result<Vec<Module>> {
        let user = self.row(field::MODULES)?;
        if user.role.is_company_admin() {
            return Ok(domain::Module::all().map(Module::from).collect());
        }
        let modules = loader(ctx).load_one(ModulesOf(user.id)).await?.unwrap_or_default();
        Ok(modules.into_iter().map(Module::from).collect())
    }
    /// The sub-accounts the user is limited to; empty means the whole company.
    async fn sub_accounts(&self, ctx: &Context<'_>) -> Result<Vec<SubAccount>> {
        let list = loader(ctx).load_one(SubAccountsOf(self.row(field::ID)?.id)).await?.unwrap_or_default();
        Ok(list.into_iter().map(SubAccount).collect())
    }
    /// The user named by `managerEmail`, when they have an account in the company.
    async fn manager(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        let user = self.row(field::MANAGER)?;
        let (Some(company_id), Some(email)) = (user.company_id, &user.manager_email) else { return Ok(None) };
        Ok(loader(ctx).load_one(ByEmail((company_id, email.clone()))).await?.map(User::from))
    }
    /// The projects the user is a member of, of the subscriptions the caller reaches.
    async fn projects(&self, ctx: &Context<'_>) -> Result<Vec<super::service_subscriptions::Project>> {
        let list = loader(ctx).load_one(ProjectsOf(self.row(field::ID)?.id)).await?.unwrap_or_default();
        // Projects do not know their sub-account: their subscriptions (batched) do.
        let holders = loader(ctx).load_many(list.iter().map(|p| SubscriptionById(p.subscription_id))).await?;
        let reach = &caller(ctx)?.reach;
        let in_reach = |project: &crate::db::projects::Model| {
            holders.get(&SubscriptionById(project.subscription_id)).is_some_and(|s| reach.covers(s.sub_account_id))
        };
        Ok(list.into_iter().filter(in_reach).map(super::service_subscriptions::Project).collect())
    }
    /// The service subscriptions the user is a member of, of those the caller reaches.
    async fn subscriptions(&self, ctx: &Context<'_>) -> Result<Vec<SubscriptionMember>> {
        let user = self.whole()?;
        let list = loader(ctx).load_one(MembershipsOf(user.id)).await?.unwrap_or_default();
        let reach = &caller(ctx)?.reach;
        Ok(list
            .into_iter()
            .filter(|(_, subscription)| reach.covers(subscription.sub_account_id))
            .map(|(member, subscription)| SubscriptionMember {
                member,
                subscription: Arc::new(subscription),
                user: Some(User::from(user.clone())),
            })
            .collect())
    }
    async fn created_at(&self) -> Result<DateTime<Utc>> {
        Ok(self.row(field::CREATED_AT)?.created_at)
    }
    /// When the profile or the account last changed (not sign-ins: see `lastSignedInAt`).
    async fn updated_at(&self) -> Result<DateTime<Utc>> {
        Ok(self.row(field::UPDATED_AT)?.updated_at)
    }
    /// When the user first became active (set a password, or was created active).
    async fn activated_at(&self) -> Result<Option<DateTime<Utc>>> {
        Ok(self.row(field::ACTIVATED_AT)?.activated_at)
    }
    /// When the user was last deactivated; null while active.
    async fn deactivated_at(&self) -> Result<Option<DateTime<Utc>>> {
        Ok(self.row(field::DEACTIVATED_AT)?.deactivated_at)
    }
    /// When the user last signed in; null for someone who never has.
    async fn last_signed_in_at(&self) -> Result<Option<DateTime<Utc>>> {
        Ok(self.row(field::LAST_SIGNED_IN_AT)?.last_signed_in_at)
    }
    /// Who invited the user, for users who came by invitation.
    async fn invited_by(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        Ok(loader(ctx).load_one(InviterOf(self.row(field::ID)?.id)).await?.map(User::from))
    }
    /// The users whose `managerEmail` is this user's address, in the order of `users`. A first
    /// page is fetched with the other users' of the response in one statement.
    async fn direct_reports(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Result<super::users::UserConnection> {
        let user = self.row(field::DIRECT_REPORTS)?;
        let principal = caller(ctx)?;
        let page = super::paging::user_page_request(first, after, last, before)?;
        let filter = domain::user_list::UserFilter { manager: Some(user.email.clone()), ..Default::default() };
        let order = domain::user_list::UserOrder::default();
        let services = super::guard::services(ctx);
        let found = match (user.company_id, &page.from, page.backward) {
            (Some(company), None, false) => {
                let key = FirstReports((company, user.email.clone(), page.size + 1));
                let items = loader(ctx).load_one(key).await?.unwrap_or_default();
                page.finish(items, domain::user_list::total(services, principal, &filter)?)
            }
            _ => domain::user_list::list(services, principal, &filter, order, page, Columns::ALL).await?,
        };
        Ok(super::users::user_connection(found, order, Columns::ALL))
    }
    /// The identity provider's id of the person, for users provisioned over SCIM.
    async fn external_id(&self) -> Result<Option<&str>> {
        Ok(self.row(field::EXTERNAL_ID)?.external_id.as_deref())
    }
}

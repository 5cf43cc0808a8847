//! Companies: a company's own (`company`), and the platform staff's console (`companies`,
//! `company(id)`, suspending and reactivating).

use async_graphql::connection::Connection;
use async_graphql::{Context, Enum, InputObject, Object, Result, SimpleObject};

use super::guard::{authorize, services};
use super::ids::cursor;
use super::notifications::TotalCount;
use super::paging::{connection, page_request};
use super::types::Company;
use crate::domain::{self, companies as rules};
use crate::types::CompanyId;

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "domain::CompanyStatus")]
pub enum CompanyStatus {
    Active,
    /// Its users cannot sign in; its API keys are refused.
    Suspended,
}

#[derive(InputObject, Default)]
pub struct CompanyFilter {
    /// Part of the company's name, any case.
    search: Option<String>,
    status: Option<CompanyStatus>,
}

/// How many users a company has, by status.
#[derive(SimpleObject)]
pub struct UserCounts {
    invited: u64,
    active: u64,
    inactive: u64,
    anonymized: u64,
    /// Every user, whatever the status.
    total: u64,
}

impl From<domain::batch::UserCounts> for UserCounts {
    fn from(c: domain::batch::UserCounts) -> Self {
        let total = c.invited + c.active + c.inactive + c.anonymized;
        UserCounts { invited: c.invited, active: c.active, inactive: c.inactive, anonymized: c.anonymized, total }
    }
}

pub type CompanyConnection = Connection<String, Company, TotalCount>;

#[derive(Default)]
pub struct CompanyQuery;

#[Object]
impl CompanyQuery {
    /// The signed-in user's company; platform staff name one by `id` (a company's user may name
    /// only their own).
    async fn company(&self, ctx: &Context<'_>, id: Option<CompanyId>) -> Result<Company> {
        let principal = authorize(ctx)?;
        let found = match id {
            Some(id) => rules::by_id(services(ctx), principal, id).await?,
            None => rules::current(services(ctx), principal).await?,
        };
        Ok(Company(found))
    }

    /// Every company, newest first (platform staff).
    async fn companies(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
        filter: Option<CompanyFilter>,
    ) -> Result<CompanyConnection> {
        let principal = authorize(ctx)?;
        let page = page_request(first, after, last, before)?;
        let filter = filter.unwrap_or_default();
        let filter = rules::CompanyFilter { search: filter.search, status: filter.status.map(Into::into) };
        let found = rules::list(services(ctx), principal, filter, page).await?;
        Ok(connection(found, |c| (cursor(c.id), Company(c))))
    }
}

#[derive(Default)]
pub struct CompanyMutation;

#[Object]
impl CompanyMutation {
    /// Suspends a company (operators): its users cannot sign in, their sessions end at once,
    /// its API keys are refused. Audited, and sent to its webhooks (`company.suspended`).
    async fn suspend_company(&self, ctx: &Context<'_>, id: CompanyId) -> Result<Company> {
        let principal = authorize(ctx)?;
        Ok(Company(rules::set_status(services(ctx), principal, id, domain::CompanyStatus::Suspended).await?))
    }

    /// Lifts a suspension (operators): its users may sign in again.
    async fn reactivate_company(&self, ctx: &Context<'_>, id: CompanyId) -> Result<Company> {
        let principal = authorize(ctx)?;
        Ok(Company(rules::set_status(services(ctx), principal, id, domain::CompanyStatus::Active).await?))
    }
}

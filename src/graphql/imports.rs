//! Import jobs as clients follow them (the upload is `POST /imports` for now).

use async_graphql::connection::{Connection, Edge};
use async_graphql::{Context, Enum, ID, Object, Result};
use chrono::{DateTime, Utc};

use super::guard::{authorize, services};
use super::ids::{cursor, id, parse_cursor, parse_id};
use super::notifications::TotalCount;
use crate::db::import_jobs;
use crate::domain::page::PageRequest;
use crate::domain::{self, DomainError};
use crate::import::job;

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "domain::ImportStatus")]
pub enum ImportStatus {
    Validating,
    Validated,
    FailedValidation,
    Importing,
    Completed,
    Failed,
    Cancelled,
}

pub struct ImportJob(import_jobs::Model);

#[Object]
impl ImportJob {
    async fn id(&self) -> ID {
        id(self.0.id)
    }
    async fn status(&self) -> ImportStatus {
        self.0.status.into()
    }
    async fn dry_run(&self) -> bool {
        self.0.dry_run
    }
    async fn file_name(&self) -> Option<&str> {
        self.0.file_name.as_deref()
    }
    async fn total_rows(&self) -> i32 {
        self.0.total_rows
    }
    async fn processed_rows(&self) -> i32 {
        self.0.processed_rows
    }
    async fn created_count(&self) -> i32 {
        self.0.created_count
    }
    async fn error_count(&self) -> i32 {
        self.0.error_count
    }
    async fn warning_count(&self) -> i32 {
        self.0.warning_count
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn finished_at(&self) -> Option<DateTime<Utc>> {
        self.0.finished_at
    }
    /// The uploaded rows plus an `Errors` column, when validation found problems.
    async fn error_log_url(&self, ctx: &Context<'_>) -> Option<String> {
        (self.0.error_count > 0).then(|| services(ctx).link(&format!("imports/{}/errors.csv", self.0.id)))
    }
}

#[derive(Default)]
pub struct ImportQuery;

#[Object]
impl ImportQuery {
    async fn import_job(&self, ctx: &Context<'_>, id: ID) -> Result<Option<ImportJob>> {
        let principal = authorize(ctx)?;
        match job::get(services(ctx), principal, parse_id("id", &id)?).await {
            Ok(found) => Ok(Some(ImportJob(found))),
            Err(DomainError::NotFound(_)) => Ok(None),
            Err(error) => Err(error.into()),
        }
    }

    /// The company's imports, newest first.
    async fn import_jobs(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Connection<String, ImportJob, TotalCount>> {
        let principal = authorize(ctx)?;
        let page = PageRequest::new(first, parse_cursor(after.as_deref())?);
        let found = job::list(services(ctx), principal, page).await?;
        let mut connection = Connection::with_additional_fields(
            page.after.is_some(),
            found.has_next_page,
            TotalCount::new(found.total_count),
        );
        connection.edges.extend(found.items.into_iter().map(|j| Edge::new(cursor(j.id), ImportJob(j))));
        Ok(connection)
    }
}

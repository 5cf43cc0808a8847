//! The CSV import: upload (GraphQL multipart request; `POST /imports` takes the raw file),
//! commit of a dry run, cancellation, the jobs (live progress: `live.rs`).

use super::paging::{connection, page_request};
use async_graphql::connection::Connection;
use async_graphql::{Context, Enum, ID, Object, Result, Upload};
use chrono::{DateTime, Utc};

use super::guard::{authorize, services};
use crate::import::Imports;

pub(super) fn imports<'a>(ctx: &Context<'a>) -> &'a Imports {
    ctx.data_unchecked::<Imports>()
}
use super::ids::{cursor, id};
use super::loaders::UserById;
use super::notifications::TotalCount;
use super::types::{User, loader};
use crate::db::import_jobs;
use crate::domain::{self, DomainError};
use crate::import::job;
use crate::import::progress::Progress;
use crate::types::ImportJobId;

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
    #[graphql(flatten)]
    async fn counts(&self) -> ImportCounts {
        ImportCounts(Progress::of(&self.0))
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn started_at(&self) -> Option<DateTime<Utc>> {
        self.0.started_at
    }
    async fn finished_at(&self) -> Option<DateTime<Utc>> {
        self.0.finished_at
    }
    /// Who uploaded the file; null for `portal import` at a terminal.
    async fn started_by(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        let Some(user_id) = self.0.started_by else { return Ok(None) };
        Ok(loader(ctx).load_one(UserById(user_id)).await?.map(User::from))
    }
    /// Why the job failed as a whole (a file that cannot be read, an internal error).
    async fn failure_message(&self) -> Option<&str> {
        self.0.failure_message.as_deref()
    }
    async fn send_welcome_emails(&self) -> bool {
        self.0.send_welcome_emails
    }
    /// The sub-accounts every imported user is limited to; empty: the whole company.
    async fn sub_account_ids(&self) -> Vec<crate::types::SubAccountId> {
        crate::import::states::sub_accounts_of(&self.0)
    }
    /// Size of the uploaded file, in bytes.
    async fn file_size(&self) -> i64 {
        self.0.file_size
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
    async fn import_job(&self, ctx: &Context<'_>, id: ImportJobId) -> Result<Option<ImportJob>> {
        let principal = authorize(ctx)?;
        match job::get(imports(ctx), principal, id).await {
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
        last: Option<i32>,
        before: Option<String>,
    ) -> Result<Connection<String, ImportJob, TotalCount>> {
        let principal = authorize(ctx)?;
        let page = page_request(first, after, last, before)?;
        let found = job::list(imports(ctx), principal, page).await?;
        Ok(connection(found, |j| (cursor(j.id), ImportJob(j))))
    }
}

#[derive(Default)]
pub struct ImportMutation;

#[Object]
impl ImportMutation {
    /// Uploads a CSV file (GraphQL multipart request) and starts its import; returns the job at
    /// once while the work goes on in the background. `dryRun` validates only (commit it with
    /// `commitUserImport`); `sendWelcomeEmails: false` creates the users without emailing them;
    /// `subAccountIds` limits every imported user to those sub-accounts (at most 100).
    async fn start_user_import(
        &self,
        ctx: &Context<'_>,
        file: Upload,
        dry_run: Option<bool>,
        #[graphql(default = true)] send_welcome_emails: bool,
        sub_account_ids: Option<Vec<crate::types::SubAccountId>>,
    ) -> Result<ImportJob> {
        let principal = authorize(ctx)?;
        let upload = file.value(ctx).map_err(|e| DomainError::invalid("file", e.to_string()))?;
        let options = crate::import::Options {
            file_name: Some(upload.filename),
            dry_run: dry_run.unwrap_or(false),
            send_welcome_emails,
            sub_account_ids: sub_account_ids.unwrap_or_default(),
        };
        let content = tokio::fs::File::from_std(upload.content);
        let started = job::start(imports(ctx), principal.company()?, principal.person_id(), options, content).await?;
        Ok(ImportJob(started))
    }

    /// Writes a validated dry run exactly as it was validated. CONFLICT when the portal changed
    /// meanwhile in a way that breaks the file (an address taken, a manager gone).
    async fn commit_user_import(&self, ctx: &Context<'_>, id: ImportJobId) -> Result<ImportJob> {
        let principal = authorize(ctx)?;
        Ok(ImportJob(job::commit(imports(ctx), principal, id).await?))
    }

    /// Stops a running import and rolls back what it wrote, or discards a validated dry run.
    /// CONFLICT when the import has already ended.
    async fn cancel_user_import(&self, ctx: &Context<'_>, id: ImportJobId) -> Result<ImportJob> {
        let principal = authorize(ctx)?;
        Ok(ImportJob(job::cancel(imports(ctx), principal, id).await?))
    }
}

/// A job's state as it runs: `processedRows` counts rows validated, `createdCount` rows
/// written (while IMPORTING, within the import's transaction).
pub struct ImportProgress(pub(super) Progress);

#[Object]
impl ImportProgress {
    async fn job_id(&self) -> ID {
        id(self.0.job_id)
    }
    async fn status(&self) -> ImportStatus {
        self.0.status.into()
    }
    #[graphql(flatten)]
    async fn counts(&self) -> ImportCounts {
        ImportCounts(self.0.clone())
    }
}

/// The counters a job and its progress share (flattened into both).
pub struct ImportCounts(Progress);

#[Object]
impl ImportCounts {
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
}

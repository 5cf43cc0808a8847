//! What people do with import jobs: `start` stores the upload and returns the job at once (the
//! work runs in the background, `runner`); `commit` writes a validated dry run; `cancel` stops
//! a job and rolls back what it wrote; `get` and `list` within the caller's company. Each
//! status change is a `states::Step`.

use super::{Imports, Options};

use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QuerySelect, Set,
};
use serde_json::json;
use tokio::io::AsyncRead;

use super::check;
use super::file;
use super::progress::RUNNING;
use super::runner::spawn;
use super::states::{self, Step, load};
use crate::db::{companies, import_jobs};
use crate::domain::audit::AuditEvent;
use crate::domain::page::{Page, PageRequest, newest_first};
use crate::domain::principal::Principal;
use crate::domain::{DomainError, DomainResult, ImportStatus};
use crate::types::{AuditAction, TargetKind};
use crate::types::{CompanyId, ImportJobId, UserId};

/// Imports of one company that may run at once: each holds a file's rows in flight and, when
/// writing, a transaction; more is a mistake (a double click) or an abuse.
pub const MAX_RUNNING_PER_COMPANY: u64 = 3;

/// Refuses a start while `MAX_RUNNING_PER_COMPANY` imports of the company run. Concurrent
/// starts of one company wait here for each other (PostgreSQL locks the company row; SQLite has
/// one writer), so the count includes every job they committed.
async fn refuse_over_limit(db: &impl ConnectionTrait, company_id: CompanyId) -> DomainResult<()> {
    companies::Entity::find_by_id(company_id).lock_exclusive().one(db).await?;
    let running = import_jobs::Entity::find()
        .filter(import_jobs::Column::CompanyId.eq(company_id))
        .filter(import_jobs::Column::Status.is_in(RUNNING))
        .count(db)
        .await?;
    if running >= MAX_RUNNING_PER_COMPANY {
        return Err(DomainError::Conflict {
            field: Some("file".into()),
            message: format!(
                "{running} imports of your company are running; start this one when one of them has finished"
            ),
        });
    }
    Ok(())
}

/// Stores the file and starts the job in the background; returns the job at once. A read
/// error on `content` (a client gone, a body over the limit) stores nothing.
pub async fn start(
    svc: &Imports,
    company_id: CompanyId,
    started_by: Option<UserId>,
    options: Options,
    content: impl AsyncRead + Unpin,
) -> DomainResult<import_jobs::Model> {
    let spooled = file::Spooled::receive(content).await.map_err(|error| {
        DomainError::invalid("file", format!("the upload did not complete ({error}); nothing was imported"))
    })?;
    let tx = svc.begin().await?;
    refuse_over_limit(&tx, company_id).await?;
    check_sub_accounts(&tx, company_id, &options.sub_account_ids).await?;
    let job = states::new_job(company_id, started_by, &options, tx.now()).insert(&tx).await?;
    let local = spooled.open().await.map_err(DomainError::internal)?;
    let stored = file::store(&tx, job.id, local).await?.map_err(DomainError::internal)?;
    let mut job: import_jobs::ActiveModel = job.into();
    job.file_size = Set(stored.size);
    job.file_sha256 = Set(Some(stored.sha256));
    let job = job.update(&tx).await?;
    tx.commit().await?;
    spawn(svc, job.id);
    Ok(job)
}

/// At most this many sub-accounts named by one import.
const MAX_SUB_ACCOUNTS: usize = 100;

/// The sub-accounts an import limits its users to: the company's own, and few.
async fn check_sub_accounts(
    db: &impl sea_orm::ConnectionTrait,
    company_id: CompanyId,
    ids: &[crate::types::SubAccountId],
) -> DomainResult<()> {
    if ids.len() > MAX_SUB_ACCOUNTS {
        return Err(DomainError::invalid("subAccountIds", format!("names more than {MAX_SUB_ACCOUNTS} sub-accounts")));
    }
    crate::domain::permissions::check_sub_accounts(db, company_id, ids)
        .await
        .map(drop)
        .map_err(|error| DomainError::Validation(vec![error]))
}

/// Writes a validated dry run, exactly as validated. Refused with CONFLICT when the portal
/// changed meanwhile in a way that breaks the file (an address taken, a manager gone).
pub async fn commit(svc: &Imports, principal: &Principal, id: ImportJobId) -> DomainResult<import_jobs::Model> {
    let job = get(svc, principal, id).await?;
    if job.status != ImportStatus::Validated {
        return Err(DomainError::Conflict {
            field: Some("id".into()),
            message: format!(
                "only a validated dry run can be committed; this import is {}",
                serde_json::to_value(job.status).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
            ),
        });
    }
    let problems = check::recheck(svc, &job).await?;
    if !problems.is_empty() {
        let shown: Vec<String> = problems.iter().take(5).map(|i| format!("row {}: {}", i.row, i.message)).collect();
        return Err(DomainError::Conflict {
            field: Some("id".into()),
            message: format!(
                "the portal changed since the dry run ({} problem(s): {}); upload the file again",
                problems.len(),
                shown.join("; ")
            ),
        });
    }
    if !states::advance(&svc.db, svc.clock.now(), id, Step::Committed).await? {
        return Err(DomainError::Conflict { field: Some("id".into()), message: "the import changed meanwhile".into() });
    }
    spawn(svc, id);
    load(svc, id).await
}

/// Stops a running job (rolling back what it wrote) or discards a validated dry run.
pub async fn cancel(svc: &Imports, principal: &Principal, id: ImportJobId) -> DomainResult<import_jobs::Model> {
    let job = get(svc, principal, id).await?;
    cancel_job(svc, job, principal.person_id()).await
}

/// `cancel` for a job already authorized (or an operator at a terminal: `actor` None).
pub async fn cancel_job(
    svc: &Imports,
    job: import_jobs::Model,
    actor: Option<UserId>,
) -> DomainResult<import_jobs::Model> {
    let id = job.id;
    // A job this process runs is asked to stop first, then the status changes: on SQLite a
    // write in progress holds the only writer, so the status can change only once the write
    // has seen the request and rolled back (the job then marks itself CANCELLED, and the step
    // below finds it so). A job run by another process sees the status at its next batch.
    let asked_here = svc.running.cancel(id);
    if !states::advance(&svc.db, svc.clock.now(), id, Step::Cancelled).await? {
        let job = load(svc, id).await?;
        if !(asked_here && job.status == ImportStatus::Cancelled) {
            return Err(DomainError::Conflict {
                field: Some("id".into()),
                message: format!("this import has already ended ({:?})", job.status),
            });
        }
    }
    let mut work = svc.begin().await?;
    work.audit(
        AuditEvent::new(AuditAction::ImportCancelled, TargetKind::ImportJob, id)
            .company(Some(job.company_id))
            .actor(actor)
            .after(json!({"status": ImportStatus::Cancelled, "was": job.status})),
    );
    work.commit().await?;
    if job.status == ImportStatus::Validated {
        states::close_cancelled(svc, id).await?; // nothing runs it any more
    }
    load(svc, id).await
}

/// Read through the readers: on SQLite a write in progress holds the only writer, and a
/// client follows its import by asking for it.
pub async fn get(svc: &Imports, principal: &Principal, id: ImportJobId) -> DomainResult<import_jobs::Model> {
    import_jobs::Entity::find_by_id(id)
        .filter(import_jobs::Column::CompanyId.eq(principal.company()?))
        .one(&svc.reads)
        .await?
        .ok_or(DomainError::NotFound("import job"))
}

pub async fn list(svc: &Imports, principal: &Principal, page: PageRequest) -> DomainResult<Page<import_jobs::Model>> {
    let query = import_jobs::Entity::find().filter(import_jobs::Column::CompanyId.eq(principal.company()?));
    newest_first(&svc.reads, query, import_jobs::Column::Id, page).await
}

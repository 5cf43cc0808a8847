//! An import job: the uploaded file is kept in the database (so any server process can read
//! it), validated as a whole in the background, and, when clean and not a dry run, written in
//! one transaction. A file with errors creates nobody; its error log is the file as uploaded
//! plus an `Errors` column.
//!
//! Still to come (see the import issue): multipart upload, progress events and the
//! subscription, commit of a dry run, cancellation, streaming from the stored chunks.

use std::collections::{HashMap, HashSet};

use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder, Set,
};
use serde_json::json;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::parse::{FileError, rows};
use super::validate::{FileRules, Issue, ValidRow, check_row};
use crate::db::{import_file_chunks, import_jobs, import_row_issues, users};
use crate::domain::audit::AuditEvent;
use crate::domain::page::{Page, PageRequest, newest_first};
use crate::domain::principal::Principal;
use crate::domain::{DomainError, DomainResult, Email, ImportStatus, IssueSeverity, Services};
use crate::notify::{self, Notification};

const CHUNK: usize = 1024 * 1024;
const BATCH: usize = 500;

/// Stores the file and starts the job in the background; returns the job at once.
pub async fn start(
    svc: &Services,
    principal: &Principal,
    file_name: Option<String>,
    file: Vec<u8>,
    dry_run: bool,
) -> DomainResult<import_jobs::Model> {
    let company_id = principal.company()?;
    let now = svc.clock.now();
    let tx = svc.begin().await?;
    let sha: String = Sha256::digest(&file).iter().map(|b| format!("{b:02x}")).collect();
    let job = import_jobs::ActiveModel {
        id: Set(Uuid::now_v7()),
        company_id: Set(company_id),
        started_by: Set(Some(principal.user_id)),
        status: Set(ImportStatus::Validating),
        dry_run: Set(dry_run),
        send_welcome_emails: Set(true),
        file_name: Set(file_name),
        file_size: Set(file.len() as i64),
        file_sha256: Set(Some(sha)),
        total_rows: Set(0),
        processed_rows: Set(0),
        created_count: Set(0),
        error_count: Set(0),
        warning_count: Set(0),
        failure_message: Set(None),
        created_at: Set(now),
        started_at: Set(Some(now)),
        finished_at: Set(None),
    }
    .insert(&tx)
    .await?;
    for (seq, chunk) in file.chunks(CHUNK).enumerate() {
        import_file_chunks::ActiveModel { job_id: Set(job.id), seq: Set(seq as i32), data: Set(chunk.to_vec()) }
            .insert(&tx)
            .await?;
    }
    svc.commit(tx).await?;
    let (svc, job_id) = (svc.clone(), job.id);
    // The work survives the client going away: it is not tied to the request.
    tokio::spawn(async move {
        if let Err(error) = run(&svc, job_id).await {
            tracing::error!(%job_id, error = %error, "import failed");
            let _ =
                finish(&svc, job_id, ImportStatus::Failed, Some("The import failed; it has been logged".into())).await;
        }
    });
    Ok(job)
}

async fn file_of(db: &impl ConnectionTrait, job_id: Uuid) -> DomainResult<Vec<u8>> {
    let chunks = import_file_chunks::Entity::find()
        .filter(import_file_chunks::Column::JobId.eq(job_id))
        .order_by_asc(import_file_chunks::Column::Seq)
        .all(db)
        .await?;
    Ok(chunks.into_iter().flat_map(|c| c.data).collect())
}

async fn finish(svc: &Services, job_id: Uuid, status: ImportStatus, failure: Option<String>) -> DomainResult<()> {
    import_jobs::Entity::update_many()
        .col_expr(import_jobs::Column::Status, sea_orm::sea_query::Expr::value(status))
        .col_expr(import_jobs::Column::FailureMessage, sea_orm::sea_query::Expr::value(failure))
        .col_expr(import_jobs::Column::FinishedAt, sea_orm::sea_query::Expr::value(Some(svc.clock.now())))
        .filter(import_jobs::Column::Id.eq(job_id))
        .exec(&svc.db)
        .await?;
    Ok(())
}

async fn run(svc: &Services, job_id: Uuid) -> DomainResult<()> {
    let job = import_jobs::Entity::find_by_id(job_id).one(&svc.db).await?.ok_or(DomainError::NotFound("import job"))?;
    let file = file_of(&svc.db, job.id).await?;
    let (valid, issues, total) = match validate(svc, job.company_id, &file).await? {
        Ok(result) => result,
        Err(file_error) => {
            record_issues(svc, &job, &[Issue { row: 1, column: None, code: "FILE", message: file_error.to_string() }])
                .await?;
            let mut active = job.into_active_model();
            active.error_count = Set(1);
            active.update(&svc.db).await?;
            return finish(svc, job_id, ImportStatus::FailedValidation, Some(file_error.to_string())).await;
        }
    };
    record_issues(svc, &job, &issues).await?;
    let mut active = job.clone().into_active_model();
    active.total_rows = Set(total as i32);
    active.processed_rows = Set(total as i32);
    active.error_count = Set(issues.len() as i32);
    active.update(&svc.db).await?;
    if !issues.is_empty() {
        return finish(svc, job_id, ImportStatus::FailedValidation, None).await;
    }
    if job.dry_run {
        return finish(svc, job_id, ImportStatus::Validated, None).await;
    }
    write_users(svc, &job, &valid).await
}

type Validated = (Vec<ValidRow>, Vec<Issue>, usize);

/// Every row and file rule; nothing is written. The outer error is the database's, the inner
/// one the file's.
async fn validate(svc: &Services, company_id: Uuid, file: &[u8]) -> DomainResult<Result<Validated, FileError>> {
    let mut valid = Vec::new();
    let mut issues = Vec::new();
    let mut rules = FileRules::default();
    let mut total = 0;
    let reader = match rows(file) {
        Ok(reader) => reader,
        Err(error) => return Ok(Err(error)),
    };
    for row in reader {
        let row = match row {
            Ok(row) => row,
            Err(error) => return Ok(Err(error)),
        };
        total += 1;
        match check_row(&row) {
            Ok(row) => {
                rules.add(&row);
                valid.push(row);
            }
            Err(found) => issues.extend(found),
        }
    }
    let emails: Vec<String> = rules.emails().map(|e| e.as_str().to_owned()).collect();
    let managers: Vec<String> = rules.outside_managers().into_iter().map(|e| e.as_str().to_owned()).collect();
    let taken = existing(svc, None, &emails).await?;
    let company_managers = existing(svc, Some(company_id), &managers).await?;
    issues.extend(rules.finish(&taken, &company_managers));
    issues.sort_by_key(|i| i.row);
    Ok(Ok((valid, issues, total)))
}

/// Which of `emails` have an account (in `company_id` when given), in batches.
async fn existing(svc: &Services, company_id: Option<Uuid>, emails: &[String]) -> DomainResult<HashSet<Email>> {
    let mut found = HashSet::new();
    for batch in emails.chunks(BATCH) {
        let mut query = users::Entity::find().filter(users::Column::Email.is_in(batch.iter().cloned()));
        if let Some(company_id) = company_id {
            query = query.filter(users::Column::CompanyId.eq(company_id));
        }
        for user in query.all(&svc.db).await? {
            if let Ok(email) = Email::parse(&user.email) {
                found.insert(email);
            }
        }
    }
    Ok(found)
}

async fn record_issues(svc: &Services, job: &import_jobs::Model, issues: &[Issue]) -> DomainResult<()> {
    for batch in issues.chunks(BATCH) {
        let rows = batch.iter().map(|issue| import_row_issues::ActiveModel {
            id: Set(Uuid::now_v7()),
            job_id: Set(job.id),
            row_number: Set(issue.row as i32),
            column: Set(issue.column.map(str::to_owned)),
            severity: Set(IssueSeverity::Error),
            code: Set(issue.code.to_owned()),
            message: Set(issue.message.clone()),
        });
        import_row_issues::Entity::insert_many(rows).exec(&svc.db).await?;
    }
    Ok(())
}

/// All rows in one transaction, in batches; one audit event for the whole import.
async fn write_users(svc: &Services, job: &import_jobs::Model, valid: &[ValidRow]) -> DomainResult<()> {
    import_jobs::Entity::update_many()
        .col_expr(import_jobs::Column::Status, sea_orm::sea_query::Expr::value(ImportStatus::Importing))
        .filter(import_jobs::Column::Id.eq(job.id))
        .exec(&svc.db)
        .await?;
    let now = svc.clock.now();
    let tx = svc.begin().await?;
    for batch in valid.chunks(BATCH) {
        let rows = batch.iter().map(|row| row.person.new_user(job.company_id, now));
        users::Entity::insert_many(rows).exec(&tx).await?;
    }
    let counts = json!({"jobId": job.id, "created": valid.len(), "dryRun": job.dry_run});
    AuditEvent::new("import.completed", "import_job", job.id)
        .company(Some(job.company_id))
        .actor(job.started_by)
        .after(counts.clone())
        .record(&tx, now)
        .await?;
    notify::enqueue(
        &tx,
        now,
        Notification { company_id: Some(job.company_id), event_type: "import.completed", data: counts, email: None },
    )
    .await?;
    import_jobs::Entity::update_many()
        .col_expr(import_jobs::Column::Status, sea_orm::sea_query::Expr::value(ImportStatus::Completed))
        .col_expr(import_jobs::Column::CreatedCount, sea_orm::sea_query::Expr::value(valid.len() as i32))
        .col_expr(import_jobs::Column::FinishedAt, sea_orm::sea_query::Expr::value(Some(Utc::now())))
        .filter(import_jobs::Column::Id.eq(job.id))
        .exec(&tx)
        .await?;
    svc.commit(tx).await
}

pub async fn get(svc: &Services, principal: &Principal, id: Uuid) -> DomainResult<import_jobs::Model> {
    import_jobs::Entity::find_by_id(id)
        .filter(import_jobs::Column::CompanyId.eq(principal.company()?))
        .one(&svc.db)
        .await?
        .ok_or(DomainError::NotFound("import job"))
}

pub async fn list(svc: &Services, principal: &Principal, page: PageRequest) -> DomainResult<Page<import_jobs::Model>> {
    let query = import_jobs::Entity::find().filter(import_jobs::Column::CompanyId.eq(principal.company()?));
    newest_first(&svc.db, query, import_jobs::Column::Id, page).await
}

/// The uploaded rows as they were, plus an `Errors` column, for fixing in Excel.
pub async fn error_log(svc: &Services, principal: &Principal, id: Uuid) -> DomainResult<String> {
    let job = get(svc, principal, id).await?;
    let mut by_row: HashMap<u64, Vec<String>> = HashMap::new();
    for issue in import_row_issues::Entity::find()
        .filter(import_row_issues::Column::JobId.eq(job.id))
        .order_by_asc(import_row_issues::Column::RowNumber)
        .all(&svc.db)
        .await?
    {
        by_row.entry(issue.row_number as u64).or_default().push(issue.message);
    }
    let file = file_of(&svc.db, job.id).await?;
    let mut out = csv::WriterBuilder::new().terminator(csv::Terminator::CRLF).from_writer(b"\xEF\xBB\xBF".to_vec());
    let write = |out: &mut csv::Writer<Vec<u8>>, record: Vec<String>| {
        out.write_record(&record).map_err(|e| DomainError::internal(anyhow::anyhow!("{e}")))
    };
    match rows(file.as_slice()) {
        Ok(mut reader) => {
            let mut header = reader.header.clone();
            header.push("Errors".into());
            let width = header.len();
            write(&mut out, header)?;
            for row in reader.by_ref() {
                let Ok(row) = row else { break }; // the file-level issue below says why
                let mut record = row.raw.clone();
                record.resize(width - 1, String::new());
                record.push(by_row.get(&row.number).map(|m| m.join("; ")).unwrap_or_default());
                write(&mut out, record)?;
            }
            // Problems with the file as a whole (recorded on row 1, the header) close the log.
            if let Some(messages) = by_row.get(&1) {
                let mut record = vec![String::new(); width - 1];
                record.push(messages.join("; "));
                write(&mut out, record)?;
            }
        }
        Err(error) => write(&mut out, vec!["Errors".into(), error.to_string()])?,
    }
    let bytes = out.into_inner().map_err(|e| DomainError::internal(anyhow::anyhow!("{e}")))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

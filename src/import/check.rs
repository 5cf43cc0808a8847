//! Validation of a stored file, every row before anything is written. The file is parsed and
//! each row checked on a blocking thread (`parse`), in batches; here, each batch goes through
//! the file rules and one database lookup for the addresses already taken, and its issues are
//! recorded at once. Duplicates and managers are judged at the end, when every row of the file
//! is known (by a second reading, for a file where the first found suspects).

use super::Imports;
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};

use sea_orm::{ConnectionTrait, DatabaseBackend, DatabaseConnection, Set, Statement};
use tokio::sync::mpsc;
use uuid::Uuid;

use super::file::{self, StoredFile};
use super::parse::{FileError, rows};
use super::report::Reporter;
use super::states::Verdict;
use super::validate::{FileRules, InvalidRow, Issue, ValidRow, check_row, email_exists, unknown_manager};
use crate::db::{bulk, import_jobs, import_row_issues, users};
use crate::domain::{DomainError, DomainResult, Email, IssueCode, IssueSeverity, Services};
use crate::types::{CompanyId, ImportJobId};

/// Rows per batch between the parser and the database.
pub(super) const BATCH: usize = 2_000;

pub(super) enum Parsed {
    /// How many data rows the file has (sent first when asked for).
    Total(u64),
    Batch(Vec<Result<ValidRow, InvalidRow>>),
    /// The file cannot be read further: the whole file fails with this.
    Failed(FileError),
}

/// The job's rows, parsed and checked on their own on a blocking thread. With `count_first`,
/// a quick counting pass comes first so that progress can show the total.
pub(super) fn parse(db: &DatabaseConnection, job_id: ImportJobId, count_first: bool) -> mpsc::Receiver<Parsed> {
    let counting = count_first.then(|| file::open(db.clone(), job_id));
    parse_file(counting, file::open(db.clone(), job_id))
}

/// Like `parse`, from files the caller feeds.
pub(super) fn parse_file(counting: Option<StoredFile>, reading: StoredFile) -> mpsc::Receiver<Parsed> {
    let (sender, receiver) = mpsc::channel(4);
    let span = tracing::Span::current();
    tokio::task::spawn_blocking(move || {
        let _entered = span.enter(); // the job's span, on the blocking thread too
        if let Some(counting) = counting {
            match rows(counting).and_then(|rows| rows.count_rows()) {
                Ok(total) => {
                    if sender.blocking_send(Parsed::Total(total)).is_err() {
                        return;
                    }
                }
                Err(error) => {
                    let _ = sender.blocking_send(Parsed::Failed(error));
                    return;
                }
            }
        }
        let reader = match rows(reading) {
            Ok(reader) => reader,
            Err(error) => {
                let _ = sender.blocking_send(Parsed::Failed(error));
                return;
            }
        };
        let mut batch = Vec::with_capacity(BATCH);
        for row in reader {
            match row {
                Ok(row) => batch.push(check_row(&row)),
                Err(error) => {
                    let _ = sender.blocking_send(Parsed::Batch(batch));
                    let _ = sender.blocking_send(Parsed::Failed(error));
                    return;
                }
            }
            if batch.len() == BATCH && sender.blocking_send(Parsed::Batch(std::mem::take(&mut batch))).is_err() {
                return; // the job stopped listening (cancelled)
            }
        }
        let _ = sender.blocking_send(Parsed::Batch(batch));
    });
    receiver
}

/// The file rules and the lookups they need, batch by batch.
struct Checker<'a> {
    svc: &'a Services,
    company_id: CompanyId,
    job_id: ImportJobId,
    rules: FileRules,
}

impl Checker<'_> {
    async fn batch(&mut self, batch: Vec<Result<ValidRow, InvalidRow>>) -> DomainResult<Vec<Issue>> {
        let mut issues = Vec::new();
        let mut addresses = Vec::new();
        for checked in batch {
            let (number, email) = match checked {
                Ok(row) => {
                    let (email, manager) = row.addresses();
                    self.rules.add(email, manager);
                    (row.number, Some(row.person.email))
                }
                Err(invalid) => {
                    issues.extend(invalid.issues);
                    self.rules.add(invalid.email.as_ref(), invalid.manager.as_ref());
                    (invalid.number, invalid.email)
                }
            };
            addresses.extend(email.map(|email| (number, email)));
        }
        let emails: Vec<&Email> = addresses.iter().map(|(_, email)| email).collect();
        let taken = existing(&self.svc.db, None, &emails).await?;
        issues.extend(addresses.iter().filter(|(_, e)| taken.contains(e)).map(|(row, e)| email_exists(*row, e)));
        Ok(issues)
    }

    /// Duplicates and managers, once every row is known: a second reading of the file when
    /// the first found suspects (`FileRules`), none for a clean file.
    async fn finish(self) -> DomainResult<Vec<Issue>> {
        let (mut suspects, outside) = self.rules.end();
        let outside: Vec<&Email> = outside.iter().collect();
        suspects.found_in_company(&existing(&self.svc.db, Some(self.company_id), &outside).await?);
        let mut issues = Vec::new();
        if suspects.is_empty() {
            return Ok(issues);
        }
        let mut parsed = parse(&self.svc.db, self.job_id, false);
        while let Some(message) = parsed.recv().await {
            let Parsed::Batch(batch) = message else { continue }; // the first reading read it whole
            let mut outside = Vec::new();
            for checked in &batch {
                let (number, email, manager) = match checked {
                    Ok(row) => (row.number, Some(&row.person.email), Some(&row.person.manager_email)),
                    Err(invalid) => (invalid.number, invalid.email.as_ref(), invalid.manager.as_ref()),
                };
                let (duplicates, manager) = suspects.add(number, email, manager);
                issues.extend(duplicates);
                outside.extend(manager.map(|manager| (number, manager)));
            }
            let managers: Vec<&Email> = outside.iter().map(|(_, manager)| *manager).collect();
            let company_users = existing(&self.svc.db, Some(self.company_id), &managers).await?;
            let unknown = outside.iter().filter(|(_, manager)| !company_users.contains(*manager));
            issues.extend(unknown.map(|(row, manager)| unknown_manager(*row, manager)));
        }
        Ok(issues)
    }
}

/// Which of `emails` have an account (in `company_id` when given). One statement per batch with
/// the addresses as one JSON parameter: a thousand bound parameters cost PostgreSQL clients far
/// more than the lookup itself.
async fn existing(
    db: &DatabaseConnection,
    company_id: Option<CompanyId>,
    emails: &[&Email],
) -> DomainResult<HashSet<Email>> {
    let backend = db.get_database_backend();
    let list = match backend {
        DatabaseBackend::Postgres => "SELECT json_array_elements_text($1::json)",
        _ => "SELECT value FROM json_each($1)",
    };
    let mut sql = format!("SELECT email FROM users WHERE email IN ({list})");
    let mut found = HashSet::new();
    if company_id.is_some() {
        // A manager must be someone the company can see; an address is taken by anyone, the
        // rows of an import not yet shown too (they hold it in the unique index already).
        sql.push_str(" AND company_id = $2 AND ");
        sql.push_str(users::VISIBLE_SQL);
    }
    for batch in emails.chunks(5_000) {
        let addresses = serde_json::to_string(&batch.iter().map(|e| e.as_str()).collect::<Vec<_>>())
            .map_err(DomainError::internal)?;
        let mut values: Vec<sea_orm::Value> = vec![addresses.into()];
        values.extend(company_id.map(Into::into));
        let rows = db.query_all_raw(Statement::from_sql_and_values(backend, sql.as_str(), values)).await?;
        for row in rows {
            found.insert(row.try_get::<Email>("", "email")?);
        }
    }
    Ok(found)
}

pub(super) enum Checked {
    Verdict(Verdict),
    Cancelled,
}

/// Validates the whole file, recording every issue and reporting progress.
pub(super) async fn run(
    svc: &Imports,
    job: &import_jobs::Model,
    reporter: &mut Reporter,
    cancelled: &AtomicBool,
) -> DomainResult<Checked> {
    let mut checker = Checker { svc, company_id: job.company_id, job_id: job.id, rules: FileRules::default() };
    let mut parsed = parse(&svc.db, job.id, true);
    let mut file_error = None;
    while let Some(message) = parsed.recv().await {
        match message {
            Parsed::Total(total) => {
                reporter.progress.total_rows = total as i32;
                checker.rules = FileRules::with_capacity(total as usize);
                if reporter.report().await? {
                    return Ok(Checked::Cancelled);
                }
            }
            Parsed::Batch(batch) => {
                let rows = batch.len() as i32;
                let issues = checker.batch(batch).await?;
                record(svc, job.id, &issues).await?;
                reporter.progress.processed_rows += rows;
                reporter.progress.error_count += issues.len() as i32;
                svc.running.checkpoint().await;
                if cancelled.load(Ordering::SeqCst) || reporter.tick().await? {
                    return Ok(Checked::Cancelled);
                }
            }
            Parsed::Failed(error) => {
                // Recorded on row 1 (the header): the error log closes with it.
                let issue = Issue { row: 1, column: None, code: IssueCode::File, message: error.to_string() };
                record(svc, job.id, std::slice::from_ref(&issue)).await?;
                reporter.progress.error_count += 1;
                file_error = Some(error.to_string());
                break;
            }
        }
    }
    if file_error.is_none() {
        let issues = checker.finish().await?;
        record(svc, job.id, &issues).await?;
        reporter.progress.error_count += issues.len() as i32;
    }
    Ok(Checked::Verdict(Verdict {
        total_rows: reporter.progress.processed_rows,
        error_count: reporter.progress.error_count,
        file_error,
    }))
}

/// The rules again, recording nothing: what a commit finds wrong with a validated dry run now.
pub(super) async fn recheck(svc: &Imports, job: &import_jobs::Model) -> DomainResult<Vec<Issue>> {
    let mut checker = Checker { svc, company_id: job.company_id, job_id: job.id, rules: FileRules::default() };
    let mut parsed = parse(&svc.db, job.id, false);
    let mut issues = Vec::new();
    while let Some(message) = parsed.recv().await {
        match message {
            Parsed::Total(_) => {}
            Parsed::Batch(batch) => issues.extend(checker.batch(batch).await?),
            Parsed::Failed(error) => {
                issues.push(Issue { row: 1, column: None, code: IssueCode::File, message: error.to_string() });
                return Ok(issues);
            }
        }
    }
    issues.extend(checker.finish().await?);
    Ok(issues)
}

async fn record(svc: &Imports, job_id: ImportJobId, issues: &[Issue]) -> DomainResult<()> {
    let rows = issues.iter().map(|issue| import_row_issues::ActiveModel {
        id: Set(Uuid::now_v7()),
        job_id: Set(job_id),
        row_number: Set(issue.row as i32),
        column: Set(issue.column.map(str::to_owned)),
        severity: Set(IssueSeverity::Error),
        code: Set(issue.code),
        message: Set(issue.message.clone()),
    });
    bulk::insert(&svc.db, rows.collect()).await?;
    Ok(())
}

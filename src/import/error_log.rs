//! The error log of a job: the uploaded rows as they were, plus an `Errors` column, so that the
//! user fixes the file in Excel and uploads it again. Streamed: the file is read back from its
//! chunks and written out as it goes.

use super::Imports;
use futures_util::Stream;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use tokio::sync::mpsc;

use super::file;
use super::job::get;
use super::parse::rows;
use crate::db::import_row_issues;
use crate::domain::DomainResult;
use crate::domain::principal::Principal;
use crate::types::ImportJobId;

type Piece = Result<Vec<u8>, std::io::Error>;

/// The log of one of the caller's company's jobs as a stream of CSV bytes (UTF-8 with a BOM,
/// CRLF: what Excel opens right).
pub async fn error_log(
    svc: &Imports,
    principal: &Principal,
    id: ImportJobId,
) -> DomainResult<impl Stream<Item = Piece> + use<>> {
    let job = get(svc, principal, id).await?;
    stream(svc, job.id).await
}

/// The log of job `job_id`, whoever asks (the terminal command).
pub async fn stream(svc: &Imports, job_id: ImportJobId) -> DomainResult<impl Stream<Item = Piece> + use<>> {
    // Problems with the file as a whole are recorded on row 1 (the header); they close the log.
    // Read through the readers: on SQLite another job's write may hold the only writer.
    let file_problems = messages_of(&svc.reads, job_id, 1, 1).await?.into_iter().map(|(_, m)| m).collect();
    let (sender, receiver) = mpsc::channel::<Piece>(4);
    let stored = file::open(svc.reads.clone(), job_id);
    let issues = row_issues(svc.reads.clone(), job_id);
    let span = tracing::Span::current();
    tokio::task::spawn_blocking(move || span.in_scope(|| write_log(stored, issues, file_problems, &sender)));
    Ok(futures_util::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|piece| (piece, receiver))
    }))
}

/// The issues of rows `from..=to`, in row order.
async fn messages_of(
    db: &DatabaseConnection,
    job_id: ImportJobId,
    from: i32,
    to: i32,
) -> DomainResult<Vec<(i32, String)>> {
    Ok(import_row_issues::Entity::find()
        .select_only()
        .columns([import_row_issues::Column::RowNumber, import_row_issues::Column::Message])
        .filter(import_row_issues::Column::JobId.eq(job_id))
        .filter(import_row_issues::Column::RowNumber.between(from, to))
        .order_by_asc(import_row_issues::Column::RowNumber)
        .order_by_asc(import_row_issues::Column::Id)
        .into_tuple()
        .all(db)
        .await?)
}

/// The issues of the data rows, in row order, read a page of rows at a time: the log never
/// holds more than a page of them (a file with an error on each of a million rows included).
fn row_issues(db: DatabaseConnection, job_id: ImportJobId) -> mpsc::Receiver<(i32, String)> {
    const ROWS_PER_PAGE: i32 = 5_000;
    let (sender, receiver) = mpsc::channel(ROWS_PER_PAGE as usize);
    tokio::spawn(async move {
        let last_row: Option<i32> = import_row_issues::Entity::find()
            .select_only()
            .column_as(import_row_issues::Column::RowNumber.max(), "last")
            .filter(import_row_issues::Column::JobId.eq(job_id))
            .into_tuple()
            .one(&db)
            .await
            .ok()
            .flatten()
            .flatten();
        let mut from = 2;
        while from <= last_row.unwrap_or(0) {
            let to = from.saturating_add(ROWS_PER_PAGE - 1);
            let Ok(page) = messages_of(&db, job_id, from, to).await else { return };
            for issue in page {
                if sender.send(issue).await.is_err() {
                    return;
                }
            }
            from = to.saturating_add(1);
        }
    });
    receiver
}

/// Hands the output over in pieces of about 64 KiB.
struct Pieces<'a> {
    sender: &'a mpsc::Sender<Piece>,
    buffer: Vec<u8>,
}

impl std::io::Write for Pieces<'_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.buffer.extend_from_slice(bytes);
        if self.buffer.len() >= 64 * 1024 {
            self.flush()?;
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if !self.buffer.is_empty() {
            let piece = std::mem::take(&mut self.buffer);
            self.sender.blocking_send(Ok(piece)).map_err(|_| std::io::Error::other("the client went away"))?;
        }
        Ok(())
    }
}

/// A cell as a spreadsheet will show it, never run it: text that Excel or LibreOffice would
/// read as a formula (`=`, `+`, `-`, `@`, or a tab or carriage return first) gets a leading
/// apostrophe, which they display as nothing and which marks the cell as text (OWASP's advice
/// against CSV injection). The log goes back to the person who uploaded the file, but the file
/// may have come from someone else.
pub(crate) fn formula_safe(cell: &str) -> std::borrow::Cow<'_, str> {
    match cell.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{cell}").into(),
        _ => cell.into(),
    }
}

/// One record, each cell through `formula_safe` (borrowed unless it needs the apostrophe).
fn write_safe<W: std::io::Write>(out: &mut csv::Writer<W>, cells: &[String]) -> Result<(), csv::Error> {
    for cell in cells {
        out.write_field(formula_safe(cell).as_bytes())?;
    }
    out.write_record(None::<&[u8]>)
}

fn write_log(
    stored: file::StoredFile,
    mut issues: mpsc::Receiver<(i32, String)>,
    file_problems: Vec<String>,
    sender: &mpsc::Sender<Piece>,
) {
    let pieces = Pieces { sender, buffer: b"\xEF\xBB\xBF".to_vec() };
    let mut out = csv::WriterBuilder::new().terminator(csv::Terminator::CRLF).from_writer(pieces);
    let mut next_issue = issues.blocking_recv();
    let result = (|| -> Result<(), csv::Error> {
        match rows(stored) {
            Ok(mut reader) => {
                let mut header = reader.header.clone();
                header.push("Errors".into());
                let width = header.len();
                write_safe(&mut out, &header)?;
                for row in reader.by_ref() {
                    let Ok(row) = row else { break }; // the file-level issue below says why
                    let mut messages = Vec::new();
                    while let Some((number, message)) = next_issue.take_if(|(number, _)| *number as u64 <= row.number) {
                        if number as u64 == row.number {
                            messages.push(message);
                        }
                        next_issue = issues.blocking_recv();
                    }
                    let mut record = row.raw;
                    record.resize(width - 1, String::new());
                    record.push(messages.join("; "));
                    write_safe(&mut out, &record)?;
                }
                if !file_problems.is_empty() {
                    let mut record = vec![String::new(); width - 1];
                    record.push(file_problems.join("; "));
                    out.write_record(&record)?;
                }
            }
            Err(error) => out.write_record(["Errors".to_owned(), error.to_string()])?,
        }
        out.flush()?;
        Ok(())
    })();
    if let Err(error) = result {
        let _ = sender.blocking_send(Err(std::io::Error::other(error.to_string())));
    }
}

#[cfg(test)]
mod tests {
    use super::formula_safe;

    #[test]
    fn cells_that_would_run_become_text() {
        for cell in ["=1+2", "+57 1 555 0100", "-2", "@SUM(A1)", "\tx", "\rx"] {
            assert_eq!(formula_safe(cell), format!("'{cell}"));
        }
        for cell in ["Ana", "", "1=1", "ana@example.com"] {
            assert_eq!(formula_safe(cell), cell);
        }
    }
}

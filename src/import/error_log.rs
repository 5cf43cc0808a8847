//! The error log of a job: the uploaded rows as they were, plus an `Errors` column, so that the
//! user fixes the file in Excel and uploads it again. Streamed: the file is read back from its
//! chunks and written out as it goes.

use std::collections::HashMap;

use futures_util::Stream;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use tokio::sync::mpsc;
use uuid::Uuid;

use super::file;
use super::job::get;
use super::parse::rows;
use crate::db::import_row_issues;
use crate::domain::principal::Principal;
use crate::domain::{DomainResult, Services};

type Piece = Result<Vec<u8>, std::io::Error>;

/// The log of one of the caller's company's jobs as a stream of CSV bytes (UTF-8 with a BOM,
/// CRLF: what Excel opens right).
pub async fn error_log(
    svc: &Services,
    principal: &Principal,
    id: Uuid,
) -> DomainResult<impl Stream<Item = Piece> + use<>> {
    let job = get(svc, principal, id).await?;
    stream(svc, job.id).await
}

/// The log of job `job_id`, whoever asks (the terminal command).
pub async fn stream(svc: &Services, job_id: Uuid) -> DomainResult<impl Stream<Item = Piece> + use<>> {
    let mut by_row: HashMap<i32, String> = HashMap::new();
    let issues = import_row_issues::Entity::find()
        .select_only()
        .columns([import_row_issues::Column::RowNumber, import_row_issues::Column::Message])
        .filter(import_row_issues::Column::JobId.eq(job_id))
        .order_by_asc(import_row_issues::Column::RowNumber)
        .order_by_asc(import_row_issues::Column::Id)
        .into_tuple::<(i32, String)>()
        .all(&svc.db)
        .await?;
    for (row, message) in issues {
        let messages = by_row.entry(row).or_default();
        if !messages.is_empty() {
            messages.push_str("; ");
        }
        messages.push_str(&message);
    }
    let (sender, receiver) = mpsc::channel::<Piece>(4);
    let stored = file::open(svc.db.clone(), job_id);
    tokio::task::spawn_blocking(move || write_log(stored, &by_row, &sender));
    Ok(futures_util::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|piece| (piece, receiver))
    }))
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

fn write_log(stored: file::StoredFile, by_row: &HashMap<i32, String>, sender: &mpsc::Sender<Piece>) {
    let pieces = Pieces { sender, buffer: b"\xEF\xBB\xBF".to_vec() };
    let mut out = csv::WriterBuilder::new().terminator(csv::Terminator::CRLF).from_writer(pieces);
    let result = (|| -> Result<(), csv::Error> {
        match rows(stored) {
            Ok(mut reader) => {
                let mut header = reader.header.clone();
                header.push("Errors".into());
                let width = header.len();
                out.write_record(&header)?;
                for row in reader.by_ref() {
                    let Ok(row) = row else { break }; // the file-level issue below says why
                    let mut record = row.raw;
                    record.resize(width - 1, String::new());
                    record.push(by_row.get(&(row.number as i32)).cloned().unwrap_or_default());
                    out.write_record(&record)?;
                }
                // Problems with the file as a whole (recorded on row 1, the header) close the log.
                if let Some(messages) = by_row.get(&1) {
                    let mut record = vec![String::new(); width - 1];
                    record.push(messages.clone());
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

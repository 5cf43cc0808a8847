//! The uploaded file lives in `import_file_chunks`, 1 MiB a row, from the upload until its job
//! ends: every server process can read it, and nobody holds it whole in memory. It is read
//! back as a plain `std::io::Read` (the CSV parser is synchronous) fed chunk by chunk from the
//! database by a task on the runtime.

use std::io::Read;

use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, Set};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::db::import_file_chunks;
use crate::domain::DomainResult;
use crate::types::ImportJobId;

const CHUNK_BYTES: usize = 1024 * 1024;

/// What storing the upload found out about it.
pub struct Stored {
    pub size: i64,
    pub sha256: String,
}

/// An upload copied to a local temporary file as it arrives, before any database work: a slow
/// or stalled client then holds a socket and a file, never a database connection (SQLite has
/// only one). Removed when dropped.
pub struct Spooled {
    path: std::path::PathBuf,
}

impl Spooled {
    /// Reads `input` to its end into a new temporary file. A read error (a client gone, idle
    /// too long, over the size limit) is returned as it is; nothing is kept.
    pub async fn receive(mut input: impl AsyncRead + Unpin) -> std::io::Result<Spooled> {
        let spooled = Spooled { path: std::env::temp_dir().join(format!("portal-upload-{}", Uuid::now_v7())) };
        let mut file = tokio::fs::File::create(&spooled.path).await?;
        tokio::io::copy(&mut input, &mut file).await?;
        tokio::io::AsyncWriteExt::flush(&mut file).await?;
        Ok(spooled)
    }

    pub async fn open(&self) -> std::io::Result<tokio::fs::File> {
        tokio::fs::File::open(&self.path).await
    }
}

impl Drop for Spooled {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Copies `input` into the job's chunks with `db` (the caller's transaction). A read error (a
/// client gone, a body over the size limit) is the caller's to explain: nothing is kept.
pub async fn store(
    db: &impl ConnectionTrait,
    job_id: ImportJobId,
    mut input: impl AsyncRead + Unpin,
) -> DomainResult<Result<Stored, std::io::Error>> {
    let (mut size, mut sha, mut seq) = (0i64, Sha256::new(), 0i32);
    loop {
        let mut chunk = Vec::with_capacity(CHUNK_BYTES);
        while chunk.len() < CHUNK_BYTES {
            match (&mut input).take((CHUNK_BYTES - chunk.len()) as u64).read_to_end(&mut chunk).await {
                Ok(0) => break,
                Ok(_) => {}
                Err(error) => return Ok(Err(error)),
            }
        }
        if chunk.is_empty() {
            break;
        }
        size += chunk.len() as i64;
        sha.update(&chunk);
        let full = chunk.len() == CHUNK_BYTES;
        import_file_chunks::ActiveModel { job_id: Set(job_id), seq: Set(seq), data: Set(chunk) }.insert(db).await?;
        seq += 1;
        if !full {
            break;
        }
    }
    let sha256 = sha.finalize().iter().map(|b| format!("{b:02x}")).collect();
    Ok(Ok(Stored { size, sha256 }))
}

/// Forgets the file once nothing needs it any more.
pub async fn delete(db: &impl ConnectionTrait, job_id: ImportJobId) -> DomainResult<()> {
    import_file_chunks::Entity::delete_many().filter(import_file_chunks::Column::JobId.eq(job_id)).exec(db).await?;
    Ok(())
}

/// Chunk `seq` of the job's file; None past the end.
pub async fn chunk(db: &impl ConnectionTrait, job_id: ImportJobId, seq: i32) -> DomainResult<Option<Vec<u8>>> {
    Ok(import_file_chunks::Entity::find_by_id((job_id, seq)).one(db).await?.map(|chunk| chunk.data))
}

/// A `StoredFile` and the sender that feeds it chunks; dropping the sender ends the file.
fn channel() -> (mpsc::Sender<DomainResult<Vec<u8>>>, StoredFile) {
    let (sender, receiver) = mpsc::channel(2);
    (sender, StoredFile { receiver, chunk: Vec::new(), at: 0 })
}

/// The stored file as a `Read` for a blocking thread, fed by a task reading with `db`. Must be
/// called on the runtime.
pub fn open(db: DatabaseConnection, job_id: ImportJobId) -> StoredFile {
    let (sender, file) = channel();
    tokio::spawn(async move {
        for seq in 0.. {
            let next = match chunk(&db, job_id, seq).await {
                Ok(Some(data)) => Ok(data),
                Ok(None) => break,
                Err(error) => Err(error),
            };
            let failed = next.is_err();
            if sender.send(next).await.is_err() || failed {
                break;
            }
        }
    });
    file
}

pub struct StoredFile {
    receiver: mpsc::Receiver<DomainResult<Vec<u8>>>,
    chunk: Vec<u8>,
    at: usize,
}

impl Read for StoredFile {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.at == self.chunk.len() {
            match self.receiver.blocking_recv() {
                Some(Ok(chunk)) => (self.chunk, self.at) = (chunk, 0),
                Some(Err(error)) => return Err(std::io::Error::other(error.to_string())),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.chunk.len() - self.at);
        buf[..n].copy_from_slice(&self.chunk[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

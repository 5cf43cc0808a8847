//! SQLite's checkpoints, off the writer's path.
//!
//! In WAL mode every commit is appended to the write-ahead log, and a checkpoint copies the log
//! into the database file and syncs both (`synchronous=NORMAL` syncs at checkpoints only). By
//! default the writer checkpoints itself, in the commit that takes the log past 1,000 pages.
//! During a long import that writer spent 15% of its time waiting in `fsync` and more copying
//! pages (`perf trace` on a 5,000,000-row import, 2026-12-08), and it was the only writer: no row
//! was written meanwhile. Here a connection of its own checkpoints a few times a second, on the
//! other core, and the writer's own checkpoints are turned off.
//!
//! PASSIVE checkpoints never wait for, nor block, the writer or the readers; they copy what is
//! committed and not read by an older snapshot. What a commit promises is unchanged: a commit
//! survives the process's crash (it is in the log), and the log is synced before the database
//! file is overwritten from it, as when the writer checkpointed.
//!
//! A copied log is not rewound by a checkpoint, though: SQLite starts it over only when a write
//! transaction begins with the whole log copied, which beside a writer that never pauses (an
//! import) never happens. With the writer's checkpoints off, the log grew by every page
//! written, 4.2 GB over a 1,000,000-row import, and its index, mapped into the process, with it
//! (the 5,000,000-row import's peak went from 197 to 240 MiB). So the writer keeps a checkpoint
//! of its own, rare (`WRITER_CHECKPOINT_PAGES`, 128 MiB of log): by then this task has copied
//! nearly all of it, the writer copies the rest and starts the log over at its next
//! transaction. (A RESTART checkpoint from this connection instead held the writer past its
//! 10 s wait and failed imports at 1,000,000 and 5,000,000 rows: it was tried and removed.)

use std::str::FromStr as _;
use std::time::Duration;

use sea_orm::sqlx::ConnectOptions as _;
use sea_orm::sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};

use crate::config::DatabaseUrl;

/// How often the log is copied. The writer's own rule was every 1,000 pages (4 MiB), which a
/// bulk write fills in tens of milliseconds; each checkpoint costs two `fsync`s, so a few a
/// second keep the log short without syncing for every batch.
const EVERY: Duration = Duration::from_millis(250);

/// Pages (4 KiB each by default) at which the writer checkpoints after a commit (SQLite's
/// `wal_autocheckpoint`, 1,000 by default): rarely, so that it pays for a copy and its syncs
/// every 128 MiB instead of every 4 MiB, and the log is started over that often.
pub const WRITER_CHECKPOINT_PAGES: u32 = 32_768;

/// Checkpoints a SQLite file's log until the task is dropped (the server's run aborts it at
/// shutdown, and closing the last connection checkpoints once more); nothing for PostgreSQL or
/// an in-memory database. The writer checkpoints only rarely (`db::connect`), so this does not
/// give up: a failed checkpoint is logged and tried again, on a new connection, a second later.
pub async fn keep_checkpointing(database: DatabaseUrl) {
    let DatabaseUrl::Sqlite { url, path: Some(_) } = database else { return };
    let mut own = None;
    loop {
        tokio::time::sleep(EVERY).await;
        if let Err(error) = checkpoint(&url, &mut own).await {
            tracing::warn!(%error, "SQLite checkpoint failed: trying again in a second");
            own = None;
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
}

/// One PASSIVE checkpoint, on `own` (opened first if needed). Its answer (busy, frames in the
/// log, frames copied) is not needed: what it could not copy (pages an older reader still
/// reads) is copied by a later one, or by the writer's own.
async fn checkpoint(url: &str, own: &mut Option<SqliteConnection>) -> Result<(), sea_orm::sqlx::Error> {
    let connection = match own {
        Some(connection) => connection,
        None => own.insert(SqliteConnectOptions::from_str(url)?.busy_timeout(Duration::from_secs(10)).connect().await?),
    };
    sea_orm::sqlx::query("PRAGMA wal_checkpoint(PASSIVE)").execute(connection).await.map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::sqlx::Connection as _;

    /// A writer that never pauses (one transaction after another, as an import's batches come)
    /// with the checkpointer beside it, the writer checkpointing itself at 1,000 pages (the
    /// server's is `WRITER_CHECKPOINT_PAGES`): the log is started over instead of growing by
    /// every page written, as with the writer's checkpoints off (a 1,000,000-row import's
    /// reached 4.2 GB).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_log_is_started_over_under_a_writer_that_never_pauses() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("log.db").display());
        let limit = 1_000;
        let options = SqliteConnectOptions::from_str(&url)
            .unwrap()
            .journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
            .pragma("wal_autocheckpoint", limit.to_string());
        let mut writer = options.connect().await.unwrap();
        sea_orm::sqlx::query("CREATE TABLE t (v BLOB)").execute(&mut writer).await.unwrap();
        let database = crate::config::DatabaseUrl::Sqlite { url: url.clone(), path: Some(dir.path().join("log.db")) };
        let checkpointer = tokio::spawn(keep_checkpointing(database));
        // The log file's length: a log started over is written again from its start, so the
        // file stops growing; a log never started over grows by every page written.
        let mut largest = 0;
        for _ in 0..800 {
            let mut tx = writer.begin().await.unwrap();
            let rows = "WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r WHERE i < 50) \
                        INSERT INTO t SELECT zeroblob(4000) FROM r";
            sea_orm::sqlx::query(rows).execute(&mut *tx).await.unwrap();
            tx.commit().await.unwrap();
            let log = std::fs::metadata(dir.path().join("log.db-wal")).map(|m| m.len()).unwrap_or(0);
            largest = largest.max(log / 4096);
        }
        checkpointer.abort();
        // Never started over, the file holds every page written (43,000 here, 2026-12-08).
        let written = 800 * 50 * 4_000 / 4_096;
        assert!(largest < written / 2, "the log reached {largest} pages of the {written} written (limit {limit})");
    }
}

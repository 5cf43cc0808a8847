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

use std::str::FromStr as _;
use std::time::Duration;

use sea_orm::sqlx::ConnectOptions as _;
use sea_orm::sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};

use crate::config::DatabaseUrl;

/// How often the log is copied. The writer's own rule was every 1,000 pages (4 MiB), which a
/// bulk write fills in tens of milliseconds; each checkpoint costs two `fsync`s, so a few a
/// second keep the log short without syncing for every batch.
const EVERY: Duration = Duration::from_millis(250);

/// Checkpoints a SQLite file's log until the task is dropped (the server's run aborts it at
/// shutdown, and closing the last connection checkpoints once more); nothing for PostgreSQL or
/// an in-memory database. The writer's own checkpoints are off (`db::connect`), so this does not
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
/// reads) is copied by a later one.
async fn checkpoint(url: &str, own: &mut Option<SqliteConnection>) -> Result<(), sea_orm::sqlx::Error> {
    let connection = match own {
        Some(connection) => connection,
        None => own.insert(SqliteConnectOptions::from_str(url)?.busy_timeout(Duration::from_secs(10)).connect().await?),
    };
    sea_orm::sqlx::query("PRAGMA wal_checkpoint(PASSIVE)").execute(connection).await.map(|_| ())
}

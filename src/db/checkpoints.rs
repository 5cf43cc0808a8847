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
//! A copied log is not rewound by a checkpoint, though: the writer starts it over only when a
//! transaction of its begins with the whole log copied, which a writer that never pauses (an
//! import) never sees. The log then grew by every page written, 4.2 GB over a 1,000,000-row
//! import, and its index, mapped into the process, with it (the 5,000,000-row import's peak
//! went from 197 to 240 MiB). So when a checkpoint finds more than `RESTART_ABOVE` pages in the
//! log, a RESTART follows at once: it waits (a second at most) for the writer's transaction in
//! progress, copies the rest, and makes the next commit write the log from its start.

use std::str::FromStr as _;
use std::time::Duration;

use sea_orm::sqlx::ConnectOptions as _;
use sea_orm::sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};

use crate::config::DatabaseUrl;

/// How often the log is copied. The writer's own rule was every 1,000 pages (4 MiB), which a
/// bulk write fills in tens of milliseconds; each checkpoint costs two `fsync`s, so a few a
/// second keep the log short without syncing for every batch.
const EVERY: Duration = Duration::from_millis(250);

/// Pages in the log (4 KiB each by default) above which a checkpoint rewinds it: 128 MiB, a
/// second or two of a bulk write, so the writer waits for a rewind about that often.
const RESTART_ABOVE: i64 = 32_768;

/// Checkpoints a SQLite file's log until the task is dropped (the server's run aborts it at
/// shutdown, and closing the last connection checkpoints once more); nothing for PostgreSQL or
/// an in-memory database. The writer's own checkpoints are off (`db::connect`), so this does not
/// give up: a failed checkpoint is logged and tried again, on a new connection, a second later.
pub async fn keep_checkpointing(database: DatabaseUrl) {
    let DatabaseUrl::Sqlite { url, path: Some(_) } = database else { return };
    keep_checkpointing_at(&url, RESTART_ABOVE).await
}

async fn keep_checkpointing_at(url: &str, restart_above: i64) {
    let mut own = None;
    loop {
        tokio::time::sleep(EVERY).await;
        let mut turn = async || match checkpoint(url, &mut own, Mode::Passive).await? {
            pages_in_log if pages_in_log > restart_above => checkpoint(url, &mut own, Mode::Restart).await,
            pages_in_log => Ok(pages_in_log),
        };
        if let Err(error) = turn().await {
            tracing::warn!(%error, "SQLite checkpoint failed: trying again in a second");
            own = None;
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum Mode {
    /// Copies what it can without waiting for anyone.
    Passive,
    /// Waits for the writer and the readers of the log, copies all of it, and rewinds it.
    Restart,
}

/// One checkpoint on `own` (opened first if needed): the pages the log holds. What a PASSIVE one
/// could not copy (pages an older reader still reads) is copied by a later one; a RESTART that
/// waited a second in vain is tried again at the next turn.
async fn checkpoint(url: &str, own: &mut Option<SqliteConnection>, mode: Mode) -> Result<i64, sea_orm::sqlx::Error> {
    let connection = match own {
        Some(connection) => connection,
        // The wait is a RESTART's only (a PASSIVE one never waits): the writer waits behind it.
        None => own.insert(SqliteConnectOptions::from_str(url)?.busy_timeout(Duration::from_secs(1)).connect().await?),
    };
    let statement = match mode {
        Mode::Passive => "PRAGMA wal_checkpoint(PASSIVE)",
        Mode::Restart => "PRAGMA wal_checkpoint(RESTART)",
    };
    // (busy, pages in the log, pages copied); -1 when the file is not in WAL mode.
    let (_, pages, _): (i64, i64, i64) = sea_orm::sqlx::query_as(statement).fetch_one(connection).await?;
    Ok(pages)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::sqlx::Connection as _;

    /// A writer that never pauses (one transaction after another, as an import's batches come)
    /// with the checkpointer beside it: the log is rewound instead of growing by every page
    /// written, as PASSIVE checkpoints alone let it (a 1,000,000-row import's reached 4.2 GB).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_log_is_rewound_under_a_writer_that_never_pauses() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.db");
        let url = format!("sqlite://{}?mode=rwc", path.display());
        let options = SqliteConnectOptions::from_str(&url)
            .unwrap()
            .journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
            .pragma("wal_autocheckpoint", "0");
        let mut writer = options.connect().await.unwrap();
        sea_orm::sqlx::query("CREATE TABLE t (v BLOB)").execute(&mut writer).await.unwrap();
        let limit = 1_000;
        let checkpointer = tokio::spawn({
            let url = url.clone();
            async move { keep_checkpointing_at(&url, limit).await }
        });
        // The log file's length: a rewound log is written again from its start, so the file
        // stops growing; a log never rewound grows by every page written.
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
        // Never rewound, the file holds every page written (43,000 here, 2026-12-08); rewound,
        // about a limit and what the writer adds in one turn of the checkpointer (13,000).
        let written = 800 * 50 * 4_000 / 4_096;
        assert!(largest < written / 2, "the log reached {largest} pages of the {written} written (limit {limit})");
    }
}

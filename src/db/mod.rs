//! SeaORM entities, one module per table (the migration in `migration/` is the source of truth),
//! and the connection set-up.

pub mod api_keys;
pub mod audit_events;
pub mod bulk;
pub mod checkpoints;
pub mod companies;
pub mod deliveries;
pub mod delivery_attempts;
pub mod environments;
pub mod hidden_imports;
pub mod import_file_chunks;
pub mod import_jobs;
pub mod import_row_issues;
pub mod invitations;
pub mod link_tokens;
pub mod outbox_events;
pub mod password_history;
pub mod project_members;
pub mod project_models;
pub mod projects;
pub mod service_subscriptions;
pub mod sessions;
pub mod statement_log;
pub mod sub_accounts;
pub mod subscription_members;
pub mod support_contact_roles;
pub mod support_contacts;
pub mod support_tickets;
pub mod user_modules;
pub mod user_passwords;
pub mod user_sub_accounts;
pub mod users;
pub mod webhook_endpoints;

use std::time::Duration;

use anyhow::Context;
use migration::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{ConnectOptions, Database, DatabaseConnection};

use crate::config::DatabaseUrl;

/// Opens the pool; for SQLite, creates the database file's folder first (the `mode=rwc` in the
/// default URL creates the file itself).
pub async fn connect(database: &DatabaseUrl) -> anyhow::Result<DatabaseConnection> {
    if let DatabaseUrl::Sqlite { path: Some(path), .. } = database
        && let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
    {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create the database folder {}", dir.display()))?;
    }
    if let DatabaseUrl::Postgres { url } = database {
        probe_postgres(url).await?;
    }
    let mut options = ConnectOptions::new(database.as_str());
    options
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(10))
        .sqlx_logging_level(log::LevelFilter::Debug);
    match database {
        DatabaseUrl::Postgres { .. } => {
            options.max_connections(20).min_connections(1);
        }
        // One writer connection (sea-orm's default for SQLite), in WAL mode so that the reader
        // pool (`connect_readers`) reads beside it instead of waiting for it. A writer in
        // another process (`portal import` beside a server) is waited for, not an error;
        // `synchronous=NORMAL` is WAL's usual setting (a commit survives a crash of the
        // process; a power cut may lose the last commits, never the file); 32 MiB of page
        // cache holds the hot part of an import's indexes (at 1,000,000 rows 64 MiB wrote no
        // faster, and kept the server above 200 MiB: docs/internals.md). It checkpoints only
        // rarely: a connection of its own does, beside it (`checkpoints`).
        DatabaseUrl::Sqlite { .. } => {
            options.map_sqlx_sqlite_opts(|sqlite| {
                sqlite
                    .busy_timeout(Duration::from_secs(10))
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .pragma("cache_size", "-32768")
                    .pragma("wal_autocheckpoint", checkpoints::WRITER_CHECKPOINT_PAGES.to_string())
            });
        }
    }
    Database::connect(options).await.with_context(|| format!("cannot connect to the database {}", database.redacted()))
}

/// How many connections read an SQLite file beside its one writer.
const SQLITE_READERS: u32 = 4;

/// The pool that GraphQL queries and session look-ups read through. On SQLite (a file), a pool
/// of its own: WAL lets readers go on while the writer holds a long transaction (an import), so
/// reads never queue behind writes on the one writer connection. `query_only` makes a write
/// sent here by mistake an error rather than a second writer. Opened after `connect` (which
/// puts the file in WAL mode) and the migrations. On PostgreSQL, and for an in-memory SQLite
/// database (a second pool would be another database), the writer's own pool.
pub async fn connect_readers(
    database: &DatabaseUrl,
    writer: &DatabaseConnection,
) -> anyhow::Result<DatabaseConnection> {
    let DatabaseUrl::Sqlite { path: Some(_), .. } = database else { return Ok(writer.clone()) };
    let mut options = ConnectOptions::new(database.as_str());
    options
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(10))
        .max_connections(SQLITE_READERS)
        .min_connections(1)
        .sqlx_logging_level(log::LevelFilter::Debug)
        .map_sqlx_sqlite_opts(|sqlite| {
            sqlite.busy_timeout(Duration::from_secs(10)).pragma("query_only", "ON").pragma("cache_size", "-16384")
        });
    Database::connect(options).await.with_context(|| format!("cannot open readers of {}", database.redacted()))
}

/// One connection before the pool, for a message that names the cause at once (the pool
/// would retry for its whole timeout, then say only "pool timed out").
async fn probe_postgres(url: &str) -> anyhow::Result<()> {
    use sea_orm::sqlx::{ConnectOptions as _, postgres::PgConnectOptions};
    let options: PgConnectOptions = url.parse().context("the PostgreSQL URL is not understood")?;
    let place = format!("{}:{}", options.get_host(), options.get_port());
    let database = options.get_database().unwrap_or("postgres").to_owned();
    let user = options.get_username().to_owned();
    let attempt = tokio::time::timeout(Duration::from_secs(5), options.connect()).await;
    let error = match attempt {
        Ok(Ok(_connection)) => return Ok(()),
        Ok(Err(error)) => error,
        Err(_) => anyhow::bail!("PostgreSQL at {place} did not answer within 5 s (is the address right?)"),
    };
    if let Some(io) = io_cause(&error) {
        anyhow::bail!("cannot reach PostgreSQL at {place}: {io} (is it running, and listening there?)");
    }
    if let Some(db_error) = error.as_database_error() {
        match db_error.code().as_deref() {
            Some("3D000") => anyhow::bail!(
                "the database \"{database}\" does not exist on {place}: create it with `createdb -h {} -p {} -U {user} {database}`",
                options.get_host(),
                options.get_port()
            ),
            Some("28P01" | "28000") => {
                anyhow::bail!("PostgreSQL at {place} refused user \"{user}\": {}", db_error.message())
            }
            _ => anyhow::bail!("PostgreSQL at {place} refused the connection: {}", db_error.message()),
        }
    }
    anyhow::bail!("cannot connect to PostgreSQL at {place}: {error}")
}

fn io_cause(error: &sea_orm::sqlx::Error) -> Option<&std::io::Error> {
    match error {
        sea_orm::sqlx::Error::Io(io) => Some(io),
        _ => None,
    }
}

/// Applies every pending migration. On SQLite, then refreshes the planner's statistics where
/// they are stale (`PRAGMA optimize`), which PostgreSQL's autovacuum does by itself.
pub async fn migrate(db: &DatabaseConnection) -> anyhow::Result<()> {
    Migrator::up(db, None).await.context("database migration failed")?;
    if db.get_database_backend() == sea_orm::DatabaseBackend::Sqlite {
        sea_orm::ConnectionTrait::execute_unprepared(db, "PRAGMA optimize").await.context("PRAGMA optimize")?;
    }
    Ok(())
}

//! SeaORM entities, one module per table (the migration in `migration/` is the source of truth),
//! and the connection set-up.

pub mod audit_events;
pub mod bulk;
pub mod companies;
pub mod deliveries;
pub mod delivery_attempts;
pub mod environments;
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
pub mod user_sub_accounts;
pub mod users;
pub mod webhook_endpoints;

use std::time::Duration;

use anyhow::Context;
use migration::{Migrator, MigratorTrait};
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
    let mut options = ConnectOptions::new(database.as_str());
    options
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(10))
        .sqlx_logging_level(log::LevelFilter::Debug);
    match database {
        DatabaseUrl::Postgres { .. } => {
            options.max_connections(20).min_connections(1);
        }
        // Write-ahead logging: a commit appends to the log instead of rewriting pages through a
        // rollback journal, and with `synchronous = NORMAL` the log is fsynced at checkpoints
        // rather than on every commit: a process that crashes loses nothing (the log is in the
        // file system), a machine that loses power may lose its last commits, never the file. A reader in another process (`portal import` beside a server) no longer
        // blocks writers. 64 MiB of page cache keeps an import's indexes in memory.
        DatabaseUrl::Sqlite { .. } => {
            options.map_sqlx_sqlite_opts(|sqlite| {
                sqlite
                    .journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                    .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Normal)
                    .busy_timeout(Duration::from_secs(10))
                    .pragma("cache_size", "-65536")
            });
        }
    }
    Database::connect(options).await.with_context(|| format!("cannot connect to the database {}", database.redacted()))
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

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
        // A writer in another process (`portal import` beside a server) is waited for, not an
        // error; 64 MiB of page cache keeps an import's indexes in memory. Not WAL yet: with the
        // import's one long transaction it measured 1.04x the bulk-load bound against 0.84x in
        // the rollback journal (200,000 rows with welcome emails); it belongs with batched
        // import writes and a reader pool (issue 14).
        DatabaseUrl::Sqlite { .. } => {
            options.map_sqlx_sqlite_opts(|sqlite| {
                sqlite.busy_timeout(Duration::from_secs(10)).pragma("cache_size", "-65536")
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

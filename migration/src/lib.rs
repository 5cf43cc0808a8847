//! Database migrations, embedded in the `portal` binary and run at start-up (and by
//! `portal migrate`). Add a migration as a new module and list it in `migrations()`; never edit
//! one that has shipped.
pub use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

mod m20261124_000001_initial_schema;
mod m20261124_000002_webhook_rotation_and_delivery_uniqueness;
mod m20261124_000003_user_ordering_and_search;
mod m20261124_000004_import_job_lease;
mod m20261201_000005_attempt_counters;
mod m20261202_000006_claimable_deliveries_index;
mod m20261203_000007_api_keys;
mod m20261203_000008_scim;
mod m20261204_000009_principal_notifications;
mod m20261204_000010_sqlite_user_search;
mod m20261206_000011_last_signed_in;
mod m20261206_000012_sub_account_holdings_and_company_status;
mod m20261206_000013_user_orderings;
mod m20261206_000014_import_sub_accounts;
mod m20261207_000015_lazy_welcome_emails;
mod m20261207_000016_hidden_import_rows;
mod m20261207_000017_sqlite_search_pages;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261124_000001_initial_schema::Migration),
            Box::new(m20261124_000002_webhook_rotation_and_delivery_uniqueness::Migration),
            Box::new(m20261124_000003_user_ordering_and_search::Migration),
            Box::new(m20261124_000004_import_job_lease::Migration),
            Box::new(m20261201_000005_attempt_counters::Migration),
            Box::new(m20261202_000006_claimable_deliveries_index::Migration),
            Box::new(m20261203_000007_api_keys::Migration),
            Box::new(m20261203_000008_scim::Migration),
            Box::new(m20261204_000009_principal_notifications::Migration),
            Box::new(m20261204_000010_sqlite_user_search::Migration),
            Box::new(m20261206_000011_last_signed_in::Migration),
            Box::new(m20261206_000012_sub_account_holdings_and_company_status::Migration),
            Box::new(m20261206_000013_user_orderings::Migration),
            Box::new(m20261206_000014_import_sub_accounts::Migration),
            Box::new(m20261207_000015_lazy_welcome_emails::Migration),
            Box::new(m20261207_000016_hidden_import_rows::Migration),
            Box::new(m20261207_000017_sqlite_search_pages::Migration),
        ]
    }
}

/// Runs `statements` in order on SQLite, and nothing elsewhere: for the SQLite-only parts of
/// the schema (its search index). Migration 10 has its own copy of this loop, from before this
/// helper; shipped migrations are not edited.
async fn on_sqlite_only(m: &SchemaManager<'_>, statements: &[&str]) -> Result<(), DbErr> {
    if m.get_database_backend() != DatabaseBackend::Sqlite {
        return Ok(());
    }
    for statement in statements {
        m.get_connection().execute_unprepared(statement).await?;
    }
    Ok(())
}

//! Sub-accounts as a scope, and companies platform staff can suspend.
//!
//! - `service_subscriptions.sub_account_id`: the sub-account that holds the subscription (and so
//!   its projects, environments, models, contacts and tickets); NULL for the company as a whole.
//!   Removing a sub-account (a SCIM group deleted) gives its holdings back to the company
//!   (`ON DELETE SET NULL`): only unlimited users see company-level subscriptions, so nobody
//!   gains sight of anything.
//! - `companies.status` (`ACTIVE` or `SUSPENDED`) and `companies.suspended_at`: a suspended
//!   company's users cannot sign in and their sessions end.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let db = m.get_connection();
        // SQLite can add a column with a foreign key only through its own ALTER syntax, which
        // sea-query does not emit: the statements are written out for each backend.
        let uuid_type = match m.get_database_backend() {
            DatabaseBackend::Postgres => "uuid",
            _ => "uuid_text",
        };
        db.execute_unprepared(&format!(
            "ALTER TABLE service_subscriptions ADD COLUMN sub_account_id {uuid_type} NULL \
             REFERENCES sub_accounts (id) ON DELETE SET NULL"
        ))
        .await?;
        db.execute_unprepared(
            "CREATE INDEX ix_service_subscriptions_sub_account ON service_subscriptions (company_id, sub_account_id)",
        )
        .await?;
        db.execute_unprepared("ALTER TABLE companies ADD COLUMN status varchar(40) NOT NULL DEFAULT 'ACTIVE'").await?;
        let timestamp = match m.get_database_backend() {
            DatabaseBackend::Postgres => "timestamp with time zone",
            _ => "timestamp_with_timezone_text",
        };
        db.execute_unprepared(&format!("ALTER TABLE companies ADD COLUMN suspended_at {timestamp} NULL")).await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let db = m.get_connection();
        db.execute_unprepared("DROP INDEX ix_service_subscriptions_sub_account").await?;
        db.execute_unprepared("ALTER TABLE service_subscriptions DROP COLUMN sub_account_id").await?;
        db.execute_unprepared("ALTER TABLE companies DROP COLUMN suspended_at").await?;
        db.execute_unprepared("ALTER TABLE companies DROP COLUMN status").await?;
        Ok(())
    }
}

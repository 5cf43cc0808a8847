//! PostgreSQL: every change to what a signed-in caller is made of (their user row, sessions,
//! modules, sub-accounts, company) notifies `portal_principals` at commit, so that every
//! server process forgets the sessions it resolved (see `src/domain/principal_cache.rs`).
//! Statement triggers, so a bulk change costs one notification; a new session or a new user
//! (a plain insert) changes nobody already signed in and notifies nothing. SQLite has one
//! process: nothing to do.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// (table, the changes that notify).
const WATCHED: [(&str, &str); 5] = [
    ("users", "UPDATE OR DELETE OR TRUNCATE"),
    ("sessions", "UPDATE OR DELETE OR TRUNCATE"),
    ("companies", "UPDATE OR DELETE OR TRUNCATE"),
    ("user_modules", "INSERT OR UPDATE OR DELETE OR TRUNCATE"),
    ("user_sub_accounts", "INSERT OR UPDATE OR DELETE OR TRUNCATE"),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        if m.get_database_backend() != DatabaseBackend::Postgres {
            return Ok(());
        }
        let db = m.get_connection();
        db.execute_unprepared(
            "CREATE FUNCTION portal_principals_changed() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN PERFORM pg_notify('portal_principals', ''); RETURN NULL; END $$",
        )
        .await?;
        for (table, events) in WATCHED {
            db.execute_unprepared(&format!(
                "CREATE TRIGGER tr_{table}_principals AFTER {events} ON {table}
                 FOR EACH STATEMENT EXECUTE FUNCTION portal_principals_changed()"
            ))
            .await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        if m.get_database_backend() != DatabaseBackend::Postgres {
            return Ok(());
        }
        let db = m.get_connection();
        for (table, _) in WATCHED {
            db.execute_unprepared(&format!("DROP TRIGGER IF EXISTS tr_{table}_principals ON {table}")).await?;
        }
        db.execute_unprepared("DROP FUNCTION IF EXISTS portal_principals_changed()").await?;
        Ok(())
    }
}

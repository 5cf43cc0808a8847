//! Users are listed by surname, given name, id (`sort_key`: accent-folded, lower-cased
//! "surname given"), with keyset cursors; search matches `search_key` anywhere, which on
//! PostgreSQL a trigram index serves (SQLite scans the company's rows).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(Table::alter().table(Users::Table).add_column(text(Users::SortKey).default("")).take()).await?;
        // Rows written before this migration: close enough (not accent-folded); any update of
        // the user rewrites it properly.
        m.get_connection()
            .execute_unprepared(
                "UPDATE users SET sort_key = lower(coalesce(surname, '')) || ' ' || lower(coalesce(given_name, ''))",
            )
            .await?;
        m.create_index(
            Index::create()
                .name("ix_users_company_sort")
                .table(Users::Table)
                .col(Users::CompanyId)
                .col(Users::SortKey)
                .col(Users::Id)
                .take(),
        )
        .await?;
        if m.get_database_backend() == DatabaseBackend::Postgres {
            let db = m.get_connection();
            db.execute_unprepared("CREATE EXTENSION IF NOT EXISTS pg_trgm").await?;
            db.execute_unprepared("CREATE INDEX ix_users_search_trgm ON users USING gin (search_key gin_trgm_ops)")
                .await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        if m.get_database_backend() == DatabaseBackend::Postgres {
            m.get_connection().execute_unprepared("DROP INDEX IF EXISTS ix_users_search_trgm").await?;
        }
        m.drop_index(Index::drop().name("ix_users_company_sort").table(Users::Table).to_owned()).await?;
        m.alter_table(Table::alter().table(Users::Table).drop_column(Users::SortKey).take()).await
    }
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    CompanyId,
    SortKey,
}

//! One index per ordering of `users(orderBy: …)`, each led by the company (every listing is
//! one company's) and ended by the id (the keyset's tie-break), so that any page in any
//! ordering is an index range scan. Never-signed-in people sort first ascending: PostgreSQL
//! is told so (`NULLS FIRST`), SQLite sorts NULL first already. Surname has its index since
//! migration 3 (`ix_users_company_sort`). The status index of migration 1 is a prefix of the
//! status ordering's, which replaces it.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

const INDEXES: [(&str, &str); 4] = [
    ("ix_users_company_email", "company_id, email, id"),
    ("ix_users_company_created", "company_id, created_at, id"),
    ("ix_users_company_signed_in", "company_id, last_signed_in_at{nulls}, id"),
    ("ix_users_company_status_sort", "company_id, status, sort_key, id"),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let nulls = if m.get_database_backend() == DatabaseBackend::Postgres { " NULLS FIRST" } else { "" };
        m.get_connection().execute_unprepared("DROP INDEX ix_users_company_status").await?;
        for (name, columns) in INDEXES {
            let columns = columns.replace("{nulls}", nulls);
            m.get_connection().execute_unprepared(&format!("CREATE INDEX {name} ON users ({columns})")).await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for (name, _) in INDEXES {
            m.get_connection().execute_unprepared(&format!("DROP INDEX {name}")).await?;
        }
        m.get_connection()
            .execute_unprepared("CREATE INDEX ix_users_company_status ON users (company_id, status)")
            .await?;
        Ok(())
    }
}

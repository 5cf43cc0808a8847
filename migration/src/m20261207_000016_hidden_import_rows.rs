//! An import writes its users in short transactions (so that a long import never holds SQLite's
//! only writer for long) and shows them all at once:
//! - `hidden_imports`: the jobs whose users are written but not shown yet. A user whose
//!   `import_job_id` is listed here is not read by anyone (`db::users::find`); the write's last
//!   transaction deletes the job's row, which shows every one of its users at once. A job that
//!   fails or is cancelled deletes its users, then its row.
//! - `ix_users_company_status_sort` (the status ordering's, which counts read) also holds
//!   `import_job_id` at its end, so that counting a company's users under that rule still reads
//!   the index alone.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(HiddenImports::Table)
                .col(uuid(HiddenImports::JobId).primary_key())
                .foreign_key(
                    ForeignKey::create()
                        .from(HiddenImports::Table, HiddenImports::JobId)
                        .to(ImportJobs::Table, ImportJobs::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .take(),
        )
        .await?;
        let db = m.get_connection();
        db.execute_unprepared("DROP INDEX ix_users_company_status_sort").await?;
        db.execute_unprepared(
            "CREATE INDEX ix_users_company_status_sort ON users (company_id, status, sort_key, id, import_job_id)",
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let db = m.get_connection();
        db.execute_unprepared("DROP INDEX ix_users_company_status_sort").await?;
        db.execute_unprepared("CREATE INDEX ix_users_company_status_sort ON users (company_id, status, sort_key, id)")
            .await?;
        m.drop_table(Table::drop().table(HiddenImports::Table).take()).await?;
        Ok(())
    }
}

#[derive(DeriveIden)]
enum HiddenImports {
    Table,
    JobId,
}

#[derive(DeriveIden)]
enum ImportJobs {
    Table,
    Id,
}

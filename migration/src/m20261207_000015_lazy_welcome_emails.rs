//! Welcome emails of an import queued after its write, in short transactions of their own,
//! rather than inside the write (four rows per user in the one transaction that must succeed
//! whole):
//! - `users.import_job_id`: the import that created the user (NULL for everyone else), indexed
//!   for the welcome pass that walks an import's users in id order;
//! - `import_jobs.welcomes_pending`: the job is COMPLETED but some of its users have not been
//!   given their welcome email yet;
//! - `import_jobs.welcomed_through`: the last user id (in id order) whose email is queued, so
//!   an interrupted pass resumes after it.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(Table::alter().table(Users::Table).add_column(uuid_null(Users::ImportJobId)).take()).await?;
        m.alter_table(
            Table::alter()
                .table(ImportJobs::Table)
                .add_column(boolean(ImportJobs::WelcomesPending).default(false))
                .take(),
        )
        .await?;
        m.alter_table(
            Table::alter().table(ImportJobs::Table).add_column(uuid_null(ImportJobs::WelcomedThrough)).take(),
        )
        .await?;
        m.get_connection()
            .execute_unprepared(
                "CREATE INDEX ix_users_import_job ON users (import_job_id, id) WHERE import_job_id IS NOT NULL",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.get_connection().execute_unprepared("DROP INDEX IF EXISTS ix_users_import_job").await?;
        m.alter_table(Table::alter().table(ImportJobs::Table).drop_column(ImportJobs::WelcomedThrough).take()).await?;
        m.alter_table(Table::alter().table(ImportJobs::Table).drop_column(ImportJobs::WelcomesPending).take()).await?;
        m.alter_table(Table::alter().table(Users::Table).drop_column(Users::ImportJobId).take()).await?;
        Ok(())
    }
}

#[derive(DeriveIden)]
enum Users {
    Table,
    ImportJobId,
}

#[derive(DeriveIden)]
enum ImportJobs {
    Table,
    WelcomesPending,
    WelcomedThrough,
}

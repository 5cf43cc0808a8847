//! `import_jobs.sub_account_ids`: the sub-accounts every user of the import is limited to
//! (comma-separated ids; empty: the whole company), kept with the job so that committing a dry
//! run writes exactly what was validated.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.get_connection()
            .execute_unprepared("ALTER TABLE import_jobs ADD COLUMN sub_account_ids text NOT NULL DEFAULT ''")
            .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.get_connection().execute_unprepared("ALTER TABLE import_jobs DROP COLUMN sub_account_ids").await?;
        Ok(())
    }
}

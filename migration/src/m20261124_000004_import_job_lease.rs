//! An import job is leased by the process running it and the lease is renewed while it runs:
//! a job whose lease ran out was interrupted (a crash, a restart) and is resumed by the next
//! process that looks (its write transaction died with it, so nothing was half written).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(ImportJobs::Table)
                .add_column(timestamp_with_time_zone_null(ImportJobs::LeaseUntil))
                .take(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(Table::alter().table(ImportJobs::Table).drop_column(ImportJobs::LeaseUntil).take()).await
    }
}

#[derive(DeriveIden)]
enum ImportJobs {
    Table,
    LeaseUntil,
}

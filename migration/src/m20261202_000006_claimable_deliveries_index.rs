//! The outbox worker's claim ("the next due deliveries nobody holds, oldest first") served by
//! an index of the claimable deliveries alone, in due order: a claim reads its batch and stops,
//! whether 10 or 10 million deliveries wait, instead of scanning every pending one and sorting
//! them. Replaces the `(status, next_attempt_at)` index, which could not give the order across
//! the two claimable statuses.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let db = m.get_connection();
        db.execute_unprepared("DROP INDEX IF EXISTS ix_deliveries_due").await?;
        // The predicate is written exactly as the claim writes it (literal statuses): both
        // planners use a partial index only for queries whose condition matches it.
        db.execute_unprepared(
            "CREATE INDEX ix_deliveries_claimable ON deliveries (next_attempt_at) \
             WHERE status IN ('PENDING', 'FAILED')",
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let db = m.get_connection();
        db.execute_unprepared("DROP INDEX IF EXISTS ix_deliveries_claimable").await?;
        db.execute_unprepared("CREATE INDEX ix_deliveries_due ON deliveries (status, next_attempt_at)").await?;
        Ok(())
    }
}

//! `users.last_signed_in_at`: when the user last opened a session (set with the session, in the
//! same transaction), for dashboards' "never signed in" and "inactive for 90 days".

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let column = timestamp_with_time_zone_null(Users::LastSignedInAt);
        m.alter_table(Table::alter().table(Users::Table).add_column(column).take()).await?;
        // What the sessions still remember, for users who signed in before this column.
        m.get_connection()
            .execute_unprepared(
                "UPDATE users SET last_signed_in_at = (SELECT MAX(s.created_at) FROM sessions s WHERE s.user_id = users.id)",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(Table::alter().table(Users::Table).drop_column(Users::LastSignedInAt).take()).await?;
        Ok(())
    }
}

#[derive(DeriveIden)]
enum Users {
    Table,
    LastSignedInAt,
}

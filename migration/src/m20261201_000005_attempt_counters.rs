//! Failed attempts counted per key (an email address, known or not; a user), in one atomic
//! statement each, so concurrent guesses cannot be lost updates, and an unknown address locks
//! exactly like a known one. Replaces the per-user lockout columns of `users`.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(AttemptCounters::Table)
                // What is counted (LOGIN, PASSWORD_RESET, CHANGE_PASSWORD).
                .col(string_len(AttemptCounters::Scope, 32))
                // SHA-256 of the key: addresses that never had an account are not stored.
                .col(string_len(AttemptCounters::KeyHash, 64))
                .col(integer(AttemptCounters::Attempts))
                .col(timestamp_with_time_zone(AttemptCounters::WindowStartedAt))
                .col(timestamp_with_time_zone_null(AttemptCounters::LockedUntil))
                .primary_key(Index::create().col(AttemptCounters::Scope).col(AttemptCounters::KeyHash))
                .take(),
        )
        .await?;
        for column in [Users::FailedLoginCount, Users::FirstFailedLoginAt, Users::LockedUntil] {
            m.alter_table(Table::alter().table(Users::Table).drop_column(column).take()).await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter().table(Users::Table).add_column(integer(Users::FailedLoginCount).default(0)).take(),
        )
        .await?;
        for column in [Users::FirstFailedLoginAt, Users::LockedUntil] {
            m.alter_table(Table::alter().table(Users::Table).add_column(timestamp_with_time_zone_null(column)).take())
                .await?;
        }
        m.drop_table(Table::drop().table(AttemptCounters::Table).take()).await
    }
}

#[derive(DeriveIden)]
enum AttemptCounters {
    Table,
    Scope,
    KeyHash,
    Attempts,
    WindowStartedAt,
    LockedUntil,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    FailedLoginCount,
    FirstFailedLoginAt,
    LockedUntil,
}

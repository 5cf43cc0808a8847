//! Webhook secret rotation (the previous secret stays valid for a while, and requests carry
//! both signatures meanwhile), and at most one delivery per event, channel and recipient.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(WebhookEndpoints::Table)
                .add_column(text_null(WebhookEndpoints::PreviousSecret))
                .take(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(WebhookEndpoints::Table)
                .add_column(timestamp_with_time_zone_null(WebhookEndpoints::PreviousSecretExpiresAt))
                .take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ux_deliveries_event_channel_recipient")
                .table(Deliveries::Table)
                .col(Deliveries::EventId)
                .col(Deliveries::Channel)
                .col(Deliveries::Recipient)
                .unique()
                .take(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(Index::drop().name("ux_deliveries_event_channel_recipient").table(Deliveries::Table).to_owned())
            .await?;
        for column in [WebhookEndpoints::PreviousSecretExpiresAt, WebhookEndpoints::PreviousSecret] {
            m.alter_table(Table::alter().table(WebhookEndpoints::Table).drop_column(column).take()).await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum WebhookEndpoints {
    Table,
    PreviousSecret,
    PreviousSecretExpiresAt,
}

#[derive(DeriveIden)]
enum Deliveries {
    Table,
    EventId,
    Channel,
    Recipient,
}

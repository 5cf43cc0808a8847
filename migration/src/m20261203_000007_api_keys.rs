//! API keys: a company's credentials for integrations (scripts, SCIM provisioning), each a
//! principal of its own with the modules it was given. The secret is shown once and stored only
//! as its SHA-256, like session tokens; audit events name the key that acted.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(ApiKeys::Table)
                .col(pk_uuid(ApiKeys::Id))
                .col(uuid(ApiKeys::CompanyId))
                .col(string_len(ApiKeys::Name, 100))
                // The secret's first characters (`pk_live_` and 4 more), shown in listings so
                // people can tell their keys apart without the secret.
                .col(string_len(ApiKeys::Prefix, 16))
                .col(string_len(ApiKeys::SecretHash, 64).unique_key())
                // The module codes the key holds, as a JSON array.
                .col(json(ApiKeys::Modules))
                .col(uuid_null(ApiKeys::CreatedBy))
                .col(timestamp_with_time_zone(ApiKeys::CreatedAt))
                .col(timestamp_with_time_zone_null(ApiKeys::ExpiresAt))
                .col(timestamp_with_time_zone_null(ApiKeys::RevokedAt))
                .col(timestamp_with_time_zone_null(ApiKeys::LastUsedAt))
                .foreign_key(
                    ForeignKey::create()
                        .from(ApiKeys::Table, ApiKeys::CompanyId)
                        .to(Companies::Table, Companies::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .foreign_key(
                    ForeignKey::create()
                        .from(ApiKeys::Table, ApiKeys::CreatedBy)
                        .to(Users::Table, Users::Id)
                        .on_delete(ForeignKeyAction::SetNull),
                )
                .take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_api_keys_company")
                .table(ApiKeys::Table)
                .col(ApiKeys::CompanyId)
                .col(ApiKeys::CreatedAt)
                .take(),
        )
        .await?;
        m.alter_table(Table::alter().table(AuditEvents::Table).add_column(uuid_null(AuditEvents::ActorApiKeyId)).take())
            .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(Table::alter().table(AuditEvents::Table).drop_column(AuditEvents::ActorApiKeyId).take()).await?;
        m.drop_table(Table::drop().table(ApiKeys::Table).take()).await
    }
}

#[derive(DeriveIden)]
enum ApiKeys {
    Table,
    Id,
    CompanyId,
    Name,
    Prefix,
    SecretHash,
    Modules,
    CreatedBy,
    CreatedAt,
    ExpiresAt,
    RevokedAt,
    LastUsedAt,
}

#[derive(DeriveIden)]
enum Companies {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum AuditEvents {
    Table,
    ActorApiKeyId,
}

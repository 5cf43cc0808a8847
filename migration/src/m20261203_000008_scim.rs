//! SCIM provisioning: the identity provider's own id for each user (`externalId`) and its
//! `userName` where that is not the email address (an Entra UPN, an Okta login), each unique
//! within a company; and the company's provisioning settings.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for column in [Users::ExternalId, Users::ScimUserName] {
            m.alter_table(Table::alter().table(Users::Table).add_column(string_len_null(column, 255)).take()).await?;
        }
        // userName is not case-exact (RFC 7643): unique, and looked up (`userName eq`), by its
        // lower-case form; both databases index the expression.
        m.get_connection()
            .execute_unprepared(
                "CREATE UNIQUE INDEX ux_users_company_scim_user_name ON users (company_id, lower(scim_user_name))",
            )
            .await?;
        m.create_index(
            Index::create()
                .name("ux_users_company_external_id")
                .table(Users::Table)
                .col(Users::CompanyId)
                .col(Users::ExternalId)
                .unique()
                .take(),
        )
        .await?;
        // A group's id at the identity provider (a SCIM Group is a sub-account).
        m.alter_table(
            Table::alter().table(SubAccounts::Table).add_column(string_len_null(SubAccounts::ExternalId, 255)).take(),
        )
        .await?;
        // Off until the company's administrator turns it on: a key with USER_MANAGEMENT alone
        // does not open the SCIM endpoint.
        let columns = [
            boolean(Companies::ScimEnabled).default(false).take(),
            string_len_null(Companies::ScimDefaultJobTitle, 200),
            string_len_null(Companies::ScimDefaultManagerEmail, 254),
            boolean(Companies::ScimWelcomeEmail).default(false).take(),
        ];
        for column in columns {
            m.alter_table(Table::alter().table(Companies::Table).add_column(column).take()).await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for column in [
            Companies::ScimEnabled,
            Companies::ScimDefaultJobTitle,
            Companies::ScimDefaultManagerEmail,
            Companies::ScimWelcomeEmail,
        ] {
            m.alter_table(Table::alter().table(Companies::Table).drop_column(column).take()).await?;
        }
        m.alter_table(Table::alter().table(SubAccounts::Table).drop_column(SubAccounts::ExternalId).take()).await?;
        for index in ["ux_users_company_external_id", "ux_users_company_scim_user_name"] {
            m.drop_index(Index::drop().name(index).table(Users::Table).to_owned()).await?;
        }
        for column in [Users::ExternalId, Users::ScimUserName] {
            m.alter_table(Table::alter().table(Users::Table).drop_column(column).take()).await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum Users {
    Table,
    CompanyId,
    ExternalId,
    ScimUserName,
}

#[derive(DeriveIden)]
enum Companies {
    Table,
    ScimEnabled,
    ScimDefaultJobTitle,
    ScimDefaultManagerEmail,
    ScimWelcomeEmail,
}

#[derive(DeriveIden)]
enum SubAccounts {
    Table,
    ExternalId,
}

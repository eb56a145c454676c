use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(AppMeta::Table)
                    .if_not_exists()
                    .col(string_len(AppMeta::Key, 64).primary_key())
                    .col(text(AppMeta::Value))
                    .col(timestamp_with_time_zone(AppMeta::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(StaffToken::Table)
                    .if_not_exists()
                    .col(pk_uuid(StaffToken::Id))
                    .col(string_len(StaffToken::Name, 100))
                    .col(string_len(StaffToken::Role, 16))
                    .col(string_len_uniq(StaffToken::TokenHash, 64))
                    .col(string_len(StaffToken::Hint, 16))
                    .col(uuid_null(StaffToken::CreatedBy))
                    .col(timestamp_with_time_zone(StaffToken::CreatedAt))
                    .col(timestamp_with_time_zone_null(StaffToken::LastUsedAt))
                    .col(timestamp_with_time_zone_null(StaffToken::RevokedAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(StaffToken::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(AppMeta::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum AppMeta {
    Table,
    Key,
    Value,
    CreatedAt,
}

#[derive(DeriveIden)]
pub(crate) enum StaffToken {
    Table,
    Id,
    Name,
    Role,
    TokenHash,
    Hint,
    CreatedBy,
    CreatedAt,
    LastUsedAt,
    RevokedAt,
}

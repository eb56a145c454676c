use sea_orm_migration::{prelude::*, schema::*};

use crate::m20261121_000001_create_staff_tokens::StaffToken;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Event::Table)
                    .if_not_exists()
                    .col(pk_uuid(Event::Id))
                    .col(string_len_uniq(Event::Slug, 64))
                    .col(string_len(Event::Name, 200))
                    .col(text(Event::Description))
                    .col(string_len(Event::Timezone, 64))
                    .col(timestamp_with_time_zone(Event::StartsAt))
                    .col(timestamp_with_time_zone(Event::EndsAt))
                    .col(text_null(Event::Venue))
                    .col(char_len(Event::Currency, 3))
                    .col(integer_null(Event::Capacity))
                    .col(json_binary(Event::SwagSizes))
                    .col(json_binary(Event::DietaryOptions))
                    .col(timestamp_with_time_zone_null(Event::AttendeeEditDeadline))
                    .col(string_len(Event::Status, 16))
                    .col(timestamp_with_time_zone_null(Event::PublishedAt))
                    .col(timestamp_with_time_zone_null(Event::ArchivedAt))
                    .col(timestamp_with_time_zone(Event::CreatedAt))
                    .col(timestamp_with_time_zone(Event::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_event_status_starts_at")
                    .table(Event::Table)
                    .col(Event::Status)
                    .col(Event::StartsAt)
                    .col(Event::Id)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Tier::Table)
                    .if_not_exists()
                    .col(pk_uuid(Tier::Id))
                    .col(uuid(Tier::EventId))
                    .col(string_len(Tier::Name, 200))
                    .col(text(Tier::Description))
                    .col(big_integer(Tier::Price))
                    .col(integer(Tier::Capacity))
                    .col(timestamp_with_time_zone_null(Tier::SalesStart))
                    .col(timestamp_with_time_zone_null(Tier::SalesEnd))
                    .col(integer(Tier::MinPerOrder))
                    .col(integer(Tier::MaxPerOrder))
                    .col(boolean(Tier::Hidden))
                    .col(boolean(Tier::IncludesSwag))
                    .col(integer(Tier::SortOrder))
                    .col(timestamp_with_time_zone_null(Tier::ArchivedAt))
                    .col(timestamp_with_time_zone(Tier::CreatedAt))
                    .col(timestamp_with_time_zone(Tier::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_tier_event")
                            .from(Tier::Table, Tier::EventId)
                            .to(Event::Table, Event::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_tier_event")
                    .table(Tier::Table)
                    .col(Tier::EventId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(StaffTokenEvent::Table)
                    .if_not_exists()
                    .col(uuid(StaffTokenEvent::TokenId))
                    .col(uuid(StaffTokenEvent::EventId))
                    .primary_key(
                        Index::create()
                            .col(StaffTokenEvent::TokenId)
                            .col(StaffTokenEvent::EventId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_staff_token_event_token")
                            .from(StaffTokenEvent::Table, StaffTokenEvent::TokenId)
                            .to(StaffToken::Table, StaffToken::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_staff_token_event_event")
                            .from(StaffTokenEvent::Table, StaffTokenEvent::EventId)
                            .to(Event::Table, Event::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(StaffTokenEvent::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Tier::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Event::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum Event {
    Table,
    Id,
    Slug,
    Name,
    Description,
    Timezone,
    StartsAt,
    EndsAt,
    Venue,
    Currency,
    Capacity,
    SwagSizes,
    DietaryOptions,
    AttendeeEditDeadline,
    Status,
    PublishedAt,
    ArchivedAt,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Tier {
    Table,
    Id,
    EventId,
    Name,
    Description,
    Price,
    Capacity,
    SalesStart,
    SalesEnd,
    MinPerOrder,
    MaxPerOrder,
    Hidden,
    IncludesSwag,
    SortOrder,
    ArchivedAt,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum StaffTokenEvent {
    Table,
    TokenId,
    EventId,
}

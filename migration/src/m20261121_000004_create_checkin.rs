use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(SigningKey::Table)
                    .if_not_exists()
                    .col(string_len(SigningKey::Kid, 64).primary_key())
                    .col(text(SigningKey::PrivateKey))
                    .col(string_len(SigningKey::PublicKey, 64))
                    .col(timestamp_with_time_zone(SigningKey::CreatedAt))
                    .col(timestamp_with_time_zone_null(SigningKey::RetiredAt))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(CheckinList::Table)
                    .if_not_exists()
                    .col(pk_uuid(CheckinList::Id))
                    .col(uuid(CheckinList::EventId))
                    .col(string_len(CheckinList::Name, 100))
                    .col(string_len(CheckinList::Kind, 16))
                    .col(json_binary(CheckinList::Tiers))
                    .col(timestamp_with_time_zone_null(CheckinList::OpensAt))
                    .col(timestamp_with_time_zone_null(CheckinList::ClosesAt))
                    .col(timestamp_with_time_zone_null(CheckinList::ArchivedAt))
                    .col(timestamp_with_time_zone(CheckinList::CreatedAt))
                    .col(timestamp_with_time_zone(CheckinList::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_checkin_list_event")
                            .from(CheckinList::Table, CheckinList::EventId)
                            .to(Event::Table, Event::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;

        // One admission per ticket and list: the primary key is what makes
        // twenty devices scanning one ticket at once admit it exactly once.
        manager
            .create_table(
                Table::create()
                    .table(Checkin::Table)
                    .if_not_exists()
                    .col(uuid(Checkin::ListId))
                    .col(uuid(Checkin::TicketId))
                    .col(timestamp_with_time_zone(Checkin::ScannedAt))
                    .col(string_len(Checkin::Device, 100))
                    .col(uuid(Checkin::ScanId))
                    .primary_key(Index::create().col(Checkin::ListId).col(Checkin::TicketId))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_checkin_list")
                            .from(Checkin::Table, Checkin::ListId)
                            .to(CheckinList::Table, CheckinList::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_checkin_ticket")
                            .from(Checkin::Table, Checkin::TicketId)
                            .to(Ticket::Table, Ticket::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(CheckinScan::Table)
                    .if_not_exists()
                    .col(pk_uuid(CheckinScan::Id))
                    .col(uuid(CheckinScan::ListId))
                    .col(uuid(CheckinScan::EventId))
                    .col(uuid_null(CheckinScan::TicketId))
                    .col(string_len(CheckinScan::Device, 100))
                    .col(string_len(CheckinScan::Result, 32))
                    .col(timestamp_with_time_zone(CheckinScan::ScannedAt))
                    .col(timestamp_with_time_zone(CheckinScan::RecordedAt))
                    .col(uuid_null(CheckinScan::StaffId))
                    .col(boolean(CheckinScan::Offline))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_checkin_scan_list")
                            .from(CheckinScan::Table, CheckinScan::ListId)
                            .to(CheckinList::Table, CheckinList::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        for (name, cols) in [
            (
                "idx_checkin_scan_list_time",
                vec![CheckinScan::ListId, CheckinScan::ScannedAt],
            ),
            ("idx_checkin_scan_ticket", vec![CheckinScan::TicketId]),
        ] {
            let mut index = Index::create();
            index.name(name).table(CheckinScan::Table);
            for col in cols {
                index.col(col);
            }
            manager.create_index(index.to_owned()).await?;
        }
        manager
            .create_index(
                Index::create()
                    .name("idx_ticket_event_updated")
                    .table(Ticket::Table)
                    .col(Ticket::EventId)
                    .col(Ticket::UpdatedAt)
                    .col(Ticket::Id)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("idx_ticket_event_updated")
                    .table(Ticket::Table)
                    .to_owned(),
            )
            .await?;
        for table in [
            CheckinScan::Table.into_iden(),
            Checkin::Table.into_iden(),
            CheckinList::Table.into_iden(),
            SigningKey::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum Event {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Ticket {
    Table,
    Id,
    EventId,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum SigningKey {
    Table,
    Kid,
    PrivateKey,
    PublicKey,
    CreatedAt,
    RetiredAt,
}

#[derive(DeriveIden)]
enum CheckinList {
    Table,
    Id,
    EventId,
    Name,
    Kind,
    Tiers,
    OpensAt,
    ClosesAt,
    ArchivedAt,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Checkin {
    Table,
    ListId,
    TicketId,
    ScannedAt,
    Device,
    ScanId,
}

#[derive(DeriveIden)]
enum CheckinScan {
    Table,
    Id,
    ListId,
    EventId,
    TicketId,
    Device,
    Result,
    ScannedAt,
    RecordedAt,
    StaffId,
    Offline,
}

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// What each scan's device was told, kept so a re-upload can answer it again
/// (`conflict`, the first admission), whether a volunteer admitted by hand
/// (`manual`), and the changes to admissions after the fact, each its own
/// row: an admission displaced by an earlier offline scan, or undone by an
/// organizer.
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds one column per statement.
        for column in [
            boolean(CheckinScan::Conflict).default(false).to_owned(),
            timestamp_with_time_zone_null(CheckinScan::FirstScannedAt),
            string_len_null(CheckinScan::FirstDevice, 100),
            boolean(CheckinScan::Manual).default(false).to_owned(),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(CheckinScan::Table)
                        .add_column(column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_table(
                Table::create()
                    .table(CheckinChange::Table)
                    .if_not_exists()
                    .col(pk_uuid(CheckinChange::Id))
                    .col(uuid(CheckinChange::ListId))
                    .col(uuid(CheckinChange::TicketId))
                    .col(uuid(CheckinChange::ScanId))
                    .col(string_len(CheckinChange::Kind, 16))
                    .col(uuid_null(CheckinChange::ByScanId))
                    .col(uuid_null(CheckinChange::StaffId))
                    .col(string_len_null(CheckinChange::Reason, 500))
                    .col(timestamp_with_time_zone(CheckinChange::At))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_checkin_change_list")
                            .from(CheckinChange::Table, CheckinChange::ListId)
                            .to(CheckinList::Table, CheckinList::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_checkin_change_scan")
                    .table(CheckinChange::Table)
                    .col(CheckinChange::ScanId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(CheckinChange::Table).to_owned())
            .await?;
        for column in [
            CheckinScan::Conflict,
            CheckinScan::FirstScannedAt,
            CheckinScan::FirstDevice,
            CheckinScan::Manual,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(CheckinScan::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum CheckinScan {
    Table,
    Conflict,
    FirstScannedAt,
    FirstDevice,
    Manual,
}

#[derive(DeriveIden)]
enum CheckinList {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum CheckinChange {
    Table,
    Id,
    ListId,
    TicketId,
    ScanId,
    Kind,
    ByScanId,
    StaffId,
    Reason,
    At,
}

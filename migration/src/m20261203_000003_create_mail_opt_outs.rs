use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The unsubscribe links of broadcasts: one row per link minted (its token
/// stored only as a hash), marked when its address opted out of the event's
/// broadcasts. Transactional mails (tickets, receipts) always go.
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(MailOptOut::Table)
                    .if_not_exists()
                    .col(string_len(MailOptOut::TokenHash, 64).primary_key())
                    .col(uuid(MailOptOut::EventId))
                    .col(string_len(MailOptOut::Email, 254))
                    .col(timestamp_with_time_zone(MailOptOut::CreatedAt))
                    .col(timestamp_with_time_zone_null(MailOptOut::OptedOutAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_mail_opt_out_event")
                            .from(MailOptOut::Table, MailOptOut::EventId)
                            .to(Event::Table, Event::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_mail_opt_out_event_email")
                    .table(MailOptOut::Table)
                    .col(MailOptOut::EventId)
                    .col(MailOptOut::Email)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(MailOptOut::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum MailOptOut {
    Table,
    TokenHash,
    EventId,
    Email,
    CreatedAt,
    OptedOutAt,
}

#[derive(DeriveIden)]
enum Event {
    Table,
    Id,
}

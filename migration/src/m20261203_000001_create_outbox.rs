use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The outbox: every email (and, later, every outbound webhook) is a row
/// written in the transaction of the change that causes it, then delivered
/// by a worker on any instance. Access links: the tokens that mails carry to
/// reach an order or a single ticket, stored only as hashes. An event's
/// reply-to address for its mails.
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(OutboxMessage::Table)
                    .if_not_exists()
                    .col(pk_uuid(OutboxMessage::Id))
                    .col(string_len(OutboxMessage::Channel, 16))
                    .col(string_len(OutboxMessage::Kind, 32))
                    .col(uuid(OutboxMessage::EventId))
                    .col(uuid_null(OutboxMessage::OrderId))
                    .col(uuid_null(OutboxMessage::TicketId))
                    .col(string_len(OutboxMessage::Recipient, 320))
                    .col(json_binary(OutboxMessage::Data))
                    .col(string_len(OutboxMessage::State, 16))
                    .col(integer(OutboxMessage::Attempts).default(0))
                    .col(timestamp_with_time_zone(OutboxMessage::NextAttemptAt))
                    .col(timestamp_with_time_zone_null(OutboxMessage::FirstAttemptAt))
                    .col(text_null(OutboxMessage::LastError))
                    .col(string_len_null(OutboxMessage::Subject, 300))
                    .col(timestamp_with_time_zone_null(OutboxMessage::SentAt))
                    .col(timestamp_with_time_zone(OutboxMessage::CreatedAt))
                    .col(timestamp_with_time_zone(OutboxMessage::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_outbox_message_event")
                            .from(OutboxMessage::Table, OutboxMessage::EventId)
                            .to(Event::Table, Event::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // The worker's claim: due messages of a channel in a state that waits.
        manager
            .create_index(
                Index::create()
                    .name("idx_outbox_message_due")
                    .table(OutboxMessage::Table)
                    .col(OutboxMessage::Channel)
                    .col(OutboxMessage::State)
                    .col(OutboxMessage::NextAttemptAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_outbox_message_order")
                    .table(OutboxMessage::Table)
                    .col(OutboxMessage::OrderId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(AccessLink::Table)
                    .if_not_exists()
                    .col(string_len(AccessLink::TokenHash, 64).primary_key())
                    .col(uuid(AccessLink::OrderId))
                    .col(uuid_null(AccessLink::TicketId))
                    .col(uuid_null(AccessLink::MessageId))
                    .col(timestamp_with_time_zone(AccessLink::CreatedAt))
                    .col(timestamp_with_time_zone_null(AccessLink::RetiredAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_access_link_order")
                            .from(AccessLink::Table, AccessLink::OrderId)
                            .to(Orders::Table, Orders::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_access_link_order")
                    .table(AccessLink::Table)
                    .col(AccessLink::OrderId)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Event::Table)
                    .add_column(string_len_null(Event::ReplyTo, 254))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Event::Table)
                    .drop_column(Event::ReplyTo)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(AccessLink::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(OutboxMessage::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum OutboxMessage {
    Table,
    Id,
    Channel,
    Kind,
    EventId,
    OrderId,
    TicketId,
    Recipient,
    Data,
    State,
    Attempts,
    NextAttemptAt,
    FirstAttemptAt,
    LastError,
    Subject,
    SentAt,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum AccessLink {
    Table,
    TokenHash,
    OrderId,
    TicketId,
    MessageId,
    CreatedAt,
    RetiredAt,
}

#[derive(DeriveIden)]
enum Event {
    Table,
    Id,
    ReplyTo,
}

#[derive(DeriveIden)]
enum Orders {
    Table,
    Id,
}

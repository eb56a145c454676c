use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Outbound webhooks: the endpoints organizers register (with the events
/// they reach), and on the outbox's rows what a delivery needs and leaves
/// behind (the body as signed, the receiver's status, latency and answer).
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(WebhookEndpoint::Table)
                    .if_not_exists()
                    .col(uuid(WebhookEndpoint::Id).primary_key())
                    .col(string_len(WebhookEndpoint::Url, 2048))
                    .col(string_len(WebhookEndpoint::Description, 500))
                    .col(json_binary(WebhookEndpoint::Types))
                    .col(boolean(WebhookEndpoint::AllEvents))
                    .col(boolean(WebhookEndpoint::Enabled))
                    .col(string_len(WebhookEndpoint::Secret, 100))
                    .col(string_len_null(WebhookEndpoint::PreviousSecret, 100))
                    .col(timestamp_with_time_zone_null(
                        WebhookEndpoint::PreviousSecretUntil,
                    ))
                    .col(timestamp_with_time_zone_null(WebhookEndpoint::FailingSince))
                    .col(timestamp_with_time_zone_null(WebhookEndpoint::DisabledAt))
                    .col(string_len_null(WebhookEndpoint::DisabledReason, 1000))
                    .col(uuid(WebhookEndpoint::CreatedBy))
                    .col(timestamp_with_time_zone(WebhookEndpoint::CreatedAt))
                    .col(timestamp_with_time_zone(WebhookEndpoint::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(WebhookEndpointEvent::Table)
                    .if_not_exists()
                    .col(uuid(WebhookEndpointEvent::EndpointId))
                    .col(uuid(WebhookEndpointEvent::EventId))
                    .primary_key(
                        Index::create()
                            .col(WebhookEndpointEvent::EndpointId)
                            .col(WebhookEndpointEvent::EventId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_webhook_endpoint_event_endpoint")
                            .from(
                                WebhookEndpointEvent::Table,
                                WebhookEndpointEvent::EndpointId,
                            )
                            .to(WebhookEndpoint::Table, WebhookEndpoint::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_webhook_endpoint_event_event")
                            .from(WebhookEndpointEvent::Table, WebhookEndpointEvent::EventId)
                            .to(Event::Table, Event::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_webhook_endpoint_event_event")
                    .table(WebhookEndpointEvent::Table)
                    .col(WebhookEndpointEvent::EventId)
                    .to_owned(),
            )
            .await?;
        // SQLite adds one column per statement.
        for column in [
            text_null(OutboxMessage::Body),
            integer_null(OutboxMessage::StatusCode),
            integer_null(OutboxMessage::LatencyMs),
            text_null(OutboxMessage::Response),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(OutboxMessage::Table)
                        .add_column(column)
                        .to_owned(),
                )
                .await?;
        }
        // An endpoint's deliveries, newest first; and the earlier messages
        // of the same order a webhook waits for.
        manager
            .create_index(
                Index::create()
                    .name("idx_outbox_message_recipient")
                    .table(OutboxMessage::Table)
                    .col(OutboxMessage::Channel)
                    .col(OutboxMessage::Recipient)
                    .col(OutboxMessage::Id)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("idx_outbox_message_recipient")
                    .table(OutboxMessage::Table)
                    .to_owned(),
            )
            .await?;
        for column in [
            OutboxMessage::Body,
            OutboxMessage::StatusCode,
            OutboxMessage::LatencyMs,
            OutboxMessage::Response,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(OutboxMessage::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .drop_table(Table::drop().table(WebhookEndpointEvent::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(WebhookEndpoint::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum WebhookEndpoint {
    Table,
    Id,
    Url,
    Description,
    Types,
    AllEvents,
    Enabled,
    Secret,
    PreviousSecret,
    PreviousSecretUntil,
    FailingSince,
    DisabledAt,
    DisabledReason,
    CreatedBy,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum WebhookEndpointEvent {
    Table,
    EndpointId,
    EventId,
}

#[derive(DeriveIden)]
enum OutboxMessage {
    Table,
    Body,
    StatusCode,
    LatencyMs,
    Response,
    Channel,
    Recipient,
    Id,
}

#[derive(DeriveIden)]
enum Event {
    Table,
    Id,
}

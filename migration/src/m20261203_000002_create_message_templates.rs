use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// An event's own wording of a kind of mail (subject, text and HTML
/// templates), replacing tessera's default for that event until reset.
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(MessageTemplate::Table)
                    .if_not_exists()
                    .col(uuid(MessageTemplate::EventId))
                    .col(string_len(MessageTemplate::Kind, 32))
                    .col(text(MessageTemplate::Subject))
                    .col(text(MessageTemplate::Text))
                    .col(text(MessageTemplate::Html))
                    .col(timestamp_with_time_zone(MessageTemplate::UpdatedAt))
                    .primary_key(
                        Index::create()
                            .col(MessageTemplate::EventId)
                            .col(MessageTemplate::Kind),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_message_template_event")
                            .from(MessageTemplate::Table, MessageTemplate::EventId)
                            .to(Event::Table, Event::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(MessageTemplate::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum MessageTemplate {
    Table,
    EventId,
    Kind,
    Subject,
    Text,
    Html,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Event {
    Table,
    Id,
}

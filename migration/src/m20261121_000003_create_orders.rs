use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Voucher::Table)
                    .if_not_exists()
                    .col(pk_uuid(Voucher::Id))
                    .col(uuid(Voucher::EventId))
                    .col(string_len(Voucher::Code, 64))
                    .col(string_len(Voucher::DiscountKind, 16))
                    .col(big_integer(Voucher::DiscountValue))
                    .col(json_binary(Voucher::AppliesTo))
                    .col(json_binary(Voucher::Unlocks))
                    .col(integer_null(Voucher::UsageLimit))
                    .col(timestamp_with_time_zone_null(Voucher::ValidFrom))
                    .col(timestamp_with_time_zone_null(Voucher::ValidUntil))
                    .col(timestamp_with_time_zone_null(Voucher::ArchivedAt))
                    .col(timestamp_with_time_zone(Voucher::CreatedAt))
                    .col(timestamp_with_time_zone(Voucher::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_voucher_event")
                            .from(Voucher::Table, Voucher::EventId)
                            .to(Event::Table, Event::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_voucher_event_code")
                    .table(Voucher::Table)
                    .col(Voucher::EventId)
                    .col(Voucher::Code)
                    .unique()
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Orders::Table)
                    .if_not_exists()
                    .col(pk_uuid(Orders::Id))
                    .col(uuid(Orders::EventId))
                    .col(string_len_uniq(Orders::Code, 16))
                    .col(string_len(Orders::Email, 254))
                    .col(string_len(Orders::TokenHash, 64))
                    .col(string_len(Orders::State, 16))
                    .col(char_len(Orders::Currency, 3))
                    .col(big_integer(Orders::Subtotal))
                    .col(big_integer(Orders::Discount))
                    .col(big_integer(Orders::Total))
                    .col(integer(Orders::TicketCount))
                    .col(uuid_null(Orders::VoucherId))
                    .col(timestamp_with_time_zone_null(Orders::ExpiresAt))
                    .col(string_len(Orders::ClientKey, 64))
                    .col(text_null(Orders::CompReason))
                    .col(uuid_null(Orders::CreatedByStaff))
                    .col(timestamp_with_time_zone(Orders::CreatedAt))
                    .col(timestamp_with_time_zone(Orders::UpdatedAt))
                    .col(timestamp_with_time_zone_null(Orders::PaidAt))
                    .col(timestamp_with_time_zone_null(Orders::CancelledAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_orders_event")
                            .from(Orders::Table, Orders::EventId)
                            .to(Event::Table, Event::Id)
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_orders_voucher")
                            .from(Orders::Table, Orders::VoucherId)
                            .to(Voucher::Table, Voucher::Id)
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .to_owned(),
            )
            .await?;
        for (name, cols) in [
            (
                "idx_orders_event_state",
                vec![Orders::EventId, Orders::State, Orders::ExpiresAt],
            ),
            (
                "idx_orders_state_expires",
                vec![Orders::State, Orders::ExpiresAt],
            ),
            (
                "idx_orders_event_created",
                vec![Orders::EventId, Orders::CreatedAt, Orders::Id],
            ),
            (
                "idx_orders_event_email",
                vec![Orders::EventId, Orders::Email, Orders::State],
            ),
            (
                "idx_orders_event_client",
                vec![Orders::EventId, Orders::ClientKey, Orders::State],
            ),
        ] {
            let mut index = Index::create();
            index.name(name).table(Orders::Table);
            for col in cols {
                index.col(col);
            }
            manager.create_index(index.to_owned()).await?;
        }

        manager
            .create_table(
                Table::create()
                    .table(Ticket::Table)
                    .if_not_exists()
                    .col(pk_uuid(Ticket::Id))
                    .col(uuid(Ticket::OrderId))
                    .col(uuid(Ticket::EventId))
                    .col(uuid(Ticket::TierId))
                    .col(string_len(Ticket::Status, 16))
                    .col(timestamp_with_time_zone_null(Ticket::HoldExpiresAt))
                    .col(string_len(Ticket::AttendeeName, 200))
                    .col(string_len(Ticket::AttendeeEmail, 254))
                    .col(string_len_null(Ticket::SwagSize, 16))
                    .col(string_len_null(Ticket::SwagCut, 32))
                    .col(string_len_null(Ticket::Dietary, 64))
                    .col(text(Ticket::Notes))
                    .col(big_integer(Ticket::UnitPrice))
                    .col(big_integer(Ticket::Discount))
                    .col(big_integer(Ticket::Price))
                    .col(uuid_null(Ticket::VoucherId))
                    .col(integer(Ticket::TokenVersion).default(1))
                    .col(timestamp_with_time_zone(Ticket::CreatedAt))
                    .col(timestamp_with_time_zone(Ticket::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_ticket_order")
                            .from(Ticket::Table, Ticket::OrderId)
                            .to(Orders::Table, Orders::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_ticket_tier")
                            .from(Ticket::Table, Ticket::TierId)
                            .to(Tier::Table, Tier::Id)
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .to_owned(),
            )
            .await?;
        for (name, cols) in [
            (
                "idx_ticket_inventory",
                vec![
                    Ticket::EventId,
                    Ticket::Status,
                    Ticket::HoldExpiresAt,
                    Ticket::TierId,
                ],
            ),
            ("idx_ticket_order", vec![Ticket::OrderId]),
            (
                "idx_ticket_voucher",
                vec![Ticket::VoucherId, Ticket::Status],
            ),
        ] {
            let mut index = Index::create();
            index.name(name).table(Ticket::Table);
            for col in cols {
                index.col(col);
            }
            manager.create_index(index.to_owned()).await?;
        }

        manager
            .create_table(
                Table::create()
                    .table(IdempotencyKey::Table)
                    .if_not_exists()
                    .col(string_len(IdempotencyKey::Scope, 200))
                    .col(string_len(IdempotencyKey::Key, 200))
                    .col(string_len(IdempotencyKey::RequestHash, 64))
                    .col(integer_null(IdempotencyKey::ResponseStatus))
                    .col(text_null(IdempotencyKey::ResponseBody))
                    .col(timestamp_with_time_zone(IdempotencyKey::CreatedAt))
                    .primary_key(
                        Index::create()
                            .col(IdempotencyKey::Scope)
                            .col(IdempotencyKey::Key),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_idempotency_created")
                    .table(IdempotencyKey::Table)
                    .col(IdempotencyKey::CreatedAt)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(AuditLog::Table)
                    .if_not_exists()
                    .col(pk_uuid(AuditLog::Id))
                    .col(uuid_null(AuditLog::EventId))
                    .col(uuid_null(AuditLog::StaffId))
                    .col(string_len(AuditLog::StaffName, 100))
                    .col(string_len(AuditLog::Action, 64))
                    .col(string_len(AuditLog::Subject, 100))
                    .col(json_binary(AuditLog::Detail))
                    .col(timestamp_with_time_zone(AuditLog::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_audit_event_created")
                    .table(AuditLog::Table)
                    .col(AuditLog::EventId)
                    .col(AuditLog::CreatedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            AuditLog::Table.into_iden(),
            IdempotencyKey::Table.into_iden(),
            Ticket::Table.into_iden(),
            Orders::Table.into_iden(),
            Voucher::Table.into_iden(),
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
enum Tier {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Voucher {
    Table,
    Id,
    EventId,
    Code,
    DiscountKind,
    DiscountValue,
    AppliesTo,
    Unlocks,
    UsageLimit,
    ValidFrom,
    ValidUntil,
    ArchivedAt,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Orders {
    Table,
    Id,
    EventId,
    Code,
    Email,
    TokenHash,
    State,
    Currency,
    Subtotal,
    Discount,
    Total,
    TicketCount,
    VoucherId,
    ExpiresAt,
    ClientKey,
    CompReason,
    CreatedByStaff,
    CreatedAt,
    UpdatedAt,
    PaidAt,
    CancelledAt,
}

#[derive(DeriveIden)]
enum Ticket {
    Table,
    Id,
    OrderId,
    EventId,
    TierId,
    Status,
    HoldExpiresAt,
    AttendeeName,
    AttendeeEmail,
    SwagSize,
    SwagCut,
    Dietary,
    Notes,
    UnitPrice,
    Discount,
    Price,
    VoucherId,
    TokenVersion,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum IdempotencyKey {
    Table,
    Scope,
    Key,
    RequestHash,
    ResponseStatus,
    ResponseBody,
    CreatedAt,
}

#[derive(DeriveIden)]
enum AuditLog {
    Table,
    Id,
    EventId,
    StaffId,
    StaffName,
    Action,
    Subject,
    Detail,
    CreatedAt,
}

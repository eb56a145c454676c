use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Payment columns on orders, refunds, and the Stripe events applied.
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds one column per statement.
        let columns = [
            string_len_null(Orders::PaymentIntentId, 255),
            string_len_null(Orders::CheckoutSessionId, 255),
            string_len_null(Orders::ChargeId, 255),
            big_integer(Orders::AmountPaid).default(0).to_owned(),
            big_integer(Orders::AmountRefunded).default(0).to_owned(),
            string_len_null(Orders::PaymentError, 500),
            string_len_null(Orders::Flag, 32),
            string_len_null(Orders::FlagDetail, 500),
            timestamp_with_time_zone_null(Orders::DisputedAt),
        ];
        for column in columns {
            manager
                .alter_table(
                    Table::alter()
                        .table(Orders::Table)
                        .add_column(column)
                        .to_owned(),
                )
                .await?;
        }
        for (name, column) in [
            ("idx_orders_payment_intent", Orders::PaymentIntentId),
            ("idx_orders_checkout_session", Orders::CheckoutSessionId),
            ("idx_orders_charge", Orders::ChargeId),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(Orders::Table)
                        .col(column)
                        .to_owned(),
                )
                .await?;
        }

        manager
            .create_table(
                Table::create()
                    .table(Refund::Table)
                    .if_not_exists()
                    .col(pk_uuid(Refund::Id))
                    .col(uuid(Refund::OrderId))
                    .col(string_len_null(Refund::StripeRefundId, 255).unique_key())
                    .col(big_integer(Refund::Amount))
                    .col(string_len(Refund::Currency, 3))
                    .col(string_len(Refund::Reason, 500))
                    .col(string_len(Refund::Status, 16))
                    .col(string_len(Refund::Source, 16))
                    .col(json_binary(Refund::TicketIds))
                    .col(uuid_null(Refund::StaffId))
                    .col(string_len_null(Refund::Failure, 500))
                    .col(timestamp_with_time_zone(Refund::CreatedAt))
                    .col(timestamp_with_time_zone(Refund::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_refund_order")
                            .from(Refund::Table, Refund::OrderId)
                            .to(Orders::Table, Orders::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_refund_order")
                    .table(Refund::Table)
                    .col(Refund::OrderId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_refund_status")
                    .table(Refund::Table)
                    .col(Refund::Status)
                    .col(Refund::UpdatedAt)
                    .to_owned(),
            )
            .await?;

        // One row per Stripe event applied; the primary key makes a
        // redelivered event a no-op.
        manager
            .create_table(
                Table::create()
                    .table(StripeEvent::Table)
                    .if_not_exists()
                    .col(string_len(StripeEvent::Id, 255).primary_key())
                    .col(string_len(StripeEvent::EventType, 100))
                    .col(uuid_null(StripeEvent::OrderId))
                    .col(string_len(StripeEvent::Outcome, 500))
                    .col(timestamp_with_time_zone(StripeEvent::ReceivedAt))
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [StripeEvent::Table.into_iden(), Refund::Table.into_iden()] {
            manager
                .drop_table(Table::drop().table(table).if_exists().to_owned())
                .await?;
        }
        for name in [
            "idx_orders_payment_intent",
            "idx_orders_checkout_session",
            "idx_orders_charge",
        ] {
            manager
                .drop_index(Index::drop().name(name).table(Orders::Table).to_owned())
                .await?;
        }
        for column in [
            Orders::PaymentIntentId,
            Orders::CheckoutSessionId,
            Orders::ChargeId,
            Orders::AmountPaid,
            Orders::AmountRefunded,
            Orders::PaymentError,
            Orders::Flag,
            Orders::FlagDetail,
            Orders::DisputedAt,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Orders::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum Orders {
    Table,
    Id,
    PaymentIntentId,
    CheckoutSessionId,
    ChargeId,
    AmountPaid,
    AmountRefunded,
    PaymentError,
    Flag,
    FlagDetail,
    DisputedAt,
}

#[derive(DeriveIden)]
enum Refund {
    Table,
    Id,
    OrderId,
    StripeRefundId,
    Amount,
    Currency,
    Reason,
    Status,
    Source,
    TicketIds,
    StaffId,
    Failure,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum StripeEvent {
    Table,
    Id,
    EventType,
    OrderId,
    Outcome,
    ReceivedAt,
}

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// An `Idempotency-Key` claim holds a lease: when the request that claimed it
/// dies (the process crashed), a retry takes the claim over once the lease
/// has run out. Orders and refunds remember the key they were made under, so
/// the retry finds what the dead request already made instead of making it
/// twice.
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(IdempotencyKey::Table)
                    .add_column(timestamp_with_time_zone_null(IdempotencyKey::LockedUntil))
                    .to_owned(),
            )
            .await?;
        for (table, index) in [
            (Alias::new("orders"), "idx_orders_idempotency_ref"),
            (Alias::new("refund"), "idx_refund_idempotency_ref"),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(table.clone())
                        .add_column(string_len_null(Reference::IdempotencyRef, 64))
                        .to_owned(),
                )
                .await?;
            manager
                .create_index(
                    Index::create()
                        .name(index)
                        .table(table)
                        .col(Reference::IdempotencyRef)
                        .unique()
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (table, index) in [
            (Alias::new("orders"), "idx_orders_idempotency_ref"),
            (Alias::new("refund"), "idx_refund_idempotency_ref"),
        ] {
            manager
                .drop_index(Index::drop().name(index).table(table.clone()).to_owned())
                .await?;
            manager
                .alter_table(
                    Table::alter()
                        .table(table)
                        .drop_column(Reference::IdempotencyRef)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(IdempotencyKey::Table)
                    .drop_column(IdempotencyKey::LockedUntil)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum IdempotencyKey {
    Table,
    LockedUntil,
}

#[derive(DeriveIden)]
enum Reference {
    IdempotencyRef,
}

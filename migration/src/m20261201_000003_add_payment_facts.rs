use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// What Stripe said happened, kept as facts on the order so its state can be
/// derived from them whatever order the events arrive in: the charge's
/// refunded total (it only grows) and the dispute's latest status.
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds one column per statement.
        for column in [
            big_integer(Orders::ChargeRefunded).default(0).to_owned(),
            string_len_null(Orders::DisputeId, 255),
            string_len_null(Orders::DisputeStatus, 32),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Orders::Table)
                        .add_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [
            Orders::ChargeRefunded,
            Orders::DisputeId,
            Orders::DisputeStatus,
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
    ChargeRefunded,
    DisputeId,
    DisputeStatus,
}

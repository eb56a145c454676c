use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The most tickets of a tier one buyer email may have across their live
/// orders (none: no limit), so one person cannot empty a free tier in many
/// small orders.
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Tier::Table)
                    .add_column(integer_null(Tier::MaxPerBuyer))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Tier::Table)
                    .drop_column(Tier::MaxPerBuyer)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum Tier {
    Table,
    MaxPerBuyer,
}

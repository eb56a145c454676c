use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// "All events" becomes an explicit property of a staff token instead of the
/// absence of scope rows, so a token whose events are deleted reaches
/// nothing rather than everything. Tokens in place keep their meaning: those
/// without scope rows (and every admin) become all-events tokens, those with
/// rows stay scoped to them.
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(StaffToken::Table)
                    .add_column(boolean(StaffToken::AllEvents).default(false))
                    .to_owned(),
            )
            .await?;
        let unscoped = Query::select()
            .expr(Expr::val(1))
            .from(StaffTokenEvent::Table)
            .and_where(
                Expr::col((StaffTokenEvent::Table, StaffTokenEvent::TokenId))
                    .equals((StaffToken::Table, StaffToken::Id)),
            )
            .to_owned();
        manager
            .exec_stmt(
                Query::update()
                    .table(StaffToken::Table)
                    .value(StaffToken::AllEvents, true)
                    .cond_where(
                        Cond::any()
                            .add(Expr::col(StaffToken::Role).eq("admin"))
                            .add(Expr::exists(unscoped).not()),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(StaffToken::Table)
                    .drop_column(StaffToken::AllEvents)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum StaffToken {
    Table,
    Id,
    Role,
    AllEvents,
}

#[derive(DeriveIden)]
enum StaffTokenEvent {
    Table,
    TokenId,
}

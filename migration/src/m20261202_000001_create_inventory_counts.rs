use std::collections::BTreeMap;

use sea_orm_migration::{prelude::*, schema::*, sea_orm::ConnectionTrait};
use uuid::Uuid;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Counters of the tickets each event, tier, swag size and cut and voucher
/// has claimed (status `held` or `valid`), so that judging a placement no
/// longer counts the event's tickets. Filled here from the tickets already
/// sold; from now on every change of a ticket's status keeps them, in the
/// same transaction.
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(InventoryCount::Table)
                    .if_not_exists()
                    .col(uuid(InventoryCount::EventId))
                    .col(string_len(InventoryCount::Scope, 8))
                    .col(string_len(InventoryCount::Key, 200))
                    .col(big_integer(InventoryCount::Claimed).default(0))
                    .primary_key(
                        Index::create()
                            .col(InventoryCount::EventId)
                            .col(InventoryCount::Scope)
                            .col(InventoryCount::Key),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_inventory_count_event")
                            .from(InventoryCount::Table, InventoryCount::EventId)
                            .to(Event::Table, Event::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        backfill(manager).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(InventoryCount::Table).to_owned())
            .await
    }
}

/// Counts the claimed tickets as they are now. The keys are written as
/// `domain::inventory::counts` writes them at the time of this migration:
/// the id for tiers and vouchers, `size` + U+001F + `cut` lower-cased for
/// swag, empty for the event.
async fn backfill(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    let db = manager.get_connection();
    let select = Query::select()
        .columns([
            Ticket::EventId,
            Ticket::TierId,
            Ticket::SwagSize,
            Ticket::SwagCut,
            Ticket::VoucherId,
        ])
        .expr_as(Expr::col(Ticket::Id).count(), Alias::new("n"))
        .from(Ticket::Table)
        .and_where(Expr::col(Ticket::Status).is_in(["held", "valid"]))
        .group_by_columns([
            Ticket::EventId,
            Ticket::TierId,
            Ticket::SwagSize,
            Ticket::SwagCut,
            Ticket::VoucherId,
        ])
        .to_owned();
    let mut counts: BTreeMap<(Uuid, &str, String), i64> = BTreeMap::new();
    for row in db.query_all(&select).await? {
        let event: Uuid = row.try_get("", "event_id")?;
        let tier: Uuid = row.try_get("", "tier_id")?;
        let size: Option<String> = row.try_get("", "swag_size")?;
        let cut: Option<String> = row.try_get("", "swag_cut")?;
        let voucher: Option<Uuid> = row.try_get("", "voucher_id")?;
        let n: i64 = row.try_get("", "n")?;
        *counts.entry((event, "event", String::new())).or_default() += n;
        *counts.entry((event, "tier", tier.to_string())).or_default() += n;
        if let Some(size) = size {
            let key = format!(
                "{}\u{1f}{}",
                size.to_lowercase(),
                cut.unwrap_or_default().to_lowercase()
            );
            *counts.entry((event, "swag", key)).or_default() += n;
        }
        if let Some(voucher) = voucher {
            *counts
                .entry((event, "voucher", voucher.to_string()))
                .or_default() += n;
        }
    }
    let rows: Vec<_> = counts.into_iter().collect();
    for chunk in rows.chunks(500) {
        let mut insert = Query::insert();
        insert.into_table(InventoryCount::Table).columns([
            InventoryCount::EventId,
            InventoryCount::Scope,
            InventoryCount::Key,
            InventoryCount::Claimed,
        ]);
        for ((event, scope, key), n) in chunk {
            insert.values_panic([
                (*event).into(),
                (*scope).into(),
                key.clone().into(),
                (*n).into(),
            ]);
        }
        db.execute(&insert).await?;
    }
    Ok(())
}

#[derive(DeriveIden)]
enum InventoryCount {
    Table,
    EventId,
    Scope,
    Key,
    Claimed,
}

#[derive(DeriveIden)]
enum Event {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Ticket {
    Table,
    Id,
    EventId,
    TierId,
    Status,
    SwagSize,
    SwagCut,
    VoucherId,
}

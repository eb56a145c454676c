use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// A held ticket always has the end of its hold: only a placement makes a
/// ticket `held`, with its order's `expires_at`, and every move out of
/// `held` clears it. The database now refuses a row that breaks this, so a
/// query for the held tickets whose hold has ended can be a plain range on
/// `hold_expires_at` (which the `idx_ticket_inventory` index serves) with
/// no `IS NULL` branch beside it, which made PostgreSQL walk every held
/// ticket of the event instead.
///
/// PostgreSQL checks it with a `CHECK` constraint; SQLite cannot add one to
/// an existing table, so two triggers refuse such a row there.
const CHECK: &str = "status <> 'held' OR hold_expires_at IS NOT NULL";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        match manager.get_database_backend() {
            sea_orm::DatabaseBackend::Postgres => {
                db.execute_unprepared(&format!(
                    "ALTER TABLE ticket ADD CONSTRAINT ticket_held_has_an_end CHECK ({CHECK})"
                ))
                .await?;
            }
            _ => {
                for (name, event) in [
                    ("ticket_held_has_an_end_insert", "INSERT"),
                    ("ticket_held_has_an_end_update", "UPDATE"),
                ] {
                    db.execute_unprepared(&format!(
                        "CREATE TRIGGER IF NOT EXISTS {name} BEFORE {event} ON ticket \
                         WHEN NEW.status = 'held' AND NEW.hold_expires_at IS NULL \
                         BEGIN SELECT RAISE(ABORT, 'a held ticket needs the end of its hold'); END"
                    ))
                    .await?;
                }
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        match manager.get_database_backend() {
            sea_orm::DatabaseBackend::Postgres => {
                db.execute_unprepared(
                    "ALTER TABLE ticket DROP CONSTRAINT IF EXISTS ticket_held_has_an_end",
                )
                .await?;
            }
            _ => {
                for name in [
                    "ticket_held_has_an_end_insert",
                    "ticket_held_has_an_end_update",
                ] {
                    db.execute_unprepared(&format!("DROP TRIGGER IF EXISTS {name}"))
                        .await?;
                }
            }
        }
        Ok(())
    }
}

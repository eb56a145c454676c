use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The rows of the outbox a webhook worker looks for: webhooks not yet
/// settled. Both indexes hold only those rows (a partial index), so a claim
/// walks an endpoint's queue in due order and checks "an earlier message
/// about this order is still waiting" with one probe, however many
/// messages the outbox has settled or holds for other endpoints.
///
/// A query uses them only when its `WHERE` repeats [`WEBHOOK_WAITING`]
/// word for word, with its values written out (not bound), so that
/// PostgreSQL and SQLite can both see that the query's rows are in the
/// index.
pub const WEBHOOK_WAITING: &str =
    "channel = 'webhook' AND state IN ('queued', 'retrying', 'not_sent')";

const INDEXES: [(&str, &str); 2] = [
    // An endpoint's queue, in the order it is claimed.
    ("idx_outbox_webhook_due", "recipient, next_attempt_at, id"),
    // An endpoint's waiting messages about one order, oldest first.
    ("idx_outbox_webhook_order", "recipient, order_id, id"),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for (name, columns) in INDEXES {
            db.execute_unprepared(&format!(
                "CREATE INDEX IF NOT EXISTS {name} ON outbox_message ({columns}) \
                 WHERE {WEBHOOK_WAITING}"
            ))
            .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for (name, _) in INDEXES {
            db.execute_unprepared(&format!("DROP INDEX IF EXISTS {name}"))
                .await?;
        }
        Ok(())
    }
}

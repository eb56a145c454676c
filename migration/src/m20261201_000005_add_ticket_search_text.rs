use sea_orm_migration::{prelude::*, sea_orm::DatabaseBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// A ticket's attendee name and email, lowercased into one column the
/// database keeps itself (a generated column: no code path can forget it),
/// so finding an attendee by part of either is one `LIKE` over one column
/// per ticket instead of two `lower()` calls and two comparisons. The
/// newline keeps a pattern from matching across the name and the email.
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let sql = match manager.get_database_backend() {
            DatabaseBackend::Postgres => {
                "ALTER TABLE ticket ADD COLUMN search_text text GENERATED ALWAYS AS \
                 (lower(attendee_name || chr(10) || attendee_email)) STORED"
            }
            // SQLite adds only virtual generated columns to an existing table.
            _ => {
                "ALTER TABLE ticket ADD COLUMN search_text TEXT GENERATED ALWAYS AS \
                 (lower(attendee_name || char(10) || attendee_email)) VIRTUAL"
            }
        };
        manager.get_connection().execute_unprepared(sql).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("ALTER TABLE ticket DROP COLUMN search_text")
            .await?;
        Ok(())
    }
}

//! The audit log: who did what to which order.

use entity::audit_log;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect, Set,
};
use uuid::Uuid;

use super::{
    DomainError, events, now,
    page::{self, Page, TimeCursor},
    staff::Staff,
};

/// Records an action by a member of staff, inside the caller's transaction so
/// the record exists exactly when the change does.
pub async fn record(
    db: &impl ConnectionTrait,
    staff: &Staff,
    event_id: Uuid,
    action: &str,
    subject: &str,
    detail: serde_json::Value,
) -> Result<(), DomainError> {
    audit_log::ActiveModel {
        id: Set(Uuid::now_v7()),
        event_id: Set(Some(event_id)),
        staff_id: Set(Some(staff.id)),
        staff_name: Set(staff.name.chars().take(100).collect()),
        action: Set(action.to_owned()),
        subject: Set(subject.to_owned()),
        detail: Set(detail),
        created_at: Set(now()),
    }
    .insert(db)
    .await?;
    Ok(())
}

/// An event's audit log, newest first.
pub async fn list(
    db: &DatabaseConnection,
    staff: &Staff,
    slug: &str,
    cursor: Option<&str>,
    limit: Option<u64>,
) -> Result<Page<audit_log::Model>, DomainError> {
    let event = events::find_managed(db, staff, slug).await?;
    let limit = page::limit(limit)?;
    let mut query = audit_log::Entity::find().filter(audit_log::Column::EventId.eq(event.id));
    if let Some(cursor) = cursor {
        let cursor = TimeCursor::decode(cursor)?;
        query = query.filter(
            Condition::any()
                .add(audit_log::Column::CreatedAt.lt(cursor.at))
                .add(
                    Condition::all()
                        .add(audit_log::Column::CreatedAt.eq(cursor.at))
                        .add(audit_log::Column::Id.lt(cursor.id)),
                ),
        );
    }
    let rows = query
        .order_by_desc(audit_log::Column::CreatedAt)
        .order_by_desc(audit_log::Column::Id)
        .limit(limit + 1)
        .all(db)
        .await?;
    Ok(page::paginate(rows, limit, |row| TimeCursor {
        at: row.created_at,
        id: row.id,
    }))
}

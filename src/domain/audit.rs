//! The audit log: who did what to which order.

use entity::audit_log;
use sea_orm::{ActiveModelTrait, ConnectionTrait, Set};
use uuid::Uuid;

use super::{DomainError, now, staff::Staff};

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

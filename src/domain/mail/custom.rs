//! An event's own wording of its mails: organizers override the subject,
//! text and HTML of a kind of mail, preview a rendering with sample data,
//! and reset to the default. A template that does not render is refused
//! when saved, never found out when a mail is sent.

use chrono::{DateTime, Utc};
use entity::{
    message_template,
    state::{MessageChannel, MessageKind},
};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, Set,
    sea_query::OnConflict,
};
use uuid::Uuid;

use super::{Custom, Rendered, context::sample, default_of, render};
use crate::domain::{
    DomainError, audit, events::find_managed, now, staff::Staff, validation::FieldErrors,
};

/// The longest template sources accepted, in bytes.
const MAX_SUBJECT: usize = 1_000;
const MAX_TEXT: usize = 100_000;
const MAX_HTML: usize = 200_000;

/// A kind's templates for an event as they are in force.
#[derive(Debug, Clone)]
pub struct InForce {
    pub kind: MessageKind,
    pub templates: Custom,
    /// Whether they are the event's own (otherwise the defaults).
    pub custom: bool,
    pub updated_at: Option<DateTime<Utc>>,
}

/// The event's own templates for `kind`, if it has them.
pub async fn of<C: ConnectionTrait>(
    db: &C,
    event_id: Uuid,
    kind: MessageKind,
) -> Result<Option<Custom>, DbErr> {
    Ok(message_template::Entity::find_by_id((event_id, kind))
        .one(db)
        .await?
        .map(|row| Custom {
            subject: row.subject,
            text: row.text,
            html: row.html,
        }))
}

fn in_force(kind: MessageKind, row: Option<message_template::Model>) -> InForce {
    match row {
        Some(row) => InForce {
            kind,
            custom: true,
            updated_at: Some(row.updated_at),
            templates: Custom {
                subject: row.subject,
                text: row.text,
                html: row.html,
            },
        },
        None => InForce {
            kind,
            custom: false,
            updated_at: None,
            templates: default_of(kind),
        },
    }
}

/// Webhooks share the outbox's kinds but have no templates.
fn mail_kind(kind: MessageKind) -> Result<(), DomainError> {
    match kind.channel() {
        MessageChannel::Email => Ok(()),
        MessageChannel::Webhook => Err(DomainError::NotFound("mail kind")),
    }
}

/// Every kind of mail with the templates in force for the event.
pub async fn list(
    db: &DatabaseConnection,
    staff: &Staff,
    slug: &str,
) -> Result<Vec<InForce>, DomainError> {
    let event = find_managed(db, staff, slug).await?;
    let rows = message_template::Entity::find()
        .filter(message_template::Column::EventId.eq(event.id))
        .all(db)
        .await?;
    Ok(MessageKind::ALL
        .iter()
        .filter(|kind| kind.channel() == MessageChannel::Email)
        .map(|&kind| in_force(kind, rows.iter().find(|r| r.kind == kind).cloned()))
        .collect())
}

/// Renders `templates` with sample data in the event's frame; every part
/// that does not render (or is empty, or too long) is named.
fn check(
    event: &entity::event::Model,
    kind: MessageKind,
    templates: &Custom,
) -> Result<Rendered, FieldErrors> {
    let mut errors = FieldErrors::new();
    for (field, source, max) in [
        ("subject", &templates.subject, MAX_SUBJECT),
        ("text", &templates.text, MAX_TEXT),
        ("html", &templates.html, MAX_HTML),
    ] {
        if source.trim().is_empty() {
            errors.add(field, "required", "must not be empty");
        } else if source.len() > max {
            errors.add(field, "too_long", format!("must be at most {max} bytes"));
        }
    }
    errors.finish(())?;
    match render(kind, &sample(event), Some(templates)) {
        Ok(rendered) if rendered.subject.is_empty() => Err(FieldErrors::single(
            "subject",
            "template_invalid",
            "renders as an empty subject",
        )),
        Ok(rendered) => Ok(rendered),
        Err(err) => Err(FieldErrors::single(
            err.part,
            "template_invalid",
            err.detail,
        )),
    }
}

/// Saves the event's own templates for `kind` once they render. Audited.
pub async fn save(
    db: &DatabaseConnection,
    staff: &Staff,
    slug: &str,
    kind: MessageKind,
    templates: Custom,
) -> Result<InForce, DomainError> {
    let event = find_managed(db, staff, slug).await?;
    mail_kind(kind)?;
    check(&event, kind, &templates)?;
    let at = now();
    let row = message_template::ActiveModel {
        event_id: Set(event.id),
        kind: Set(kind),
        subject: Set(templates.subject),
        text: Set(templates.text),
        html: Set(templates.html),
        updated_at: Set(at),
    };
    message_template::Entity::insert(row)
        .on_conflict(
            OnConflict::columns([
                message_template::Column::EventId,
                message_template::Column::Kind,
            ])
            .update_columns([
                message_template::Column::Subject,
                message_template::Column::Text,
                message_template::Column::Html,
                message_template::Column::UpdatedAt,
            ])
            .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    audit::record(
        db,
        staff,
        event.id,
        "template.updated",
        kind.as_str(),
        serde_json::json!({}),
    )
    .await?;
    let row = message_template::Entity::find_by_id((event.id, kind))
        .one(db)
        .await?;
    Ok(in_force(kind, row))
}

/// Goes back to the default templates for `kind`. Audited.
pub async fn reset(
    db: &DatabaseConnection,
    staff: &Staff,
    slug: &str,
    kind: MessageKind,
) -> Result<InForce, DomainError> {
    let event = find_managed(db, staff, slug).await?;
    mail_kind(kind)?;
    let deleted = message_template::Entity::delete_by_id((event.id, kind))
        .exec(db)
        .await?
        .rows_affected;
    if deleted > 0 {
        audit::record(
            db,
            staff,
            event.id,
            "template.reset",
            kind.as_str(),
            serde_json::json!({}),
        )
        .await?;
    }
    Ok(in_force(kind, None))
}

/// Parts of templates to preview; a part left out is the one in force.
#[derive(Debug, Clone, Default)]
pub struct Draft {
    pub subject: Option<String>,
    pub text: Option<String>,
    pub html: Option<String>,
}

/// Renders templates (a draft over those in force) with sample data, or
/// names what does not render.
pub async fn preview(
    db: &DatabaseConnection,
    staff: &Staff,
    slug: &str,
    kind: MessageKind,
    draft: Draft,
) -> Result<Rendered, DomainError> {
    let event = find_managed(db, staff, slug).await?;
    mail_kind(kind)?;
    let current = of(db, event.id, kind)
        .await?
        .unwrap_or_else(|| default_of(kind));
    let templates = Custom {
        subject: draft.subject.unwrap_or(current.subject),
        text: draft.text.unwrap_or(current.text),
        html: draft.html.unwrap_or(current.html),
    };
    Ok(check(&event, kind, &templates)?)
}

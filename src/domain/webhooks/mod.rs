//! Outbound webhooks: organizers register endpoints (a URL, the types of
//! message it takes, the events it reaches); every change a type names
//! writes one outbox message per endpoint that wants it, in the change's own
//! transaction (`announce`). The service's webhook worker signs them per
//! Standard Webhooks and delivers them (`jobs::webhooks`).
//!
//! Who manages an endpoint: admins every one; an organizer those whose
//! events it organizes all of ([`Staff::spans`]), so an organizer of one
//! conference neither sees nor makes endpoints of another.

pub mod guard;
pub mod signing;

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use entity::{
    event, outbox_message,
    state::{MessageChannel, MessageState, WebhookType},
    webhook_endpoint, webhook_endpoint_event,
};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, DbErr,
    EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set, TransactionTrait,
    sea_query::{Expr, ExprTrait},
};
use uuid::Uuid;

use super::{
    DomainError, clip, events, now,
    outbox::{self, Outgoing},
    page::{self, Page, TimeCursor},
    staff::{Scope, Staff},
    validation::FieldErrors,
};
pub use guard::Reach;

/// Most endpoints one deployment keeps.
const MAX_ENDPOINTS: u64 = 100;
/// The longest a rotated-out secret keeps signing.
pub const MAX_GRACE: Duration = Duration::days(7);
/// An endpoint whose every attempt failed for this long is disabled.
pub const DISABLE_AFTER: Duration = Duration::days(3);

/// An endpoint as its owners see it (never its secret).
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub id: Uuid,
    pub url: String,
    pub description: String,
    pub types: Vec<WebhookType>,
    /// `None`: every event, present and future.
    pub event_slugs: Option<Vec<String>>,
    pub enabled: bool,
    pub disabled_at: Option<DateTime<Utc>>,
    pub disabled_reason: Option<String>,
    pub failing_since: Option<DateTime<Utc>>,
    /// Until when the secret before the last rotation still signs.
    pub previous_secret_until: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// An endpoint with its signing secret: the answer to registering it or
/// rotating its secret, the only times the secret is shown.
#[derive(Debug, Clone)]
pub struct WithSecret {
    pub endpoint: Endpoint,
    pub secret: String,
}

/// A new endpoint.
#[derive(Debug, Clone)]
pub struct NewEndpoint {
    pub url: String,
    pub types: Vec<WebhookType>,
    /// `None`: every event (admins and organizers of every event only).
    pub event_slugs: Option<Vec<String>>,
    pub description: Option<String>,
}

/// Changes to an endpoint; `None` keeps a value.
#[derive(Debug, Clone, Default)]
pub struct EndpointPatch {
    pub url: Option<String>,
    pub types: Option<Vec<WebhookType>>,
    /// `Some(None)`: every event.
    pub event_slugs: Option<Option<Vec<String>>>,
    pub description: Option<String>,
    /// `false` disables it (its waiting messages are dropped); `true`
    /// enables it again and forgets why it was disabled.
    pub enabled: Option<bool>,
}

/// Registers an endpoint within what `staff` spans; answers it with its
/// secret, shown this once.
pub async fn create(
    db: &DatabaseConnection,
    staff: &Staff,
    reach: Reach,
    input: NewEndpoint,
) -> Result<WithSecret, DomainError> {
    staff.require_organizer()?;
    let mut errors = FieldErrors::new();
    let url = checked_url(&input.url, reach, &mut errors).await;
    let types = checked_types(&input.types, &mut errors);
    let description = errors.text(
        "description",
        input.description.as_deref().unwrap_or_default(),
        0,
        500,
        false,
    );
    let scope = scope_asked(db, staff, input.event_slugs.as_deref(), &mut errors).await?;
    errors.finish(())?;
    require_spans(staff, &scope)?;
    if webhook_endpoint::Entity::find().count(db).await? >= MAX_ENDPOINTS {
        return Err(DomainError::conflict(
            "too_many_endpoints",
            format!("at most {MAX_ENDPOINTS} webhook endpoints; delete one first"),
        ));
    }
    let secret = signing::new_secret()?;
    let at = now();
    let id = Uuid::now_v7();
    let txn = db.begin().await?;
    let model = webhook_endpoint::ActiveModel {
        id: Set(id),
        url: Set(url),
        description: Set(description),
        types: Set(types_json(&types)),
        all_events: Set(scope == Scope::AllEvents),
        enabled: Set(true),
        secret: Set(secret.clone()),
        previous_secret: Set(None),
        previous_secret_until: Set(None),
        failing_since: Set(None),
        disabled_at: Set(None),
        disabled_reason: Set(None),
        created_by: Set(staff.id),
        created_at: Set(at),
        updated_at: Set(at),
    }
    .insert(&txn)
    .await?;
    set_events(&txn, id, &scope).await?;
    txn.commit().await?;
    tracing::info!(endpoint = %id, by = %staff.id, "webhook endpoint registered");
    Ok(WithSecret {
        endpoint: view(db, model).await?,
        secret,
    })
}

/// The endpoints `staff` manages, oldest first.
pub async fn list(db: &DatabaseConnection, staff: &Staff) -> Result<Vec<Endpoint>, DomainError> {
    staff.require_organizer()?;
    let models = webhook_endpoint::Entity::find()
        .order_by_asc(webhook_endpoint::Column::Id)
        .all(db)
        .await?;
    let scopes = scopes_of(db, &models).await?;
    let mut out = Vec::new();
    for model in models {
        let scope = scopes
            .get(&model.id)
            .cloned()
            .unwrap_or(Scope::Events(vec![]));
        if staff.spans(&scope) {
            out.push(view_with(db, model, &scope).await?);
        }
    }
    Ok(out)
}

/// One endpoint `staff` manages (others are not found).
pub async fn get(
    db: &DatabaseConnection,
    staff: &Staff,
    id: Uuid,
) -> Result<Endpoint, DomainError> {
    let (model, scope) = managed(db, staff, id).await?;
    view_with(db, model, &scope).await
}

/// Changes an endpoint; its new scope, too, must be within `staff`'s.
pub async fn update(
    db: &DatabaseConnection,
    staff: &Staff,
    reach: Reach,
    id: Uuid,
    patch: EndpointPatch,
) -> Result<Endpoint, DomainError> {
    let (model, scope) = managed(db, staff, id).await?;
    let mut errors = FieldErrors::new();
    let url = match &patch.url {
        Some(url) => Some(checked_url(url, reach, &mut errors).await),
        None => None,
    };
    let types = patch
        .types
        .as_ref()
        .map(|types| checked_types(types, &mut errors));
    let description = patch
        .description
        .as_deref()
        .map(|d| errors.text("description", d, 0, 500, false));
    let new_scope = match &patch.event_slugs {
        Some(slugs) => Some(scope_asked(db, staff, slugs.as_deref(), &mut errors).await?),
        None => None,
    };
    errors.finish(())?;
    if let Some(scope) = &new_scope {
        require_spans(staff, scope)?;
    }
    let at = now();
    let txn = db.begin().await?;
    let mut active: webhook_endpoint::ActiveModel = model.clone().into();
    if let Some(url) = url {
        active.url = Set(url);
    }
    if let Some(types) = types {
        active.types = Set(types_json(&types));
    }
    if let Some(description) = description {
        active.description = Set(description);
    }
    match patch.enabled {
        Some(true) if !model.enabled => {
            active.enabled = Set(true);
            active.disabled_at = Set(None);
            active.disabled_reason = Set(None);
            active.failing_since = Set(None);
        }
        Some(false) if model.enabled => {
            active.enabled = Set(false);
            active.disabled_at = Set(Some(at));
            active.disabled_reason = Set(Some("disabled by its owner".to_owned()));
            drop_waiting(&txn, id, "its endpoint was disabled", at).await?;
        }
        _ => {}
    }
    if let Some(scope) = &new_scope {
        active.all_events = Set(*scope == Scope::AllEvents);
        webhook_endpoint_event::Entity::delete_many()
            .filter(webhook_endpoint_event::Column::EndpointId.eq(id))
            .exec(&txn)
            .await?;
        set_events(&txn, id, scope).await?;
    }
    active.updated_at = Set(at);
    let model = active.update(&txn).await?;
    txn.commit().await?;
    let scope = new_scope.unwrap_or(scope);
    view_with(db, model, &scope).await
}

/// Deletes an endpoint and its delivery log; messages not yet delivered
/// are dropped.
pub async fn delete(db: &DatabaseConnection, staff: &Staff, id: Uuid) -> Result<(), DomainError> {
    managed(db, staff, id).await?;
    let txn = db.begin().await?;
    outbox_message::Entity::delete_many()
        .filter(outbox_message::Column::Channel.eq(MessageChannel::Webhook))
        .filter(outbox_message::Column::Recipient.eq(id.to_string()))
        .exec(&txn)
        .await?;
    webhook_endpoint::Entity::delete_by_id(id)
        .exec(&txn)
        .await?;
    txn.commit().await?;
    tracing::info!(endpoint = %id, by = %staff.id, "webhook endpoint deleted");
    Ok(())
}

/// Gives an endpoint a new secret; the old one keeps signing beside it for
/// `grace_seconds` (at most [`MAX_GRACE`]), so receivers can switch without
/// missing a message. Answers the new secret, shown this once.
pub async fn rotate(
    db: &DatabaseConnection,
    staff: &Staff,
    id: Uuid,
    grace_seconds: i64,
) -> Result<WithSecret, DomainError> {
    let (model, scope) = managed(db, staff, id).await?;
    // The range is checked on the number before it becomes a duration: a
    // duration cannot hold every i64 of seconds.
    if !(0..=MAX_GRACE.num_seconds()).contains(&grace_seconds) {
        return Err(FieldErrors::single(
            "grace_seconds",
            "out_of_range",
            format!("must be between 0 and {}", MAX_GRACE.num_seconds()),
        )
        .into());
    }
    let grace = Duration::seconds(grace_seconds);
    let secret = signing::new_secret()?;
    let at = now();
    let mut active: webhook_endpoint::ActiveModel = model.clone().into();
    active.previous_secret = Set((grace > Duration::zero()).then(|| model.secret.clone()));
    active.previous_secret_until = Set((grace > Duration::zero()).then_some(at + grace));
    active.secret = Set(secret.clone());
    active.updated_at = Set(at);
    let model = active.update(db).await?;
    tracing::info!(endpoint = %id, by = %staff.id, "webhook secret rotated");
    Ok(WithSecret {
        endpoint: view_with(db, model, &scope).await?,
        secret,
    })
}

/// The secrets that sign a message sent at `at`: the current one, and the
/// one before during its grace period.
pub fn signing_secrets(model: &webhook_endpoint::Model, at: DateTime<Utc>) -> Vec<&str> {
    let mut secrets = vec![model.secret.as_str()];
    if let (Some(previous), Some(until)) = (&model.previous_secret, model.previous_secret_until)
        && at < until
    {
        secrets.push(previous.as_str());
    }
    secrets
}

/// One change that endpoints may want to hear of.
#[derive(Debug, Clone)]
pub struct Notice {
    pub kind: WebhookType,
    pub event_id: Uuid,
    pub order_id: Option<Uuid>,
    pub ticket_id: Option<Uuid>,
    /// Facts of the change the rows do not keep (an amount refunded, where
    /// a ticket was scanned).
    pub data: serde_json::Value,
}

impl Notice {
    /// A change to an order.
    pub fn order(kind: WebhookType, event_id: Uuid, order_id: Uuid) -> Self {
        Self {
            kind,
            event_id,
            order_id: Some(order_id),
            ticket_id: None,
            data: serde_json::Value::Object(Default::default()),
        }
    }

    /// A change to one ticket of an order.
    pub fn ticket(kind: WebhookType, event_id: Uuid, order_id: Uuid, ticket_id: Uuid) -> Self {
        Self {
            ticket_id: Some(ticket_id),
            ..Self::order(kind, event_id, order_id)
        }
    }

    pub fn with(mut self, data: serde_json::Value) -> Self {
        self.data = data;
        self
    }
}

/// Writes one outbox message per enabled endpoint that takes each notice's
/// type for its event, in the caller's transaction: a change that rolls
/// back announces nothing; one that commits is delivered (at least once).
pub async fn announce<C: ConnectionTrait>(db: &C, notices: Vec<Notice>) -> Result<(), DbErr> {
    let out = messages(db, notices).await?;
    outbox::enqueue(db, out).await
}

/// The outbox messages `notices` make (what [`announce`] writes), for a
/// caller that writes them with its other messages in one insert: one read
/// per event the notices are about.
pub async fn messages<C: ConnectionTrait>(
    db: &C,
    notices: Vec<Notice>,
) -> Result<Vec<Outgoing>, DbErr> {
    let mut events: Vec<Uuid> = notices.iter().map(|n| n.event_id).collect();
    events.sort_unstable();
    events.dedup();
    let mut out = Vec::new();
    for event_id in events {
        out.extend(Listeners::of(db, event_id).await?.messages(&notices));
    }
    Ok(out)
}

/// The endpoints that hear about one event, read once: a placement batch
/// reads them before it takes the event's lock, so the lock is not held
/// for a read that has nothing to do with the inventory.
pub struct Listeners {
    event_id: Uuid,
    endpoints: Vec<webhook_endpoint::Model>,
}

impl Listeners {
    pub async fn of<C: ConnectionTrait>(db: &C, event_id: Uuid) -> Result<Self, DbErr> {
        Ok(Self {
            event_id,
            endpoints: reaching(db, event_id).await?,
        })
    }

    /// The messages of those `notices` that are about this event.
    pub fn messages(&self, notices: &[Notice]) -> Vec<Outgoing> {
        let mut out = Vec::new();
        for notice in notices.iter().filter(|n| n.event_id == self.event_id) {
            for endpoint in &self.endpoints {
                if types_of(endpoint).contains(&notice.kind) {
                    out.push(message(endpoint.id, notice));
                }
            }
        }
        out
    }
}

/// The enabled endpoints that hear about `event_id`: those for every event
/// and those scoped to it.
async fn reaching<C: ConnectionTrait>(
    db: &C,
    event_id: Uuid,
) -> Result<Vec<webhook_endpoint::Model>, DbErr> {
    use sea_orm::{QuerySelect, QueryTrait};
    let scoped_to_it = webhook_endpoint_event::Entity::find()
        .select_only()
        .column(webhook_endpoint_event::Column::EndpointId)
        .filter(webhook_endpoint_event::Column::EventId.eq(event_id))
        .into_query();
    webhook_endpoint::Entity::find()
        .filter(webhook_endpoint::Column::Enabled.eq(true))
        .filter(
            Condition::any()
                .add(webhook_endpoint::Column::AllEvents.eq(true))
                .add(webhook_endpoint::Column::Id.in_subquery(scoped_to_it)),
        )
        .all(db)
        .await
}

fn message(endpoint: Uuid, notice: &Notice) -> Outgoing {
    Outgoing {
        kind: notice.kind.kind(),
        event_id: notice.event_id,
        order_id: notice.order_id,
        ticket_id: notice.ticket_id,
        recipient: endpoint.to_string(),
        data: notice.data.clone(),
        delay: None,
    }
}

/// Queues a `ping` to an endpoint at once; answers the delivery's id.
pub async fn ping(db: &DatabaseConnection, staff: &Staff, id: Uuid) -> Result<Uuid, DomainError> {
    let (model, scope) = managed(db, staff, id).await?;
    if !model.enabled {
        return Err(DomainError::conflict(
            "endpoint_disabled",
            "enable the endpoint before testing it",
        ));
    }
    // Every outbox message belongs to an event: a ping to one the endpoint
    // reaches (listed with it, deleted with it).
    let event_id = match scope {
        Scope::Events(ids) => ids.first().copied(),
        Scope::AllEvents => event::Entity::find()
            .order_by_desc(event::Column::CreatedAt)
            .one(db)
            .await?
            .map(|e| e.id),
    }
    .ok_or_else(|| {
        DomainError::conflict(
            "no_event",
            "the endpoint reaches no event yet; a ping belongs to one",
        )
    })?;
    let message = Outgoing {
        kind: WebhookType::Ping.kind(),
        event_id,
        order_id: None,
        ticket_id: None,
        recipient: id.to_string(),
        data: serde_json::json!({ "endpoint_id": id }),
        delay: None,
    };
    Ok(outbox::enqueue_one(db, message).await?)
}

/// One delivery of one message to an endpoint.
pub type Delivery = outbox_message::Model;

/// An endpoint's deliveries, newest first.
pub async fn deliveries(
    db: &DatabaseConnection,
    staff: &Staff,
    id: Uuid,
    cursor: Option<&str>,
    limit: Option<u64>,
) -> Result<Page<Delivery>, DomainError> {
    managed(db, staff, id).await?;
    let limit = page::limit(limit)?;
    let mut query = outbox_message::Entity::find()
        .filter(outbox_message::Column::Channel.eq(MessageChannel::Webhook))
        .filter(outbox_message::Column::Recipient.eq(id.to_string()))
        .order_by_desc(outbox_message::Column::Id)
        .limit(limit + 1);
    if let Some(cursor) = cursor {
        let cursor = TimeCursor::decode(cursor)?;
        query = query.filter(outbox_message::Column::Id.lt(cursor.id));
    }
    let rows = query.all(db).await?;
    Ok(page::paginate(rows, limit, |row| TimeCursor {
        at: row.created_at,
        id: row.id,
    }))
}

/// Sends a delivery again as soon as the worker passes (its signature
/// headers are made afresh; its id and body stay). A delivery still
/// waiting is only moved up.
pub async fn retry(
    db: &DatabaseConnection,
    staff: &Staff,
    id: Uuid,
    delivery: Uuid,
) -> Result<Delivery, DomainError> {
    let (model, _) = managed(db, staff, id).await?;
    if !model.enabled {
        return Err(DomainError::conflict(
            "endpoint_disabled",
            "enable the endpoint before retrying its deliveries",
        ));
    }
    let found = outbox_message::Entity::find_by_id(delivery)
        .filter(outbox_message::Column::Channel.eq(MessageChannel::Webhook))
        .filter(outbox_message::Column::Recipient.eq(id.to_string()))
        .one(db)
        .await?
        .ok_or(DomainError::NotFound("delivery"))?;
    let at = now();
    outbox_message::Entity::update_many()
        .col_expr(
            outbox_message::Column::State,
            Expr::value(MessageState::Retrying),
        )
        .col_expr(outbox_message::Column::NextAttemptAt, Expr::value(at))
        // A fresh retry period: the schedule starts over.
        .col_expr(outbox_message::Column::Attempts, Expr::value(0))
        .col_expr(outbox_message::Column::UpdatedAt, Expr::value(at))
        .filter(outbox_message::Column::Id.eq(found.id))
        // Not one an instance is attempting right now (its lease).
        .filter(
            Condition::any()
                .add(outbox_message::Column::State.is_not_in(MessageState::WAITING.iter().copied()))
                .add(outbox_message::Column::NextAttemptAt.lte(at)),
        )
        .exec(db)
        .await?;
    outbox_message::Entity::find_by_id(found.id)
        .one(db)
        .await?
        .ok_or(DomainError::NotFound("delivery"))
}

/// The endpoint a webhook message goes to, if it still exists.
pub async fn endpoint_of<C: ConnectionTrait>(
    db: &C,
    message: &outbox_message::Model,
) -> Result<Option<webhook_endpoint::Model>, DbErr> {
    let Ok(id) = message.recipient.parse::<Uuid>() else {
        return Ok(None);
    };
    webhook_endpoint::Entity::find_by_id(id).one(db).await
}

/// After a delivery succeeded: the endpoint is healthy again.
pub async fn record_success<C: ConnectionTrait>(db: &C, endpoint: Uuid) -> Result<(), DbErr> {
    webhook_endpoint::Entity::update_many()
        .col_expr(
            webhook_endpoint::Column::FailingSince,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .filter(webhook_endpoint::Column::Id.eq(endpoint))
        .filter(webhook_endpoint::Column::FailingSince.is_not_null())
        .exec(db)
        .await?;
    Ok(())
}

/// After a delivery failed: marks since when the endpoint fails, and
/// disables it when it answered 410 Gone or has failed for
/// [`DISABLE_AFTER`]. Answers why it was disabled, if it was.
pub async fn record_trouble<C: ConnectionTrait>(
    db: &C,
    endpoint: &webhook_endpoint::Model,
    gone: bool,
    at: DateTime<Utc>,
) -> Result<Option<String>, DbErr> {
    let since = endpoint.failing_since.unwrap_or(at);
    let why = if gone {
        Some("the receiver answered 410 Gone".to_owned())
    } else if at - since >= DISABLE_AFTER {
        Some(format!(
            "every delivery failed since {}",
            since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        ))
    } else {
        None
    };
    let mut update = webhook_endpoint::Entity::update_many()
        .col_expr(
            webhook_endpoint::Column::FailingSince,
            Expr::col(webhook_endpoint::Column::FailingSince).if_null(at),
        )
        .filter(webhook_endpoint::Column::Id.eq(endpoint.id));
    if let Some(why) = &why {
        update = update
            .col_expr(webhook_endpoint::Column::Enabled, Expr::value(false))
            .col_expr(webhook_endpoint::Column::DisabledAt, Expr::value(Some(at)))
            .col_expr(
                webhook_endpoint::Column::DisabledReason,
                Expr::value(Some(clip(why, 1_000))),
            )
            .col_expr(webhook_endpoint::Column::UpdatedAt, Expr::value(at))
            .filter(webhook_endpoint::Column::Enabled.eq(true));
    }
    let disabled = update.exec(db).await?.rows_affected > 0 && why.is_some();
    if disabled {
        drop_waiting(db, endpoint.id, "its endpoint was disabled", at).await?;
    }
    Ok(why.filter(|_| disabled))
}

/// Marks an endpoint's waiting messages skipped.
async fn drop_waiting<C: ConnectionTrait>(
    db: &C,
    endpoint: Uuid,
    why: &str,
    at: DateTime<Utc>,
) -> Result<(), DbErr> {
    outbox_message::Entity::update_many()
        .col_expr(
            outbox_message::Column::State,
            Expr::value(MessageState::Skipped),
        )
        .col_expr(outbox_message::Column::LastError, Expr::value(Some(why)))
        .col_expr(outbox_message::Column::UpdatedAt, Expr::value(at))
        .filter(outbox_message::Column::Channel.eq(MessageChannel::Webhook))
        .filter(outbox_message::Column::Recipient.eq(endpoint.to_string()))
        .filter(outbox_message::Column::State.is_in(MessageState::WAITING.iter().copied()))
        .exec(db)
        .await?;
    Ok(())
}

/// The types an endpoint takes.
pub fn types_of(model: &webhook_endpoint::Model) -> Vec<WebhookType> {
    serde_json::from_value(model.types.clone()).unwrap_or_default()
}

fn types_json(types: &[WebhookType]) -> serde_json::Value {
    serde_json::Value::Array(
        types
            .iter()
            .map(|t| serde_json::Value::String(t.as_str().to_owned()))
            .collect(),
    )
}

async fn checked_url(raw: &str, reach: Reach, errors: &mut FieldErrors) -> String {
    match guard::check_url(raw, reach) {
        Ok(url) => match resolve_check(&url, reach).await {
            Ok(()) => url.to_string(),
            Err(refused) => {
                errors.add("url", refused.code, refused.detail);
                String::new()
            }
        },
        Err(refused) => {
            errors.add("url", refused.code, refused.detail);
            String::new()
        }
    }
}

/// Resolves a host name and refuses it if any address it has is inside the
/// network (checked again at every delivery).
async fn resolve_check(url: &url::Url, reach: Reach) -> Result<(), guard::Refused> {
    if reach.private {
        return Ok(());
    }
    let Some(url::Host::Domain(host)) = url.host() else {
        return Ok(());
    };
    if guard::internal_name(host) {
        return Err(guard::Refused {
            code: "private_target",
            detail: format!("{host} names a host inside the network"),
        });
    }
    let port = url.port_or_known_default().unwrap_or(443);
    let addrs = tokio::net::lookup_host((host, port))
        .await
        .map_err(|err| guard::Refused {
            code: "unresolvable",
            detail: format!("{host} does not resolve: {err}"),
        })?;
    for addr in addrs {
        guard::check_ip(addr.ip(), reach)?;
    }
    Ok(())
}

fn checked_types(types: &[WebhookType], errors: &mut FieldErrors) -> Vec<WebhookType> {
    if types.is_empty() {
        errors.add("events", "required", "name at least one type of message");
    }
    let mut seen = Vec::new();
    for (i, t) in types.iter().enumerate() {
        if *t == WebhookType::Ping {
            errors.add(
                format!("events[{i}]"),
                "not_subscribable",
                "ping is sent on request only (POST /webhooks/{id}/test)",
            );
        } else if seen.contains(t) {
            errors.add(format!("events[{i}]"), "duplicate", "listed twice");
        } else {
            seen.push(*t);
        }
    }
    seen
}

/// The scope asked for: every event (no slugs) or the events named.
async fn scope_asked(
    db: &DatabaseConnection,
    staff: &Staff,
    slugs: Option<&[String]>,
    errors: &mut FieldErrors,
) -> Result<Scope, DomainError> {
    match slugs {
        None if staff.spans(&Scope::AllEvents) => Ok(Scope::AllEvents),
        None => {
            errors.add(
                "event_slugs",
                "scope_required",
                "name the events this endpoint is for (your token covers only some)",
            );
            Ok(Scope::Events(vec![]))
        }
        Some([]) => {
            errors.add(
                "event_slugs",
                "required",
                "name at least one event, or leave event_slugs out for every event",
            );
            Ok(Scope::Events(vec![]))
        }
        Some(slugs) => Ok(Scope::Events(
            events::ids_of_slugs(db, "event_slugs", slugs, errors).await?,
        )),
    }
}

fn require_spans(staff: &Staff, scope: &Scope) -> Result<(), DomainError> {
    if staff.spans(scope) {
        Ok(())
    } else {
        Err(DomainError::forbidden(
            "this endpoint would reach events outside your own",
        ))
    }
}

async fn set_events<C: ConnectionTrait>(db: &C, id: Uuid, scope: &Scope) -> Result<(), DbErr> {
    if let Scope::Events(ids) = scope
        && !ids.is_empty()
    {
        webhook_endpoint_event::Entity::insert_many(ids.iter().map(|event_id| {
            webhook_endpoint_event::ActiveModel {
                endpoint_id: Set(id),
                event_id: Set(*event_id),
            }
        }))
        .exec(db)
        .await?;
    }
    Ok(())
}

/// An endpoint `staff` manages, with its scope; any other is not found.
async fn managed(
    db: &DatabaseConnection,
    staff: &Staff,
    id: Uuid,
) -> Result<(webhook_endpoint::Model, Scope), DomainError> {
    staff.require_organizer()?;
    let model = webhook_endpoint::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or(DomainError::NotFound("webhook endpoint"))?;
    let scope = scopes_of(db, std::slice::from_ref(&model))
        .await?
        .remove(&model.id)
        .unwrap_or(Scope::Events(vec![]));
    if !staff.spans(&scope) {
        return Err(DomainError::NotFound("webhook endpoint"));
    }
    Ok((model, scope))
}

async fn scopes_of(
    db: &impl ConnectionTrait,
    models: &[webhook_endpoint::Model],
) -> Result<HashMap<Uuid, Scope>, DbErr> {
    let mut scopes: HashMap<Uuid, Scope> = models
        .iter()
        .map(|m| {
            let scope = if m.all_events {
                Scope::AllEvents
            } else {
                Scope::Events(vec![])
            };
            (m.id, scope)
        })
        .collect();
    let scoped: Vec<Uuid> = models
        .iter()
        .filter(|m| !m.all_events)
        .map(|m| m.id)
        .collect();
    if scoped.is_empty() {
        return Ok(scopes);
    }
    for row in webhook_endpoint_event::Entity::find()
        .filter(webhook_endpoint_event::Column::EndpointId.is_in(scoped))
        .all(db)
        .await?
    {
        if let Some(Scope::Events(ids)) = scopes.get_mut(&row.endpoint_id) {
            ids.push(row.event_id);
        }
    }
    Ok(scopes)
}

async fn view(
    db: &impl ConnectionTrait,
    model: webhook_endpoint::Model,
) -> Result<Endpoint, DomainError> {
    let scope = scopes_of(db, std::slice::from_ref(&model))
        .await?
        .remove(&model.id)
        .unwrap_or(Scope::Events(vec![]));
    view_with(db, model, &scope).await
}

async fn view_with(
    db: &impl ConnectionTrait,
    model: webhook_endpoint::Model,
    scope: &Scope,
) -> Result<Endpoint, DomainError> {
    let event_slugs = match scope {
        Scope::AllEvents => None,
        Scope::Events(ids) if ids.is_empty() => Some(vec![]),
        Scope::Events(ids) => {
            let mut slugs: Vec<String> = event::Entity::find()
                .filter(event::Column::Id.is_in(ids.iter().copied()))
                .all(db)
                .await?
                .into_iter()
                .map(|e| e.slug)
                .collect();
            slugs.sort();
            Some(slugs)
        }
    };
    let at = now();
    Ok(Endpoint {
        id: model.id,
        types: types_of(&model),
        url: model.url,
        description: model.description,
        event_slugs,
        enabled: model.enabled,
        disabled_at: model.disabled_at,
        disabled_reason: model.disabled_reason,
        failing_since: model.failing_since,
        previous_secret_until: model.previous_secret_until.filter(|until| *until > at),
        created_at: model.created_at,
        updated_at: model.updated_at,
    })
}

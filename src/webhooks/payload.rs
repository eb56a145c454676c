//! What a webhook says: `type`, `timestamp` (when the change happened) and
//! `data`, whose members are the API's own answers (an order as
//! `GET /orders/{code}` gives it, a tier as the admin API does), so one
//! schema serves both. Rendered at a message's first attempt, from the rows
//! as they are then, with the facts the change itself recorded (an amount,
//! a scan); kept on the message, so every retry sends the same bytes.

use chrono::{DateTime, Utc};
use entity::{event, outbox_message, state::WebhookType, tier};
use poem_openapi::{Object, types::ToJSON};
use std::collections::HashMap;

use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use serde::Deserialize;
use uuid::Uuid;

use crate::{
    api::{
        admin::tiers::{AdminTier, admin_tier},
        orders::{OrderBody, TicketBody},
    },
    domain::{DomainError, orders},
};

/// The body of every webhook tessera sends (signed per Standard Webhooks:
/// verify `webhook-signature` before trusting it).
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "snake_case")]
pub struct WebhookMessage {
    /// What happened.
    #[oai(rename = "type")]
    pub kind: WebhookType,
    /// When it happened (UTC).
    pub timestamp: DateTime<Utc>,
    pub data: WebhookData,
}

/// What a message is about. `order.*`: `order`; `order.refunded` also
/// `refund`; `ticket.*`: `order` and `ticket`; `ticket.checked_in` also
/// `check_in`; `tier.sold_out`: `tier`; `ping`: `endpoint_id`. The order
/// and ticket are as they were when the message was first attempted
/// (normally within a second of the change).
#[derive(Debug, Clone, Object, Default)]
#[oai(rename_all = "snake_case")]
pub struct WebhookData {
    #[oai(skip_serializing_if_is_none)]
    pub order: Option<OrderBody>,
    #[oai(skip_serializing_if_is_none)]
    pub ticket: Option<TicketBody>,
    #[oai(skip_serializing_if_is_none)]
    pub refund: Option<RefundFacts>,
    #[oai(skip_serializing_if_is_none)]
    pub check_in: Option<CheckInFacts>,
    #[oai(skip_serializing_if_is_none)]
    pub tier: Option<AdminTier>,
    #[oai(skip_serializing_if_is_none)]
    pub endpoint_id: Option<Uuid>,
}

/// The money a refund gave back.
#[derive(Debug, Clone, Object, Deserialize)]
#[oai(rename_all = "snake_case")]
pub struct RefundFacts {
    /// In minor units of `currency`.
    pub amount: i64,
    #[serde(default)]
    pub currency: String,
}

/// Where and when a ticket was admitted.
#[derive(Debug, Clone, Object, Deserialize)]
#[oai(rename_all = "snake_case")]
pub struct CheckInFacts {
    pub list_id: Uuid,
    /// The check-in list's name (the door, the swag desk).
    pub list: String,
    /// The scanning device's name.
    pub device: String,
    /// When it was scanned (the device's time for offline scans).
    pub at: DateTime<Utc>,
}

#[derive(Debug, Deserialize, Default)]
struct Facts {
    amount: Option<i64>,
    check_in: Option<CheckInFacts>,
    tier_id: Option<Uuid>,
    endpoint_id: Option<Uuid>,
}

/// The bodies of `messages` (one endpoint's claim), as JSON text, in
/// their order: a message that has one already keeps it; the others are
/// rendered from the rows as they are now, their orders read together.
/// A message whose order or tier is gone answers `NotFound`; a database
/// error fails them all (they are tried again).
pub async fn render_all<C: ConnectionTrait>(
    db: &C,
    messages: &[outbox_message::Model],
) -> Result<Vec<Result<String, DomainError>>, DomainError> {
    let fresh = || messages.iter().filter(|m| m.body.is_none());
    let order_ids: Vec<Uuid> = fresh().filter_map(|m| m.order_id).collect();
    let orders: HashMap<Uuid, orders::Order> = if order_ids.is_empty() {
        HashMap::new()
    } else {
        let models = entity::order::Entity::find()
            .filter(entity::order::Column::Id.is_in(order_ids))
            .all(db)
            .await?;
        orders::assemble_all(db, models)
            .await?
            .into_iter()
            .map(|order| (order.model.id, order))
            .collect()
    };
    let mut bodies = Vec::with_capacity(messages.len());
    for message in messages {
        let body = match &message.body {
            Some(body) => Ok(body.clone()),
            None => render(db, message, &orders).await,
        };
        bodies.push(body);
    }
    Ok(bodies)
}

/// The body of `message`, its order (if any) taken from `orders`.
async fn render<C: ConnectionTrait>(
    db: &C,
    message: &outbox_message::Model,
    orders: &HashMap<Uuid, orders::Order>,
) -> Result<String, DomainError> {
    let kind = WebhookType::of(message.kind)
        .ok_or_else(|| DomainError::Corrupt(format!("{} is not a webhook", message.kind)))?;
    let facts: Facts = serde_json::from_value(message.data.clone())
        .map_err(|err| DomainError::Corrupt(format!("webhook facts: {err}")))?;
    let mut data = WebhookData {
        endpoint_id: facts.endpoint_id,
        check_in: facts.check_in,
        ..WebhookData::default()
    };
    if let Some(order_id) = message.order_id {
        let order = orders
            .get(&order_id)
            .cloned()
            .ok_or(DomainError::NotFound("order"))?;
        if let Some(ticket_id) = message.ticket_id {
            data.ticket = order
                .tickets
                .iter()
                .find(|t| t.model.id == ticket_id)
                .cloned()
                .map(TicketBody::from);
        }
        if let Some(amount) = facts.amount {
            data.refund = Some(RefundFacts {
                amount,
                currency: order.model.currency.clone(),
            });
        }
        data.order = Some(OrderBody::from(order));
    }
    if let Some(tier_id) = facts.tier_id {
        let tier = tier::Entity::find_by_id(tier_id)
            .one(db)
            .await?
            .ok_or(DomainError::NotFound("tier"))?;
        let event = event::Entity::find_by_id(tier.event_id)
            .one(db)
            .await?
            .ok_or(DomainError::NotFound("event"))?;
        data.tier = Some(admin_tier(&event, tier));
    }
    let body = WebhookMessage {
        kind,
        timestamp: message.created_at,
        data,
    };
    Ok(body.to_json_string())
}

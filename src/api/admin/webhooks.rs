//! Webhook endpoints: where organizers' systems hear of sales, payments,
//! refunds and check-ins, signed per Standard Webhooks.

use chrono::{DateTime, Utc};
use entity::state::{MessageState, WebhookType};
use poem::web::Data;
use poem_openapi::{
    ApiResponse, Object, OpenApi,
    param::{Path, Query},
    payload::Json,
    types::{MaybeUndefined, ParseFromJSON},
};
use serde::Deserialize;
use uuid::Uuid;

use super::Deleted;
use crate::{
    api::{
        Tag,
        auth::StaffAuth,
        body::JsonBody,
        types::{Found, patch_field},
    },
    domain::webhooks::{self, Delivery, Endpoint, EndpointPatch, NewEndpoint, WithSecret},
    error::ApiResult,
    state::AppState,
    webhooks::payload::WebhookMessage,
};

/// A new webhook endpoint.
#[derive(Debug, Clone, Object, Deserialize)]
#[oai(rename_all = "snake_case")]
#[serde(deny_unknown_fields)]
pub struct WebhookCreate {
    /// Where to POST: `https://` (`http://` only where the deployment allows
    /// it). Addresses inside the network (loopback, private, link-local,
    /// cloud metadata) are refused, also after DNS resolution.
    pub url: String,
    /// The types of message to receive, at least one.
    pub events: Vec<WebhookType>,
    /// Slugs of the conferences to hear about; left out: every event,
    /// present and future (admins and organizers of every event only).
    #[oai(nullable)]
    pub event_slugs: Option<Vec<String>>,
    /// For people, e.g. `Badge printer` (up to 500 characters).
    #[oai(nullable)]
    pub description: Option<String>,
}

/// Changes to a webhook endpoint; fields left out stay as they are.
#[derive(Debug, Clone, Object, Deserialize)]
#[oai(rename_all = "snake_case")]
#[serde(deny_unknown_fields)]
pub struct WebhookUpdate {
    #[oai(nullable)]
    pub url: Option<String>,
    #[oai(nullable)]
    pub events: Option<Vec<WebhookType>>,
    /// `null`: every event.
    #[serde(default)]
    #[oai(nullable)]
    pub event_slugs: MaybeUndefined<Vec<String>>,
    #[oai(nullable)]
    pub description: Option<String>,
    /// `false` disables the endpoint (messages not yet delivered are
    /// dropped); `true` enables it again.
    #[oai(nullable)]
    pub enabled: Option<bool>,
}

/// A webhook endpoint (never its secret).
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "snake_case")]
pub struct WebhookEndpoint {
    pub id: Uuid,
    pub url: String,
    pub description: String,
    /// The types of message it receives.
    pub events: Vec<WebhookType>,
    /// The conferences it hears about; `null`: every event.
    #[oai(nullable)]
    pub event_slugs: Option<Vec<String>>,
    pub enabled: bool,
    #[oai(nullable)]
    pub disabled_at: Option<DateTime<Utc>>,
    /// Why it was disabled: by its owner, because the receiver answered 410
    /// Gone, or because every delivery failed for three days.
    #[oai(nullable)]
    pub disabled_reason: Option<String>,
    /// Since when every delivery attempt has failed (`null`: the last one
    /// succeeded).
    #[oai(nullable)]
    pub failing_since: Option<DateTime<Utc>>,
    /// Until when the secret before the last rotation still signs beside
    /// the new one.
    #[oai(nullable)]
    pub previous_secret_until: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Endpoint> for WebhookEndpoint {
    fn from(e: Endpoint) -> Self {
        Self {
            id: e.id,
            url: e.url,
            description: e.description,
            events: e.types,
            event_slugs: e.event_slugs,
            enabled: e.enabled,
            disabled_at: e.disabled_at,
            disabled_reason: e.disabled_reason,
            failing_since: e.failing_since,
            previous_secret_until: e.previous_secret_until,
            created_at: e.created_at,
            updated_at: e.updated_at,
        }
    }
}

/// An endpoint with its signing secret, shown only in this answer.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "snake_case")]
pub struct WebhookWithSecret {
    /// `whsec_` + base64 of the key: give it to a Standard Webhooks library
    /// as is to verify `webhook-signature`.
    pub secret: String,
    #[oai(flatten)]
    pub endpoint: WebhookEndpoint,
}

impl From<WithSecret> for WebhookWithSecret {
    fn from(w: WithSecret) -> Self {
        Self {
            secret: w.secret,
            endpoint: w.endpoint.into(),
        }
    }
}

/// Every webhook endpoint this token manages.
#[derive(Debug, Clone, Object)]
pub struct WebhookEndpointList {
    pub items: Vec<WebhookEndpoint>,
}

/// How long the old secret keeps signing.
#[derive(Debug, Clone, Object, Deserialize, Default)]
#[oai(rename_all = "snake_case")]
#[serde(deny_unknown_fields)]
pub struct SecretRotation {
    /// Seconds, 0 to 604800 (a week); default 86400 (a day). Meanwhile every
    /// message carries both signatures.
    #[oai(nullable)]
    pub grace_seconds: Option<i64>,
}

/// One message to one endpoint, and how its delivery went.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "snake_case")]
pub struct WebhookDelivery {
    /// Also the message's `webhook-id`, the same at every attempt.
    pub id: Uuid,
    #[oai(rename = "type")]
    pub kind: WebhookType,
    /// `queued`, `retrying`, `sent` (answered 2xx), `failed` (gone or given
    /// up), `skipped` (its endpoint was disabled first).
    pub state: MessageState,
    pub attempts: i32,
    /// The last attempt's HTTP status (`null`: no answer).
    #[oai(nullable)]
    pub status_code: Option<i32>,
    /// How long the last attempt took.
    #[oai(nullable)]
    pub latency_ms: Option<i32>,
    /// The start of the receiver's last answer (or why there was none).
    #[oai(nullable)]
    pub response: Option<String>,
    #[oai(nullable)]
    pub last_error: Option<String>,
    /// When it is tried next, while queued or retrying.
    #[oai(nullable)]
    pub next_attempt_at: Option<DateTime<Utc>>,
    #[oai(nullable)]
    pub delivered_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    /// The message as sent (`null` before its first attempt).
    #[oai(nullable)]
    pub payload: Option<WebhookMessage>,
}

impl WebhookDelivery {
    fn of(row: Delivery) -> Option<Self> {
        let waiting = MessageState::WAITING.contains(&row.state);
        let payload = row
            .body
            .as_deref()
            .and_then(|body| serde_json::from_str(body).ok())
            .and_then(|value| WebhookMessage::parse_from_json(Some(value)).ok());
        Some(Self {
            id: row.id,
            kind: WebhookType::of(row.kind)?,
            state: row.state,
            attempts: row.attempts,
            status_code: row.status_code,
            latency_ms: row.latency_ms,
            response: row.response,
            last_error: row.last_error,
            next_attempt_at: waiting.then_some(row.next_attempt_at),
            delivered_at: row.sent_at,
            created_at: row.created_at,
            payload,
        })
    }
}

/// A page of deliveries, newest first.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "snake_case")]
pub struct WebhookDeliveryPage {
    pub items: Vec<WebhookDelivery>,
    #[oai(nullable)]
    pub next_cursor: Option<String>,
}

/// A test message on its way.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "snake_case")]
pub struct PingQueued {
    /// The ping's delivery (see `GET /webhooks/{id}/deliveries`).
    pub delivery_id: Uuid,
}

#[derive(ApiResponse)]
pub enum WebhookCreated {
    /// The endpoint was registered; store `secret` now.
    #[oai(status = 201)]
    Created(Json<WebhookWithSecret>),
}

#[derive(ApiResponse)]
pub enum Queued<T: poem_openapi::types::ToJSON> {
    /// Queued: the worker sends it within a second or so.
    #[oai(status = 202)]
    Accepted(Json<T>),
}

pub struct WebhooksApi;

#[OpenApi(prefix_path = "/api/v1/admin", tag = "Tag::AdminWebhooks")]
impl WebhooksApi {
    /// Register a webhook endpoint
    ///
    /// Admins register endpoints for any events; organizers for their own
    /// (an endpoint for every event needs a token for every event). The
    /// answer holds the signing secret, shown only here.
    #[oai(path = "/webhooks", method = "post", operation_id = "create_webhook")]
    async fn create(
        &self,
        state: Data<&AppState>,
        auth: StaffAuth,
        body: JsonBody<WebhookCreate>,
    ) -> ApiResult<WebhookCreated> {
        let body = body.0;
        let input = NewEndpoint {
            url: body.url,
            types: body.events,
            event_slugs: body.event_slugs,
            description: body.description,
        };
        let created = webhooks::create(&state.db, &auth.0, state.webhook_reach, input).await?;
        Ok(WebhookCreated::Created(Json(created.into())))
    }

    /// List webhook endpoints
    ///
    /// Every endpoint for admins; for organizers, those whose events are
    /// all their own.
    #[oai(path = "/webhooks", method = "get", operation_id = "list_webhooks")]
    async fn list(
        &self,
        state: Data<&AppState>,
        auth: StaffAuth,
    ) -> ApiResult<Found<WebhookEndpointList>> {
        let items = webhooks::list(&state.db, &auth.0).await?;
        Ok(Found(WebhookEndpointList {
            items: items.into_iter().map(Into::into).collect(),
        }))
    }

    /// Read a webhook endpoint
    #[oai(path = "/webhooks/:id", method = "get", operation_id = "get_webhook")]
    async fn get(
        &self,
        state: Data<&AppState>,
        auth: StaffAuth,
        id: Path<Uuid>,
    ) -> ApiResult<Found<WebhookEndpoint>> {
        Ok(Found(webhooks::get(&state.db, &auth.0, id.0).await?.into()))
    }

    /// Change a webhook endpoint
    ///
    /// Its URL, types, events or description; `enabled: false` disables it
    /// (messages not yet delivered are dropped), `enabled: true` enables it
    /// again after its owner or tessera disabled it.
    #[oai(
        path = "/webhooks/:id",
        method = "patch",
        operation_id = "update_webhook"
    )]
    async fn update(
        &self,
        state: Data<&AppState>,
        auth: StaffAuth,
        id: Path<Uuid>,
        body: JsonBody<WebhookUpdate>,
    ) -> ApiResult<Found<WebhookEndpoint>> {
        let body = body.0;
        let patch = EndpointPatch {
            url: body.url,
            types: body.events,
            event_slugs: patch_field(body.event_slugs),
            description: body.description,
            enabled: body.enabled,
        };
        let updated =
            webhooks::update(&state.db, &auth.0, state.webhook_reach, id.0, patch).await?;
        Ok(Found(updated.into()))
    }

    /// Delete a webhook endpoint
    ///
    /// With its delivery log; messages not yet delivered are dropped.
    #[oai(
        path = "/webhooks/:id",
        method = "delete",
        operation_id = "delete_webhook"
    )]
    async fn delete(
        &self,
        state: Data<&AppState>,
        auth: StaffAuth,
        id: Path<Uuid>,
    ) -> ApiResult<Deleted> {
        webhooks::delete(&state.db, &auth.0, id.0).await?;
        Ok(Deleted::NoContent)
    }

    /// Rotate an endpoint's signing secret
    ///
    /// A new secret signs from now on; the old one signs beside it for the
    /// grace period (both signatures in `webhook-signature`), so the
    /// receiver can switch without rejecting a message. The answer holds
    /// the new secret, shown only here.
    #[oai(
        path = "/webhooks/:id/rotate",
        method = "post",
        operation_id = "rotate_webhook_secret"
    )]
    async fn rotate(
        &self,
        state: Data<&AppState>,
        auth: StaffAuth,
        id: Path<Uuid>,
        body: JsonBody<SecretRotation>,
    ) -> ApiResult<Found<WebhookWithSecret>> {
        let grace_seconds = body.0.grace_seconds.unwrap_or(86_400);
        let rotated = webhooks::rotate(&state.db, &auth.0, id.0, grace_seconds).await?;
        Ok(Found(rotated.into()))
    }

    /// Send a test message
    ///
    /// Queues a `ping` to the endpoint; its delivery shows in the log.
    #[oai(
        path = "/webhooks/:id/test",
        method = "post",
        operation_id = "test_webhook"
    )]
    async fn test(
        &self,
        state: Data<&AppState>,
        auth: StaffAuth,
        id: Path<Uuid>,
    ) -> ApiResult<Queued<PingQueued>> {
        let delivery_id = webhooks::ping(&state.db, &auth.0, id.0).await?;
        Ok(Queued::Accepted(Json(PingQueued { delivery_id })))
    }

    /// List an endpoint's deliveries
    ///
    /// Newest first: each message with its attempts, the last status code,
    /// latency and the start of the answer, and when it is tried next.
    #[oai(
        path = "/webhooks/:id/deliveries",
        method = "get",
        operation_id = "list_webhook_deliveries"
    )]
    async fn deliveries(
        &self,
        state: Data<&AppState>,
        auth: StaffAuth,
        id: Path<Uuid>,
        /// Page size, 1-200 (default 50).
        limit: Query<Option<u64>>,
        /// `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
    ) -> ApiResult<Found<WebhookDeliveryPage>> {
        let page =
            webhooks::deliveries(&state.db, &auth.0, id.0, cursor.0.as_deref(), limit.0).await?;
        Ok(Found(WebhookDeliveryPage {
            items: page
                .items
                .into_iter()
                .filter_map(WebhookDelivery::of)
                .collect(),
            next_cursor: page.next_cursor,
        }))
    }

    /// Send a delivery again
    ///
    /// Due at once with a fresh retry schedule, whatever its state (a
    /// failed one too); the same `webhook-id` and body, signed afresh.
    #[oai(
        path = "/webhooks/:id/deliveries/:delivery_id/retry",
        method = "post",
        operation_id = "retry_webhook_delivery"
    )]
    async fn retry(
        &self,
        state: Data<&AppState>,
        auth: StaffAuth,
        id: Path<Uuid>,
        delivery_id: Path<Uuid>,
    ) -> ApiResult<Queued<WebhookDelivery>> {
        let row = webhooks::retry(&state.db, &auth.0, id.0, delivery_id.0).await?;
        let delivery =
            WebhookDelivery::of(row).ok_or(crate::domain::DomainError::NotFound("delivery"))?;
        Ok(Queued::Accepted(Json(delivery)))
    }
}

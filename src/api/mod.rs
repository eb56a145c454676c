//! The HTTP API: thin poem-openapi handlers, one module per resource. Each
//! handler extracts its input, calls `domain`, and maps the result to a wire
//! type; the OpenAPI document is generated from these declarations.

pub mod admin;
pub mod auth;
pub mod body;
pub mod catalogue;
pub mod checkin;
pub mod guessing;
pub mod idempotent;
pub mod limits;
pub mod ops;
pub mod orders;
pub mod own_ticket;
pub mod recovery;
pub mod scanner;
pub mod tickets;
pub mod types;
pub mod unsubscribe;
pub mod webhooks;

use poem::{EndpointExt, Response, Route, endpoint::BoxEndpoint, http::Method, middleware::Cors};
use poem_openapi::{OpenApiService, Tags};

use crate::{error::ApiError, state::AppState, telemetry::Observe};

#[derive(Tags)]
pub enum Tag {
    /// Public catalogue for the attendee front end: published events and
    /// their ticket tiers, with live availability. No credentials needed.
    Catalogue,
    /// Orders for the attendee front end: place an order, then read, cancel
    /// or edit it with the order token.
    Orders,
    /// Check-in: attendees' signed tokens and QR codes, the published keys,
    /// and the scanner endpoints (staff token: volunteer, organizer or admin,
    /// scoped to the event).
    Checkin,
    /// Organizer endpoints to set up events (staff token: admin or organizer).
    AdminEvents,
    /// Organizer endpoints to set up ticket tiers (staff token: admin or organizer).
    AdminTiers,
    /// Voucher codes: discounts and keys to hidden tiers (staff token: admin
    /// or organizer).
    AdminVouchers,
    /// The order desk: find, inspect and cancel orders, comp tickets (staff
    /// token: admin or organizer).
    AdminOrders,
    /// Check-in lists, progress, the scan log and token reissue (staff
    /// token: admin or organizer).
    AdminCheckin,
    /// Reports and exports: attendees (JSON and CSV), swag, dietary, sales
    /// and check-in figures (staff token: admin or organizer).
    AdminReports,
    /// The keys that sign check-in tokens (staff token: admin).
    AdminKeys,
    /// Staff tokens for organizers and volunteers (staff token: admin).
    AdminTokens,
    /// Outbound webhooks: endpoints, their signing secrets and delivery log
    /// (staff token: admin, or organizer for their own events). Every
    /// message is signed per Standard Webhooks; its body is the
    /// `WebhookMessage` schema.
    AdminWebhooks,
    /// Health, readiness and metrics for operators and load balancers.
    Operations,
    /// Events from the payment provider (Stripe), verified by signature.
    Webhooks,
}

type Apis = (
    catalogue::CatalogueApi,
    (
        orders::OrdersApi,
        own_ticket::OwnTicketApi,
        recovery::RecoveryApi,
        unsubscribe::UnsubscribeApi,
    ),
    tickets::TicketsApi,
    checkin::CheckinApi,
    (admin::events::EventsApi, admin::templates::TemplatesApi),
    admin::tiers::TiersApi,
    admin::vouchers::VouchersApi,
    (admin::orders::OrderDeskApi, admin::messages::MessagesApi),
    admin::checkin::CheckinAdminApi,
    admin::reports::ReportsApi,
    admin::keys::KeysApi,
    (admin::tokens::TokensApi, admin::webhooks::WebhooksApi),
    ops::OpsApi,
    webhooks::WebhooksApi,
    admin::payments::PaymentsAdminApi,
);

const DESCRIPTION: &str = "\
Conference registration and ticketing.

Public endpoints serve the attendee front end; `/api/v1/admin` endpoints need a \
staff token (`Authorization: Bearer tsr_...`). Every error is \
`application/problem+json` (RFC 9457) with a stable `code` and, for validation \
problems, one entry per field at fault in `errors`. Lists take `limit` (1-200, \
default 50) and the `cursor` returned as `next_cursor` by the previous page. \
Money is always an integer count of the currency's minor units (cents).";

pub fn openapi() -> OpenApiService<Apis, ()> {
    OpenApiService::new(
        (
            catalogue::CatalogueApi,
            (
                orders::OrdersApi,
                own_ticket::OwnTicketApi,
                recovery::RecoveryApi,
                unsubscribe::UnsubscribeApi,
            ),
            tickets::TicketsApi,
            checkin::CheckinApi,
            (admin::events::EventsApi, admin::templates::TemplatesApi),
            admin::tiers::TiersApi,
            admin::vouchers::VouchersApi,
            (admin::orders::OrderDeskApi, admin::messages::MessagesApi),
            admin::checkin::CheckinAdminApi,
            admin::reports::ReportsApi,
            admin::keys::KeysApi,
            (admin::tokens::TokensApi, admin::webhooks::WebhooksApi),
            ops::OpsApi,
            webhooks::WebhooksApi,
            admin::payments::PaymentsAdminApi,
        ),
        "tessera",
        env!("CARGO_PKG_VERSION"),
    )
    // No `summary`: an OpenAPI 3.1 field, and the document is 3.0.
    .description(DESCRIPTION)
    .license("Apache-2.0")
}

/// The OpenAPI document: what poem-openapi derives from the handlers, with
/// the facts it cannot express added (see `refine`).
pub fn spec() -> serde_json::Value {
    let mut spec = serde_json::from_str(&openapi().spec()).unwrap_or_default();
    refine(&mut spec);
    spec
}

/// Adds to the derived document what the code enforces but the derive
/// cannot say: every object is closed (request bodies refuse unknown fields,
/// answers never carry any); `Stripe-Signature` is required (the handler
/// reads it itself so that its absence gets its own problem code); and the
/// bounds of the parameters the handlers check themselves (so that a value
/// out of bounds is a 422 naming the field, like every other rule).
fn refine(spec: &mut serde_json::Value) {
    use serde_json::Value;
    if let Some(schemas) = spec
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    {
        for schema in schemas.values_mut() {
            if let Some(schema) = schema.as_object_mut()
                && schema.get("type").and_then(Value::as_str) == Some("object")
                && schema.contains_key("properties")
                && !schema.contains_key("additionalProperties")
            {
                schema.insert("additionalProperties".to_owned(), Value::Bool(false));
            }
        }
    }
    if let Some(schemas) = spec
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    {
        for (name, example) in examples() {
            if let Some(schema) = schemas.get_mut(name).and_then(Value::as_object_mut) {
                schema.insert("example".to_owned(), example);
            }
        }
    }
    if let Some(paths) = spec.get_mut("paths").and_then(Value::as_object_mut) {
        for operation in paths.values_mut().filter_map(Value::as_object_mut) {
            for op in operation.values_mut().filter_map(Value::as_object_mut) {
                honest_errors(op);
            }
            for op in operation.values_mut() {
                let Some(parameters) = op.get_mut("parameters").and_then(Value::as_array_mut)
                else {
                    continue;
                };
                for parameter in parameters {
                    let name = parameter.get("name").and_then(Value::as_str).unwrap_or("");
                    let bounds = match name {
                        "Stripe-Signature" => {
                            parameter["required"] = Value::Bool(true);
                            serde_json::json!({"minLength": 1})
                        }
                        "limit" => {
                            serde_json::json!({"minimum": 1, "maximum": crate::domain::page::MAX_LIMIT})
                        }
                        "cursor" => serde_json::json!({"minLength": 1}),
                        "padding" => {
                            serde_json::json!({"minimum": 0, "maximum": admin::reports::MAX_PADDING})
                        }
                        _ => continue,
                    };
                    if let (Some(schema), Some(bounds)) = (
                        parameter.get_mut("schema").and_then(Value::as_object_mut),
                        bounds.as_object(),
                    ) {
                        schema.extend(bounds.clone());
                    }
                }
            }
        }
    }
}

/// Operations that can answer 503 because of card payments (the provider
/// down, or payments not configured), besides a busy database.
const PAYMENT_OPERATIONS: &[&str] = &[
    "place_order",
    "quote_order",
    "start_payment",
    "refund_order",
    "cancel_admin_order",
    "stripe_webhook",
];

/// Narrows the shared error list of an operation to what it can answer: no
/// 415 where there is no body to be of the wrong type, and 503 says
/// "payments" only where payments are involved.
fn honest_errors(op: &mut serde_json::Map<String, serde_json::Value>) {
    let has_body = op.contains_key("requestBody");
    let id = op
        .get("operationId")
        .and_then(serde_json::Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let Some(responses) = op
        .get_mut("responses")
        .and_then(serde_json::Value::as_object_mut)
    else {
        return;
    };
    if !has_body {
        responses.remove("415");
    }
    if !PAYMENT_OPERATIONS.contains(&id.as_str())
        && let Some(unavailable) = responses.get_mut("503")
    {
        unavailable["description"] = serde_json::Value::String(
            "Not available right now: the service is busy or the database cannot be reached \
             (`database_unavailable`); `Retry-After` says when to retry."
                .to_owned(),
        );
    }
}

/// Realistic request bodies for the documentation and for generated clients'
/// tests, instead of `"string"` everywhere.
fn examples() -> Vec<(&'static str, serde_json::Value)> {
    use serde_json::json;
    let tier = "0193a5c2-7d4e-7b11-9f3a-2c5e8d1f4a60";
    vec![
        (
            "EventCreate",
            json!({
                "slug": "pycon-lux-2027", "name": "PyCon Luxembourg 2027",
                "description": "Two days of talks and a day of sprints.",
                "timezone": "Europe/Luxembourg",
                "starts_at": "2027-05-14T09:00:00+02:00", "ends_at": "2027-05-16T18:00:00+02:00",
                "venue": "European Convention Center, Kirchberg",
                "currency": "EUR", "capacity": 600,
                "swag_sizes": [
                    {"size": "S", "cut": "straight", "stock": 60},
                    {"size": "M", "cut": "straight", "stock": 150},
                    {"size": "M", "cut": "fitted", "stock": 80},
                    {"size": "L", "cut": "straight"}
                ],
                "dietary_options": ["vegetarian", "vegan", "gluten-free", "halal"],
                "attendee_edit_deadline": "2027-05-07T23:59:00+02:00"
            }),
        ),
        (
            "TierCreate",
            json!({
                "name": "Early bird", "description": "Conference days, lunch and a T-shirt.",
                "price": 14900, "capacity": 150, "includes_swag": true,
                "sales_start": "2027-01-15T10:00:00+01:00", "sales_end": "2027-03-01T00:00:00+01:00",
                "min_per_order": 1, "max_per_order": 5, "max_per_buyer": 5
            }),
        ),
        (
            "VoucherCreate",
            json!({
                "code": "SPEAKER-2027", "discount_kind": "percent", "discount_value": 100,
                "unlocks": [tier], "applies_to": [tier], "usage_limit": 40,
                "valid_until": "2027-05-16T18:00:00+02:00"
            }),
        ),
        (
            "OrderCreate",
            json!({
                "email": "ada@example.org", "voucher": "EARLY20",
                "tickets": [
                    {"tier_id": tier, "attendee_name": "Ada Lovelace", "swag_size": "M",
                     "swag_cut": "fitted", "dietary": "vegetarian", "notes": "Nut allergy"},
                    {"tier_id": tier, "attendee_name": "Charles Babbage",
                     "attendee_email": "charles@example.org", "swag_size": "L", "swag_cut": "straight"}
                ]
            }),
        ),
        (
            "CompCreate",
            json!({
                "email": "grace@example.org", "reason": "Keynote speaker",
                "tickets": [{"tier_id": tier, "attendee_name": "Grace Hopper", "swag_size": "M", "swag_cut": "straight"}]
            }),
        ),
        (
            "CancelBody",
            json!({"reason": "Duplicate registration", "refund": true}),
        ),
        (
            "RefundCreate",
            json!({"reason": "Cannot travel", "tickets": ["0193a5c2-9b01-7c22-8e4d-3f6a9b2c5d71"]}),
        ),
        (
            "TicketFix",
            json!({"attendee_name": "Jon Smith", "reason": "Name misspelt, reported by email"}),
        ),
        (
            "TokenCreate",
            json!({"name": "Door volunteer 3", "role": "volunteer", "events": ["pycon-lux-2027"]}),
        ),
        (
            "ScanRequest",
            json!({"list_id": "0193a5c3-0a11-7d33-9c5e-4a7b0c3d6e82", "token": "eyJhbGciOiJFZERTQSIsImtpZCI6Ii4uLiJ9.eyJ...",
                   "device": "door-tablet-1"}),
        ),
    ]
}

/// The OpenAPI document as pretty JSON, as served at `/openapi.json` and
/// committed in `openapi/openapi.json`.
pub fn spec_json() -> String {
    let mut text = serde_json::to_string_pretty(&spec()).unwrap_or_default();
    text.push('\n');
    text
}

/// Headers a browser front end may send and read across origins.
const CORS_REQUEST_HEADERS: [&str; 5] = [
    "authorization",
    "content-type",
    "idempotency-key",
    "x-order-token",
    "x-request-id",
];
const CORS_EXPOSED_HEADERS: [&str; 3] = ["x-request-id", "retry-after", "location"];

/// Every route of the service, with telemetry and problem+json errors.
/// `cors_origins` lists the browser origins allowed to call the API; when it
/// is empty no CORS headers are sent at all.
pub fn routes(
    state: AppState,
    cors_origins: &[String],
    body_timeout: std::time::Duration,
) -> BoxEndpoint<'static, Response> {
    let api = openapi();
    let docs = api.swagger_ui();
    let document = spec_json();
    let allowed = limits::AllowedMethods::from_spec(&spec());
    let spec = poem::endpoint::make_sync(move |_| {
        Response::builder()
            .content_type("application/json; charset=utf-8")
            .body(document.clone())
    });
    let metrics = state.metrics.clone();
    let clock = state.clock.clone();
    let routes = scanner::mount(Route::new())
        .at("/openapi.json", spec)
        .nest("/docs", docs)
        .nest("/", api)
        .data(state);
    let routes = if cors_origins.is_empty() {
        routes.boxed()
    } else {
        routes
            .with(CrossOriginOnly(
                Cors::new()
                    .allow_origins(cors_origins.iter().map(String::as_str))
                    .allow_methods([Method::GET, Method::POST, Method::PATCH, Method::DELETE])
                    .allow_headers(CORS_REQUEST_HEADERS)
                    .expose_headers(CORS_EXPOSED_HEADERS)
                    .max_age(3600),
            ))
            .boxed()
    };
    routes
        .with(poem::middleware::CatchPanic::new().with_handler(|_| {
            poem::error::ResponseError::as_response(&ApiError::internal(&std::io::Error::other(
                "a request handler panicked",
            )))
        }))
        .with(limits::RequestLimits {
            body_timeout,
            allowed: std::sync::Arc::new(allowed),
        })
        .with(Observe(metrics))
        .with(InClock(clock))
        .boxed()
}

/// Applies CORS to cross-origin requests only. A browser sends `Origin` on
/// some same-origin requests too (module scripts, POSTs): the service's own
/// pages (`/scan/`, `/docs`) must work under whatever host they are reached
/// by, not only the one in `TESSERA_PUBLIC_URL`, so a request whose `Origin`
/// names the host it was sent to skips the CORS check.
struct CrossOriginOnly(Cors);

impl<E: poem::Endpoint + 'static> poem::Middleware<E> for CrossOriginOnly {
    type Output = CrossOriginOnlyEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        let inner = std::sync::Arc::new(inner);
        CrossOriginOnlyEndpoint {
            cors: self.0.transform(inner.clone()),
            inner,
        }
    }
}

struct CrossOriginOnlyEndpoint<E: poem::Endpoint> {
    inner: std::sync::Arc<E>,
    cors: <Cors as poem::Middleware<std::sync::Arc<E>>>::Output,
}

/// Whether the request's `Origin` is the very host (and port) it was sent
/// to. A missing `Origin` is not same-origin here: the CORS middleware
/// already lets such requests through unchanged.
fn same_origin(req: &poem::Request) -> bool {
    let header = |name| req.headers().get(name).and_then(|v| v.to_str().ok());
    let (Some(origin), Some(host)) = (
        header(poem::http::header::ORIGIN),
        header(poem::http::header::HOST),
    ) else {
        return false;
    };
    let Ok(origin) = url::Url::parse(origin) else {
        return false;
    };
    let Some(origin_host) = origin.host_str() else {
        return false;
    };
    let authority = match origin.port() {
        Some(port) => format!("{origin_host}:{port}"),
        None => origin_host.to_owned(),
    };
    authority.eq_ignore_ascii_case(host)
}

impl<E: poem::Endpoint + 'static> poem::Endpoint for CrossOriginOnlyEndpoint<E> {
    type Output = Response;

    async fn call(&self, req: poem::Request) -> poem::Result<Self::Output> {
        if same_origin(&req) {
            self.inner
                .call(req)
                .await
                .map(poem::IntoResponse::into_response)
        } else {
            self.cors
                .call(req)
                .await
                .map(poem::IntoResponse::into_response)
        }
    }
}

/// Runs every request inside the application's clock.
struct InClock(crate::domain::clock::Clock);

impl<E: poem::Endpoint> poem::Middleware<E> for InClock {
    type Output = InClockEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        InClockEndpoint {
            inner,
            clock: self.0.clone(),
        }
    }
}

struct InClockEndpoint<E> {
    inner: E,
    clock: crate::domain::clock::Clock,
}

impl<E: poem::Endpoint> poem::Endpoint for InClockEndpoint<E> {
    type Output = E::Output;

    async fn call(&self, req: poem::Request) -> poem::Result<Self::Output> {
        self.clock.scope(self.inner.call(req)).await
    }
}

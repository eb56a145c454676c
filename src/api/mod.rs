//! The HTTP API: thin poem-openapi handlers, one module per resource. Each
//! handler extracts its input, calls `domain`, and maps the result to a wire
//! type; the OpenAPI document is generated from these declarations.

pub mod admin;
pub mod auth;
pub mod body;
pub mod catalogue;
pub mod checkin;
pub mod idempotent;
pub mod limits;
pub mod ops;
pub mod orders;
pub mod tickets;
pub mod types;
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
    /// Health, readiness and metrics for operators and load balancers.
    Operations,
    /// Events from the payment provider (Stripe), verified by signature.
    Webhooks,
}

type Apis = (
    catalogue::CatalogueApi,
    orders::OrdersApi,
    tickets::TicketsApi,
    checkin::CheckinApi,
    admin::events::EventsApi,
    admin::tiers::TiersApi,
    admin::vouchers::VouchersApi,
    admin::orders::OrderDeskApi,
    admin::checkin::CheckinAdminApi,
    admin::reports::ReportsApi,
    admin::keys::KeysApi,
    admin::tokens::TokensApi,
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
            orders::OrdersApi,
            tickets::TicketsApi,
            checkin::CheckinApi,
            admin::events::EventsApi,
            admin::tiers::TiersApi,
            admin::vouchers::VouchersApi,
            admin::orders::OrderDeskApi,
            admin::checkin::CheckinAdminApi,
            admin::reports::ReportsApi,
            admin::keys::KeysApi,
            admin::tokens::TokensApi,
            ops::OpsApi,
            webhooks::WebhooksApi,
            admin::payments::PaymentsAdminApi,
        ),
        "tessera",
        env!("CARGO_PKG_VERSION"),
    )
    .summary("Conference registration and ticketing API")
    .description(DESCRIPTION)
    .license("Apache-2.0")
}

/// The OpenAPI document as pretty JSON, as committed in `openapi/openapi.json`.
pub fn spec_json() -> String {
    let mut spec = openapi().spec();
    spec.push('\n');
    spec
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
    let spec = api.spec_endpoint();
    let allowed = serde_json::from_str(&api.spec())
        .map(|spec| limits::AllowedMethods::from_spec(&spec))
        .unwrap_or_default();
    let metrics = state.metrics.clone();
    let routes = Route::new()
        .at("/openapi.json", spec)
        .nest("/docs", docs)
        .nest("/", api)
        .data(state);
    let routes = if cors_origins.is_empty() {
        routes.boxed()
    } else {
        routes
            .with(
                Cors::new()
                    .allow_origins(cors_origins.iter().map(String::as_str))
                    .allow_methods([Method::GET, Method::POST, Method::PATCH, Method::DELETE])
                    .allow_headers(CORS_REQUEST_HEADERS)
                    .expose_headers(CORS_EXPOSED_HEADERS)
                    .max_age(3600),
            )
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
        .boxed()
}

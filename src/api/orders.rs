//! Public order endpoints, for the attendee front end.

use chrono::{DateTime, FixedOffset, Utc};
use entity::state::TicketStatus;
use poem::{IntoResponse, Request, Response, http::StatusCode, web::Data};
use poem_openapi::{
    ApiResponse, Object, OpenApi,
    param::{Header, Path},
    payload::{Json, Payload},
    registry::{MetaHeader, MetaMediaType, MetaResponse, MetaResponses, Registry},
    types::{MaybeUndefined, ToJSON, Type},
};
use serde::Deserialize;
use uuid::Uuid;

use super::{Tag, auth::OrderAuth, body::JsonBody, types::Found, types::patch_field};
use crate::{
    domain::{
        self,
        idempotency::Stored,
        orders::{
            Order, OrderState, TicketPatch,
            place::{OrderRequest, PlacedOrder, TicketRequest},
        },
        payments::{Flow, PaymentStart},
        staff::hash_secret,
    },
    error::{ApiError, PublicError},
    state::AppState,
};

/// One ticket of a new order.
#[derive(Debug, Clone, Object, Deserialize)]
#[oai(rename_all = "snake_case")]
#[serde(deny_unknown_fields)]
pub struct TicketCreate {
    /// A tier of this event (from `GET /events/{slug}/tiers`, or a hidden
    /// tier the voucher unlocks).
    pub tier_id: Uuid,
    /// 1-200 characters, as it should appear on the badge.
    pub attendee_name: String,
    /// The buyer's email when omitted.
    #[oai(nullable)]
    pub attendee_email: Option<String>,
    /// Required when the tier includes swag: a size of the event's chart.
    #[oai(nullable)]
    pub swag_size: Option<String>,
    /// The cut, when the chart has cuts.
    #[oai(nullable)]
    pub swag_cut: Option<String>,
    /// One of the event's dietary options.
    #[oai(nullable)]
    pub dietary: Option<String>,
    /// Allergies and other notes for the organizers, up to 1,000 characters.
    #[oai(nullable)]
    pub notes: Option<String>,
}

/// How the buyer pays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, poem_openapi::Enum, Deserialize, Default)]
#[oai(rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum PaymentMethod {
    /// A PaymentIntent: confirm it with Stripe.js / Elements and the
    /// `client_secret` (the default).
    #[default]
    PaymentIntent,
    /// Stripe's hosted Checkout page: send the buyer to `checkout_url`.
    Checkout,
}

/// The payment step asked for with a paid order.
#[derive(Debug, Clone, Object, Deserialize, Default)]
#[oai(rename_all = "snake_case")]
#[serde(deny_unknown_fields)]
pub struct PaymentChoice {
    #[serde(default)]
    #[oai(default)]
    pub method: PaymentMethod,
    /// For `checkout`: where Stripe sends the buyer after paying. Must be on
    /// one of the configured front-end origins (`TESSERA_CORS_ORIGINS`).
    #[oai(nullable)]
    pub success_url: Option<String>,
    /// For `checkout`: where Stripe sends the buyer who gives up.
    #[oai(nullable)]
    pub cancel_url: Option<String>,
}

impl PaymentChoice {
    fn flow(self) -> Flow {
        match self.method {
            PaymentMethod::PaymentIntent => Flow::Intent,
            PaymentMethod::Checkout => Flow::Checkout {
                success_url: self.success_url.unwrap_or_default(),
                cancel_url: self.cancel_url.unwrap_or_default(),
            },
        }
    }
}

/// A new order.
#[derive(Debug, Clone, Object, Deserialize)]
#[oai(rename_all = "snake_case")]
#[serde(deny_unknown_fields)]
pub struct OrderCreate {
    /// Where the confirmation goes.
    pub email: String,
    /// A voucher code (case-insensitive).
    #[oai(nullable)]
    pub voucher: Option<String>,
    /// For paid orders: how to pay (a PaymentIntent unless asked otherwise).
    #[oai(nullable)]
    pub payment: Option<PaymentChoice>,
    /// One entry per ticket, 1 to 50.
    pub tickets: Vec<TicketCreate>,
}

/// A ticket of an order.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "snake_case")]
pub struct TicketBody {
    pub id: Uuid,
    pub tier_id: Uuid,
    pub tier_name: String,
    pub status: TicketStatus,
    pub attendee_name: String,
    pub attendee_email: String,
    #[oai(nullable)]
    pub swag_size: Option<String>,
    #[oai(nullable)]
    pub swag_cut: Option<String>,
    #[oai(nullable)]
    pub dietary: Option<String>,
    pub notes: String,
    /// The tier's price, in minor units.
    pub unit_price: i64,
    /// What the voucher took off.
    pub discount: i64,
    /// What this ticket costs: `unit_price - discount`.
    pub price: i64,
}

/// What the front end does next about money.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "snake_case")]
pub struct PaymentStep {
    /// Whether the order waits for a payment.
    pub required: bool,
    /// The amount due, in minor units of `currency`.
    pub amount: i64,
    pub currency: String,
    /// Until when the tickets are held for this payment.
    #[oai(nullable)]
    pub hold_expires_at: Option<DateTime<FixedOffset>>,
    /// `payment_intent` or `checkout`, once a payment started.
    #[oai(nullable)]
    pub method: Option<PaymentMethod>,
    /// Stripe's PaymentIntent id.
    #[oai(nullable)]
    pub payment_intent: Option<String>,
    /// For Stripe.js / Elements. Only in the answers that start or resume a
    /// payment (placing the order, `POST /orders/{code}/payment`).
    #[oai(nullable)]
    pub client_secret: Option<String>,
    /// For `checkout`: the Stripe page to send the buyer to.
    #[oai(nullable)]
    pub checkout_url: Option<String>,
    /// Why the last payment attempt failed, as Stripe put it.
    #[oai(nullable)]
    pub last_error: Option<String>,
    /// What was received so far, in minor units.
    pub amount_paid: i64,
    /// What was refunded so far, in minor units.
    pub amount_refunded: i64,
}

impl PaymentStep {
    /// Adds what a payment just started (or resumed) gives the front end.
    pub fn with(mut self, start: PaymentStart) -> Self {
        self.method = Some(match start.flow {
            Flow::Intent => PaymentMethod::PaymentIntent,
            Flow::Checkout { .. } => PaymentMethod::Checkout,
        });
        self.payment_intent = start.intent_id.or(self.payment_intent);
        self.client_secret = start.client_secret;
        self.checkout_url = start.checkout_url;
        self
    }
}

/// An order.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "snake_case")]
pub struct OrderBody {
    /// The order's short code, e.g. `K7M2Q9XD`.
    pub code: String,
    /// Slug of the event.
    pub event: String,
    pub state: OrderState,
    pub email: String,
    pub currency: String,
    /// Sum of the tickets' unit prices, in minor units.
    pub subtotal: i64,
    /// Sum of the discounts.
    pub discount: i64,
    /// What is charged: `subtotal - discount`.
    pub total: i64,
    /// For pending orders: when the hold ends. Every time of an order is
    /// given with the event's UTC offset, as people at the venue read it.
    #[oai(nullable)]
    pub expires_at: Option<DateTime<FixedOffset>>,
    pub created_at: DateTime<FixedOffset>,
    #[oai(nullable)]
    pub paid_at: Option<DateTime<FixedOffset>>,
    #[oai(nullable)]
    pub cancelled_at: Option<DateTime<FixedOffset>>,
    pub payment: PaymentStep,
    pub tickets: Vec<TicketBody>,
}

impl From<Order> for OrderBody {
    fn from(order: Order) -> Self {
        let pending = order.state == OrderState::Pending;
        let model = order.model;
        let zone = order.zone;
        let local = |at: Option<DateTime<Utc>>| at.map(|at| zone.at(at));
        Self {
            payment: PaymentStep {
                required: pending,
                amount: if pending { model.total } else { 0 },
                currency: model.currency.clone(),
                hold_expires_at: local(model.expires_at.filter(|_| pending)),
                method: if model.checkout_session_id.is_some() {
                    Some(PaymentMethod::Checkout)
                } else if model.payment_intent_id.is_some() {
                    Some(PaymentMethod::PaymentIntent)
                } else {
                    None
                },
                payment_intent: model.payment_intent_id.clone(),
                client_secret: None,
                checkout_url: None,
                last_error: model.payment_error.clone(),
                amount_paid: model.amount_paid,
                amount_refunded: model.amount_refunded,
            },
            code: model.code,
            event: order.event_slug,
            state: order.state,
            email: model.email,
            currency: model.currency,
            subtotal: model.subtotal,
            discount: model.discount,
            total: model.total,
            expires_at: local(model.expires_at.filter(|_| pending)),
            created_at: zone.at(model.created_at),
            paid_at: local(model.paid_at),
            cancelled_at: local(model.cancelled_at),
            tickets: order.tickets.into_iter().map(Into::into).collect(),
        }
    }
}

impl From<domain::orders::Ticket> for TicketBody {
    fn from(t: domain::orders::Ticket) -> Self {
        Self {
            id: t.model.id,
            tier_id: t.model.tier_id,
            tier_name: t.tier_name,
            status: t.status,
            attendee_name: t.model.attendee_name,
            attendee_email: t.model.attendee_email,
            swag_size: t.model.swag_size,
            swag_cut: t.model.swag_cut,
            dietary: t.model.dietary,
            notes: t.model.notes,
            unit_price: t.model.unit_price,
            discount: t.model.discount,
            price: t.model.price,
        }
    }
}

/// A new order, with the order token that authorises every later request
/// about it. The token is shown only here: keep it (for example in the
/// confirmation link).
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "snake_case")]
pub struct PlacedOrderBody {
    /// Send as `Authorization: Bearer <order_token>` or `X-Order-Token`.
    pub order_token: String,
    #[oai(flatten)]
    pub order: OrderBody,
}

impl From<PlacedOrder> for PlacedOrderBody {
    fn from(placed: PlacedOrder) -> Self {
        Self {
            order_token: placed.token,
            order: placed.order.into(),
        }
    }
}

/// The answer to placing an order: the new order, or (for a retried
/// `Idempotency-Key`) the very answer the first request got.
pub enum OrderCreated {
    Created(Box<PlacedOrderBody>),
    Replayed(Stored),
}

impl ApiResponse for OrderCreated {
    fn meta() -> MetaResponses {
        MetaResponses {
            responses: vec![MetaResponse {
                description: "The order was placed: free orders are paid at once, others are pending and hold \
                              their tickets until `expires_at`. A retry with a known `Idempotency-Key` gets the \
                              first answer again, marked `Idempotent-Replayed: true`.",
                status: Some(201),
                status_range: None,
                content: vec![MetaMediaType {
                    content_type: <Json<PlacedOrderBody> as Payload>::CONTENT_TYPE,
                    schema: PlacedOrderBody::schema_ref(),
                }],
                headers: vec![MetaHeader {
                    name: "Idempotent-Replayed".to_owned(),
                    description: Some(
                        "`true` when this is the stored answer to an earlier request.".to_owned(),
                    ),
                    required: false,
                    deprecated: false,
                    schema: bool::schema_ref(),
                }],
            }],
        }
    }

    fn register(registry: &mut Registry) {
        PlacedOrderBody::register(registry);
    }
}

impl IntoResponse for OrderCreated {
    fn into_response(self) -> Response {
        match self {
            OrderCreated::Created(body) => {
                Json(*body).with_status(StatusCode::CREATED).into_response()
            }
            OrderCreated::Replayed(stored) => super::idempotent::replay(stored),
        }
    }
}

/// Changes to a ticket: fields left out stay as they are.
#[derive(Debug, Clone, Object, Deserialize)]
#[oai(rename_all = "snake_case")]
#[serde(deny_unknown_fields)]
pub struct TicketUpdate {
    /// A new name makes the ticket's old check-in token stop working.
    #[oai(nullable)]
    pub attendee_name: Option<String>,
    /// A new email makes the ticket's old check-in token stop working.
    #[oai(nullable)]
    pub attendee_email: Option<String>,
    /// A size of the event's chart with stock left.
    #[oai(nullable)]
    pub swag_size: Option<String>,
    #[serde(default)]
    #[oai(nullable)]
    pub swag_cut: MaybeUndefined<String>,
    /// One of the event's dietary options; `null` for none.
    #[serde(default)]
    #[oai(nullable)]
    pub dietary: MaybeUndefined<String>,
    #[oai(nullable)]
    pub notes: Option<String>,
}

impl From<TicketUpdate> for TicketPatch {
    fn from(body: TicketUpdate) -> Self {
        Self {
            attendee_name: body.attendee_name,
            attendee_email: body.attendee_email,
            swag_size: body.swag_size,
            swag_cut: patch_field(body.swag_cut),
            dietary: patch_field(body.dietary),
            notes: body.notes,
        }
    }
}

/// The client's address, hashed: what the hold limits count by. Behind a
/// proxy, the configured header's last entry; otherwise the peer address.
pub fn client_key(state: &AppState, req: &Request) -> String {
    let from_header = state.client_ip_header.as_deref().and_then(|name| {
        req.header(name)
            .and_then(|value| value.rsplit(',').next())
            .map(|ip| ip.trim().to_owned())
            .filter(|ip| !ip.is_empty())
    });
    let ip = from_header.unwrap_or_else(|| match req.remote_addr().as_socket_addr() {
        Some(addr) => addr.ip().to_string(),
        None => req.remote_addr().to_string(),
    });
    hash_secret(&format!("client:{ip}"))[..32].to_owned()
}

/// The buyer's order as the domain takes it.
fn order_request(body: OrderCreate) -> OrderRequest {
    OrderRequest {
        email: body.email,
        voucher: body.voucher,
        tickets: body.tickets.into_iter().map(Into::into).collect(),
        attempt: None,
    }
}

impl From<TicketCreate> for TicketRequest {
    fn from(t: TicketCreate) -> Self {
        Self {
            tier_id: t.tier_id,
            attendee_name: t.attendee_name,
            attendee_email: t.attendee_email,
            swag_size: t.swag_size,
            swag_cut: t.swag_cut,
            dietary: t.dietary,
            notes: t.notes,
        }
    }
}

/// One ticket of a quote.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "snake_case")]
pub struct QuoteLine {
    pub tier_id: Uuid,
    pub tier_name: String,
    pub attendee_name: String,
    /// The tier's price, in minor units.
    pub unit_price: i64,
    /// What the voucher takes off.
    pub discount: i64,
    /// What this ticket costs: `unit_price - discount`.
    pub price: i64,
}

/// What placing the order would cost right now.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "snake_case")]
pub struct Quote {
    pub currency: String,
    pub subtotal: i64,
    pub discount: i64,
    pub total: i64,
    /// Whether the order would wait for a payment (`total` above 0).
    pub payment_required: bool,
    /// The voucher applied, as stored (upper case).
    #[oai(nullable)]
    pub voucher: Option<String>,
    /// One per ticket, in the order's order.
    pub lines: Vec<QuoteLine>,
}

pub struct OrdersApi;

#[OpenApi(prefix_path = "/api/v1", tag = "Tag::Orders")]
impl OrdersApi {
    /// Quote an order
    ///
    /// Takes the body of a new order and answers its lines with unit price,
    /// discount and price, and the totals, exactly as placing it now would;
    /// or the very error placing it now would answer (422 naming every
    /// field at fault, 409 `sold_out` / `swag_size_unavailable` /
    /// `voucher_used_up` / `buyer_limit_reached`, 429 `too_many_holds`, 503
    /// `payments_not_configured`). Holds nothing and writes nothing, so a
    /// moment later the order may still be refused if others buy meanwhile.
    #[oai(
        path = "/events/:slug/quote",
        method = "post",
        operation_id = "quote_order"
    )]
    async fn quote(
        &self,
        state: Data<&AppState>,
        req: &Request,
        slug: Path<String>,
        body: JsonBody<OrderCreate>,
    ) -> Result<Found<Quote>, PublicError> {
        let body = body.0;
        state
            .payments
            .check_flow(body.payment.clone().unwrap_or_default().flow(), "payment.")?;
        let order = domain::orders::place::quote(
            &state.db,
            &state.inventory,
            &slug,
            order_request(body),
            client_key(&state, req),
            state.payments.enabled(),
        )
        .await?;
        let model = &order.model;
        Ok(Found(Quote {
            currency: model.currency.clone(),
            subtotal: model.subtotal,
            discount: model.discount,
            total: model.total,
            payment_required: model.total > 0,
            voucher: order.voucher_code.clone(),
            lines: order
                .tickets
                .into_iter()
                .map(|t| QuoteLine {
                    tier_id: t.model.tier_id,
                    tier_name: t.tier_name,
                    attendee_name: t.model.attendee_name,
                    unit_price: t.model.unit_price,
                    discount: t.model.discount,
                    price: t.model.price,
                })
                .collect(),
        }))
    }

    /// Place an order
    ///
    /// Holds the tickets (or, for a free order, issues them at once) with
    /// every attendee's details. Totals and discounts are computed here,
    /// never taken from the client. Refusals carry a stable `code`:
    /// `sold_out` (409), `not_on_sale`, `invalid_voucher`, `unknown_tier`,
    /// `quantity_out_of_range`, `swag_size_unavailable` (409 when the stock
    /// ran out), `voucher_used_up` (409), `too_many_holds` (429), each naming
    /// the field at fault. Send an `Idempotency-Key` (a fresh UUID per
    /// purchase attempt) to make retries safe.
    #[oai(
        path = "/events/:slug/orders",
        method = "post",
        operation_id = "place_order"
    )]
    async fn place(
        &self,
        state: Data<&AppState>,
        req: &Request,
        slug: Path<String>,
        /// Makes retries safe: the same key with the same body returns the
        /// first answer and places nothing; with another body it is refused
        /// (`idempotency_key_reused`). Kept 24 hours.
        #[oai(name = "Idempotency-Key")]
        idempotency_key: Header<Option<String>>,
        body: JsonBody<OrderCreate>,
    ) -> Result<OrderCreated, PublicError> {
        let JsonBody(body, raw) = body;
        // Bad return URLs are refused before anything is held.
        let flow = state
            .payments
            .check_flow(body.payment.clone().unwrap_or_default().flow(), "payment.")?;
        let email_scope = hash_secret(&body.email.trim().to_lowercase());
        let request = order_request(body);
        let client = client_key(&state, req);
        let state: &AppState = &state;
        let slug: &str = &slug;
        let place = |attempt| async move {
            let placed = domain::orders::place::place(
                &state.db,
                &state.inventory,
                slug,
                OrderRequest { attempt, ..request },
                client,
                state.payments.enabled(),
            )
            .await?;
            let started =
                domain::payments::begin(&state.db, &state.payments, &placed.order, flow).await?;
            let mut body = PlacedOrderBody::from(placed);
            if let Some(started) = started {
                body.order.payment = body.order.payment.with(started);
            }
            Ok::<_, ApiError>(body)
        };
        let scope = format!("order:{slug}:{}", &email_scope[..32]);
        let outcome =
            super::idempotent::run(&state.db, &scope, idempotency_key.0, &raw, place, |body| {
                Stored {
                    status: 201,
                    body: body.to_json_string(),
                }
            })
            .await?;
        Ok(match outcome {
            super::idempotent::Outcome::Fresh(body) => OrderCreated::Created(Box::new(body)),
            super::idempotent::Outcome::Replayed(stored) => OrderCreated::Replayed(stored),
        })
    }

    /// Get an order
    ///
    /// Authorised by the order token; a wrong or missing token answers 404.
    #[oai(path = "/orders/:code", method = "get", operation_id = "get_order")]
    async fn get(
        &self,
        state: Data<&AppState>,
        auth: OrderAuth,
        code: Path<String>,
    ) -> Result<Found<OrderBody>, PublicError> {
        Ok(Found(
            domain::orders::get(&state.db, &code, auth.token())
                .await?
                .into(),
        ))
    }

    /// Cancel an unpaid order
    ///
    /// Releases the held tickets (and voucher uses) at once. Paid orders
    /// answer 409 `order_not_cancellable`: refunds go through the organizers.
    #[oai(
        path = "/orders/:code/cancel",
        method = "post",
        operation_id = "cancel_order"
    )]
    async fn cancel(
        &self,
        state: Data<&AppState>,
        auth: OrderAuth,
        code: Path<String>,
    ) -> Result<Found<OrderBody>, ApiError> {
        Ok(Found(
            domain::payments::cancel_order(&state.db, &state.payments, &code, auth.token())
                .await?
                .into(),
        ))
    }

    /// Start or resume the payment
    ///
    /// For a pending order: the PaymentIntent's `client_secret` again (the
    /// same PaymentIntent: a retry never charges twice), or the Checkout
    /// page's URL (the same session, with the return URLs it was made
    /// with). An order is paid one way: asking for the other method once a
    /// payment started answers 409 `payment_method_fixed`. 409
    /// `order_not_payable` once the order is paid, expired or cancelled; 503
    /// `payment_provider_unavailable` (retryable) when Stripe does not
    /// answer.
    #[oai(
        path = "/orders/:code/payment",
        method = "post",
        operation_id = "start_payment"
    )]
    async fn payment(
        &self,
        state: Data<&AppState>,
        auth: OrderAuth,
        code: Path<String>,
        body: JsonBody<PaymentChoice>,
    ) -> Result<Found<OrderBody>, PublicError> {
        let order = domain::orders::get(&state.db, &code, auth.token()).await?;
        let started =
            domain::payments::start(&state.db, &state.payments, &order, body.0.flow()).await?;
        let mut body = OrderBody::from(order);
        body.payment = body.payment.with(started);
        Ok(Found(body))
    }

    /// Change a ticket's details
    ///
    /// Name, email, swag size and cut (within stock), dietary preference and
    /// notes, until the event's edit deadline; after it, 409
    /// `edit_deadline_passed`.
    #[oai(
        path = "/orders/:code/tickets/:ticket_id",
        method = "patch",
        operation_id = "update_ticket"
    )]
    async fn update_ticket(
        &self,
        state: Data<&AppState>,
        auth: OrderAuth,
        code: Path<String>,
        ticket_id: Path<Uuid>,
        body: JsonBody<TicketUpdate>,
    ) -> Result<Found<OrderBody>, ApiError> {
        let order = domain::orders::update_ticket(
            &state.db,
            &code,
            auth.token(),
            ticket_id.0,
            body.0.into(),
        )
        .await?;
        Ok(Found(order.into()))
    }
}

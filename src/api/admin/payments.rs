//! Refunds and payments recorded by hand, on the order desk.

use crate::domain::idempotency::Attempt;
use chrono::{DateTime, Utc};
use entity::state::{RefundSource, RefundStatus};
use poem::{IntoResponse, Response, http::StatusCode, web::Data};
use poem_openapi::{
    ApiResponse, Object, OpenApi,
    param::{Header, Path},
    payload::{Json, Payload},
    registry::{MetaMediaType, MetaResponse, MetaResponses, Registry},
    types::{ToJSON, Type},
};
use serde::Deserialize;
use uuid::Uuid;

use super::orders::AdminOrder;
use crate::{
    api::{Tag, auth::StaffAuth, body::JsonBody, idempotent, types::Found},
    domain::{
        self,
        idempotency::Stored,
        payments::refunds::{self, RefundInput},
    },
    error::{ApiError, ApiResult},
    state::AppState,
};

/// A refund to make.
#[derive(Debug, Clone, Object, Deserialize)]
#[oai(rename_all = "snake_case")]
#[serde(deny_unknown_fields)]
pub struct RefundCreate {
    /// Tickets to refund; they stop working and their seats return. Leave
    /// out (with no `amount`) to refund the whole order.
    #[serde(default)]
    #[oai(default)]
    pub tickets: Vec<Uuid>,
    /// In minor units. By default the chosen tickets' prices, or everything
    /// left to refund. Never more than paid minus earlier refunds.
    #[oai(nullable)]
    pub amount: Option<i64>,
    /// Why, for the audit log and Stripe's metadata (1-500 characters).
    pub reason: String,
}

/// A refund.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "snake_case")]
pub struct RefundBody {
    pub id: Uuid,
    pub amount: i64,
    pub currency: String,
    pub reason: String,
    pub status: RefundStatus,
    pub source: RefundSource,
    /// Stripe's refund id, for reconciliation.
    #[oai(nullable)]
    pub stripe_refund_id: Option<String>,
    /// The tickets this refund revoked.
    pub tickets: Vec<Uuid>,
    #[oai(nullable)]
    pub failure: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl From<entity::refund::Model> for RefundBody {
    fn from(row: entity::refund::Model) -> Self {
        Self {
            tickets: refunds::ticket_ids(&row),
            id: row.id,
            amount: row.amount,
            currency: row.currency,
            reason: row.reason,
            status: row.status,
            source: row.source,
            stripe_refund_id: row.stripe_refund_id,
            failure: row.failure,
            created_at: row.created_at,
        }
    }
}

/// A payment received outside Stripe.
#[derive(Debug, Clone, Object, Deserialize)]
#[oai(rename_all = "snake_case")]
#[serde(deny_unknown_fields)]
pub struct MarkPaid {
    /// The bank transfer's reference or another note (1-500 characters).
    pub reference: String,
}

/// The answer to a refund request.
pub enum RefundCreated {
    Created(Box<RefundBody>),
    Replayed(Stored),
}

impl ApiResponse for RefundCreated {
    fn meta() -> MetaResponses {
        MetaResponses {
            responses: vec![MetaResponse {
                description: "The refund was recorded (and sent to Stripe for card payments). A retry with a \
                              known `Idempotency-Key` gets the first answer again.",
                status: Some(201),
                status_range: None,
                content: vec![MetaMediaType {
                    content_type: <Json<RefundBody> as Payload>::CONTENT_TYPE,
                    schema: RefundBody::schema_ref(),
                }],
                headers: vec![],
            }],
        }
    }

    fn register(registry: &mut Registry) {
        RefundBody::register(registry);
    }
}

impl IntoResponse for RefundCreated {
    fn into_response(self) -> Response {
        match self {
            RefundCreated::Created(body) => {
                Json(*body).with_status(StatusCode::CREATED).into_response()
            }
            RefundCreated::Replayed(stored) => idempotent::replay(stored),
        }
    }
}

pub struct PaymentsAdminApi;

#[OpenApi(prefix_path = "/api/v1/admin", tag = "Tag::AdminOrders")]
impl PaymentsAdminApi {
    /// Refund an order
    ///
    /// The whole order, chosen tickets, or part of the amount, with a
    /// reason. Card payments are refunded through Stripe (with an
    /// idempotency key); free, comp and hand-paid orders need no card.
    /// Refunded tickets are revoked and their seats return. 422
    /// `exceeds_refundable` (field `amount`) above what was paid minus
    /// earlier refunds; 409 `refund_refused` when Stripe says no. Audited.
    #[oai(
        path = "/events/:slug/orders/:code/refunds",
        method = "post",
        operation_id = "refund_order"
    )]
    async fn refund(
        &self,
        state: Data<&AppState>,
        auth: StaffAuth,
        slug: Path<String>,
        code: Path<String>,
        /// Makes retries safe: the same key with the same body returns the
        /// first answer and refunds nothing more. Kept 24 hours.
        #[oai(name = "Idempotency-Key")]
        idempotency_key: Header<Option<String>>,
        body: JsonBody<RefundCreate>,
    ) -> Result<RefundCreated, ApiError> {
        let JsonBody(body, raw) = body;
        let input = RefundInput {
            tickets: body.tickets,
            amount: body.amount,
            reason: body.reason,
        };
        let (state, staff, slug, code): (&AppState, _, &str, &str) =
            (&state, &auth.0, &slug, &code);
        let refund = |attempt: Option<Attempt>| async move {
            refunds::request(
                &state.db,
                &state.payments,
                staff,
                slug,
                code,
                input,
                attempt.as_ref(),
            )
            .await
            .map(RefundBody::from)
            .map_err(ApiError::from)
        };
        let scope = format!("refund:{slug}:{}", code.to_uppercase());
        match idempotent::run(&state.db, &scope, idempotency_key.0, &raw, refund, |body| {
            Stored {
                status: 201,
                body: body.to_json_string(),
            }
        })
        .await?
        {
            idempotent::Outcome::Fresh(body) => Ok(RefundCreated::Created(Box::new(body))),
            idempotent::Outcome::Replayed(stored) => Ok(RefundCreated::Replayed(stored)),
        }
    }

    /// List an order's refunds
    #[oai(
        path = "/events/:slug/orders/:code/refunds",
        method = "get",
        operation_id = "list_refunds"
    )]
    async fn list(
        &self,
        state: Data<&AppState>,
        auth: StaffAuth,
        slug: Path<String>,
        code: Path<String>,
    ) -> ApiResult<Found<Vec<RefundBody>>> {
        let order = domain::desk::get(&state.db, &auth.0, &slug, &code).await?;
        let rows = refunds::of_order(&state.db, order.model.id).await?;
        Ok(Found(rows.into_iter().map(RefundBody::from).collect()))
    }

    /// Mark an order paid by hand
    ///
    /// For money received outside Stripe (a bank transfer). An expired
    /// order gets its seats back if they are still free (409 `sold_out`
    /// otherwise). Audited with the reference.
    #[oai(
        path = "/events/:slug/orders/:code/mark-paid",
        method = "post",
        operation_id = "mark_order_paid"
    )]
    async fn mark_paid(
        &self,
        state: Data<&AppState>,
        auth: StaffAuth,
        slug: Path<String>,
        code: Path<String>,
        body: JsonBody<MarkPaid>,
    ) -> ApiResult<Found<AdminOrder>> {
        let order = domain::payments::mark_paid(
            &state.db,
            &state.payments,
            &auth.0,
            &slug,
            &code,
            &body.0.reference,
        )
        .await?;
        Ok(Found(order.into()))
    }
}

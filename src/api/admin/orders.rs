//! The organizer's order desk.

use chrono::{DateTime, Utc};
use entity::state::{MessageState, OrderFlag};
use poem::web::Data;
use poem_openapi::{
    ApiResponse, Object, OpenApi,
    param::{Path, Query},
    payload::Json,
    types::MaybeUndefined,
};
use serde::Deserialize;
use uuid::Uuid;

use crate::{
    api::{
        Tag,
        auth::StaffAuth,
        body::JsonBody,
        orders::{OrderBody, TicketCreate},
        types::{Found, patch_field},
    },
    domain::{
        desk::{self, CancelInput, OrderFilter},
        orders::{
            Order, OrderState, TicketPatch,
            place::{self, CompRequest},
        },
    },
    error::ApiResult,
    state::AppState,
};

/// An order as organizers see it.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "snake_case")]
pub struct AdminOrder {
    /// For comp tickets: why they were issued.
    #[oai(nullable)]
    pub comp_reason: Option<String>,
    /// The voucher code the buyer used (each ticket's `price` is what it
    /// cost after it).
    #[oai(nullable)]
    pub voucher: Option<String>,
    /// Something to look at: `amount_mismatch`, `disputed`, `dispute_lost`,
    /// `late_payment_refunded`, `refund_failed`, `double_payment`,
    /// `cancelled_unrefunded` (cancelled with its money kept).
    #[oai(nullable)]
    pub flag: Option<OrderFlag>,
    #[oai(nullable)]
    pub flag_detail: Option<String>,
    /// While a dispute is open the tickets are refused at the door.
    #[oai(nullable)]
    pub disputed_at: Option<DateTime<Utc>>,
    #[oai(nullable)]
    pub checkout_session: Option<String>,
    #[oai(nullable)]
    pub charge: Option<String>,
    #[oai(flatten)]
    pub order: OrderBody,
}

impl From<Order> for AdminOrder {
    fn from(order: Order) -> Self {
        Self {
            comp_reason: order.model.comp_reason.clone(),
            voucher: order.voucher_code.clone(),
            flag: order.model.flag,
            flag_detail: order.model.flag_detail.clone(),
            disputed_at: order.model.disputed_at,
            checkout_session: order.model.checkout_session_id.clone(),
            charge: order.model.charge_id.clone(),
            order: order.into(),
        }
    }
}

/// A page of orders, oldest first.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "snake_case")]
pub struct AdminOrderPage {
    pub items: Vec<AdminOrder>,
    #[oai(nullable)]
    pub next_cursor: Option<String>,
}

/// Why an order is cancelled.
#[derive(Debug, Clone, Object, Deserialize)]
#[oai(rename_all = "snake_case")]
#[serde(deny_unknown_fields)]
pub struct CancelBody {
    /// 1-500 characters, kept in the audit log.
    pub reason: String,
    /// Required when the order is paid and holds money: `true` refunds
    /// everything not yet refunded (by card through Stripe, otherwise
    /// recorded as handed back), `false` keeps it and flags the order
    /// `cancelled_unrefunded`. Not needed for pending, free or refunded
    /// orders.
    #[serde(default)]
    pub refund: Option<bool>,
}

/// An organizer's fix to a ticket: fields left out stay as they are.
#[derive(Debug, Clone, Object, Deserialize)]
#[oai(rename_all = "snake_case")]
#[serde(deny_unknown_fields)]
pub struct TicketFix {
    #[oai(nullable)]
    pub attendee_name: Option<String>,
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
    /// Why, e.g. `Name misspelt, reported by email` (1-500 characters);
    /// kept in the audit log with who made the change. Checked with the
    /// other fields, so every fault is named at once.
    #[serde(default)]
    pub reason: String,
}

/// Tickets issued at no charge.
#[derive(Debug, Clone, Object, Deserialize)]
#[oai(rename_all = "snake_case")]
#[serde(deny_unknown_fields)]
pub struct CompCreate {
    /// Where the tickets go, e.g. the speaker's address.
    pub email: String,
    /// Why, e.g. `Speaker: Rust in space`; kept with the order and audited.
    pub reason: String,
    /// Any tier of the event, hidden or not on sale; capacity still applies.
    pub tickets: Vec<TicketCreate>,
}

/// Comp tickets just issued, with the order token for the recipient.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "snake_case")]
pub struct CompedOrder {
    /// Give this to the recipient so they can manage their tickets.
    pub order_token: String,
    #[oai(flatten)]
    pub order: AdminOrder,
}

#[derive(ApiResponse)]
pub enum Comped {
    /// The tickets were issued, paid at no charge.
    #[oai(status = 201)]
    Created(Json<CompedOrder>),
}

/// One entry of the audit log.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "snake_case")]
pub struct AuditEntry {
    pub at: DateTime<Utc>,
    /// The staff token's name, as it was then.
    pub staff_name: String,
    /// e.g. `order.cancelled`, `order.comped`.
    pub action: String,
    /// What it was done to, e.g. an order code.
    pub subject: String,
    /// The action's particulars, e.g. the reason given.
    pub detail: serde_json::Value,
}

/// A page of the audit log, newest first.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "snake_case")]
pub struct AuditPage {
    pub items: Vec<AuditEntry>,
    #[oai(nullable)]
    pub next_cursor: Option<String>,
}

pub struct OrderDeskApi;

#[OpenApi(prefix_path = "/api/v1/admin", tag = "Tag::AdminOrders")]
impl OrderDeskApi {
    /// List orders
    ///
    /// Filters combine; a pending order past its hold counts as expired.
    #[oai(
        path = "/events/:slug/orders",
        method = "get",
        operation_id = "list_orders"
    )]
    // poem-openapi reads each query parameter as its own argument (a struct
    // of them cannot be documented in the spec), so a filtered list has many.
    #[allow(clippy::too_many_arguments)]
    async fn list(
        &self,
        state: Data<&AppState>,
        auth: StaffAuth,
        slug: Path<String>,
        /// Only orders in this state.
        #[oai(name = "state")]
        order_state: Query<Option<OrderState>>,
        /// The buyer's email, exactly (case-insensitive).
        email: Query<Option<String>>,
        /// An order code.
        code: Query<Option<String>>,
        /// Orders with a ticket of this tier.
        tier: Query<Option<Uuid>>,
        /// Created at or after.
        created_from: Query<Option<DateTime<Utc>>>,
        /// Created before.
        created_to: Query<Option<DateTime<Utc>>>,
        /// Only orders with this flag, e.g. `cancelled_unrefunded` or
        /// `refund_failed`.
        flag: Query<Option<OrderFlag>>,
        /// Only orders with a message in this delivery state, e.g. `failed`
        /// (a mail bounced or gave up) or `not_sent`.
        message_state: Query<Option<MessageState>>,
        /// Page size, 1-200 (default 50).
        limit: Query<Option<u64>>,
        /// `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
    ) -> ApiResult<Found<AdminOrderPage>> {
        let filter = OrderFilter {
            state: order_state.0,
            email: email.0,
            code: code.0,
            tier: tier.0,
            created_from: created_from.0,
            created_to: created_to.0,
            flag: flag.0,
            message_state: message_state.0,
        };
        let page = desk::list(
            &state.db,
            &auth.0,
            &slug,
            filter,
            cursor.0.as_deref(),
            limit.0,
        )
        .await?;
        Ok(Found(AdminOrderPage {
            items: page.items.into_iter().map(Into::into).collect(),
            next_cursor: page.next_cursor,
        }))
    }

    /// Get an order
    #[oai(
        path = "/events/:slug/orders/:code",
        method = "get",
        operation_id = "get_admin_order"
    )]
    async fn get(
        &self,
        state: Data<&AppState>,
        auth: StaffAuth,
        slug: Path<String>,
        code: Path<String>,
    ) -> ApiResult<Found<AdminOrder>> {
        Ok(Found(
            desk::get(&state.db, &auth.0, &slug, &code).await?.into(),
        ))
    }

    /// Cancel an order
    ///
    /// Pending or paid: held tickets are released and valid ones revoked, and
    /// their inventory returns at once. A paid order that holds money needs
    /// `refund`: `true` refunds it in full (the answer's `payment` shows the
    /// amount refunded; a refund Stripe refuses leaves the order cancelled
    /// and flagged `refund_failed`), `false` keeps it and flags the order
    /// `cancelled_unrefunded`; left out it answers 422 `refund_required`
    /// (field `refund`). Cancelling a cancelled order changes nothing (refund
    /// it through `/refunds`). Audited.
    #[oai(
        path = "/events/:slug/orders/:code/cancel",
        method = "post",
        operation_id = "cancel_admin_order"
    )]
    async fn cancel(
        &self,
        state: Data<&AppState>,
        auth: StaffAuth,
        slug: Path<String>,
        code: Path<String>,
        body: JsonBody<CancelBody>,
    ) -> ApiResult<Found<AdminOrder>> {
        let body = body.0;
        let input = CancelInput {
            reason: body.reason,
            refund: body.refund,
        };
        let order = desk::cancel(&state.db, &state.payments, &auth.0, &slug, &code, input).await?;
        Ok(Found(order.into()))
    }

    /// Fix a ticket's attendee data
    ///
    /// Name, email, swag size and cut (within stock: 409
    /// `swag_size_unavailable`), dietary preference and notes, at any time
    /// (the attendee's `attendee_edit_deadline` does not apply), with a
    /// `reason`; every fault is reported at once (422). Audited as
    /// `ticket.updated` with who, why and which fields changed. The ticket's
    /// check-in token stays valid: to retire it, `reissue` the ticket.
    #[oai(
        path = "/events/:slug/orders/:code/tickets/:ticket_id",
        method = "patch",
        operation_id = "fix_admin_ticket"
    )]
    async fn fix_ticket(
        &self,
        state: Data<&AppState>,
        auth: StaffAuth,
        slug: Path<String>,
        code: Path<String>,
        ticket_id: Path<Uuid>,
        body: JsonBody<TicketFix>,
    ) -> ApiResult<Found<AdminOrder>> {
        let body = body.0;
        let patch = TicketPatch {
            attendee_name: body.attendee_name,
            attendee_email: body.attendee_email,
            swag_size: body.swag_size,
            swag_cut: patch_field(body.swag_cut),
            dietary: patch_field(body.dietary),
            notes: body.notes,
        };
        let order = desk::update_ticket(
            &state.db,
            &auth.0,
            &slug,
            &code,
            ticket_id.0,
            patch,
            &body.reason,
        )
        .await?;
        Ok(Found(order.into()))
    }

    /// Read the audit log
    ///
    /// Who cancelled or comped what, and why; newest first.
    #[oai(
        path = "/events/:slug/audit",
        method = "get",
        operation_id = "list_audit"
    )]
    async fn audit(
        &self,
        state: Data<&AppState>,
        auth: StaffAuth,
        slug: Path<String>,
        /// Page size, 1-200 (default 50).
        limit: Query<Option<u64>>,
        /// `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
    ) -> ApiResult<Found<AuditPage>> {
        let page =
            crate::domain::audit::list(&state.db, &auth.0, &slug, cursor.0.as_deref(), limit.0)
                .await?;
        Ok(Found(AuditPage {
            items: page
                .items
                .into_iter()
                .map(|row| AuditEntry {
                    at: row.created_at,
                    staff_name: row.staff_name,
                    action: row.action,
                    subject: row.subject,
                    detail: row.detail,
                })
                .collect(),
            next_cursor: page.next_cursor,
        }))
    }

    /// Comp tickets
    ///
    /// Issues paid tickets at no charge (speakers, sponsors, volunteers).
    /// Audited with who did it and why.
    #[oai(
        path = "/events/:slug/comps",
        method = "post",
        operation_id = "comp_tickets"
    )]
    async fn comp(
        &self,
        state: Data<&AppState>,
        auth: StaffAuth,
        slug: Path<String>,
        body: JsonBody<CompCreate>,
    ) -> ApiResult<Comped> {
        let b = body.0;
        let request = CompRequest {
            email: b.email,
            reason: b.reason,
            tickets: b.tickets.into_iter().map(Into::into).collect(),
        };
        let placed = place::comp(&state.db, &state.inventory, &auth.0, &slug, request).await?;
        Ok(Comped::Created(Json(CompedOrder {
            order_token: placed.token,
            order: placed.order.into(),
        })))
    }
}

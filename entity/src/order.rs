//! An order: one buyer, one or more tickets, one payment.

use sea_orm::entity::prelude::*;

use crate::state::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "orders")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub event_id: Uuid,
    /// Short human-friendly code, unique.
    #[sea_orm(unique)]
    pub code: String,
    pub email: String,
    /// SHA-256 of the order token, hex encoded.
    pub token_hash: String,
    /// `pending`, `paid`, `expired`, `cancelled` or `refunded`.
    pub state: OrderState,
    pub currency: String,
    pub subtotal: i64,
    pub discount: i64,
    pub total: i64,
    /// How many tickets the order has.
    pub ticket_count: i32,
    pub voucher_id: Option<Uuid>,
    /// Until when a pending order holds its tickets.
    pub expires_at: Option<DateTimeUtc>,
    /// A hash of the buyer's network address, for hold limits.
    pub client_key: String,
    /// Why an organizer issued these tickets at no charge.
    pub comp_reason: Option<String>,
    pub created_by_staff: Option<Uuid>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub paid_at: Option<DateTimeUtc>,
    pub cancelled_at: Option<DateTimeUtc>,
    /// Stripe's PaymentIntent for this order, once a payment started.
    pub payment_intent_id: Option<String>,
    /// Stripe's Checkout Session, when the buyer pays through Checkout.
    pub checkout_session_id: Option<String>,
    /// The charge that paid the order (for refunds and disputes).
    pub charge_id: Option<String>,
    /// What was received, in minor units (0 until paid).
    pub amount_paid: i64,
    /// What was refunded so far (refunds requested or done, not failed).
    pub amount_refunded: i64,
    /// The last payment attempt's failure, as Stripe worded it.
    pub payment_error: Option<String>,
    /// Something an organizer must look at.
    pub flag: Option<OrderFlag>,
    pub flag_detail: Option<String>,
    /// Set while a dispute is open: the tickets are refused at the door.
    pub disputed_at: Option<DateTimeUtc>,
    /// The `Idempotency-Key` (scope and key, hashed) the order was placed
    /// under, so a retry after a crash finds it.
    pub idempotency_ref: Option<String>,
    /// The charge's refunded total as Stripe last reported it (only grows).
    pub charge_refunded: i64,
    /// The dispute Stripe reported last, and its latest status.
    pub dispute_id: Option<String>,
    pub dispute_status: Option<DisputeStatus>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::ticket::Entity")]
    Ticket,
    #[sea_orm(
        belongs_to = "super::event::Entity",
        from = "Column::EventId",
        to = "super::event::Column::Id"
    )]
    Event,
}

impl Related<super::ticket::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Ticket.def()
    }
}

impl Related<super::event::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Event.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}

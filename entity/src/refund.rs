//! Money given back on an order: by an organizer, automatically for a late
//! payment, or made in Stripe's dashboard.

use sea_orm::entity::prelude::*;

use crate::state::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "refund")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub order_id: Uuid,
    /// Stripe's refund id; `None` until Stripe accepted it, and for refunds
    /// that need no card (free, comp and hand-paid orders).
    #[sea_orm(unique)]
    pub stripe_refund_id: Option<String>,
    pub amount: i64,
    pub currency: String,
    pub reason: String,
    /// `requested` (not yet accepted by Stripe), `pending`, `succeeded`,
    /// `failed` or `canceled`.
    pub status: RefundStatus,
    /// `organizer`, `late_payment`, `stripe` (made in the dashboard) or
    /// `manual` (no card involved).
    pub source: RefundSource,
    /// The tickets this refund revokes (a JSON array of ids).
    pub ticket_ids: Json,
    pub staff_id: Option<Uuid>,
    pub failure: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    /// The `Idempotency-Key` (scope and key, hashed) it was requested under.
    pub idempotency_ref: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::order::Entity",
        from = "Column::OrderId",
        to = "super::order::Column::Id",
        on_delete = "Cascade"
    )]
    Order,
}

impl Related<super::order::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Order.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}

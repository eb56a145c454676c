//! One seat: a tier, an attendee and their choices.

use sea_orm::entity::prelude::*;

use crate::state::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "ticket")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub order_id: Uuid,
    pub event_id: Uuid,
    pub tier_id: Uuid,
    /// `held` (order pending), `valid` (paid), `released` (the hold ended:
    /// expired or cancelled before payment) or `revoked` (cancelled or
    /// refunded after payment).
    pub status: TicketStatus,
    /// For held tickets, when the hold ends (the order's `expires_at`).
    pub hold_expires_at: Option<DateTimeUtc>,
    pub attendee_name: String,
    pub attendee_email: String,
    pub swag_size: Option<String>,
    pub swag_cut: Option<String>,
    pub dietary: Option<String>,
    /// Allergies and other notes for the organizers.
    pub notes: String,
    pub unit_price: i64,
    pub discount: i64,
    pub price: i64,
    /// The voucher that discounted or unlocked this ticket.
    pub voucher_id: Option<Uuid>,
    /// Bumped whenever the check-in token must change.
    pub token_version: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
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
    #[sea_orm(
        belongs_to = "super::tier::Entity",
        from = "Column::TierId",
        to = "super::tier::Column::Id"
    )]
    Tier,
}

impl Related<super::order::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Order.def()
    }
}

impl Related<super::tier::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Tier.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}

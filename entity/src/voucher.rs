//! A voucher code: a discount, a key to hidden tiers, or both.

use sea_orm::entity::prelude::*;

use crate::state::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "voucher")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub event_id: Uuid,
    /// Upper-cased; codes compare case-insensitively.
    pub code: String,
    /// `none`, `percent` or `fixed`.
    pub discount_kind: DiscountKind,
    /// Percent (1-100) or minor units off each ticket.
    pub discount_value: i64,
    /// Tier ids the discount applies to; empty means every tier.
    #[sea_orm(column_type = "JsonBinary")]
    pub applies_to: Json,
    /// Hidden tier ids the voucher unlocks.
    #[sea_orm(column_type = "JsonBinary")]
    pub unlocks: Json,
    /// Tickets the voucher may be used for, held and paid ones counting.
    pub usage_limit: Option<i32>,
    pub valid_from: Option<DateTimeUtc>,
    pub valid_until: Option<DateTimeUtc>,
    pub archived_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::event::Entity",
        from = "Column::EventId",
        to = "super::event::Column::Id",
        on_delete = "Cascade"
    )]
    Event,
}

impl Related<super::event::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Event.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}

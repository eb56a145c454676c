//! What an event's tickets claim, kept as counters so that judging a
//! placement reads a handful of rows however many tickets the event holds.
//! The rule of what the counters mean lives in the service's
//! `domain::inventory::counts`.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "inventory_count")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub event_id: Uuid,
    /// `event` (the whole event), `tier`, `swag` (a size and cut) or
    /// `voucher`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub scope: String,
    /// Within the scope: empty for the event, the tier's or voucher's id,
    /// the lower-cased size and cut for swag.
    #[sea_orm(primary_key, auto_increment = false)]
    pub key: String,
    /// Tickets whose status is `held` or `valid`.
    pub claimed: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

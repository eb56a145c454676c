//! Who did what to which order, for organizers.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_log")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub event_id: Option<Uuid>,
    pub staff_id: Option<Uuid>,
    pub staff_name: String,
    /// e.g. `order.cancelled`, `order.comped`.
    pub action: String,
    /// What it was done to, e.g. an order code.
    pub subject: String,
    #[sea_orm(column_type = "JsonBinary")]
    pub detail: Json,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

//! Where and when tickets are scanned: a door, a room, the swag desk.

use sea_orm::entity::prelude::*;

use crate::state::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "checkin_list")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub event_id: Uuid,
    pub name: String,
    /// `entry` or `swag`.
    pub kind: ListKind,
    /// Tier ids admitted; empty means every tier.
    #[sea_orm(column_type = "JsonBinary")]
    pub tiers: Json,
    pub opens_at: Option<DateTimeUtc>,
    pub closes_at: Option<DateTimeUtc>,
    pub archived_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

//! A ticket tier: what is sold.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "tier")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub event_id: Uuid,
    pub name: String,
    pub description: String,
    /// Price in minor units of the event's currency.
    pub price: i64,
    pub capacity: i32,
    pub sales_start: Option<DateTimeUtc>,
    pub sales_end: Option<DateTimeUtc>,
    pub min_per_order: i32,
    pub max_per_order: i32,
    /// Most tickets of this tier one buyer email may have across their live
    /// orders; `None`: no limit.
    pub max_per_buyer: Option<i32>,
    pub hidden: bool,
    pub includes_swag: bool,
    pub sort_order: i32,
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

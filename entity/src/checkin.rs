//! The admission of a ticket on a list: at most one row per pair.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "checkin")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub list_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub ticket_id: Uuid,
    pub scanned_at: DateTimeUtc,
    pub device: String,
    /// The scan that admitted it.
    pub scan_id: Uuid,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::checkin_list::Entity",
        from = "Column::ListId",
        to = "super::checkin_list::Column::Id",
        on_delete = "Cascade"
    )]
    CheckinList,
}

impl Related<super::checkin_list::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::CheckinList.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}

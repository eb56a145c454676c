//! A change to an admission after the fact: what the scan log shows beside
//! the scan it changed, which keeps what its device was told.

use sea_orm::entity::prelude::*;

use crate::state::ChangeKind;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "checkin_change")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub list_id: Uuid,
    pub ticket_id: Uuid,
    /// The scan whose admission changed.
    pub scan_id: Uuid,
    pub kind: ChangeKind,
    /// For `displaced`: the earlier scan that took the admission over.
    pub by_scan_id: Option<Uuid>,
    /// For `undone`: who undid it, and why.
    pub staff_id: Option<Uuid>,
    pub reason: Option<String>,
    pub at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

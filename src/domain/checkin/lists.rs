//! Check-in lists: where and when tickets are scanned, for which tiers.

use std::collections::HashSet;

pub use entity::state::{ListKind, ScanResult};

use chrono::{DateTime, Utc};
use entity::{checkin_list, checkin_scan, event, tier};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, ModelTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, Set,
};
use uuid::Uuid;

use crate::domain::{
    DomainError, at_db_precision, events, now, staff::Staff, validation::FieldErrors,
};

/// A check-in list as the rest of the service sees it.
#[derive(Debug, Clone)]
pub struct CheckinList {
    pub id: Uuid,
    pub event_id: Uuid,
    pub name: String,
    pub kind: ListKind,
    /// Empty means every tier.
    pub tiers: Vec<Uuid>,
    pub opens_at: Option<DateTime<Utc>>,
    pub closes_at: Option<DateTime<Utc>>,
    pub archived_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl CheckinList {
    pub fn from_model(model: checkin_list::Model) -> Result<Self, DomainError> {
        let kind = model.kind;
        let tiers = serde_json::from_value(model.tiers)
            .map_err(|err| DomainError::Corrupt(format!("list {} tiers: {err}", model.id)))?;
        Ok(Self {
            id: model.id,
            event_id: model.event_id,
            name: model.name,
            kind,
            tiers,
            opens_at: model.opens_at,
            closes_at: model.closes_at,
            archived_at: model.archived_at,
            created_at: model.created_at,
            updated_at: model.updated_at,
        })
    }

    pub fn admits_tier(&self, tier: Uuid) -> bool {
        self.tiers.is_empty() || self.tiers.contains(&tier)
    }

    /// The tiers whose tickets this list expects: an entry list its tiers
    /// (`None`: every tier); a swag desk only those of its tiers that
    /// include swag, since it counts shirts, not people.
    pub async fn covered_tiers(
        &self,
        db: &impl sea_orm::ConnectionTrait,
    ) -> Result<Option<Vec<Uuid>>, DomainError> {
        match self.kind {
            ListKind::Entry if self.tiers.is_empty() => Ok(None),
            ListKind::Entry => Ok(Some(self.tiers.clone())),
            ListKind::Swag => {
                let swag: Vec<Uuid> = tier::Entity::find()
                    .select_only()
                    .column(tier::Column::Id)
                    .filter(tier::Column::EventId.eq(self.event_id))
                    .filter(tier::Column::IncludesSwag.eq(true))
                    .into_tuple()
                    .all(db)
                    .await?;
                Ok(Some(
                    swag.into_iter().filter(|t| self.admits_tier(*t)).collect(),
                ))
            }
        }
    }

    /// When this list admits, for an event on these dates: the list's own
    /// bounds where it has them (badge pick-up the evening before, a
    /// workshop room), otherwise the event's current dates widened by
    /// `grace`. Read at every scan, so moving the event moves the door.
    pub fn window(
        &self,
        starts_at: DateTime<Utc>,
        ends_at: DateTime<Utc>,
        grace: chrono::Duration,
    ) -> DoorWindow {
        DoorWindow {
            opens: self.opens_at.unwrap_or(starts_at - grace),
            closes: self.closes_at.unwrap_or(ends_at + grace),
            own_opening: self.opens_at.is_some(),
            own_closing: self.closes_at.is_some(),
        }
    }
}

/// When a list admits: from `opens` until just before `closes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DoorWindow {
    pub opens: DateTime<Utc>,
    pub closes: DateTime<Utc>,
    own_opening: bool,
    own_closing: bool,
}

impl DoorWindow {
    /// Why a scan at `at` is refused for its time, if it is: outside the
    /// list's own window, or before or after the event's.
    pub fn refusal_at(&self, at: DateTime<Utc>) -> Option<ScanResult> {
        if at < self.opens {
            Some(if self.own_opening {
                ScanResult::OutsideWindow
            } else {
                ScanResult::NotYetValid
            })
        } else if at >= self.closes {
            Some(if self.own_closing {
                ScanResult::OutsideWindow
            } else {
                ScanResult::Expired
            })
        } else {
            None
        }
    }
}

/// Everything needed to create a list.
#[derive(Debug, Clone)]
pub struct ListInput {
    pub name: String,
    pub kind: ListKind,
    pub tiers: Vec<Uuid>,
    pub opens_at: Option<DateTime<Utc>>,
    pub closes_at: Option<DateTime<Utc>>,
}

/// A partial update; `Some(None)` clears a window bound.
#[derive(Debug, Clone, Default)]
pub struct ListPatch {
    pub name: Option<String>,
    pub tiers: Option<Vec<Uuid>>,
    pub opens_at: Option<Option<DateTime<Utc>>>,
    pub closes_at: Option<Option<DateTime<Utc>>>,
}

fn validate(input: &mut ListInput, tiers: &[tier::Model]) -> Result<(), FieldErrors> {
    let mut errors = FieldErrors::new();
    input.name = errors.text("name", &input.name, 1, 100, false);
    let mut seen = HashSet::new();
    for (i, id) in input.tiers.iter().enumerate() {
        if !tiers.iter().any(|t| t.id == *id) {
            errors.add(
                format!("tiers[{i}]"),
                "unknown_tier",
                "no tier of this event has this id",
            );
        } else if !seen.insert(*id) {
            errors.add(
                format!("tiers[{i}]"),
                "duplicate",
                "this tier is listed twice",
            );
        }
    }
    if input.kind == ListKind::Swag
        && !tiers
            .iter()
            .any(|t| t.includes_swag && (input.tiers.is_empty() || input.tiers.contains(&t.id)))
    {
        errors.add(
            "tiers",
            "no_swag_tiers",
            "a swag desk needs at least one tier that includes swag",
        );
    }
    input.opens_at = input.opens_at.map(at_db_precision);
    input.closes_at = input.closes_at.map(at_db_precision);
    if let (Some(opens), Some(closes)) = (input.opens_at, input.closes_at)
        && closes <= opens
    {
        errors.add("closes_at", "ends_before_start", "must be after opens_at");
    }
    errors.finish(())
}

fn json(ids: &[Uuid]) -> Result<serde_json::Value, DomainError> {
    serde_json::to_value(ids).map_err(|e| DomainError::Corrupt(e.to_string()))
}

pub async fn create(
    db: &DatabaseConnection,
    staff: &Staff,
    slug: &str,
    mut input: ListInput,
) -> Result<CheckinList, DomainError> {
    let event = events::find_managed(db, staff, slug).await?;
    let tiers = event.find_related(tier::Entity).all(db).await?;
    validate(&mut input, &tiers)?;
    let at = now();
    let model = checkin_list::ActiveModel {
        id: Set(Uuid::now_v7()),
        event_id: Set(event.id),
        name: Set(input.name),
        kind: Set(input.kind),
        tiers: Set(json(&input.tiers)?),
        opens_at: Set(input.opens_at),
        closes_at: Set(input.closes_at),
        archived_at: Set(None),
        created_at: Set(at),
        updated_at: Set(at),
    }
    .insert(db)
    .await?;
    CheckinList::from_model(model)
}

pub async fn list(
    db: &DatabaseConnection,
    staff: &Staff,
    slug: &str,
) -> Result<Vec<CheckinList>, DomainError> {
    let event = events::find_managed(db, staff, slug).await?;
    checkin_list::Entity::find()
        .filter(checkin_list::Column::EventId.eq(event.id))
        .order_by_asc(checkin_list::Column::Id)
        .all(db)
        .await?
        .into_iter()
        .map(CheckinList::from_model)
        .collect()
}

pub(crate) async fn find_managed(
    db: &DatabaseConnection,
    staff: &Staff,
    slug: &str,
    id: Uuid,
) -> Result<(entity::event::Model, checkin_list::Model), DomainError> {
    let event = events::find_managed(db, staff, slug).await?;
    let model = checkin_list::Entity::find_by_id(id)
        .filter(checkin_list::Column::EventId.eq(event.id))
        .one(db)
        .await?
        .ok_or(DomainError::NotFound("check-in list"))?;
    Ok((event, model))
}

pub async fn get(
    db: &DatabaseConnection,
    staff: &Staff,
    slug: &str,
    id: Uuid,
) -> Result<CheckinList, DomainError> {
    CheckinList::from_model(find_managed(db, staff, slug, id).await?.1)
}

pub async fn update(
    db: &DatabaseConnection,
    staff: &Staff,
    slug: &str,
    id: Uuid,
    patch: ListPatch,
) -> Result<CheckinList, DomainError> {
    let (event, model) = find_managed(db, staff, slug, id).await?;
    let current = CheckinList::from_model(model.clone())?;
    let mut input = ListInput {
        name: patch.name.unwrap_or(current.name),
        kind: current.kind,
        tiers: patch.tiers.unwrap_or(current.tiers),
        opens_at: patch.opens_at.unwrap_or(current.opens_at),
        closes_at: patch.closes_at.unwrap_or(current.closes_at),
    };
    let tiers = event.find_related(tier::Entity).all(db).await?;
    validate(&mut input, &tiers)?;
    let mut active: checkin_list::ActiveModel = model.into();
    active.name = Set(input.name);
    active.tiers = Set(json(&input.tiers)?);
    active.opens_at = Set(input.opens_at);
    active.closes_at = Set(input.closes_at);
    active.updated_at = Set(now());
    CheckinList::from_model(active.update(db).await?)
}

/// Archives a list: scanners can no longer use it; its scans stay.
pub async fn archive(
    db: &DatabaseConnection,
    staff: &Staff,
    slug: &str,
    id: Uuid,
) -> Result<CheckinList, DomainError> {
    let (_, model) = find_managed(db, staff, slug, id).await?;
    if model.archived_at.is_some() {
        return CheckinList::from_model(model);
    }
    let mut active: checkin_list::ActiveModel = model.into();
    let at = now();
    active.archived_at = Set(Some(at));
    active.updated_at = Set(at);
    CheckinList::from_model(active.update(db).await?)
}

/// Deletes a list nobody scanned on; others are archived instead.
pub async fn delete(
    db: &DatabaseConnection,
    staff: &Staff,
    slug: &str,
    id: Uuid,
) -> Result<(), DomainError> {
    let (_, model) = find_managed(db, staff, slug, id).await?;
    let scans = checkin_scan::Entity::find()
        .filter(checkin_scan::Column::ListId.eq(model.id))
        .count(db)
        .await?;
    if scans > 0 {
        return Err(DomainError::conflict(
            "list_has_scans",
            "a list with scans is archived, not deleted: POST .../archive",
        ));
    }
    model.delete(db).await?;
    Ok(())
}

/// The lists a scanner may use: those of the events its token covers.
pub async fn for_scanner(
    db: &DatabaseConnection,
    staff: &Staff,
) -> Result<Vec<(CheckinList, event::Model)>, DomainError> {
    let mut query = checkin_list::Entity::find().filter(checkin_list::Column::ArchivedAt.is_null());
    if let crate::domain::staff::Scope::Events(ids) = &staff.scope {
        query = query.filter(checkin_list::Column::EventId.is_in(ids.iter().copied()));
    }
    let lists = query.order_by_asc(checkin_list::Column::Id).all(db).await?;
    let ids: Vec<Uuid> = lists.iter().map(|l| l.event_id).collect();
    let events: std::collections::HashMap<Uuid, event::Model> = event::Entity::find()
        .filter(event::Column::Id.is_in(ids))
        .all(db)
        .await?
        .into_iter()
        .map(|e| (e.id, e))
        .collect();
    lists
        .into_iter()
        .filter_map(|l| {
            let event = events.get(&l.event_id)?.clone();
            Some(CheckinList::from_model(l).map(|list| (list, event)))
        })
        .collect()
}

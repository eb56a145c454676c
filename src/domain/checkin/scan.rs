//! Scanning tickets at a door or the swag desk, online and offline.

use std::collections::HashMap;

pub use super::manifest::{ManifestTicket, manifest};
pub use entity::state::{ManifestState, ScanResult};

use chrono::{DateTime, Utc};
use entity::{checkin, checkin_change, checkin_list, checkin_scan, event, state::ChangeKind};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    Set, TransactionTrait, sea_query::OnConflict,
};
use uuid::Uuid;

use super::{
    lists::{CheckinList, DoorWindow, ListKind},
    reads::{ScanRow, scan_row},
    tokens::{self, TokenRefusal, TokenSettings},
};
use crate::domain::{
    DomainError,
    keys::KeyRing,
    now,
    orders::{OrderState, TicketStatus},
    staff::{Role, Staff},
};

/// What the volunteer needs to see about the ticket.
#[derive(Debug, Clone)]
pub struct Attendee {
    pub ticket_id: Uuid,
    pub name: String,
    pub tier: String,
    pub swag_size: Option<String>,
    pub swag_cut: Option<String>,
    pub dietary: Option<String>,
}

/// The admission that stands for a ticket on a list.
#[derive(Debug, Clone)]
pub struct Admission {
    pub at: DateTime<Utc>,
    pub device: String,
}

#[derive(Debug, Clone)]
pub struct ScanOutcome {
    pub scan_id: Uuid,
    pub result: ScanResult,
    pub attendee: Option<Attendee>,
    /// For `already_checked_in`: the admission that came first. For an
    /// offline scan that was admitted on its device but lost to an earlier
    /// scan elsewhere, or that displaced a later one: the other admission.
    pub admission: Option<Admission>,
    /// An offline scan that admitted a ticket another device also admitted.
    pub conflict: bool,
    pub kind: ListKind,
    /// The event scanned for, so the scanner can say which.
    pub event_slug: String,
    pub event_name: String,
    /// The server's clock when it decided the scan.
    pub server_time: DateTime<Utc>,
}

/// One scan as a device reports it.
#[derive(Debug, Clone)]
pub struct ScanInput {
    pub token: String,
    pub device: String,
    /// Set by devices for offline scans, so a re-upload changes nothing.
    pub scan_id: Option<Uuid>,
    /// When it happened; now for online scans.
    pub scanned_at: Option<DateTime<Utc>>,
}

/// A list and its event, as scans need them.
#[derive(Debug, Clone)]
pub struct OpenList {
    pub list: CheckinList,
    pub event_id: Uuid,
    pub slug: String,
    pub event_name: String,
    /// The event's current dates, which the door's window follows.
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
}

impl OpenList {
    pub fn window(&self, settings: &TokenSettings) -> DoorWindow {
        self.list
            .window(self.starts_at, self.ends_at, settings.grace)
    }
}

/// What scanning keeps per instance. The lists it scans on, for a few
/// seconds (at the door, every scan would otherwise read the same two rows; a
/// change to a list reaches scanners within `LIST_CACHE_TTL`), and the
/// workers that read tickets and write admissions in batches on PostgreSQL.
#[derive(Clone, Default)]
pub struct Scanning {
    entries: std::sync::Arc<std::sync::RwLock<HashMap<Uuid, Cached>>>,
    reads: super::reads::Reads,
    admissions: super::admissions::Admissions,
}

/// A list and when it was read.
type Cached = (DateTime<Utc>, OpenList);

/// How long a change to a list or its event's dates takes to reach scanners
/// (by the service's clock, so tests can let it pass).
pub const LIST_CACHE_TTL: chrono::Duration = chrono::Duration::seconds(5);

impl Scanning {
    fn get(&self, id: Uuid) -> Option<OpenList> {
        let entries = self.entries.read().ok()?;
        let (at, open) = entries.get(&id)?;
        (now() - *at < LIST_CACHE_TTL).then(|| open.clone())
    }

    fn put(&self, open: &OpenList) {
        if let Ok(mut entries) = self.entries.write() {
            let at = now();
            if entries.len() > 1_000 {
                entries.retain(|_, (cached, _)| at - *cached < LIST_CACHE_TTL);
            }
            entries.insert(open.list.id, (at, open.clone()));
        }
    }
}

/// The list and its event, checked against the scanner's rights.
pub async fn open_list(
    db: &DatabaseConnection,
    cache: &Scanning,
    staff: &Staff,
    list_id: Uuid,
) -> Result<OpenList, DomainError> {
    let open = match cache.get(list_id) {
        Some(open) => open,
        None => {
            let model = checkin_list::Entity::find_by_id(list_id)
                .one(db)
                .await?
                .ok_or(DomainError::NotFound("check-in list"))?;
            let event = event::Entity::find_by_id(model.event_id)
                .one(db)
                .await?
                .ok_or(DomainError::NotFound("event"))?;
            let open = OpenList {
                list: CheckinList::from_model(model)?,
                event_id: event.id,
                slug: event.slug,
                event_name: event.name,
                starts_at: event.starts_at,
                ends_at: event.ends_at,
            };
            cache.put(&open);
            open
        }
    };
    let allowed = match staff.role {
        Role::Admin => true,
        Role::Organizer | Role::Volunteer => staff.covers_event(open.event_id),
    };
    if !allowed {
        return Err(DomainError::forbidden(
            "this token is not scoped to this list's event",
        ));
    }
    if open.list.archived_at.is_some() {
        return Err(DomainError::conflict(
            "list_archived",
            "this check-in list is archived",
        ));
    }
    Ok(open)
}

impl Attendee {
    fn of(ticket: &ScanRow) -> Self {
        Self {
            ticket_id: ticket.id,
            name: ticket.attendee_name.clone(),
            tier: ticket.tier_name.clone(),
            swag_size: ticket.swag_size.clone(),
            swag_cut: ticket.swag_cut.clone(),
            dietary: ticket.dietary.clone(),
        }
    }
}

/// What a new admission announces to webhooks (`ticket.checked_in`).
pub(crate) fn checked_in(
    (list_id, list): (Uuid, &str),
    event_id: Uuid,
    order_id: Uuid,
    ticket_id: Uuid,
    device: &str,
    at: DateTime<Utc>,
) -> crate::domain::webhooks::Notice {
    crate::domain::webhooks::Notice::ticket(
        entity::state::WebhookType::TicketCheckedIn,
        event_id,
        order_id,
        ticket_id,
    )
    .with(serde_json::json!({
        "check_in": { "list_id": list_id, "list": list, "device": device, "at": at }
    }))
}

/// Scans one token on a list. Every scan is recorded, refused ones too.
pub async fn scan(
    db: &DatabaseConnection,
    keys: &KeyRing,
    settings: &TokenSettings,
    cache: &Scanning,
    staff: &Staff,
    list_id: Uuid,
    input: ScanInput,
) -> Result<ScanOutcome, DomainError> {
    let open = open_list(db, cache, staff, list_id).await?;
    let door = Door {
        db,
        keys,
        settings,
        scanning: cache,
        staff,
    };
    decide(&door, &open, input, false).await
}

/// What every scan is decided with: the database, the keys that verify
/// tokens, and who is scanning.
struct Door<'a> {
    db: &'a DatabaseConnection,
    keys: &'a KeyRing,
    settings: &'a TokenSettings,
    scanning: &'a Scanning,
    staff: &'a Staff,
}

/// One scan as the log records it.
struct Sighting<'a> {
    list: &'a CheckinList,
    device: String,
    scanned_at: DateTime<Utc>,
    recorded_at: DateTime<Utc>,
    staff: &'a Staff,
    offline: bool,
    /// Admitted by hand, without a token.
    manual: bool,
}

async fn decide(
    door: &Door<'_>,
    open: &OpenList,
    input: ScanInput,
    offline: bool,
) -> Result<ScanOutcome, DomainError> {
    let db = door.db;
    let recorded_at = now();
    let seen = Sighting {
        list: &open.list,
        device: input.device.trim().chars().take(100).collect(),
        scanned_at: input
            .scanned_at
            .map_or(recorded_at, crate::domain::at_db_precision),
        recorded_at,
        staff: door.staff,
        offline,
        manual: false,
    };
    let mut outcome = ScanOutcome::refused(open, input.scan_id, recorded_at);
    let verified = tokens::verify(door.keys, door.settings, input.token.trim(), &open.slug).await?;
    let claims = match verified {
        Ok(claims) => claims,
        Err(refusal) => {
            outcome.result = match refusal {
                TokenRefusal::Invalid => ScanResult::InvalidToken,
                TokenRefusal::WrongEvent => ScanResult::WrongEvent,
            };
            record(db, &outcome, &seen, None).await?;
            return Ok(outcome);
        }
    };
    let found = match tokens::expand(&claims.sub) {
        // The door's rush, online, reads through the event's batched
        // reader on PostgreSQL, like its admissions.
        Some(id) if batched(db, &seen) => door.scanning.reads.read(db, open.event_id, id).await?,
        Some(id) => scan_row(db, id).await?,
        None => None,
    };
    let Some(ticket) = found.filter(|t| t.event_id == open.event_id) else {
        record(db, &outcome, &seen, None).await?;
        return Ok(outcome);
    };
    conclude(door, open, &seen, outcome, &ticket, Some(&claims)).await
}

impl ScanOutcome {
    /// A scan that identified no ticket (yet): `invalid_token`.
    fn refused(open: &OpenList, scan_id: Option<Uuid>, at: DateTime<Utc>) -> Self {
        Self {
            scan_id: scan_id.unwrap_or_else(Uuid::now_v7),
            result: ScanResult::InvalidToken,
            attendee: None,
            admission: None,
            conflict: false,
            kind: open.list.kind,
            event_slug: open.slug.clone(),
            event_name: open.event_name.clone(),
            server_time: at,
        }
    }
}

/// Decides about an identified ticket, scanned (with the token's claims) or
/// picked by hand (without), admits it at most once, and records the scan.
async fn conclude(
    door: &Door<'_>,
    open: &OpenList,
    seen: &Sighting<'_>,
    mut outcome: ScanOutcome,
    ticket: &ScanRow,
    claims: Option<&tokens::Claims>,
) -> Result<ScanOutcome, DomainError> {
    let db = door.db;
    let list = &open.list;
    outcome.attendee = Some(Attendee::of(ticket));
    let window = open.window(door.settings);
    outcome.result = if seen.offline && !plausible(seen, &window, door.settings) {
        ScanResult::ClockSkew
    } else {
        judge(ticket, claims, list, &window, seen.scanned_at)
    };
    if outcome.result != ScanResult::Admitted {
        record(db, &outcome, seen, Some(ticket.id)).await?;
        return Ok(outcome);
    }
    // The door's rush, online, goes through the batched writer on
    // PostgreSQL; offline uploads and manual admissions commit one by one.
    if batched(db, seen) {
        let pending = super::admissions::Pending {
            list_id: list.id,
            list_name: list.name.clone(),
            event_id: list.event_id,
            order_id: ticket.order_id,
            ticket_id: ticket.id,
            scan_id: outcome.scan_id,
            device: seen.device.clone(),
            scanned_at: seen.scanned_at,
            recorded_at: seen.recorded_at,
            staff_id: Some(door.staff.id).filter(|id| !id.is_nil()),
        };
        if let Some(first) = door.scanning.admissions.write(db, pending).await? {
            outcome.result = ScanResult::AlreadyCheckedIn;
            outcome.admission = Some(first);
        }
        return Ok(outcome);
    }
    // The admission and its scan record commit together: one commit a scan.
    let txn = db.begin().await?;
    admit(&txn, &mut outcome, seen, ticket).await?;
    record(&txn, &outcome, seen, Some(ticket.id)).await?;
    txn.commit().await?;
    Ok(outcome)
}

/// A volunteer admits an attendee who has no QR code, by ticket id (found
/// with the list's attendee search): the same rules as a scan but the
/// token's, the same once-per-list admission, recorded as `manual`.
// The scanner's state, as for a scan, plus the ticket and the device.
#[allow(clippy::too_many_arguments)]
pub async fn admit_by_hand(
    db: &DatabaseConnection,
    keys: &KeyRing,
    settings: &TokenSettings,
    cache: &Scanning,
    staff: &Staff,
    list_id: Uuid,
    ticket_id: Uuid,
    device: &str,
) -> Result<ScanOutcome, DomainError> {
    let open = open_list(db, cache, staff, list_id).await?;
    let ticket = scan_row(db, ticket_id)
        .await?
        .filter(|t| t.event_id == open.event_id)
        .ok_or(DomainError::NotFound("ticket"))?;
    let door = Door {
        db,
        keys,
        settings,
        scanning: cache,
        staff,
    };
    let recorded_at = now();
    let seen = Sighting {
        list: &open.list,
        device: device.trim().chars().take(100).collect(),
        scanned_at: recorded_at,
        recorded_at,
        staff,
        offline: false,
        manual: true,
    };
    let outcome = ScanOutcome::refused(&open, None, recorded_at);
    conclude(&door, &open, &seen, outcome, &ticket, None).await
}

/// Whether a scan goes through the batched reader and writer: online scans
/// on PostgreSQL. SQLite is in-process (no round trip to save); offline
/// uploads need the earliest-wins rules, and manual admissions are few.
fn batched(db: &DatabaseConnection, seen: &Sighting<'_>) -> bool {
    !seen.offline && !seen.manual && db.get_database_backend() == sea_orm::DatabaseBackend::Postgres
}

/// Whether an offline scan's time can be true: not later than the upload
/// (give or take the allowed skew), not before its list could admit. A scan
/// dated otherwise says the device's clock is wrong, and is not admitted:
/// the earliest-scan rule only ever compares plausible times.
fn plausible(seen: &Sighting<'_>, window: &DoorWindow, settings: &TokenSettings) -> bool {
    seen.scanned_at <= seen.recorded_at + settings.clock_skew && seen.scanned_at >= window.opens
}

/// Everything but the once-per-list rule, for a scan at `at`; `claims` are
/// the scanned token's (none for an admission by hand).
fn judge(
    ticket: &ScanRow,
    claims: Option<&tokens::Claims>,
    list: &CheckinList,
    window: &DoorWindow,
    at: DateTime<Utc>,
) -> ScanResult {
    match (ticket.status, ticket.order_state) {
        (TicketStatus::Revoked, _) => ScanResult::Revoked,
        (TicketStatus::Valid, OrderState::Paid) => {
            if ticket.order_disputed_at.is_some() {
                ScanResult::Disputed
            } else if claims.is_some_and(|c| c.ver != ticket.token_version) {
                ScanResult::Superseded
            } else if !list.admits_tier(ticket.tier_id) {
                ScanResult::NotOnList
            } else if list.kind == ListKind::Swag && !ticket.includes_swag {
                ScanResult::NoSwag
            } else if let Some(expired) = claims.and_then(|c| c.expired_at(at)) {
                if expired {
                    ScanResult::Expired
                } else {
                    ScanResult::NotYetValid
                }
            } else if let Some(refusal) = window.refusal_at(at) {
                refusal
            } else {
                ScanResult::Admitted
            }
        }
        (_, OrderState::Cancelled | OrderState::Refunded)
            if ticket.status == TicketStatus::Valid =>
        {
            ScanResult::Revoked
        }
        _ => ScanResult::Unpaid,
    }
}

// Long on purpose: the offline takeover (earliest scan wins) is one guarded
// sequence of statements that must be read together.
/// Admits a ticket at most once per list: the primary key of the admission
/// decides between devices scanning at the same instant. For offline scans
/// the earliest scan wins, even when it arrives last.
async fn admit(
    db: &impl ConnectionTrait,
    outcome: &mut ScanOutcome,
    seen: &Sighting<'_>,
    scanned: &ScanRow,
) -> Result<(), DomainError> {
    let ticket = scanned.id;
    let (list, device, at, offline) = (
        seen.list,
        seen.device.as_str(),
        seen.scanned_at,
        seen.offline,
    );
    let row = checkin::ActiveModel {
        list_id: Set(list.id),
        ticket_id: Set(ticket),
        scanned_at: Set(at),
        device: Set(device.to_owned()),
        scan_id: Set(outcome.scan_id),
    };
    let inserted = checkin::Entity::insert(row)
        .on_conflict(
            OnConflict::columns([checkin::Column::ListId, checkin::Column::TicketId])
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    if inserted == 1 {
        let notice = checked_in(
            (seen.list.id, &seen.list.name),
            scanned.event_id,
            scanned.order_id,
            ticket,
            device,
            at,
        );
        crate::domain::webhooks::announce(db, vec![notice]).await?;
        return Ok(());
    }
    let existing = checkin::Entity::find_by_id((list.id, ticket))
        .one(db)
        .await?
        .ok_or(DomainError::NotFound("admission"))?;
    if offline && at < existing.scanned_at {
        // This scan came first: it takes the admission over, conditionally so
        // that two earlier scans racing here cannot both win.
        let moved = checkin::Entity::update_many()
            .col_expr(
                checkin::Column::ScannedAt,
                sea_orm::prelude::Expr::value(at),
            )
            .col_expr(
                checkin::Column::Device,
                sea_orm::prelude::Expr::value(device.to_owned()),
            )
            .col_expr(
                checkin::Column::ScanId,
                sea_orm::prelude::Expr::value(outcome.scan_id),
            )
            .filter(checkin::Column::ListId.eq(list.id))
            .filter(checkin::Column::TicketId.eq(ticket))
            .filter(checkin::Column::ScannedAt.gt(at))
            .exec(db)
            .await?
            .rows_affected;
        if moved == 1 {
            // The displaced scan keeps what its device was told; that it was
            // displaced is a fact of its own.
            let mut displaced = change(
                list.id,
                ticket,
                existing.scan_id,
                ChangeKind::Displaced,
                seen.recorded_at,
            );
            displaced.by_scan_id = Set(Some(outcome.scan_id));
            displaced.insert(db).await?;
            // A conflict is between devices; a tablet's own repeat is none.
            outcome.conflict = existing.device != device;
            outcome.admission = Some(Admission {
                at: existing.scanned_at,
                device: existing.device,
            });
            return Ok(());
        }
        let winner = checkin::Entity::find_by_id((list.id, ticket))
            .one(db)
            .await?
            .ok_or(DomainError::NotFound("admission"))?;
        outcome.result = ScanResult::AlreadyCheckedIn;
        outcome.conflict = winner.device != device;
        outcome.admission = Some(Admission {
            at: winner.scanned_at,
            device: winner.device,
        });
        return Ok(());
    }
    outcome.result = ScanResult::AlreadyCheckedIn;
    outcome.conflict = offline && existing.device != device;
    outcome.admission = Some(Admission {
        at: existing.scanned_at,
        device: existing.device,
    });
    Ok(())
}

/// A change to the admission `scan_id` made, after the fact; the caller
/// sets who or what made it.
pub(super) fn change(
    list_id: Uuid,
    ticket_id: Uuid,
    scan_id: Uuid,
    kind: ChangeKind,
    at: DateTime<Utc>,
) -> checkin_change::ActiveModel {
    checkin_change::ActiveModel {
        id: Set(Uuid::now_v7()),
        list_id: Set(list_id),
        ticket_id: Set(ticket_id),
        scan_id: Set(scan_id),
        kind: Set(kind),
        by_scan_id: Set(None),
        staff_id: Set(None),
        reason: Set(None),
        at: Set(at),
    }
}

async fn record(
    db: &impl ConnectionTrait,
    outcome: &ScanOutcome,
    seen: &Sighting<'_>,
    ticket: Option<Uuid>,
) -> Result<(), DomainError> {
    let row = checkin_scan::ActiveModel {
        id: Set(outcome.scan_id),
        list_id: Set(seen.list.id),
        event_id: Set(seen.list.event_id),
        ticket_id: Set(ticket),
        device: Set(seen.device.clone()),
        result: Set(outcome.result),
        scanned_at: Set(seen.scanned_at),
        recorded_at: Set(seen.recorded_at),
        staff_id: Set(Some(seen.staff.id).filter(|id| !id.is_nil())),
        offline: Set(seen.offline),
        conflict: Set(outcome.conflict),
        first_scanned_at: Set(outcome.admission.as_ref().map(|a| a.at)),
        first_device: Set(outcome.admission.as_ref().map(|a| a.device.clone())),
        manual: Set(seen.manual),
    };
    checkin_scan::Entity::insert(row)
        .on_conflict(
            OnConflict::column(checkin_scan::Column::Id)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// Uploads scans made offline. Each scan id is recorded once: a re-upload
/// answers what the first upload decided and changes nothing. Scans are
/// decided in the order they happened, so the earliest scan of a ticket on a
/// list wins.
pub async fn sync(
    db: &DatabaseConnection,
    keys: &KeyRing,
    settings: &TokenSettings,
    cache: &Scanning,
    staff: &Staff,
    list_id: Uuid,
    scans: Vec<ScanInput>,
) -> Result<Vec<ScanOutcome>, DomainError> {
    let open = open_list(db, cache, staff, list_id).await?;
    let door = Door {
        db,
        keys,
        settings,
        scanning: cache,
        staff,
    };
    // Scans uploaded before, read in one query.
    let mut seen_before: HashMap<Uuid, checkin_scan::Model> = checkin_scan::Entity::find()
        .filter(checkin_scan::Column::Id.is_in(scans.iter().filter_map(|s| s.scan_id)))
        .all(db)
        .await?
        .into_iter()
        .map(|s| (s.id, s))
        .collect();
    // Decided in the order they happened, answered in the order asked.
    let mut outcomes: Vec<Option<ScanOutcome>> = vec![None; scans.len()];
    let mut in_time: Vec<(usize, ScanInput)> = scans.into_iter().enumerate().collect();
    in_time.sort_by_key(|(_, s)| s.scanned_at);
    // A scan id sent twice in one batch answers what its first copy decided.
    let mut decided: HashMap<Uuid, ScanOutcome> = HashMap::new();
    for (i, input) in in_time {
        let id = input.scan_id;
        let outcome = if let Some(same) = id.and_then(|id| decided.get(&id)) {
            same.clone()
        } else if let Some(seen) = id.and_then(|id| seen_before.remove(&id)) {
            replay(db, &open, seen).await?
        } else {
            decide(&door, &open, input, true).await?
        };
        if let Some(id) = id {
            decided.insert(id, outcome.clone());
        }
        outcomes[i] = Some(outcome);
    }
    Ok(outcomes.into_iter().flatten().collect())
}

/// The stored outcome of a scan already recorded.
async fn replay(
    db: &DatabaseConnection,
    open: &OpenList,
    seen: checkin_scan::Model,
) -> Result<ScanOutcome, DomainError> {
    let attendee = match seen.ticket_id {
        Some(id) => scan_row(db, id).await?.as_ref().map(Attendee::of),
        None => None,
    };
    let admission = seen
        .first_scanned_at
        .zip(seen.first_device)
        .map(|(at, device)| Admission { at, device });
    Ok(ScanOutcome {
        scan_id: seen.id,
        result: seen.result,
        attendee,
        admission,
        conflict: seen.conflict,
        kind: open.list.kind,
        event_slug: open.slug.clone(),
        event_name: open.event_name.clone(),
        server_time: seen.recorded_at,
    })
}

#[cfg(test)]
mod tests {
    //! The scan decision over every combination of ticket status, order
    //! state, dispute, token version, list tiers and list window.

    use chrono::Duration;

    use super::*;

    fn claims(ver: i32) -> tokens::Claims {
        tokens::Claims {
            iss: "tessera".into(),
            aud: "conf".into(),
            sub: String::new(),
            tier: String::new(),
            ver,
            iat: 0,
            nbf: 0,
            exp: i64::MAX,
        }
    }

    #[test]
    fn a_ticket_is_admitted_exactly_when_every_rule_allows_it() {
        let at = Utc::now();
        let tier = Uuid::now_v7();
        let other_tier = Uuid::now_v7();
        // Opens and closes relative to the scan: no window, open now,
        // opens later, closed already.
        let windows = [
            (None, None, true),
            (
                Some(at - Duration::hours(1)),
                Some(at + Duration::hours(1)),
                true,
            ),
            (Some(at + Duration::minutes(1)), None, false),
            (None, Some(at), false),
        ];
        let mut admitted = 0;
        let mut cases = 0;
        for &status in TicketStatus::ALL {
            for &order_state in OrderState::ALL {
                for disputed in [false, true] {
                    for current_version in [true, false] {
                        for on_list in [true, false] {
                            for (opens_at, closes_at, open) in windows {
                                cases += 1;
                                let ticket = ScanRow {
                                    id: Uuid::now_v7(),
                                    event_id: Uuid::now_v7(),
                                    order_id: Uuid::now_v7(),
                                    tier_id: tier,
                                    status,
                                    token_version: 3,
                                    attendee_name: "Ada".into(),
                                    swag_size: None,
                                    swag_cut: None,
                                    dietary: None,
                                    tier_name: "Day".into(),
                                    includes_swag: false,
                                    order_state,
                                    order_disputed_at: disputed.then_some(at),
                                };
                                let list = CheckinList {
                                    id: Uuid::now_v7(),
                                    event_id: ticket.event_id,
                                    name: "Door".into(),
                                    kind: ListKind::Entry,
                                    tiers: vec![if on_list { tier } else { other_tier }],
                                    opens_at,
                                    closes_at,
                                    archived_at: None,
                                    created_at: at,
                                    updated_at: at,
                                };
                                let token = claims(if current_version { 3 } else { 2 });
                                let window = list.window(
                                    at - Duration::hours(1),
                                    at + Duration::hours(1),
                                    Duration::zero(),
                                );
                                let result = judge(&ticket, Some(&token), &list, &window, at);
                                let paid = status == TicketStatus::Valid
                                    && order_state == OrderState::Paid;
                                let case = format!(
                                    "{status}/{order_state} disputed={disputed} current={current_version} on_list={on_list} open={open}: {result}"
                                );
                                // Safety: only a paid, undisputed, current ticket of
                                // the list, inside its window, gets in.
                                assert_eq!(
                                    result == ScanResult::Admitted,
                                    paid && !disputed && current_version && on_list && open,
                                    "{case}"
                                );
                                // A revoked ticket says so, whatever else holds.
                                if status == TicketStatus::Revoked {
                                    assert_eq!(result, ScanResult::Revoked, "{case}");
                                }
                                // Not paid: revoked (cancelled or refunded after
                                // payment) or unpaid, never a list or window answer.
                                if !paid {
                                    assert!(
                                        matches!(result, ScanResult::Revoked | ScanResult::Unpaid),
                                        "{case}"
                                    );
                                }
                                // A dispute sends the attendee to the help desk
                                // before any other answer about a paid ticket.
                                if paid && disputed {
                                    assert_eq!(result, ScanResult::Disputed, "{case}");
                                }
                                if paid && !disputed && !current_version {
                                    assert_eq!(result, ScanResult::Superseded, "{case}");
                                }
                                admitted += usize::from(result == ScanResult::Admitted);
                            }
                        }
                    }
                }
            }
        }
        assert_eq!(cases, 4 * 5 * 2 * 2 * 2 * 4);
        assert_eq!(admitted, 2, "one ticket state, two open windows");
    }
}

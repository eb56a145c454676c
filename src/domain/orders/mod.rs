//! Orders and tickets: placing them, reading them with the order token,
//! cancelling unpaid ones, and attendees fixing their details.
//!
//! Order life cycle: `pending` (tickets held until `expires_at`) → `paid` |
//! `expired` | `cancelled`; `paid` → `cancelled` (by an organizer) or
//! `refunded`. Free orders are `paid` at once. Ticket status follows:
//! `held` → `valid` | `released`; `valid` → `revoked`.

pub mod fields;
pub mod own;
pub mod place;
pub mod pricing;

use fields::TicketFields;

pub use entity::state::{OrderState, TicketStatus};

use chrono::{DateTime, Utc};
use entity::{event, order, state::WebhookType, ticket, tier};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder, Set, TransactionTrait,
};
use uuid::Uuid;

use super::{
    DomainError, audit, counting,
    events::{Event, SwagSize},
    inventory, now, outbox,
    staff::{Staff, hash_secret},
    transitions,
    validation::FieldErrors,
    webhooks::Notice,
};

pub const ORDER_TOKEN_PREFIX: &str = "tso_";
/// Characters of order codes: no 0/O, 1/I/L, so they survive being read out
/// at a help desk.
const CODE_ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";
const CODE_LEN: usize = 8;
pub const MAX_NOTES: usize = 1_000;

/// A ticket with its tier's name, as shown to buyers and organizers.
#[derive(Debug, Clone)]
pub struct Ticket {
    pub model: ticket::Model,
    pub tier_name: String,
    /// The status as of now: a held ticket whose hold ended shows `released`.
    pub status: TicketStatus,
}

/// An order with its tickets, its state as of now.
#[derive(Debug, Clone)]
pub struct Order {
    pub model: order::Model,
    pub event_slug: String,
    pub state: OrderState,
    pub tickets: Vec<Ticket>,
    /// The code of the voucher the order used.
    pub voucher_code: Option<String>,
    /// The event's time zone, for the order's times as people read them.
    pub zone: super::events::LocalTime,
}

/// The state of a stored order at `at`: a pending order past its hold is
/// expired, whether or not the sweeper has marked it yet.
pub fn effective_state(model: &order::Model, at: DateTime<Utc>) -> OrderState {
    counting::order_state_at(model.state, model.expires_at, at)
}

fn effective_ticket_status(model: &ticket::Model, at: DateTime<Utc>) -> TicketStatus {
    counting::ticket_status_at(model.status, model.hold_expires_at, at)
}

/// Loads an order's tickets and tier names.
pub(crate) async fn assemble(
    db: &impl ConnectionTrait,
    model: order::Model,
) -> Result<Order, DomainError> {
    assemble_all(db, vec![model])
        .await?
        .pop()
        .ok_or(DomainError::NotFound("order"))
}

/// Loads the tickets and tier names of several orders in two queries, in
/// the orders' order.
pub(crate) async fn assemble_all(
    db: &impl ConnectionTrait,
    models: Vec<order::Model>,
) -> Result<Vec<Order>, DomainError> {
    if models.is_empty() {
        return Ok(Vec::new());
    }
    let at = now();
    let event_ids: Vec<Uuid> = models.iter().map(|m| m.event_id).collect();
    let slugs: std::collections::HashMap<Uuid, (String, super::events::LocalTime)> =
        event::Entity::find()
            .filter(event::Column::Id.is_in(event_ids))
            .all(db)
            .await?
            .into_iter()
            .map(|e| (e.id, (e.slug, super::events::LocalTime::of(&e.timezone))))
            .collect();
    let order_ids: Vec<Uuid> = models.iter().map(|m| m.id).collect();
    let rows = ticket::Entity::find()
        .filter(ticket::Column::OrderId.is_in(order_ids))
        .find_also_related(tier::Entity)
        .order_by_asc(ticket::Column::Id)
        .all(db)
        .await?;
    let voucher_ids: Vec<Uuid> = models.iter().filter_map(|m| m.voucher_id).collect();
    let codes: std::collections::HashMap<Uuid, String> = if voucher_ids.is_empty() {
        std::collections::HashMap::new()
    } else {
        entity::voucher::Entity::find()
            .filter(entity::voucher::Column::Id.is_in(voucher_ids))
            .all(db)
            .await?
            .into_iter()
            .map(|v| (v.id, v.code))
            .collect()
    };
    let mut by_order: std::collections::HashMap<Uuid, Vec<Ticket>> =
        std::collections::HashMap::new();
    for (ticket, tier) in rows {
        by_order.entry(ticket.order_id).or_default().push(Ticket {
            status: effective_ticket_status(&ticket, at),
            tier_name: tier.map(|t| t.name).unwrap_or_default(),
            model: ticket,
        });
    }
    models
        .into_iter()
        .map(|model| {
            let (event_slug, zone) = slugs
                .get(&model.event_id)
                .cloned()
                .ok_or(DomainError::NotFound("event"))?;
            Ok(Order {
                zone,
                state: effective_state(&model, at),
                tickets: by_order.remove(&model.id).unwrap_or_default(),
                voucher_code: model.voucher_id.and_then(|v| codes.get(&v).cloned()),
                event_slug,
                model,
            })
        })
        .collect()
}

fn random_bytes<const N: usize>() -> Result<[u8; N], DomainError> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes)
        .map_err(|err| DomainError::Corrupt(format!("no randomness: {err}")))?;
    Ok(bytes)
}

/// A new order code, e.g. `K7M2Q9XD` (40 bits).
pub fn generate_code() -> Result<String, DomainError> {
    let bytes = random_bytes::<CODE_LEN>()?;
    Ok(bytes
        .iter()
        .map(|b| char::from(CODE_ALPHABET[usize::from(*b) % CODE_ALPHABET.len()]))
        .collect())
}

/// A new order token: `tso_` and 43 URL-safe characters.
pub fn generate_token() -> Result<String, DomainError> {
    super::random_token(ORDER_TOKEN_PREFIX)
}

/// Normalises a code from a URL: trimmed, upper-cased, dashes dropped.
pub fn normalise_code(code: &str) -> String {
    code.trim().to_uppercase().replace('-', "")
}

/// Finds an order by code and token (the one it was placed with, or a live
/// link from a mail). A wrong or missing token answers "not
/// found", exactly as an unknown code does, so codes cannot be probed.
pub async fn find_by_token(
    db: &impl ConnectionTrait,
    code: &str,
    token: Option<&str>,
) -> Result<order::Model, DomainError> {
    let not_found = DomainError::NotFound("order");
    let Some(token) = token
        .map(str::trim)
        .filter(|t| t.starts_with(ORDER_TOKEN_PREFIX))
    else {
        return Err(not_found);
    };
    let model = order::Entity::find()
        .filter(order::Column::Code.eq(normalise_code(code)))
        .one(db)
        .await?
        .ok_or(DomainError::NotFound("order"))?;
    // The token the order was placed with, or a link a mail carried.
    if !constant_time_eq(hash_secret(token).as_bytes(), model.token_hash.as_bytes())
        && !crate::domain::links::opens_order(db, model.id, token).await?
    {
        return Err(not_found);
    }
    Ok(model)
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

pub async fn get(
    db: &DatabaseConnection,
    code: &str,
    token: Option<&str>,
) -> Result<Order, DomainError> {
    let model = find_by_token(db, code, token).await?;
    assemble(db, model).await
}

/// Ends a pending order's hold: the order becomes `to`, its held tickets
/// `released`. Conditional on the order still being pending, so a payment or
/// a sweeper racing with it cannot be undone. Returns whether it changed.
/// An expiry is announced to webhooks here, whoever noticed it (the sweeper,
/// Stripe's word that the payment lapsed).
pub(crate) async fn release(
    db: &impl ConnectionTrait,
    order_id: Uuid,
    to: OrderState,
) -> Result<bool, DomainError> {
    let at = now();
    let changed =
        transitions::move_order_from(db, order_id, &[OrderState::Pending], to, at, |u| u).await?;
    if changed {
        transitions::move_tickets(db, order_id, None, TicketStatus::Released, at).await?;
        if to == OrderState::Expired
            && let Some(order) = order::Entity::find_by_id(order_id).one(db).await?
        {
            let notice = Notice::order(WebhookType::OrderExpired, order.event_id, order.id);
            super::webhooks::announce(db, vec![notice]).await?;
        }
    }
    Ok(changed)
}

/// The attendee cancels an unpaid order; its tickets and voucher uses return
/// at once.
pub async fn cancel(
    db: &DatabaseConnection,
    code: &str,
    token: Option<&str>,
) -> Result<Order, DomainError> {
    let model = find_by_token(db, code, token).await?;
    match effective_state(&model, now()) {
        OrderState::Pending => {
            let txn = db.begin().await?;
            let released = release(&txn, model.id, OrderState::Cancelled).await?;
            if released {
                outbox::cancelled(&txn, &model).await?;
            }
            txn.commit().await?;
            if !released {
                // Paid or expired in the meantime: say what it is now.
                let current = order::Entity::find_by_id(model.id)
                    .one(db)
                    .await?
                    .ok_or(DomainError::NotFound("order"))?;
                return Err(not_cancellable(effective_state(&current, now())));
            }
        }
        OrderState::Cancelled => {}
        other => return Err(not_cancellable(other)),
    }
    let model = order::Entity::find_by_id(model.id)
        .one(db)
        .await?
        .ok_or(DomainError::NotFound("order"))?;
    assemble(db, model).await
}

fn not_cancellable(state: OrderState) -> DomainError {
    let message = match state {
        OrderState::Paid => "this order is paid; ask the organizers for a refund",
        OrderState::Expired => "this order has expired; nothing is held any more",
        _ => "this order can no longer be cancelled",
    };
    DomainError::conflict("order_not_cancellable", message)
}

/// What an attendee may change on a ticket.
#[derive(Debug, Clone, Default)]
pub struct TicketPatch {
    pub attendee_name: Option<String>,
    pub attendee_email: Option<String>,
    pub swag_size: Option<String>,
    pub swag_cut: Option<Option<String>>,
    pub dietary: Option<Option<String>>,
    pub notes: Option<String>,
}

/// Finds the chart entry matching a size and cut, case-insensitively.
pub fn match_swag<'a>(
    chart: &'a [SwagSize],
    size: &str,
    cut: Option<&str>,
) -> Option<&'a SwagSize> {
    chart.iter().find(|s| {
        s.size.eq_ignore_ascii_case(size.trim())
            && match (&s.cut, cut.map(str::trim)) {
                (None, None) => true,
                (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
                _ => false,
            }
    })
}

/// Finds the dietary option matching a choice, case-insensitively.
pub fn match_dietary<'a>(options: &'a [String], choice: &str) -> Option<&'a String> {
    options
        .iter()
        .find(|o| o.eq_ignore_ascii_case(choice.trim()))
}

/// Whether a ticket may change to this size and cut: it is its own already,
/// the chart does not count its stock, or some is left. Call under the event
/// lock, like a placement: two attendees taking the last shirt at once
/// cannot both get it.
async fn has_stock_for(
    txn: &sea_orm::DatabaseTransaction,
    event: &Event,
    current: &ticket::Model,
    (size, cut): (&str, Option<&str>),
    at: DateTime<Utc>,
) -> Result<bool, DomainError> {
    let unchanged =
        current.swag_size.as_deref() == Some(size) && current.swag_cut.as_deref() == cut;
    let stock = match_swag(&event.swag_sizes, size, cut).and_then(|c| c.stock);
    let Some(stock) = stock.filter(|_| !unchanged) else {
        return Ok(true);
    };
    let taken = inventory::taken(txn, event.id, at).await?;
    let key = (size.to_lowercase(), cut.map(str::to_lowercase));
    Ok(taken.by_swag.get(&key).copied().unwrap_or(0) < i64::from(stock))
}

/// Who changes a ticket's details, which decides when they may and what
/// happens to its check-in token.
pub enum Editor<'a> {
    /// The attendee (with the order token), until the event's edit
    /// deadline; a new name or email retires the old check-in token.
    Attendee,
    /// An organizer, at any time, with a reason; audited with who, why and
    /// which fields. The check-in token stays valid (reissue it separately
    /// to retire it).
    Organizer { staff: &'a Staff, reason: &'a str },
}

/// The attendee changes a ticket's details, until the event's edit deadline.
/// A new swag size must have stock left; a new name or email makes the old
/// check-in token stop working.
pub async fn update_ticket(
    db: &DatabaseConnection,
    code: &str,
    token: Option<&str>,
    ticket_id: Uuid,
    patch: TicketPatch,
) -> Result<Order, DomainError> {
    let model = find_by_token(db, code, token).await?;
    edit_ticket(db, model, ticket_id, patch, Editor::Attendee).await
}

// A little long: one set of rules for every field, read top to bottom.
/// Changes a ticket of `model`'s order, under the event lock (as a
/// placement is), with the field rules of [`TicketFields`]; every fault is
/// reported at once.
pub(crate) async fn edit_ticket(
    db: &DatabaseConnection,
    model: order::Model,
    ticket_id: Uuid,
    patch: TicketPatch,
    editor: Editor<'_>,
) -> Result<Order, DomainError> {
    let event = Event::from_model(
        event::Entity::find_by_id(model.event_id)
            .one(db)
            .await?
            .ok_or(DomainError::NotFound("event"))?,
    )?;
    let at = now();
    if matches!(editor, Editor::Attendee) && at > event.edits_close_at() {
        return Err(DomainError::conflict(
            "edit_deadline_passed",
            format!(
                "tickets could be changed until {}; ask the organizers",
                event.edits_close_at()
            ),
        ));
    }
    let txn = db.begin().await?;
    // Same lock as placements, so a size change and a sale cannot both take
    // the last shirt.
    inventory::lock_event(&txn, event.id).await?;
    let current = ticket::Entity::find_by_id(ticket_id)
        .filter(ticket::Column::OrderId.eq(model.id))
        .one(&txn)
        .await?
        .ok_or(DomainError::NotFound("ticket"))?;
    if !matches!(
        effective_ticket_status(&current, at),
        TicketStatus::Held | TicketStatus::Valid
    ) {
        return Err(DomainError::conflict(
            "ticket_not_editable",
            "this ticket is no longer valid",
        ));
    }
    let tier = tier::Entity::find_by_id(current.tier_id)
        .one(&txn)
        .await?
        .ok_or(DomainError::NotFound("tier"))?;

    let mut errors = FieldErrors::new();
    let mut active: ticket::ActiveModel = current.clone().into();
    let mut changed: Vec<&'static str> = Vec::new();
    let mut note = |field: &'static str, differs: bool| {
        if differs {
            changed.push(field);
        }
    };
    // Stock that ran out is a conflict with the present (409, as when
    // placing an order), not a fault in the request.
    let mut sold_out = false;
    let fields = TicketFields {
        event: &event,
        tier: &tier,
        prefix: String::new(),
    };
    if let Some(name) = &patch.attendee_name {
        let name = fields.name(&mut errors, name);
        note("attendee_name", name != current.attendee_name);
        active.attendee_name = Set(name);
    }
    if let Some(email) = patch
        .attendee_email
        .as_deref()
        .and_then(|e| fields.email(&mut errors, e))
    {
        note("attendee_email", email != current.attendee_email);
        active.attendee_email = Set(email);
    }
    if patch.swag_size.is_some() || patch.swag_cut.is_some() {
        let size = patch.swag_size.as_deref().or(current.swag_size.as_deref());
        let cut = match &patch.swag_cut {
            Some(cut) => cut.as_deref(),
            None => current.swag_cut.as_deref(),
        };
        if let Some((size, cut)) = fields.swag(&mut errors, size, cut) {
            sold_out = !has_stock_for(&txn, &event, &current, (&size, cut.as_deref()), at).await?;
            note(
                "swag_size",
                Some(&size) != current.swag_size.as_ref() || cut != current.swag_cut,
            );
            active.swag_size = Set(Some(size));
            active.swag_cut = Set(cut);
        }
    }
    if let Some(dietary) = &patch.dietary {
        let option = fields.dietary(&mut errors, dietary.as_deref());
        if option.is_some() || dietary.is_none() {
            note("dietary", option != current.dietary);
            active.dietary = Set(option);
        }
    }
    if let Some(notes) = &patch.notes {
        let notes = fields.notes(&mut errors, notes);
        note("notes", notes != current.notes);
        active.notes = Set(notes);
    }
    let reason = match &editor {
        Editor::Organizer { reason, .. } => errors.text("reason", reason, 1, 500, false),
        Editor::Attendee => String::new(),
    };
    errors.finish(())?;
    if sold_out {
        return Err(fields::swag_unavailable(["swag_size".to_owned()]));
    }
    let identity_changed =
        changed.contains(&"attendee_name") || changed.contains(&"attendee_email");
    let new_address = changed.contains(&"attendee_email");
    // The ticket goes to its attendee again after an organizer's change, and
    // to a new address whoever changed it (whose old links stop working).
    let mail_again =
        new_address || (matches!(editor, Editor::Organizer { .. }) && !changed.is_empty());
    match editor {
        Editor::Attendee if identity_changed => {
            active.token_version = Set(current.token_version + 1);
        }
        Editor::Attendee => {}
        Editor::Organizer { staff, .. } => {
            audit::record(
                &txn,
                staff,
                event.id,
                "ticket.updated",
                &model.code,
                serde_json::json!({"ticket": ticket_id, "reason": reason, "fields": changed}),
            )
            .await?;
        }
    }
    active.updated_at = Set(at);
    let updated = active.update(&txn).await?;
    if counting::claims(current.status)
        && (updated.swag_size != current.swag_size || updated.swag_cut != current.swag_cut)
    {
        let mut deltas = inventory::Deltas::default();
        deltas.ticket(&current, -1);
        deltas.ticket(&updated, 1);
        deltas.apply(&txn).await?;
    }
    if new_address {
        crate::domain::links::retire_ticket(&txn, ticket_id, at).await?;
    }
    if mail_again && updated.status == TicketStatus::Valid {
        outbox::enqueue(&txn, vec![outbox::Outgoing::ticket(&updated)]).await?;
    }
    if !changed.is_empty() {
        let notice = Notice::ticket(WebhookType::TicketUpdated, event.id, model.id, ticket_id)
            .with(serde_json::json!({ "fields": changed }));
        super::webhooks::announce(&txn, vec![notice]).await?;
    }
    txn.commit().await?;
    let model = order::Entity::find_by_id(model.id)
        .one(db)
        .await?
        .ok_or(DomainError::NotFound("order"))?;
    assemble(db, model).await
}

/// Marks expired every pending order whose hold has ended, releasing its
/// tickets. Safe to run on several instances at once: each order changes
/// only while it is still pending. Returns the orders this call expired.
pub async fn expire_due(db: &DatabaseConnection, limit: u64) -> Result<Vec<Uuid>, DomainError> {
    use sea_orm::QuerySelect;
    let due: Vec<Uuid> = order::Entity::find()
        .select_only()
        .column(order::Column::Id)
        .filter(order::Column::State.eq(OrderState::Pending))
        .filter(order::Column::ExpiresAt.lte(now()))
        .limit(limit)
        .into_tuple()
        .all(db)
        .await?;
    let mut expired = Vec::new();
    for id in due {
        let txn = db.begin().await?;
        if release(&txn, id, OrderState::Expired).await? {
            expired.push(id);
        }
        txn.commit().await?;
    }
    Ok(expired)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_use_only_unambiguous_characters() {
        for _ in 0..100 {
            let code = generate_code().unwrap();
            assert_eq!(code.len(), CODE_LEN);
            assert!(code.bytes().all(|b| CODE_ALPHABET.contains(&b)), "{code}");
            assert!(!code.contains(['0', 'O', '1', 'I', 'L']));
        }
    }

    #[test]
    fn codes_from_urls_are_normalised() {
        assert_eq!(normalise_code(" k7m2-q9xd "), "K7M2Q9XD");
    }

    #[test]
    fn tokens_have_their_prefix() {
        let token = generate_token().unwrap();
        assert!(token.starts_with(ORDER_TOKEN_PREFIX) && token.len() == 47);
    }

    #[test]
    fn swag_choices_match_the_chart_case_insensitively() {
        let chart = vec![
            SwagSize {
                size: "M".into(),
                cut: Some("fitted".into()),
                stock: None,
            },
            SwagSize {
                size: "L".into(),
                cut: None,
                stock: Some(3),
            },
        ];
        assert!(match_swag(&chart, "m", Some("Fitted")).is_some());
        assert!(match_swag(&chart, "M", None).is_none());
        assert!(match_swag(&chart, "L", None).is_some());
        assert!(match_swag(&chart, "XL", None).is_none());
    }
}

//! Placing an order: checking every ticket against the event's rules,
//! pricing it on the server, and handing it to the inventory.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use entity::{event, order, ticket, tier};
use sea_orm::{ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, Set};
use uuid::Uuid;

use super::{
    Order, OrderState, Ticket, TicketStatus,
    fields::{self, TicketFields},
    generate_code, generate_token,
    pricing::{self, Discount, LinePrice},
};
use crate::domain::{
    DomainError,
    catalog::{SaleState, Taken, Venue, availability},
    email::Email,
    events::{Event, EventStatus},
    idempotency::Attempt,
    inventory::{Decision, Inventory, Placement, Refusal},
    now,
    staff::{Staff, hash_secret},
    validation::FieldErrors,
    vouchers::{self, Voucher},
};

/// The most tickets in one order.
pub const MAX_TICKETS_PER_ORDER: usize = 50;

/// One ticket as the buyer asks for it.
#[derive(Debug, Clone, Default)]
pub struct TicketRequest {
    pub tier_id: Uuid,
    pub attendee_name: String,
    /// The buyer's email when absent.
    pub attendee_email: Option<String>,
    pub swag_size: Option<String>,
    pub swag_cut: Option<String>,
    pub dietary: Option<String>,
    pub notes: Option<String>,
}

/// An order as the buyer asks for it.
#[derive(Debug, Clone, Default)]
pub struct OrderRequest {
    pub email: String,
    pub voucher: Option<String>,
    pub tickets: Vec<TicketRequest>,
    /// The `Idempotency-Key` attempt this placement runs under, if any.
    pub attempt: Option<Attempt>,
}

/// An order just placed, with the token that is shown only now.
#[derive(Debug, Clone)]
pub struct PlacedOrder {
    pub order: Order,
    pub token: String,
}

/// Who is placing the order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// A buyer: tiers must be on sale and visible (or unlocked), prices apply.
    Buyer,
    /// An organizer comping tickets: any tier of the event, at no charge.
    Comp,
}

/// A ticket line that passed every rule.
struct Line {
    tier_id: Uuid,
    name: String,
    email: String,
    swag: Option<(String, Option<String>)>,
    dietary: Option<String>,
    notes: String,
    price: LinePrice,
    voucher_id: Option<Uuid>,
}

/// What every ticket line is checked against.
struct Rules<'a> {
    event: &'a Event,
    tiers: &'a [tier::Model],
    voucher: Option<&'a Voucher>,
    buyer: Option<&'a Email>,
    mode: Mode,
    at: DateTime<Utc>,
}

fn check_lines(
    rules: &Rules<'_>,
    requests: &[TicketRequest],
    errors: &mut FieldErrors,
) -> Vec<Line> {
    if requests.is_empty() {
        errors.add("tickets", "required", "an order needs at least one ticket");
    } else if requests.len() > MAX_TICKETS_PER_ORDER {
        errors.add(
            "tickets",
            "too_many",
            format!("at most {MAX_TICKETS_PER_ORDER} tickets per order"),
        );
    }
    let mut lines = Vec::with_capacity(requests.len());
    let mut per_tier: HashMap<Uuid, Vec<usize>> = HashMap::new();
    for (i, request) in requests.iter().enumerate() {
        if let Some(line) = check_line(rules, i, request, errors) {
            per_tier.entry(line.tier_id).or_default().push(i);
            lines.push(line);
        }
    }
    if rules.mode == Mode::Buyer {
        check_quantities(rules.tiers, &per_tier, errors);
        if let Some(voucher) = rules.voucher
            && !lines.is_empty()
            && lines.iter().all(|l| l.voucher_id.is_none())
        {
            errors.add(
                "voucher",
                "invalid_voucher",
                format!(
                    "{} does not apply to any ticket in this order",
                    voucher.code
                ),
            );
        }
    }
    lines
}

/// The tier a line asks for, if this buyer may buy it now.
fn tier_of<'a>(
    rules: &Rules<'a>,
    i: usize,
    request: &TicketRequest,
    errors: &mut FieldErrors,
) -> Option<&'a tier::Model> {
    let field = format!("tickets[{i}].tier_id");
    let unlocked = rules
        .voucher
        .is_some_and(|v| v.unlocks_tier(request.tier_id));
    let Some(tier) = rules
        .tiers
        .iter()
        .find(|t| t.id == request.tier_id && t.archived_at.is_none())
        .filter(|t| rules.mode == Mode::Comp || !t.hidden || unlocked)
    else {
        errors.add(
            field,
            "unknown_tier",
            "no tier of this event on sale has this id",
        );
        return None;
    };
    if rules.mode == Mode::Buyer {
        let venue = Venue {
            capacity: rules.event.capacity,
            ends_at: rules.event.ends_at,
        };
        let state = availability(tier, venue, Taken::default(), rules.at).state;
        if matches!(state, SaleState::Upcoming | SaleState::Ended) {
            errors.add(
                field,
                "not_on_sale",
                format!("{} is not on sale now", tier.name),
            );
            return None;
        }
    }
    Some(tier)
}

/// One ticket line: its tier, its attendee's fields, its price.
fn check_line(
    rules: &Rules<'_>,
    i: usize,
    request: &TicketRequest,
    errors: &mut FieldErrors,
) -> Option<Line> {
    let tier = tier_of(rules, i, request, errors)?;
    let fields = TicketFields {
        event: rules.event,
        tier,
        prefix: format!("tickets[{i}]."),
    };
    let name = fields.name(errors, &request.attendee_name);
    let email = match request.attendee_email.as_deref() {
        Some(email) => fields.email(errors, email).unwrap_or_default(),
        None => rules
            .buyer
            .map(|b| b.as_str().to_owned())
            .unwrap_or_default(),
    };
    let swag = fields.swag(
        errors,
        request.swag_size.as_deref(),
        request.swag_cut.as_deref(),
    );
    let dietary = fields.dietary(errors, request.dietary.as_deref());
    let notes = fields.notes(errors, request.notes.as_deref().unwrap_or(""));
    let (price, voucher_id) = match rules.mode {
        Mode::Comp => (pricing::line(tier.price, Discount::Percent(100)), None),
        Mode::Buyer => {
            let unlocked = rules.voucher.is_some_and(|v| v.unlocks_tier(tier.id));
            let discount = rules
                .voucher
                .map_or(Discount::None, |v| v.discount_for(tier.id));
            let applies = rules
                .voucher
                .filter(|_| unlocked || discount != Discount::None)
                .map(|v| v.id);
            (pricing::line(tier.price, discount), applies)
        }
    };
    Some(Line {
        tier_id: tier.id,
        name,
        email,
        swag,
        dietary,
        notes,
        price,
        voucher_id,
    })
}

/// Each tier's tickets per order within its minimum and maximum.
fn check_quantities(
    tiers: &[tier::Model],
    per_tier: &HashMap<Uuid, Vec<usize>>,
    errors: &mut FieldErrors,
) {
    for (tier_id, indices) in per_tier {
        if let Some(tier) = tiers.iter().find(|t| t.id == *tier_id) {
            let n = i32::try_from(indices.len()).unwrap_or(i32::MAX);
            if n < tier.min_per_order || n > tier.max_per_order {
                errors.add(
                    format!("tickets[{}].tier_id", indices[0]),
                    "quantity_out_of_range",
                    format!(
                        "{} is sold {} to {} per order; this order has {n}",
                        tier.name, tier.min_per_order, tier.max_per_order
                    ),
                );
            }
        }
    }
}

/// Who an order is for and how it is held, besides its lines.
struct Draft<'a> {
    event: &'a Event,
    email: String,
    voucher: Option<&'a Voucher>,
    /// A hash of the buyer's address, for the hold limits.
    client_key: String,
    hold: chrono::Duration,
    /// An organizer's comp, with the reason.
    comp: Option<(&'a Staff, String)>,
    at: DateTime<Utc>,
}

/// Builds the rows of an order from its checked lines.
fn build(draft: Draft<'_>, lines: Vec<Line>) -> Result<(Placement, String), DomainError> {
    let token = generate_token()?;
    let prices: Vec<LinePrice> = lines.iter().map(|l| l.price).collect();
    let (subtotal, discount, total) = pricing::totals(&prices);
    let paid = total == 0;
    let at = draft.at;
    let expires_at = (!paid).then(|| at + draft.hold);
    let order = order::Model {
        id: Uuid::now_v7(),
        event_id: draft.event.id,
        code: generate_code()?,
        email: draft.email,
        token_hash: hash_secret(&token),
        state: if paid {
            OrderState::Paid
        } else {
            OrderState::Pending
        },
        currency: draft.event.currency.clone(),
        subtotal,
        discount,
        total,
        ticket_count: i32::try_from(lines.len()).unwrap_or(i32::MAX),
        voucher_id: draft.voucher.map(|v| v.id),
        expires_at,
        client_key: draft.client_key,
        comp_reason: draft.comp.as_ref().map(|(_, reason)| reason.clone()),
        created_by_staff: draft.comp.as_ref().map(|(staff, _)| staff.id),
        created_at: at,
        updated_at: at,
        paid_at: paid.then_some(at),
        cancelled_at: None,
        payment_intent_id: None,
        checkout_session_id: None,
        charge_id: None,
        amount_paid: 0,
        amount_refunded: 0,
        payment_error: None,
        flag: None,
        flag_detail: None,
        disputed_at: None,
        idempotency_ref: None,
        charge_refunded: 0,
        dispute_id: None,
        dispute_status: None,
    };
    let status = if paid {
        TicketStatus::Valid
    } else {
        TicketStatus::Held
    };
    let tickets = lines
        .into_iter()
        .map(|line| ticket_row(&order, line, status))
        .collect();
    let placement = Placement {
        order,
        tickets,
        voucher: draft.voucher.map(|v| (v.id, v.usage_limit)),
        // Hold caps limit what a buyer holds: a free order (or a comp) is
        // paid at once and holds nothing.
        limited: !paid,
    };
    Ok((placement, token))
}

fn ticket_row(order: &order::Model, line: Line, status: TicketStatus) -> ticket::Model {
    let (swag_size, swag_cut) = match line.swag {
        Some((size, cut)) => (Some(size), cut),
        None => (None, None),
    };
    ticket::Model {
        id: Uuid::now_v7(),
        order_id: order.id,
        event_id: order.event_id,
        tier_id: line.tier_id,
        status,
        hold_expires_at: order.expires_at,
        attendee_name: line.name,
        attendee_email: line.email,
        swag_size,
        swag_cut,
        dietary: line.dietary,
        notes: line.notes,
        unit_price: line.price.unit_price,
        discount: line.price.discount,
        price: line.price.price,
        voucher_id: line.voucher_id,
        token_version: 1,
        created_at: order.created_at,
        updated_at: order.created_at,
    }
}

/// Turns the inventory's answer into the order or the reason it was refused.
/// The order as it was just inserted: built from the placement itself and
/// the tiers already loaded, without reading it back.
fn settle(
    event: &Event,
    tiers: &[tier::Model],
    voucher_code: Option<String>,
    decision: Decision,
) -> Result<Order, DomainError> {
    let placement = match decision {
        Decision::Placed(placement) => placement,
        Decision::Refused(refusal) => return Err(refused(refusal)),
    };
    let Placement { order, tickets, .. } = *placement;
    let tickets = tickets
        .into_iter()
        .map(|model| {
            Ok(Ticket {
                status: model.status,
                tier_name: tiers
                    .iter()
                    .find(|t| t.id == model.tier_id)
                    .map(|t| t.name.clone())
                    .unwrap_or_default(),
                model,
            })
        })
        .collect::<Result<Vec<_>, DomainError>>()?;
    Ok(Order {
        voucher_code,
        zone: crate::domain::events::LocalTime::of(&event.timezone),
        state: order.state,
        event_slug: event.slug.clone(),
        model: order,
        tickets,
    })
}

fn refused(refusal: Refusal) -> DomainError {
    match refusal {
        Refusal::SoldOut { tickets } => {
            let mut errors = FieldErrors::new();
            for i in tickets {
                errors.add(
                    format!("tickets[{i}].tier_id"),
                    "sold_out",
                    "not enough tickets left",
                );
            }
            DomainError::Unavailable {
                code: "sold_out",
                errors,
            }
        }
        Refusal::SwagSoldOut { tickets } => fields::swag_unavailable(
            tickets
                .into_iter()
                .map(|i| format!("tickets[{i}].swag_size")),
        ),
        Refusal::BuyerLimit { tickets } => {
            let mut errors = FieldErrors::new();
            for i in tickets {
                errors.add(
                    format!("tickets[{i}].tier_id"),
                    "buyer_limit_reached",
                    "this buyer already has as many tickets of this tier as one buyer may",
                );
            }
            DomainError::Unavailable {
                code: "buyer_limit_reached",
                errors,
            }
        }
        Refusal::VoucherUsedUp => DomainError::Unavailable {
            code: "voucher_used_up",
            errors: FieldErrors::single(
                "voucher",
                "voucher_used_up",
                "this voucher has no uses left",
            ),
        },
        Refusal::HoldLimit { retry_after } => DomainError::TooManyHolds { retry_after },
    }
}

/// The published event with this slug, as a query.
fn published(slug: &str) -> sea_orm::Select<event::Entity> {
    event::Entity::find()
        .filter(event::Column::Slug.eq(slug))
        .filter(event::Column::Status.eq(EventStatus::Published))
}

pub(crate) async fn published_event(
    db: &DatabaseConnection,
    slug: &str,
) -> Result<Event, DomainError> {
    let model = published(slug)
        .one(db)
        .await?
        .ok_or(DomainError::NotFound("event"))?;
    Event::from_model(model)
}

/// A published event and its tiers, in one read (a buyer's order needs
/// both, and every round trip counts in a rush).
async fn published_with_tiers(
    db: &DatabaseConnection,
    slug: &str,
) -> Result<(Event, Vec<tier::Model>), DomainError> {
    let (model, tiers) = published(slug)
        .find_with_related(tier::Entity)
        .all(db)
        .await?
        .into_iter()
        .next()
        .ok_or(DomainError::NotFound("event"))?;
    Ok((Event::from_model(model)?, tiers))
}

async fn tiers_of(
    db: &DatabaseConnection,
    event_id: Uuid,
) -> Result<Vec<tier::Model>, DomainError> {
    Ok(tier::Entity::find()
        .filter(tier::Column::EventId.eq(event_id))
        .all(db)
        .await?)
}

/// A buyer places an order. `client_key` identifies the buyer's network
/// address (hashed) for the hold limits.
pub async fn place(
    db: &DatabaseConnection,
    inventory: &Inventory,
    slug: &str,
    request: OrderRequest,
    client_key: String,
    payments_enabled: bool,
) -> Result<PlacedOrder, DomainError> {
    let (event, tiers) = published_with_tiers(db, slug).await?;
    if let Some(attempt) = request.attempt.as_ref().filter(|a| a.resumed)
        && let Some(placed) = recover(db, event.id, &attempt.reference).await?
    {
        return Ok(placed);
    }
    let prepared = prepare(
        db,
        inventory,
        (&event, tiers),
        &request,
        client_key,
        payments_enabled,
    )
    .await?;
    let mut placement = prepared.placement;
    placement.order.idempotency_ref = request.attempt.map(|a| a.reference);
    let order = settle(
        &event,
        &prepared.tiers,
        prepared.voucher_code,
        inventory.place(placement).await?,
    )?;
    Ok(PlacedOrder {
        order,
        token: prepared.token,
    })
}

/// What placing `request` would give right now: the order as it would be
/// placed (lines, prices, totals), or the very error placing would answer.
/// Nothing is held or written; the order's code and token are never used.
pub async fn quote(
    db: &DatabaseConnection,
    inventory: &Inventory,
    slug: &str,
    request: OrderRequest,
    client_key: String,
    payments_enabled: bool,
) -> Result<Order, DomainError> {
    let (event, tiers) = published_with_tiers(db, slug).await?;
    let prepared = prepare(
        db,
        inventory,
        (&event, tiers),
        &request,
        client_key,
        payments_enabled,
    )
    .await?;
    if let Some(refusal) =
        crate::domain::inventory::preview(db, inventory.limits(), &prepared.placement).await?
    {
        return Err(refused(refusal));
    }
    settle(
        &event,
        &prepared.tiers,
        prepared.voucher_code,
        Decision::Placed(Box::new(prepared.placement)),
    )
}

/// An order checked against every rule and priced, ready for the inventory.
struct Prepared {
    tiers: Vec<tier::Model>,
    voucher_code: Option<String>,
    placement: Placement,
    token: String,
}

// A little long: every check of a buyer's order, in the order faults are
// reported.
async fn prepare(
    db: &DatabaseConnection,
    inventory: &Inventory,
    (event, tiers): (&Event, Vec<tier::Model>),
    request: &OrderRequest,
    client_key: String,
    payments_enabled: bool,
) -> Result<Prepared, DomainError> {
    let at = now();
    let mut errors = FieldErrors::new();
    let buyer = Email::parse(&request.email);
    if buyer.is_none() {
        errors.add("email", "invalid_email", "is not a valid email address");
    }
    let voucher = match request
        .voucher
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty())
    {
        None => None,
        Some(code) => {
            let found = vouchers::redeemable(db, event.id, code).await?;
            if found.is_none() {
                errors.add(
                    "voucher",
                    "invalid_voucher",
                    "this voucher code is unknown, expired or withdrawn",
                );
            }
            found
        }
    };
    let rules = Rules {
        event,
        tiers: &tiers,
        voucher: voucher.as_ref(),
        buyer: buyer.as_ref(),
        mode: Mode::Buyer,
        at,
    };
    let lines = check_lines(&rules, &request.tickets, &mut errors);
    errors.finish(())?;
    let prices: Vec<LinePrice> = lines.iter().map(|l| l.price).collect();
    if pricing::totals(&prices).2 > 0 && !payments_enabled {
        // Refused before anything is held, not when the buyer tries to pay.
        return Err(DomainError::PaymentsNotConfigured);
    }
    let email = buyer.map(Email::into_string).unwrap_or_default();
    let draft = Draft {
        event,
        email,
        voucher: voucher.as_ref(),
        client_key,
        hold: inventory.limits().hold,
        comp: None,
        at,
    };
    let (placement, token) = build(draft, lines)?;
    Ok(Prepared {
        voucher_code: voucher.map(|v| v.code),
        tiers,
        placement,
        token,
    })
}

/// The order an earlier attempt with the same `Idempotency-Key` placed before
/// it died, under a new order token: the first one never reached the buyer.
async fn recover(
    db: &DatabaseConnection,
    event_id: Uuid,
    reference: &str,
) -> Result<Option<PlacedOrder>, DomainError> {
    let Some(model) = order::Entity::find()
        .filter(order::Column::EventId.eq(event_id))
        .filter(order::Column::IdempotencyRef.eq(reference))
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    let token = generate_token()?;
    let mut active: order::ActiveModel = model.into();
    active.token_hash = Set(hash_secret(&token));
    let model = active.update(db).await?;
    let order = super::assemble(db, model).await?;
    Ok(Some(PlacedOrder { order, token }))
}

/// What an organizer asks for when comping tickets.
#[derive(Debug, Clone, Default)]
pub struct CompRequest {
    pub email: String,
    pub reason: String,
    pub tickets: Vec<TicketRequest>,
}

/// An organizer issues paid tickets at no charge (speakers, sponsors). Any
/// tier of the event may be used, hidden or not on sale; capacity still
/// holds. Audited with who did it and why.
pub async fn comp(
    db: &DatabaseConnection,
    inventory: &Inventory,
    staff: &Staff,
    slug: &str,
    request: CompRequest,
) -> Result<PlacedOrder, DomainError> {
    let model = crate::domain::events::find_managed(db, staff, slug).await?;
    let event = Event::from_model(model)?;
    if event.status == EventStatus::Archived {
        return Err(DomainError::conflict(
            "event_archived",
            "archived events cannot be changed",
        ));
    }
    let tiers = tiers_of(db, event.id).await?;
    let at = now();
    let mut errors = FieldErrors::new();
    let buyer = Email::parse(&request.email);
    if buyer.is_none() {
        errors.add("email", "invalid_email", "is not a valid email address");
    }
    let reason = errors.text("reason", &request.reason, 1, 500, false);
    let rules = Rules {
        event: &event,
        tiers: &tiers,
        voucher: None,
        buyer: buyer.as_ref(),
        mode: Mode::Comp,
        at,
    };
    let lines = check_lines(&rules, &request.tickets, &mut errors);
    errors.finish(())?;
    let email = buyer.map(Email::into_string).unwrap_or_default();
    let draft = Draft {
        event: &event,
        email,
        voucher: None,
        client_key: "staff".to_owned(),
        hold: inventory.limits().hold,
        comp: Some((staff, reason.clone())),
        at,
    };
    let (placement, token) = build(draft, lines)?;
    let order = settle(&event, &tiers, None, inventory.place(placement).await?)?;
    crate::domain::audit::record(
        db,
        staff,
        event.id,
        "order.comped",
        &order.model.code,
        serde_json::json!({"reason": reason, "tickets": order.tickets.len(), "email": order.model.email}),
    )
    .await?;
    Ok(PlacedOrder { order, token })
}

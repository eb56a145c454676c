//! The facts a mail is rendered from, read when it is sent, and the links
//! and QR code minted for it then.

use chrono::{DateTime, Utc};
use entity::{
    event, order, outbox_message,
    state::{MessageKind, OrderState, TicketStatus},
    ticket, tier,
};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder};
use serde::Serialize;
use uuid::Uuid;

use crate::domain::{
    DomainError,
    checkin::{qr, tokens},
    events::LocalTime,
    keys::KeyRing,
    links,
    money::format_amount,
    now,
};

/// Where the links in mails lead. Orders and tickets: the conference's
/// front end, which reads the token from the fragment (never sent to any
/// server) and calls the API with it: `{front_end}/orders/{code}#token=…`
/// and `{front_end}/tickets/{id}#token=…`. Unsubscribing: tessera itself,
/// `{service}/api/v1/unsubscribe/{token}`.
#[derive(Debug, Clone)]
pub struct LinkBase {
    pub front_end: String,
    pub service: String,
}

impl LinkBase {
    fn order(&self, code: &str, token: &str) -> String {
        format!(
            "{}/orders/{code}#token={token}",
            self.front_end.trim_end_matches('/')
        )
    }

    fn ticket(&self, id: Uuid, token: &str) -> String {
        format!(
            "{}/tickets/{id}#token={token}",
            self.front_end.trim_end_matches('/')
        )
    }

    fn unsubscribe(&self, token: &str) -> String {
        format!(
            "{}/api/v1/unsubscribe/{token}",
            self.service.trim_end_matches('/')
        )
    }
}

/// What the templates see.
#[derive(Debug, Clone, Serialize)]
pub struct MailContext {
    pub event: EventView,
    /// The order a mail is about (all kinds but recovery).
    pub order: Option<OrderView>,
    pub tickets: Vec<TicketView>,
    /// The ticket of a ticket mail.
    pub ticket: Option<TicketView>,
    /// The amount of a refund mail.
    pub amount: Option<String>,
    /// Why a payment failed.
    pub reason: Option<String>,
    /// A recovery mail's fresh links, one per order and ticket.
    pub links: Vec<LinkView>,
    /// A broadcast's words.
    pub broadcast: Option<BroadcastView>,
    /// A broadcast's unsubscribe link.
    pub unsubscribe: Option<String>,
}

/// The organizers' words to every attendee.
#[derive(Debug, Clone, Serialize)]
pub struct BroadcastView {
    pub subject: String,
    pub text: String,
    /// The text as paragraphs of lines, for HTML.
    pub paragraphs: Vec<Vec<String>>,
}

impl BroadcastView {
    pub fn new(subject: &str, text: &str) -> Self {
        let paragraphs = text
            .replace("\r\n", "\n")
            .split("\n\n")
            .map(|p| p.lines().map(str::to_owned).collect::<Vec<_>>())
            .filter(|p| !p.is_empty())
            .collect();
        Self {
            subject: subject.to_owned(),
            text: text.to_owned(),
            paragraphs,
        }
    }
}

/// One link of a recovery mail.
#[derive(Debug, Clone, Serialize)]
pub struct LinkView {
    /// What it opens, e.g. `Order K7M2Q9XD (2 tickets)`.
    pub what: String,
    pub link: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct EventView {
    pub name: String,
    pub slug: String,
    pub venue: Option<String>,
    /// Local times, e.g. `Thu 13 May 2027, 09:00 CEST`.
    pub starts: String,
    pub ends: String,
    pub timezone: String,
    /// Until when attendees may fix their details.
    pub edits_close: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct OrderView {
    pub code: String,
    pub state: OrderState,
    /// Amounts with their currency, e.g. `EUR 120.00`.
    pub total: String,
    pub paid: Option<String>,
    pub refunded: Option<String>,
    /// Until when unpaid tickets are held.
    pub expires: Option<String>,
    /// The buyer's link to the order.
    pub link: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct TicketView {
    pub id: Uuid,
    pub name: String,
    pub email: String,
    pub tier: String,
    /// Size and cut, e.g. `M (fitted)`.
    pub swag: Option<String>,
    pub dietary: Option<String>,
    pub price: String,
    /// The attendee's own link (ticket mails only).
    pub link: Option<String>,
    /// The content id of the inline QR code (ticket mails only).
    pub qr_cid: Option<String>,
}

/// A mail ready to compose.
#[derive(Debug, Clone)]
pub struct MailFacts {
    pub kind: MessageKind,
    pub recipient: String,
    /// The attendee's name, for the `To` header of a ticket mail.
    pub recipient_name: Option<String>,
    pub reply_to: Option<String>,
    pub context: MailContext,
    /// A ticket mail's QR code, PNG, with its content id.
    pub qr: Option<(String, Vec<u8>)>,
    /// The event's own templates for this kind, if it has them.
    pub custom: Option<super::Custom>,
    /// A broadcast's unsubscribe link, for `List-Unsubscribe`.
    pub unsubscribe: Option<String>,
}

/// What gathering found.
#[derive(Debug, Clone)]
pub enum Gathered {
    Ready(Box<MailFacts>),
    /// The mail no longer applies (why, in words for the organizer).
    Skip(&'static str),
}

fn readable(zone: LocalTime, at: DateTime<Utc>) -> String {
    zone.at_zone(at)
        .format("%a %-d %b %Y, %H:%M %Z")
        .to_string()
}

fn swag(ticket: &ticket::Model) -> Option<String> {
    let size = ticket.swag_size.as_deref()?;
    Some(match ticket.swag_cut.as_deref() {
        Some(cut) => format!("{size} ({cut})"),
        None => size.to_owned(),
    })
}

/// Reads what `message` is about as it is now, mints the links it carries
/// (and a ticket mail's signed check-in token and QR code), or says why it
/// no longer applies.
pub async fn gather(
    db: &DatabaseConnection,
    keys: &KeyRing,
    token_settings: &tokens::TokenSettings,
    base: &LinkBase,
    message: &outbox_message::Model,
) -> Result<Gathered, DomainError> {
    let at = now();
    let event = event::Entity::find_by_id(message.event_id)
        .one(db)
        .await?
        .ok_or(DomainError::NotFound("event"))?;
    match message.kind {
        MessageKind::Recovery => return recovery(db, base, message, event, at).await,
        MessageKind::Broadcast => return broadcast(db, base, message, event, at).await,
        _ => {}
    }
    let Some(order_id) = message.order_id else {
        return Ok(Gathered::Skip("the message names no order"));
    };
    let order = order::Entity::find_by_id(order_id)
        .one(db)
        .await?
        .ok_or(DomainError::NotFound("order"))?;
    let effective = crate::domain::orders::effective_state(&order, at);
    let waiting = effective == OrderState::Pending;
    match message.kind {
        MessageKind::OrderReceived | MessageKind::PaymentFailed if !waiting => {
            return Ok(Gathered::Skip("the order no longer waits for payment"));
        }
        _ => {}
    }
    let tickets = ticket::Entity::find()
        .filter(ticket::Column::OrderId.eq(order.id))
        .order_by_asc(ticket::Column::Id)
        .all(db)
        .await?;
    let tiers = tier::Entity::find()
        .filter(tier::Column::EventId.eq(event.id))
        .all(db)
        .await?;
    let tier_name = |id: Uuid| {
        tiers
            .iter()
            .find(|t| t.id == id)
            .map(|t| t.name.clone())
            .unwrap_or_default()
    };
    let zone = LocalTime::of(&event.timezone);
    let money = |amount: i64| format_amount(amount, &order.currency);
    let view = |t: &ticket::Model| TicketView {
        id: t.id,
        name: t.attendee_name.clone(),
        email: t.attendee_email.clone(),
        tier: tier_name(t.tier_id),
        swag: swag(t),
        dietary: t.dietary.clone().filter(|d| d != "none"),
        price: money(t.price),
        link: None,
        qr_cid: None,
    };
    let mut ticket_view = None;
    let mut qr_code = None;
    let mut recipient_name = None;
    if message.kind == MessageKind::Ticket {
        let Some(ticket) = message
            .ticket_id
            .and_then(|id| tickets.iter().find(|t| t.id == id))
        else {
            return Ok(Gathered::Skip("the ticket is gone"));
        };
        if ticket.status != TicketStatus::Valid || effective != OrderState::Paid {
            return Ok(Gathered::Skip("the ticket no longer admits anyone"));
        }
        let (checkin, _) =
            tokens::issue(keys, token_settings, &event.slug, event.ends_at, ticket).await?;
        let cid = format!("qr-{}@tessera", message.id.simple());
        qr_code = Some((cid.clone(), qr::png(&checkin)?));
        let token = links::mint_ticket(db, ticket, Some(message.id), at).await?;
        let mut v = view(ticket);
        v.link = Some(base.ticket(ticket.id, &token));
        v.qr_cid = Some(cid);
        recipient_name = Some(ticket.attendee_name.clone());
        ticket_view = Some(v);
    }
    // Ticket mails reach one attendee: they carry no link to the order.
    let order_link = if message.kind == MessageKind::Ticket {
        String::new()
    } else {
        let token = links::mint_order(db, order.id, Some(message.id), at).await?;
        base.order(&order.code, &token)
    };
    let shown: Vec<TicketView> = tickets
        .iter()
        .filter(|t| t.status != TicketStatus::Released || !order_was_paid(&order))
        .map(view)
        .collect();
    let context = MailContext {
        event: event_view(&event, at),
        order: Some(OrderView {
            total: money(order.total),
            paid: (order.amount_paid > 0).then(|| money(order.amount_paid)),
            refunded: (order.amount_refunded > 0).then(|| money(order.amount_refunded)),
            expires: waiting
                .then_some(order.expires_at)
                .flatten()
                .map(|e| readable(zone, e)),
            link: order_link,
            code: order.code.clone(),
            state: effective,
        }),
        tickets: shown,
        ticket: ticket_view,
        amount: message
            .data
            .get("amount")
            .and_then(serde_json::Value::as_i64)
            .map(money),
        reason: message
            .data
            .get("reason")
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned),
        links: Vec::new(),
        broadcast: None,
        unsubscribe: None,
    };
    Ok(Gathered::Ready(Box::new(MailFacts {
        unsubscribe: None,
        kind: message.kind,
        recipient: message.recipient.clone(),
        recipient_name,
        custom: super::custom::of(db, event.id, message.kind).await?,
        reply_to: event.reply_to,
        context,
        qr: qr_code,
    })))
}

fn event_view(event: &event::Model, at: DateTime<Utc>) -> EventView {
    let zone = LocalTime::of(&event.timezone);
    let edits_close = event.attendee_edit_deadline.unwrap_or(event.starts_at);
    EventView {
        starts: readable(zone, event.starts_at),
        ends: readable(zone, event.ends_at),
        edits_close: (edits_close > at).then(|| readable(zone, edits_close)),
        name: event.name.clone(),
        slug: event.slug.clone(),
        venue: event.venue.clone(),
        timezone: event.timezone.clone(),
    }
}

/// The ids a recovery message lists under `key` in its data.
fn listed(message: &outbox_message::Model, key: &str) -> Vec<Uuid> {
    message
        .data
        .get(key)
        .and_then(serde_json::Value::as_array)
        .map(|ids| {
            ids.iter()
                .filter_map(|id| id.as_str().and_then(|s| s.parse().ok()))
                .collect()
        })
        .unwrap_or_default()
}

/// A recovery mail: a fresh link for every order and ticket it lists that
/// still holds something.
async fn recovery(
    db: &DatabaseConnection,
    base: &LinkBase,
    message: &outbox_message::Model,
    event: event::Model,
    at: DateTime<Utc>,
) -> Result<Gathered, DomainError> {
    let mut links = Vec::new();
    let orders = order::Entity::find()
        .filter(order::Column::Id.is_in(listed(message, "orders")))
        .order_by_asc(order::Column::CreatedAt)
        .all(db)
        .await?;
    for order in orders {
        if !matches!(
            crate::domain::orders::effective_state(&order, at),
            OrderState::Pending | OrderState::Paid
        ) {
            continue;
        }
        let token = links::mint_order(db, order.id, Some(message.id), at).await?;
        links.push(LinkView {
            what: format!("Order {} ({} tickets)", order.code, order.ticket_count),
            link: base.order(&order.code, &token),
        });
    }
    let tickets = ticket::Entity::find()
        .filter(ticket::Column::Id.is_in(listed(message, "tickets")))
        .order_by_asc(ticket::Column::Id)
        .all(db)
        .await?;
    let tiers = tier::Entity::find()
        .filter(tier::Column::EventId.eq(event.id))
        .all(db)
        .await?;
    for ticket in tickets {
        if !matches!(ticket.status, TicketStatus::Held | TicketStatus::Valid) {
            continue;
        }
        let tier = tiers
            .iter()
            .find(|t| t.id == ticket.tier_id)
            .map(|t| t.name.as_str())
            .unwrap_or_default();
        let token = links::mint_ticket(db, &ticket, Some(message.id), at).await?;
        links.push(LinkView {
            what: format!("Ticket: {tier} for {}", ticket.attendee_name),
            link: base.ticket(ticket.id, &token),
        });
    }
    if links.is_empty() {
        return Ok(Gathered::Skip("nothing it listed holds anything any more"));
    }
    let mut facts = about_the_event(db, message, &event, at).await?;
    facts.context.links = links;
    Ok(Gathered::Ready(Box::new(facts)))
}

/// The facts of a mail about the event rather than one order (a recovery,
/// a broadcast), to fill in.
async fn about_the_event(
    db: &DatabaseConnection,
    message: &outbox_message::Model,
    event: &event::Model,
    at: DateTime<Utc>,
) -> Result<MailFacts, DomainError> {
    Ok(MailFacts {
        kind: message.kind,
        recipient: message.recipient.clone(),
        recipient_name: None,
        custom: super::custom::of(db, event.id, message.kind).await?,
        reply_to: event.reply_to.clone(),
        context: MailContext {
            event: event_view(event, at),
            order: None,
            tickets: Vec::new(),
            ticket: None,
            amount: None,
            reason: None,
            links: Vec::new(),
            broadcast: None,
            unsubscribe: None,
        },
        qr: None,
        unsubscribe: None,
    })
}

/// A broadcast: the organizers' words and a fresh unsubscribe link, unless
/// the address opted out since it was written.
async fn broadcast(
    db: &DatabaseConnection,
    base: &LinkBase,
    message: &outbox_message::Model,
    event: event::Model,
    at: DateTime<Utc>,
) -> Result<Gathered, DomainError> {
    if crate::domain::broadcasts::opted_out(db, event.id, &message.recipient).await? {
        return Ok(Gathered::Skip("the address opted out of the event's news"));
    }
    let text = |key: &str| {
        message
            .data
            .get(key)
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let token =
        crate::domain::broadcasts::mint_opt_out(db, event.id, &message.recipient, at).await?;
    let unsubscribe = base.unsubscribe(&token);
    let mut facts = about_the_event(db, message, &event, at).await?;
    facts.context.broadcast = Some(BroadcastView::new(&text("subject"), &text("text")));
    facts.context.unsubscribe = Some(unsubscribe.clone());
    facts.unsubscribe = Some(unsubscribe);
    Ok(Gathered::Ready(Box::new(facts)))
}

/// Made-up facts in the event's own frame (its name, venue, dates, time
/// zone and currency), with every variable any kind uses filled in: what
/// templates are checked and previewed with.
pub fn sample(event: &event::Model) -> MailContext {
    let at = now();
    let zone = LocalTime::of(&event.timezone);
    let money = |amount: i64| format_amount(amount, &event.currency);
    let ticket = |name: &str, email: &str, id: u128| TicketView {
        id: Uuid::from_u128(id),
        name: name.to_owned(),
        email: email.to_owned(),
        tier: "Regular".to_owned(),
        swag: Some("M (straight)".to_owned()),
        dietary: Some("vegetarian".to_owned()),
        price: money(12_000),
        link: Some("https://tickets.example.org/tickets/sample#token=tst_sample".to_owned()),
        qr_cid: Some("qr-sample@tessera".to_owned()),
    };
    let order_link = "https://tickets.example.org/orders/K7M2Q9XD#token=tso_sample".to_owned();
    MailContext {
        event: event_view(event, at),
        order: Some(OrderView {
            code: "K7M2Q9XD".to_owned(),
            state: OrderState::Paid,
            total: money(24_000),
            paid: Some(money(24_000)),
            refunded: Some(money(12_000)),
            expires: Some(readable(zone, at + chrono::Duration::minutes(15))),
            link: order_link.clone(),
        }),
        tickets: vec![
            ticket("Ada Lovelace", "ada@example.org", 1),
            ticket("Charles Babbage", "charles@example.org", 2),
        ],
        ticket: Some(ticket("Ada Lovelace", "ada@example.org", 1)),
        amount: Some(money(12_000)),
        reason: Some("Your card was declined.".to_owned()),
        links: vec![LinkView {
            what: "Order K7M2Q9XD (2 tickets)".to_owned(),
            link: order_link,
        }],
        broadcast: Some(BroadcastView::new(
            "Doors open at 8:30",
            "Hello all,\nthe doors open at 8:30.\n\nBring an ID.",
        )),
        unsubscribe: Some("https://tickets.example.org/api/v1/unsubscribe/sample".to_owned()),
    }
}

fn order_was_paid(order: &order::Model) -> bool {
    order.paid_at.is_some()
}

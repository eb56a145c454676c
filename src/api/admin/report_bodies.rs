//! The bodies of the organizer reports (see `reports` for the endpoints).

use chrono::{DateTime, FixedOffset, NaiveDate};
use entity::state::{ListKind, OrderState};
use poem::Body;
use poem_openapi::{ApiResponse, Object, payload::Binary};
use uuid::Uuid;

use crate::{api::admin::checkin::HourCount, domain::reports::Attendee};

/// A paid, valid ticket and its attendee.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "snake_case")]
pub struct AttendeeBody {
    pub ticket_id: Uuid,
    pub order_code: String,
    pub name: String,
    pub email: String,
    pub tier_id: Uuid,
    pub tier: String,
    #[oai(nullable)]
    pub swag_size: Option<String>,
    #[oai(nullable)]
    pub swag_cut: Option<String>,
    #[oai(nullable)]
    pub dietary: Option<String>,
    /// Allergies and other notes.
    pub notes: String,
    /// First admission on an entry list, with the event's UTC offset.
    #[oai(nullable)]
    pub checked_in_at: Option<DateTime<FixedOffset>>,
    /// What the ticket cost, in minor units of the event's currency (after
    /// the voucher's discount; 0 for comps).
    pub price: i64,
    /// The voucher code used on this ticket.
    #[oai(nullable)]
    pub voucher: Option<String>,
}

impl From<Attendee> for AttendeeBody {
    fn from(a: Attendee) -> Self {
        Self {
            ticket_id: a.ticket_id,
            order_code: a.order_code,
            name: a.name,
            email: a.email,
            tier_id: a.tier_id,
            tier: a.tier,
            swag_size: a.swag_size,
            swag_cut: a.swag_cut,
            dietary: a.dietary,
            notes: a.notes,
            checked_in_at: a.checked_in_at,
            price: a.price,
            voucher: a.voucher,
        }
    }
}

#[derive(Debug, Clone, Object)]
#[oai(rename_all = "snake_case")]
pub struct AttendeePage {
    pub items: Vec<AttendeeBody>,
    #[oai(nullable)]
    pub next_cursor: Option<String>,
}

#[derive(ApiResponse)]
pub enum AttendeesCsv {
    /// The attendees as CSV (UTF-8, a header row), streamed.
    #[oai(status = 200, content_type = "text/csv; charset=utf-8")]
    Ok(
        Binary<Body>,
        /// `attachment; filename="<slug>-attendees.csv"`
        #[oai(header = "Content-Disposition")]
        String,
    ),
}

/// One size and cut of the swag report.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "snake_case")]
pub struct SwagLineBody {
    pub size: String,
    #[oai(nullable)]
    pub cut: Option<String>,
    /// Shirts for valid tickets.
    pub total: u64,
    pub by_tier: Vec<TierCount>,
    /// Stock set in the size chart, if any.
    #[oai(nullable)]
    pub stock: Option<i32>,
    /// Already handed over at a swag desk.
    pub collected: u64,
    /// `total` plus `padding` percent, rounded up: what to order.
    pub to_order: u64,
}

#[derive(Debug, Clone, Object)]
#[oai(rename_all = "snake_case")]
pub struct TierCount {
    pub tier_id: Uuid,
    pub tier: String,
    pub count: u64,
}

#[derive(Debug, Clone, Object)]
#[oai(rename_all = "snake_case")]
pub struct SwagReport {
    pub padding_percent: u32,
    pub total: u64,
    pub to_order: u64,
    pub sizes: Vec<SwagLineBody>,
}

#[derive(Debug, Clone, Object)]
#[oai(rename_all = "snake_case")]
pub struct OptionCount {
    pub option: String,
    pub count: u64,
}

#[derive(Debug, Clone, Object)]
#[oai(rename_all = "snake_case")]
pub struct DayCounts {
    /// A day of the event, in its time zone.
    pub day: NaiveDate,
    pub counts: Vec<OptionCount>,
}

#[derive(Debug, Clone, Object)]
#[oai(rename_all = "snake_case")]
pub struct DietaryNote {
    pub ticket_id: Uuid,
    pub order_code: String,
    pub name: String,
    #[oai(nullable)]
    pub dietary: Option<String>,
    pub notes: String,
}

#[derive(Debug, Clone, Object)]
#[oai(rename_all = "snake_case")]
pub struct DietaryReport {
    /// Attendees per dietary option; `none` includes those who chose none.
    pub counts: Vec<OptionCount>,
    /// The same counts for each day of the event (every ticket covers every
    /// day).
    pub days: Vec<DayCounts>,
    /// Attendees with notes (allergies), for the caterer.
    pub notes: Vec<DietaryNote>,
}

#[derive(Debug, Clone, Object)]
#[oai(rename_all = "snake_case")]
pub struct TierSalesBody {
    pub tier_id: Uuid,
    pub tier: String,
    pub capacity: i32,
    /// Valid, paid tickets.
    pub sold: u64,
    /// Held by pending orders right now.
    pub held: u64,
    /// What can still be bought (the venue's capacity included).
    pub available: i64,
    /// Minor units paid for this tier's tickets.
    pub revenue_gross: i64,
    /// Succeeded refunds allocated to this tier's tickets.
    pub refunded: i64,
    pub revenue_net: i64,
}

#[derive(Debug, Clone, Object)]
#[oai(rename_all = "snake_case")]
pub struct StateCount {
    pub state: OrderState,
    pub orders: u64,
}

#[derive(Debug, Clone, Object)]
#[oai(rename_all = "snake_case")]
pub struct DayCount {
    pub day: NaiveDate,
    pub tickets: u64,
}

#[derive(Debug, Clone, Object)]
#[oai(rename_all = "snake_case")]
pub struct SalesReport {
    pub currency: String,
    pub tiers: Vec<TierSalesBody>,
    pub orders_by_state: Vec<StateCount>,
    /// Tickets sold per day (the day the order was paid, event time zone).
    pub sold_by_day: Vec<DayCount>,
    pub revenue_gross: i64,
    pub refunded: i64,
    pub revenue_net: i64,
    /// Cancelled orders that still hold money: cancelled with
    /// `refund: false` (flagged `cancelled_unrefunded`) or refunded only in
    /// part. Their money is in `revenue_net`.
    pub cancelled_unrefunded: KeptMoney,
}

/// Orders and the money they hold.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "snake_case")]
pub struct KeptMoney {
    pub orders: u64,
    /// Minor units received and not refunded.
    pub amount: i64,
}

#[derive(Debug, Clone, Object)]
#[oai(rename_all = "snake_case")]
pub struct ListProgress {
    pub list_id: Uuid,
    pub name: String,
    pub kind: ListKind,
    pub admitted: u64,
    pub expected: u64,
}

#[derive(Debug, Clone, Object)]
#[oai(rename_all = "snake_case")]
pub struct CheckinReport {
    pub lists: Vec<ListProgress>,
    /// Admissions on entry lists per hour at the venue (event time zone).
    pub arrivals_by_hour: Vec<HourCount>,
}

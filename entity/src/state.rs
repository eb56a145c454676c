//! Every lifecycle state, kind and flag tessera stores, each one Rust enum.
//!
//! The same type is the entity's column, the domain's value and the wire's
//! enum (`poem_openapi::Enum`), so the stored spelling, the spec and the code
//! cannot drift apart. Values are stored as text, spelt as they always were:
//! no data migration. Outside this module no state is written as a string;
//! queries bind the enum (`Column::State.eq(OrderState::Pending)`).
//!
//! The allowed moves between states live in the service's
//! `domain::transitions`; this module only names the states.

use sea_orm::entity::prelude::*;

/// Declares a state enum with its stored spelling, once.
///
/// In the spirit of crates.io's `pg_enum!`: one list of variants and their
/// spellings gives the sea-orm `ActiveEnum`, the OpenAPI enum, serde, `as_str`,
/// `Display`, `FromStr` and `ALL`.
macro_rules! state_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $value:tt, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord,
            EnumIter, DeriveActiveEnum, poem_openapi::Enum,
            serde::Serialize, serde::Deserialize,
        )]
        #[sea_orm(rs_type = "String", db_type = "Text")]
        pub enum $name {
            $(
                $(#[$vmeta])*
                #[sea_orm(string_value = $value)]
                #[oai(rename = $value)]
                #[serde(rename = $value)]
                $variant,
            )+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The stored (and wire) spelling.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $value,)+
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = UnknownValue;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($value => Ok($name::$variant),)+
                    other => Err(UnknownValue {
                        kind: stringify!($name),
                        value: other.to_owned(),
                    }),
                }
            }
        }
    };
}

/// A string that names no value of the enum.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownValue {
    pub kind: &'static str,
    pub value: String,
}

impl std::fmt::Display for UnknownValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "unknown {} {:?}", self.kind, self.value)
    }
}

impl std::error::Error for UnknownValue {}

state_enum! {
    /// An order's state.
    pub enum OrderState {
        /// Placed, not paid yet; its tickets are held until `expires_at`.
        Pending = "pending",
        /// Paid (or issued at no charge).
        Paid = "paid",
        /// The hold ended before payment.
        Expired = "expired",
        /// Cancelled before payment, or by an organizer after it.
        Cancelled = "cancelled",
        /// Every ticket refunded.
        Refunded = "refunded",
    }
}

state_enum! {
    /// A ticket's status.
    pub enum TicketStatus {
        /// The order is pending: the seat is held until the hold ends.
        Held = "held",
        /// Paid: the ticket admits its attendee.
        Valid = "valid",
        /// The hold ended (expired or cancelled before payment).
        Released = "released",
        /// Cancelled or refunded after payment.
        Revoked = "revoked",
    }
}

state_enum! {
    /// A refund's status.
    pub enum RefundStatus {
        /// Recorded, not yet accepted by Stripe (sent again by the sweeper).
        Requested = "requested",
        /// Accepted by Stripe, on its way to the card.
        Pending = "pending",
        /// Stripe needs the buyer to act before it can pay the refund out.
        RequiresAction = "requires_action",
        /// The money is back with the buyer (or was handed back by hand).
        Succeeded = "succeeded",
        /// Stripe could not pay the refund out.
        Failed = "failed",
        /// The refund was canceled before it was paid out.
        Canceled = "canceled",
    }
}

impl RefundStatus {
    /// Failed and canceled refunds are final and return nothing.
    pub const fn is_final_failure(self) -> bool {
        matches!(self, RefundStatus::Failed | RefundStatus::Canceled)
    }

    /// Reads Stripe's word for a refund's status; a word Stripe adds later
    /// is read as `pending` (not final, nothing decided).
    pub fn from_stripe(status: &str) -> Self {
        match status {
            "succeeded" => RefundStatus::Succeeded,
            "failed" => RefundStatus::Failed,
            "canceled" => RefundStatus::Canceled,
            "requires_action" => RefundStatus::RequiresAction,
            _ => RefundStatus::Pending,
        }
    }
}

state_enum! {
    /// Who started a refund.
    pub enum RefundSource {
        /// An organizer, through the API.
        Organizer = "organizer",
        /// tessera, for a payment that arrived after its order ended.
        LatePayment = "late_payment",
        /// Someone in the Stripe dashboard.
        Stripe = "stripe",
        /// An organizer, recording money handed back without a card.
        Manual = "manual",
    }
}

state_enum! {
    /// Something about an order an organizer must look at.
    pub enum OrderFlag {
        /// Stripe received a different amount than the order's total.
        AmountMismatch = "amount_mismatch",
        /// The buyer disputed the payment with their card issuer.
        Disputed = "disputed",
        /// A payment arrived after the order ended and was refunded.
        LatePaymentRefunded = "late_payment_refunded",
        /// A second payment arrived for an order already paid.
        DoublePayment = "double_payment",
        /// A refund failed at Stripe: the money was not returned.
        RefundFailed = "refund_failed",
        /// The dispute was lost: the money went back to the buyer and the
        /// tickets stay blocked.
        DisputeLost = "dispute_lost",
        /// An organizer cancelled the paid order and chose to keep the
        /// money (`"refund": false`); cleared once it is refunded in full.
        CancelledUnrefunded = "cancelled_unrefunded",
    }
}

state_enum! {
    /// A dispute's status, in Stripe's words.
    pub enum DisputeStatus {
        WarningNeedsResponse = "warning_needs_response",
        WarningUnderReview = "warning_under_review",
        WarningClosed = "warning_closed",
        NeedsResponse = "needs_response",
        UnderReview = "under_review",
        Won = "won",
        Lost = "lost",
        Prevented = "prevented",
    }
}

impl DisputeStatus {
    /// Reads Stripe's word; one Stripe adds later reads as still open.
    pub fn from_stripe(status: &str) -> Self {
        status.parse().unwrap_or(DisputeStatus::NeedsResponse)
    }

    /// Whether the dispute is over (nothing about it changes any more).
    pub const fn is_closed(self) -> bool {
        matches!(
            self,
            DisputeStatus::Won
                | DisputeStatus::Lost
                | DisputeStatus::WarningClosed
                | DisputeStatus::Prevented
        )
    }

    /// Whether it closed with the merchant keeping the money.
    pub const fn kept_the_money(self) -> bool {
        matches!(
            self,
            DisputeStatus::Won | DisputeStatus::WarningClosed | DisputeStatus::Prevented
        )
    }
}

state_enum! {
    /// What a scan decided.
    pub enum ScanResult {
        /// Let them in (or hand over the shirt).
        Admitted = "admitted",
        /// This ticket was already admitted on this list: see `first_admission`.
        AlreadyCheckedIn = "already_checked_in",
        /// The ticket was cancelled or refunded.
        Revoked = "revoked",
        /// A newer token exists for this ticket: ask for the current one.
        Superseded = "superseded",
        /// The order is not paid.
        Unpaid = "unpaid",
        /// A token of another event.
        WrongEvent = "wrong_event",
        /// The ticket's tier is not admitted by this list.
        NotOnList = "not_on_list",
        /// The list's own window (`opens_at`/`closes_at`) is not open at
        /// this time.
        OutsideWindow = "outside_window",
        /// Not a token we signed (malformed, tampered, unknown or retired key).
        InvalidToken = "invalid_token",
        /// The event is over: past its end and the grace after it (as the
        /// event is dated now), or past the token's own outer bound.
        Expired = "expired",
        /// The doors are not open yet: before the event's start less the
        /// grace (as the event is dated now).
        NotYetValid = "not_yet_valid",
        /// The payment is disputed with the card issuer: send the attendee to
        /// the help desk.
        Disputed = "disputed",
        /// An offline scan dated after its upload (beyond the allowed skew)
        /// or before its list could admit: the device's clock is wrong. Not
        /// an admission; see `server_time`.
        ClockSkew = "clock_skew",
        /// At a swag desk: this ticket's tier includes no swag.
        NoSwag = "no_swag",
    }
}

state_enum! {
    /// What a check-in list is for.
    pub enum ListKind {
        /// A door: admits each ticket once.
        Entry = "entry",
        /// The swag desk: hands each shirt over once, and says which.
        Swag = "swag",
    }
}

state_enum! {
    /// An event's status.
    pub enum EventStatus {
        /// Being set up; invisible to attendees.
        Draft = "draft",
        /// In the public catalogue.
        Published = "published",
        /// Over or withdrawn; read-only and invisible to attendees.
        Archived = "archived",
    }
}

state_enum! {
    /// What a staff token may do.
    pub enum Role {
        /// Everything, including staff tokens.
        Admin = "admin",
        /// Events, tiers, orders and reports of the events in scope.
        Organizer = "organizer",
        /// Check-in only, for the events in scope.
        Volunteer = "volunteer",
    }
}

state_enum! {
    /// How a voucher discounts.
    pub enum DiscountKind {
        /// No discount: the voucher only unlocks hidden tiers.
        None = "none",
        /// A percentage off each ticket (`discount_value` 1-100).
        Percent = "percent",
        /// A fixed amount off each ticket, in minor units.
        Fixed = "fixed",
    }
}

// Derived states: computed from the stored ones at a given moment, never
// stored themselves. Named here so every state has one home.

state_enum! {
    /// Where a tier stands for a buyer right now.
    pub enum SaleState {
        /// Sales open later (`sales_start`).
        Upcoming = "upcoming",
        /// On sale now.
        OnSale = "on_sale",
        /// Sales are closed, or the event is over.
        Ended = "ended",
        /// Nothing left in the tier, or the venue is full.
        SoldOut = "sold_out",
    }
}

state_enum! {
    /// A ticket as an offline scanner must treat it.
    pub enum ManifestState {
        /// Paid: admit (once per list).
        Valid = "valid",
        /// Cancelled or refunded: refuse.
        Revoked = "revoked",
        /// Not paid (held, or its hold ended): refuse.
        Unpaid = "unpaid",
        /// The payment is disputed: refuse and send to the help desk.
        Blocked = "blocked",
    }
}

impl ManifestState {
    /// How the door treats a ticket with this status whose order is, or is
    /// not, disputed.
    pub fn of(status: TicketStatus, disputed: bool) -> Self {
        match status {
            TicketStatus::Valid if disputed => Self::Blocked,
            TicketStatus::Valid => Self::Valid,
            TicketStatus::Revoked => Self::Revoked,
            TicketStatus::Held | TicketStatus::Released => Self::Unpaid,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trips<T>(all: &[T])
    where
        T: Copy + std::fmt::Debug + PartialEq + ActiveEnum<Value = String> + std::str::FromStr,
        T: std::fmt::Display,
    {
        for &value in all {
            let stored = value.to_value();
            assert_eq!(stored, value.to_string());
            assert_eq!(T::try_from_value(&stored).ok(), Some(value));
            assert_eq!(stored.parse::<T>().ok(), Some(value));
        }
        assert!(T::try_from_value(&"no such value".to_owned()).is_err());
    }

    #[test]
    fn every_value_round_trips_through_its_stored_spelling() {
        round_trips(OrderState::ALL);
        round_trips(TicketStatus::ALL);
        round_trips(RefundStatus::ALL);
        round_trips(RefundSource::ALL);
        round_trips(OrderFlag::ALL);
        round_trips(ScanResult::ALL);
        round_trips(ListKind::ALL);
        round_trips(EventStatus::ALL);
        round_trips(Role::ALL);
        round_trips(DiscountKind::ALL);
        round_trips(DisputeStatus::ALL);
        round_trips(SaleState::ALL);
        round_trips(ManifestState::ALL);
    }

    #[test]
    fn serde_and_the_database_spell_alike() {
        let json = serde_json::to_string(&ScanResult::AlreadyCheckedIn).ok();
        assert_eq!(json.as_deref(), Some("\"already_checked_in\""));
        let back: Option<OrderFlag> = serde_json::from_str("\"late_payment_refunded\"").ok();
        assert_eq!(back, Some(OrderFlag::LatePaymentRefunded));
    }
}

state_enum! {
    /// A change to an admission after the fact, recorded as its own row.
    pub enum ChangeKind {
        /// An earlier offline scan took the admission over.
        Displaced = "displaced",
        /// An organizer undid the admission (made by mistake).
        Undone = "undone",
    }
}

state_enum! {
    /// How an outbox message travels.
    pub enum MessageChannel {
        /// An email over SMTP.
        Email = "email",
        /// An HTTP POST to an organizer's endpoint, signed per Standard
        /// Webhooks.
        Webhook = "webhook",
    }
}

state_enum! {
    /// What an outbox message says.
    pub enum MessageKind {
        /// To the buyer: the order was placed and waits for payment (what to
        /// pay and until when).
        OrderReceived = "order_received",
        /// To the buyer: the order is paid; every ticket listed.
        OrderConfirmed = "order_confirmed",
        /// To the buyer: the order was cancelled.
        OrderCancelled = "order_cancelled",
        /// To the buyer: money was refunded (the amount).
        OrderRefunded = "order_refunded",
        /// To the buyer: the card was declined; retry while the hold lasts.
        PaymentFailed = "payment_failed",
        /// To one attendee at their own address: their ticket, its QR code
        /// and their own ticket link.
        Ticket = "ticket",
        /// To an address that asked: fresh links to every order and ticket
        /// it holds (the old ones stop working).
        Recovery = "recovery",
        /// To every attendee of an event: the organizers' own words (doors
        /// open at 8:30, bring an ID), with an unsubscribe link.
        Broadcast = "broadcast",
        /// Webhook `order.placed` (see [`WebhookType`]).
        WebhookOrderPlaced = "order.placed",
        WebhookOrderPaid = "order.paid",
        WebhookOrderCancelled = "order.cancelled",
        WebhookOrderExpired = "order.expired",
        WebhookOrderRefunded = "order.refunded",
        WebhookTicketUpdated = "ticket.updated",
        WebhookTicketReissued = "ticket.reissued",
        WebhookTicketCheckedIn = "ticket.checked_in",
        WebhookTierSoldOut = "tier.sold_out",
        WebhookPing = "ping",
    }
}

impl MessageKind {
    /// How a message of this kind travels.
    pub const fn channel(self) -> MessageChannel {
        match WebhookType::of(self) {
            Some(_) => MessageChannel::Webhook,
            None => MessageChannel::Email,
        }
    }
}

state_enum! {
    /// What an outbound webhook tells; its `type`.
    pub enum WebhookType {
        /// An order was placed (pending payment, or paid at once when free).
        OrderPlaced = "order.placed",
        /// An order was paid (by card, bank transfer or at once when free).
        OrderPaid = "order.paid",
        /// An order was cancelled (by its buyer or an organizer).
        OrderCancelled = "order.cancelled",
        /// An unpaid order's hold ended.
        OrderExpired = "order.expired",
        /// Money was refunded (`refund.amount`).
        OrderRefunded = "order.refunded",
        /// A ticket's attendee details changed.
        TicketUpdated = "ticket.updated",
        /// A ticket was reissued: its earlier check-in tokens stopped
        /// working.
        TicketReissued = "ticket.reissued",
        /// A ticket was admitted on a check-in list.
        TicketCheckedIn = "ticket.checked_in",
        /// A tier's last ticket was taken.
        TierSoldOut = "tier.sold_out",
        /// A test message, sent on request (`POST /webhooks/{id}/test`);
        /// no endpoint subscribes to it.
        Ping = "ping",
    }
}

impl WebhookType {
    /// The outbox kind of this type's messages.
    pub const fn kind(self) -> MessageKind {
        match self {
            WebhookType::OrderPlaced => MessageKind::WebhookOrderPlaced,
            WebhookType::OrderPaid => MessageKind::WebhookOrderPaid,
            WebhookType::OrderCancelled => MessageKind::WebhookOrderCancelled,
            WebhookType::OrderExpired => MessageKind::WebhookOrderExpired,
            WebhookType::OrderRefunded => MessageKind::WebhookOrderRefunded,
            WebhookType::TicketUpdated => MessageKind::WebhookTicketUpdated,
            WebhookType::TicketReissued => MessageKind::WebhookTicketReissued,
            WebhookType::TicketCheckedIn => MessageKind::WebhookTicketCheckedIn,
            WebhookType::TierSoldOut => MessageKind::WebhookTierSoldOut,
            WebhookType::Ping => MessageKind::WebhookPing,
        }
    }

    /// The webhook type an outbox kind carries (none: a mail).
    pub const fn of(kind: MessageKind) -> Option<WebhookType> {
        Some(match kind {
            MessageKind::WebhookOrderPlaced => WebhookType::OrderPlaced,
            MessageKind::WebhookOrderPaid => WebhookType::OrderPaid,
            MessageKind::WebhookOrderCancelled => WebhookType::OrderCancelled,
            MessageKind::WebhookOrderExpired => WebhookType::OrderExpired,
            MessageKind::WebhookOrderRefunded => WebhookType::OrderRefunded,
            MessageKind::WebhookTicketUpdated => WebhookType::TicketUpdated,
            MessageKind::WebhookTicketReissued => WebhookType::TicketReissued,
            MessageKind::WebhookTicketCheckedIn => WebhookType::TicketCheckedIn,
            MessageKind::WebhookTierSoldOut => WebhookType::TierSoldOut,
            MessageKind::WebhookPing => WebhookType::Ping,
            MessageKind::OrderReceived
            | MessageKind::OrderConfirmed
            | MessageKind::OrderCancelled
            | MessageKind::OrderRefunded
            | MessageKind::PaymentFailed
            | MessageKind::Ticket
            | MessageKind::Recovery
            | MessageKind::Broadcast => return None,
        })
    }
}

state_enum! {
    /// Where an outbox message is on its way out.
    pub enum MessageState {
        /// Waiting for its first attempt.
        Queued = "queued",
        /// Sent: the mail server accepted it (a webhook: answered 2xx).
        Sent = "sent",
        /// An attempt failed for a reason that may pass; tried again later.
        Retrying = "retrying",
        /// Given up: refused for good (a rejected address) or failing for
        /// longer than the retry period.
        Failed = "failed",
        /// No mail server is configured; sent once one is.
        NotSent = "not_sent",
        /// Not sent because it no longer applies (its ticket was revoked
        /// before the mail went out).
        Skipped = "skipped",
    }
}

impl MessageState {
    /// The states a worker picks messages up from when they are due.
    pub const WAITING: &'static [MessageState] = &[
        MessageState::Queued,
        MessageState::Retrying,
        MessageState::NotSent,
    ];
}

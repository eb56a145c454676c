//! What a Stripe event did, as a value. The words for people (the webhook's
//! answer, the `stripe_event` log, the organizer's flag) are rendered from
//! it by `Display`; code and tests look at the value.

use std::fmt;

use entity::state::{DisputeStatus, OrderState, RefundStatus};
use uuid::Uuid;

use crate::domain::inventory::Refusal;

/// What a webhook event did to its order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Delivered before: nothing changed.
    Duplicate,
    /// Not an event tessera acts on.
    Ignored,
    /// No tessera order matches the event.
    NoOrder,
    /// The payment arrived in time: the tickets are issued.
    Paid,
    /// The same payment again: nothing changed.
    AlreadyPaid,
    /// Paid after the hold ended; the seats were still free and are the
    /// order's again.
    PaidLate,
    /// A payment that can no longer buy its tickets: refunded automatically.
    LatePaymentRefunded(LateReason),
    /// A second payment for an order already settled: flagged.
    DoublePayment,
    /// The amount or currency received is not the order's: flagged.
    AmountMismatch(Mismatch),
    /// The card was declined; the hold stays until it ends.
    PaymentFailed,
    /// A failure for an order that is no longer waiting for payment.
    PaymentFailureIgnored(OrderState),
    /// Checkout completed with a delayed method (a bank debit): waiting.
    AwaitingDelayedPayment,
    /// A Checkout page expired; `released` when that ended the hold.
    CheckoutExpired { released: bool },
    /// The charge's refunded total, as Stripe reports it, noted.
    ChargeRefunded(i64),
    /// A refund was created or changed.
    Refund(RefundEffect),
    /// A dispute was opened: the tickets are refused at the door.
    DisputeOpened,
    /// News of an opening after the dispute had closed: nothing changes.
    DisputeAlreadyClosed,
    /// A dispute closed; `blocked` when the tickets stay refused (lost).
    DisputeClosed {
        status: DisputeStatus,
        blocked: bool,
    },
}

/// Why a late payment could not buy its tickets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LateReason {
    /// The order was cancelled before the money arrived.
    Cancelled,
    /// The hold ended and what the order held is gone.
    Gone(Gone),
}

/// What is sold out when an order's seats cannot be taken back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gone {
    Tickets,
    SwagSize,
    Voucher,
}

impl Gone {
    /// What a refused re-placement says is gone (hold and buyer limits never
    /// refuse one: re-placements are not limited; they read as tickets).
    pub fn of(refusal: &Refusal) -> Self {
        match refusal {
            Refusal::SwagSoldOut { .. } => Gone::SwagSize,
            Refusal::VoucherUsedUp => Gone::Voucher,
            Refusal::SoldOut { .. } | Refusal::HoldLimit { .. } | Refusal::BuyerLimit { .. } => {
                Gone::Tickets
            }
        }
    }
}

/// Money that arrived unlike the order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    pub received: i64,
    pub currency: String,
    pub total: i64,
    pub order_currency: String,
}

/// What a refund event did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefundEffect {
    /// One of ours, already in this status.
    Unchanged(RefundStatus),
    /// One of ours moved.
    Moved {
        from: RefundStatus,
        to: RefundStatus,
    },
    /// Made outside tessera (the dashboard) and recorded.
    OutsideRecorded,
    /// Made outside tessera and already failed: nothing to undo.
    OutsideFailed(RefundStatus),
}

/// What applying a webhook event did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    pub effect: Effect,
    /// Whether this event left the order refunded in full (and closed it).
    pub fully_refunded: bool,
    /// A refund decided on (a late payment) that must be sent to Stripe.
    pub refund_due: Option<Uuid>,
}

impl Applied {
    pub fn of(effect: Effect) -> Self {
        Self {
            effect,
            fully_refunded: false,
            refund_due: None,
        }
    }

    pub fn duplicate(&self) -> bool {
        self.effect == Effect::Duplicate
    }
}

impl fmt::Display for Gone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Gone::Tickets => "the tickets are sold out",
            Gone::SwagSize => "the swag size is sold out",
            Gone::Voucher => "the voucher is used up",
        })
    }
}

impl fmt::Display for LateReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LateReason::Cancelled => f.write_str("paid after the order was cancelled"),
            LateReason::Gone(gone) => write!(f, "paid after the hold expired and {gone}"),
        }
    }
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "received {} {}, the order is {} {}",
            self.received,
            self.currency.to_uppercase(),
            self.total,
            self.order_currency
        )
    }
}

impl fmt::Display for Effect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Effect::Duplicate => f.write_str("already applied"),
            Effect::Ignored => f.write_str("ignored: not an event tessera acts on"),
            Effect::NoOrder => f.write_str("ignored: no tessera order matches"),
            Effect::Paid => f.write_str("paid; tickets issued"),
            Effect::AlreadyPaid => f.write_str("already paid"),
            Effect::PaidLate => {
                f.write_str("paid after the hold expired; the seats were still free")
            }
            Effect::LatePaymentRefunded(why) => write!(f, "refunding automatically: {why}"),
            Effect::DoublePayment => f.write_str("flagged: a second payment for a settled order"),
            Effect::AmountMismatch(m) => write!(f, "flagged: {m}"),
            Effect::PaymentFailed => f.write_str("payment failed; the hold stays until it expires"),
            Effect::PaymentFailureIgnored(state) => {
                write!(f, "payment failure ignored: the order is {state}")
            }
            Effect::AwaitingDelayedPayment => {
                f.write_str("checkout completed; waiting for the delayed payment")
            }
            Effect::CheckoutExpired { released: true } => {
                f.write_str("checkout expired; the hold was released")
            }
            Effect::CheckoutExpired { released: false } => {
                f.write_str("checkout expired; nothing held")
            }
            Effect::ChargeRefunded(total) => write!(f, "charge refunded total {total} noted"),
            Effect::Refund(RefundEffect::Unchanged(status)) => write!(f, "refund already {status}"),
            Effect::Refund(RefundEffect::Moved { from, to }) => write!(f, "refund {from} -> {to}"),
            Effect::Refund(RefundEffect::OutsideRecorded) => f.write_str("outside refund recorded"),
            Effect::Refund(RefundEffect::OutsideFailed(status)) => {
                write!(f, "outside refund {status}; nothing to undo")
            }
            Effect::DisputeOpened => f.write_str("disputed; tickets blocked at the door"),
            Effect::DisputeAlreadyClosed => f.write_str("dispute already closed; nothing changes"),
            Effect::DisputeClosed {
                status,
                blocked: false,
            } => write!(f, "dispute {status}; tickets unblocked"),
            Effect::DisputeClosed {
                status,
                blocked: true,
            } => write!(f, "dispute {status}; tickets stay blocked"),
        }
    }
}

impl fmt::Display for Applied {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.effect)?;
        if self.fully_refunded {
            f.write_str("; the order is fully refunded")?;
        }
        Ok(())
    }
}

//! `judge` and `Ledger::admit` against a reference model small enough to
//! read at a glance: random batches over random tiers, stock, vouchers
//! and earlier holds.

use proptest::prelude::*;

use super::*;
use entity::state::{OrderState, TicketStatus};

const TIERS: usize = 3;
const SIZES: [&str; 2] = ["s", "m"];
const BUYERS: usize = 3;

#[derive(Debug, Clone)]
struct Want {
    buyer: usize,
    tickets: Vec<(usize, Option<usize>)>,
    voucher: bool,
}

#[derive(Debug, Clone)]
struct World {
    event_capacity: Option<i64>,
    tier_capacity: [i64; TIERS],
    stock: [Option<i64>; 2],
    voucher_limit: Option<i32>,
    held_before: [i64; BUYERS],
    wants: Vec<Want>,
}

fn world() -> impl Strategy<Value = World> {
    let want = (
        0..BUYERS,
        prop::collection::vec((0..TIERS, prop::option::of(0..SIZES.len())), 1..5),
        any::<bool>(),
    )
        .prop_map(|(buyer, tickets, voucher)| Want {
            buyer,
            tickets,
            voucher,
        });
    (
        prop::option::of(0i64..12),
        [0i64..6, 0i64..6, 0i64..6],
        [prop::option::of(0i64..5), prop::option::of(0i64..5)],
        prop::option::of(0i32..6),
        [0i64..4, 0i64..4, 0i64..4],
        prop::collection::vec(want, 1..12),
    )
        .prop_map(
            |(event_capacity, tier_capacity, stock, voucher_limit, held_before, wants)| World {
                event_capacity,
                tier_capacity,
                stock,
                voucher_limit,
                held_before,
                wants,
            },
        )
}

const LIMITS: HoldLimits = HoldLimits {
    per_email: 4,
    per_client: 100,
    hold: chrono::Duration::minutes(15),
};

fn ids() -> ([Uuid; TIERS], Uuid) {
    (
        [Uuid::from_u128(1), Uuid::from_u128(2), Uuid::from_u128(3)],
        Uuid::from_u128(99),
    )
}

fn placement(want: &Want, at: DateTime<Utc>) -> Placement {
    let (tiers, voucher) = ids();
    let order_id = Uuid::now_v7();
    let order = order::Model {
        id: order_id,
        event_id: Uuid::nil(),
        code: String::new(),
        email: format!("buyer{}@example.org", want.buyer),
        token_hash: String::new(),
        state: OrderState::Pending,
        currency: "EUR".into(),
        subtotal: 0,
        discount: 0,
        total: 0,
        ticket_count: i32::try_from(want.tickets.len()).unwrap(),
        voucher_id: want.voucher.then_some(voucher),
        expires_at: Some(at + LIMITS.hold),
        client_key: format!("client{}", want.buyer),
        comp_reason: None,
        created_by_staff: None,
        created_at: at,
        updated_at: at,
        paid_at: None,
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
    let tickets = want
        .tickets
        .iter()
        .map(|(tier, size)| ticket::Model {
            id: Uuid::now_v7(),
            order_id,
            event_id: Uuid::nil(),
            tier_id: tiers[*tier],
            status: TicketStatus::Held,
            hold_expires_at: order.expires_at,
            attendee_name: "A".into(),
            attendee_email: order.email.clone(),
            swag_size: size.map(|s| SIZES[s].to_uppercase()),
            swag_cut: None,
            dietary: None,
            notes: String::new(),
            unit_price: 0,
            discount: 0,
            price: 0,
            voucher_id: order.voucher_id,
            token_version: 1,
            created_at: at,
            updated_at: at,
        })
        .collect();
    Placement {
        order,
        tickets,
        voucher: want.voucher.then_some((voucher, None)),
        limited: true,
    }
}

/// The rules as a person would state them, kept as plain counts.
#[derive(Debug, Clone)]
struct Reference {
    left_tier: [i64; TIERS],
    left_event: Option<i64>,
    left_stock: [Option<i64>; 2],
    left_uses: Option<i64>,
    held: [i64; BUYERS],
}

impl Reference {
    fn fits(&self, want: &Want) -> bool {
        let n = want.tickets.len() as i64;
        let per_tier = (0..TIERS).all(|t| {
            want.tickets.iter().filter(|(tier, _)| *tier == t).count() as i64 <= self.left_tier[t]
        });
        let venue = self.left_event.is_none_or(|left| n <= left);
        let shirts = (0..SIZES.len()).all(|s| {
            self.left_stock[s].is_none_or(|left| {
                want.tickets
                    .iter()
                    .filter(|(_, size)| *size == Some(s))
                    .count() as i64
                    <= left
            })
        });
        let uses = !want.voucher || self.left_uses.is_none_or(|left| n <= left);
        // One buyer holds at most the cap across orders; a single order
        // may be larger than the cap when it holds nothing else.
        let holds = self.held[want.buyer] + n <= Ord::max(LIMITS.per_email, n);
        per_tier && venue && shirts && uses && holds
    }

    fn take(&mut self, want: &Want) {
        let n = want.tickets.len() as i64;
        for (tier, size) in &want.tickets {
            self.left_tier[*tier] -= 1;
            if let Some(s) = size
                && let Some(left) = self.left_stock[*s].as_mut()
            {
                *left -= 1;
            }
        }
        if let Some(left) = self.left_event.as_mut() {
            *left -= n;
        }
        if want.voucher
            && let Some(left) = self.left_uses.as_mut()
        {
            *left -= n;
        }
        self.held[want.buyer] += n;
    }
}

fn ledger(world: &World, at: DateTime<Utc>) -> Ledger {
    let (tiers, voucher) = ids();
    let by_email = (0..BUYERS)
        .filter(|b| world.held_before[*b] > 0)
        .map(|b| {
            (
                format!("buyer{b}@example.org"),
                Held {
                    tickets: world.held_before[b],
                    first_expiry: Some(at + chrono::Duration::minutes(5)),
                },
            )
        })
        .collect();
    Ledger {
        room: Room {
            capacity: world.event_capacity,
            tiers: tiers.iter().copied().zip(world.tier_capacity).collect(),
            per_buyer: HashMap::new(),
            stock: SIZES
                .iter()
                .zip(world.stock)
                .filter_map(|(size, stock)| stock.map(|n| (((*size).to_owned(), None), n)))
                .collect(),
            taken: Taken {
                by_voucher: HashMap::from([(voucher, 0)]),
                ..Taken::default()
            },
        },
        by_email,
        by_client: HashMap::new(),
        bought: HashMap::new(),
    }
}

proptest! {
    #[test]
    fn a_batch_admits_in_arrival_order_whatever_fits_and_never_more(world in world()) {
        let at = Utc::now();
        let (_, voucher) = ids();
        let mut ledger = ledger(&world, at);
        let mut reference = Reference {
            left_tier: world.tier_capacity,
            left_event: world.event_capacity,
            left_stock: world.stock,
            left_uses: world.voucher_limit.map(i64::from),
            held: world.held_before,
        };
        for want in &world.wants {
            let mut placement = placement(want, at);
            placement.voucher = want.voucher.then_some((voucher, world.voucher_limit));
            let admitted = ledger.admit(&placement, &LIMITS, at).is_none();
            prop_assert_eq!(admitted, reference.fits(want), "{:?} with {:?}", want, reference);
            if admitted {
                reference.take(want);
            }
        }
        // Never past any limit.
        prop_assert!(reference.left_tier.iter().all(|left| *left >= 0));
        prop_assert!(reference.left_event.is_none_or(|left| left >= 0));
        prop_assert!(reference.left_stock.iter().all(|left| left.is_none_or(|l| l >= 0)));
        prop_assert!(reference.left_uses.is_none_or(|left| left >= 0));
    }
}

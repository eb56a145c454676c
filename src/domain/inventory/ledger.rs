//! The pure part of the inventory: what is left in an event, and whether a
//! placement fits in it. No database here; `mod.rs` reads the ledger under
//! the event lock and writes what it admits.

use std::{collections::HashMap, time::Duration};

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{HoldLimits, Placement, Refusal, Taken};

/// Unpaid tickets a buyer holds, and when the first of their holds ends.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Held {
    pub(super) tickets: i64,
    pub(super) first_expiry: Option<DateTime<Utc>>,
}

/// What an event can still sell: capacities, swag stock, what is taken.
pub(super) struct Room {
    pub(super) capacity: Option<i64>,
    pub(super) tiers: HashMap<Uuid, i64>,
    /// Tiers with a per-buyer limit, and the limit.
    pub(super) per_buyer: HashMap<Uuid, i64>,
    pub(super) stock: HashMap<(String, Option<String>), i64>,
    pub(super) taken: Taken,
}

/// Everything a batch of placements is judged against, read once under the
/// event lock, and kept current as placements are admitted.
pub(super) struct Ledger {
    pub(super) room: Room,
    pub(super) by_email: HashMap<String, Held>,
    pub(super) by_client: HashMap<String, Held>,
    /// Tickets of each limited tier the batch's buyers already have, by
    /// buyer email (stored lower-cased, as `Email::parse` answers it).
    pub(super) bought: HashMap<(String, Uuid), i64>,
}

/// Whether the per-buyer limits apply: to buyers, not to an organizer's comp.
fn buyer_limited(placement: &Placement) -> bool {
    placement.order.comp_reason.is_none()
}

/// Indices of the placement's tickets by tier.
fn by_tier(placement: &Placement) -> HashMap<Uuid, Vec<usize>> {
    let mut wanted: HashMap<Uuid, Vec<usize>> = HashMap::new();
    for (i, t) in placement.tickets.iter().enumerate() {
        wanted.entry(t.tier_id).or_default().push(i);
    }
    wanted
}

impl Ledger {
    /// Judges one placement against what is left and, when it fits, takes
    /// what it holds. `None` means admitted.
    /// Tiers whose last ticket was taken since `before` (their tickets
    /// taken then).
    pub(super) fn sold_out_since(&self, before: &HashMap<Uuid, i64>) -> Vec<Uuid> {
        let taken =
            |counts: &HashMap<Uuid, i64>, tier: &Uuid| counts.get(tier).copied().unwrap_or(0);
        let mut tiers: Vec<Uuid> = self
            .room
            .tiers
            .iter()
            .filter(|(tier, capacity)| {
                taken(before, tier) < **capacity
                    && taken(&self.room.taken.by_tier, tier) >= **capacity
            })
            .map(|(tier, _)| *tier)
            .collect();
        tiers.sort();
        tiers
    }

    pub(super) fn admit(
        &mut self,
        placement: &Placement,
        limits: &HoldLimits,
        at: DateTime<Utc>,
    ) -> Option<Refusal> {
        let refusal = judge(placement, limits, self, at);
        if refusal.is_some() {
            return refusal;
        }
        let taken = &mut self.room.taken;
        let n = i64::try_from(placement.tickets.len()).unwrap_or(i64::MAX);
        for t in &placement.tickets {
            *taken.by_tier.entry(t.tier_id).or_default() += 1;
            if let Some(size) = &t.swag_size {
                *taken
                    .by_swag
                    .entry((
                        size.to_lowercase(),
                        t.swag_cut.as_ref().map(|c| c.to_lowercase()),
                    ))
                    .or_default() += 1;
            }
        }
        taken.total += n;
        if placement.limited {
            for held in [
                self.by_email
                    .entry(placement.order.email.clone())
                    .or_default(),
                self.by_client
                    .entry(placement.order.client_key.clone())
                    .or_default(),
            ] {
                held.tickets += n;
                held.first_expiry = held.first_expiry.or(placement.order.expires_at);
            }
        }
        if buyer_limited(placement) {
            for (tier, indices) in by_tier(placement) {
                if self.room.per_buyer.contains_key(&tier) {
                    *self
                        .bought
                        .entry((placement.order.email.clone(), tier))
                        .or_default() += i64::try_from(indices.len()).unwrap_or(i64::MAX);
                }
            }
        }
        if let Some((voucher, _)) = placement.voucher {
            let counted = placement
                .tickets
                .iter()
                .filter(|t| t.voucher_id == Some(voucher))
                .count();
            *self.room.taken.by_voucher.entry(voucher).or_default() +=
                i64::try_from(counted).unwrap_or(i64::MAX);
        }
        None
    }
}

// Long on purpose: the limits in the order they apply (tier, venue, swag
// stock, voucher, hold caps); split apart, that order would be hidden.
/// Whether `placement` fits in what `ledger` says is left; the refusal when
/// not. Pure: the caller applies an admission ([`Ledger::admit`]).
pub(super) fn judge(
    placement: &Placement,
    limits: &HoldLimits,
    ledger: &Ledger,
    at: DateTime<Utc>,
) -> Option<Refusal> {
    let Ledger {
        room:
            Room {
                capacity: event_capacity,
                tiers,
                per_buyer,
                stock,
                taken,
            },
        by_email,
        by_client,
        bought,
    } = ledger;
    let event_capacity = *event_capacity;
    let n = i64::try_from(placement.tickets.len()).unwrap_or(i64::MAX);
    if placement.limited {
        let email = by_email
            .get(&placement.order.email)
            .copied()
            .unwrap_or_default();
        let client = by_client
            .get(&placement.order.client_key)
            .copied()
            .unwrap_or_default();
        let over: Vec<Held> = [(email, limits.per_email), (client, limits.per_client)]
            .into_iter()
            // A cap limits what one buyer holds across orders; it never
            // refuses, on its own, an order its tiers allow (one order may be
            // larger than the cap: waiting could never cure that).
            .filter(|(held, limit)| held.tickets + n > Ord::max(*limit, n))
            .map(|(held, _)| held)
            .collect();
        if !over.is_empty() {
            // Room comes back when the first of the blocking holds ends.
            let first = over.iter().filter_map(|h| h.first_expiry).max();
            let wait = first.map_or(limits.hold, |first| first - at);
            return Some(Refusal::HoldLimit {
                retry_after: wait
                    .to_std()
                    .unwrap_or(Duration::from_secs(1))
                    .max(Duration::from_secs(1)),
            });
        }
    }
    // Per buyer: a tier's limit on what one email may have across orders.
    let wanted = by_tier(placement);
    if buyer_limited(placement) {
        let buyer = &placement.order.email;
        let mut over: Vec<usize> = wanted
            .iter()
            .filter(|(tier, indices)| {
                per_buyer.get(tier).is_some_and(|limit| {
                    let had = bought.get(&(buyer.clone(), **tier)).copied().unwrap_or(0);
                    had + i64::try_from(indices.len()).unwrap_or(i64::MAX) > *limit
                })
            })
            .flat_map(|(_, indices)| indices.iter().copied())
            .collect();
        if !over.is_empty() {
            over.sort_unstable();
            return Some(Refusal::BuyerLimit { tickets: over });
        }
    }
    // Per tier, then the venue as a whole.
    let mut short: Vec<usize> = Vec::new();
    for (tier, indices) in &wanted {
        let capacity = tiers.get(tier).copied().unwrap_or(0);
        let left = capacity - taken.by_tier.get(tier).copied().unwrap_or(0);
        if left < i64::try_from(indices.len()).unwrap_or(i64::MAX) {
            short.extend(indices);
        }
    }
    if short.is_empty()
        && let Some(capacity) = event_capacity
        && capacity - taken.total < n
    {
        short.extend(0..placement.tickets.len());
    }
    if !short.is_empty() {
        short.sort_unstable();
        return Some(Refusal::SoldOut { tickets: short });
    }
    let mut wanted_swag: HashMap<(String, Option<String>), Vec<usize>> = HashMap::new();
    for (i, t) in placement.tickets.iter().enumerate() {
        if let Some(size) = &t.swag_size {
            let key = (
                size.to_lowercase(),
                t.swag_cut.as_ref().map(|c| c.to_lowercase()),
            );
            wanted_swag.entry(key).or_default().push(i);
        }
    }
    let mut swag_short: Vec<usize> = Vec::new();
    for (key, indices) in &wanted_swag {
        if let Some(stock) = stock.get(key) {
            let left = stock - taken.by_swag.get(key).copied().unwrap_or(0);
            if left < i64::try_from(indices.len()).unwrap_or(i64::MAX) {
                swag_short.extend(indices);
            }
        }
    }
    if !swag_short.is_empty() {
        swag_short.sort_unstable();
        return Some(Refusal::SwagSoldOut {
            tickets: swag_short,
        });
    }
    if let Some((voucher, Some(limit))) = placement.voucher {
        let uses = placement
            .tickets
            .iter()
            .filter(|t| t.voucher_id == Some(voucher))
            .count();
        let so_far = taken.by_voucher.get(&voucher).copied().unwrap_or(0);
        if so_far + i64::try_from(uses).unwrap_or(i64::MAX) > i64::from(limit) {
            return Some(Refusal::VoucherUsedUp);
        }
    }
    None
}

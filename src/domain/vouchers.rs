//! Vouchers: codes that discount tickets (percent or fixed), unlock hidden
//! tiers, or both, with a usage limit and a validity window.
//!
//! A use is one ticket the voucher discounted or unlocked. Held and paid
//! tickets count; tickets whose hold ended (expired or cancelled orders)
//! give their use back at once.

use std::collections::HashSet;

pub use entity::state::DiscountKind;

use chrono::{DateTime, Utc};
use entity::{ticket, tier, voucher};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, ModelTrait,
    PaginatorTrait, QueryFilter, QueryOrder, Set,
};
use uuid::Uuid;

use super::{
    DomainError, at_db_precision, events, is_unique_violation, money::MAX_PRICE_MINOR, now,
    orders::pricing::Discount, staff::Staff, validation::FieldErrors,
};

/// A voucher as the rest of the service sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Voucher {
    pub id: Uuid,
    pub event_id: Uuid,
    pub code: String,
    pub discount: Discount,
    pub applies_to: Vec<Uuid>,
    pub unlocks: Vec<Uuid>,
    pub usage_limit: Option<i32>,
    pub valid_from: Option<DateTime<Utc>>,
    pub valid_until: Option<DateTime<Utc>>,
    pub archived_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Voucher {
    pub fn from_model(model: voucher::Model) -> Result<Self, DomainError> {
        let corrupt = |what: &str, err: &dyn std::fmt::Display| {
            DomainError::Corrupt(format!("voucher {} {what}: {err}", model.id))
        };
        let discount = match model.discount_kind {
            DiscountKind::None => Discount::None,
            DiscountKind::Percent => Discount::Percent(model.discount_value),
            DiscountKind::Fixed => Discount::Fixed(model.discount_value),
        };
        let applies_to = serde_json::from_value(model.applies_to.clone())
            .map_err(|e| corrupt("applies_to", &e))?;
        let unlocks =
            serde_json::from_value(model.unlocks.clone()).map_err(|e| corrupt("unlocks", &e))?;
        Ok(Self {
            id: model.id,
            event_id: model.event_id,
            code: model.code,
            discount,
            applies_to,
            unlocks,
            usage_limit: model.usage_limit,
            valid_from: model.valid_from,
            valid_until: model.valid_until,
            archived_at: model.archived_at,
            created_at: model.created_at,
            updated_at: model.updated_at,
        })
    }

    /// Whether a buyer may redeem it at `now` (uses aside).
    pub fn redeemable_at(&self, now: DateTime<Utc>) -> bool {
        self.archived_at.is_none()
            && self.valid_from.is_none_or(|from| now >= from)
            && self.valid_until.is_none_or(|until| now < until)
    }

    /// The discount on a ticket of this tier.
    pub fn discount_for(&self, tier_id: Uuid) -> Discount {
        if self.applies_to.is_empty() || self.applies_to.contains(&tier_id) {
            self.discount
        } else {
            Discount::None
        }
    }

    pub fn unlocks_tier(&self, tier_id: Uuid) -> bool {
        self.unlocks.contains(&tier_id)
    }
}

/// Normalises a code for storage and lookup: trimmed and upper-cased.
pub fn normalise_code(code: &str) -> String {
    code.trim().to_uppercase()
}

/// Everything needed to create a voucher.
#[derive(Debug, Clone)]
pub struct VoucherInput {
    pub code: String,
    pub discount_kind: DiscountKind,
    pub discount_value: i64,
    pub applies_to: Vec<Uuid>,
    pub unlocks: Vec<Uuid>,
    pub usage_limit: Option<i64>,
    pub valid_from: Option<DateTime<Utc>>,
    pub valid_until: Option<DateTime<Utc>>,
}

/// A partial update; for nullable fields `Some(None)` clears them. The code
/// never changes: it may already be printed on a sponsor's badge.
#[derive(Debug, Clone, Default)]
pub struct VoucherPatch {
    pub discount_kind: Option<DiscountKind>,
    pub discount_value: Option<i64>,
    pub applies_to: Option<Vec<Uuid>>,
    pub unlocks: Option<Vec<Uuid>>,
    pub usage_limit: Option<Option<i64>>,
    pub valid_from: Option<Option<DateTime<Utc>>>,
    pub valid_until: Option<Option<DateTime<Utc>>>,
}

struct ValidVoucher {
    code: String,
    kind: DiscountKind,
    value: i64,
    applies_to: Vec<Uuid>,
    unlocks: Vec<Uuid>,
    usage_limit: Option<i32>,
    valid_from: Option<DateTime<Utc>>,
    valid_until: Option<DateTime<Utc>>,
}

fn check_tiers(
    errors: &mut FieldErrors,
    field: &str,
    ids: &[Uuid],
    tiers: &[tier::Model],
    hidden_only: bool,
) {
    let mut seen = HashSet::new();
    for (i, id) in ids.iter().enumerate() {
        let name = format!("{field}[{i}]");
        match tiers.iter().find(|t| t.id == *id) {
            None => errors.add(name, "unknown_tier", "no tier of this event has this id"),
            Some(t) if hidden_only && !t.hidden => errors.add(
                name,
                "not_hidden",
                "only hidden tiers need unlocking; this tier is public",
            ),
            Some(_) if !seen.insert(*id) => {
                errors.add(name, "duplicate", "this tier is listed twice")
            }
            Some(_) => {}
        }
    }
}

fn validate(input: VoucherInput, tiers: &[tier::Model]) -> Result<ValidVoucher, FieldErrors> {
    let mut errors = FieldErrors::new();
    let code = normalise_code(&input.code);
    let code_ok = code
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !(3..=32).contains(&code.len()) || !code_ok {
        errors.add(
            "code",
            "invalid_code",
            "must be 3-32 of letters, digits, '-' and '_'",
        );
    }
    let kind = input.discount_kind;
    match kind {
        DiscountKind::None => {
            if input.discount_value != 0 {
                errors.add(
                    "discount_value",
                    "not_allowed",
                    "must be 0 when discount_kind is none",
                );
            }
            if input.unlocks.is_empty() {
                errors.add(
                    "unlocks",
                    "no_effect",
                    "a voucher without a discount must unlock at least one tier",
                );
            }
        }
        DiscountKind::Percent => {
            if !(1..=100).contains(&input.discount_value) {
                errors.add(
                    "discount_value",
                    "out_of_range",
                    "a percent discount is 1 to 100",
                );
            }
        }
        DiscountKind::Fixed => {
            if !(1..=MAX_PRICE_MINOR).contains(&input.discount_value) {
                errors.add(
                    "discount_value",
                    "out_of_range",
                    "a fixed discount is 1 or more minor units",
                );
            }
        }
    }
    check_tiers(&mut errors, "applies_to", &input.applies_to, tiers, false);
    check_tiers(&mut errors, "unlocks", &input.unlocks, tiers, true);
    let usage_limit = input
        .usage_limit
        .map(|limit| errors.range_i32("usage_limit", limit, 1, events::MAX_CAPACITY));
    let valid_from = input.valid_from.map(at_db_precision);
    let valid_until = input.valid_until.map(at_db_precision);
    if let (Some(from), Some(until)) = (valid_from, valid_until)
        && until <= from
    {
        errors.add(
            "valid_until",
            "ends_before_start",
            "must be after valid_from",
        );
    }
    errors.finish(ValidVoucher {
        code,
        kind,
        value: input.discount_value,
        applies_to: input.applies_to,
        unlocks: input.unlocks,
        usage_limit,
        valid_from,
        valid_until,
    })
}

fn json<T: serde::Serialize>(value: &T) -> Result<serde_json::Value, DomainError> {
    serde_json::to_value(value).map_err(|e| DomainError::Corrupt(e.to_string()))
}

/// How many tickets use the voucher now (held and paid).
pub async fn uses(db: &impl ConnectionTrait, voucher: &voucher::Model) -> Result<u64, DomainError> {
    let voucher_id = voucher.id;
    let used = uses_of(db, voucher.event_id, vec![voucher_id], now()).await?;
    Ok(used
        .get(&voucher_id)
        .copied()
        .unwrap_or(0)
        .try_into()
        .unwrap_or(0))
}

/// A voucher's usage limit: `None` when the voucher is gone,
/// `Some(None)` when it has no limit.
pub(crate) async fn limit_of(
    db: &impl ConnectionTrait,
    id: Uuid,
) -> Result<Option<Option<i32>>, sea_orm::DbErr> {
    Ok(voucher::Entity::find_by_id(id)
        .one(db)
        .await?
        .map(|v| v.usage_limit))
}

/// Uses of several of an event's vouchers at `at`; absent means none.
pub(crate) async fn uses_of(
    db: &impl ConnectionTrait,
    event_id: Uuid,
    ids: Vec<Uuid>,
    at: DateTime<Utc>,
) -> Result<std::collections::HashMap<Uuid, i64>, sea_orm::DbErr> {
    super::inventory::voucher_uses(db, event_id, &ids, at).await
}

pub async fn create(
    db: &DatabaseConnection,
    staff: &Staff,
    slug: &str,
    input: VoucherInput,
) -> Result<(Voucher, u64), DomainError> {
    let event = events::find_managed(db, staff, slug).await?;
    let tiers = event.find_related(tier::Entity).all(db).await?;
    let valid = validate(input, &tiers)?;
    let at = now();
    let model = voucher::ActiveModel {
        id: Set(Uuid::now_v7()),
        event_id: Set(event.id),
        code: Set(valid.code),
        discount_kind: Set(valid.kind),
        discount_value: Set(valid.value),
        applies_to: Set(json(&valid.applies_to)?),
        unlocks: Set(json(&valid.unlocks)?),
        usage_limit: Set(valid.usage_limit),
        valid_from: Set(valid.valid_from),
        valid_until: Set(valid.valid_until),
        archived_at: Set(None),
        created_at: Set(at),
        updated_at: Set(at),
    };
    match model.insert(db).await {
        Ok(model) => Ok((Voucher::from_model(model)?, 0)),
        Err(err) if is_unique_violation(&err) => Err(FieldErrors::single(
            "code",
            "taken",
            "this event already has a voucher with this code",
        )
        .into()),
        Err(err) => Err(err.into()),
    }
}

/// Every voucher of an event with its current use count.
pub async fn list(
    db: &DatabaseConnection,
    staff: &Staff,
    slug: &str,
) -> Result<Vec<(Voucher, u64)>, DomainError> {
    let event = events::find_managed(db, staff, slug).await?;
    let models = voucher::Entity::find()
        .filter(voucher::Column::EventId.eq(event.id))
        .order_by_asc(voucher::Column::Code)
        .all(db)
        .await?;
    let used = uses_of(db, event.id, models.iter().map(|m| m.id).collect(), now()).await?;
    models
        .into_iter()
        .map(|model| {
            let n = used.get(&model.id).copied().unwrap_or(0);
            Ok((Voucher::from_model(model)?, u64::try_from(n).unwrap_or(0)))
        })
        .collect()
}

async fn find(
    db: &DatabaseConnection,
    staff: &Staff,
    slug: &str,
    id: Uuid,
) -> Result<voucher::Model, DomainError> {
    let event = events::find_managed(db, staff, slug).await?;
    voucher::Entity::find_by_id(id)
        .filter(voucher::Column::EventId.eq(event.id))
        .one(db)
        .await?
        .ok_or(DomainError::NotFound("voucher"))
}

pub async fn get(
    db: &DatabaseConnection,
    staff: &Staff,
    slug: &str,
    id: Uuid,
) -> Result<(Voucher, u64), DomainError> {
    let model = find(db, staff, slug, id).await?;
    let used = uses(db, &model).await?;
    Ok((Voucher::from_model(model)?, used))
}

pub async fn update(
    db: &DatabaseConnection,
    staff: &Staff,
    slug: &str,
    id: Uuid,
    patch: VoucherPatch,
) -> Result<(Voucher, u64), DomainError> {
    let model = find(db, staff, slug, id).await?;
    if model.archived_at.is_some() {
        return Err(DomainError::conflict(
            "voucher_archived",
            "archived vouchers cannot be changed",
        ));
    }
    let current = Voucher::from_model(model.clone())?;
    let (kind, value) = match current.discount {
        Discount::None => (DiscountKind::None, 0),
        Discount::Percent(v) => (DiscountKind::Percent, v),
        Discount::Fixed(v) => (DiscountKind::Fixed, v),
    };
    let tiers = tier::Entity::find()
        .filter(tier::Column::EventId.eq(model.event_id))
        .all(db)
        .await?;
    let input = VoucherInput {
        code: current.code,
        discount_kind: patch.discount_kind.unwrap_or(kind),
        discount_value: patch.discount_value.unwrap_or(value),
        applies_to: patch.applies_to.unwrap_or(current.applies_to),
        unlocks: patch.unlocks.unwrap_or(current.unlocks),
        usage_limit: patch
            .usage_limit
            .unwrap_or(current.usage_limit.map(i64::from)),
        valid_from: patch.valid_from.unwrap_or(current.valid_from),
        valid_until: patch.valid_until.unwrap_or(current.valid_until),
    };
    let valid = validate(input, &tiers)?;
    let mut active: voucher::ActiveModel = model.into();
    active.discount_kind = Set(valid.kind);
    active.discount_value = Set(valid.value);
    active.applies_to = Set(json(&valid.applies_to)?);
    active.unlocks = Set(json(&valid.unlocks)?);
    active.usage_limit = Set(valid.usage_limit);
    active.valid_from = Set(valid.valid_from);
    active.valid_until = Set(valid.valid_until);
    active.updated_at = Set(now());
    let model = active.update(db).await?;
    let used = uses(db, &model).await?;
    Ok((Voucher::from_model(model)?, used))
}

/// Archives a voucher: it can no longer be redeemed; tickets bought with it
/// keep their price.
pub async fn archive(
    db: &DatabaseConnection,
    staff: &Staff,
    slug: &str,
    id: Uuid,
) -> Result<(Voucher, u64), DomainError> {
    let model = find(db, staff, slug, id).await?;
    let model = if model.archived_at.is_none() {
        let mut active: voucher::ActiveModel = model.into();
        let at = now();
        active.archived_at = Set(Some(at));
        active.updated_at = Set(at);
        active.update(db).await?
    } else {
        model
    };
    let used = uses(db, &model).await?;
    Ok((Voucher::from_model(model)?, used))
}

/// Deletes a voucher no ticket ever used; others are archived instead.
pub async fn delete(
    db: &DatabaseConnection,
    staff: &Staff,
    slug: &str,
    id: Uuid,
) -> Result<(), DomainError> {
    let model = find(db, staff, slug, id).await?;
    let ever_used = ticket::Entity::find()
        .filter(ticket::Column::VoucherId.eq(model.id))
        .count(db)
        .await?
        > 0;
    if ever_used {
        return Err(DomainError::conflict(
            "voucher_was_used",
            "a voucher that was used is archived, not deleted: POST .../archive",
        ));
    }
    model.delete(db).await?;
    Ok(())
}

/// Finds a redeemable voucher of an event by code, for a buyer.
pub async fn redeemable(
    db: &impl ConnectionTrait,
    event_id: Uuid,
    code: &str,
) -> Result<Option<Voucher>, DomainError> {
    let Some(model) = voucher::Entity::find()
        .filter(voucher::Column::EventId.eq(event_id))
        .filter(voucher::Column::Code.eq(normalise_code(code)))
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    let voucher = Voucher::from_model(model)?;
    Ok(voucher.redeemable_at(now()).then_some(voucher))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> VoucherInput {
        VoucherInput {
            code: "speakers-2027".into(),
            discount_kind: DiscountKind::Percent,
            discount_value: 20,
            applies_to: vec![],
            unlocks: vec![],
            usage_limit: Some(10),
            valid_from: None,
            valid_until: None,
        }
    }

    fn fields(result: Result<ValidVoucher, FieldErrors>) -> Vec<String> {
        result
            .err()
            .map(|e| e.iter().map(|e| e.field.clone()).collect())
            .unwrap_or_default()
    }

    #[test]
    fn codes_are_upper_cased() {
        let valid = validate(input(), &[]).unwrap();
        assert_eq!(valid.code, "SPEAKERS-2027");
    }

    #[test]
    fn bad_vouchers_name_their_fields() {
        let bad = VoucherInput {
            code: "a b".into(),
            discount_value: 120,
            applies_to: vec![Uuid::now_v7()],
            usage_limit: Some(0),
            ..input()
        };
        assert_eq!(
            fields(validate(bad, &[])),
            ["code", "discount_value", "applies_to[0]", "usage_limit"]
        );
    }

    #[test]
    fn a_voucher_must_do_something() {
        let nothing = VoucherInput {
            discount_kind: DiscountKind::None,
            discount_value: 0,
            ..input()
        };
        assert_eq!(fields(validate(nothing, &[])), ["unlocks"]);
    }
}

//! Ticket prices after a voucher's discount. All amounts are integer minor
//! units; a discount never takes a price below zero.
//!
//! Rounding: a percent discount is computed per ticket and rounded half up
//! to the minor unit (15% of 999 cents is 149.85, so 150 cents off). The order
//! total is the sum of the ticket prices, so what each ticket shows adds up to
//! what is charged.

/// What a voucher takes off each ticket it applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Discount {
    None,
    /// 1 to 100 percent.
    Percent(i64),
    /// Minor units off each ticket.
    Fixed(i64),
}

impl Discount {
    /// The kind and value as stored and shown (`none` is 0).
    pub fn parts(self) -> (entity::state::DiscountKind, i64) {
        use entity::state::DiscountKind;
        match self {
            Discount::None => (DiscountKind::None, 0),
            Discount::Percent(percent) => (DiscountKind::Percent, percent),
            Discount::Fixed(amount) => (DiscountKind::Fixed, amount),
        }
    }
}

impl Discount {
    /// The discount on one ticket of `unit_price` minor units.
    pub fn on(self, unit_price: i64) -> i64 {
        let off = match self {
            Discount::None => 0,
            Discount::Percent(percent) => {
                // unit_price <= 1e9 and percent <= 100: no overflow in i64.
                (unit_price * percent + 50) / 100
            }
            Discount::Fixed(amount) => amount,
        };
        off.clamp(0, unit_price.max(0))
    }
}

/// The price of one ticket: what it lists for, what comes off, what is paid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinePrice {
    pub unit_price: i64,
    pub discount: i64,
    pub price: i64,
}

pub fn line(unit_price: i64, discount: Discount) -> LinePrice {
    let off = discount.on(unit_price);
    LinePrice {
        unit_price,
        discount: off,
        price: unit_price - off,
    }
}

/// Subtotal, discount and total of an order's lines.
pub fn totals(lines: &[LinePrice]) -> (i64, i64, i64) {
    lines
        .iter()
        .fold((0, 0, 0), |(subtotal, discount, total), l| {
            (
                subtotal + l.unit_price,
                discount + l.discount,
                total + l.price,
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_discounts_round_half_up_per_ticket() {
        assert_eq!(Discount::Percent(15).on(999), 150); // 149.85
        assert_eq!(Discount::Percent(10).on(995), 100); // 99.5 rounds up
        assert_eq!(Discount::Percent(10).on(994), 99); // 99.4 rounds down
        assert_eq!(Discount::Percent(100).on(24_900), 24_900);
        assert_eq!(Discount::Percent(33).on(0), 0);
    }

    #[test]
    fn fixed_discounts_never_go_below_free() {
        assert_eq!(Discount::Fixed(500).on(2_000), 500);
        assert_eq!(Discount::Fixed(5_000).on(2_000), 2_000);
        assert_eq!(line(2_000, Discount::Fixed(5_000)).price, 0);
    }

    #[test]
    fn totals_add_up_the_lines() {
        let lines = [
            line(999, Discount::Percent(15)),
            line(999, Discount::Percent(15)),
            line(5_000, Discount::None),
        ];
        assert_eq!(totals(&lines), (6_998, 300, 6_698));
    }
}

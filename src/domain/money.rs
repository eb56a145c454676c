//! Currencies and amounts. Money is always an integer count of the currency's
//! minor units (cents, pence, yen), never a floating-point number.

use std::fmt;

/// An ISO 4217 currency that has minor units and can be charged for tickets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Currency(iso_currency::Currency);

impl Currency {
    /// Parses an upper-case ISO 4217 code. Fund codes, precious metals and
    /// test codes (`XAU`, `XTS`, `XXX`, ...) are refused: nobody sells
    /// conference tickets in them.
    pub fn parse(code: &str) -> Option<Self> {
        let currency = iso_currency::Currency::from_code(code)?;
        if currency.is_fund() || currency.is_special() || currency.exponent().is_none() {
            return None;
        }
        Some(Self(currency))
    }

    pub fn code(self) -> &'static str {
        self.0.code()
    }

    /// Digits after the decimal point: 2 for EUR, 0 for JPY, 3 for KWD.
    pub fn minor_unit_digits(self) -> u16 {
        self.0.exponent().unwrap_or(0)
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// An amount for people to read: the currency's code and the amount in
/// major units, e.g. `EUR 1,234.50`, `JPY 5,000`.
pub fn format_amount(amount: i64, currency: &str) -> String {
    let digits = Currency::parse(currency).map_or(2, Currency::minor_unit_digits);
    let scale = 10_i64.pow(u32::from(digits));
    let sign = if amount < 0 { "-" } else { "" };
    let magnitude = amount.unsigned_abs();
    let scale = scale.unsigned_abs();
    let (major, minor) = (magnitude / scale, magnitude % scale);
    let grouped = major
        .to_string()
        .as_bytes()
        .rchunks(3)
        .rev()
        .map(|chunk| String::from_utf8_lossy(chunk).into_owned())
        .collect::<Vec<_>>()
        .join(",");
    if digits == 0 {
        format!("{currency} {sign}{grouped}")
    } else {
        format!(
            "{currency} {sign}{grouped}.{minor:0width$}",
            width = usize::from(digits)
        )
    }
}

/// The largest price a tier may have, in minor units: ten million major units
/// of a two-digit currency. Far above any ticket, far below overflow when
/// summed over an order.
pub const MAX_PRICE_MINOR: i64 = 1_000_000_000;

/// Splits `amount` over `weights` in proportion, in whole minor units: the
/// parts add up to `amount` exactly, and what rounding leaves over goes to
/// the first parts, one unit each. With no weight at all it splits evenly.
pub fn allocate(amount: i64, weights: &[i64]) -> Vec<i64> {
    if weights.is_empty() {
        return Vec::new();
    }
    let total: i128 = weights.iter().map(|w| i128::from((*w).max(0))).sum();
    let n = i128::try_from(weights.len()).unwrap_or(i128::MAX);
    let share = |w: i64| -> i128 {
        if total == 0 {
            i128::from(amount) / n
        } else {
            i128::from(amount) * i128::from(w.max(0)) / total
        }
    };
    let mut parts: Vec<i128> = weights.iter().map(|w| share(*w)).collect();
    let mut left = i128::from(amount) - parts.iter().sum::<i128>();
    let step = left.signum();
    let eligible: Vec<usize> = (0..parts.len())
        .filter(|&i| total == 0 || weights[i] > 0)
        .collect();
    let mut k = 0;
    while left != 0 && !eligible.is_empty() {
        parts[eligible[k % eligible.len()]] += step;
        left -= step;
        k += 1;
    }
    parts
        .into_iter()
        .map(|p| i64::try_from(p).unwrap_or(0))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_read_in_major_units_with_their_currency() {
        assert_eq!(format_amount(123_450, "EUR"), "EUR 1,234.50");
        assert_eq!(format_amount(5, "EUR"), "EUR 0.05");
        assert_eq!(format_amount(5_000, "JPY"), "JPY 5,000");
        assert_eq!(format_amount(1_234_567, "KWD"), "KWD 1,234.567");
        assert_eq!(format_amount(-250, "USD"), "USD -2.50");
        assert_eq!(format_amount(0, "GBP"), "GBP 0.00");
    }

    #[test]
    fn common_currencies_parse_with_their_minor_units() {
        assert_eq!(
            Currency::parse("EUR").map(Currency::minor_unit_digits),
            Some(2)
        );
        assert_eq!(
            Currency::parse("JPY").map(Currency::minor_unit_digits),
            Some(0)
        );
        assert_eq!(
            Currency::parse("KWD").map(Currency::minor_unit_digits),
            Some(3)
        );
    }

    #[test]
    fn unknown_lower_case_and_special_codes_are_refused() {
        for code in ["eur", "EURO", "ABC", "", "XXX", "XAU", "XTS"] {
            assert!(Currency::parse(code).is_none(), "{code} should be refused");
        }
    }

    proptest::proptest! {
        #[test]
        fn an_allocation_adds_up_and_follows_the_weights(
            amount in -1_000_000i64..1_000_000,
            weights in proptest::collection::vec(0i64..100_000, 1..12),
        ) {
            let parts = super::allocate(amount, &weights);
            proptest::prop_assert_eq!(parts.len(), weights.len());
            proptest::prop_assert_eq!(parts.iter().sum::<i64>(), amount);
            let total: i64 = weights.iter().sum();
            for (part, weight) in parts.iter().zip(&weights) {
                if total > 0 && *weight == 0 {
                    proptest::prop_assert_eq!(*part, 0);
                } else {
                    // Within one unit of the exact share.
                    let exact = if total == 0 {
                        amount as f64 / weights.len() as f64
                    } else {
                        amount as f64 * *weight as f64 / total as f64
                    };
                    proptest::prop_assert!((*part as f64 - exact).abs() <= 1.0 + 1e-9);
                }
            }
        }
    }

    #[test]
    fn a_refund_splits_by_price() {
        assert_eq!(super::allocate(100, &[30, 70]), [30, 70]);
        assert_eq!(super::allocate(100, &[1, 1, 1]), [34, 33, 33]);
        assert_eq!(super::allocate(5, &[0, 0]), [3, 2]);
        assert_eq!(super::allocate(50, &[0, 100]), [0, 50]);
        assert!(super::allocate(10, &[]).is_empty());
    }
}

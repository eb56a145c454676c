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

/// The largest price a tier may have, in minor units: ten million major units
/// of a two-digit currency. Far above any ticket, far below overflow when
/// summed over an order.
pub const MAX_PRICE_MINOR: i64 = 1_000_000_000;

#[cfg(test)]
mod tests {
    use super::*;

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
}

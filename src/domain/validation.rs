//! Collecting every problem with an input, each named by its field, so a
//! client can fix them all in one round trip.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// JSON path of the field, e.g. `swag_sizes[2].size`.
    pub field: String,
    /// Stable machine-readable reason, e.g. `too_long`, `unknown_currency`.
    pub code: &'static str,
    /// A sentence for people.
    pub message: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldErrors(Vec<FieldError>);

/// Codes that name a business rule rather than a malformed field. When every
/// error of an answer shares one of these, it becomes the answer's own code,
/// so a front end can branch on `code` alone.
pub const RULE_CODES: &[&str] = &[
    "not_on_sale",
    "invalid_voucher",
    "swag_size_unavailable",
    "unknown_tier",
    "quantity_out_of_range",
    "sold_out",
    "voucher_used_up",
    "idempotency_key_reused",
    "invalid_idempotency_key",
];

impl FieldErrors {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn single(
        field: impl Into<String>,
        code: &'static str,
        message: impl Into<String>,
    ) -> Self {
        let mut errors = Self::new();
        errors.add(field, code, message);
        errors
    }

    pub fn add(
        &mut self,
        field: impl Into<String>,
        code: &'static str,
        message: impl Into<String>,
    ) {
        self.0.push(FieldError {
            field: field.into(),
            code,
            message: message.into(),
        });
    }

    /// The answer's code: the shared rule code, or `validation_failed`.
    pub fn headline(&self) -> &'static str {
        match self.0.first() {
            Some(first)
                if RULE_CODES.contains(&first.code)
                    && self.0.iter().all(|e| e.code == first.code) =>
            {
                first.code
            }
            _ => "validation_failed",
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn has(&self, field: &str) -> bool {
        self.0.iter().any(|e| e.field == field)
    }

    pub fn iter(&self) -> impl Iterator<Item = &FieldError> {
        self.0.iter()
    }

    /// `Ok(value)` when nothing was added, the collected errors otherwise.
    pub fn finish<T>(self, value: T) -> Result<T, Self> {
        if self.0.is_empty() {
            Ok(value)
        } else {
            Err(self)
        }
    }

    /// Trims `value` and checks its length (in characters) and that it holds
    /// no control characters (`multiline` allows line breaks and tabs).
    pub fn text(
        &mut self,
        field: &str,
        value: &str,
        min: usize,
        max: usize,
        multiline: bool,
    ) -> String {
        let trimmed = value.trim();
        let len = trimmed.chars().count();
        if len < min {
            if min == 1 {
                self.add(field, "required", "must not be empty");
            } else {
                self.add(
                    field,
                    "too_short",
                    format!("must be at least {min} characters"),
                );
            }
        } else if len > max {
            self.add(
                field,
                "too_long",
                format!("must be at most {max} characters"),
            );
        } else if trimmed
            .chars()
            .any(|c| c.is_control() && !(multiline && matches!(c, '\n' | '\r' | '\t')))
        {
            self.add(
                field,
                "control_characters",
                "must not contain control characters",
            );
        }
        trimmed.to_owned()
    }

    /// Checks that `value` lies in `min..=max` and narrows it.
    pub fn range_i32(&mut self, field: &str, value: i64, min: i64, max: i64) -> i32 {
        if value < min || value > max {
            self.add(
                field,
                "out_of_range",
                format!("must be between {min} and {max}"),
            );
            return 0;
        }
        i32::try_from(value).unwrap_or_default()
    }
}

impl fmt::Display for FieldErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let fields: Vec<_> = self.0.iter().map(|e| e.field.as_str()).collect();
        write!(f, "invalid field(s): {}", fields.join(", "))
    }
}

impl std::error::Error for FieldErrors {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_trimmed_and_checked() {
        let mut errors = FieldErrors::new();
        assert_eq!(
            errors.text("name", "  RustConf  ", 1, 10, false),
            "RustConf"
        );
        assert!(errors.is_empty());

        errors.text("empty", "   ", 1, 10, false);
        errors.text("long", "abcdefghijk", 1, 10, false);
        errors.text("bell", "a\u{7}b", 1, 10, false);
        assert!(errors.has("empty") && errors.has("long") && errors.has("bell"));
    }

    #[test]
    fn multiline_text_accepts_line_breaks_only_when_asked() {
        let mut errors = FieldErrors::new();
        errors.text("description", "line one\nline two", 0, 100, true);
        assert!(errors.is_empty());
        errors.text("name", "line one\nline two", 0, 100, false);
        assert!(errors.has("name"));
    }

    #[test]
    fn lengths_count_characters_not_bytes() {
        let mut errors = FieldErrors::new();
        errors.text("name", "東京ラスト会議", 1, 7, false);
        assert!(errors.is_empty());
    }

    #[test]
    fn a_shared_rule_code_heads_the_answer() {
        let mut errors = FieldErrors::new();
        errors.add("tickets[0].tier_id", "not_on_sale", "x");
        errors.add("tickets[1].tier_id", "not_on_sale", "x");
        assert_eq!(errors.headline(), "not_on_sale");
        errors.add("email", "invalid_email", "x");
        assert_eq!(errors.headline(), "validation_failed");
        assert_eq!(
            FieldErrors::single("name", "required", "x").headline(),
            "validation_failed"
        );
    }

    #[test]
    fn ranges_are_enforced() {
        let mut errors = FieldErrors::new();
        assert_eq!(errors.range_i32("capacity", 50, 1, 100), 50);
        errors.range_i32("capacity", 0, 1, 100);
        errors.range_i32("big", i64::MAX, 1, 100);
        assert!(errors.has("capacity") && errors.has("big"));
    }
}

//! The rules of a ticket's attendee fields, one set for every way they are
//! written: placing an order, an attendee's edit, an organizer's edit. The
//! same fault gives the same code and the same status wherever it happens.
//!
//! | field | rule | code (422 unless said) |
//! |---|---|---|
//! | `attendee_name` | 1-200 characters, trimmed, no control characters | `required`, `too_long`, `control_characters` |
//! | `attendee_email` | a valid address (lower-cased) | `invalid_email` |
//! | `swag_size`, `swag_cut` | a size and cut of the event's chart (any case); required when the tier includes swag, refused when it does not | `required`, `unknown_swag_size`, `not_allowed` |
//! | (stock) | the size and cut has stock left | 409 `swag_size_unavailable` |
//! | `dietary` | one of the event's options (any case) | `unknown_dietary_option` |
//! | `notes` | up to 1,000 characters, line breaks allowed | `too_long`, `control_characters` |

use entity::tier;

use super::{MAX_NOTES, match_dietary, match_swag};
use crate::domain::{DomainError, email::Email, events::Event, validation::FieldErrors};

/// Checks the fields of one ticket of `tier` in `event`; `prefix` goes in
/// front of every field name (`tickets[2].` when placing, nothing when
/// editing one ticket).
pub struct TicketFields<'a> {
    pub event: &'a Event,
    pub tier: &'a tier::Model,
    pub prefix: String,
}

/// A swag choice that passed: the chart's spelling of size and cut.
pub type Swag = (String, Option<String>);

impl TicketFields<'_> {
    fn field(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    pub fn name(&self, errors: &mut FieldErrors, name: &str) -> String {
        errors.text(&self.field("attendee_name"), name, 1, 200, false)
    }

    pub fn email(&self, errors: &mut FieldErrors, email: &str) -> Option<String> {
        let parsed = Email::parse(email).map(Email::into_string);
        if parsed.is_none() {
            errors.add(
                self.field("attendee_email"),
                "invalid_email",
                "is not a valid email address",
            );
        }
        parsed
    }

    /// The swag choice: `None` with no error when the tier includes none and
    /// none was asked for.
    pub fn swag(
        &self,
        errors: &mut FieldErrors,
        size: Option<&str>,
        cut: Option<&str>,
    ) -> Option<Swag> {
        if !self.tier.includes_swag {
            if size.is_some() || cut.is_some() {
                errors.add(
                    self.field("swag_size"),
                    "not_allowed",
                    format!("{} includes no swag", self.tier.name),
                );
            }
            return None;
        }
        let Some(size) = size else {
            errors.add(
                self.field("swag_size"),
                "required",
                format!("{} includes a T-shirt: choose a size", self.tier.name),
            );
            return None;
        };
        match match_swag(&self.event.swag_sizes, size, cut) {
            Some(choice) => Some((choice.size.clone(), choice.cut.clone())),
            None => {
                errors.add(
                    self.field("swag_size"),
                    "unknown_swag_size",
                    "not a size and cut of this event's chart",
                );
                None
            }
        }
    }

    pub fn dietary(&self, errors: &mut FieldErrors, choice: Option<&str>) -> Option<String> {
        let choice = choice?;
        let option = match_dietary(&self.event.dietary_options, choice).cloned();
        if option.is_none() {
            errors.add(
                self.field("dietary"),
                "unknown_dietary_option",
                "not one of this event's dietary options",
            );
        }
        option
    }

    pub fn notes(&self, errors: &mut FieldErrors, notes: &str) -> String {
        errors.text(&self.field("notes"), notes, 0, MAX_NOTES, true)
    }
}

/// Stock ran out for these fields (`tickets[i].swag_size`, or `swag_size`):
/// a conflict with the present, 409, however the ticket was written.
pub fn swag_unavailable(fields: impl IntoIterator<Item = String>) -> DomainError {
    let mut errors = FieldErrors::new();
    for field in fields {
        errors.add(
            field,
            "swag_size_unavailable",
            "no stock left in this size and cut",
        );
    }
    DomainError::Unavailable {
        code: "swag_size_unavailable",
        errors,
    }
}

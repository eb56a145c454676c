//! What an organizer sends to create or change an event, and its rules.

use std::collections::HashSet;

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;

use super::{MAX_CAPACITY, MAX_DIETARY_OPTIONS, MAX_EVENT_DAYS, MAX_SWAG_SIZES, SwagSize};
use crate::domain::{at_db_precision, money::Currency, validation::FieldErrors};

/// A swag size as a client sends it.
#[derive(Debug, Clone, Default)]
pub struct SwagSizeInput {
    pub size: String,
    pub cut: Option<String>,
    pub stock: Option<i64>,
}

/// Everything needed to create an event.
#[derive(Debug, Clone, Default)]
pub struct EventInput {
    pub slug: String,
    pub name: String,
    pub description: Option<String>,
    pub timezone: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub venue: Option<String>,
    pub currency: String,
    pub capacity: Option<i64>,
    pub swag_sizes: Vec<SwagSizeInput>,
    pub dietary_options: Vec<String>,
    pub attendee_edit_deadline: Option<DateTime<Utc>>,
    pub reply_to: Option<String>,
}

/// A partial update: `None` leaves a field alone; for nullable fields
/// `Some(None)` clears it. The slug never changes: front ends link to it.
#[derive(Debug, Clone, Default)]
pub struct EventPatch {
    pub name: Option<String>,
    pub description: Option<String>,
    pub timezone: Option<String>,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
    pub venue: Option<Option<String>>,
    pub currency: Option<String>,
    pub capacity: Option<Option<i64>>,
    pub swag_sizes: Option<Vec<SwagSizeInput>>,
    pub dietary_options: Option<Vec<String>>,
    pub attendee_edit_deadline: Option<Option<DateTime<Utc>>>,
    pub reply_to: Option<Option<String>>,
}

/// An input that passed every rule.
#[derive(Debug, Clone)]
pub(super) struct ValidEvent {
    pub(super) slug: String,
    pub(super) name: String,
    pub(super) description: String,
    pub(super) timezone: String,
    pub(super) starts_at: DateTime<Utc>,
    pub(super) ends_at: DateTime<Utc>,
    pub(super) venue: Option<String>,
    pub(super) currency: String,
    pub(super) capacity: Option<i32>,
    pub(super) swag_sizes: Vec<SwagSize>,
    pub(super) dietary_options: Vec<String>,
    pub(super) attendee_edit_deadline: Option<DateTime<Utc>>,
    pub(super) reply_to: Option<String>,
}

/// Checks a slug: 3 to 64 of `a-z`, `0-9` and single hyphens inside.
pub fn check_slug(errors: &mut FieldErrors, field: &str, slug: &str) {
    let ok_chars = slug
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !(3..=64).contains(&slug.len()) {
        errors.add(field, "invalid_slug", "must be 3 to 64 characters long");
    } else if !ok_chars || slug.starts_with('-') || slug.ends_with('-') || slug.contains("--") {
        errors.add(
            field,
            "invalid_slug",
            "may contain only a-z, 0-9 and single hyphens, and must start and end with a letter or digit",
        );
    }
}

pub(super) fn validate(mut input: EventInput) -> Result<ValidEvent, FieldErrors> {
    input.starts_at = at_db_precision(input.starts_at);
    input.ends_at = at_db_precision(input.ends_at);
    input.attendee_edit_deadline = input.attendee_edit_deadline.map(at_db_precision);
    let mut errors = FieldErrors::new();
    check_slug(&mut errors, "slug", &input.slug);
    let name = errors.text("name", &input.name, 1, 200, false);
    let description = errors.text(
        "description",
        input.description.as_deref().unwrap_or(""),
        0,
        20_000,
        true,
    );
    let venue = input
        .venue
        .as_deref()
        .map(|venue| errors.text("venue", venue, 1, 500, true));
    let reply_to = input.reply_to.as_deref().and_then(|address| {
        let parsed = crate::domain::email::Email::parse(address);
        if parsed.is_none() {
            errors.add("reply_to", "invalid_email", "is not a valid email address");
        }
        parsed.map(crate::domain::email::Email::into_string)
    });
    check_place_and_money(&mut errors, &input);
    check_dates(&mut errors, &input);
    let capacity = input
        .capacity
        .map(|capacity| errors.range_i32("capacity", capacity, 1, MAX_CAPACITY));
    let swag_sizes = check_swag_sizes(&mut errors, &input.swag_sizes);
    let dietary_options = check_dietary_options(&mut errors, &input.dietary_options);
    errors.finish(ValidEvent {
        slug: input.slug,
        name,
        description,
        timezone: input.timezone,
        starts_at: input.starts_at,
        ends_at: input.ends_at,
        venue,
        currency: input.currency,
        capacity,
        swag_sizes,
        dietary_options,
        attendee_edit_deadline: input.attendee_edit_deadline,
        reply_to,
    })
}

fn check_place_and_money(errors: &mut FieldErrors, input: &EventInput) {
    if input.timezone.parse::<Tz>().is_err() {
        errors.add(
            "timezone",
            "unknown_timezone",
            "must be an IANA time zone name, e.g. Europe/Berlin",
        );
    }
    if Currency::parse(&input.currency).is_none() {
        errors.add(
            "currency",
            "unknown_currency",
            "must be an ISO 4217 currency code, e.g. EUR",
        );
    }
}

fn check_dates(errors: &mut FieldErrors, input: &EventInput) {
    if input.ends_at <= input.starts_at {
        errors.add("ends_at", "ends_before_start", "must be after starts_at");
    } else if input.ends_at - input.starts_at > Duration::days(MAX_EVENT_DAYS) {
        errors.add(
            "ends_at",
            "too_long",
            format!("an event may last at most {MAX_EVENT_DAYS} days"),
        );
    }
    if let Some(deadline) = input.attendee_edit_deadline
        && deadline > input.ends_at
    {
        errors.add(
            "attendee_edit_deadline",
            "after_event_end",
            "must not be after ends_at",
        );
    }
}

fn check_swag_sizes(errors: &mut FieldErrors, chart: &[SwagSizeInput]) -> Vec<SwagSize> {
    if chart.len() > MAX_SWAG_SIZES {
        errors.add(
            "swag_sizes",
            "too_many",
            format!("at most {MAX_SWAG_SIZES} sizes"),
        );
    }
    let mut seen = HashSet::new();
    let mut sizes = Vec::with_capacity(chart.len());
    for (i, entry) in chart.iter().enumerate() {
        let size = errors.text(&format!("swag_sizes[{i}].size"), &entry.size, 1, 16, false);
        let cut = entry
            .cut
            .as_deref()
            .map(|cut| errors.text(&format!("swag_sizes[{i}].cut"), cut, 1, 32, false));
        let stock = entry.stock.map(|stock| {
            errors.range_i32(&format!("swag_sizes[{i}].stock"), stock, 0, MAX_CAPACITY)
        });
        let key = (size.to_lowercase(), cut.as_deref().map(str::to_lowercase));
        if !seen.insert(key) {
            errors.add(
                format!("swag_sizes[{i}]"),
                "duplicate",
                "this size and cut is already in the chart",
            );
        }
        sizes.push(SwagSize { size, cut, stock });
    }
    sizes
}

fn check_dietary_options(errors: &mut FieldErrors, options: &[String]) -> Vec<String> {
    if options.len() > MAX_DIETARY_OPTIONS {
        errors.add(
            "dietary_options",
            "too_many",
            format!("at most {MAX_DIETARY_OPTIONS} options"),
        );
    }
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(options.len());
    for (i, option) in options.iter().enumerate() {
        let field = format!("dietary_options[{i}]");
        let option = errors.text(&field, option, 1, 64, false);
        if !seen.insert(option.to_lowercase()) {
            errors.add(field, "duplicate", "this option is already listed");
        }
        out.push(option);
    }
    out
}

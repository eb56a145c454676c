use chrono::Duration;

use super::*;

fn valid_input() -> EventInput {
    let starts_at = DateTime::parse_from_rfc3339("2027-05-10T09:00:00+02:00")
        .map(|d| d.to_utc())
        .unwrap_or_default();
    EventInput {
        slug: "rustfest-2027".into(),
        name: "RustFest 2027".into(),
        timezone: "Europe/Berlin".into(),
        starts_at,
        ends_at: starts_at + Duration::days(2),
        currency: "EUR".into(),
        swag_sizes: vec![SwagSizeInput {
            size: "M".into(),
            cut: Some("fitted".into()),
            stock: Some(10),
        }],
        dietary_options: vec!["none".into(), "vegan".into()],
        ..Default::default()
    }
}

fn fields(result: Result<ValidEvent, FieldErrors>) -> Vec<String> {
    match result {
        Ok(_) => vec![],
        Err(errors) => errors.iter().map(|e| e.field.clone()).collect(),
    }
}

#[test]
fn a_complete_event_is_valid() {
    assert_eq!(fields(validate(valid_input())), Vec::<String>::new());
}

#[test]
fn slugs_are_url_safe() {
    for bad in [
        "ab",
        "Has-Caps",
        "-lead",
        "trail-",
        "dou--ble",
        "spa ce",
        "ünï",
        &"a".repeat(65),
    ] {
        let mut errors = FieldErrors::new();
        check_slug(&mut errors, "slug", bad);
        assert!(errors.has("slug"), "{bad} should be refused");
    }
    let mut errors = FieldErrors::new();
    check_slug(&mut errors, "slug", "pycon-de-2027");
    assert!(errors.is_empty());
}

#[test]
fn every_bad_field_is_named_at_once() {
    let mut input = valid_input();
    input.timezone = "Mars/Olympus".into();
    input.currency = "EURO".into();
    input.ends_at = input.starts_at - Duration::hours(1);
    input.capacity = Some(0);
    input.name = "x".repeat(201);
    input.swag_sizes.push(SwagSizeInput {
        size: "m".into(),
        cut: Some("Fitted".into()),
        stock: Some(-1),
    });
    input.dietary_options.push("Vegan".into());
    let fields = fields(validate(input));
    for expected in [
        "timezone",
        "currency",
        "ends_at",
        "capacity",
        "name",
        "swag_sizes[1]",
        "swag_sizes[1].stock",
        "dietary_options[2]",
    ] {
        assert!(
            fields.contains(&expected.to_owned()),
            "{expected} missing from {fields:?}"
        );
    }
}

#[test]
fn the_edit_deadline_cannot_pass_the_end_of_the_event() {
    let mut input = valid_input();
    input.attendee_edit_deadline = Some(input.ends_at + Duration::minutes(1));
    assert_eq!(fields(validate(input)), vec!["attendee_edit_deadline"]);
}

#[test]
fn absurdly_long_events_are_refused() {
    let mut input = valid_input();
    input.ends_at = input.starts_at + Duration::days(MAX_EVENT_DAYS + 1);
    assert_eq!(fields(validate(input)), vec!["ends_at"]);
}

use super::*;

#[test]
fn generated_secrets_have_the_token_shape_and_differ() {
    let a = generate_secret().unwrap();
    let b = generate_secret().unwrap();
    assert!(looks_like_token(&a), "{a}");
    assert_ne!(a, b);
}

#[test]
fn junk_does_not_look_like_a_token() {
    for junk in [
        "",
        "tsr_",
        "Bearer x",
        &format!("xyz_{}", "a".repeat(43)),
        &format!("tsr_{}", "é".repeat(43)),
    ] {
        assert!(!looks_like_token(junk), "{junk}");
    }
}

#[test]
fn hashes_are_hex_sha256() {
    assert_eq!(
        hash_secret("abc"),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
}

#[test]
fn roles_grant_what_they_say() {
    let event = Uuid::now_v7();
    let other = Uuid::now_v7();
    let staff = |role, scope| Staff {
        id: Uuid::now_v7(),
        name: "x".into(),
        role,
        scope,
    };

    let admin = staff(Role::Admin, Scope::AllEvents);
    assert!(admin.require_admin().is_ok() && admin.require_organizer_of(other).is_ok());

    let scoped = staff(Role::Organizer, Scope::Events(vec![event]));
    assert!(scoped.require_organizer_of(event).is_ok());
    assert!(scoped.require_organizer_of(other).is_err());
    assert!(scoped.require_event_creator().is_err());
    assert!(scoped.require_admin().is_err());

    let organizer = staff(Role::Organizer, Scope::AllEvents);
    assert!(organizer.require_event_creator().is_ok());

    let volunteer = staff(Role::Volunteer, Scope::AllEvents);
    assert!(volunteer.require_organizer().is_err());
    assert!(volunteer.require_organizer_of(event).is_err());
}

#[test]
fn organizers_manage_only_volunteers_that_reach_no_further_than_themselves() {
    let (ours, theirs) = (Uuid::from_u128(1), Uuid::from_u128(2));
    let staff = |role, scope| Staff {
        id: Uuid::from_u128(9),
        name: "x".to_owned(),
        role,
        scope,
    };
    let scoped = staff(Role::Organizer, Scope::Events(vec![ours]));
    let everywhere = staff(Role::Organizer, Scope::AllEvents);
    let volunteer = staff(Role::Volunteer, Scope::Events(vec![ours]));
    let cases = [
        (&scoped, Role::Volunteer, Scope::Events(vec![ours]), true),
        (
            &scoped,
            Role::Volunteer,
            Scope::Events(vec![ours, theirs]),
            false,
        ),
        (&scoped, Role::Volunteer, Scope::Events(vec![theirs]), false),
        (&scoped, Role::Volunteer, Scope::Events(vec![]), false),
        (&scoped, Role::Volunteer, Scope::AllEvents, false),
        (&scoped, Role::Organizer, Scope::Events(vec![ours]), false),
        (&scoped, Role::Admin, Scope::AllEvents, false),
        (&everywhere, Role::Volunteer, Scope::AllEvents, true),
        (
            &everywhere,
            Role::Volunteer,
            Scope::Events(vec![theirs]),
            true,
        ),
        (
            &everywhere,
            Role::Organizer,
            Scope::Events(vec![theirs]),
            false,
        ),
        (
            &volunteer,
            Role::Volunteer,
            Scope::Events(vec![ours]),
            false,
        ),
        (&Staff::system(), Role::Admin, Scope::AllEvents, true),
    ];
    for (by, role, scope, allowed) in cases {
        assert_eq!(
            by.manages(role, &scope).is_ok(),
            allowed,
            "{:?} {:?} managing {role:?} {scope:?}",
            by.role,
            by.scope
        );
    }
}

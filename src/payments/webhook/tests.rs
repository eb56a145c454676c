use super::*;

fn sign(payload: &str, secret: &str, t: i64) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.{payload}").as_bytes());
    format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
}

const NOW: i64 = 1_800_000_000;

fn secrets() -> Vec<String> {
    vec!["whsec_test".to_owned()]
}

#[test]
fn a_good_signature_beside_junk_and_other_schemes_is_accepted() {
    let payload = r#"{"id":"evt_1","type":"customer.created","data":{"object":{}}}"#;
    let good = sign(payload, "whsec_test", NOW);
    let header = format!("{},v1=zz-not-hex,v0=abc,v1=00ff", good);
    let incoming = verify(payload, Some(&header), &secrets(), NOW).unwrap();
    assert_eq!(
        (incoming.id.as_str(), incoming.notice),
        ("evt_1", Notice::Ignored)
    );
}

#[test]
fn bad_signatures_are_told_apart() {
    let payload = r#"{"id":"evt_1","type":"customer.created"}"#;
    let cases = [
        (
            sign(payload, "whsec_other", NOW),
            NOW,
            Rejection::BadSignature,
        ),
        (
            sign(payload, "whsec_test", NOW - 301),
            NOW,
            Rejection::Stale,
        ),
        ("t=abc,v1=00".to_owned(), NOW, Rejection::BadSignature),
        ("v1=00".to_owned(), NOW, Rejection::BadSignature),
        (format!("t={NOW}"), NOW, Rejection::BadSignature),
        ("garbage".to_owned(), NOW, Rejection::BadSignature),
    ];
    for (header, now, expected) in cases {
        assert_eq!(
            verify(payload, Some(&header), &secrets(), now).err(),
            Some(expected),
            "{header}"
        );
    }
    assert_eq!(
        verify(payload, None, &secrets(), NOW).err(),
        Some(Rejection::MissingSignature)
    );
    assert_eq!(
        verify(payload, Some("x"), &[], NOW).err(),
        Some(Rejection::NotConfigured)
    );
}

#[test]
fn ids_are_read_bare_or_expanded() {
    let order = Uuid::from_u128(7);
    for charge in [
        serde_json::json!("ch_1"),
        serde_json::json!({"id": "ch_1", "object": "charge", "amount": "weird"}),
    ] {
        let payload = serde_json::json!({
            "id": "evt_1", "type": "payment_intent.succeeded",
            "data": {"object": {
                "id": "pi_1", "amount_received": 4900, "currency": "eur",
                "metadata": {"tessera_order": order.to_string()},
                "latest_charge": charge,
            }},
        })
        .to_string();
        let incoming = read(&payload).unwrap();
        assert_eq!(
            incoming.notice,
            Notice::Paid {
                refs: Refs {
                    order_id: Some(order),
                    payment_intent: Some("pi_1".to_owned()),
                    charge: Some("ch_1".to_owned()),
                    checkout_session: None,
                },
                amount: 4900,
                currency: "eur".to_owned(),
            }
        );
    }
}

#[test]
fn a_handled_event_names_what_it_lacks() {
    let payload = serde_json::json!({
        "id": "evt_1", "type": "refund.updated",
        "data": {"object": {"id": "re_1", "amount": 100, "status": "succeeded"}},
    })
    .to_string();
    match read(&payload) {
        Err(Rejection::Unreadable(why)) => assert!(why.contains("`currency`"), "{why}"),
        other => panic!("{other:?}"),
    }
    let no_object = r#"{"id":"evt_2","type":"charge.refunded"}"#;
    assert!(
        matches!(read(no_object), Err(Rejection::Unreadable(why)) if why.contains("data.object"))
    );
    assert!(matches!(
        read(r#"{"type":"charge.refunded"}"#),
        Err(Rejection::Unreadable(_))
    ));
}

#[test]
fn the_pinned_version_is_the_librarys() {
    assert_eq!(api_version(), stripe_shared::version::VERSION.to_string());
    // The README's Payments section names it: change both together.
    assert_eq!(api_version(), "2026-09-30.endive");
}

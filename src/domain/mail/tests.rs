use entity::state::OrderState;

use super::{
    context::{EventView, LinkView, MailContext, OrderView, TicketView},
    *,
};

fn fixture() -> MailContext {
    let ticket = TicketView {
        id: uuid::Uuid::nil(),
        name: "Ana <script>alert(1)</script>".into(),
        email: "ana@example.org".into(),
        tier: "Regular".into(),
        swag: Some("M (fitted)".into()),
        dietary: Some("vegan".into()),
        price: "EUR 120.00".into(),
        link: Some("https://tickets.example.org/tickets/x#token=tst_abc".into()),
        qr_cid: Some("qr-1@tessera".into()),
    };
    MailContext {
        event: EventView {
            name: "RustFest".into(),
            slug: "rustfest".into(),
            venue: Some("Hall 7".into()),
            starts: "Thu 13 May 2027, 09:00 CEST".into(),
            ends: "Fri 14 May 2027, 18:00 CEST".into(),
            timezone: "Europe/Berlin".into(),
            edits_close: None,
        },
        order: Some(OrderView {
            code: "K7M2Q9XD".into(),
            state: OrderState::Paid,
            total: "EUR 120.00".into(),
            paid: Some("EUR 120.00".into()),
            refunded: None,
            expires: Some("Thu 6 May 2027, 10:15 CEST".into()),
            link: "https://tickets.example.org/orders/K7M2Q9XD#token=tso_abc".into(),
        }),
        tickets: vec![ticket.clone()],
        ticket: Some(ticket),
        amount: Some("EUR 60.00".into()),
        reason: Some("card declined".into()),
        links: vec![LinkView {
            what: "Order K7M2Q9XD (1 tickets)".into(),
            link: "https://tickets.example.org/orders/K7M2Q9XD#token=tso_abc".into(),
        }],
        broadcast: Some(super::context::BroadcastView::new(
            "Doors open <early>",
            "Line one\nline two\n\nSecond paragraph",
        )),
        unsubscribe: Some("https://tickets.example.org/api/v1/unsubscribe/x".into()),
    }
}

#[test]
fn every_default_template_renders_with_every_fact() {
    let mails = MessageKind::ALL
        .iter()
        .filter(|kind| kind.channel() == entity::state::MessageChannel::Email);
    for &kind in mails {
        let rendered = render(kind, &fixture(), None).unwrap_or_else(|e| panic!("{kind}: {e}"));
        assert!(!rendered.subject.is_empty(), "{kind}");
        assert!(!rendered.subject.contains('\n'), "{kind}");
        assert!(rendered.text.contains("RustFest") || rendered.subject.contains("RustFest"));
        assert!(rendered.html.starts_with("<!doctype html>"), "{kind}");
    }
}

#[test]
fn html_escapes_what_people_typed_and_text_keeps_it() {
    let rendered = render(MessageKind::Ticket, &fixture(), None).unwrap();
    assert!(rendered.html.contains("Ana &lt;script&gt;"));
    assert!(!rendered.html.contains("<script>"));
    assert!(rendered.text.contains("Ana <script>"));
    assert!(rendered.html.contains("cid:qr-1@tessera"));
    assert!(rendered.text.contains("#token=tst_abc"));
}

#[test]
fn subjects_are_one_line_and_bounded() {
    assert_eq!(one_line("a\r\nBcc: x@y.z\n  b"), "a Bcc: x@y.z b");
    assert_eq!(one_line(&"é".repeat(500)).chars().count(), MAX_SUBJECT);
}

//! A rendered mail as MIME: `multipart/alternative` (text, HTML), inside
//! `multipart/related` with the QR code inline, inside `multipart/mixed`
//! with the QR code attached, for ticket mails.

use lettre::{
    Message,
    message::{
        Attachment, Mailbox, MultiPart,
        header::{ContentType, HeaderName, HeaderValue},
    },
};
use uuid::Uuid;

use crate::domain::{mail::Rendered, outbox::Failure};

/// A message ready for the mail server.
pub struct Composed {
    pub message: Message,
    pub subject: String,
}

/// Builds the message `id` (its `Message-ID` is `<id@domain of from>`, the
/// same on every attempt, so a rare duplicate after a crash can be told for
/// one). An address that cannot be used is a permanent failure.
/// For a broadcast, `unsubscribe` is its one-click unsubscribe URL
/// (`List-Unsubscribe` and `List-Unsubscribe-Post`, RFC 8058).
pub fn compose(
    id: Uuid,
    from: &Mailbox,
    to: (&str, Option<&str>),
    reply_to: Option<&str>,
    rendered: Rendered,
    qr: Option<(String, Vec<u8>)>,
    unsubscribe: Option<&str>,
) -> Result<Composed, Failure> {
    let bad = |what: &str, err: &dyn std::fmt::Display| {
        Failure::Permanent(format!("cannot use the {what}: {err}"))
    };
    let address =
        to.0.parse()
            .map_err(|err| bad("recipient's address", &err))?;
    let recipient = Mailbox::new(to.1.map(str::to_owned), address);
    let mut builder = Message::builder()
        .from(from.clone())
        .to(recipient)
        .subject(rendered.subject.clone())
        .message_id(Some(format!("<{}@{}>", id.simple(), from.email.domain())));
    if let Some(url) = unsubscribe {
        builder = builder
            .raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str("List-Unsubscribe"),
                format!("<{url}>"),
            ))
            .raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str("List-Unsubscribe-Post"),
                "List-Unsubscribe=One-Click".to_owned(),
            ));
    }
    if let Some(reply_to) = reply_to {
        builder = builder.reply_to(
            reply_to
                .parse()
                .map_err(|err| bad("reply-to address", &err))?,
        );
    }
    let alternative = MultiPart::alternative_plain_html(rendered.text, rendered.html);
    let body =
        match qr {
            Some((cid, png)) => {
                let png_type =
                    ContentType::parse("image/png").map_err(|err| bad("PNG content type", &err))?;
                MultiPart::mixed()
                    .multipart(MultiPart::related().multipart(alternative).singlepart(
                        Attachment::new_inline(cid).body(png.clone(), png_type.clone()),
                    ))
                    .singlepart(Attachment::new("ticket-qr.png".to_owned()).body(png, png_type))
            }
            None => alternative,
        };
    let message = builder
        .multipart(body)
        .map_err(|err| bad("message", &err))?;
    Ok(Composed {
        message,
        subject: rendered.subject,
    })
}

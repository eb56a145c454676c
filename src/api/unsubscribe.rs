//! Leaving an event's broadcasts: the link every broadcast carries.

use poem::web::Data;
use poem_openapi::{ApiResponse, OpenApi, param::Path, payload::Html};

use super::Tag;
use crate::{domain, error::PublicError, state::AppState};

#[derive(ApiResponse)]
pub enum Page {
    /// A page for people, in HTML.
    #[oai(status = 200)]
    Ok(Html<String>),
}

const CONFIRM: &str = "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width\"><title>Unsubscribe</title></head>\
<body style=\"font-family:sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem\">\
<h1>No more news from the organizers?</h1>\
<p>Your tickets, receipts and ticket changes still reach you; only the organizers' \
announcements stop.</p><form method=\"post\"><button type=\"submit\" \
style=\"font-size:1.1rem;padding:.6rem 1.2rem\">Unsubscribe</button></form></body></html>\n";

const DONE: &str = "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width\"><title>Unsubscribed</title></head>\
<body style=\"font-family:sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem\">\
<h1>Unsubscribed</h1><p>You will get no more announcements for this event. Your tickets \
and receipts still reach you.</p></body></html>\n";

pub struct UnsubscribeApi;

#[OpenApi(prefix_path = "/api/v1", tag = "Tag::Orders")]
impl UnsubscribeApi {
    /// Ask to leave an event's broadcasts
    ///
    /// The page a broadcast's unsubscribe link opens: it asks to confirm,
    /// and changes nothing (link scanners fetch links too). 404 for an
    /// unknown link.
    #[oai(
        path = "/unsubscribe/:token",
        method = "get",
        operation_id = "unsubscribe_page"
    )]
    async fn page(&self, state: Data<&AppState>, token: Path<String>) -> Result<Page, PublicError> {
        domain::broadcasts::known(&state.db, &token).await?;
        Ok(Page::Ok(Html(CONFIRM.to_owned())))
    }

    /// Leave an event's broadcasts
    ///
    /// One click (RFC 8058: mail clients POST `List-Unsubscribe=One-Click`
    /// here; the page's button does too). The address gets no more
    /// broadcasts of the event; transactional mails still go. Doing it
    /// again is harmless. 404 for an unknown link.
    #[oai(
        path = "/unsubscribe/:token",
        method = "post",
        operation_id = "unsubscribe"
    )]
    async fn unsubscribe(
        &self,
        state: Data<&AppState>,
        token: Path<String>,
    ) -> Result<Page, PublicError> {
        domain::broadcasts::opt_out(&state.db, &token).await?;
        Ok(Page::Ok(Html(DONE.to_owned())))
    }
}

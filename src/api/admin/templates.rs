//! An event's own wording of its mails.

use chrono::{DateTime, Utc};
use entity::state::MessageKind;
use poem::web::Data;
use poem_openapi::{Object, OpenApi, param::Path};
use serde::Deserialize;

use crate::{
    api::{Tag, auth::StaffAuth, body::JsonBody, types::Found},
    domain::mail::{
        Custom, Rendered,
        custom::{self, Draft, InForce},
    },
    error::ApiResult,
    state::AppState,
};

/// A kind of mail's templates as in force for the event.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "snake_case")]
pub struct TemplateBody {
    pub kind: MessageKind,
    /// MiniJinja: the subject (one line once rendered; line breaks become
    /// spaces), the plain text, and the HTML (every value autoescaped;
    /// `{% extends "layout.html" %}` gives the default frame).
    pub subject: String,
    pub text: String,
    pub html: String,
    /// Whether these are the event's own (otherwise tessera's defaults).
    pub custom: bool,
    #[oai(nullable)]
    pub updated_at: Option<DateTime<Utc>>,
}

impl From<InForce> for TemplateBody {
    fn from(t: InForce) -> Self {
        Self {
            kind: t.kind,
            subject: t.templates.subject,
            text: t.templates.text,
            html: t.templates.html,
            custom: t.custom,
            updated_at: t.updated_at,
        }
    }
}

/// Every kind of mail's templates.
#[derive(Debug, Clone, Object)]
pub struct TemplateList {
    pub items: Vec<TemplateBody>,
}

/// An event's own templates for a kind of mail. Variables: `event` (`name`,
/// `slug`, `venue`, `starts`, `ends`, `timezone`, `edits_close`), `order`
/// (`code`, `state`, `total`, `paid`, `refunded`, `expires`, `link`; none in
/// recovery mails), `tickets` (each `name`, `email`, `tier`, `swag`,
/// `dietary`, `price`), `ticket` (ticket mails: the same plus `link` and
/// `qr_cid`, for `<img src="cid:{{ ticket.qr_cid }}">`), `amount`
/// (refunds), `reason` (failed payments), `links` (recovery: `what`,
/// `link`). Times are in the event's zone, amounts with its currency.
#[derive(Debug, Clone, Object, Deserialize)]
#[oai(rename_all = "snake_case")]
#[serde(deny_unknown_fields)]
pub struct TemplateSet {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// Templates to try: parts left out are the ones in force.
#[derive(Debug, Clone, Object, Deserialize)]
#[oai(rename_all = "snake_case")]
#[serde(deny_unknown_fields)]
pub struct TemplateDraft {
    #[oai(nullable)]
    pub subject: Option<String>,
    #[oai(nullable)]
    pub text: Option<String>,
    #[oai(nullable)]
    pub html: Option<String>,
}

/// A mail as it renders with sample data.
#[derive(Debug, Clone, Object)]
pub struct RenderedBody {
    pub subject: String,
    pub text: String,
    pub html: String,
}

impl From<Rendered> for RenderedBody {
    fn from(r: Rendered) -> Self {
        Self {
            subject: r.subject,
            text: r.text,
            html: r.html,
        }
    }
}

pub struct TemplatesApi;

#[OpenApi(prefix_path = "/api/v1/admin", tag = "Tag::AdminEvents")]
impl TemplatesApi {
    /// List the event's mail templates
    ///
    /// Every kind of mail with the templates in force: the event's own, or
    /// tessera's defaults (a starting point to copy).
    #[oai(
        path = "/events/:slug/templates",
        method = "get",
        operation_id = "list_templates"
    )]
    async fn list(
        &self,
        state: Data<&AppState>,
        auth: StaffAuth,
        slug: Path<String>,
    ) -> ApiResult<Found<TemplateList>> {
        let items = custom::list(&state.db, &auth.0, &slug).await?;
        Ok(Found(TemplateList {
            items: items.into_iter().map(Into::into).collect(),
        }))
    }

    /// Set the event's templates for a kind of mail
    ///
    /// Checked by rendering them with sample data first: a template that
    /// does not render (a syntax error, an unknown variable) is refused
    /// with 422 `template_invalid` naming the part (`subject`, `text`,
    /// `html`), so it never fails when a mail is sent. Audited.
    #[oai(
        path = "/events/:slug/templates/:kind",
        method = "put",
        operation_id = "set_template"
    )]
    async fn set(
        &self,
        state: Data<&AppState>,
        auth: StaffAuth,
        slug: Path<String>,
        kind: Path<MessageKind>,
        body: JsonBody<TemplateSet>,
    ) -> ApiResult<Found<TemplateBody>> {
        let body = body.0;
        let templates = Custom {
            subject: body.subject,
            text: body.text,
            html: body.html,
        };
        let saved = custom::save(&state.db, &auth.0, &slug, kind.0, templates).await?;
        Ok(Found(saved.into()))
    }

    /// Reset a kind of mail to the default templates
    #[oai(
        path = "/events/:slug/templates/:kind",
        method = "delete",
        operation_id = "reset_template"
    )]
    async fn reset(
        &self,
        state: Data<&AppState>,
        auth: StaffAuth,
        slug: Path<String>,
        kind: Path<MessageKind>,
    ) -> ApiResult<Found<TemplateBody>> {
        Ok(Found(
            custom::reset(&state.db, &auth.0, &slug, kind.0)
                .await?
                .into(),
        ))
    }

    /// Preview a kind of mail
    ///
    /// Renders the templates in force, or the parts given in place of them,
    /// with sample data in the event's frame (its name, dates, zone and
    /// currency). Nothing is saved; a part that does not render answers 422
    /// `template_invalid`.
    #[oai(
        path = "/events/:slug/templates/:kind/preview",
        method = "post",
        operation_id = "preview_template"
    )]
    async fn preview(
        &self,
        state: Data<&AppState>,
        auth: StaffAuth,
        slug: Path<String>,
        kind: Path<MessageKind>,
        body: JsonBody<TemplateDraft>,
    ) -> ApiResult<Found<RenderedBody>> {
        let body = body.0;
        let draft = Draft {
            subject: body.subject,
            text: body.text,
            html: body.html,
        };
        Ok(Found(
            custom::preview(&state.db, &auth.0, &slug, kind.0, draft)
                .await?
                .into(),
        ))
    }
}

//! What tessera's mails say: the templates of every message kind (plain text
//! and HTML, autoescaped) and the facts they are rendered from, gathered when
//! the mail is sent so that it shows the order and tickets as they are then.

mod context;
pub mod custom;

use std::sync::LazyLock;

use entity::state::MessageKind;
use minijinja::{AutoEscape, Environment, UndefinedBehavior};
use serde::Serialize;

pub use context::{Gathered, LinkBase, MailContext, MailFacts, gather, sample};

/// A rendered mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// One line, at most [`MAX_SUBJECT`] characters.
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// The longest subject a mail is sent with; longer ones are cut.
pub const MAX_SUBJECT: usize = 200;

/// Why a template did not render.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the {part} template does not render: {detail}")]
pub struct RenderError {
    /// `subject`, `text` or `html`.
    pub part: &'static str,
    pub detail: String,
}

/// The stem of a kind's template files.
pub const fn stem(kind: MessageKind) -> &'static str {
    kind.as_str()
}

/// A kind's default templates, as organizers start from them.
pub fn default_of(kind: MessageKind) -> Custom {
    let source = |ext: &str| {
        let name = format!("{}.{ext}", stem(kind));
        DEFAULTS
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, source)| (*source).to_owned())
            .unwrap_or_default()
    };
    Custom {
        subject: source("subject"),
        text: source("txt"),
        html: source("html"),
    }
}

macro_rules! defaults {
    ($($name:literal),+ $(,)?) => {
        &[$(
            (concat!($name, ".subject"), include_str!(concat!("templates/", $name, ".subject"))),
            (concat!($name, ".txt"), include_str!(concat!("templates/", $name, ".txt"))),
            (concat!($name, ".html"), include_str!(concat!("templates/", $name, ".html"))),
        )+]
    };
}

/// Every kind's default templates, by file name.
const DEFAULTS: &[(&str, &str)] = defaults!(
    "order_received",
    "order_confirmed",
    "order_cancelled",
    "order_refunded",
    "payment_failed",
    "ticket",
    "recovery",
    "broadcast",
);

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    // HTML templates escape every value; text and subjects are not HTML.
    env.set_auto_escape_callback(|name| {
        if name.ends_with(".html") {
            AutoEscape::Html
        } else {
            AutoEscape::None
        }
    });
    // A misspelt variable is an error (caught when a template is saved),
    // never an empty gap in a mail.
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    // An organizer's template cannot loop for ever.
    env.set_fuel(Some(FUEL));
    env
}

/// Instructions one rendering may run: far above any sensible mail.
const FUEL: u64 = 200_000;

/// An event's own templates for one kind of mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Custom {
    pub subject: String,
    pub text: String,
    pub html: String,
}

static TEMPLATES: LazyLock<Result<Environment<'static>, String>> = LazyLock::new(|| {
    let mut env = environment();
    env.add_template("layout.html", include_str!("templates/layout.html"))
        .map_err(|err| err.to_string())?;
    for (name, source) in DEFAULTS {
        env.add_template(name, source)
            .map_err(|err| format!("{name}: {err}"))?;
    }
    Ok(env)
});

/// Renders a kind's templates with `context`: the event's own (`custom`)
/// or the defaults.
pub fn render(
    kind: MessageKind,
    context: &impl Serialize,
    custom: Option<&Custom>,
) -> Result<Rendered, RenderError> {
    let defaults = TEMPLATES.as_ref().map_err(|detail| RenderError {
        part: "default",
        detail: detail.clone(),
    })?;
    let mut own;
    let env = match custom {
        None => defaults,
        Some(custom) => {
            own = defaults.clone();
            for (part, ext, source) in [
                ("subject", "subject", &custom.subject),
                ("text", "txt", &custom.text),
                ("html", "html", &custom.html),
            ] {
                own.add_template_owned(format!("{}.{ext}", stem(kind)), source.clone())
                    .map_err(|err| RenderError {
                        part,
                        detail: describe(&err),
                    })?;
            }
            &own
        }
    };
    let context = minijinja::Value::from(minijinja::value::Serde(context));
    let part = |part: &'static str, ext: &str| {
        env.get_template(&format!("{}.{ext}", stem(kind)))
            .and_then(|template| template.render(context.clone()))
            .map_err(|err| RenderError {
                part,
                detail: describe(&err),
            })
    };
    Ok(Rendered {
        subject: one_line(&part("subject", "subject")?),
        text: part("text", "txt")?,
        html: part("html", "html")?,
    })
}

/// A template error with its cause, in one line.
fn describe(err: &minijinja::Error) -> String {
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// A subject on one line: every run of white space (line breaks included,
/// so nothing can start a header of its own) becomes one space; cut to
/// [`MAX_SUBJECT`] characters.
pub fn one_line(text: &str) -> String {
    let joined = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match joined.char_indices().nth(MAX_SUBJECT) {
        Some((end, _)) => joined[..end].to_owned(),
        None => joined,
    }
}

#[cfg(test)]
mod tests;

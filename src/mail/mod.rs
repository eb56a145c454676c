//! Mail out over SMTP (lettre), behind the [`Mailer`] trait; composing a
//! rendered message into MIME (text and HTML alternatives, the ticket's QR
//! code inline and attached).

mod compose;

use std::time::Duration;

use futures_util::future::BoxFuture;
use lettre::{
    AsyncSmtpTransport, AsyncTransport, Tokio1Executor,
    transport::smtp::{
        PoolConfig,
        authentication::Credentials,
        client::{Tls, TlsParameters},
    },
};

pub use compose::{Composed, compose};

use crate::domain::outbox::Failure;

/// What tessera asks of a mail service.
pub trait Mailer: Send + Sync {
    /// Hands one message over; `Ok` once the server accepted it.
    fn send(&self, message: lettre::Message) -> BoxFuture<'_, Result<(), Failure>>;
}

/// A mail server reached over SMTP, with a pool of connections.
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
}

impl SmtpMailer {
    /// Connects lazily to the server of `url` (see `TESSERA_SMTP_URL`). The
    /// error names what is wrong with the URL, never its password.
    /// `connections`: the most it keeps open at once (the mails sent at
    /// once).
    pub fn from_url(url: &str, timeout: Duration, connections: u32) -> Result<Self, String> {
        crate::tls::ensure_provider();
        let parsed = url::Url::parse(url).map_err(|err| format!("TESSERA_SMTP_URL: {err}"))?;
        let host = parsed
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or("TESSERA_SMTP_URL has no host")?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let wanted = parsed
            .query_pairs()
            .find(|(key, _)| key == "tls")
            .map(|(_, value)| value.into_owned());
        let tls_params = || {
            TlsParameters::new(host.clone()).map_err(|err| format!("TESSERA_SMTP_URL TLS: {err}"))
        };
        let (tls, default_port) = match (parsed.scheme(), wanted.as_deref()) {
            ("smtps", _) => (Tls::Wrapper(tls_params()?), 465),
            ("smtp", None | Some("opportunistic")) => (Tls::Opportunistic(tls_params()?), 587),
            ("smtp", Some("required")) => (Tls::Required(tls_params()?), 587),
            ("smtp", Some("none")) => (Tls::None, 25),
            ("smtp", Some(other)) => {
                return Err(format!(
                    "TESSERA_SMTP_URL: tls={other} is not one of required, opportunistic, none"
                ));
            }
            (other, _) => {
                return Err(format!(
                    "TESSERA_SMTP_URL: the scheme must be smtp or smtps, not {other}"
                ));
            }
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host.as_str())
            .port(parsed.port().unwrap_or(default_port))
            .tls(tls)
            .timeout(Some(timeout))
            // As many connections as mails in flight, none kept idle for
            // long: a mail server's connection slots are shared.
            .pool_config(
                PoolConfig::new()
                    .max_size(connections.max(1))
                    .idle_timeout(Duration::from_secs(30)),
            );
        if !parsed.username().is_empty() {
            let decode = |text: &str| {
                percent_decode(text).ok_or("TESSERA_SMTP_URL: the user or password is not UTF-8")
            };
            builder = builder.credentials(Credentials::new(
                decode(parsed.username())?,
                decode(parsed.password().unwrap_or(""))?,
            ));
        }
        Ok(Self {
            transport: builder.build(),
        })
    }
}

fn percent_decode(text: &str) -> Option<String> {
    url::form_urlencoded::parse(format!("x={}", text.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, value)| value.into_owned())
}

impl Mailer for SmtpMailer {
    fn send(&self, message: lettre::Message) -> BoxFuture<'_, Result<(), Failure>> {
        Box::pin(async move {
            match self.transport.send(message).await {
                Ok(_) => Ok(()),
                // 5xx: the server refused the message or its recipient.
                Err(err) if err.is_permanent() => Err(Failure::Permanent(describe(&err))),
                Err(err) => Err(Failure::Transient(describe(&err))),
            }
        })
    }
}

/// An SMTP error with its causes, in one line.
fn describe(err: &lettre::transport::smtp::Error) -> String {
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    // The pool of connections lives on the runtime.
    #[tokio::test]
    async fn smtp_urls_of_every_documented_form_are_accepted() {
        let timeout = Duration::from_secs(5);
        for url in [
            "smtp://127.0.0.1:2525",
            "smtp://user:p%40ss@mail.example.org:587",
            "smtp://mail.example.org?tls=required",
            "smtp://127.0.0.1:25?tls=none",
            "smtps://user:pass@mail.example.org:465",
        ] {
            assert!(SmtpMailer::from_url(url, timeout, 8).is_ok(), "{url}");
        }
    }

    #[tokio::test]
    async fn a_bad_smtp_url_is_refused_without_echoing_its_password() {
        let timeout = Duration::from_secs(5);
        for url in [
            "http://user:hunter2@mail.example.org",
            "smtp://user:hunter2@mail.example.org?tls=sometimes",
            "smtp://",
        ] {
            let err = SmtpMailer::from_url(url, timeout, 8)
                .err()
                .unwrap_or_default();
            assert!(!err.is_empty(), "{url}");
            assert!(!err.contains("hunter2"), "{err}");
        }
    }

    #[test]
    fn passwords_are_percent_decoded() {
        assert_eq!(percent_decode("p%40ss%2Bx+y").as_deref(), Some("p@ss+x+y"));
    }
}

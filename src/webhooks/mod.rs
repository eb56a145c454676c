//! Webhooks out over HTTP (reqwest): one POST per attempt, signed per
//! Standard Webhooks, with a timeout, no redirects followed, no proxy, and
//! a resolver that refuses addresses inside the network after DNS
//! resolution (so a name that resolves to 127.0.0.1 or 169.254.169.254 at
//! delivery time is refused even if it did not when registered).

pub mod payload;

use std::{
    net::SocketAddr,
    sync::Arc,
    time::{Duration, Instant},
};

use futures_util::StreamExt;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use crate::domain::{
    outbox::Failure,
    webhooks::guard::{self, Reach},
};

/// The most of a receiver's answer read (and the start of it kept).
const ANSWER_READ: usize = 4_096;

/// What one attempt got.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The HTTP status (none: no answer: refused, timed out, unreachable).
    pub status: Option<u16>,
    pub latency: Duration,
    /// The start of the answer's body, or why there was none.
    pub body: String,
}

impl Answer {
    /// What the attempt means: `Ok` for 2xx; a 410 is permanent (the
    /// receiver is gone for good); anything else may pass.
    pub fn outcome(&self) -> Result<(), Failure> {
        match self.status {
            Some(status) if (200..300).contains(&status) => Ok(()),
            Some(410) => Err(Failure::Permanent("410 Gone".to_owned())),
            Some(status) => Err(Failure::Transient(format!("HTTP {status}"))),
            None => Err(Failure::Transient(self.body.clone())),
        }
    }
}

/// One signed request.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    pub url: &'a str,
    pub id: &'a str,
    pub timestamp: i64,
    pub signature: &'a str,
    pub body: &'a str,
}

/// Sends webhooks.
#[derive(Clone)]
pub struct Sender {
    client: reqwest::Client,
    reach: Reach,
}

impl Sender {
    pub fn new(reach: Reach, timeout: Duration) -> Result<Self, String> {
        crate::tls::ensure_provider();
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .dns_resolver(Arc::new(Guarded { reach }))
            .user_agent(concat!("tessera-webhooks/", env!("CARGO_PKG_VERSION")))
            // A lane keeps this many requests to one endpoint in flight:
            // each gets a connection kept alive between them.
            .pool_max_idle_per_host(crate::jobs::PER_ENDPOINT)
            .build()
            .map_err(|err| format!("webhook client: {err}"))?;
        Ok(Self { client, reach })
    }

    /// One attempt; never an error: what happened is in the answer.
    pub async fn send(&self, request: Request<'_>) -> Answer {
        let started = Instant::now();
        let refused = |why: String| Answer {
            status: None,
            latency: started.elapsed(),
            body: why,
        };
        // Again at delivery: the URL may predate a stricter deployment, and
        // an address literal never reaches the resolver.
        if let Err(why) = guard::check_url(request.url, self.reach) {
            return refused(format!("refused: {why}"));
        }
        let sent = self
            .client
            .post(request.url)
            .header("content-type", "application/json")
            .header("webhook-id", request.id)
            .header("webhook-timestamp", request.timestamp.to_string())
            .header("webhook-signature", request.signature)
            .body(request.body.to_owned())
            .send()
            .await;
        let response = match sent {
            Ok(response) => response,
            Err(err) => return refused(describe(&err)),
        };
        let status = response.status().as_u16();
        let body = read_start(response).await;
        Answer {
            status: Some(status),
            latency: started.elapsed(),
            body,
        }
    }
}

/// The start of an answer's body, as text; the rest is not read.
async fn read_start(response: reqwest::Response) -> String {
    let mut kept = Vec::new();
    let mut stream = response.bytes_stream();
    while let Some(Ok(chunk)) = stream.next().await {
        kept.extend_from_slice(&chunk[..chunk.len().min(ANSWER_READ - kept.len())]);
        if kept.len() >= ANSWER_READ {
            break;
        }
    }
    String::from_utf8_lossy(&kept).into_owned()
}

/// Why a request got no answer, without the URL (it is on the endpoint).
fn describe(err: &reqwest::Error) -> String {
    use std::error::Error;
    let what = if err.is_timeout() {
        "timed out"
    } else if err.is_connect() {
        "could not connect"
    } else {
        "request failed"
    };
    // The innermost cause says most (connection refused, refused address).
    let mut cause: Option<&dyn Error> = err.source();
    let mut last = None;
    while let Some(c) = cause {
        last = Some(c.to_string());
        cause = c.source();
    }
    match last {
        Some(cause) => format!("{what}: {cause}"),
        None => what.to_owned(),
    }
}

/// DNS resolution that keeps only addresses a webhook may reach.
struct Guarded {
    reach: Reach,
}

impl Resolve for Guarded {
    fn resolve(&self, name: Name) -> Resolving {
        let reach = self.reach;
        Box::pin(async move {
            let host = name.as_str().to_owned();
            if !reach.private && guard::internal_name(&host) {
                return Err(format!("{host} names a host inside the network").into());
            }
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> = found
                .iter()
                .copied()
                .filter(|addr| guard::check_ip(addr.ip(), reach).is_ok())
                .collect();
            if allowed.is_empty() {
                let refused = found
                    .first()
                    .map(|addr| guard::check_ip(addr.ip(), reach))
                    .and_then(Result::err)
                    .map_or_else(|| format!("{host} does not resolve"), |r| r.detail);
                return Err(refused.into());
            }
            let addrs: Addrs = Box::new(allowed.into_iter());
            Ok(addrs)
        })
    }
}

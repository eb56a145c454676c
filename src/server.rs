//! The HTTP server: poem's endpoint served on hyper connections we own, so
//! that slow, idle and numerous clients meet limits.
//!
//! - **Connections** are capped in total and per client address; a client
//!   over the cap gets a `503` problem+json on its new connection (with
//!   `Retry-After`) and the connection is closed, so the sockets already
//!   serving others keep working.
//! - **Headers** must arrive within `header_timeout` (slow-header clients
//!   are dropped by hyper's header-read timer).
//! - **Idle** connections (no byte read or written for `idle_timeout`) are
//!   closed.
//! - **Bodies** must arrive within `body_timeout` of the request's start
//!   (see [`crate::api::limits`]), answered `408`.
//! - **Shutdown** stops accepting at once and gives in-flight requests up to
//!   the grace period.

use std::{
    collections::HashMap,
    convert::Infallible,
    future::Future,
    io,
    net::IpAddr,
    pin::Pin,
    sync::{Arc, Mutex},
    task::{Context, Poll},
    time::Duration,
};

use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::{conn::auto, graceful::GracefulShutdown},
};
use poem::{Addr, Endpoint, Response, http::uri::Scheme};
use tokio::{
    io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf},
    net::{TcpListener, TcpStream},
    time::{Instant, Sleep},
};

use crate::telemetry::Metrics;

/// What one connection and the server as a whole may use.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// Most connections open at once.
    pub max_connections: usize,
    /// Most connections open at once from one peer address; 0: no cap.
    pub max_per_client: usize,
    /// Time a client has to send a request's headers.
    pub header_timeout: Duration,
    /// Time a connection may sit with no byte read or written.
    pub idle_timeout: Duration,
}

/// The largest request head hyper buffers. Above the limits the API itself
/// answers with problem+json (see [`crate::api::limits`]), so those answers
/// are what clients see.
const MAX_HEAD_BUFFER: usize = 1024 * 1024;
const MAX_HEADER_COUNT: usize = 512;

/// Open connections, in total and per peer address.
#[derive(Clone)]
struct Slots {
    limits: ConnectionLimits,
    open: Arc<Mutex<(usize, HashMap<IpAddr, usize>)>>,
}

/// One taken slot; dropping it gives the slot back.
struct Slot {
    slots: Slots,
    ip: IpAddr,
}

#[derive(Debug, PartialEq, Eq)]
enum Refusal {
    ServerFull,
    ClientFull,
}

impl Slots {
    fn new(limits: ConnectionLimits) -> Self {
        Self {
            limits,
            open: Arc::default(),
        }
    }

    fn take(&self, ip: IpAddr) -> Result<Slot, Refusal> {
        let Ok(mut open) = self.open.lock() else {
            return Err(Refusal::ServerFull);
        };
        let (total, per_client) = &mut *open;
        if *total >= self.limits.max_connections {
            return Err(Refusal::ServerFull);
        }
        let mine = per_client.entry(ip).or_insert(0);
        if self.limits.max_per_client > 0 && *mine >= self.limits.max_per_client {
            return Err(Refusal::ClientFull);
        }
        *mine += 1;
        *total += 1;
        Ok(Slot {
            slots: self.clone(),
            ip,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Ok(mut open) = self.slots.open.lock() {
            let (total, per_client) = &mut *open;
            *total = total.saturating_sub(1);
            if let Some(mine) = per_client.get_mut(&self.ip) {
                *mine = mine.saturating_sub(1);
                if *mine == 0 {
                    per_client.remove(&self.ip);
                }
            }
        }
    }
}

// Long on purpose: the accept loop and its shutdown read best in one piece.
/// Serves `endpoint` on `listener` until `shutdown` completes, then lets
/// in-flight requests finish for up to `grace`.
pub async fn serve<E>(
    listener: TcpListener,
    endpoint: E,
    limits: ConnectionLimits,
    metrics: Arc<Metrics>,
    shutdown: impl Future<Output = ()> + Send,
    grace: Duration,
) -> io::Result<()>
where
    E: Endpoint<Output = Response> + 'static,
{
    let local = listener.local_addr()?;
    let endpoint = Arc::new(endpoint);
    let slots = Slots::new(limits);
    let graceful = GracefulShutdown::new();
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_buf_size(MAX_HEAD_BUFFER)
        .max_headers(MAX_HEADER_COUNT);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(limits.idle_timeout))
        .keep_alive_timeout(Duration::from_secs(20))
        .max_concurrent_streams(Some(100));
    let mut shutdown = std::pin::pin!(shutdown);

    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of file descriptors and the like: the sockets we
                    // hold will free up; do not spin.
                    tracing::warn!(error = %err, "could not accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let slot = match slots.take(peer.ip()) {
            Ok(slot) => slot,
            Err(refusal) => {
                metrics.connection_refused();
                tokio::spawn(refuse(stream, refusal));
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let io = TokioIo::new(IdleTimeout::new(stream, limits.idle_timeout));
        let endpoint = endpoint.clone();
        let service = hyper::service::service_fn(move |request| {
            let endpoint = endpoint.clone();
            async move {
                let request = poem::Request::from((
                    request,
                    poem::web::LocalAddr(Addr::SocketAddr(local)),
                    poem::web::RemoteAddr(Addr::SocketAddr(peer)),
                    Scheme::HTTP,
                ));
                let response = endpoint.get_response(request).await;
                Ok::<_, Infallible>(hyper::Response::from(response))
            }
        });
        let connection = graceful.watch(
            builder
                .serve_connection_with_upgrades(io, service)
                .into_owned(),
        );
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                tracing::debug!(error = %err, "connection ended with an error");
            }
            drop(slot);
        });
    }

    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(grace) => {
            tracing::warn!("in-flight requests did not finish within the shutdown timeout");
        }
    }
    Ok(())
}

/// Answers a connection over the cap with a short problem+json and closes it.
async fn refuse(mut stream: TcpStream, refusal: Refusal) {
    let detail = match refusal {
        Refusal::ServerFull => "the server is at its connection limit; retry shortly",
        Refusal::ClientFull => "too many connections from your address; reuse or close some",
    };
    let body = serde_json::json!({
        "type": "urn:tessera:problem:too_many_connections",
        "title": "Service Unavailable",
        "status": 503,
        "detail": detail,
        "code": "too_many_connections",
    })
    .to_string();
    let response = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/problem+json\r\n\
         retry-after: 1\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    let write = async {
        stream.write_all(response.as_bytes()).await?;
        stream.shutdown().await
    };
    let _ = tokio::time::timeout(Duration::from_secs(2), write).await;
}

/// A connection that ends (reads as closed) once no byte has moved in
/// either direction for `timeout`.
struct IdleTimeout {
    inner: TcpStream,
    timeout: Duration,
    sleep: Pin<Box<Sleep>>,
}

impl IdleTimeout {
    fn new(inner: TcpStream, timeout: Duration) -> Self {
        Self {
            inner,
            timeout,
            sleep: Box::pin(tokio::time::sleep(timeout)),
        }
    }

    fn touched(&mut self) {
        let deadline = Instant::now() + self.timeout;
        self.sleep.as_mut().reset(deadline);
    }

    fn expired(&mut self, cx: &mut Context<'_>) -> bool {
        self.sleep.as_mut().poll(cx).is_ready()
    }

    /// What a write came to: bytes out count as activity; a write stuck
    /// for the whole idle time ends the connection.
    fn wrote(
        &mut self,
        cx: &mut Context<'_>,
        written: Poll<io::Result<usize>>,
    ) -> Poll<io::Result<usize>> {
        match written {
            Poll::Ready(Ok(n)) => {
                if n > 0 {
                    self.touched();
                }
                Poll::Ready(Ok(n))
            }
            Poll::Ready(Err(err)) => Poll::Ready(Err(err)),
            Poll::Pending if self.expired(cx) => Poll::Ready(Err(idle())),
            Poll::Pending => Poll::Pending,
        }
    }
}

fn idle() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "connection idle")
}

impl AsyncRead for IdleTimeout {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.inner).poll_read(cx, buf) {
            Poll::Ready(result) => {
                if buf.filled().len() > before {
                    self.touched();
                }
                Poll::Ready(result)
            }
            Poll::Pending if self.expired(cx) => Poll::Ready(Err(idle())),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl AsyncWrite for IdleTimeout {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let written = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.wrote(cx, written)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let written = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.wrote(cx, written)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(max: usize, per_client: usize) -> ConnectionLimits {
        ConnectionLimits {
            max_connections: max,
            max_per_client: per_client,
            header_timeout: Duration::from_secs(1),
            idle_timeout: Duration::from_secs(1),
        }
    }

    #[test]
    fn slots_cap_the_total_and_each_client_and_come_back() {
        let slots = Slots::new(limits(3, 2));
        let a: IpAddr = [127, 0, 0, 2].into();
        let b: IpAddr = [127, 0, 0, 3].into();
        let first = slots.take(a).unwrap();
        let _second = slots.take(a).unwrap();
        assert_eq!(slots.take(a).err(), Some(Refusal::ClientFull));
        let _third = slots.take(b).unwrap();
        assert_eq!(slots.take(b).err(), Some(Refusal::ServerFull));
        drop(first);
        assert!(slots.take(a).is_ok());
    }

    #[test]
    fn no_per_client_cap_when_it_is_zero() {
        let slots = Slots::new(limits(10, 0));
        let a: IpAddr = [127, 0, 0, 2].into();
        let held: Vec<_> = (0..10).map(|_| slots.take(a).unwrap()).collect();
        assert_eq!(slots.take(a).err(), Some(Refusal::ServerFull));
        drop(held);
        assert!(slots.open.lock().unwrap().1.is_empty());
    }
}

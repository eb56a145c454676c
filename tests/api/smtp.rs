//! A real SMTP server on loopback for the mail tests (`mailin-embedded`,
//! in this process): it keeps every message it accepts and refuses the
//! recipients it is told to, with 550.

use std::{
    net::{SocketAddr, TcpListener},
    sync::{Arc, Mutex},
    time::Duration,
};

use mailin_embedded::{Handler, Response, Server, SslConfig, response};

/// A message as the server received it.
#[derive(Debug, Clone, Default)]
pub struct Received {
    pub from: String,
    pub to: Vec<String>,
    pub data: Vec<u8>,
}

impl Received {
    pub fn parsed(&self) -> mail_parser::Message<'_> {
        mail_parser::MessageParser::default()
            .parse(&self.data)
            .expect("a parsable message")
    }
}

#[derive(Clone)]
struct Inbox {
    kept: Arc<Mutex<Vec<Received>>>,
    refused: Arc<Vec<String>>,
    current: Received,
}

impl Handler for Inbox {
    fn mail(&mut self, _ip: std::net::IpAddr, _domain: &str, from: &str) -> Response {
        self.current = Received {
            from: from.to_owned(),
            ..Default::default()
        };
        response::OK
    }

    fn rcpt(&mut self, to: &str) -> Response {
        if self.refused.iter().any(|r| to.contains(r.as_str())) {
            return response::NO_MAILBOX;
        }
        self.current.to.push(to.to_owned());
        response::OK
    }

    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.current.data.extend_from_slice(buf);
        Ok(())
    }

    fn data_end(&mut self) -> Response {
        let message = std::mem::take(&mut self.current);
        self.kept.lock().expect("inbox").push(message);
        response::OK
    }
}

/// The server's address and what it received.
pub struct SmtpSink {
    pub addr: SocketAddr,
    kept: Arc<Mutex<Vec<Received>>>,
}

/// A free loopback port (nothing listens there until a sink starts on it).
pub fn free_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("address")
}

impl SmtpSink {
    /// Starts a server on `addr`, refusing recipients that contain any of
    /// `refused`. It serves until the test process ends.
    pub fn start_at(addr: SocketAddr, refused: &[&str]) -> Self {
        let kept = Arc::new(Mutex::new(Vec::new()));
        let inbox = Inbox {
            kept: kept.clone(),
            refused: Arc::new(refused.iter().map(|r| (*r).to_owned()).collect()),
            current: Received::default(),
        };
        let listener = TcpListener::bind(addr).expect("bind the SMTP sink");
        let mut server = Server::new(inbox);
        server
            .with_name("sink.test")
            // One thread serves one connection for as long as it stays
            // open, and the service keeps its pooled connections open.
            .with_num_threads(32)
            .with_tcp_listener(listener);
        server.with_ssl(SslConfig::None).expect("no TLS");
        std::thread::spawn(move || {
            let _ = server.serve();
        });
        Self { addr, kept }
    }

    /// `smtp://` URL of this server, for `TESSERA_SMTP_URL`.
    pub fn url(&self) -> String {
        format!("smtp://{}", self.addr)
    }

    pub fn received(&self) -> Vec<Received> {
        self.kept.lock().expect("inbox").clone()
    }

    /// Waits up to 20 seconds for at least `n` messages.
    pub async fn wait_for(&self, n: usize) -> Vec<Received> {
        for _ in 0..400 {
            let got = self.received();
            if got.len() >= n {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let got = self.received();
        panic!("expected {n} messages, received {}", got.len());
    }
}

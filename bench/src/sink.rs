//! A mail server on loopback for the benchmark (`mailin-embedded`, in this
//! process): it accepts every message and notes when each arrived and for
//! whom.

use std::{
    net::TcpListener,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use mailin_embedded::{Handler, Response, Server, SslConfig, response};

/// One delivered message: its recipient and when it arrived.
#[derive(Debug, Clone)]
pub struct Arrival {
    pub to: String,
    pub at: Instant,
}

#[derive(Clone)]
struct Inbox {
    arrivals: Arc<Mutex<Vec<Arrival>>>,
    to: Vec<String>,
}

impl Handler for Inbox {
    fn rcpt(&mut self, to: &str) -> Response {
        self.to.push(to.to_owned());
        response::OK
    }

    fn data_end(&mut self) -> Response {
        let at = Instant::now();
        if let Ok(mut arrivals) = self.arrivals.lock() {
            arrivals.extend(self.to.drain(..).map(|to| Arrival { to, at }));
        }
        response::OK
    }
}

/// The running sink.
pub struct Sink {
    pub url: String,
    arrivals: Arc<Mutex<Vec<Arrival>>>,
}

impl Sink {
    /// Starts a sink on a free loopback port; it runs until the process ends.
    pub fn start() -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let arrivals = Arc::new(Mutex::new(Vec::new()));
        let mut server = Server::new(Inbox {
            arrivals: arrivals.clone(),
            to: Vec::new(),
        });
        server
            .with_name("bench.sink")
            .with_num_threads(80)
            .with_tcp_listener(listener);
        server
            .with_ssl(SslConfig::None)
            .map_err(|err| anyhow::anyhow!("{err}"))?;
        std::thread::spawn(move || {
            let _ = server.serve();
        });
        Ok(Self {
            url: format!("smtp://{addr}?tls=none"),
            arrivals,
        })
    }

    /// The service's environment for mailing through this sink, with
    /// `connections` at once if given.
    pub fn env(&self, connections: Option<u32>) -> Vec<(&'static str, String)> {
        let mut env = vec![
            ("TESSERA_SMTP_URL", self.url.clone()),
            (
                "TESSERA_MAIL_FROM",
                "Bench <tickets@bench.example>".to_owned(),
            ),
        ];
        env.extend(connections.map(|n| ("TESSERA_SMTP_CONNECTIONS", n.to_string())));
        env
    }

    pub fn arrivals(&self) -> Vec<Arrival> {
        self.arrivals.lock().map(|a| a.clone()).unwrap_or_default()
    }

    /// Waits until `n` messages arrived or `limit` passed; what arrived.
    pub async fn wait_for(&self, n: usize, limit: Duration) -> Vec<Arrival> {
        let until = Instant::now() + limit;
        loop {
            let arrivals = self.arrivals();
            if arrivals.len() >= n || Instant::now() >= until {
                return arrivals;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

//! A webhook receiver on loopback for the benchmark (poem, in this
//! process): it answers 200 to every delivery and notes when each order's
//! `order.placed` arrived, by the buyer's address.

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use poem::{EndpointExt, Route, Server, handler, listener::TcpListener, web::Data};

type Arrivals = Arc<Mutex<HashMap<String, Instant>>>;

pub struct Hook {
    pub url: String,
    arrivals: Arrivals,
}

impl Hook {
    /// Starts a receiver on a free loopback port; it runs until the process
    /// ends.
    pub async fn start() -> anyhow::Result<Self> {
        let addr: SocketAddr = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
        let arrivals: Arrivals = Arc::default();
        let app = Route::new().at("/hook", receive).data(arrivals.clone());
        tokio::spawn(Server::new(TcpListener::bind(addr)).run(app));
        for _ in 0..200 {
            if tokio::net::TcpStream::connect(addr).await.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        Ok(Self {
            url: format!("http://{addr}/hook"),
            arrivals,
        })
    }

    /// What the service needs to deliver to loopback over http.
    pub fn env() -> Vec<(&'static str, String)> {
        vec![
            ("TESSERA_WEBHOOK_ALLOW_PRIVATE", "true".into()),
            ("TESSERA_WEBHOOK_ALLOW_HTTP", "true".into()),
        ]
    }

    /// Waits until `n` orders arrived or `patience` passed; answers when
    /// each arrived, by buyer.
    pub async fn wait_for(&self, n: usize, patience: Duration) -> HashMap<String, Instant> {
        let deadline = Instant::now() + patience;
        loop {
            let arrived = self.arrivals.lock().map(|a| a.clone()).unwrap_or_default();
            if arrived.len() >= n || Instant::now() > deadline {
                return arrived;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

#[handler]
async fn receive(body: Vec<u8>, Data(arrivals): Data<&Arrivals>) -> &'static str {
    let at = Instant::now();
    if let Ok(message) = serde_json::from_slice::<serde_json::Value>(&body)
        && let Some(email) = message["data"]["order"]["email"].as_str()
        && let Ok(mut arrivals) = arrivals.lock()
    {
        arrivals.entry(email.to_owned()).or_insert(at);
    }
    "ok"
}

//! A webhook receiver on loopback, as an organizer's system would run one:
//! it records every request and checks its signature with the Standard
//! Webhooks reference library (`standardwebhooks`), independently of
//! tessera's own signing code. What it answers is scripted per test.

use std::{
    collections::VecDeque,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use poem::{
    EndpointExt, Response, Route, Server, handler, http::StatusCode, listener::TcpListener,
    web::Data,
};
use serde_json::Value;
use standardwebhooks::Webhook;

/// What the receiver answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    Status(u16),
    /// Holds the request until [`Receiver::release`].
    Hang,
}

/// One request received.
#[derive(Debug, Clone)]
pub struct Got {
    pub id: String,
    pub timestamp: i64,
    pub signature: String,
    pub body: Value,
    pub raw: String,
    /// Which of the receiver's secrets the signature verified with.
    pub verified_by: Vec<String>,
}

impl Got {
    pub fn kind(&self) -> &str {
        self.body["type"].as_str().unwrap_or_default()
    }
}

#[derive(Default)]
struct Shared {
    script: Mutex<VecDeque<Answer>>,
    otherwise: Mutex<Option<Answer>>,
    got: Mutex<Vec<Got>>,
    secrets: Mutex<Vec<String>>,
    holding: Mutex<bool>,
    hanging: Mutex<usize>,
}

pub struct Receiver {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
}

impl Receiver {
    /// Starts a receiver answering 200 to everything.
    pub async fn start() -> Self {
        let addr = crate::smtp::free_port();
        let shared = Arc::new(Shared::default());
        let app = Route::new().at("/*path", receive).data(shared.clone());
        tokio::spawn(Server::new(TcpListener::bind(addr)).run(app));
        for _ in 0..200 {
            if tokio::net::TcpStream::connect(addr).await.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        Self { addr, shared }
    }

    pub fn url(&self) -> String {
        format!("http://{}/hooks/tessera", self.addr)
    }

    /// The secrets signatures are checked against.
    pub fn trust(&self, secrets: &[&str]) {
        *self.shared.secrets.lock().unwrap() = secrets.iter().map(|s| (*s).to_owned()).collect();
    }

    /// Answers these first, in order, then `otherwise` (200 unless set).
    pub fn script(&self, answers: &[Answer]) {
        self.shared
            .script
            .lock()
            .unwrap()
            .extend(answers.iter().copied());
    }

    pub fn otherwise(&self, answer: Answer) {
        *self.shared.holding.lock().unwrap() = answer == Answer::Hang;
        *self.shared.otherwise.lock().unwrap() = Some(answer);
    }

    /// Lets every held request answer 200.
    pub fn release(&self) {
        *self.shared.otherwise.lock().unwrap() = None;
        *self.shared.holding.lock().unwrap() = false;
    }

    pub fn hanging(&self) -> usize {
        *self.shared.hanging.lock().unwrap()
    }

    /// Waits (up to 10 s) until `n` requests hang at once.
    pub async fn hanging_at_least(&self, n: usize) {
        for _ in 0..400 {
            if self.hanging() >= n {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("{n} requests never hung at once (had {})", self.hanging());
    }

    pub fn got(&self) -> Vec<Got> {
        self.shared.got.lock().unwrap().clone()
    }

    /// Waits (up to 20 s) until `n` requests arrived; answers them.
    pub async fn wait_for(&self, n: usize) -> Vec<Got> {
        for _ in 0..400 {
            let got = self.got();
            if got.len() >= n {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("expected {n} webhooks, got {:#?}", self.got());
    }
}

#[handler]
async fn receive(
    request: &poem::Request,
    body: Vec<u8>,
    Data(shared): Data<&Arc<Shared>>,
) -> Response {
    let header = |name: &str| {
        request
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let id = header("webhook-id");
    let timestamp: i64 = header("webhook-timestamp").parse().unwrap_or_default();
    let signature = header("webhook-signature");
    let secrets = shared.secrets.lock().unwrap().clone();
    let verified_by = secrets
        .into_iter()
        .filter(|secret| {
            let hook = Webhook::new(secret).expect("a secret the library reads");
            if (timestamp - chrono::Utc::now().timestamp()).abs() < 240 {
                // The library's own check, timestamp tolerance included.
                hook.verify(&body, request.headers()).is_ok()
            } else {
                // The test moved tessera's clock: the library's signature,
                // without its check that the timestamp is recent.
                let expected = hook.sign(&id, timestamp, &body).expect("sign");
                signature.split(' ').any(|s| s == expected)
            }
        })
        .collect();
    let raw = String::from_utf8_lossy(&body).into_owned();
    shared.got.lock().unwrap().push(Got {
        id,
        timestamp,
        signature,
        body: serde_json::from_str(&raw).unwrap_or(Value::Null),
        raw,
        verified_by,
    });
    let answer = {
        let next = shared.script.lock().unwrap().pop_front();
        next.or(*shared.otherwise.lock().unwrap())
            .unwrap_or(Answer::Status(200))
    };
    let status = match answer {
        Answer::Status(status) => status,
        Answer::Hang => {
            *shared.hanging.lock().unwrap() += 1;
            while *shared.holding.lock().unwrap() {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            *shared.hanging.lock().unwrap() -= 1;
            200
        }
    };
    Response::builder()
        .status(StatusCode::from_u16(status).unwrap())
        .body(format!("answered {status}"))
}

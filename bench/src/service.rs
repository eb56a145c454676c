//! The real `tessera` binary as its own process, as deployed, and what it
//! costs: CPU time of the service and of PostgreSQL's backends for its
//! database (from `/proc`), the service's peak RSS, the database's size.

use std::{
    collections::HashMap,
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};

use anyhow::Context;
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};

/// The release binary, built first if needed (`--tessera` names another).
pub fn binary(chosen: Option<&Path>) -> anyhow::Result<PathBuf> {
    if let Some(path) = chosen {
        return Ok(path.to_owned());
    }
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .context("the bench crate lives in the workspace")?;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let built = Command::new(cargo)
        .args([
            "build",
            "--release",
            "--quiet",
            "-p",
            "tessera",
            "--bin",
            "tessera",
        ])
        .current_dir(workspace)
        .status()
        .context("building the tessera binary")?;
    anyhow::ensure!(
        built.success(),
        "cargo build --release --bin tessera failed"
    );
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| workspace.join("target"));
    Ok(target.join("release").join("tessera"))
}

/// One running `tessera serve`.
pub struct Service {
    child: Child,
    pub base: String,
}

impl Service {
    /// Starts the binary on `database_url` and waits until it listens.
    pub fn start(
        binary: &Path,
        database_url: &str,
        env: &[(&str, String)],
    ) -> anyhow::Result<Self> {
        let mut child = Command::new(binary)
            .arg("serve")
            .env("DATABASE_URL", database_url)
            .env("TESSERA_BIND", "127.0.0.1:0")
            .env("TESSERA_LOG", "warn")
            .env("TESSERA_CLIENT_IP_HEADER", "x-forwarded-for")
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let stdout = child.stdout.take().context("the service's stdout")?;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some((_, base)) = line.split_once("tessera is listening on ") {
                    let _ = tx.send(base.trim().to_owned());
                }
            }
        });
        let base = rx
            .recv_timeout(Duration::from_secs(60))
            .context("tessera did not start listening within a minute")?;
        Ok(Self { child, base })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The service's peak resident memory so far, in KiB (`VmHWM`).
    pub fn peak_rss_kib(&self) -> u64 {
        status_kib(self.pid(), "VmHWM:")
    }

    /// Stops the service (SIGTERM) and waits for it.
    pub fn stop(mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

fn status_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

/// User plus system CPU time of a process, in clock ticks.
fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may hold spaces: count the
    // fields after its closing one (state is field 3, utime 14, stime 15).
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

fn clock_ticks_per_second() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100)
}

/// The PostgreSQL backends serving this database, but the one asking.
async fn backends(db: &DatabaseConnection) -> Vec<u32> {
    if db.get_database_backend() != sea_orm::DatabaseBackend::Postgres {
        return Vec::new();
    }
    let sql = "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()";
    match db
        .query_all_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
    {
        Ok(rows) => rows
            .iter()
            .filter_map(|r| r.try_get_by_index::<i32>(0).ok())
            .filter_map(|p| u32::try_from(p).ok())
            .collect(),
        Err(_) => Vec::new(),
    }
}

impl Cpu {
    /// Where the machine's CPU went, as shares of all its cores' time.
    pub fn breakdown(&self) -> String {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
        let all = self.wall.as_secs_f64() * cores;
        let share = |d: Duration| 100.0 * d.as_secs_f64() / all.max(f64::EPSILON);
        let other = self
            .machine_busy
            .saturating_sub(self.service + self.database + self.client);
        format!(
            "service {:.0}%, its database backends {:.0}%, benchmark client {:.0}%, \
             everything else {:.0}%, stolen by the hypervisor {:.0}%, waiting on the disk {:.0}%, idle {:.0}%",
            share(self.service),
            share(self.database),
            share(self.client),
            share(other),
            share(self.machine_steal),
            share(self.machine_iowait),
            (100.0
                - share(self.machine_busy)
                - share(self.machine_steal)
                - share(self.machine_iowait))
            .max(0.0),
        )
    }
}

/// CPU spent between [`Meter::start`] and [`Meter::finish`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Cpu {
    pub service: Duration,
    pub database: Duration,
    /// The benchmark's own process: the clients and the Stripe stand-in.
    pub client: Duration,
    /// Every core of the machine, busy (not idle or waiting on I/O).
    pub machine_busy: Duration,
    /// Time the hypervisor gave the machine's cores to someone else.
    pub machine_steal: Duration,
    /// Idle time with I/O outstanding (waiting on the disk: commits).
    pub machine_iowait: Duration,
    pub wall: Duration,
}

/// Busy, steal and iowait ticks of the whole machine, from `/proc/stat`.
fn machine_ticks() -> (u64, u64, u64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(cpu) = stat.lines().find(|l| l.starts_with("cpu ")) else {
        return (0, 0, 0);
    };
    let f: Vec<u64> = cpu
        .split_whitespace()
        .skip(1)
        .filter_map(|n| n.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal
    let at = |i: usize| f.get(i).copied().unwrap_or(0);
    (at(0) + at(1) + at(2) + at(5) + at(6), at(7), at(4))
}

/// Samples the CPU time of the services and the database's backends.
pub struct Meter {
    services: Vec<(u32, u64)>,
    backends: HashMap<u32, u64>,
    client: u64,
    machine: (u64, u64, u64),
    started: std::time::Instant,
}

impl Meter {
    pub async fn start(services: &[&Service], db: &DatabaseConnection) -> Self {
        let services = services
            .iter()
            .map(|s| (s.pid(), cpu_ticks(s.pid()).unwrap_or(0)))
            .collect();
        let backends = backends(db)
            .await
            .into_iter()
            .filter_map(|pid| Some((pid, cpu_ticks(pid)?)))
            .collect();
        Self {
            services,
            backends,
            client: cpu_ticks(std::process::id()).unwrap_or(0),
            machine: machine_ticks(),
            started: std::time::Instant::now(),
        }
    }

    /// The CPU spent since the start. A backend that started meanwhile
    /// counts whole; one that ended meanwhile is missed (the service keeps
    /// its pool open, so that is rare).
    pub async fn finish(&self, db: &DatabaseConnection) -> Cpu {
        let tick = Duration::from_secs(1) / u32::try_from(clock_ticks_per_second()).unwrap_or(100);
        let service: u64 = self
            .services
            .iter()
            .map(|(pid, before)| cpu_ticks(*pid).unwrap_or(*before).saturating_sub(*before))
            .sum();
        let database: u64 = backends(db)
            .await
            .into_iter()
            .filter_map(|pid| {
                let now = cpu_ticks(pid)?;
                Some(now.saturating_sub(self.backends.get(&pid).copied().unwrap_or(0)))
            })
            .sum();
        let client = cpu_ticks(std::process::id())
            .unwrap_or(self.client)
            .saturating_sub(self.client);
        let (busy, steal, iowait) = machine_ticks();
        let ticks = |n: u64| tick * u32::try_from(n).unwrap_or(u32::MAX);
        Cpu {
            service: ticks(service),
            database: ticks(database),
            client: ticks(client),
            machine_busy: ticks(busy.saturating_sub(self.machine.0)),
            machine_steal: ticks(steal.saturating_sub(self.machine.1)),
            machine_iowait: ticks(iowait.saturating_sub(self.machine.2)),
            wall: self.started.elapsed(),
        }
    }
}

/// The database's size on disk, in bytes.
pub async fn database_size(db: &DatabaseConnection, url: &str) -> u64 {
    if db.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
        let sql = "SELECT pg_database_size(current_database())";
        return match db
            .query_one_raw(Statement::from_string(db.get_database_backend(), sql))
            .await
        {
            Ok(Some(row)) => row
                .try_get_by_index::<i64>(0)
                .ok()
                .and_then(|n| u64::try_from(n).ok())
                .unwrap_or(0),
            _ => 0,
        };
    }
    let path = url
        .trim_start_matches("sqlite://")
        .split('?')
        .next()
        .unwrap_or_default()
        .to_owned();
    ["", "-wal"]
        .iter()
        .filter_map(|suffix| std::fs::metadata(format!("{path}{suffix}")).ok())
        .map(|m| m.len())
        .sum()
}

/// A stand-in for Stripe's PaymentIntents API on loopback, answering at
/// once, so the figures measure tessera and not Stripe. Answers the base URL.
pub async fn fake_stripe() -> anyhow::Result<String> {
    use poem::{
        EndpointExt, Route, handler,
        listener::{Acceptor, Listener, TcpListener},
        post,
        web::{Json, Path as At},
    };
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);

    fn intent(id: &str, status: &str) -> serde_json::Value {
        serde_json::json!({
            "id": id, "object": "payment_intent", "amount": 9900, "amount_capturable": 0,
            "amount_received": 0, "capture_method": "automatic",
            "client_secret": format!("{id}_secret"), "confirmation_method": "automatic",
            "created": 1_790_000_000, "currency": "eur", "livemode": false, "metadata": {},
            "payment_method_types": ["card"], "status": status, "latest_charge": null,
        })
    }
    #[handler]
    fn create() -> Json<serde_json::Value> {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        Json(intent(&format!("pi_bench{n}"), "requires_payment_method"))
    }
    #[handler]
    fn retrieve(At(id): At<String>) -> Json<serde_json::Value> {
        Json(intent(&id, "requires_payment_method"))
    }
    #[handler]
    fn cancel(At(id): At<String>) -> Json<serde_json::Value> {
        Json(intent(&id, "canceled"))
    }
    let app = Route::new()
        .at("/v1/payment_intents", post(create))
        .at("/v1/payment_intents/:id", poem::get(retrieve))
        .at("/v1/payment_intents/:id/cancel", post(cancel))
        .map_to_response();
    let acceptor = TcpListener::bind("127.0.0.1:0").into_acceptor().await?;
    let addr = acceptor
        .local_addr()
        .first()
        .and_then(|a| a.as_socket_addr().copied())
        .context("the stand-in's address")?;
    tokio::spawn(poem::Server::new_with_acceptor(acceptor).run(app));
    Ok(format!("http://{addr}"))
}

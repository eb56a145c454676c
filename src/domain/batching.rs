//! One worker per key that decides queued jobs in batches.
//!
//! Both rushes tessera meets work this way: placements of one event (the
//! inventory) and admissions of one check-in list (the door). Each key has a
//! bounded queue and at most one worker on this instance; the worker takes
//! everything queued while its previous batch ran and decides it in one
//! transaction, so a rush pays one commit per batch instead of one per job.
//!
//! The policy is the same for every use:
//! - a full queue answers [`DomainError::Busy`] at once (the caller retries
//!   later) instead of growing without bound;
//! - a batch that finds the database busy (SQLite's lock) is retried a few
//!   times with a growing pause; a batch that still fails, busy or not, is
//!   decided one job at a time, so one faulty job (a duplicate code, say)
//!   fails alone; a job that fails alone answers `Busy` when the database was
//!   busy and the error otherwise;
//! - a worker with nothing to do for a while exits and leaves the map, so
//!   the map holds only keys with traffic;
//! - a worker may have more than one batch in flight
//!   ([`Policy::in_flight`]): while one batch holds the database's lock, the
//!   next is gathered and queued behind it, so the lock is never idle while
//!   a batch is being prepared. Batches take their turn in order: each holds
//!   its key's [`Turn`] until it has its database lock, and the next batch
//!   starts only once the turn is passed, so jobs are still decided in
//!   arrival order.

use std::{
    collections::HashMap,
    future::Future,
    hash::Hash,
    sync::{Arc, Mutex},
    time::Duration,
};

use sea_orm::DbErr;
use tokio::sync::{mpsc, oneshot};

use super::DomainError;

/// What a batching worker decides.
pub trait Batch: Send + Sync + 'static {
    type Key: Copy + Eq + Hash + Send + Sync + std::fmt::Debug + 'static;
    type Job: Send + Sync + 'static;
    type Answer: Send + 'static;

    /// Decides `jobs` together (one transaction), answering one per job in
    /// order. An error decides none of them. `turn` is passed (or dropped)
    /// once the batch holds whatever lock orders it against the next batch.
    fn decide(
        &self,
        key: Self::Key,
        jobs: &[&Self::Job],
        turn: &mut Turn,
    ) -> impl Future<Output = Result<Vec<Self::Answer>, DbErr>> + Send;
}

/// A batch's place in its key's line: while a batch holds it, the next
/// batch of the key waits. Pass it once the batch holds its database lock.
pub struct Turn(Option<tokio::sync::OwnedMutexGuard<()>>);

impl Turn {
    /// No place in line (a retry, a job decided alone).
    pub fn none() -> Self {
        Self(None)
    }

    /// Lets the next batch of the key go ahead and queue behind this one.
    pub fn pass(&mut self) {
        self.0 = None;
    }
}

/// Limits of a [`Batcher`].
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// Jobs decided together at most.
    pub max_batch: usize,
    /// Jobs waiting per key at most; beyond, callers are told to retry.
    pub queue: usize,
    /// A worker idle this long exits.
    pub idle: Duration,
    /// Tries of a batch while the database is busy.
    pub attempts: u32,
    /// Batches of one key in flight at once (1: one after the other).
    pub in_flight: usize,
}

impl Policy {
    pub const DEFAULT: Policy = Policy {
        max_batch: 256,
        queue: 4_096,
        idle: Duration::from_secs(30),
        attempts: 5,
        in_flight: 1,
    };
}

type Reply<B> = oneshot::Sender<Result<(<B as Batch>::Job, <B as Batch>::Answer), DomainError>>;
type Queued<B> = (<B as Batch>::Job, Reply<B>);

struct Worker<B: Batch> {
    /// Tells this worker from the one that may replace it.
    id: u64,
    queue: mpsc::Sender<Queued<B>>,
}

/// The workers of one kind of batch on this instance, one per busy key.
pub struct Batcher<B: Batch> {
    batch: Arc<B>,
    policy: Policy,
    workers: Arc<Mutex<HashMap<B::Key, Worker<B>>>>,
    next_id: Arc<std::sync::atomic::AtomicU64>,
}

impl<B: Batch> Clone for Batcher<B> {
    fn clone(&self) -> Self {
        Self {
            batch: self.batch.clone(),
            policy: self.policy,
            workers: self.workers.clone(),
            next_id: self.next_id.clone(),
        }
    }
}

impl<B: Batch> Batcher<B> {
    pub fn new(batch: B, policy: Policy) -> Self {
        Self {
            batch: Arc::new(batch),
            policy,
            workers: Arc::default(),
            next_id: Arc::default(),
        }
    }

    pub fn batch(&self) -> &B {
        &self.batch
    }

    /// How many keys have a worker now.
    pub fn workers(&self) -> usize {
        lock(&self.workers).len()
    }

    /// Queues `job` under `key` and waits for its batch: the job comes back
    /// with its answer.
    pub async fn submit(
        &self,
        key: B::Key,
        job: B::Job,
    ) -> Result<(B::Job, B::Answer), DomainError> {
        let (reply, answer) = oneshot::channel();
        let mut queued = (job, reply);
        // A worker that has just exited is replaced once.
        for _ in 0..2 {
            let sender = self.worker(key);
            match sender.try_send(queued) {
                Ok(()) => {
                    return answer.await.map_err(|_| {
                        DomainError::Corrupt(format!("the batch worker for {key:?} stopped"))
                    })?;
                }
                Err(mpsc::error::TrySendError::Full(_)) => {
                    tracing::warn!(?key, "batch queue full; asking the caller to retry");
                    return Err(DomainError::Busy);
                }
                Err(mpsc::error::TrySendError::Closed(back)) => queued = back,
            }
        }
        Err(DomainError::Corrupt(format!(
            "no batch worker for {key:?} could be started"
        )))
    }

    fn worker(&self, key: B::Key) -> mpsc::Sender<Queued<B>> {
        let mut workers = lock(&self.workers);
        if let Some(worker) = workers.get(&key)
            && !worker.queue.is_closed()
        {
            return worker.queue.clone();
        }
        let id = self
            .next_id
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (queue, rx) = mpsc::channel(self.policy.queue.max(1));
        workers.insert(
            key,
            Worker {
                id,
                queue: queue.clone(),
            },
        );
        super::clock::spawn(run(self.clone(), key, id, rx));
        queue
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match mutex.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}

async fn run<B: Batch>(
    batcher: Batcher<B>,
    key: B::Key,
    id: u64,
    mut rx: mpsc::Receiver<Queued<B>>,
) {
    let line = Arc::new(tokio::sync::Mutex::new(()));
    let mut in_flight = tokio::task::JoinSet::new();
    loop {
        // The next job; batches finishing meanwhile are reaped.
        let first = loop {
            tokio::select! {
                Some(_) = in_flight.join_next(), if !in_flight.is_empty() => {}
                got = tokio::time::timeout(batcher.policy.idle, rx.recv()) => break got,
            }
        };
        let first = match first {
            Ok(Some(first)) => first,
            Ok(None) => break,
            Err(_idle) if !in_flight.is_empty() => continue,
            Err(_idle) => {
                // Leave the map (unless replaced already), refuse new jobs,
                // and decide those that slipped in before the door closed.
                {
                    let mut workers = lock(&batcher.workers);
                    if workers.get(&key).is_some_and(|w| w.id == id) {
                        workers.remove(&key);
                    }
                }
                rx.close();
                let mut left = Vec::new();
                while let Ok(job) = rx.try_recv() {
                    left.push(job);
                }
                for chunk in chunks(left, batcher.policy.max_batch) {
                    decide(&batcher, key, chunk, Turn::none()).await;
                }
                break;
            }
        };
        // Wait for the batch before this one to hold its lock, then take
        // everything queued meanwhile.
        let turn = Turn(Some(line.clone().lock_owned().await));
        let mut jobs = vec![first];
        while jobs.len() < batcher.policy.max_batch {
            match rx.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        let worker = batcher.clone();
        // On the worker's clock (a settable one, in tests).
        in_flight.spawn(super::clock::current().scope(async move {
            decide(&worker, key, jobs, turn).await;
        }));
        while in_flight.len() >= batcher.policy.in_flight.max(1) {
            in_flight.join_next().await;
        }
    }
    while in_flight.join_next().await.is_some() {}
}

fn chunks<T>(mut items: Vec<T>, size: usize) -> Vec<Vec<T>> {
    let mut out = Vec::new();
    while !items.is_empty() {
        let rest = items.split_off(items.len().min(size.max(1)));
        out.push(items);
        items = rest;
    }
    out
}

/// Tries a batch, retrying while the database is busy.
async fn attempt<B: Batch>(
    batcher: &Batcher<B>,
    key: B::Key,
    jobs: &[&B::Job],
    turn: &mut Turn,
) -> Result<Vec<B::Answer>, DbErr> {
    let mut tries = 0;
    loop {
        tries += 1;
        let result = batcher.batch.decide(key, jobs, turn).await;
        // A retry has lost its place in line anyway.
        turn.pass();
        match result {
            Err(err) if is_busy(&err) && tries < batcher.policy.attempts => {
                tokio::time::sleep(Duration::from_millis(20 * u64::from(tries))).await;
            }
            Ok(answers) if answers.len() != jobs.len() => {
                return Err(DbErr::Custom(format!(
                    "a batch of {} answered {}",
                    jobs.len(),
                    answers.len()
                )));
            }
            other => return other,
        }
    }
}

async fn decide<B: Batch>(
    batcher: &Batcher<B>,
    key: B::Key,
    queued: Vec<Queued<B>>,
    mut turn: Turn,
) {
    let jobs: Vec<&B::Job> = queued.iter().map(|(job, _)| job).collect();
    let err = match attempt(batcher, key, &jobs, &mut turn).await {
        Ok(answers) => {
            for ((job, reply), answer) in queued.into_iter().zip(answers) {
                let _ = reply.send(Ok((job, answer)));
            }
            return;
        }
        Err(err) => err,
    };
    if queued.len() == 1 {
        for (_, reply) in queued {
            let _ = reply.send(Err(failure(err.clone())));
        }
        return;
    }
    tracing::warn!(?key, error = %err, jobs = queued.len(), "batch failed; deciding its jobs one by one");
    for (job, reply) in queued {
        let answer = match attempt(batcher, key, &[&job], &mut Turn::none()).await {
            Ok(mut answers) => match answers.pop() {
                Some(answer) => Ok((job, answer)),
                None => Err(DomainError::Corrupt("a batch of one answered none".into())),
            },
            Err(err) => Err(failure(err)),
        };
        let _ = reply.send(answer);
    }
}

fn failure(err: DbErr) -> DomainError {
    if is_busy(&err) {
        DomainError::Busy
    } else {
        DomainError::Db(err)
    }
}

/// Whether the database refused for now because another writer holds it
/// (SQLite's lock); retrying later can succeed.
pub fn is_busy(err: &DbErr) -> bool {
    let text = err.to_string();
    text.contains("database is locked")
        || text.contains("database table is locked")
        || text.contains("(code: 5)")
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// Doubles numbers; a batch with a 13 in it fails, and the first
    /// `busy` tries find the database busy.
    struct Doubler {
        batches: Mutex<Vec<Vec<i64>>>,
        busy: AtomicUsize,
        gate: tokio::sync::Semaphore,
    }

    impl Batch for Doubler {
        type Key = u8;
        type Job = i64;
        type Answer = i64;

        async fn decide(
            &self,
            _key: u8,
            jobs: &[&i64],
            _turn: &mut Turn,
        ) -> Result<Vec<i64>, DbErr> {
            let _permit = self.gate.acquire().await;
            lock(&self.batches).push(jobs.iter().map(|j| **j).collect());
            if self
                .busy
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok()
            {
                return Err(DbErr::Custom("database is locked".into()));
            }
            if jobs.iter().any(|j| **j == 13) {
                return Err(DbErr::Custom("unlucky".into()));
            }
            Ok(jobs.iter().map(|j| **j * 2).collect())
        }
    }

    fn doubler(policy: Policy) -> Batcher<Doubler> {
        let d = Doubler {
            batches: Mutex::default(),
            busy: AtomicUsize::new(0),
            gate: tokio::sync::Semaphore::new(1),
        };
        Batcher::new(d, policy)
    }

    #[tokio::test]
    async fn jobs_queued_while_a_batch_runs_are_decided_together() {
        let batcher = doubler(Policy::DEFAULT);
        // Hold the gate: the first job's batch waits, the rest queue up.
        let gate = batcher.batch().gate.acquire().await.ok();
        let mut tasks = Vec::new();
        // (13 is the unlucky job: keep clear of it here.)
        for n in 20..40 {
            let b = batcher.clone();
            tasks.push(tokio::spawn(async move { b.submit(1, n).await }));
            tokio::task::yield_now().await;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        drop(gate);
        for (n, task) in (20..).zip(tasks) {
            let answer = task.await.ok().and_then(Result::ok);
            assert_eq!(answer, Some((n, 2 * n)));
        }
        let batches = lock(&batcher.batch().batches).clone();
        assert!(batches.len() <= 3, "{batches:?}");
        assert_eq!(
            batches.concat(),
            (20..40).collect::<Vec<_>>(),
            "arrival order"
        );
    }

    #[tokio::test]
    async fn a_faulty_job_fails_alone() {
        let batcher = doubler(Policy::DEFAULT);
        let gate = batcher.batch().gate.acquire().await.ok();
        let mut tasks = Vec::new();
        for n in [1, 13, 3] {
            let b = batcher.clone();
            tasks.push(tokio::spawn(async move { b.submit(1, n).await }));
            tokio::task::yield_now().await;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        drop(gate);
        let mut answers = Vec::new();
        for task in tasks {
            answers.push(task.await.ok());
        }
        assert!(matches!(answers[0], Some(Ok((1, 2)))), "{answers:?}");
        assert!(
            matches!(&answers[1], Some(Err(DomainError::Db(DbErr::Custom(m)))) if m == "unlucky"),
            "{answers:?}"
        );
        assert!(matches!(answers[2], Some(Ok((3, 6)))), "{answers:?}");
    }

    #[tokio::test]
    async fn a_busy_database_is_retried_then_reported_busy() {
        let batcher = doubler(Policy::DEFAULT);
        batcher.batch().busy.store(2, Ordering::SeqCst);
        assert_eq!(batcher.submit(1, 4).await.ok(), Some((4, 8)), "retried");
        batcher.batch().busy.store(100, Ordering::SeqCst);
        assert!(matches!(batcher.submit(1, 4).await, Err(DomainError::Busy)));
    }

    #[tokio::test]
    async fn a_full_queue_asks_callers_to_retry() {
        let batcher = doubler(Policy {
            queue: 2,
            ..Policy::DEFAULT
        });
        let gate = batcher.batch().gate.acquire().await.ok();
        let mut tasks = Vec::new();
        for n in 0..6 {
            let b = batcher.clone();
            tasks.push(tokio::spawn(async move { b.submit(1, n).await }));
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        drop(gate);
        let mut busy = 0;
        for task in tasks {
            if matches!(task.await, Ok(Err(DomainError::Busy))) {
                busy += 1;
            }
        }
        assert!(busy >= 2, "{busy} of 6 told to retry");
    }

    /// Records each batch as it starts, passes its turn, then waits for the
    /// gate: as a placement that holds the event's lock until it commits.
    struct Overlap {
        started: Mutex<Vec<Vec<i64>>>,
        gate: tokio::sync::Semaphore,
    }

    impl Batch for Overlap {
        type Key = u8;
        type Job = i64;
        type Answer = i64;

        async fn decide(
            &self,
            _key: u8,
            jobs: &[&i64],
            turn: &mut Turn,
        ) -> Result<Vec<i64>, DbErr> {
            lock(&self.started).push(jobs.iter().map(|j| **j).collect());
            turn.pass();
            let _permit = self.gate.acquire().await;
            Ok(jobs.iter().map(|j| **j * 2).collect())
        }
    }

    #[tokio::test]
    async fn the_next_batch_is_gathered_while_one_is_in_flight_and_order_holds() {
        let batcher = Batcher::new(
            Overlap {
                started: Mutex::default(),
                gate: tokio::sync::Semaphore::new(1),
            },
            Policy {
                in_flight: 2,
                ..Policy::DEFAULT
            },
        );
        let gate = batcher.batch().gate.acquire().await.ok();
        let mut tasks = Vec::new();
        for n in 0..30 {
            let b = batcher.clone();
            tasks.push(tokio::spawn(async move { b.submit(1, n).await }));
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        let started = lock(&batcher.batch().started).clone();
        assert_eq!(
            started.len(),
            2,
            "a second batch started while the first waits: {started:?}"
        );
        drop(gate);
        for (n, task) in (0..).zip(tasks) {
            assert_eq!(task.await.ok().and_then(Result::ok), Some((n, 2 * n)));
        }
        let started = lock(&batcher.batch().started).clone();
        assert_eq!(
            started.concat(),
            (0..30).collect::<Vec<_>>(),
            "arrival order"
        );
    }

    #[tokio::test]
    async fn idle_workers_exit_and_leave_the_map() {
        let batcher = doubler(Policy {
            idle: Duration::from_millis(30),
            ..Policy::DEFAULT
        });
        for key in 0..5 {
            assert!(batcher.submit(key, 1).await.is_ok());
        }
        assert_eq!(batcher.workers(), 5);
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert_eq!(batcher.workers(), 0);
        // A key seen again gets a new worker.
        assert_eq!(batcher.submit(3, 5).await.ok(), Some((5, 10)));
        assert_eq!(batcher.workers(), 1);
    }
}

//! The running gateway: builds state from a validated config, owns the
//! listeners, the delivery tasks and the shutdown order, and swaps in a new
//! config on reload.
//!
//! Shutdown order (SIGTERM/SIGINT): stop accepting; let in-flight requests
//! finish (their events are fsync'd before they are answered); stop the
//! delivery workers between batches; flush every outbox; exit 0. Everything
//! is bounded by `server.shutdown_grace_seconds`.

pub mod reload;
pub mod serve;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::{Config, Delivery, PartnerConfig};
use crate::delivery::push::PushWorker;
use crate::identity::SubjectHasher;
use crate::ingest::dedup::Dedup;
use crate::metrics::Metrics;
use crate::optout::OptOutStore;
use crate::outbox::{PartnerOutbox, Store, Stream};
use crate::policy::Policy;
use crate::util::now_ms;

/// What a reload replaces as a whole.
#[derive(Debug)]
pub struct Runtime {
    pub config: Config,
    pub policy: Policy,
}

#[derive(Debug)]
pub struct App {
    runtime: RwLock<Arc<Runtime>>,
    /// Every partner's outboxes, on whichever backend is configured.
    pub outbox: Arc<Store>,
    pub optouts: Arc<OptOutStore>,
    pub dedup: Dedup,
    /// The idempotency window's entries, kept across restarts.
    pub journal: crate::ingest::journal::Journal,
    pub metrics: Metrics,
    pub hasher: SubjectHasher,
    /// Subject-access ledger, daily counters, key ids (data_dir/privacy.db).
    pub privacy: Arc<crate::privacy::Privacy>,
    pub feeds: RwLock<HashMap<String, Arc<PullFeed>>>,
    /// Pull partners' notice feeds.
    pub notice_feeds: RwLock<HashMap<String, Arc<PullFeed>>>,
    workers: Mutex<HashMap<String, PushWorker>>,
    /// Push partners' notice workers (those with a notice_endpoint).
    notice_workers: Mutex<HashMap<String, PushWorker>>,
    pub ready: AtomicBool,
    pub quotas: crate::ingest::quota::Quotas,
    pub in_flight: crate::ingest::quota::InFlight,
    /// Flips to true when shutdown starts; delivery and long-polls watch it.
    pub stopping: watch::Sender<bool>,
    config_path: Option<PathBuf>,
    /// Push workers run here, on threads of their own.
    delivery_rt: crate::delivery::runtime::DeliveryRuntime,
    /// Reload requests (SIGHUP and `POST /admin/reload` alike), answered
    /// one at a time by the supervisor [`run`] starts.
    reloads: reload::Requests,
    /// The data dir's lock ([`lock_data_dir`]), held until the process ends.
    _data_lock: std::fs::File,
}

/// The lock file in the data dir: one gateway per data dir.
pub const LOCK_FILE: &str = "adgate.lock";

/// Takes the data dir's exclusive lock (an advisory `flock` on
/// [`LOCK_FILE`], released by the kernel when the process ends, however it
/// ends). Two gateways on one data dir would each keep their own end
/// offsets, ack positions and idempotency window over the same segment
/// files and lose acknowledged events; the second one refuses to start,
/// whatever path (a symlink) names the directory, also while the first is
/// still in its graceful shutdown.
fn lock_data_dir(data: &std::path::Path) -> Result<std::fs::File, String> {
    let path = data.join(LOCK_FILE);
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| format!("cannot open the data_dir lock {}: {e}", path.display()))?;
    match f.try_lock() {
        Ok(()) => Ok(f),
        Err(std::fs::TryLockError::WouldBlock) => Err(format!(
            "data_dir {} is in use by another adgate process (it holds {}); stop that one first (a gateway still shutting down lets go when it exits), or give this one its own server.data_dir",
            data.display(),
            path.display()
        )),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(format!("cannot lock the data_dir {}: {e}", path.display()))
        }
    }
}

/// A partner's feed and the token that reads it.
#[derive(Debug)]
pub struct PullFeed {
    pub partner: String,
    token: Mutex<crate::secret::Secret>,
    pub feed: Arc<crate::outbox::Feed>,
}

fn is_opt_out(line: &[u8]) -> bool {
    crate::notice::NoticeType::of_line(line) == crate::notice::NoticeType::OptedOut
}

impl PullFeed {
    /// The feed of partner `p` on its outbox `ob` (events or notices).
    pub fn new(
        p: &PartnerConfig,
        pull: &crate::config::PullConfig,
        ob: &PartnerOutbox,
    ) -> PullFeed {
        let tag: crate::outbox::feed::Tag = match ob.stream() {
            Stream::Events => None,
            Stream::Notices => Some(is_opt_out),
        };
        PullFeed {
            partner: p.name.clone(),
            token: Mutex::new(pull.token.clone()),
            feed: Arc::new(ob.feed(pull.lease, p.batch_max_events, tag)),
        }
    }

    pub fn update(&self, p: &PartnerConfig, pull: &crate::config::PullConfig) {
        *self.token.lock().unwrap() = pull.token.clone();
        self.feed.update(pull.lease, p.batch_max_events);
    }

    pub fn token_matches(&self, t: &[u8]) -> bool {
        self.token.lock().unwrap().ct_eq(t)
    }
}

impl App {
    /// Opens the data dir (or connects to JetStream) and builds every
    /// component. Binds nothing.
    pub async fn build(config: Config, config_path: Option<PathBuf>) -> Result<Arc<App>, String> {
        let data = config.server.data_dir.clone();
        std::fs::create_dir_all(&data)
            .map_err(|e| format!("cannot create data_dir {}: {e}", data.display()))?;
        let data_lock = lock_data_dir(&data)?;
        // A key id stays bound to the secret it was first served with.
        crate::keyprint::check(&data, &config)?;
        crate::keyprint::record(&data, &config)?;
        let metrics = Metrics::new();
        // Before the store: JetStream's delivery connection is made on it.
        let delivery_rt = crate::delivery::runtime::DeliveryRuntime::start()
            .map_err(|e| format!("cannot start the delivery runtime: {e}"))?;
        let opened = Store::open(&config, &metrics, delivery_rt.handle()).await?;
        let dedup = Dedup::new(crate::ingest::dedup::DEFAULT_MAX_ENTRIES);
        for (h, ms) in opened.recovered {
            dedup.seed(h, ms);
        }
        // The ids whose outbox records are gone (delivered and deleted)
        // come back from the window's journal.
        let (journal, journaled) = crate::ingest::journal::Journal::open(
            &data,
            crate::ingest::dedup::DEFAULT_MAX_ENTRIES,
            now_ms(),
        )
        .map_err(|e| {
            format!(
                "cannot open the idempotency journal {}: {e}",
                data.join(crate::ingest::journal::DIR).display()
            )
        })?;
        for (h, ms) in journaled {
            dedup.seed(h, ms);
        }
        let (optouts, hasher) = (opened.optouts, opened.hasher);
        let fleet = opened.shared_ledger.map(|bucket| {
            crate::privacy::fleet::FleetLedger::new(
                bucket,
                optouts.clone(),
                metrics.clone(),
                &config,
            )
        });
        let privacy = crate::privacy::Privacy::open(&data, &config, metrics.clone(), fleet)
            .map_err(|e| {
                format!(
                    "cannot open the privacy store {}: {e}",
                    data.join(crate::privacy::DB_FILE).display()
                )
            })?;
        let policy = Policy::new(&config, hasher.clone());
        let (stopping, _) = watch::channel(false);
        let app = Arc::new(App {
            runtime: RwLock::new(Arc::new(Runtime { config, policy })),
            outbox: opened.store,
            optouts,
            dedup,
            journal,
            metrics,
            hasher,
            privacy: Arc::new(privacy),
            feeds: RwLock::new(HashMap::new()),
            notice_feeds: RwLock::new(HashMap::new()),
            workers: Mutex::new(HashMap::new()),
            notice_workers: Mutex::new(HashMap::new()),
            ready: AtomicBool::new(false),
            quotas: Default::default(),
            in_flight: Default::default(),
            stopping,
            config_path,
            _data_lock: data_lock,
            reloads: reload::Requests::new(),
            delivery_rt,
        });
        Ok(app)
    }

    pub fn runtime(&self) -> Arc<Runtime> {
        self.runtime.read().unwrap().clone()
    }

    pub fn is_stopping(&self) -> bool {
        *self.stopping.borrow()
    }

    /// Starts (or, on reload, reconciles) the per-partner outboxes, feeds
    /// and workers.
    pub(crate) async fn start_partners(self: &Arc<App>, config: &Config) -> std::io::Result<()> {
        for p in &config.partners {
            let (events, recovered) = self.outbox.ensure(p, Stream::Events).await?;
            for (h, ms) in recovered {
                self.dedup.seed(h, ms);
            }
            self.metrics
                .init_partner(&p.name, matches!(p.delivery, Delivery::Push(_)));
            self.attach(p, events)?;
            if p.receives_notices() {
                let (notices, _) = self.outbox.ensure(p, Stream::Notices).await?;
                self.attach(p, notices)?;
            } else {
                self.notice_feeds.write().unwrap().remove(&p.name);
                self.stop_notice_worker(&p.name);
            }
        }
        // Partners gone from the config lose their feed, worker and writer;
        // their data stays for an operator to inspect.
        let names: Vec<&str> = config.partners.iter().map(|p| p.name.as_str()).collect();
        for n in self.outbox.names() {
            if names.contains(&n.as_str()) {
                continue;
            }
            tracing::info!(partner = %n, "partner removed from the config; its outbox is closed and its data kept");
            self.feeds.write().unwrap().remove(&n);
            self.notice_feeds.write().unwrap().remove(&n);
            self.stop_worker(&n);
            self.outbox.remove(&n);
        }
        Ok(())
    }

    /// The feed (pull) or worker (push) of partner `p` on its outbox `ob`
    /// (events, or notices).
    fn attach(self: &Arc<App>, p: &PartnerConfig, ob: PartnerOutbox) -> std::io::Result<()> {
        let stream = ob.stream();
        let (feeds, workers) = match stream {
            Stream::Events => (&self.feeds, &self.workers),
            Stream::Notices => (&self.notice_feeds, &self.notice_workers),
        };
        match &p.delivery {
            Delivery::Pull(pull) => {
                if let Some(w) = workers.lock().unwrap().remove(&p.name) {
                    w.stop();
                }
                let mut feeds = feeds.write().unwrap();
                match feeds.get(&p.name) {
                    Some(f) => f.update(p, pull),
                    None => {
                        feeds.insert(p.name.clone(), Arc::new(PullFeed::new(p, pull, &ob)));
                    }
                }
            }
            Delivery::Push(_) => {
                feeds.write().unwrap().remove(&p.name);
                if let Some(w) = workers.lock().unwrap().remove(&p.name) {
                    w.stop();
                }
                let w = PushWorker::start(self.delivery_deps(), p.clone(), &ob)?;
                workers.lock().unwrap().insert(p.name.clone(), w);
            }
        }
        Ok(())
    }

    /// What the ingest write path needs of the gateway.
    pub fn writer(&self) -> crate::ingest::Writer<'_> {
        crate::ingest::Writer {
            outbox: &self.outbox,
            dedup: &self.dedup,
            journal: Some(&self.journal),
            hasher: &self.hasher,
            optouts: &self.optouts,
            metrics: &self.metrics,
        }
    }

    /// What push delivery needs of the gateway.
    fn delivery_deps(&self) -> crate::delivery::push::Deps {
        crate::delivery::push::Deps {
            metrics: self.metrics.clone(),
            privacy: self.privacy.clone(),
            runtime: self.delivery_rt.handle().clone(),
        }
    }

    fn stop_worker(&self, name: &str) {
        if let Some(w) = self.workers.lock().unwrap().remove(name) {
            w.stop();
        }
        self.stop_notice_worker(name);
    }

    fn stop_notice_worker(&self, name: &str) {
        if let Some(w) = self.notice_workers.lock().unwrap().remove(name) {
            w.stop();
        }
    }

    /// Refreshes the gauges (called before each /metrics render).
    pub async fn refresh_gauges(&self) {
        self.metrics.in_flight.set(self.in_flight.current() as i64);
        self.outbox.refresh().await;
        self.outbox.set_gauges();
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed) && !self.is_stopping() && self.outbox.is_ready()
    }
}

/// Listeners bound before the server runs (so tests can bind port 0).
pub struct Listeners {
    pub main: TcpListener,
    pub metrics: Option<TcpListener>,
}

impl Listeners {
    pub async fn bind(config: &Config) -> std::io::Result<Listeners> {
        let main = TcpListener::bind(config.server.listen).await?;
        let metrics = match config.server.metrics_listen {
            Some(a) => Some(TcpListener::bind(a).await?),
            None => None,
        };
        Ok(Listeners { main, metrics })
    }

    pub fn main_addr(&self) -> SocketAddr {
        self.main.local_addr().expect("bound")
    }
}

/// Runs `work` every `period` on a blocking thread (off the async
/// workers), until the gateway stops.
fn every_off_workers(app: &Arc<App>, period: Duration, work: fn(&App)) {
    let app = app.clone();
    let mut stop = app.stopping.subscribe();
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(period) => {
                    let app = app.clone();
                    let _ = tokio::task::spawn_blocking(move || work(&app)).await;
                }
                _ = stop.changed() => break,
            }
        }
    });
}

/// Runs the gateway until `shutdown` resolves, then shuts down in order.
/// `router` answers each request (crate::api::router).
pub async fn run(
    app: Arc<App>,
    router: serve::Router,
    listeners: Listeners,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let config = app.runtime().config.clone();
    for p in &config.producers {
        app.metrics.init_producer(&p.name);
    }
    app.start_partners(&config).await?;
    app.outbox.start(app.stopping.subscribe());
    reload::supervise(&app);
    app.ready.store(true, Ordering::Relaxed);

    // Sweep the idempotency window once a minute, off the async workers:
    // a sweep walks every entry (millions at the bound, tens of
    // milliseconds), which on a worker held up the requests queued on it.
    every_off_workers(&app, Duration::from_secs(60), |app| {
        app.dedup.sweep(now_ms())
    });
    // Write the idempotency journal's records once a second (an fsync).
    every_off_workers(&app, Duration::from_secs(1), |app| {
        app.journal.sync(now_ms())
    });

    // Give memory freed after a burst back to the system.
    {
        let mut stop = app.stopping.subscribe();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(crate::util::MEMORY_TRIM_INTERVAL) => {
                        let _ = tokio::task::spawn_blocking(crate::util::trim_memory).await;
                    }
                    _ = stop.changed() => break,
                }
            }
        });
    }

    let grace = config.server.shutdown_grace;
    let (conn_stop_tx, conn_stop_rx) = watch::channel(false);
    let main_srv = tokio::spawn(serve::serve(
        app.clone(),
        router,
        listeners.main,
        serve::Role::Main {
            metrics_here: listeners.metrics.is_none(),
        },
        conn_stop_rx.clone(),
    ));
    let metrics_srv = listeners.metrics.map(|l| {
        tokio::spawn(serve::serve(
            app.clone(),
            router,
            l,
            serve::Role::MetricsOnly,
            conn_stop_rx.clone(),
        ))
    });

    shutdown.await;
    tracing::info!(
        grace_seconds = grace.as_secs(),
        "shutting down: no new connections, finishing in-flight requests"
    );
    let deadline = tokio::time::Instant::now() + grace;
    app.ready.store(false, Ordering::Relaxed);
    // Long-polls answer now (empty) and delivery stops between batches, so
    // neither holds the shutdown until the grace period ends.
    let _ = app.stopping.send(true);
    let _ = conn_stop_tx.send(true);
    // The servers return when their connections are done or the grace is over.
    let _ = tokio::time::timeout_at(deadline, main_srv).await;
    if let Some(m) = metrics_srv {
        let _ = tokio::time::timeout_at(deadline, m).await;
    }
    let mut workers: Vec<PushWorker> = app
        .workers
        .lock()
        .unwrap()
        .drain()
        .map(|(_, w)| w)
        .collect();
    workers.extend(app.notice_workers.lock().unwrap().drain().map(|(_, w)| w));
    for w in workers {
        w.stop_and_wait(deadline).await;
    }
    // Delivery has stopped: the fleet ledger's last rows, while NATS is
    // still open.
    let _ = tokio::time::timeout_at(deadline, app.privacy.flush_fleet()).await;
    app.outbox.close(deadline).await;
    {
        // The requests are done: the window's last entries, within the
        // grace (a frozen disk must not hold the shutdown; the outbox has
        // the events).
        let app = app.clone();
        let _ = tokio::time::timeout_at(
            deadline,
            tokio::task::spawn_blocking(move || app.journal.sync(now_ms())),
        )
        .await;
    }
    // Last: delivery has stopped, so the final ledger rows and counter
    // deltas are complete.
    {
        let app = app.clone();
        let deadline = deadline.into_std();
        let _ = tokio::task::spawn_blocking(move || app.privacy.close(deadline)).await;
    }
    tracing::info!("shutdown complete");
    Ok(())
}

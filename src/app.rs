//! The running gateway: builds state from a validated config, owns the
//! listeners, the delivery tasks and the shutdown order, and swaps in a new
//! config on reload.
//!
//! Shutdown order (SIGTERM/SIGINT): stop accepting; let in-flight requests
//! finish (their events are fsync'd before they are answered); stop the
//! delivery workers between batches; flush every outbox; exit 0. Everything
//! is bounded by `server.shutdown_grace_seconds`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::{Config, Delivery, OutboxBackend, PartnerConfig};
use crate::dedup::Dedup;
use crate::feed::PullFeed;
use crate::identity::SubjectHasher;
use crate::metrics::Metrics;
use crate::optout::OptOutStore;
use crate::outbox::jetstream::JetStream;
use crate::outbox::{Outbox, Stream};
use crate::policy::Policy;
use crate::push::PushWorker;
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
    /// The embedded outboxes (none are opened with the JetStream backend).
    pub outbox: Outbox,
    /// The embedded notice outboxes, one per partner (crate::notice).
    pub notices: Outbox,
    /// The JetStream backend, when `[outbox] backend = "jetstream"`.
    pub js: Option<Arc<JetStream>>,
    pub optouts: Arc<OptOutStore>,
    pub dedup: Dedup,
    pub metrics: Metrics,
    pub hasher: SubjectHasher,
    /// Subject-access ledger, daily counters, key ids (data_dir/privacy.db).
    pub privacy: crate::privacy::Privacy,
    pub feeds: RwLock<HashMap<String, Arc<PullFeed>>>,
    /// Pull partners' notice feeds.
    pub notice_feeds: RwLock<HashMap<String, Arc<PullFeed>>>,
    workers: Mutex<HashMap<String, PushWorker>>,
    /// Push partners' notice workers (those with a notice_endpoint).
    notice_workers: Mutex<HashMap<String, PushWorker>>,
    pub ready: AtomicBool,
    pub quotas: crate::quota::Quotas,
    pub in_flight: crate::quota::InFlight,
    /// Flips to true when shutdown starts; delivery and long-polls watch it.
    pub stopping: watch::Sender<bool>,
    config_path: Option<PathBuf>,
    reload_lock: tokio::sync::Mutex<()>,
}

/// Where a partner's outbox lives: the embedded log or a JetStream stream.
enum Backing {
    Log(Arc<crate::outbox::PartnerLog>),
    Js(Arc<crate::outbox::jetstream::JsPartner>),
}

/// Reads or creates a 32-byte secret file with mode 0600.
pub fn load_or_create_key(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::read(path) {
        Ok(b) if b.len() >= 32 => return Ok(b),
        Ok(_) => {
            return Err(std::io::Error::other(format!(
                "{} is shorter than 32 bytes; restore it from backup (it keys the opt-out list)",
                path.display()
            )))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let mut key = vec![0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut key);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(&key)?;
    f.sync_all()?;
    Ok(key)
}

impl App {
    /// Opens the data dir (or connects to JetStream) and builds every
    /// component. Binds nothing.
    pub async fn build(config: Config, config_path: Option<PathBuf>) -> Result<Arc<App>, String> {
        let data = config.server.data_dir.clone();
        std::fs::create_dir_all(&data)
            .map_err(|e| format!("cannot create data_dir {}: {e}", data.display()))?;
        let js_cfg = match &config.outbox {
            OutboxBackend::Embedded => None,
            OutboxBackend::JetStream(j) => Some(j.clone()),
        };
        let hasher = match &js_cfg {
            // Every replica must key opt-outs and event ids alike.
            Some(j) => SubjectHasher::new(j.internal_key.expose()),
            None => {
                let internal = load_or_create_key(&data.join("internal.key")).map_err(|e| {
                    format!(
                        "cannot read or create the internal key in {}: {e}",
                        data.display()
                    )
                })?;
                SubjectHasher::new(&internal)
            }
        };
        // A key id stays bound to the secret it was first served with.
        crate::keyprint::check(&data, &config)?;
        crate::keyprint::record(&data, &config)?;
        let metrics = Metrics::new();
        let embedded_partners: &[crate::config::PartnerConfig] = match js_cfg {
            Some(_) => &[],
            None => &config.partners,
        };
        let (outbox, recovered) = Outbox::open(&data, embedded_partners)
            .map_err(|e| format!("cannot open the outbox in {}: {e}", data.display()))?;
        let (notices, recovered_notices) =
            Outbox::open_stream(&data, Stream::Notices, embedded_partners)
                .map_err(|e| format!("cannot open the notice outbox in {}: {e}", data.display()))?;
        for (name, r) in recovered_notices.iter().filter(|(_, r)| r.records > 0) {
            tracing::info!(partner = %name, notices = r.records, "notice outbox opened");
        }
        let dedup = Dedup::new(crate::dedup::DEFAULT_MAX_ENTRIES);
        for (name, r) in recovered {
            tracing::info!(
                partner = %name,
                events = r.records,
                bytes = r.bytes,
                truncated_bytes = r.truncated_bytes,
                "outbox opened"
            );
            for (h, ms) in r.event_hashes {
                dedup.seed(h, ms);
            }
        }
        let (optouts, js) = match &js_cfg {
            Some(j) => {
                let optouts = Arc::new(OptOutStore::cache());
                let js = JetStream::open(
                    j,
                    &config.partners,
                    &optouts,
                    config.privacy.access_retention_days,
                )
                .await?;
                (optouts, Some(js))
            }
            None => (
                Arc::new(OptOutStore::open(&data.join("optouts.log")).map_err(|e| {
                    format!("cannot open the opt-out list in {}: {e}", data.display())
                })?),
                None,
            ),
        };
        let fleet = js.as_ref().map(|js| {
            crate::privacy::fleet::FleetLedger::new(
                js.clone(),
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
            outbox,
            notices,
            js,
            optouts,
            dedup,
            metrics,
            hasher,
            privacy,
            feeds: RwLock::new(HashMap::new()),
            notice_feeds: RwLock::new(HashMap::new()),
            workers: Mutex::new(HashMap::new()),
            notice_workers: Mutex::new(HashMap::new()),
            ready: AtomicBool::new(false),
            quotas: Default::default(),
            in_flight: Default::default(),
            stopping,
            config_path,
            reload_lock: tokio::sync::Mutex::new(()),
        });
        Ok(app)
    }

    pub fn runtime(&self) -> Arc<Runtime> {
        self.runtime.read().unwrap().clone()
    }

    pub fn is_stopping(&self) -> bool {
        *self.stopping.borrow()
    }

    /// Starts (or, on reload, reconciles) the per-partner feeds and workers,
    /// on whichever backend holds the partners' outboxes.
    pub(crate) async fn start_partners(self: &Arc<App>, config: &Config) -> std::io::Result<()> {
        for p in &config.partners {
            let backing = match &self.js {
                Some(js) => Backing::Js(js.ensure(p).await.map_err(std::io::Error::other)?),
                None => {
                    let (log, rec) = self.outbox.ensure(p)?;
                    if let Some(r) = rec {
                        for (h, ms) in r.event_hashes {
                            self.dedup.seed(h, ms);
                        }
                    }
                    Backing::Log(log)
                }
            };
            self.attach_partner(p, backing)?;
            match &self.js {
                None => self.attach_notices(p)?,
                Some(js) => self.attach_js_notices(js, p).await?,
            }
        }
        // Partners gone from the config lose their feed, worker and writer;
        // their data stays (files on disk, or streams in JetStream) for an
        // operator to inspect.
        let names: Vec<&str> = config.partners.iter().map(|p| p.name.as_str()).collect();
        let open: Vec<String> = match &self.js {
            Some(js) => js.all().iter().map(|jp| jp.name.clone()).collect(),
            None => self
                .outbox
                .all()
                .iter()
                .map(|l| l.name().to_owned())
                .collect(),
        };
        for n in open.into_iter().filter(|n| !names.contains(&n.as_str())) {
            tracing::info!(partner = %n, "partner removed from the config; its outbox is closed and its data kept");
            self.feeds.write().unwrap().remove(&n);
            self.notice_feeds.write().unwrap().remove(&n);
            self.stop_worker(&n);
            match &self.js {
                Some(js) => js.remove(&n),
                None => {
                    self.outbox.remove(&n);
                    self.notices.remove(&n);
                }
            }
        }
        Ok(())
    }

    /// Metrics, and the feed or worker of partner `p` on its outbox.
    fn attach_partner(self: &Arc<App>, p: &PartnerConfig, backing: Backing) -> std::io::Result<()> {
        self.metrics
            .init_partner(&p.name, matches!(p.delivery, Delivery::Push(_)));
        if let Backing::Js(_) = backing {
            self.metrics
                .jetstream_consumer_lag
                .with_label_values(&[&p.name]);
        }
        self.metrics
            .outbox_max_bytes
            .with_label_values(&[&p.name])
            .set(p.outbox_max_bytes as i64);
        match &p.delivery {
            Delivery::Pull(pull) => {
                self.stop_worker(&p.name);
                let mut feeds = self.feeds.write().unwrap();
                match feeds.get(&p.name) {
                    Some(f) => f.update(p, pull),
                    None => {
                        let feed = match backing {
                            Backing::Log(log) => PullFeed::new(p, pull, log, Stream::Events),
                            Backing::Js(jp) => PullFeed::new_js(p, pull, jp),
                        };
                        feeds.insert(p.name.clone(), Arc::new(feed));
                    }
                }
            }
            Delivery::Push(_) => {
                self.feeds.write().unwrap().remove(&p.name);
                self.stop_worker(&p.name);
                let w = match backing {
                    Backing::Log(log) => {
                        PushWorker::start(self.clone(), p.clone(), log, Stream::Events)?
                    }
                    Backing::Js(jp) => PushWorker::start_js(self.clone(), p.clone(), jp)?,
                };
                self.workers.lock().unwrap().insert(p.name.clone(), w);
            }
        }
        Ok(())
    }

    /// The notice outbox of partner `p` and its feed (pull) or worker
    /// (push with a `notice_endpoint`), like [`App::attach_partner`] does
    /// for events. Embedded backend only.
    fn attach_notices(self: &Arc<App>, p: &PartnerConfig) -> std::io::Result<()> {
        let (log, _) = self.notices.ensure(p)?;
        match &p.delivery {
            Delivery::Pull(pull) => {
                self.stop_notice_worker(&p.name);
                let mut feeds = self.notice_feeds.write().unwrap();
                match feeds.get(&p.name) {
                    Some(f) => f.update(p, pull),
                    None => {
                        let feed = PullFeed::new(p, pull, log, Stream::Notices);
                        feeds.insert(p.name.clone(), Arc::new(feed));
                    }
                }
            }
            Delivery::Push(push) => {
                self.notice_feeds.write().unwrap().remove(&p.name);
                self.stop_notice_worker(&p.name);
                if push.notice_endpoint.is_some() {
                    let w = PushWorker::start(self.clone(), p.clone(), log, Stream::Notices)?;
                    self.notice_workers
                        .lock()
                        .unwrap()
                        .insert(p.name.clone(), w);
                }
            }
        }
        Ok(())
    }

    /// JetStream backend: partner `p`'s notice stream and its feed (pull)
    /// or, for a push partner with a `notice_endpoint`, its notice worker.
    async fn attach_js_notices(
        self: &Arc<App>,
        js: &Arc<JetStream>,
        p: &PartnerConfig,
    ) -> std::io::Result<()> {
        self.stop_notice_worker(&p.name);
        if let Delivery::Push(push) = &p.delivery {
            self.notice_feeds.write().unwrap().remove(&p.name);
            if push.notice_endpoint.is_none() {
                return Ok(());
            }
        }
        let jp = js
            .ensure_stream_of(p, Stream::Notices)
            .await
            .map_err(std::io::Error::other)?;
        match &p.delivery {
            Delivery::Pull(pull) => {
                let mut feeds = self.notice_feeds.write().unwrap();
                match feeds.get(&p.name) {
                    Some(f) => f.update(p, pull),
                    None => {
                        let feed = PullFeed::new_js(p, pull, jp);
                        feeds.insert(p.name.clone(), Arc::new(feed));
                    }
                }
            }
            Delivery::Push(_) => {
                let w = PushWorker::start_js(self.clone(), p.clone(), jp)?;
                self.notice_workers
                    .lock()
                    .unwrap()
                    .insert(p.name.clone(), w);
            }
        }
        Ok(())
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

    /// Re-reads the config file; swaps it in if valid. Returns the error
    /// message if not (the old config stays).
    pub async fn reload(self: &Arc<App>) -> Result<(), String> {
        let _guard = self.reload_lock.lock().await;
        let result = match &self.config_path {
            None => Err(
                "the embedded demo config cannot be reloaded; start with --config FILE".to_string(),
            ),
            Some(path) => match Config::load(path) {
                Err(e) => Err(e.to_string()),
                Ok(new) => {
                    let old = self.runtime();
                    if new.server.data_dir != old.config.server.data_dir
                        || new.server.listen != old.config.server.listen
                        || new.server.metrics_listen != old.config.server.metrics_listen
                    {
                        Err("server.listen, server.metrics_listen and server.data_dir cannot change on reload; restart adgate".into())
                    } else if new.server.tls.is_some() != old.config.server.tls.is_some() {
                        // The listeners speak TLS or not from the start; the
                        // certificate, key and client CA may change.
                        Err(
                            "[server.tls] cannot be added or removed on reload; restart adgate"
                                .into(),
                        )
                    } else if let Some(msg) = profile_change(&old.config, &new) {
                        Err(msg)
                    } else {
                        let policy = Policy::new(&new, self.hasher.clone());
                        if !same_backend(&new.outbox, &old.config.outbox) {
                            return self.reload_result(Err(
                                "the [outbox] section cannot change on reload; restart adgate"
                                    .into(),
                            ));
                        }
                        let data = &new.server.data_dir;
                        if let Err(e) = crate::keyprint::check(data, &new)
                            .and_then(|()| crate::keyprint::record(data, &new))
                        {
                            return self.reload_result(Err(e));
                        }
                        match self.start_partners(&new).await {
                            Err(e) => Err(format!("cannot open an outbox: {e}")),
                            Ok(()) => {
                                for p in &new.producers {
                                    self.metrics.init_producer(&p.name);
                                }
                                self.privacy.configure(&new).await;
                                *self.runtime.write().unwrap() = Arc::new(Runtime {
                                    config: new,
                                    policy,
                                });
                                Ok(())
                            }
                        }
                    }
                }
            },
        };
        self.reload_result(result)
    }

    fn reload_result(&self, result: Result<(), String>) -> Result<(), String> {
        match &result {
            Ok(()) => {
                self.metrics.config_reloads.with_label_values(&["ok"]).inc();
                tracing::info!("config reloaded");
            }
            Err(e) => {
                self.metrics
                    .config_reloads
                    .with_label_values(&["error"])
                    .inc();
                tracing::error!(error = %e, "config reload refused; the running config stays");
            }
        }
        result
    }

    /// Refreshes the outbox gauges (called before each /metrics render).
    pub fn refresh_gauges(&self) {
        self.metrics.in_flight.set(self.in_flight.current() as i64);
        if let Some(js) = &self.js {
            for jp in js.all() {
                let l = [jp.name.as_str()];
                self.metrics
                    .outbox_events
                    .with_label_values(&l)
                    .set(jp.pending_events() as i64);
                self.metrics
                    .outbox_bytes
                    .with_label_values(&l)
                    .set(jp.pending_bytes() as i64);
                self.metrics
                    .jetstream_consumer_lag
                    .with_label_values(&l)
                    .set(jp.lag() as i64);
            }
        }
        for l in self.outbox.all() {
            self.metrics
                .outbox_events
                .with_label_values(&[l.name()])
                .set(l.pending_events() as i64);
            self.metrics
                .outbox_bytes
                .with_label_values(&[l.name()])
                .set(l.pending_bytes() as i64);
        }
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed)
            && !self.is_stopping()
            && self.outbox.all().iter().all(|l| l.is_writable())
            && self.notices.all().iter().all(|l| l.is_writable())
            && self.js.as_ref().is_none_or(|j| j.is_ready())
    }
}

fn same_backend(a: &OutboxBackend, b: &OutboxBackend) -> bool {
    match (a, b) {
        (OutboxBackend::Embedded, OutboxBackend::Embedded) => true,
        (OutboxBackend::JetStream(x), OutboxBackend::JetStream(y)) => {
            x.servers == y.servers && x.replicas == y.replicas && x.internal_key == y.internal_key
        }
        _ => false,
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

/// Runs the gateway until `shutdown` resolves, then shuts down in order.
pub async fn run(
    app: Arc<App>,
    listeners: Listeners,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let config = app.runtime().config.clone();
    for p in &config.producers {
        app.metrics.init_producer(&p.name);
    }
    app.start_partners(&config).await?;
    if let Some(js) = &app.js {
        tokio::spawn(js.clone().follow_state(app.stopping.subscribe()));
    }
    app.ready.store(true, Ordering::Relaxed);

    // Sweep the idempotency window once a minute.
    {
        let app = app.clone();
        let mut stop = app.stopping.subscribe();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(60)) => app.dedup.sweep(now_ms()),
                    _ = stop.changed() => break,
                }
            }
        });
    }

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
    let main_srv = tokio::spawn(crate::server::serve(
        app.clone(),
        listeners.main,
        crate::server::Role::Main {
            metrics_here: listeners.metrics.is_none(),
        },
        conn_stop_rx.clone(),
    ));
    let metrics_srv = listeners.metrics.map(|l| {
        tokio::spawn(crate::server::serve(
            app.clone(),
            l,
            crate::server::Role::MetricsOnly,
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
    for ob in [&app.outbox, &app.notices] {
        ob.flush_all().await;
        ob.close_all();
    }
    if let Some(js) = &app.js {
        // Acks and naks still buffered reach the server before exit.
        let _ = tokio::time::timeout_at(deadline, js.delivery_client().flush()).await;
        let _ = tokio::time::timeout_at(deadline, js.client().flush()).await;
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

/// A partner whose `profile` a reload would change: its outbox holds events
/// encoded for the old profile, which the new framing would send to the
/// wrong API (see docs/profiles.md).
fn profile_change(old: &Config, new: &Config) -> Option<String> {
    new.partners.iter().enumerate().find_map(|(i, p)| {
        let before = old.partner(&p.name)?;
        (before.profile != p.profile).then(|| {
            format!(
                "partners[{i}].profile cannot change on reload ({} -> {}): the outbox holds events encoded for {}; give the partner a new name (a new outbox) instead",
                before.profile, p.profile, before.profile
            )
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::env_from;
    use std::collections::HashMap;
    use std::path::Path;

    fn config(profile: &str) -> Config {
        let toml = format!(
            r#"
[[partners]]
name = "acme"
{profile}
event_types = ["ad_impression"]
identifiers = ["email"]
[partners.profile_options]
pixel_id = "123"
event_names = {{ ad_impression = "ViewContent" }}
[partners.delivery]
mode = "push"
endpoint = "https://graph.example/v21.0/123/events"
access_token_env = "A"
[[partners.keys]]
id = "k1"
secret_env = "K"
"#
        );
        let env = env_from(HashMap::from([
            ("A".to_string(), "partner-token-0123456789".to_string()),
            (
                "K".to_string(),
                "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=".to_string(),
            ),
        ]));
        Config::from_toml(&toml, "t.toml", Path::new("."), &env).unwrap()
    }

    /// A reload may not switch a partner's profile under its outbox.
    #[test]
    fn a_profile_change_is_refused_on_reload() {
        let meta = config("profile = \"meta_capi\"\nlinkable_ids = \"accept\"");
        assert_eq!(profile_change(&meta, &meta), None);
        let tiktok_like = {
            let mut c = meta.clone();
            c.partners[0].profile = crate::profile::ProfileKind::TiktokEvents;
            c
        };
        let msg = profile_change(&meta, &tiktok_like).unwrap();
        assert!(
            msg.starts_with(
                "partners[0].profile cannot change on reload (meta_capi -> tiktok_events)"
            ),
            "{msg}"
        );
    }
}

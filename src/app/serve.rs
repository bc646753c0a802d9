//! The listeners: accept loop with a connection bound, HTTP/1.1 keep-alive
//! and h2c on one port (hyper-util's auto builder), or both over TLS with
//! ALPN when `[server.tls]` is set, slowloris limits (a first request head
//! due within `server.header_timeout_ms` of accept, at most
//! [`MAX_PENDING_CONNECTIONS`] connections without one), graceful
//! shutdown. Each request goes to the router the caller gives (crate::api's).

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::Request;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch, Semaphore};

use crate::app::App;
use crate::metrics::events::TlsHandshakeFailed;
use crate::tls::ClientCert;
use crate::web::Resp;

/// Open connections beyond this are closed at accept: memory stays bounded
/// however many clients connect.
pub const MAX_CONNECTIONS: usize = 4096;
/// Connections that have not yet completed their first request head (idle
/// since accept, mid-handshake, dribbling headers) held at most; beyond it
/// the oldest of them is closed to make room, so a flood of idle sockets
/// cannot keep a real client out.
pub const MAX_PENDING_CONNECTIONS: usize = 1024;
/// Request line + headers.
pub const MAX_HEADER_BYTES: usize = 64 * 1024;
/// Header fields of one HTTP/1.1 request. hyper's default is 100, and past
/// it hyper answers 431 itself, with no body and before any handler runs:
/// a producer behind proxies that add headers lost its request with an
/// unexplained 4xx (the fourteenth fault pass: 101 fields of 776 bytes).
/// Within [`MAX_HEADER_BYTES`], this many fit whatever their length; the
/// field table is then allocated per request (16 KiB), which a request of
/// hundreds of events does not notice.
pub const MAX_HEADER_FIELDS: usize = 512;

/// Answers a request: crate::api's router, given by the caller of
/// crate::app::run (the listeners know no route).
pub type Router = fn(
    Arc<App>,
    Role,
    Request<Incoming>,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = Resp> + Send>>;

#[derive(Debug, Clone, Copy)]
pub enum Role {
    /// Ingest, feed, admin, health; /metrics too when no metrics listener.
    Main { metrics_here: bool },
    /// Only /metrics and health.
    MetricsOnly,
}

impl Role {
    /// The `listener` label of the TLS metrics.
    pub fn listener(self) -> &'static str {
        match self {
            Role::Main { .. } => "main",
            Role::MetricsOnly => "metrics",
        }
    }

    /// The TLS server config this listener uses for a new connection: the
    /// one of the running config, so a reload's certificate applies to the
    /// next handshake. `None` when the config has no `[server.tls]`.
    pub(crate) fn tls_config(self, app: &App) -> Option<Arc<rustls::ServerConfig>> {
        let rt = app.runtime();
        let t = rt.config.server.tls.as_ref()?;
        Some(match self {
            Role::Main { .. } => t.main.clone(),
            Role::MetricsOnly => t.metrics.clone(),
        })
    }
}

fn handshake_failure(e: &std::io::Error) -> &'static str {
    match e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
        Some(rustls::Error::NoCertificatesPresented) => "no_client_certificate",
        Some(rustls::Error::InvalidCertificate(_)) => "bad_certificate",
        Some(rustls::Error::PeerIncompatible(_)) => "incompatible",
        Some(_) => "protocol",
        None => "io",
    }
}

/// Connections still waiting for their first complete request head, oldest
/// first; each can be told to close.
#[derive(Default)]
struct Pending {
    next: u64,
    waiting: BTreeMap<u64, oneshot::Sender<()>>,
}

/// A connection's place in [`Pending`]; leaving it (first request, or the
/// connection ending) removes the entry.
struct PendingGuard {
    pending: Arc<Mutex<Pending>>,
    id: u64,
}

impl Drop for PendingGuard {
    fn drop(&mut self) {
        self.pending.lock().unwrap().waiting.remove(&self.id);
    }
}

/// Enters a new connection, closing the oldest waiting one when
/// [`MAX_PENDING_CONNECTIONS`] are waiting already. Returns whether one
/// was closed.
fn enter_pending(pending: &Arc<Mutex<Pending>>) -> (PendingGuard, oneshot::Receiver<()>, bool) {
    let (tx, rx) = oneshot::channel();
    let mut p = pending.lock().unwrap();
    let mut evicted = false;
    while p.waiting.len() >= MAX_PENDING_CONNECTIONS {
        if let Some((_, old)) = p.waiting.pop_first() {
            let _ = old.send(());
            evicted = true;
        }
    }
    let id = p.next;
    p.next += 1;
    p.waiting.insert(id, tx);
    let guard = PendingGuard {
        pending: pending.clone(),
        id,
    };
    (guard, rx, evicted)
}

/// Keep-alive connections between requests, longest idle first. At
/// [`MAX_CONNECTIONS`] the longest idle one is closed to make room for a
/// new connection (as an HTTP server may close an idle keep-alive
/// connection at any time), so clients that hold thousands of finished
/// connections open cannot keep a health probe or a producer out.
#[derive(Default)]
struct Idle {
    next: u64,
    conns: BTreeMap<u64, Arc<ConnState>>,
}

/// One connection's requests in flight and its place in [`Idle`].
#[derive(Default)]
struct ConnState {
    in_flight: std::sync::atomic::AtomicUsize,
    idle_id: Mutex<Option<u64>>,
    /// The connection ended (an HTTP/2 stream's task may end after it).
    closed: std::sync::atomic::AtomicBool,
    /// Told to close while idle.
    evict: tokio::sync::Notify,
}

impl ConnState {
    fn request_started(&self, idle: &Mutex<Idle>) {
        self.in_flight
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        if self.idle_id.lock().unwrap().is_none() {
            return;
        }
        // Lock order: Idle, then idle_id (never idle_id held into Idle).
        let mut i = idle.lock().unwrap();
        if let Some(id) = self.idle_id.lock().unwrap().take() {
            i.conns.remove(&id);
        }
    }

    fn request_ended(self: &Arc<Self>, idle: &Mutex<Idle>) {
        if self
            .in_flight
            .fetch_sub(1, std::sync::atomic::Ordering::SeqCst)
            == 1
        {
            let mut i = idle.lock().unwrap();
            if self.closed.load(std::sync::atomic::Ordering::SeqCst) {
                return;
            }
            let id = i.next;
            i.next += 1;
            i.conns.insert(id, self.clone());
            if let Some(old) = self.idle_id.lock().unwrap().replace(id) {
                i.conns.remove(&old);
            }
        }
    }

    fn is_idle(&self) -> bool {
        self.in_flight.load(std::sync::atomic::Ordering::SeqCst) == 0
    }

    /// Leaves [`Idle`] when the connection ends.
    fn leave(&self, idle: &Mutex<Idle>) {
        let mut i = idle.lock().unwrap();
        self.closed.store(true, std::sync::atomic::Ordering::SeqCst);
        if let Some(id) = self.idle_id.lock().unwrap().take() {
            i.conns.remove(&id);
        }
    }
}

/// Tells the longest idle keep-alive connection to close; false when none
/// is idle.
fn evict_idle(idle: &Mutex<Idle>) -> bool {
    let Some((_, c)) = idle.lock().unwrap().conns.pop_first() else {
        return false;
    };
    c.idle_id.lock().unwrap().take();
    c.evict.notify_one();
    true
}

/// How long a new connection waits for the room an evicted idle one makes.
const EVICTION_WAIT: Duration = Duration::from_secs(1);

/// Resolves when the connection is told to close; never when the sender
/// is dropped (the connection left the pending set).
async fn told_to_close(rx: oneshot::Receiver<()>) {
    if rx.await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Warnings of a listener flood, once per 10 s with a count.
static FLOOD_WARNINGS: crate::util::LogLimiter = crate::util::LogLimiter::new();

pub async fn serve(
    app: Arc<App>,
    router: Router,
    listener: TcpListener,
    role: Role,
    mut stop: watch::Receiver<bool>,
) {
    // Fixed for the listener's life, like the connection bounds.
    let header_timeout = app.runtime().config.server.header_timeout;
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .max_headers(MAX_HEADER_FIELDS)
        .max_buf_size(MAX_HEADER_BYTES.max(8192));
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(MAX_HEADER_BYTES as u32)
        .max_concurrent_streams(256);
    let builder = Arc::new(builder);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let pending = Arc::new(Mutex::new(Pending::default()));
    let idle = Arc::new(Mutex::new(Idle::default()));
    // Fixed for the listener's life: a reload may replace the certificate,
    // not turn TLS on or off (App::reload refuses that).
    let tls = role.tls_config(&app).is_some();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, _peer) = match accepted {
                    Ok(s) => s,
                    Err(e) => {
                        // Out of file descriptors: the longest idle
                        // keep-alive connection makes room for the waiting
                        // one. Logged at most once per interval (a flood of
                        // connections would repeat it 20 times a second).
                        let evicted = e.raw_os_error() == Some(24) && evict_idle(&idle);
                        if let Some(held) = FLOOD_WARNINGS.allow("accept_failed") {
                            tracing::warn!(error = %e, evicted_idle = evicted, "accept failed{}", crate::util::held_back(held));
                        }
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                // At the cap, the longest idle keep-alive connection makes
                // room; only with none idle is the new one closed.
                let permit = match permits.clone().try_acquire_owned() {
                    Ok(p) => Some(p),
                    Err(_) if evict_idle(&idle) => {
                        if let Some(held) = FLOOD_WARNINGS.allow("idle_eviction") {
                            tracing::info!(max = MAX_CONNECTIONS, "connection limit reached; closed the longest idle keep-alive connection{}", crate::util::held_back(held));
                        }
                        None
                    }
                    Err(_) => {
                        if let Some(held) = FLOOD_WARNINGS.allow("connection_limit") {
                            tracing::warn!(max = MAX_CONNECTIONS, "connection limit reached; closing a new connection{}", crate::util::held_back(held));
                        }
                        continue;
                    }
                };
                let permits = permits.clone();
                let idle = idle.clone();
                let state = Arc::new(ConnState::default());
                let (waiting, close_rx, evicted) = enter_pending(&pending);
                if evicted {
                    if let Some(held) = FLOOD_WARNINGS.allow("pending_limit") {
                        tracing::warn!(max = MAX_PENDING_CONNECTIONS, "too many connections without a request; closed the oldest{}", crate::util::held_back(held));
                    }
                }
                let _ = stream.set_nodelay(true);
                let app = app.clone();
                let builder = builder.clone();
                let watcher = graceful.watcher();
                let acceptor = match tls.then(|| role.tls_config(&app)) {
                    None => None,
                    Some(Some(c)) => Some(tokio_rustls::TlsAcceptor::from(c)),
                    // Cannot happen: reload keeps TLS on once it is on.
                    Some(None) => continue,
                };
                tokio::spawn(async move {
                    let _permit = match permit {
                        Some(p) => p,
                        None => match tokio::time::timeout(EVICTION_WAIT, permits.acquire_owned()).await {
                            Ok(Ok(p)) => p,
                            _ => return,
                        },
                    };
                    let _leave = LeaveIdle(state.clone(), idle.clone());
                    // Until the first request head is complete, the
                    // connection may be closed: at the header timeout from
                    // accept, or to make room for a newer one.
                    let waiting = Arc::new(Mutex::new(Some(waiting)));
                    let expired = async {
                        tokio::select! {
                            _ = tokio::time::sleep(header_timeout) => {}
                            _ = told_to_close(close_rx) => {}
                        }
                    };
                    tokio::pin!(expired);
                    let Some(acceptor) = acceptor else {
                        let svc = service(app, router, role, None, waiting.clone(), (state.clone(), idle));
                        let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), svc);
                        let conn = watcher.watch(conn.into_owned());
                        serve_pending(conn, expired, &waiting, &state).await;
                        return;
                    };
                    let handshake = tokio::time::timeout(
                        crate::tls::HANDSHAKE_TIMEOUT,
                        acceptor.accept(stream),
                    );
                    let handshake = tokio::select! {
                        h = handshake => h,
                        _ = &mut expired => return,
                    };
                    let stream = match handshake
                    {
                        Ok(Ok(s)) => s,
                        Ok(Err(e)) => {
                            app.metrics.emit(TlsHandshakeFailed {
                                listener: role.listener(),
                                reason: handshake_failure(&e),
                                error: Some(&e),
                            });
                            return;
                        }
                        Err(_) => {
                            app.metrics.emit(TlsHandshakeFailed {
                                listener: role.listener(),
                                reason: "timeout",
                                error: None,
                            });
                            return;
                        }
                    };
                    // Only a certificate the verifier accepted gets here.
                    let cert = stream
                        .get_ref()
                        .1
                        .peer_certificates()
                        .map(|c| Arc::new(ClientCert::from_chain(c)));
                    let svc = service(app, router, role, cert, waiting.clone(), (state.clone(), idle));
                    let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), svc);
                    let conn = watcher.watch(conn.into_owned());
                    serve_pending(conn, expired, &waiting, &state).await;
                });
            }
            _ = stop.changed() => break,
        }
    }
    drop(listener);
    graceful.shutdown().await;
}

/// Removes a connection from [`Idle`] when its task ends.
struct LeaveIdle(Arc<ConnState>, Arc<Mutex<Idle>>);

impl Drop for LeaveIdle {
    fn drop(&mut self) {
        self.0.leave(&self.1);
    }
}

/// Serves a connection; while it has not completed a request head, it is
/// closed (dropped) when `expired` resolves; later, when it is told to
/// make room while it has no request in flight.
async fn serve_pending<C, E>(
    conn: C,
    mut expired: std::pin::Pin<&mut impl std::future::Future<Output = ()>>,
    waiting: &Mutex<Option<PendingGuard>>,
    state: &ConnState,
) where
    C: std::future::Future<Output = E>,
{
    tokio::pin!(conn);
    let mut pending = true;
    loop {
        tokio::select! {
            _ = &mut conn => return,
            _ = expired.as_mut(), if pending => {
                // Past the deadline: close it, unless a request came in
                // meanwhile.
                if waiting.lock().unwrap().take().is_some() {
                    return;
                }
                pending = false;
            }
            _ = state.evict.notified() => {
                if state.is_idle() {
                    return;
                }
            }
        }
    }
}

/// The per-connection service; a verified client certificate travels with
/// every request of the connection as an extension. The first request
/// takes the connection out of the pending set.
fn service(
    app: Arc<App>,
    router: Router,
    role: Role,
    cert: Option<Arc<ClientCert>>,
    waiting: Arc<Mutex<Option<PendingGuard>>>,
    (state, idle): (Arc<ConnState>, Arc<Mutex<Idle>>),
) -> impl hyper::service::Service<
    Request<Incoming>,
    Response = Resp,
    Error = Infallible,
    Future = impl std::future::Future<Output = Result<Resp, Infallible>> + Send + 'static,
> + Clone {
    service_fn(move |mut req: Request<Incoming>| {
        let app = app.clone();
        waiting.lock().unwrap().take();
        if let Some(c) = &cert {
            req.extensions_mut().insert(c.clone());
        }
        state.request_started(&idle);
        let done = InFlight(state.clone(), idle.clone());
        async move {
            let resp = router(app, role, req).await;
            drop(done);
            Ok::<_, Infallible>(resp)
        }
    })
}

/// A request in flight on its connection; ending it (or dropping it, when
/// the client goes away) may make the connection idle.
struct InFlight(Arc<ConnState>, Arc<Mutex<Idle>>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.request_ended(&self.1);
    }
}

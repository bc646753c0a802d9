//! The HTTP server: accept loop with a connection bound, HTTP/1.1 keep-alive
//! and h2c on one port (hyper-util's auto builder), or both over TLS with
//! ALPN when `[server.tls]` is set, slowloris limits (a first request head
//! due within `server.header_timeout_ms` of accept, at most
//! [`MAX_PENDING_CONNECTIONS`] connections without one), graceful
//! shutdown, routing and per-route metrics.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::FutureExt as _;
use http::{header, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use prometheus::IntCounter;
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch, Semaphore};

use crate::app::App;
use crate::outbox::Stream;
use crate::tls::ClientCert;

/// Open connections beyond this are closed at accept: memory stays bounded
/// however many clients connect.
pub const MAX_CONNECTIONS: usize = 4096;
/// Connections that have not yet completed their first request head (idle
/// since accept, mid-handshake, dribbling headers) held at most; beyond it
/// the oldest of them is closed to make room, so a flood of idle sockets
/// cannot keep a real client out.
pub const MAX_PENDING_CONNECTIONS: usize = 1024;
/// A request body must arrive within this time.
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(60);
/// Request line + headers.
pub const MAX_HEADER_BYTES: usize = 64 * 1024;
/// Admin and commit bodies are tiny.
pub const SMALL_BODY_BYTES: usize = 64 * 1024;

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
    fn tls_config(self, app: &App) -> Option<Arc<rustls::ServerConfig>> {
        let rt = app.runtime();
        let t = rt.config.server.tls.as_ref()?;
        Some(match self {
            Role::Main { .. } => t.main.clone(),
            Role::MetricsOnly => t.metrics.clone(),
        })
    }
}

/// Why a TLS handshake failed, as the `reason` label: a small fixed set.
fn handshake_failure(e: &std::io::Error) -> &'static str {
    match e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
        Some(rustls::Error::NoCertificatesPresented) => "no_client_certificate",
        Some(rustls::Error::InvalidCertificate(_)) => "bad_certificate",
        Some(rustls::Error::PeerIncompatible(_)) => "incompatible",
        Some(_) => "protocol",
        None => "io",
    }
}

pub type Resp = Response<Full<Bytes>>;

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
                        tracing::warn!(error = %e, "accept failed");
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
                        let svc = service(app, role, None, waiting.clone(), (state.clone(), idle));
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
                            let reason = handshake_failure(&e);
                            app.metrics
                                .tls_handshake_failures
                                .with_label_values(&[role.listener(), reason])
                                .inc();
                            // A client that connects and closes (a TCP
                            // probe, a port scan) is not worth a line.
                            if reason == "io" {
                                tracing::debug!(listener = role.listener(), reason, error = %e, "TLS handshake failed");
                            } else {
                                tracing::info!(listener = role.listener(), reason, error = %e, "TLS handshake failed");
                            }
                            return;
                        }
                        Err(_) => {
                            app.metrics
                                .tls_handshake_failures
                                .with_label_values(&[role.listener(), "timeout"])
                                .inc();
                            return;
                        }
                    };
                    // Only a certificate the verifier accepted gets here.
                    let cert = stream
                        .get_ref()
                        .1
                        .peer_certificates()
                        .map(|c| Arc::new(ClientCert::from_chain(c)));
                    let svc = service(app, role, cert, waiting.clone(), (state.clone(), idle));
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
            let resp = handle(app, role, req).await;
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

async fn metrics_response(app: &App, refused: Option<Resp>) -> Resp {
    if let Some(r) = refused {
        return r;
    }
    // Gauges read now, not up to one interval ago.
    app.refresh_gauges().await;
    let mut r = Response::new(Full::new(Bytes::from(app.metrics.render())));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        "text/plain; version=0.0.4; charset=utf-8"
            .parse()
            .expect("ascii"),
    );
    r
}

fn route_of(path: &str) -> &'static str {
    match path {
        "/v1/events" => "/v1/events",
        "/v1/optouts" => "/v1/optouts",
        "/v1/forget" => "/v1/forget",
        "/v1/access" => "/v1/access",
        "/admin/reload" => "/admin/reload",
        "/healthz" => "/healthz",
        "/readyz" => "/readyz",
        "/metrics" => "/metrics",
        // `/v1/feed/{partner}/notices...` needs a partner name before the
        // suffix (a partner may be called "notices"; names have no `/`).
        p if p.starts_with("/v1/feed/")
            && p.ends_with("/notices/commit")
            && p.len() > "/v1/feed//notices/commit".len() =>
        {
            "/v1/feed/notices/commit"
        }
        p if p.starts_with("/v1/feed/")
            && p.ends_with("/notices")
            && p.len() > "/v1/feed//notices".len() =>
        {
            "/v1/feed/notices"
        }
        p if p.starts_with("/v1/feed/") && p.ends_with("/commit") => "/v1/feed/commit",
        p if p.starts_with("/v1/feed/") => "/v1/feed",
        _ => "other",
    }
}

async fn handle(app: Arc<App>, role: Role, req: Request<Incoming>) -> Resp {
    let started = Instant::now();
    let route = route_of(req.uri().path());
    let resp = catch_panic(&app.metrics.panics, route, dispatch(&app, role, route, req)).await;
    let code = resp.status().as_u16().to_string();
    app.metrics
        .http_requests
        .with_label_values(&[route, &code])
        .inc();
    app.metrics
        .http_duration
        .with_label_values(&[route])
        .observe(started.elapsed().as_secs_f64());
    resp
}

async fn dispatch(app: &Arc<App>, role: Role, route: &'static str, req: Request<Incoming>) -> Resp {
    let method = req.method().clone();
    let allow = |m: &[Method]| -> Option<Resp> {
        if m.contains(&method) {
            None
        } else {
            let allowed: Vec<&str> = m.iter().map(|m| m.as_str()).collect();
            let mut r = error(
                StatusCode::METHOD_NOT_ALLOWED,
                &format!("{} is not allowed here; use {}", method, allowed.join(", ")),
            );
            r.headers_mut()
                .insert(header::ALLOW, allowed.join(", ").parse().expect("ascii"));
            Some(r)
        }
    };
    let main = matches!(role, Role::Main { .. });
    let metrics_here = matches!(role, Role::MetricsOnly | Role::Main { metrics_here: true });
    match route {
        "/healthz" => {
            allow(&[Method::GET, Method::HEAD]).unwrap_or_else(|| text(StatusCode::OK, "ok\n"))
        }
        "/readyz" => allow(&[Method::GET, Method::HEAD]).unwrap_or_else(|| {
            if app.is_ready() {
                text(StatusCode::OK, "ready\n")
            } else {
                text(StatusCode::SERVICE_UNAVAILABLE, "not ready\n")
            }
        }),
        "/metrics" if metrics_here => metrics_response(app, allow(&[Method::GET])).await,
        "/v1/events" if main => match allow(&[Method::POST]) {
            Some(r) => r,
            None => crate::ingest::handle(app, req).await,
        },
        "/v1/feed" if main => match allow(&[Method::GET]) {
            Some(r) => r,
            None => crate::feed::handle_get(app, req, Stream::Events).await,
        },
        "/v1/feed/commit" if main => match allow(&[Method::POST]) {
            Some(r) => r,
            None => crate::feed::handle_commit(app, req, Stream::Events).await,
        },
        "/v1/feed/notices" if main => match allow(&[Method::GET]) {
            Some(r) => r,
            None => crate::feed::handle_get(app, req, Stream::Notices).await,
        },
        "/v1/feed/notices/commit" if main => match allow(&[Method::POST]) {
            Some(r) => r,
            None => crate::feed::handle_commit(app, req, Stream::Notices).await,
        },
        "/v1/optouts" | "/v1/forget" | "/v1/access" | "/admin/reload" if main => {
            match allow(&[Method::POST]) {
                Some(r) => r,
                None => crate::admin::handle(app, route, req).await,
            }
        }
        _ => error(StatusCode::NOT_FOUND, "no such endpoint"),
    }
}

/// Runs one request's handler. A panic in it answers this request 500
/// instead of dropping the connection, counts in `adgate_panics_total` and
/// logs the route (the panic's location is logged by [`install_panic_hook`];
/// its message, which may quote request content, is not). Locks the
/// handlers share do not poison and ingest undoes its unwritten work as the
/// panic unwinds, so the process keeps serving and nothing accepted is
/// lost.
pub async fn catch_panic<F>(panics: &IntCounter, route: &'static str, handler: F) -> Resp
where
    F: std::future::Future<Output = Resp>,
{
    match AssertUnwindSafe(handler).catch_unwind().await {
        Ok(resp) => resp,
        Err(_) => {
            panics.inc();
            tracing::error!(route, "request handler panicked; answered 500");
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal error; nothing from this request was accepted, retry later",
            )
        }
    }
}

/// Replaces the default panic output (which quotes the panic message, and
/// so possibly an identifier from a request) with one log event naming
/// the thread and the code location.
pub fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let location = info
            .location()
            .map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column()))
            .unwrap_or_default();
        let thread = std::thread::current();
        tracing::error!(
            thread = thread.name().unwrap_or("unnamed"),
            %location,
            "panic (message withheld: it may quote request content)"
        );
    }));
}

// ---------------------------------------------------------------------------
// Helpers shared by the handlers.

pub fn json(status: StatusCode, body: &serde_json::Value) -> Resp {
    json_bytes(status, serde_json::to_vec(body).expect("serializable"))
}

pub fn json_bytes(status: StatusCode, body: Vec<u8>) -> Resp {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        "application/json".parse().expect("ascii"),
    );
    r
}

/// `{"error": msg}`. Messages name the problem, never a secret or content.
pub fn error(status: StatusCode, msg: &str) -> Resp {
    json(status, &serde_json::json!({ "error": msg }))
}

pub fn text(status: StatusCode, body: &'static str) -> Resp {
    let mut r = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        "text/plain; charset=utf-8".parse().expect("ascii"),
    );
    r
}

pub fn unauthorized(msg: &str) -> Resp {
    let mut r = error(StatusCode::UNAUTHORIZED, msg);
    r.headers_mut()
        .insert(header::WWW_AUTHENTICATE, "Bearer".parse().expect("ascii"));
    r
}

/// The bearer token of a request, if any.
pub fn bearer<B>(req: &Request<B>) -> Option<&[u8]> {
    let v = req.headers().get(header::AUTHORIZATION)?.as_bytes();
    let (scheme, rest) = v.split_at(v.iter().position(|&c| c == b' ')?);
    if !scheme.eq_ignore_ascii_case(b"bearer") {
        return None;
    }
    let t = rest.trim_ascii();
    (!t.is_empty()).then_some(t)
}

#[derive(Debug)]
pub enum BodyError {
    TooLarge,
    Timeout,
    Read,
}

impl BodyError {
    /// `setting` names the config key behind `limit`, when there is one.
    pub fn response(&self, limit: u64, setting: Option<&str>) -> Resp {
        match self {
            BodyError::TooLarge => {
                let mut r = error(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    &match setting {
                        Some(key) => format!("request body is larger than {limit} bytes ({key})"),
                        None => format!("request body is larger than {limit} bytes"),
                    },
                );
                r.headers_mut()
                    .insert(header::CONNECTION, "close".parse().expect("ascii"));
                r
            }
            BodyError::Timeout => error(
                StatusCode::REQUEST_TIMEOUT,
                "request body was not received in time",
            ),
            BodyError::Read => error(StatusCode::BAD_REQUEST, "request body could not be read"),
        }
    }
}

/// Bodies above the limit are still read (and discarded) up to this many
/// bytes, so a client that sends its whole body before reading (most HTTP
/// libraries) gets the 413 instead of a broken pipe.
pub const DRAIN_MAX_BYTES: u64 = 64 * 1024 * 1024;
/// How long draining an oversize body may take.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// Reads a whole body, refusing more than `limit` bytes (declared length or
/// streamed) and bodies slower than [`BODY_READ_TIMEOUT`].
pub async fn read_body(req: Request<Incoming>, limit: usize) -> Result<Bytes, BodyError> {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let mut body = req.into_body();
    if declared.is_some_and(|len| len > limit as u64) {
        if declared.is_some_and(|len| len <= DRAIN_MAX_BYTES) {
            drain(&mut body).await;
        }
        return Err(BodyError::TooLarge);
    }
    let mut buf =
        bytes::BytesMut::with_capacity(declared.unwrap_or(8192).min(limit as u64) as usize);
    let deadline = tokio::time::Instant::now() + BODY_READ_TIMEOUT;
    loop {
        match tokio::time::timeout_at(deadline, body.frame()).await {
            Err(_) => return Err(BodyError::Timeout),
            Ok(None) => return Ok(buf.freeze()),
            Ok(Some(Err(_))) => return Err(BodyError::Read),
            Ok(Some(Ok(frame))) => {
                if let Ok(data) = frame.into_data() {
                    if buf.len() + data.len() > limit {
                        drain(&mut body).await;
                        return Err(BodyError::TooLarge);
                    }
                    buf.extend_from_slice(&data);
                }
            }
        }
    }
}

/// Answers `resp` after reading and discarding the request body (bounded by
/// [`DRAIN_MAX_BYTES`] and [`DRAIN_TIMEOUT`]), so a refused request does not
/// cost the client its keep-alive connection.
pub async fn refuse(req: Request<Incoming>, resp: Resp) -> Resp {
    let mut body = req.into_body();
    drain(&mut body).await;
    resp
}

/// Reads and discards the rest of a body, within [`DRAIN_MAX_BYTES`] and
/// [`DRAIN_TIMEOUT`].
async fn drain(body: &mut Incoming) {
    let deadline = tokio::time::Instant::now() + DRAIN_TIMEOUT;
    let mut seen = 0u64;
    while seen < DRAIN_MAX_BYTES {
        match tokio::time::timeout_at(deadline, body.frame()).await {
            Ok(Some(Ok(f))) => {
                if let Ok(d) = f.into_data() {
                    seen += d.len() as u64;
                }
            }
            _ => break,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{env_from, Config};
    use std::collections::HashMap;

    const PRODUCER: &str = "producer-token-0123456789abcdef0123456789";
    const FEED: &str = "feed-token-0123456789abcdef0123456789abc";

    async fn app(dir: &std::path::Path) -> Arc<App> {
        let toml = format!(
            r#"
[server]
listen = "127.0.0.1:0"
data_dir = "{}"
[[producers]]
name = "web"
token_env = "P"
[[partners]]
name = "a"
event_types = ["ad_impression"]
identifiers = ["account_id"]
fields = ["ad.campaign_id"]
[partners.delivery]
mode = "pull"
token_env = "F"
[[partners.keys]]
id = "k1"
secret_env = "K"
"#,
            dir.join("data").display()
        );
        let env = env_from(HashMap::from([
            ("P".to_string(), PRODUCER.to_string()),
            ("F".to_string(), FEED.to_string()),
            (
                "K".to_string(),
                "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=".to_string(),
            ),
        ]));
        let config = Config::from_toml(&toml, "t.toml", dir, &env).expect("config");
        let app = App::build(config.clone(), None).await.expect("app");
        app.start_partners(&config).await.expect("partners");
        app
    }

    /// The server's per-request path (`catch_panic` around `dispatch`)
    /// over a real hyper connection, with one extra route whose handler
    /// panics: the kind of bug the fuzzers look for, reached by a request.
    async fn serve_with_a_panicking_route(app: Arc<App>, listener: TcpListener) {
        let role = Role::Main { metrics_here: true };
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let app = app.clone();
            let svc = service_fn(move |req: Request<Incoming>| {
                let app = app.clone();
                async move {
                    let route = route_of(req.uri().path());
                    let bug = req.uri().path() == "/v1/events" && req.uri().query() == Some("bug");
                    let handler = async {
                        if bug {
                            // Mid-request, after reading some of it.
                            let _ = read_body(req, 1024).await;
                            panic!("a bug quoting request content: jane@example.com");
                        }
                        dispatch(&app, role, route, req).await
                    };
                    Ok::<_, Infallible>(catch_panic(&app.metrics.panics, route, handler).await)
                }
            });
            tokio::spawn(
                auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), svc)
                    .into_owned(),
            );
        }
    }

    fn post(agent: &ureq::Agent, url: &str, body: &str) -> (u16, String) {
        let r = agent
            .post(url)
            .set("Authorization", &format!("Bearer {PRODUCER}"))
            .set("Content-Type", "application/x-ndjson")
            .send_string(body);
        match r {
            Ok(r) => (r.status(), r.into_string().unwrap_or_default()),
            Err(ureq::Error::Status(c, r)) => (c, r.into_string().unwrap_or_default()),
            Err(e) => panic!("transport error: {e}"),
        }
    }

    fn event(id: &str) -> String {
        format!(
            r#"{{"event_id":"{id}","event_type":"ad_impression","timestamp":"2026-11-28T13:45:12Z","user":{{"account_id":"A-{id}"}},"ad":{{"campaign_id":"c-7"}}}}"#
        )
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_panicking_handler_answers_500_and_the_server_keeps_serving() {
        let dir = tempfile::tempdir().expect("tempdir");
        let app = app(dir.path()).await;
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        tokio::spawn(serve_with_a_panicking_route(app.clone(), listener));

        let checks = tokio::task::spawn_blocking(move || {
            // One keep-alive connection for all requests.
            let agent = ureq::AgentBuilder::new().max_idle_connections(1).build();
            let events = format!("{base}/v1/events");
            let before = post(
                &agent,
                &events,
                &format!("{}\n{}", event("e1"), event("e2")),
            );
            let panicked = post(&agent, &format!("{events}?bug"), &event("e3"));
            let after = post(
                &agent,
                &events,
                &format!("{}\n{}", event("e3"), event("e1")),
            );
            let feed = agent
                .get(&format!("{base}/v1/feed/a?max=100"))
                .set("Authorization", &format!("Bearer {FEED}"))
                .call()
                .expect("feed")
                .into_string()
                .expect("feed body");
            let metrics = agent
                .get(&format!("{base}/metrics"))
                .call()
                .expect("metrics")
                .into_string()
                .expect("metrics body");
            (before, panicked, after, feed, metrics)
        })
        .await
        .expect("client");
        let (before, panicked, after, feed, metrics) = checks;
        assert_eq!(before.0, 202, "{before:?}");
        assert_eq!(panicked.0, 500, "{panicked:?}");
        assert!(
            !panicked.1.contains("jane") && panicked.1.contains("retry"),
            "{panicked:?}"
        );
        // The server still serves; e3 was not taken as seen, e1 is a duplicate.
        assert_eq!(after.0, 202, "{after:?}");
        let v: serde_json::Value = serde_json::from_str(&after.1).expect("json");
        assert_eq!(
            (v["accepted"].as_u64(), v["duplicates"].as_u64()),
            (Some(2), Some(1)),
            "{v}"
        );
        // Everything accepted before and after the panic is in the feed.
        let f: serde_json::Value = serde_json::from_str(&feed).expect("feed json");
        assert_eq!(f["events"].as_array().map(Vec::len), Some(3), "{f}");
        assert!(
            metrics.contains("adgate_panics_total 1\n"),
            "{}",
            metrics
                .lines()
                .filter(|l| l.contains("panics"))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}

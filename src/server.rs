//! The HTTP server: accept loop with a connection bound, HTTP/1.1 keep-alive
//! and h2c on one port (hyper-util's auto builder), slowloris limits,
//! graceful shutdown, routing and per-route metrics.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{header, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};

use crate::app::App;

/// Open connections beyond this are closed at accept: memory stays bounded
/// however many clients connect.
pub const MAX_CONNECTIONS: usize = 4096;
/// A client must send its request headers within this time (slowloris).
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
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

pub type Resp = Response<Full<Bytes>>;

pub async fn serve(
    app: Arc<App>,
    listener: TcpListener,
    role: Role,
    mut stop: watch::Receiver<bool>,
) {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .max_buf_size(MAX_HEADER_BYTES.max(8192));
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(MAX_HEADER_BYTES as u32)
        .max_concurrent_streams(256);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
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
                let Ok(permit) = permits.clone().try_acquire_owned() else {
                    tracing::warn!(max = MAX_CONNECTIONS, "connection limit reached; closing a new connection");
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let app = app.clone();
                let svc = service_fn(move |req| {
                    let app = app.clone();
                    async move { Ok::<_, Infallible>(handle(app, role, req).await) }
                });
                let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), svc);
                let conn = graceful.watch(conn.into_owned());
                tokio::spawn(async move {
                    let _ = conn.await;
                    drop(permit);
                });
            }
            _ = stop.changed() => break,
        }
    }
    drop(listener);
    graceful.shutdown().await;
}

fn metrics_response(app: &App, refused: Option<Resp>) -> Resp {
    refused.unwrap_or_else(|| {
        app.refresh_gauges();
        let mut r = Response::new(Full::new(Bytes::from(app.metrics.render())));
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8"
                .parse()
                .expect("ascii"),
        );
        r
    })
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
        p if p.starts_with("/v1/feed/") && p.ends_with("/commit") => "/v1/feed/commit",
        p if p.starts_with("/v1/feed/") => "/v1/feed",
        _ => "other",
    }
}

async fn handle(app: Arc<App>, role: Role, req: Request<Incoming>) -> Resp {
    let started = Instant::now();
    let route = route_of(req.uri().path());
    let resp = dispatch(&app, role, route, req).await;
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
        "/metrics" if metrics_here => {
            if let (None, Some(js)) = (allow(&[Method::GET]), &app.js) {
                // Stream state read now, not up to one interval ago.
                js.refresh().await;
            }
            metrics_response(app, allow(&[Method::GET]))
        }
        "/v1/events" if main => match allow(&[Method::POST]) {
            Some(r) => r,
            None => crate::ingest::handle(app, req).await,
        },
        "/v1/feed" if main => match allow(&[Method::GET]) {
            Some(r) => r,
            None => crate::feed::handle_get(app, req).await,
        },
        "/v1/feed/commit" if main => match allow(&[Method::POST]) {
            Some(r) => r,
            None => crate::feed::handle_commit(app, req).await,
        },
        "/v1/optouts" | "/v1/forget" | "/admin/reload" if main => match allow(&[Method::POST]) {
            Some(r) => r,
            None => crate::admin::handle(app, route, req).await,
        },
        _ => error(StatusCode::NOT_FOUND, "no such endpoint"),
    }
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

//! HTTP helpers every handler shares: response builders, the bearer
//! token, bounded body reads, refusals that keep a keep-alive connection
//! usable, and the panic guard. A leaf: it knows no handler and no state.

use std::panic::AssertUnwindSafe;
use std::time::Duration;

use bytes::Bytes;
use futures_util::FutureExt as _;
use http::{header, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use prometheus::IntCounter;

/// Admin and commit bodies are tiny.
pub const SMALL_BODY_BYTES: usize = 64 * 1024;

/// How long a producer should wait before retrying a 503.
pub const RETRY_AFTER_SECONDS: u64 = 5;

/// A request body must arrive within this time.
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(60);

pub type Resp = Response<Full<Bytes>>;

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
/// How long draining waits for the next piece of a body: a client that
/// declared a large body and waits for an answer before sending it gets
/// its 413 after this, not after [`DRAIN_TIMEOUT`].
pub const DRAIN_IDLE: Duration = Duration::from_millis(250);

/// Reads a whole body, refusing more than `limit` bytes (declared length or
/// streamed) and bodies slower than [`BODY_READ_TIMEOUT`].
pub async fn read_body(req: Request<Incoming>, limit: usize) -> Result<Bytes, BodyError> {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    // A client that asked to be told before sending (`Expect:
    // 100-continue`) has sent nothing: reading would invite the body.
    let expects = req.headers().contains_key(header::EXPECT);
    let mut body = req.into_body();
    if declared.is_some_and(|len| len > limit as u64) {
        if declared.is_some_and(|len| len <= DRAIN_MAX_BYTES) && !expects {
            drain(&mut body, true).await;
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
                        drain(&mut body, true).await;
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
    drain(&mut body, false).await;
    resp
}

/// Reads and discards the rest of a body, within [`DRAIN_MAX_BYTES`] and
/// [`DRAIN_TIMEOUT`]; with `idle`, only while its pieces come no more
/// than [`DRAIN_IDLE`] apart (an oversize body, which the client may hold
/// back until it hears an answer; a refused small one is read to its end,
/// to keep the connection).
async fn drain(body: &mut Incoming, idle: bool) {
    let deadline = tokio::time::Instant::now() + DRAIN_TIMEOUT;
    let mut seen = 0u64;
    while seen < DRAIN_MAX_BYTES {
        let next = if idle {
            (tokio::time::Instant::now() + DRAIN_IDLE).min(deadline)
        } else {
            deadline
        };
        match tokio::time::timeout_at(next, body.frame()).await {
            Ok(Some(Ok(f))) => {
                if let Ok(d) = f.into_data() {
                    seen += d.len() as u64;
                }
            }
            _ => break,
        }
    }
}

/// A 503 with `Retry-After`: storage (or JetStream) could not take the
/// write now; nothing was acknowledged.
pub fn unavailable(msg: &str) -> Resp {
    let mut r = error(StatusCode::SERVICE_UNAVAILABLE, msg);
    r.headers_mut().insert(
        header::RETRY_AFTER,
        RETRY_AFTER_SECONDS.to_string().parse().expect("ascii"),
    );
    r
}

//! `adgate-ceiling`: what this machine can do for adgate's ingest with
//! nothing but HTTP and the scrub. A plain hyper 1.x server (2 runtime
//! worker threads by default) that takes the requests `adgate-load` sends
//! (`POST /v1/events`, `Authorization: Bearer TOKEN`, NDJSON, optionally
//! gzip) and, for every event, does the plain-Rust scrub of
//! `benches/peers` ("limit"): a typed serde parse borrowing from the body,
//! the rules (event type, consent, minor, sensitive category), the first
//! valid identifier in the partners' `identifiers` order normalized, two
//! HMAC-SHA256 per partner (ad_id and event_id) from pre-keyed state, and
//! the kept fields serialized by serde into a per-partner buffer. No
//! idempotency window, no subject hashes, no leak guard, no durability, no
//! delivery. It answers like adgate: `202` with
//! `{"accepted","rejected","duplicates","errors"}`.
//!
//! ```text
//! adgate-ceiling --listen 127.0.0.1:0 --token-env TP --key k0=K0 [--key k1=K1 ...] \
//!     [--identifiers account_id,email,device_id,phone] [--threads 2] \
//!     [--sample FILE --sample-events 2000]
//! adgate-ceiling --check FILE --explain EXPLAIN.json --key k0=K0 [...]
//! adgate-ceiling --listen 127.0.0.1:0 --token-env TP --config ADGATE.toml
//! ```
//!
//! `--config ADGATE.toml` swaps the plain scrub for adgate's own per-event
//! work under that config: the body split, the event parse, the event id's
//! keyed hash and the policy with its leak guard (`Policy::evaluate_with`,
//! no opt-outs), each routed copy appended to its partner's buffer. Still
//! no idempotency window, durability or delivery: the distance between
//! this "policy ceiling" and adgate's sustained rate is what the outbox,
//! delivery and scheduling cost; the distance between the two ceilings is
//! what the guard's reading costs (docs/performance.md).
//!
//! `--key ID=ENV` gives a partner: its key id and the environment variable
//! holding its base64 key secret, as `[[partners.keys]]` does (partners in
//! config order). The partners are those of `benches/e2e.sh`: event types
//! `ad_impression` and `app_install`, fields `ad.campaign_id`,
//! `ad.placement`, `ad.value_estimate_micros`, `ad.currency`, `app.app_id`,
//! default privacy settings (minor age 18, sensitive `health` and
//! `pharmacy`, hour granularity).
//!
//! The figure only means something if the ceiling does adgate's work:
//! `--sample FILE` writes the first `--sample-events` events the server
//! received to FILE, and `--check FILE --explain REPORT` scrubs them again
//! and compares every partner's copy with `adgate explain --format json`
//! on the same events and config (JSON-equal outputs, same events
//! dropped). `benches/e2e.sh` runs the check after every ceiling row and
//! stops when it fails.

use std::borrow::Cow;
use std::convert::Infallible;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use bytes::Bytes;
use clap::Parser;
use hmac::{Hmac, Mac};
use http_body_util::{BodyExt, Full, Limited};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use adgate::event::parse_rfc3339;
use adgate::identity::{normalize, Kind};

#[derive(Parser)]
#[command(
    name = "adgate-ceiling",
    about = "HTTP + plain-Rust scrub ceiling for adgate's POST /v1/events (no durability, no delivery)"
)]
struct Args {
    /// Address to listen on
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Environment variable holding the producer token (Bearer)
    #[arg(long, default_value = "TP")]
    token_env: String,
    /// A partner: KEY_ID=ENV_VAR (the variable holds the base64 key secret); repeat per partner
    #[arg(
        long = "key",
        value_name = "ID=ENV",
        required_unless_present = "config"
    )]
    keys: Vec<String>,
    /// Scrub with adgate's own parse and policy (leak guard included) under this adgate config
    #[arg(long, value_name = "ADGATE_TOML", conflicts_with_all = ["keys", "check"])]
    config: Option<PathBuf>,
    /// The partners' identifiers, first valid one wins
    #[arg(long, default_value = "account_id,email,device_id,phone")]
    identifiers: String,
    /// Runtime worker threads
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Largest body accepted (bytes), as adgate's server.max_body_bytes
    #[arg(long, default_value_t = 10 << 20)]
    max_body_bytes: usize,
    /// Write the first --sample-events events received to this file (NDJSON)
    #[arg(long)]
    sample: Option<PathBuf>,
    /// Events written by --sample
    #[arg(long, default_value_t = 2000)]
    sample_events: usize,
    /// Do not serve: scrub the events of this NDJSON file and compare with --explain
    #[arg(long, value_name = "EVENTS")]
    check: Option<PathBuf>,
    /// `adgate explain --format json` output for the --check events
    #[arg(long, requires = "check")]
    explain: Option<PathBuf>,
}

// ------------------------------------------------------------------ scrub --

const EVENT_TYPES: [&str; 2] = ["ad_impression", "app_install"];
const MINOR_AGE: f64 = 18.0;
const SENSITIVE: [&str; 2] = ["health", "pharmacy"];

#[derive(Deserialize)]
struct In<'a> {
    #[serde(borrow)]
    event_id: Cow<'a, str>,
    #[serde(borrow)]
    event_type: Cow<'a, str>,
    #[serde(borrow)]
    timestamp: Cow<'a, str>,
    #[serde(borrow)]
    user: Option<User<'a>>,
    consent: Option<Consent>,
    #[serde(borrow)]
    context: Option<Context<'a>>,
    #[serde(borrow)]
    ad: Option<Ad<'a>>,
    #[serde(borrow)]
    app: Option<App<'a>>,
}

#[derive(Deserialize)]
struct User<'a> {
    #[serde(borrow)]
    email: Option<Cow<'a, str>>,
    #[serde(borrow)]
    account_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    device_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    phone: Option<Cow<'a, str>>,
    age: Option<f64>,
}

#[derive(Deserialize)]
struct Consent {
    personalized_ads: Option<bool>,
    gpc: Option<bool>,
}

#[derive(Deserialize)]
struct Context<'a> {
    #[serde(borrow)]
    category: Option<Cow<'a, str>>,
}

#[derive(Deserialize, Serialize)]
struct Ad<'a> {
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    campaign_id: Option<Cow<'a, str>>,
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    placement: Option<Cow<'a, str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    value_estimate_micros: Option<u64>,
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    currency: Option<Cow<'a, str>>,
}

#[derive(Deserialize, Serialize)]
struct App<'a> {
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    app_id: Option<Cow<'a, str>>,
}

#[derive(Serialize)]
struct Out<'a> {
    event_type: &'a str,
    time: &'a str,
    ad_id: &'a str,
    ad_id_type: &'a str,
    event_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    ad: Option<&'a Ad<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    app: Option<&'a App<'a>>,
}

struct Partner {
    /// `"{key id}."`
    prefix: String,
    mac: Hmac<Sha256>,
}

struct Scrubber {
    partners: Vec<Partner>,
    identifiers: Vec<Kind>,
}

/// A sensitive category: the value or one of its segments or words is one
/// of [`SENSITIVE`] (ASCII case-insensitive; adgate also folds Unicode).
fn is_sensitive(category: &str) -> bool {
    category
        .split(|c: char| {
            matches!(
                c,
                '>' | '/' | '|' | '\\' | ':' | ',' | ';' | '&' | '-' | '_'
            ) || c.is_whitespace()
        })
        .any(|w| SENSITIVE.iter().any(|s| w.eq_ignore_ascii_case(s)))
}

/// `prefix + base64url(HMAC(tag ":" value))`.
fn tagged(p: &Partner, tag: &str, value: &str, out: &mut String) {
    let mut m = p.mac.clone();
    m.update(tag.as_bytes());
    m.update(b":");
    m.update(value.as_bytes());
    let mut b64 = [0u8; 43];
    URL_SAFE_NO_PAD
        .encode_slice(m.finalize().into_bytes(), &mut b64)
        .expect("43 bytes hold a 32-byte MAC");
    out.clear();
    out.push_str(&p.prefix);
    out.push_str(std::str::from_utf8(&b64).expect("base64 is ASCII"));
}

impl Scrubber {
    fn new(keys: &[(String, Vec<u8>)], identifiers: Vec<Kind>) -> Self {
        Scrubber {
            partners: keys
                .iter()
                .map(|(id, key)| Partner {
                    prefix: format!("{id}."),
                    mac: Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length"),
                })
                .collect(),
            identifiers,
        }
    }

    /// Scrubs one event and appends each partner's line (and `\n`) to
    /// `outs[partner]`. `Err` when the line is not an event (rejected);
    /// `Ok(false)` when the rules drop it for every partner.
    fn scrub(&self, text: &str, outs: &mut [Vec<u8>]) -> Result<bool, ()> {
        let ev: In = serde_json::from_str(text).map_err(|_| ())?;
        let unix = parse_rfc3339(&ev.timestamp).ok_or(())?;
        if ev.event_id.trim().is_empty() || ev.event_type.trim().is_empty() {
            return Err(());
        }
        if !EVENT_TYPES.contains(&ev.event_type.as_ref()) {
            return Ok(false);
        }
        if let Some(c) = &ev.consent {
            if c.personalized_ads == Some(false) || c.gpc == Some(true) {
                return Ok(false);
            }
        }
        let user = ev.user.as_ref();
        if user.and_then(|u| u.age).is_some_and(|a| a < MINOR_AGE) {
            return Ok(false);
        }
        if let Some(c) = ev.context.as_ref().and_then(|c| c.category.as_deref()) {
            if is_sensitive(c) {
                return Ok(false);
            }
        }
        let Some(user) = user else {
            return Ok(false);
        };
        let ident = self.identifiers.iter().find_map(|&k| {
            let raw = match k {
                Kind::Email => user.email.as_deref(),
                Kind::Phone => user.phone.as_deref(),
                Kind::AccountId => user.account_id.as_deref(),
                Kind::DeviceId => user.device_id.as_deref(),
            }?;
            normalize(k, raw).map(|n| (k, n))
        });
        let Some((kind, norm)) = ident else {
            return Ok(false);
        };
        let mut time = String::with_capacity(20);
        adgate::event::format_utc(unix.div_euclid(3600) * 3600, &mut time);
        let ad = ev.ad.as_ref().filter(|a| {
            a.campaign_id.is_some()
                || a.placement.is_some()
                || a.value_estimate_micros.is_some()
                || a.currency.is_some()
        });
        let app = ev.app.as_ref().filter(|a| a.app_id.is_some());
        let (mut ad_id, mut event_id) = (String::with_capacity(64), String::with_capacity(64));
        for (p, out) in self.partners.iter().zip(outs.iter_mut()) {
            tagged(p, kind.as_str(), &norm, &mut ad_id);
            tagged(p, "event_id", &ev.event_id, &mut event_id);
            serde_json::to_writer(
                &mut *out,
                &Out {
                    event_type: &ev.event_type,
                    time: &time,
                    ad_id: &ad_id,
                    ad_id_type: kind.as_str(),
                    event_id: &event_id,
                    ad,
                    app,
                },
            )
            .expect("writing to a Vec");
            out.push(b'\n');
        }
        Ok(true)
    }
}

/// adgate's per-event work before the outbox (`--config`).
struct Gateway {
    policy: adgate::policy::Policy,
    hasher: adgate::identity::SubjectHasher,
}

impl Gateway {
    fn load(path: &std::path::Path) -> Result<Gateway, String> {
        let config = adgate::config::Config::load(path).map_err(|e| e.to_string())?;
        // The gateway keeps its internal key in the data dir; any key does
        // the same work.
        let hasher = adgate::identity::SubjectHasher::new(&rand::random::<[u8; 32]>());
        Ok(Gateway {
            policy: adgate::policy::Policy::new(&config, hasher.clone()),
            hasher,
        })
    }

    /// As [`Scrubber::scrub`], with adgate's parse and policy.
    fn scrub(&self, text: &str, outs: &mut [Vec<u8>]) -> Result<bool, ()> {
        use adgate::policy::{NoOptOuts, Outcome, RequestSignals};
        let ev = adgate::event::Event::parse(text).map_err(|_| ())?;
        std::hint::black_box(self.hasher.event(&ev.event_id));
        let eval = self
            .policy
            .evaluate_with(&ev, &NoOptOuts, RequestSignals::default());
        let mut routed = false;
        for (outcome, out) in eval.outcomes.iter().zip(outs.iter_mut()) {
            if let Outcome::Route(s) = outcome {
                out.extend_from_slice(s.line());
                out.push(b'\n');
                routed = true;
            }
        }
        Ok(routed)
    }
}

/// The scrub the server runs: the plain one, or adgate's (`--config`).
enum Scrub {
    Plain(Scrubber),
    Adgate(Box<Gateway>),
}

impl Scrub {
    fn partners(&self) -> usize {
        match self {
            Scrub::Plain(s) => s.partners.len(),
            Scrub::Adgate(g) => g.policy.partners.len(),
        }
    }

    fn scrub(&self, text: &str, outs: &mut [Vec<u8>]) -> Result<bool, ()> {
        match self {
            Scrub::Plain(s) => s.scrub(text, outs),
            Scrub::Adgate(g) => g.scrub(text, outs),
        }
    }
}

/// Non-blank lines of an NDJSON body (`\r\n` too).
fn lines(body: &str) -> impl Iterator<Item = &str> {
    let mut start = 0;
    memchr::memchr_iter(b'\n', body.as_bytes())
        .chain(std::iter::once(body.len()))
        .filter_map(move |end| {
            let line = &body[start..end];
            start = end + 1;
            let line = line.strip_suffix('\r').unwrap_or(line);
            (!line.trim_ascii().is_empty()).then_some(line)
        })
}

// ----------------------------------------------------------------- server --

struct Server {
    scrub: Scrub,
    auth: Vec<u8>,
    max_body: usize,
    sample: Option<Sample>,
    events: AtomicU64,
}

struct Sample {
    path: PathBuf,
    want: usize,
    done: AtomicBool,
    buf: Mutex<(Vec<u8>, usize)>,
}

impl Sample {
    fn take(&self, body: &str) {
        if self.done.load(Ordering::Relaxed) {
            return;
        }
        let mut g = self.buf.lock().expect("sample lock");
        if g.1 >= self.want {
            return;
        }
        for line in lines(body) {
            if g.1 >= self.want {
                break;
            }
            g.0.extend_from_slice(line.as_bytes());
            g.0.push(b'\n');
            g.1 += 1;
        }
        if g.1 >= self.want {
            self.done.store(true, Ordering::Relaxed);
            if let Err(e) = std::fs::write(&self.path, &g.0) {
                eprintln!(
                    "adgate-ceiling: cannot write the sample to {}: {e}",
                    self.path.display()
                );
            }
        }
    }
}

type Resp = Response<Full<Bytes>>;

fn reply(status: StatusCode, body: String) -> Resp {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    r
}

fn error(status: StatusCode, msg: &str) -> Resp {
    reply(status, serde_json::json!({ "error": msg }).to_string())
}

async fn handle(sv: Arc<Server>, req: Request<hyper::body::Incoming>) -> Resp {
    if req.uri().path() != "/v1/events" {
        return error(StatusCode::NOT_FOUND, "not found: only POST /v1/events");
    }
    if req.method() != Method::POST {
        return error(StatusCode::METHOD_NOT_ALLOWED, "only POST /v1/events");
    }
    let authorized = req
        .headers()
        .get(hyper::header::AUTHORIZATION)
        .is_some_and(|v| v.as_bytes() == sv.auth.as_slice());
    if !authorized {
        return error(
            StatusCode::UNAUTHORIZED,
            "missing or invalid producer token (Authorization: Bearer <token>)",
        );
    }
    let gz = req
        .headers()
        .get(hyper::header::CONTENT_ENCODING)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"gzip"));
    let raw = match Limited::new(req.into_body(), sv.max_body).collect().await {
        Ok(c) => c.to_bytes(),
        Err(_) => {
            return error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "request body is larger than --max-body-bytes or was cut off",
            )
        }
    };
    let body: Cow<[u8]> = if gz {
        let mut out = Vec::with_capacity(raw.len() * 4);
        let read = flate2::read::MultiGzDecoder::new(&raw[..])
            .take(sv.max_body as u64 + 1)
            .read_to_end(&mut out);
        if read.is_err() || out.len() > sv.max_body {
            return error(
                StatusCode::BAD_REQUEST,
                "body is not valid gzip or too large",
            );
        }
        Cow::Owned(out)
    } else {
        Cow::Borrowed(&raw[..])
    };
    let Ok(text) = std::str::from_utf8(&body) else {
        return error(StatusCode::BAD_REQUEST, "body is not UTF-8 NDJSON");
    };
    if let Some(s) = &sv.sample {
        s.take(text);
    }
    let mut outs: Vec<Vec<u8>> = (0..sv.scrub.partners())
        .map(|_| Vec::with_capacity(body.len() / 2))
        .collect();
    let (mut accepted, mut rejected) = (0u64, 0u64);
    let mut errors = Vec::new();
    for (index, line) in lines(text).enumerate() {
        match sv.scrub.scrub(line, &mut outs) {
            Ok(_) => accepted += 1,
            Err(()) => {
                rejected += 1;
                if errors.len() < 100 {
                    errors.push(
                        serde_json::json!({"index": index, "error": "invalid_json: not an event"}),
                    );
                }
            }
        }
    }
    if accepted == 0 && rejected > 0 {
        return error(StatusCode::BAD_REQUEST, "body is not NDJSON events");
    }
    // The scrubbed batches are where adgate's outbox write would start.
    std::hint::black_box(&outs);
    sv.events.fetch_add(accepted, Ordering::Relaxed);
    reply(
        StatusCode::ACCEPTED,
        serde_json::json!({"accepted": accepted, "rejected": rejected, "duplicates": 0, "errors": errors})
            .to_string(),
    )
}

async fn serve(sv: Arc<Server>, listen: SocketAddr) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    println!(
        "adgate-ceiling listening on http://{}",
        listener.local_addr()?
    );
    let _ = std::io::stdout().flush();
    let serve = async {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            let sv = sv.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req| {
                    let sv = sv.clone();
                    async move { Ok::<_, Infallible>(handle(sv, req).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    };
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = serve => {}
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    println!(
        "adgate-ceiling total_events={}",
        sv.events.load(Ordering::Relaxed)
    );
    Ok(())
}

// ------------------------------------------------------------------ check --

/// Scrubs every event of `events` and compares each partner's copy with
/// adgate's in `explain` (`adgate explain --format json` on the same file
/// and config). `Ok` is the summary line, `Err` the differences.
fn check(scrub: &Scrubber, events: &str, explain: &str) -> Result<String, String> {
    let report: Vec<serde_json::Value> = serde_json::from_str(explain)
        .map_err(|e| format!("the explain report is not a JSON array: {e}"))?;
    let evs: Vec<&str> = lines(events).collect();
    if report.len() != evs.len() {
        return Err(format!(
            "explain reports {} events, the events file has {}",
            report.len(),
            evs.len()
        ));
    }
    let n = scrub.partners.len();
    let (mut forwarded, mut dropped) = (0usize, 0usize);
    let mut diffs = Vec::new();
    for (i, (text, rep)) in evs.iter().zip(&report).enumerate() {
        let mut outs = vec![Vec::new(); n];
        let ours = scrub.scrub(text, &mut outs);
        let theirs = rep.get("partners").and_then(|p| p.as_array());
        match (ours, theirs) {
            (Err(()), None) => continue, // rejected by both
            (Ok(_), Some(parts)) if parts.len() == n => {
                for (j, (out, part)) in outs.iter().zip(parts).enumerate() {
                    let want = match part.get("outcome").and_then(|o| o.as_str()) {
                        Some("forwarded") => part.get("output").cloned(),
                        _ => None,
                    };
                    let got = (!out.is_empty()).then(|| {
                        serde_json::from_slice::<serde_json::Value>(out)
                            .expect("the ceiling writes JSON")
                    });
                    match (&got, &want) {
                        (Some(g), Some(w)) if g == w => forwarded += 1,
                        (None, None) => dropped += 1,
                        _ => diffs.push(format!(
                            "event #{i}, partner #{j}: ceiling {} / adgate {} ({})",
                            got.map_or("dropped".into(), |g| g.to_string()),
                            want.map_or("dropped".into(), |w| w.to_string()),
                            part.get("reason").cloned().unwrap_or_default()
                        )),
                    }
                }
            }
            (ours, _) => diffs.push(format!(
                "event #{i}: ceiling {} / adgate {}",
                if ours.is_ok() { "accepted" } else { "rejected" },
                if rep.get("rejected").is_some() {
                    "rejected".to_string()
                } else {
                    format!(
                        "{} partner(s)",
                        theirs.map_or(0, |p| p.len()) // explain lists every partner
                    )
                }
            )),
        }
    }
    if diffs.is_empty() {
        Ok(format!(
            "ceiling check: {} events x {n} partner(s): {forwarded} forwarded copies JSON-equal to adgate explain, {dropped} drops agree",
            evs.len()
        ))
    } else {
        let shown: Vec<&String> = diffs.iter().take(5).collect();
        Err(format!(
            "ceiling check FAILED: {} of {} event copies differ from adgate explain, e.g.\n  {}",
            diffs.len(),
            evs.len() * n,
            shown
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join("\n  ")
        ))
    }
}

// ------------------------------------------------------------------- main --

fn partner_keys(specs: &[String]) -> Result<Vec<(String, Vec<u8>)>, String> {
    specs
        .iter()
        .map(|s| {
            let (id, env) = s
                .split_once('=')
                .ok_or_else(|| format!("--key {s:?}: expected KEY_ID=ENV_VAR"))?;
            let secret = std::env::var(env)
                .map_err(|_| format!("--key {id}: environment variable {env} is not set"))?;
            let key = STANDARD
                .decode(secret.trim())
                .map_err(|_| format!("--key {id}: {env} is not base64"))?;
            Ok((id.to_string(), key))
        })
        .collect()
}

fn main() -> ExitCode {
    let args = Args::parse();
    let keys = match partner_keys(&args.keys) {
        Ok(k) => k,
        Err(e) => {
            eprintln!("adgate-ceiling: {e}");
            return ExitCode::from(2);
        }
    };
    let mut identifiers = Vec::new();
    for s in args.identifiers.split(',') {
        match Kind::parse(s) {
            Some(k) => identifiers.push(k),
            None => {
                eprintln!("adgate-ceiling: --identifiers: unknown kind {s:?} (email, phone, account_id, device_id)");
                return ExitCode::from(2);
            }
        }
    }
    let scrub = Scrubber::new(&keys, identifiers);

    // (--check and --config exclude each other: the check is the plain
    // scrub's.)
    if let Some(events) = &args.check {
        let Some(explain) = &args.explain else {
            eprintln!("adgate-ceiling: --check needs --explain REPORT");
            return ExitCode::from(2);
        };
        let read = |p: &PathBuf| {
            std::fs::read_to_string(p).map_err(|e| format!("cannot read {}: {e}", p.display()))
        };
        let result = read(events)
            .and_then(|ev| Ok((ev, read(explain)?)))
            .and_then(|(ev, ex)| check(&scrub, &ev, &ex));
        return match result {
            Ok(summary) => {
                println!("{summary}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{e}");
                ExitCode::from(1)
            }
        };
    }

    let scrub = match &args.config {
        Some(path) => match Gateway::load(path) {
            Ok(g) => Scrub::Adgate(Box::new(g)),
            Err(e) => {
                eprintln!("adgate-ceiling: --config {}: {e}", path.display());
                return ExitCode::from(2);
            }
        },
        None => Scrub::Plain(scrub),
    };
    let Ok(token) = std::env::var(&args.token_env) else {
        eprintln!(
            "adgate-ceiling: environment variable {} (--token-env) is not set",
            args.token_env
        );
        return ExitCode::from(2);
    };
    let sv = Arc::new(Server {
        scrub,
        auth: format!("Bearer {token}").into_bytes(),
        max_body: args.max_body_bytes,
        sample: args.sample.map(|path| Sample {
            path,
            want: args.sample_events,
            done: AtomicBool::new(false),
            buf: Mutex::new((Vec::new(), 0)),
        }),
        events: AtomicU64::new(0),
    });
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads.max(1))
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("adgate-ceiling: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match rt.block_on(serve(sv, args.listen)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("adgate-ceiling: {e}");
            ExitCode::from(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The worked example of docs/policy.md (key 0x00..0x1f, id k202611).
    fn example() -> Scrubber {
        let key: Vec<u8> = (0u8..32).collect();
        Scrubber::new(&[("k202611".into(), key)], vec![Kind::Email])
    }

    #[test]
    fn the_policy_docs_worked_example() {
        let ev = r#"{"event_id":"0b6f1c2a","event_type":"ad_impression","timestamp":"2026-11-28T13:45:12Z","user":{"email":"  Jane.Doe+ads@GMail.com "},"ad":{"campaign_id":"c-77"}}"#;
        let mut outs = vec![Vec::new()];
        assert_eq!(example().scrub(ev, &mut outs), Ok(true));
        assert_eq!(
            String::from_utf8(outs.remove(0)).unwrap(),
            "{\"event_type\":\"ad_impression\",\"time\":\"2026-11-28T13:00:00Z\",\
             \"ad_id\":\"k202611.CnnMKQ0Zu7y28Dw2yAq_DII0aI45A4AR_ZOcQltkqmk\",\"ad_id_type\":\"email\",\
             \"event_id\":\"k202611.1BsuDMSqtfZqS5LvTqMTdcauM9-daxt7kovKRJ72eGU\",\"ad\":{\"campaign_id\":\"c-77\"}}\n"
        );
    }

    #[test]
    fn rules_drop_and_reject() {
        let s = example();
        let base = r#""event_id":"e","timestamp":"2026-11-28T23:59:59+02:00""#;
        let mut outs = vec![Vec::new()];
        for (body, want) in [
            (
                r#""event_type":"purchase","user":{"email":"a@b.c"}"#,
                Ok(false),
            ),
            (
                r#""event_type":"ad_impression","user":{"email":"a@b.c","age":17}"#,
                Ok(false),
            ),
            (
                r#""event_type":"ad_impression","user":{"email":"a@b.c"},"consent":{"gpc":true}"#,
                Ok(false),
            ),
            (
                r#""event_type":"ad_impression","user":{"email":"a@b.c"},"context":{"category":"Health > Vitamins"}"#,
                Ok(false),
            ),
            (
                r#""event_type":"ad_impression","user":{"email":"a b@c.d"}"#,
                Ok(false),
            ),
            (
                r#""event_type":"ad_impression","user":{"email":"a@b.c"},"context":{"category":"books"}"#,
                Ok(true),
            ),
        ] {
            assert_eq!(
                s.scrub(&format!("{{{base},{body}}}"), &mut outs),
                want,
                "{body}"
            );
        }
        assert_eq!(s.scrub("{\"event_type\":\"x\"}", &mut outs), Err(()));
        assert_eq!(s.scrub("not json", &mut outs), Err(()));
    }

    /// `--config`: adgate's policy routes the worked example to the
    /// partner, drops what the plain scrub drops, and rejects what is not
    /// an event.
    #[test]
    fn the_policy_ceiling_does_adgates_work() {
        let dir = std::env::temp_dir().join(format!("adgate-ceiling-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let cfg = dir.join("adgate.toml");
        std::env::set_var(
            "ADGATE_CEILING_TEST_KEY",
            STANDARD.encode((0u8..32).collect::<Vec<u8>>()),
        );
        std::env::set_var(
            "ADGATE_CEILING_TEST_FEED",
            "feed-token-0123456789abcdef0123456789abcdef",
        );
        std::fs::write(
            &cfg,
            format!(
                r#"[server]
data_dir = "{}"
[[partners]]
name = "p0"
event_types = ["ad_impression"]
identifiers = ["email"]
fields = ["ad.campaign_id"]
[partners.delivery]
mode = "pull"
token_env = "ADGATE_CEILING_TEST_FEED"
[[partners.keys]]
id = "k202611"
secret_env = "ADGATE_CEILING_TEST_KEY"
"#,
                dir.join("data").display()
            ),
        )
        .unwrap();
        let g = Scrub::Adgate(Box::new(Gateway::load(&cfg).unwrap()));
        let plain = Scrub::Plain(example());
        assert_eq!(g.partners(), 1);
        let ev = r#"{"event_id":"0b6f1c2a","event_type":"ad_impression","timestamp":"2026-11-28T13:45:12Z","user":{"email":"  Jane.Doe+ads@GMail.com "},"ad":{"campaign_id":"c-77"}}"#;
        let (mut ours, mut theirs) = (vec![Vec::new()], vec![Vec::new()]);
        assert_eq!(g.scrub(ev, &mut ours), Ok(true));
        assert_eq!(plain.scrub(ev, &mut theirs), Ok(true));
        let json = |b: &[u8]| serde_json::from_slice::<serde_json::Value>(b).unwrap();
        assert_eq!(json(&ours[0]), json(&theirs[0]), "the docs' worked example");
        let purchase = ev.replace("ad_impression", "purchase");
        assert_eq!(g.scrub(&purchase, &mut ours), Ok(false));
        assert_eq!(g.scrub("not json", &mut ours), Err(()));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn ndjson_lines() {
        let got: Vec<&str> = lines("{\"a\":1}\r\n\n  \n{\"b\":2}").collect();
        assert_eq!(got, ["{\"a\":1}", "{\"b\":2}"]);
    }
}

//! Test harness: starts the real `adgate` binary on an ephemeral port with a
//! config written into a temp dir, talks HTTP (or HTTPS, when the config has
//! `[server.tls]`) to it, and runs mock partners as real HTTP servers. On
//! failure, everything the gateway logged is printed (the `Gateway` drop
//! prints stderr when the test panicked).
//!
//! Every test doubles as a hygiene check: when a `Gateway` is dropped, its
//! stdout, stderr and `/metrics` must not contain any secret it was given
//! nor any identifier a test posted to it ([`leaks`]), nor an unkeyed digest
//! of one ([`digest_leaks`]).

#![allow(dead_code)]

pub mod metrics;
#[macro_use]
pub mod nats;
pub mod partners;
pub mod run;

pub use metrics::*;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_adgate");

/// A fixed 32-byte key (base64) for partner A and B, and tokens.
pub const KEY_A: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
pub const KEY_B: &str = "HyAhIiMkJSYnKCkqKywtLi8wMTIzNDU2Nzg5Ojs8PT4=";
pub const PRODUCER_TOKEN: &str = "producer-token-0123456789abcdef0123456789";
pub const ADMIN_TOKEN: &str = "admin-token-0123456789abcdef0123456789abcd";
pub const FEED_TOKEN_A: &str = "feed-token-a-0123456789abcdef0123456789abc";
pub const FEED_TOKEN_B: &str = "feed-token-b-0123456789abcdef0123456789abc";
pub const SIGNING_SECRET: &str = "whsec-test-signing-secret-0123456789";

pub fn base_env() -> HashMap<String, String> {
    HashMap::from([
        ("T_PRODUCER".into(), PRODUCER_TOKEN.into()),
        ("T_ADMIN".into(), ADMIN_TOKEN.into()),
        ("T_FEED_A".into(), FEED_TOKEN_A.into()),
        ("T_FEED_B".into(), FEED_TOKEN_B.into()),
        ("K_A".into(), KEY_A.into()),
        ("K_B".into(), KEY_B.into()),
        ("T_SIGN".into(), SIGNING_SECRET.into()),
    ])
}

/// The head of every test config: server on port 0, one producer, admin.
/// `{DATA}` is replaced with the temp data dir.
pub const HEAD: &str = r#"
[server]
listen = "127.0.0.1:0"
data_dir = "{DATA}"
shutdown_grace_seconds = 5

[[producers]]
name = "web"
token_env = "T_PRODUCER"

[admin]
token_env = "T_ADMIN"

[privacy]
minor_age = 18
sensitive_categories = ["health", "pharmacy"]
time_granularity = "hour"
"#;

/// `lease_ms` of every [`pull_partner`]: seconds, so that a GET and its
/// commit, or two GETs of which the second must find the first's events
/// still leased, land inside it even when two busy shared cores stall the
/// test for a while. Tests of redelivery wait it out, and derive their
/// bounds from it.
pub const PULL_LEASE_MS: u64 = 5_000;

/// A pull partner named `name` with feed token env `token_env`, key env
/// `key_env`, and a lease of [`PULL_LEASE_MS`].
pub fn pull_partner(name: &str, token_env: &str, key_env: &str, extra: &str) -> String {
    format!(
        r#"
[[partners]]
name = "{name}"
event_types = ["ad_impression", "app_install"]
identifiers = ["account_id", "email", "device_id", "phone"]
fields = ["ad.campaign_id", "ad.placement", "ad.value_estimate_micros", "ad.currency", "app.app_id"]
{extra}
[partners.delivery]
mode = "pull"
token_env = "{token_env}"
lease_ms = {PULL_LEASE_MS}
[[partners.keys]]
id = "k1"
secret_env = "{key_env}"
"#
    )
}

/// A push partner posting to `endpoint`.
pub fn push_partner(name: &str, endpoint: &str, key_env: &str, delivery_extra: &str) -> String {
    format!(
        r#"
[[partners]]
name = "{name}"
event_types = ["ad_impression", "app_install"]
identifiers = ["account_id", "email", "device_id", "phone"]
fields = ["ad.campaign_id", "ad.placement", "ad.value_estimate_micros", "ad.currency", "app.app_id"]
[partners.delivery]
mode = "push"
endpoint = "{endpoint}"
signing_secret_env = "T_SIGN"
batch_max_events = 50
batch_max_wait_ms = 50
{delivery_extra}
[[partners.keys]]
id = "k1"
secret_env = "{key_env}"
"#
    )
}

pub struct Gateway {
    pub addr: SocketAddr,
    /// `http` or `https`, as the gateway printed it.
    pub scheme: String,
    /// The metrics listener, when the config has one.
    pub metrics_addr: Option<SocketAddr>,
    /// The client every request goes through; tests of TLS give it their CA
    /// (and a client certificate) with [`tls_agent`].
    pub agent: ureq::Agent,
    /// Raw identifiers (emails, phones, account and device ids, IPs) found
    /// in what the tests posted, for the hygiene check at drop.
    pub posted: Mutex<Vec<String>>,
    pub dir: tempfile::TempDir,
    pub config_path: PathBuf,
    pub child: Option<Child>,
    pub stderr: Arc<Mutex<String>>,
    pub stdout: Arc<Mutex<String>>,
    env: HashMap<String, String>,
    /// The gateway's own nats-server when the test runs on JetStream.
    pub nats: Option<nats::NatsServer>,
}

impl Gateway {
    /// Writes `config` (with `{DATA}` replaced) and starts the gateway.
    pub fn start(config: &str, env: HashMap<String, String>) -> Gateway {
        let dir = tempfile::tempdir().expect("tempdir");
        Gateway::start_in(dir, config, env)
    }

    pub fn start_in(
        dir: tempfile::TempDir,
        config: &str,
        mut env: HashMap<String, String>,
    ) -> Gateway {
        let data = dir.path().join("data");
        let config_path = dir.path().join("adgate.toml");
        let mut config = config.replace("{DATA}", data.to_str().unwrap());
        // On the JetStream backend, the gateway gets a nats-server of its own.
        let mut server = None;
        if nats::backend() == nats::Backend::JetStream && !config.contains("[outbox]") {
            let s = nats::NatsServer::start();
            config.push_str(&nats::outbox_section(&[s.url()], 1));
            env.extend(nats::env());
            server = Some(s);
        }
        std::fs::write(&config_path, config).unwrap();
        let mut g = Gateway {
            addr: "127.0.0.1:1".parse().unwrap(),
            scheme: "http".into(),
            metrics_addr: None,
            agent: ureq::AgentBuilder::new().build(),
            posted: Mutex::new(Vec::new()),
            dir,
            config_path,
            child: None,
            stderr: Arc::new(Mutex::new(String::new())),
            stdout: Arc::new(Mutex::new(String::new())),
            env,
            nats: server,
        };
        g.spawn();
        g
    }

    /// The dead letters of `partner`, whatever the backend: the lines of
    /// `data_dir/dead_letters/<partner>.ndjson`, or the messages of its
    /// JetStream dead-letter stream (the same JSON).
    pub fn dead_letters(&self, partner: &str) -> Vec<serde_json::Value> {
        match &self.nats {
            Some(n) => nats::stream_json(&n.url(), &format!("ADGATE_DEAD_{partner}")),
            None => {
                let path = self
                    .data_dir()
                    .join("dead_letters")
                    .join(format!("{partner}.ndjson"));
                std::fs::read_to_string(path)
                    .unwrap_or_default()
                    .lines()
                    .map(|l| {
                        serde_json::from_str(l)
                            .unwrap_or_else(|e| panic!("bad dead letter ({e}): {l}"))
                    })
                    .collect()
            }
        }
    }

    /// Every directory the gateway's state lives in: the data dir, and the
    /// NATS server's store on the JetStream backend.
    pub fn state_dirs(&self) -> Vec<PathBuf> {
        let mut v = vec![self.data_dir()];
        if let Some(n) = &self.nats {
            v.push(n.store_dir().to_path_buf());
        }
        v
    }

    /// Opt-outs stored (lines of optouts.log, or keys of the bucket).
    pub fn optout_count(&self) -> usize {
        match &self.nats {
            Some(n) => nats::optout_keys(&n.url()),
            // Each opt-out is two lines, `<hash> <checksum>`.
            None => std::fs::read_to_string(self.data_dir().join("optouts.log"))
                .unwrap_or_default()
                .lines()
                .filter_map(|l| l.split(' ').next())
                .collect::<std::collections::BTreeSet<_>>()
                .len(),
        }
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// (Re)starts the binary on the same config and data dir.
    pub fn spawn(&mut self) {
        let mut child = Command::new(BIN)
            .args([
                "serve",
                "--config",
                self.config_path.to_str().unwrap(),
                "--log-format",
                "json",
            ])
            .envs(&self.env)
            .env("ADGATE_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start adgate");
        let mut err = child.stderr.take().unwrap();
        let sink = self.stderr.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            while let Ok(n) = err.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let out = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let sink = self.stdout.clone();
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                sink.lock().unwrap().push_str(&line);
                sink.lock().unwrap().push('\n');
                if let Some(rest) = line.strip_prefix("adgate listening on ") {
                    if let Some(t) = tx.take() {
                        let _ = t.send(rest.to_string());
                    }
                }
            }
        });
        self.child = Some(child);
        match rx.recv_timeout(Duration::from_secs(60)) {
            // `SCHEME://ADDR` and, with a metrics listener,
            // ` (metrics on SCHEME://ADDR/metrics)`.
            Ok(line) => {
                let (scheme, rest) = line.split_once("://").unwrap();
                self.scheme = scheme.to_string();
                self.addr = rest.split_whitespace().next().unwrap().parse().unwrap();
                self.metrics_addr = line.split_once("(metrics on ").map(|(_, m)| {
                    let m = m.split_once("://").unwrap().1;
                    m.trim_end_matches(')')
                        .trim_end_matches("/metrics")
                        .parse()
                        .unwrap()
                });
            }
            Err(_) => panic!(
                "adgate did not start.\nstdout:\n{}\nstderr:\n{}",
                self.stdout.lock().unwrap_or_else(|e| e.into_inner()),
                self.stderr.lock().unwrap_or_else(|e| e.into_inner())
            ),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}://{}{}", self.scheme, self.addr, path)
    }

    /// `/metrics` where it is served: the metrics listener, if any.
    pub fn metrics_url(&self) -> String {
        match self.metrics_addr {
            Some(m) => format!("{}://{m}/metrics", self.scheme),
            None => self.url("/metrics"),
        }
    }

    pub fn pid(&self) -> i32 {
        self.child.as_ref().unwrap().id() as i32
    }

    pub fn signal(&self, sig: i32) {
        unsafe {
            libc::kill(self.pid(), sig);
        }
    }

    /// SIGKILL, no cleanup.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM and wait for exit; returns the exit code.
    pub fn terminate(&mut self) -> Option<i32> {
        self.signal(libc::SIGTERM);
        let mut c = self.child.take()?;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(s) = c.try_wait().unwrap() {
                return s.code();
            }
            if Instant::now() > deadline {
                let _ = c.kill();
                panic!("adgate did not exit after SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn logs(&self) -> String {
        self.stderr
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn post_events(&self, body: &str, content_type: &str) -> Resp {
        self.request(
            "POST",
            "/v1/events",
            Some(PRODUCER_TOKEN),
            &[("Content-Type", content_type)],
            body.as_bytes(),
        )
    }

    pub fn request(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Resp {
        if method == "POST" {
            self.posted
                .lock()
                .unwrap()
                .extend(identifiers_in(&String::from_utf8_lossy(body)));
        }
        let mut req = self
            .agent
            .request(method, &self.url(path))
            .timeout(Duration::from_secs(30));
        if let Some(t) = token {
            req = req.set("Authorization", &format!("Bearer {t}"));
        }
        for (k, v) in headers {
            req = req.set(k, v);
        }
        let res = if method == "GET" {
            req.call()
        } else {
            req.send_bytes(body)
        };
        Resp::from(res)
    }

    pub fn get(&self, path: &str, token: Option<&str>) -> Resp {
        self.request("GET", path, token, &[], b"")
    }

    /// `POST route` on the admin API (opt-outs, forget, access) with a JSON
    /// body and the admin token.
    pub fn admin_post(&self, route: &str, body: &serde_json::Value) -> Resp {
        self.request(
            "POST",
            route,
            Some(ADMIN_TOKEN),
            &[("Content-Type", "application/json")],
            body.to_string().as_bytes(),
        )
    }

    pub fn metrics(&self) -> String {
        let res = self
            .agent
            .get(&self.metrics_url())
            .timeout(Duration::from_secs(30))
            .call();
        Resp::from(res).body
    }
}

impl Gateway {
    /// What the hygiene check looks for: every secret the gateway was given
    /// (16+ bytes: tokens, keys, signing secrets, secret files next to the
    /// config) and every identifier posted to it.
    pub fn needles(&self) -> Vec<(String, String)> {
        let mut n: Vec<(String, String)> = self
            .env
            .iter()
            .filter(|(_, v)| v.len() >= 16)
            .map(|(k, v)| (format!("the secret in ${k}"), v.clone()))
            .collect();
        // Secret files the config names (token_file, secret_file,
        // signing_secret_file, TLS key_file): the value, or for a PEM key
        // every base64 line.
        let config = std::fs::read_to_string(&self.config_path).unwrap_or_default();
        for line in config.lines() {
            let Some((k, v)) = line.split_once('=') else {
                continue;
            };
            let k = k.trim();
            if !(k.ends_with("token_file") || k.ends_with("secret_file") || k == "key_file") {
                continue;
            }
            let path = self.dir.path().join(v.trim().trim_matches('"'));
            let Ok(text) = std::fs::read_to_string(&path) else {
                continue;
            };
            let what = format!("the secret in {}", path.display());
            if text.contains("PRIVATE KEY") {
                for l in text
                    .lines()
                    .filter(|l| l.len() >= 16 && !l.starts_with("-----"))
                {
                    n.push((what.clone(), l.to_string()));
                }
            } else if text.trim().len() >= 16 {
                n.push((what, text.trim().to_string()));
            }
        }
        for id in self.posted.lock().unwrap().iter() {
            n.push((format!("the posted identifier {id:?}"), id.clone()));
        }
        n
    }
}

/// Which needles (`(what, value)`) occur in `text`: the hygiene check's
/// core, unit-tested in tests/it/hygiene.rs so it is known to fail.
pub fn leaks(text: &str, needles: &[(String, String)]) -> Vec<String> {
    needles
        .iter()
        .filter(|(_, v)| !v.is_empty() && text.contains(v.as_str()))
        .map(|(what, _)| what.clone())
        .collect()
}

/// Unkeyed digests a careless log line could carry of `id`: SHA-256,
/// SHA-1, MD5 and SHA-512 of the identifier as posted (trimmed), lowercased,
/// and for a phone-like one its digits with and without `+`; as hex and as
/// base64 (standard and URL-safe, unpadded). Hashed with the crates
/// directly, not with adgate's code.
pub fn identifier_digests(id: &str) -> Vec<String> {
    use base64::Engine as _;
    use sha2::Digest as _;
    let t = id.trim();
    let mut forms = vec![t.to_string(), t.to_lowercase()];
    let digits: String = t.chars().filter(char::is_ascii_digit).collect();
    if digits.len() >= 8 && !t.contains('@') {
        forms.push(digits.clone());
        forms.push(format!("+{digits}"));
    }
    forms.sort();
    forms.dedup();
    let mut out = Vec::new();
    for f in &forms {
        let b = f.as_bytes();
        for d in [
            sha2::Sha256::digest(b).to_vec(),
            sha1::Sha1::digest(b).to_vec(),
            md5::Md5::digest(b).to_vec(),
            sha2::Sha512::digest(b).to_vec(),
        ] {
            out.push(hex_lower(&d));
            out.push(base64::engine::general_purpose::STANDARD_NO_PAD.encode(&d));
            out.push(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&d));
        }
    }
    out
}

/// Which posted identifiers appear in `text` as an unkeyed digest
/// ([`identifier_digests`]), whole or truncated to its first 32 hex / 22
/// base64 characters or more: hex in any case, base64 with or without
/// padding. Every window of candidate runs is looked up in the digests'
/// prefixes, so thousands of posted identifiers stay cheap.
pub fn digest_leaks(text: &str, posted: &[String]) -> Vec<String> {
    const HEX: usize = 32;
    const B64: usize = 22;
    let mut by_prefix: HashMap<String, &str> = HashMap::new();
    for id in posted {
        for d in identifier_digests(id) {
            let n = if d.bytes().all(|b| b.is_ascii_hexdigit()) {
                HEX
            } else {
                B64
            };
            by_prefix.insert(d[..n].to_string(), id);
        }
    }
    let mut found = Vec::new();
    let mut check = |run: &str, len: usize| {
        for start in 0..=run.len() - len {
            if let Some(id) = by_prefix.get(&run[start..start + len]) {
                found.push(format!("an unkeyed digest of the posted identifier {id:?}"));
            }
        }
    };
    let lower = text.to_ascii_lowercase();
    for run in lower.split(|c: char| !c.is_ascii_hexdigit()) {
        if run.len() >= HEX {
            check(run, HEX);
        }
    }
    for run in text.split(|c: char| !(c.is_ascii_alphanumeric() || "+/_-".contains(c))) {
        if run.len() >= B64 {
            check(run, B64);
        }
    }
    found.sort();
    found.dedup();
    found
}

/// Identifier values in a posted body (a JSON value, or NDJSON): strings
/// under `email`, `phone`, `account_id`, `device_id` or `ip` at any depth
/// (events carry them under `user`, opt-outs at the top), 6+ characters so
/// a short id cannot match by chance.
pub fn identifiers_in(body: &str) -> Vec<String> {
    fn walk(v: &serde_json::Value, out: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, x) in m {
                    match (k.as_str(), x) {
                        (
                            "email" | "phone" | "account_id" | "device_id" | "ip",
                            serde_json::Value::String(s),
                        ) if s.trim().len() >= 6 => out.push(s.trim().to_string()),
                        _ => walk(x, out),
                    }
                }
            }
            serde_json::Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    match serde_json::from_str::<serde_json::Value>(body) {
        Ok(v) => walk(&v, &mut out),
        Err(_) => body
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .for_each(|v| walk(&v, &mut out)),
    }
    out.sort();
    out.dedup();
    out
}

impl Drop for Gateway {
    fn drop(&mut self) {
        // No secret the gateway was given and no identifier posted to it may
        // appear in what it logged or printed, or in /metrics, whatever the
        // test did.
        if !std::thread::panicking() {
            let mut text = format!(
                "{}{}",
                self.stdout.lock().unwrap_or_else(|e| e.into_inner()),
                self.stderr.lock().unwrap_or_else(|e| e.into_inner())
            );
            if self.child.is_some() {
                if let Ok(r) = self
                    .agent
                    .get(&self.metrics_url())
                    .timeout(Duration::from_secs(10))
                    .call()
                {
                    text.push_str(&r.into_string().unwrap_or_default());
                }
            }
            let mut found = leaks(&text, &self.needles());
            found.extend(digest_leaks(
                &text,
                &self.posted.lock().unwrap_or_else(|e| e.into_inner()),
            ));
            if !found.is_empty() {
                panic!(
                    "{} appear(s) in adgate's output or /metrics:\n{text}",
                    found.join(", ")
                );
            }
        }
        if std::thread::panicking() {
            eprintln!(
                "---- adgate config ----\n{}\n---- adgate stdout ----\n{}\n---- adgate stderr ----\n{}",
                std::fs::read_to_string(&self.config_path).unwrap_or_default(),
                self.stdout.lock().unwrap_or_else(|e| e.into_inner()),
                self.stderr.lock().unwrap_or_else(|e| e.into_inner())
            );
        }
        self.kill();
    }
}

#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub body: String,
    pub headers: HashMap<String, String>,
}

impl Resp {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

impl From<Result<ureq::Response, ureq::Error>> for Resp {
    fn from(r: Result<ureq::Response, ureq::Error>) -> Resp {
        let resp = match r {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("request failed: {e}"),
        };
        let status = resp.status();
        let headers = resp
            .headers_names()
            .into_iter()
            .filter_map(|h| {
                resp.header(&h)
                    .map(|v| (h.to_ascii_lowercase(), v.to_string()))
            })
            .collect();
        let body = resp.into_string().unwrap_or_default();
        Resp {
            status,
            body,
            headers,
        }
    }
}

/// A realistic input event.
pub fn event(id: &str, event_type: &str, email: &str) -> serde_json::Value {
    serde_json::json!({
        "event_id": id,
        "event_type": event_type,
        "timestamp": "2026-11-28T13:45:12Z",
        "user": {"email": email, "account_id": format!("acct-{id}"), "phone": "+1 206 555 0100", "ip": "203.0.113.9", "age": 34},
        "consent": {"personalized_ads": true, "gpc": false},
        "context": {"page_url": "https://shop.example/p/1", "user_agent": "Mozilla/5.0", "category": "books"},
        "purchase": {"sku": "B-1", "price": 1999},
        "ad": {"campaign_id": "c-77", "placement": "home-top", "value_estimate_micros": 1250, "currency": "USD"},
    })
}

pub fn ndjson(events: &[serde_json::Value]) -> String {
    let mut s = String::new();
    for e in events {
        s.push_str(&e.to_string());
        s.push('\n');
    }
    s
}

/// True when CI runs the tests (`CI` set to anything but empty, 0 or false).
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && v != "false")
}

/// True when the user asked for a quick run (`ADGATE_TEST_QUICK=1`, as
/// `scripts/test.sh --quick` sets it) and this is not CI.
pub fn quick_run() -> bool {
    std::env::var("ADGATE_TEST_QUICK").is_ok_and(|v| v == "1") && !in_ci()
}

/// A test that cannot run here (a tool missing, a busy port). A skip is a
/// failure, naming `fix`, unless the user asked for a quick run; then it
/// prints SKIPPED (to the stderr handle, which the harness does not
/// capture: a skip must be seen) and the caller returns.
pub fn skip_or_fail(test: &str, why: &str, fix: &str) {
    if !quick_run() {
        panic!(
            "{test} cannot run: {why}. Fix: {fix} (or run a quick run that skips it: \
             scripts/test.sh --quick, or ADGATE_TEST_QUICK=1; never under CI)"
        );
    }
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {why} (fix: {fix})");
}

/// Polls `f` until it returns Some or `timeout` passes.
pub fn wait_for<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// Reads `partner`'s pull feed to its end (an empty page), committing each
/// page as it goes; returns the events in the order they were served. A feed
/// or commit answer other than 200 fails the test.
pub fn drain_feed(g: &Gateway, partner: &str, token: &str) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    loop {
        let r = g.get(&format!("/v1/feed/{partner}?max=1000"), Some(token));
        assert_eq!(r.status, 200, "feed {partner}: {}", r.body);
        let page = r.json();
        let events = page["events"]
            .as_array()
            .unwrap_or_else(|| panic!("feed {partner}: no events array: {}", r.body))
            .clone();
        if events.is_empty() {
            return out;
        }
        let c = g.request(
            "POST",
            &format!("/v1/feed/{partner}/commit"),
            Some(token),
            &[("Content-Type", "application/json")],
            serde_json::json!({ "cursor": page["cursor"] })
                .to_string()
                .as_bytes(),
        );
        assert_eq!(c.status, 200, "commit {partner}: {}", c.body);
        out.extend(events);
    }
}

/// The `event_id`s of `events` (as the partner sees them), in order.
pub fn event_ids(events: &[serde_json::Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| {
            e["event_id"]
                .as_str()
                .unwrap_or_else(|| panic!("no event_id: {e}"))
                .to_string()
        })
        .collect()
}

// ---------------------------------------------------------------------------
// Mock partner: a real HTTP/1.1 server on 127.0.0.1:0.

#[derive(Debug, Clone)]
pub struct Received {
    pub headers: HashMap<String, String>,
    /// Body exactly as sent (gzip not undone).
    pub body: Vec<u8>,
    pub at: Instant,
    /// The status the mock answered (or will answer, after its delay).
    pub status: u16,
}

impl Received {
    /// The NDJSON lines of the body, gunzipped if needed.
    pub fn events(&self) -> Vec<serde_json::Value> {
        let raw = if self.headers.get("content-encoding").map(String::as_str) == Some("gzip") {
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(&self.body[..])
                .read_to_end(&mut out)
                .unwrap();
            out
        } else {
            self.body.clone()
        };
        String::from_utf8(raw)
            .unwrap()
            .lines()
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

/// What the mock answers: status and extra headers, decided per request
/// (the argument is the 0-based request number).
pub type Responder = Arc<dyn Fn(usize) -> (u16, Vec<(String, String)>) + Send + Sync>;

pub struct MockPartner {
    pub addr: SocketAddr,
    pub received: Arc<Mutex<Vec<Received>>>,
    pub responder: Arc<Mutex<Responder>>,
    /// How long the mock waits, after recording a request, before answering.
    pub delay: Arc<Mutex<Duration>>,
    _shutdown: tokio::sync::oneshot::Sender<()>,
}

impl MockPartner {
    pub fn start(responder: Responder) -> MockPartner {
        let received: Arc<Mutex<Vec<Received>>> = Arc::new(Mutex::new(Vec::new()));
        let responder = Arc::new(Mutex::new(responder));
        let (tx, rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let rec = received.clone();
        let resp = responder.clone();
        let delay = Arc::new(Mutex::new(Duration::ZERO));
        let delay_cfg = delay.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                tx.send(listener.local_addr().unwrap()).unwrap();
                let counter = Arc::new(std::sync::atomic::AtomicUsize::new(0));
                let serve = async {
                    loop {
                        let (stream, _) = listener.accept().await.unwrap();
                        let rec = rec.clone();
                        let resp = resp.clone();
                        let counter = counter.clone();
                        let delay_cfg = delay_cfg.clone();
                        tokio::spawn(async move {
                            let svc = hyper::service::service_fn(
                                move |req: hyper::Request<hyper::body::Incoming>| {
                                    let rec = rec.clone();
                                    let resp = resp.clone();
                                    let counter = counter.clone();
                                    let delay = *delay_cfg.lock().unwrap();
                                    async move {
                                        let (headers, body) = read_request(req).await;
                                        let n = counter
                                            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                                        let (status, extra) = (resp.lock().unwrap())(n);
                                        rec.lock().unwrap().push(Received {
                                            headers,
                                            body,
                                            at: Instant::now(),
                                            status,
                                        });
                                        if !delay.is_zero() {
                                            tokio::time::sleep(delay).await;
                                        }
                                        let mut r =
                                            hyper::Response::new(http_body_util::Full::new(
                                                bytes::Bytes::from_static(b"{}"),
                                            ));
                                        *r.status_mut() =
                                            hyper::StatusCode::from_u16(status).unwrap();
                                        for (k, v) in extra {
                                            r.headers_mut().insert(
                                                hyper::header::HeaderName::from_bytes(k.as_bytes())
                                                    .unwrap(),
                                                v.parse().unwrap(),
                                            );
                                        }
                                        Ok::<_, std::convert::Infallible>(r)
                                    }
                                },
                            );
                            let _ = hyper::server::conn::http1::Builder::new()
                                .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                                .await;
                        });
                    }
                };
                tokio::select! {
                    _ = serve => {}
                    _ = stop_rx => {}
                }
            });
        });
        let addr = tx_recv(rx);
        MockPartner {
            addr,
            received,
            responder,
            delay,
            _shutdown: stop_tx,
        }
    }

    pub fn always(status: u16) -> MockPartner {
        MockPartner::start(Arc::new(move |_| (status, Vec::new())))
    }

    pub fn url(&self) -> String {
        format!("http://{}/ingest", self.addr)
    }

    pub fn set(&self, r: Responder) {
        *self.responder.lock().unwrap() = r;
    }

    /// Answer requests that arrive from now on only after `d` (the request
    /// is recorded at once, so a test can see a batch in flight).
    pub fn set_delay(&self, d: Duration) {
        *self.delay.lock().unwrap() = d;
    }

    pub fn requests(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// Every event received, in order, from 2xx-answered and other requests alike.
    pub fn all_events(&self) -> Vec<serde_json::Value> {
        self.requests().iter().flat_map(|r| r.events()).collect()
    }
}

fn tx_recv(rx: std::sync::mpsc::Receiver<SocketAddr>) -> SocketAddr {
    rx.recv_timeout(Duration::from_secs(10))
        .expect("mock partner started")
}

/// Grep helper: does any file under `dir` contain `needle` (bytes)?
pub fn dir_contains(dir: &Path, needle: &[u8]) -> Option<PathBuf> {
    for entry in walk(dir) {
        if let Ok(b) = std::fs::read(&entry) {
            if b.windows(needle.len()).any(|w| w == needle) {
                return Some(entry);
            }
        }
    }
    None
}

pub fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------
// Independent re-implementations of what a partner can check.

/// `key_id "." base64url_nopad(HMAC-SHA256(key, tag ":" value))`, computed
/// with the `hmac` and `sha2` crates directly, not adgate's code. `key_b64`
/// is the partner key as configured (standard base64).
pub fn expected_tagged(key_b64: &str, key_id: &str, tag: &str, value: &str) -> String {
    use base64::Engine as _;
    use hmac::Mac as _;
    let key = base64::engine::general_purpose::STANDARD
        .decode(key_b64)
        .unwrap();
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{tag}:{value}").as_bytes());
    format!(
        "{key_id}.{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    )
}

/// The partner-visible event id of producer event `id` (key id `k1`).
pub fn expected_event_id(key_b64: &str, id: &str) -> String {
    expected_tagged(key_b64, "k1", "event_id", id)
}

/// Hex of `bytes`, lowercase.
pub fn hex_lower(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

// ---------------------------------------------------------------------------
// HTTPS clients for gateways with [server.tls].

/// Certificates (DER) and a private key from PEM text.
pub fn pem_certs(pem: &str) -> Vec<rustls::pki_types::CertificateDer<'static>> {
    rustls_pemfile::certs(&mut pem.as_bytes())
        .collect::<Result<_, _>>()
        .expect("PEM certificates")
}

pub fn pem_key(pem: &str) -> rustls::pki_types::PrivateKeyDer<'static> {
    rustls_pemfile::private_key(&mut pem.as_bytes())
        .expect("PEM")
        .expect("a private key")
}

/// A rustls client config trusting `ca_pem` only, presenting `client`
/// (certificate chain PEM, key PEM) when given, limited to `versions`.
pub fn tls_client_config(
    ca_pem: &str,
    client: Option<(&str, &str)>,
    versions: &[&'static rustls::SupportedProtocolVersion],
    alpn: &[&[u8]],
) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for c in pem_certs(ca_pem) {
        roots.add(c).unwrap();
    }
    let b = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(versions)
    .unwrap()
    .with_root_certificates(roots);
    let mut c = match client {
        Some((cert, key)) => b
            .with_client_auth_cert(pem_certs(cert), pem_key(key))
            .unwrap(),
        None => b.with_no_client_auth(),
    };
    c.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Arc::new(c)
}

/// A ureq agent for a TLS gateway: trusts `ca_pem`, presents `client`.
pub fn tls_agent(ca_pem: &str, client: Option<(&str, &str)>) -> ureq::Agent {
    ureq::AgentBuilder::new()
        .tls_config(tls_client_config(
            ca_pem,
            client,
            rustls::DEFAULT_VERSIONS,
            &[b"http/1.1"],
        ))
        .build()
}

/// Raises this process's soft RLIMIT_NOFILE to at least `want` (up to the
/// hard limit); the gateway it starts inherits it. Returns the soft limit
/// now in force. Under `CI=1` a limit below `want` fails the test loudly
/// instead of letting it run smaller.
///
/// The limit is process-wide and every test module runs in this one
/// process: the lock makes read-compare-raise one step, so a test that wants
/// less never lowers what a concurrent test just raised.
pub fn raise_fd_limit(want: u64) -> u64 {
    static RAISING: Mutex<()> = Mutex::new(());
    let _one_at_a_time = RAISING.lock().unwrap_or_else(|e| e.into_inner());
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with a valid pointer to a local struct.
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
        if lim.rlim_cur < want as libc::rlim_t {
            lim.rlim_cur = (want as libc::rlim_t).min(lim.rlim_max);
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
            libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
        }
    }
    let got = lim.rlim_cur;
    if got < want && std::env::var("CI").as_deref() == Ok("1") {
        panic!("RLIMIT_NOFILE is {got} (hard {}), this test needs {want}: raise the hard limit (ulimit -Hn)", lim.rlim_max);
    }
    got
}

/// `VmHWM` (peak) and `VmRSS` of a process, in KiB.
pub fn memory_kb(pid: i32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    };
    (field("VmHWM:"), field("VmRSS:"))
}

/// A mock server's view of a request: headers (lower-case names, values as
/// text) and the whole body.
pub async fn read_request(
    req: hyper::Request<hyper::body::Incoming>,
) -> (HashMap<String, String>, Vec<u8>) {
    use http_body_util::BodyExt;
    let headers = req
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
        .collect();
    let body = req.into_body().collect().await.unwrap().to_bytes().to_vec();
    (headers, body)
}

/// `adgate explain --format json` of `input` (events, one per line) under
/// the config file `config` and `env`: the reports, one per event, after
/// checking the command succeeded and reported `events` events.
pub fn explain_reports(
    config: &Path,
    env: &HashMap<String, String>,
    input: String,
    events: usize,
) -> Vec<serde_json::Value> {
    use std::io::Write as _;
    let mut child = Command::new(BIN)
        .args([
            "explain",
            "--config",
            config.to_str().unwrap(),
            "--format",
            "json",
        ])
        .envs(env)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start adgate explain");
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(
        out.status.success(),
        "explain failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let reports: Vec<serde_json::Value> =
        serde_json::from_slice(&out.stdout).expect("explain JSON");
    assert_eq!(reports.len(), events, "one report per event");
    reports
}

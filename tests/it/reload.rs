//! Hot reload (SIGHUP and `POST /admin/reload`) against the real binary.
//!
//! One persistent HTTP/1.1 connection, opened before the first reload, is
//! used for ingest, `/metrics` and the reload requests themselves, and must
//! survive every reload. A valid config is swapped in: a new producer token
//! works, a partner's changed allow-list and a rotated key apply to the next
//! event, an added partner gets an outbox and its events, a removed one gets
//! none. An invalid config (a protected field, an unknown key) is refused:
//! `/admin/reload` answers 400 with the error naming the key path, the old
//! config keeps working, and `adgate_config_reloads_total{result="error"}`
//! counts it (`result="ok"` counts the good ones).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use crate::common::*;
use serde_json::{json, Value};

const PRODUCER2_TOKEN: &str = "producer2-token-0123456789abcdef0123456789";
const KEY_C: &str = "QEFCQ0RFRkdISUpLTE1OT1BRUlNUVVZXWFlaW1xdXl8=";
const KEY_D: &str = "YGFiY2RlZmdoaWprbG1ub3BxcnN0dXZ3eHl6e3x9fn8=";
const KEY_E: &str = "gIGCg4SFhoeIiYqLjI2Oj5CRkpOUlZaXmJmam5ydnp8=";

// ---------------------------------------------------------------------------
// One keep-alive connection, spoken by hand so nothing can quietly reconnect.

struct KeepAlive {
    addr: SocketAddr,
    writer: TcpStream,
    reader: BufReader<TcpStream>,
    /// The local port, to show it is the same connection throughout.
    local: SocketAddr,
    requests: usize,
}

#[derive(Debug)]
struct Reply {
    status: u16,
    headers: HashMap<String, String>,
    body: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {self:?}"))
    }
}

impl KeepAlive {
    fn open(addr: SocketAddr) -> KeepAlive {
        let writer = TcpStream::connect(addr).expect("connect");
        writer
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let local = writer.local_addr().unwrap();
        let reader = BufReader::new(writer.try_clone().unwrap());
        KeepAlive {
            addr,
            writer,
            reader,
            local,
            requests: 0,
        }
    }

    /// One request on this connection; panics if the server closed it.
    fn send(&mut self, method: &str, path: &str, token: Option<&str>, body: &[u8]) -> Reply {
        let n = self.requests;
        self.requests += 1;
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Length: {}\r\n",
            self.addr,
            body.len()
        );
        if !body.is_empty() {
            head.push_str("Content-Type: application/x-ndjson\r\n");
        }
        if let Some(t) = token {
            head.push_str(&format!("Authorization: Bearer {t}\r\n"));
        }
        head.push_str("\r\n");
        let what = format!(
            "request #{n} ({method} {path}) on the keep-alive connection from {}",
            self.local
        );
        self.writer
            .write_all(head.as_bytes())
            .and_then(|_| self.writer.write_all(body))
            .unwrap_or_else(|e| panic!("{what}: write failed, the connection was dropped: {e}"));
        let mut line = String::new();
        let got = self
            .reader
            .read_line(&mut line)
            .unwrap_or_else(|e| panic!("{what}: read failed: {e}"));
        assert!(got > 0, "{what}: the server closed the connection");
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("{what}: bad status line {line:?}"));
        let mut headers = HashMap::new();
        loop {
            let mut h = String::new();
            self.reader.read_line(&mut h).unwrap();
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            let (k, v) = h.split_once(':').expect("header line");
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
        let body = if let Some(len) = headers.get("content-length") {
            let mut b = vec![0u8; len.parse().unwrap()];
            self.reader.read_exact(&mut b).unwrap();
            b
        } else if headers.get("transfer-encoding").map(String::as_str) == Some("chunked") {
            let mut b = Vec::new();
            loop {
                let mut size = String::new();
                self.reader.read_line(&mut size).unwrap();
                let size = usize::from_str_radix(size.trim(), 16).unwrap();
                let mut chunk = vec![0u8; size + 2];
                self.reader.read_exact(&mut chunk).unwrap();
                if size == 0 {
                    break;
                }
                b.extend_from_slice(&chunk[..size]);
            }
            b
        } else {
            panic!("{what}: response without a length: {headers:?}");
        };
        assert_ne!(
            headers.get("connection").map(String::as_str),
            Some("close"),
            "{what}: the server announced it closes the connection"
        );
        Reply {
            status,
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        }
    }

    fn ingest(&mut self, token: &str, events: &[Value]) -> Reply {
        self.send("POST", "/v1/events", Some(token), ndjson(events).as_bytes())
    }

    fn reloads(&mut self, result: &str) -> f64 {
        let m = self.send("GET", "/metrics", None, b"");
        assert_eq!(m.status, 200);
        metric_value(
            &m.body,
            &format!("adgate_config_reloads_total{{result=\"{result}\"}}"),
        )
    }

    /// Polls the reload counter over this connection until it reaches `n`.
    fn wait_reloads(&mut self, result: &str, n: f64) {
        for _ in 0..200 {
            if self.reloads(result) >= n {
                return;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        panic!(
            "adgate_config_reloads_total{{result=\"{result}\"}} never reached {n} (now {})",
            self.reloads(result)
        );
    }
}

// ---------------------------------------------------------------------------
// Configs.

fn alpha(fields: &str, keys: &[(&str, &str)]) -> String {
    let mut s = format!(
        r#"
[[partners]]
name = "alpha"
event_types = ["ad_impression", "app_install"]
identifiers = ["account_id", "email"]
fields = [{fields}]
[partners.delivery]
mode = "pull"
token_env = "T_FEED_A"
lease_ms = {PULL_LEASE_MS}
"#
    );
    for (id, env) in keys {
        s.push_str(&format!(
            "[[partners.keys]]\nid = \"{id}\"\nsecret_env = \"{env}\"\n"
        ));
    }
    s
}

const ALPHA_FIELDS_V1: &str = r#""ad.campaign_id", "ad.placement""#;
const ALPHA_FIELDS_V2: &str = r#""ad.campaign_id""#;

fn producer2() -> &'static str {
    "\n[[producers]]\nname = \"app\"\ntoken_env = \"T_PRODUCER2\"\n"
}

fn env() -> HashMap<String, String> {
    let mut env = base_env();
    env.insert("T_PRODUCER2".into(), PRODUCER2_TOKEN.into());
    env.insert("K_C".into(), KEY_C.into());
    env.insert("K_D".into(), KEY_D.into());
    env.insert("K_E".into(), KEY_E.into());
    env
}

fn write_config(g: &Gateway, config: &str) {
    std::fs::write(
        &g.config_path,
        config.replace("{DATA}", g.data_dir().to_str().unwrap()),
    )
    .unwrap();
}

fn ev(id: &str) -> Value {
    event(id, "ad_impression", &format!("{id}@example.com"))
}

fn accepted(r: &Reply, n: usize) {
    assert_eq!(r.status, 202, "{r:?}");
    assert_eq!(r.json()["accepted"], n, "{r:?}");
}

// ---------------------------------------------------------------------------

#[test]
fn reload_swaps_config_on_sighup_and_admin_api_keeps_connections_and_refuses_bad_configs() {
    let gone = MockPartner::always(200);
    let fresh = MockPartner::always(200);

    // v1: producer web; alpha (pull, placement allowed, key k1); gone (push).
    let v1 = format!(
        "{HEAD}{}{}",
        alpha(ALPHA_FIELDS_V1, &[("k1", "K_A")]),
        push_partner("gone", &gone.url(), "K_B", "")
    );
    let g = Gateway::start(&v1, env());
    let mut c = KeepAlive::open(g.addr);

    accepted(&c.ingest(PRODUCER_TOKEN, &[ev("e1")]), 1);
    assert_eq!(
        c.ingest(PRODUCER2_TOKEN, &[ev("e1b")]).status,
        401,
        "the second producer does not exist yet"
    );
    wait_for(Duration::from_secs(10), || {
        (!gone.all_events().is_empty()).then_some(())
    })
    .expect("gone receives e1 before the reload");
    let a = drain_feed(&g, "alpha", FEED_TOKEN_A);
    assert_eq!(a.len(), 1);
    assert_eq!(
        a[0]["ad"]["placement"], "home-top",
        "v1 forwards ad.placement"
    );
    assert_eq!(c.reloads("ok"), 0.0);
    assert_eq!(c.reloads("error"), 0.0);

    // --- v2 by SIGHUP: producer "app" added, alpha's fields narrowed, gone
    // removed, fresh (push) added.
    let v2 = format!(
        "{HEAD}{}{}{}",
        producer2(),
        alpha(ALPHA_FIELDS_V2, &[("k1", "K_A")]),
        push_partner("fresh", &fresh.url(), "K_C", "")
    );
    write_config(&g, &v2);
    g.signal(libc::SIGHUP);
    c.wait_reloads("ok", 1.0);
    // The counter moves before the line is logged, and the line reaches
    // the test through a pipe: waited for, not read at once.
    wait_for(Duration::from_secs(10), || {
        g.logs().contains("config reloaded").then_some(())
    })
    .expect("no log line for the reload");

    accepted(&c.ingest(PRODUCER2_TOKEN, &[ev("e2")]), 1);
    accepted(&c.ingest(PRODUCER_TOKEN, &[ev("e2b")]), 1);
    let got = wait_for(Duration::from_secs(10), || {
        let evs = fresh.all_events();
        (evs.len() >= 2).then_some(evs)
    })
    .expect("the partner added by the reload receives e2 and e2b");
    assert_eq!(
        got.iter()
            .map(|e| e["event_id"].as_str().unwrap().to_string())
            .collect::<Vec<_>>(),
        vec![
            expected_tagged(KEY_C, "k1", "event_id", "e2"),
            expected_tagged(KEY_C, "k1", "event_id", "e2b")
        ]
    );
    let a = drain_feed(&g, "alpha", FEED_TOKEN_A);
    assert_eq!(a.len(), 2, "{a:?}");
    for e in &a {
        assert_eq!(e["ad"]["campaign_id"], "c-77", "{e}");
        assert!(
            e["ad"].get("placement").is_none(),
            "v2 no longer allows ad.placement: {e}"
        );
    }
    // The removed partner got nothing after e1 (its worker is gone; give a
    // stray batch time to show up).
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        gone.all_events().len(),
        1,
        "the removed partner still received events: {:?}",
        gone.all_events()
    );
    let m = c.send("GET", "/metrics", None, b"").body;
    assert!(
        m.contains("adgate_outbox_bytes{partner=\"fresh\"}"),
        "the added partner has an outbox gauge"
    );
    assert_eq!(
        metric_value(&m, "adgate_events_routed_total{partner=\"fresh\"}"),
        2.0
    );
    assert_eq!(
        metric_value(&m, "adgate_events_routed_total{partner=\"gone\"}"),
        1.0,
        "nothing routed to the removed partner after the reload"
    );
    assert!(
        g.data_dir().join("outbox/fresh").is_dir(),
        "the added partner's outbox is on disk"
    );
    assert!(
        g.data_dir().join("outbox/gone").is_dir(),
        "a removed partner's files stay on disk"
    );

    // --- v3 by POST /admin/reload on the same connection: beta (pull) added,
    // alpha gets a second key (rotation: the last one signs new ids).
    let v3 = format!(
        "{HEAD}{}{}{}{}",
        producer2(),
        alpha(ALPHA_FIELDS_V2, &[("k1", "K_A"), ("k2", "K_E")]),
        push_partner("fresh", &fresh.url(), "K_C", ""),
        pull_partner("beta", "T_FEED_B", "K_D", "")
    );
    write_config(&g, &v3);
    assert_eq!(
        c.send("POST", "/admin/reload", None, b"").status,
        401,
        "reload needs the admin token"
    );
    assert_eq!(
        c.send("POST", "/admin/reload", Some(PRODUCER_TOKEN), b"")
            .status,
        401,
        "a producer token is not the admin token"
    );
    let r = c.send("POST", "/admin/reload", Some(ADMIN_TOKEN), b"");
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json(), json!({"reloaded": true}));
    assert_eq!(c.reloads("ok"), 2.0);
    assert_eq!(c.reloads("error"), 0.0, "refused tokens are not reloads");

    accepted(&c.ingest(PRODUCER_TOKEN, &[ev("e3")]), 1);
    let a = drain_feed(&g, "alpha", FEED_TOKEN_A);
    assert_eq!(a.len(), 1, "{a:?}");
    assert_eq!(
        a[0]["ad_id"],
        expected_tagged(KEY_E, "k2", "account_id", "acct-e3"),
        "the newest key signs after the reload"
    );
    assert_eq!(
        a[0]["event_id"],
        expected_tagged(KEY_E, "k2", "event_id", "e3")
    );
    let b = drain_feed(&g, "beta", FEED_TOKEN_B);
    assert_eq!(
        b.len(),
        1,
        "the partner added by /admin/reload gets e3: {b:?}"
    );
    assert_eq!(b[0]["event_id"], expected_event_id(KEY_D, "e3"));

    // --- Refused: a protected field, by /admin/reload.
    let bad = format!(
        "{HEAD}{}{}{}{}",
        producer2(),
        alpha(
            r#""ad.campaign_id", "user.email""#,
            &[("k1", "K_A"), ("k2", "K_E")]
        ),
        push_partner("fresh", &fresh.url(), "K_C", ""),
        pull_partner("beta", "T_FEED_B", "K_D", "")
    );
    write_config(&g, &bad);
    let r = c.send("POST", "/admin/reload", Some(ADMIN_TOKEN), b"");
    assert_eq!(r.status, 400, "{r:?}");
    let err = r.json()["error"].as_str().unwrap().to_string();
    for needle in [
        "partners[0].fields[1]",
        "user.email",
        "protected",
        "adgate.toml",
    ] {
        assert!(
            err.contains(needle),
            "the error should name {needle:?}: {err}"
        );
    }
    assert!(
        r.headers
            .get("content-type")
            .is_some_and(|t| t.starts_with("application/json")),
        "{r:?}"
    );
    assert_eq!(c.reloads("error"), 1.0);
    assert_eq!(c.reloads("ok"), 2.0);

    // --- Refused: an unknown key, by SIGHUP.
    write_config(
        &g,
        &v3.replace("[server]\n", "[server]\ncolour = \"blue\"\n"),
    );
    g.signal(libc::SIGHUP);
    c.wait_reloads("error", 2.0);
    assert_eq!(c.reloads("ok"), 2.0);
    assert!(
        g.logs().contains("config reload refused"),
        "a refused reload is logged"
    );

    // The running config (v3) still works on the same connection: both
    // producers, alpha with k2 and without placement, beta, fresh.
    accepted(&c.ingest(PRODUCER_TOKEN, &[ev("e4")]), 1);
    accepted(&c.ingest(PRODUCER2_TOKEN, &[ev("e5")]), 1);
    let a = drain_feed(&g, "alpha", FEED_TOKEN_A);
    assert_eq!(a.len(), 2, "{a:?}");
    for e in &a {
        assert!(e["ad_id"].as_str().unwrap().starts_with("k2."), "{e}");
        assert!(e["ad"].get("placement").is_none(), "{e}");
        assert!(
            e.get("user").is_none(),
            "the refused config never applied: {e}"
        );
    }
    assert_eq!(drain_feed(&g, "beta", FEED_TOKEN_B).len(), 2);
    wait_for(Duration::from_secs(10), || {
        (fresh.all_events().len() >= 5).then_some(())
    })
    .unwrap_or_else(|| panic!("fresh got {:?}", fresh.all_events()));
    assert_eq!(gone.all_events().len(), 1);
    assert_eq!(g.get("/readyz", None).status, 200);

    // Every request above went over one connection.
    assert!(c.requests > 20, "{} requests", c.requests);
    eprintln!(
        "{} requests over one keep-alive connection from {} across 2 good and 2 refused reloads",
        c.requests, c.local
    );
}

/// A reload that removes a partner while producers are writing: a request
/// that read the old policy and finds the partner's outbox closed under it
/// is still accepted (the partner no longer takes events, as for a request
/// a moment later), and every acknowledged event reaches the partner that
/// stayed. Before, such requests got 503 and an ERROR line.
#[test]
fn removing_a_partner_under_load_refuses_no_request_and_loses_nothing() {
    let with_beta = format!(
        "{HEAD}{}{}",
        pull_partner("alpha", "T_FEED_A", "K_A", ""),
        pull_partner("beta", "T_FEED_B", "K_B", "")
    );
    let without_beta = format!("{HEAD}{}", pull_partner("alpha", "T_FEED_A", "K_A", ""));
    let g = Gateway::start(&with_beta, env());
    let stop = std::sync::atomic::AtomicBool::new(false);
    let (sent, refused) = std::thread::scope(|s| {
        let writers: Vec<_> = (0..3)
            .map(|w| {
                let (g, stop) = (&g, &stop);
                s.spawn(move || {
                    let (mut sent, mut refused) = (0usize, Vec::new());
                    let mut n = 0;
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        let evs: Vec<Value> =
                            (0..100).map(|i| ev(&format!("w{w}-{n}-{i}"))).collect();
                        n += 1;
                        let r = g.post_events(&ndjson(&evs), "application/x-ndjson");
                        if r.status == 202 {
                            sent += evs.len();
                        } else {
                            refused.push(format!("{} {}", r.status, r.body));
                        }
                    }
                    (sent, refused)
                })
            })
            .collect();
        let admin = |config: &str| {
            write_config(&g, config);
            let r = g.request("POST", "/admin/reload", Some(ADMIN_TOKEN), &[], b"");
            assert_eq!(r.status, 200, "{}", r.body);
        };
        for _ in 0..40 {
            admin(&without_beta);
            std::thread::sleep(Duration::from_millis(20));
            admin(&with_beta);
            std::thread::sleep(Duration::from_millis(20));
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        writers.into_iter().map(|w| w.join().unwrap()).fold(
            (0, Vec::new()),
            |(n, mut r), (s, f)| {
                r.extend(f);
                (n + s, r)
            },
        )
    });
    assert!(
        refused.is_empty(),
        "{} of the requests refused during reloads, e.g. {:?}",
        refused.len(),
        refused.first()
    );
    assert!(sent > 0);
    let alpha = drain_feed(&g, "alpha", FEED_TOKEN_A);
    assert_eq!(alpha.len(), sent, "alpha got every acknowledged event once");
    let logs = g.logs();
    assert!(!logs.contains("outbox write failed"), "{logs}");
}

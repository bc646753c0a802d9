//! `adgate-load`: a load generator for the adgate ingest endpoint (`POST /v1/events`).
//!
//! It pre-generates a pool of realistic NDJSON request bodies (docs/http-api.md, input events:
//! a mix of `ad_impression`, `app_install`, `purchase`, `product_view` and `search`
//! events with user, consent, context, ad and app blocks), then drives the gateway
//! from `--connections` workers, each with its own keep-alive HTTP/1.1 connection,
//! and prints throughput, latency percentiles and status counts.
//!
//! ```text
//! cargo run --release -p adgate-loadgen --bin adgate-load -- \
//!     --url http://127.0.0.1:8080/v1/events --token TOKEN \
//!     --connections 32 --batch 500 --duration 30s \
//!     [--rate EVENTS_PER_SEC] [--gzip] [--warmup 3s] [--json] [--seed N] [--pii-share 0.0]
//! ```
//!
//! * Closed loop by default: every worker POSTs a body, waits for the response and
//!   sends the next one. Latency runs from the first byte sent to the last byte read.
//! * `--rate R` targets R events/s in total, spread evenly over the workers. Each
//!   request has a scheduled start and latency is measured from that schedule, so a
//!   server that falls behind shows it in the percentiles (coordinated omission is
//!   accounted for, as in wrk2).
//! * `--warmup D` runs for D before the measured `--duration` window starts; nothing
//!   from the warm-up enters the statistics (the whole run takes warmup + duration).
//!   A request is counted in the window in which it completes.
//! * Every event carries a unique `event_id` (`RRRRRRRR-xxxx-xxxx-xxxx-CCCCCCCCCCCC`:
//!   a random per-run prefix, random hex from the generator, and a run-wide counter),
//!   so neither repeated bodies nor reruns collide with the gateway's 24 h dedup.
//!   The counter and the RFC 3339 timestamp sit in a fixed-width slot in each
//!   pre-rendered body and are overwritten in a copy of the buffer per send (tens of
//!   microseconds per 500-event body; the mean is printed as "body prep"). With
//!   `--gzip` each body is compressed per send with flate2's fastest level (every
//!   body differs), which costs the generator about a millisecond per 500 events.
//! * `--pii-share P` puts an email address, phone number or card number into an
//!   allow-listable ad/app field of a share P of the events, to exercise the PII guard.
//! * `--json` adds one JSON line with the figures as the last line of stdout (keys
//!   `events_per_sec`, `requests_per_sec`, `p50_ms`, `p90_ms`, `p99_ms`, `p999_ms`,
//!   `max_ms`, `accepted`, `sent`, `statuses`, `errors`, `duration_s`, and a few more).
//!   Progress and notes go to stderr.
//! * Only the address of `--url` is ever contacted; a host that does not resolve to a
//!   loopback address is refused unless `--allow-remote` is given.
//!
//! Exit codes: 0 when the run happened (even if some requests failed), 1 when not a
//! single request got a 2xx answer (or the server could not be reached), 2 on bad
//! arguments.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use clap::{CommandFactory, Parser};
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::header::{HeaderValue, AUTHORIZATION, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE};
use hyper::{Method, Request, Uri};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// Command-line arguments.
#[derive(Parser, Debug, Clone)]
#[command(
    name = "adgate-load",
    version,
    about = "Load generator for adgate's POST /v1/events",
    long_about = "Load generator for adgate's POST /v1/events: realistic NDJSON event batches, \
                  closed-loop or fixed-rate, with latency percentiles and status counts."
)]
struct Args {
    /// Ingest URL (http only), e.g. http://127.0.0.1:8080/v1/events
    #[arg(long)]
    url: String,
    /// Producer bearer token
    #[arg(long)]
    token: String,
    /// Concurrent workers, each with its own keep-alive connection
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// Events per request body
    #[arg(long, default_value_t = 500)]
    batch: usize,
    /// Measured run length, e.g. 30s, 2m, 500ms
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    duration: Duration,
    /// Target total events per second (default: as fast as the server answers)
    #[arg(long, value_name = "EVENTS_PER_SEC")]
    rate: Option<f64>,
    /// Send bodies with Content-Encoding: gzip
    #[arg(long)]
    gzip: bool,
    /// Warm-up run before the measured window, excluded from the statistics
    #[arg(long, default_value = "0s", value_parser = parse_duration)]
    warmup: Duration,
    /// Also print one JSON line with the results as the last line of stdout
    #[arg(long)]
    json: bool,
    /// Seed for the event generator (event content is reproducible; ids and times are not)
    #[arg(long)]
    seed: Option<u64>,
    /// Share of events (0.0-1.0) carrying an email/phone/card number in an ad or app field
    #[arg(long, default_value_t = 0.0)]
    pii_share: f64,
    /// Distinct pre-generated bodies (capped so the pool stays under 512 MiB)
    #[arg(long, default_value_t = 64)]
    pool: usize,
    /// Per-request timeout (counted as an error, the connection is reopened)
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    timeout: Duration,
    /// Runtime worker threads for the generator itself
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Allow a --url host that is not a loopback address
    #[arg(long)]
    allow_remote: bool,
}

/// Parses "500ms", "30s", "2m", "1h", "1.5s"; a bare number is seconds.
fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let value: f64 = num
        .parse()
        .map_err(|_| format!("invalid duration {s:?}: expected e.g. 500ms, 30s, 2m"))?;
    let scale = match unit {
        "ms" => 0.001,
        "" | "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        _ => {
            return Err(format!(
                "invalid duration unit {unit:?} in {s:?}: use ms, s, m or h"
            ))
        }
    };
    let secs = value * scale;
    if !secs.is_finite() || !(0.0..=31_536_000.0).contains(&secs) {
        return Err(format!("duration {s:?} out of range"));
    }
    Ok(Duration::from_secs_f64(secs))
}

fn usage_error(msg: impl std::fmt::Display) -> ! {
    Args::command()
        .error(clap::error::ErrorKind::ValueValidation, msg)
        .exit()
}

/// Target of the run, validated.
struct Target {
    /// The address every connection goes to (the first candidate that accepted).
    addr: SocketAddr,
    candidates: Vec<SocketAddr>,
    authority: HeaderValue,
    path: Uri,
    auth: HeaderValue,
}

fn validate(args: &Args) -> (Uri, HeaderValue) {
    if args.connections == 0 || args.connections > 10_000 {
        usage_error("--connections must be between 1 and 10000");
    }
    if args.batch == 0 || args.batch > 1_000_000 {
        usage_error("--batch must be between 1 and 1000000");
    }
    if args.duration.is_zero() {
        usage_error("--duration must be greater than zero");
    }
    if let Some(r) = args.rate {
        if !(r.is_finite() && r > 0.0) {
            usage_error("--rate must be a positive number of events per second");
        }
    }
    if !(0.0..=1.0).contains(&args.pii_share) {
        usage_error("--pii-share must be between 0.0 and 1.0");
    }
    if args.pool == 0 {
        usage_error("--pool must be at least 1");
    }
    if args.threads == 0 || args.threads > 256 {
        usage_error("--threads must be between 1 and 256");
    }
    if args.timeout.is_zero() {
        usage_error("--timeout must be greater than zero");
    }
    let uri: Uri = args
        .url
        .parse()
        .unwrap_or_else(|e| usage_error(format!("--url {:?} is not a valid URL: {e}", args.url)));
    match uri.scheme_str() {
        Some("http") => {}
        Some(other) => usage_error(format!(
            "--url scheme {other:?} is not supported: only http:// (put TLS in front separately)"
        )),
        None => usage_error(format!(
            "--url {:?} needs a scheme, e.g. http://127.0.0.1:8080/v1/events",
            args.url
        )),
    }
    if uri.host().is_none() {
        usage_error(format!("--url {:?} has no host", args.url));
    }
    let auth = HeaderValue::try_from(format!("Bearer {}", args.token))
        .unwrap_or_else(|_| usage_error("--token contains characters not allowed in a header"));
    (uri, auth)
}

async fn resolve(uri: &Uri, auth: HeaderValue, allow_remote: bool) -> Result<Target, (u8, String)> {
    let host = uri.host().unwrap_or_default();
    let host_trim = host.trim_start_matches('[').trim_end_matches(']');
    let port = uri.port_u16().unwrap_or(80);
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host_trim, port))
        .await
        .map_err(|e| (2, format!("cannot resolve {host}: {e}")))?
        .collect();
    if addrs.is_empty() {
        return Err((2, format!("{host} resolved to no address")));
    }
    if let Some(remote) = addrs.iter().find(|a| !a.ip().is_loopback()) {
        if !allow_remote {
            return Err((
                2,
                format!(
                    "{host} resolves to {}, which is not a loopback address; \
                     pass --allow-remote to load a remote host",
                    remote.ip()
                ),
            ));
        }
    }
    let authority = match uri.port_u16() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_string(),
    };
    let path = uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/")
        .parse()
        .map_err(|e| (2, format!("bad path in --url: {e}")))?;
    Ok(Target {
        addr: addrs[0],
        candidates: addrs,
        authority: HeaderValue::try_from(authority).map_err(|e| (2, e.to_string()))?,
        path,
        auth,
    })
}

// ---------------------------------------------------------------------------------
// Time formatting
// ---------------------------------------------------------------------------------

/// Formats unix seconds as `YYYY-MM-DDTHH:MM:SSZ` (20 bytes).
fn rfc3339(secs: u64) -> [u8; 20] {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (h, mi, s) = (rem / 3600, (rem % 3600) / 60, rem % 60);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    let text = format!("{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z");
    let mut out = [b'0'; 20];
    out.copy_from_slice(&text.as_bytes()[..20]);
    out
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

// ---------------------------------------------------------------------------------
// Event generation
// ---------------------------------------------------------------------------------

mod events {
    use rand::distributions::{Distribution, WeightedIndex};
    use rand::rngs::StdRng;
    use rand::seq::SliceRandom;
    use rand::Rng;
    use serde_json::{json, Map, Value};

    /// Bytes of the per-event slot: 12 hex counter digits, the `","timestamp":"`
    /// separator and a 20-byte RFC 3339 timestamp.
    pub const SLOT_LEN: usize = 47;
    /// Offset of the timestamp inside the slot.
    pub const SLOT_TS: usize = 27;
    const SLOT_PLACEHOLDER: &str = "000000000000\",\"timestamp\":\"1970-01-01T00:00:00Z";

    const TYPES: [&str; 5] = [
        "ad_impression",
        "app_install",
        "purchase",
        "product_view",
        "search",
    ];
    const TYPE_WEIGHTS: [u32; 5] = [60, 10, 10, 15, 5];

    const FIRST: [&str; 32] = [
        "jane", "john", "maria", "wei", "aisha", "carlos", "emma", "liam", "olivia", "noah",
        "sofia", "lucas", "mia", "arjun", "yuki", "fatima", "david", "sarah", "mohammed", "anna",
        "james", "chloe", "daniel", "priya", "ethan", "lea", "omar", "grace", "mateo", "hannah",
        "kenji", "isabel",
    ];
    const LAST: [&str; 32] = [
        "doe", "smith", "garcia", "chen", "khan", "rossi", "muller", "nguyen", "johnson", "brown",
        "lopez", "kim", "patel", "silva", "tanaka", "cohen", "martin", "novak", "okafor",
        "schmidt", "dubois", "ivanova", "hughes", "moreau", "larsen", "costa", "fischer", "walsh",
        "reyes", "sato", "berg", "ali",
    ];
    const OTHER_DOMAINS: [&str; 9] = [
        "yahoo.com",
        "outlook.com",
        "hotmail.com",
        "icloud.com",
        "aol.com",
        "proton.me",
        "fastmail.com",
        "example.com",
        "mail.example.org",
    ];
    const CATEGORIES: [&str; 12] = [
        "books",
        "electronics",
        "home",
        "garden",
        "toys",
        "apparel",
        "sports",
        "grocery",
        "beauty",
        "automotive",
        "pets",
        "music",
    ];
    const UAS: [&str; 6] = [
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
        "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.6778.81 Mobile Safari/537.36",
        "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
    ];
    const PLACEMENTS: [&str; 8] = [
        "home-top",
        "home-sidebar",
        "search-results",
        "product-detail",
        "checkout-banner",
        "category-grid",
        "app-interstitial",
        "app-rewarded-video",
    ];
    const APPS: [&str; 6] = [
        "com.example.game",
        "com.example.shop",
        "com.example.puzzle",
        "com.example.news",
        "com.example.fitness",
        "com.example.recipes",
    ];
    const PRODUCTS: [&str; 16] = [
        "Wireless Noise-Cancelling Headphones",
        "Stainless Steel Water Bottle 750ml",
        "Organic Cotton T-Shirt",
        "Trail Running Shoes",
        "Hardcover Notebook A5",
        "Cast Iron Skillet 12in",
        "LED Desk Lamp",
        "Yoga Mat Non-Slip",
        "Bluetooth Speaker Mini",
        "Ceramic Plant Pot Set",
        "Kids Building Blocks 500pc",
        "Espresso Beans 1kg",
        "Phone Case Clear",
        "Merino Wool Socks 3-Pack",
        "Board Game Classic Edition",
        "Dog Chew Toy Large",
    ];
    const QUERY_WORDS: [&str; 20] = [
        "red",
        "wireless",
        "cheap",
        "organic",
        "kids",
        "running",
        "shoes",
        "headphones",
        "lamp",
        "gift",
        "for",
        "men",
        "women",
        "best",
        "2026",
        "coffee",
        "garden",
        "set",
        "large",
        "sale",
    ];
    const UTM: [&str; 5] = ["google", "newsletter", "facebook", "partner", "direct"];
    const REFERRERS: [&str; 4] = [
        "https://www.google.com/",
        "https://www.bing.com/",
        "https://news.example.net/articles/spring-deals",
        "https://www.example-shop.com/",
    ];
    const IP_FIRST: [u8; 12] = [23, 31, 45, 52, 64, 73, 81, 98, 104, 151, 185, 212];
    const CURRENCIES: [&str; 3] = ["USD", "EUR", "GBP"];

    /// Event generator.
    pub struct Gen {
        rng: StdRng,
        prefix: String,
        pii_share: f64,
        types: WeightedIndex<u32>,
    }

    /// One rendered event line (without trailing newline).
    pub struct Line {
        pub text: String,
        /// Byte offset of the slot inside `text`.
        pub slot: usize,
        /// Seconds to subtract from "now" for this event's timestamp (0..=2).
        pub jitter: u8,
    }

    impl Gen {
        pub fn new(rng: StdRng, run_prefix: u32, pii_share: f64) -> Self {
            Gen {
                rng,
                prefix: format!("{run_prefix:08x}"),
                pii_share,
                types: WeightedIndex::new(TYPE_WEIGHTS).expect("static weights"),
            }
        }

        fn hex(&mut self, n: usize) -> String {
            const H: &[u8; 16] = b"0123456789abcdef";
            (0..n)
                .map(|_| H[self.rng.gen_range(0..16)] as char)
                .collect()
        }

        fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
            from.choose(&mut self.rng).copied().unwrap_or("")
        }

        fn email(&mut self) -> String {
            let first = self.pick(&FIRST);
            let last = self.pick(&LAST);
            let r: f64 = self.rng.gen();
            let gmail = r < 0.40;
            let domain = if gmail {
                "gmail.com"
            } else if r < 0.43 {
                "googlemail.com"
            } else {
                self.pick(&OTHER_DOMAINS)
            };
            let n: u32 = self.rng.gen_range(1..2000);
            let local = match self.rng.gen_range(0..6) {
                0 => format!("{first}.{last}"),
                1 => format!("{first}{last}{n}"),
                2 => format!("{}{last}", &first[..1]),
                3 => format!("{first}_{last}"),
                4 if gmail || domain == "googlemail.com" => format!("{first}.{last}+shop"),
                4 => format!("{first}.{last}{n}"),
                _ => format!("{}.{}.{last}", &first[..1], &first[1..]),
            };
            let mut email = format!("{local}@{domain}");
            let c: f64 = self.rng.gen();
            if c < 0.20 {
                email = capitalize_parts(&email);
            } else if c < 0.25 {
                email = email.to_ascii_uppercase();
            } else if c < 0.28 {
                email = email
                    .chars()
                    .map(|ch| {
                        if self.rng.gen_bool(0.5) {
                            ch.to_ascii_uppercase()
                        } else {
                            ch
                        }
                    })
                    .collect();
            }
            if self.rng.gen_bool(0.02) {
                email = format!(" {email} ");
            }
            email
        }

        fn phone(&mut self) -> String {
            let area = self.rng.gen_range(201..990);
            let ex = self.rng.gen_range(200..990);
            let line = self.rng.gen_range(0..10_000);
            match self.rng.gen_range(0..10) {
                0..=3 => format!("+1 {area} {ex} {line:04}"),
                4..=6 => format!("+1{area}{ex}{line:04}"),
                7 => format!("+1-{area}-{ex}-{line:04}"),
                8 => format!("+1 ({area}) {ex}-{line:04}"),
                _ => format!("+44 20 {} {line:04}", self.rng.gen_range(7000..8000)),
            }
        }

        fn ip(&mut self) -> String {
            if self.rng.gen_bool(0.15) {
                format!(
                    "2a02:{:x}:{:x}:{:x}::{:x}",
                    self.rng.gen_range(0x100..0xffff),
                    self.rng.gen_range(0..0xffff),
                    self.rng.gen_range(0..0xffff),
                    self.rng.gen_range(1..0xffff)
                )
            } else {
                let a = IP_FIRST[self.rng.gen_range(0..IP_FIRST.len())];
                format!(
                    "{a}.{}.{}.{}",
                    self.rng.gen_range(0..256),
                    self.rng.gen_range(0..256),
                    self.rng.gen_range(1..255)
                )
            }
        }

        fn device_id(&mut self) -> String {
            let id = format!(
                "{}-{}-{}-{}-{}",
                self.hex(8),
                self.hex(4),
                self.hex(4),
                self.hex(4),
                self.hex(12)
            );
            if self.rng.gen_bool(0.5) {
                id.to_ascii_uppercase() // IDFA style
            } else {
                id // GAID style
            }
        }

        fn pii_sample(&mut self) -> String {
            match self.rng.gen_range(0..3) {
                0 => {
                    let e = self.email();
                    e.trim().to_string()
                }
                1 => self.phone(),
                _ => {
                    let card = [
                        "4111 1111 1111 1111",
                        "4242424242424242",
                        "5555-5555-5555-4444",
                    ];
                    self.pick(&card).to_string()
                }
            }
        }

        /// Generates one event line with a slot for the counter and the timestamp.
        pub fn line(&mut self) -> Line {
            let ty = TYPES[self.types.sample(&mut self.rng)];
            let source = match ty {
                "app_install" => {
                    if self.rng.gen_bool(0.5) {
                        "ios"
                    } else {
                        "android"
                    }
                }
                _ => ["web", "web", "web", "ios", "android"][self.rng.gen_range(0..5)],
            };
            let mut ev = Map::new();
            ev.insert("event_type".into(), json!(ty));
            ev.insert("source".into(), json!(source));

            // user
            let mut user = Map::new();
            let no_ids = self.rng.gen_bool(0.02);
            if !no_ids && self.rng.gen_bool(0.85) {
                user.insert("email".into(), json!(self.email()));
            }
            if !no_ids && self.rng.gen_bool(0.70) {
                let id = if self.rng.gen_bool(0.7) {
                    format!("A{}", self.rng.gen_range(100_000..999_999_999u32))
                } else {
                    format!("cust_{}", self.hex(10))
                };
                user.insert("account_id".into(), json!(id));
            }
            let dev_p = if source == "web" { 0.3 } else { 0.95 };
            if !no_ids && self.rng.gen_bool(dev_p) {
                user.insert("device_id".into(), json!(self.device_id()));
            }
            if !no_ids && self.rng.gen_bool(0.40) {
                user.insert("phone".into(), json!(self.phone()));
            }
            if self.rng.gen_bool(0.95) {
                user.insert("ip".into(), json!(self.ip()));
            }
            if self.rng.gen_bool(0.85) {
                let age = if self.rng.gen_bool(0.03) {
                    self.rng.gen_range(13..18)
                } else {
                    self.rng.gen_range(18..80)
                };
                user.insert("age".into(), json!(age));
            }
            ev.insert("user".into(), Value::Object(user));

            ev.insert(
                "consent".into(),
                json!({
                    "personalized_ads": !self.rng.gen_bool(0.05),
                    "gpc": self.rng.gen_bool(0.02),
                }),
            );

            // context
            let category = if self.rng.gen_bool(0.03) {
                "health"
            } else {
                self.pick(&CATEGORIES)
            };
            let mut ctx = Map::new();
            if source == "web" {
                let utm = self.pick(&UTM);
                ctx.insert(
                    "page_url".into(),
                    json!(format!(
                        "https://shop.example.com/{category}/p/{}?utm_source={utm}",
                        self.rng.gen_range(10_000..999_999)
                    )),
                );
                if self.rng.gen_bool(0.3) {
                    ctx.insert("referrer".into(), json!(self.pick(&REFERRERS)));
                }
            } else {
                ctx.insert(
                    "screen".into(),
                    json!(
                        ["home", "feed", "product", "cart", "level_complete"]
                            [self.rng.gen_range(0..5)]
                    ),
                );
            }
            ctx.insert("user_agent".into(), json!(self.pick(&UAS)));
            ctx.insert("category".into(), json!(category));
            ev.insert("context".into(), Value::Object(ctx));

            // type-specific detail
            match ty {
                "purchase" => {
                    let n = self.rng.gen_range(1..=3);
                    let mut total = 0u64;
                    let items: Vec<Value> = (0..n)
                        .map(|_| {
                            let price = self.rng.gen_range(2_000_000..250_000_000u64);
                            let qty = self.rng.gen_range(1..=3u64);
                            total += price * qty;
                            json!({
                                "sku": format!("SKU-{}", self.rng.gen_range(10_000..99_999)),
                                "name": self.pick(&PRODUCTS),
                                "quantity": qty,
                                "price_micros": price,
                            })
                        })
                        .collect();
                    ev.insert(
                        "purchase".into(),
                        json!({
                            "order_id": format!("o-{}", self.rng.gen_range(10_000_000..99_999_999u32)),
                            "currency": "USD",
                            "total_micros": total,
                            "payment_method": (["card", "paypal", "gift_card"][self.rng.gen_range(0..3)]),
                            "items": items,
                        }),
                    );
                }
                "product_view" => {
                    ev.insert(
                        "view".into(),
                        json!({
                            "product_id": format!("p-{}", self.rng.gen_range(100_000..999_999)),
                            "name": self.pick(&PRODUCTS),
                            "price_micros": self.rng.gen_range(2_000_000..250_000_000u64),
                            "list": (["search_results", "recommendations", "category"][self.rng.gen_range(0..3)]),
                        }),
                    );
                }
                "search" => {
                    let words = self.rng.gen_range(1..=4);
                    let q: Vec<&str> = (0..words).map(|_| self.pick(&QUERY_WORDS)).collect();
                    ev.insert(
                        "search".into(),
                        json!({"query": q.join(" "), "results": self.rng.gen_range(0..500)}),
                    );
                }
                _ => {}
            }

            let has_ad = ty == "ad_impression" || (ty == "app_install" && self.rng.gen_bool(0.7));
            let pii = self.pii_share > 0.0 && self.rng.gen_bool(self.pii_share);
            if has_ad || pii {
                let currency = if self.rng.gen_bool(0.85) {
                    "USD"
                } else {
                    self.pick(&CURRENCIES)
                };
                ev.insert(
                    "ad".into(),
                    json!({
                        "campaign_id": format!("c-{}", self.rng.gen_range(1..500)),
                        "placement": self.pick(&PLACEMENTS),
                        "value_estimate_micros": self.rng.gen_range(100..20_000),
                        "currency": currency,
                    }),
                );
            }
            if ty == "app_install" {
                ev.insert(
                    "app".into(),
                    json!({
                        "app_id": self.pick(&APPS),
                        "version": format!("{}.{}.{}", self.rng.gen_range(1..6), self.rng.gen_range(0..20), self.rng.gen_range(0..10)),
                        "store": if source == "ios" { "app_store" } else { "google_play" },
                    }),
                );
            }
            if pii {
                let sample = self.pii_sample();
                let (block, field) = match (ev.contains_key("app"), self.rng.gen_range(0..3)) {
                    (true, 0) => ("app", "app_id"),
                    (_, 1) => ("ad", "campaign_id"),
                    _ => ("ad", "placement"),
                };
                if let Some(Value::Object(b)) = ev.get_mut(block) {
                    let old = b
                        .get(field)
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string();
                    b.insert(field.into(), json!(format!("{old} {sample}")));
                }
            }

            let rest = Value::Object(ev).to_string();
            let (a, b, c) = (self.hex(4), self.hex(4), self.hex(4));
            let head = format!("{{\"event_id\":\"{}-{a}-{b}-{c}-", self.prefix);
            let slot = head.len();
            let mut text = String::with_capacity(head.len() + SLOT_LEN + rest.len() + 2);
            text.push_str(&head);
            text.push_str(SLOT_PLACEHOLDER);
            text.push_str("\",");
            text.push_str(&rest[1..]);
            Line {
                text,
                slot,
                jitter: self.rng.gen_range(0..3),
            }
        }
    }

    fn capitalize_parts(email: &str) -> String {
        let mut out = String::with_capacity(email.len());
        let mut up = true;
        for ch in email.chars() {
            out.push(if up { ch.to_ascii_uppercase() } else { ch });
            up = matches!(ch, '.' | '@' | '_' | ' ');
        }
        out
    }
}

// ---------------------------------------------------------------------------------
// Body templates
// ---------------------------------------------------------------------------------

mod body {
    use super::events::{Gen, SLOT_LEN, SLOT_TS};
    use bytes::{Bytes, BytesMut};
    use std::io::Write as _;

    struct Slot {
        plain_off: usize,
        jitter: u8,
    }

    /// A pre-rendered NDJSON body with one fixed-width slot per event.
    pub struct Template {
        plain: Bytes,
        gzip: bool,
        slots: Vec<Slot>,
    }

    impl Template {
        pub fn build(gen: &mut Gen, batch: usize, gzip: bool) -> Self {
            let mut plain = Vec::with_capacity(batch * 700);
            let mut slots = Vec::with_capacity(batch);
            for _ in 0..batch {
                let line = gen.line();
                slots.push(Slot {
                    plain_off: plain.len() + line.slot,
                    jitter: line.jitter,
                });
                plain.extend_from_slice(line.text.as_bytes());
                plain.push(b'\n');
            }
            Template {
                plain: Bytes::from(plain),
                gzip,
                slots,
            }
        }

        pub fn events(&self) -> usize {
            self.slots.len()
        }

        pub fn plain_len(&self) -> usize {
            self.plain.len()
        }

        /// Bytes on the wire: the plain size, or a gzip estimate (the body is
        /// compressed per send, see [`Template::render`]).
        pub fn wire_len(&self) -> usize {
            if self.gzip {
                self.render(0, &[[b'0'; 20]; 3]).len()
            } else {
                self.plain.len()
            }
        }

        /// Returns a copy of the body with event counters starting at
        /// `first_id` and timestamps `ts[jitter]`; gzipped (flate2, fastest
        /// level) per send when `--gzip` is on, since every body differs.
        pub fn render(&self, first_id: u64, ts: &[[u8; 20]; 3]) -> Bytes {
            let mut slot_bytes = [0u8; SLOT_LEN];
            slot_bytes[12..SLOT_TS].copy_from_slice(b"\",\"timestamp\":\"");
            let mut out = BytesMut::from(&self.plain[..]);
            for (i, s) in self.slots.iter().enumerate() {
                fill_slot(&mut slot_bytes, first_id + i as u64, &ts[s.jitter as usize]);
                out[s.plain_off..s.plain_off + SLOT_LEN].copy_from_slice(&slot_bytes);
            }
            if !self.gzip {
                return out.freeze();
            }
            let mut enc = flate2::write::GzEncoder::new(
                Vec::with_capacity(out.len() / 4),
                flate2::Compression::fast(),
            );
            enc.write_all(&out).expect("writing to a Vec");
            Bytes::from(enc.finish().expect("writing to a Vec"))
        }
    }

    fn fill_slot(slot: &mut [u8; SLOT_LEN], counter: u64, ts: &[u8; 20]) {
        const H: &[u8; 16] = b"0123456789abcdef";
        for i in 0..12 {
            slot[11 - i] = H[((counter >> (4 * i)) & 0xf) as usize];
        }
        slot[SLOT_TS..].copy_from_slice(ts);
    }
}

// ---------------------------------------------------------------------------------
// Workers and statistics
// ---------------------------------------------------------------------------------

/// Per-worker results, merged at the end.
struct Stats {
    hist: Histogram<u64>,
    requests: u64,
    sent: u64,
    accepted: u64,
    rejected: u64,
    duplicates: u64,
    statuses: BTreeMap<u16, u64>,
    errors: BTreeMap<&'static str, u64>,
    /// 2xx answers over the whole run, warm-up included (for the exit code).
    ok_any: u64,
    /// Requests that completed after the measured window closed.
    late: u64,
    prep_ns: u64,
    prep_count: u64,
}

impl Stats {
    fn new() -> Self {
        Stats {
            hist: Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("static bounds"),
            requests: 0,
            sent: 0,
            accepted: 0,
            rejected: 0,
            duplicates: 0,
            statuses: BTreeMap::new(),
            errors: BTreeMap::new(),
            ok_any: 0,
            late: 0,
            prep_ns: 0,
            prep_count: 0,
        }
    }

    fn merge(&mut self, o: Stats) {
        self.hist.add(&o.hist).expect("same bounds");
        self.requests += o.requests;
        self.sent += o.sent;
        self.accepted += o.accepted;
        self.rejected += o.rejected;
        self.duplicates += o.duplicates;
        for (k, v) in o.statuses {
            *self.statuses.entry(k).or_default() += v;
        }
        for (k, v) in o.errors {
            *self.errors.entry(k).or_default() += v;
        }
        self.ok_any += o.ok_any;
        self.late += o.late;
        self.prep_ns += o.prep_ns;
        self.prep_count += o.prep_count;
    }
}

/// State shared by all workers.
struct Shared {
    target: Target,
    pool: Vec<body::Template>,
    gzip: bool,
    batch: u64,
    workers: usize,
    timeout: Duration,
    /// Next event counter (run-wide, unique per event).
    next_id: AtomicU64,
    /// Live counters for progress lines.
    live_accepted: AtomicU64,
    live_requests: AtomicU64,
    t0: Instant,
    measure_start: Instant,
    measure_end: Instant,
    /// Interval between a worker's scheduled starts in --rate mode.
    interval: Option<Duration>,
}

type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

async fn connect(addr: SocketAddr) -> Result<Sender, String> {
    let stream = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    let _ = stream.set_nodelay(true);
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

/// Sends one request and returns (status, response body).
async fn exchange(
    sender: &mut Sender,
    req: Request<Full<Bytes>>,
) -> Result<(u16, Bytes), &'static str> {
    sender.ready().await.map_err(|_| "connection")?;
    let resp = sender.send_request(req).await.map_err(|_| "connection")?;
    let status = resp.status().as_u16();
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|_| "response_body")?
        .to_bytes();
    Ok((status, body))
}

fn timestamps(now: u64) -> [[u8; 20]; 3] {
    [
        rfc3339(now),
        rfc3339(now.saturating_sub(1)),
        rfc3339(now.saturating_sub(2)),
    ]
}

async fn worker(id: usize, sh: Arc<Shared>) -> Stats {
    let mut st = Stats::new();
    let mut sender: Option<Sender> = None;
    let mut body_idx = id % sh.pool.len();
    let mut ts_cache = (0u64, timestamps(unix_now()));
    // In --rate mode the workers' first starts are spread evenly over one interval.
    let mut next_sched = sh
        .interval
        .map(|iv| sh.t0 + iv.mul_f64(id as f64 / sh.workers as f64));
    loop {
        let sched = match (next_sched, sh.interval) {
            (Some(at), Some(iv)) => {
                if at >= sh.measure_end {
                    break;
                }
                tokio::time::sleep_until(at.into()).await;
                next_sched = Some(at + iv);
                at
            }
            _ => {
                let now = Instant::now();
                if now >= sh.measure_end {
                    break;
                }
                now
            }
        };

        if sender.as_ref().is_none_or(|s| s.is_closed()) {
            match tokio::time::timeout(sh.timeout, connect(sh.target.addr)).await {
                Ok(Ok(s)) => sender = Some(s),
                res => {
                    let kind = if res.is_err() {
                        "connect_timeout"
                    } else {
                        "connect"
                    };
                    let now = Instant::now();
                    if now >= sh.measure_start && now <= sh.measure_end {
                        *st.errors.entry(kind).or_default() += 1;
                    }
                    if sh.interval.is_none() {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    continue;
                }
            }
        }
        let Some(conn) = sender.as_mut() else {
            continue;
        };

        // Prepare the body: copy a pooled template, patch ids and timestamps.
        let prep_start = Instant::now();
        let now_s = unix_now();
        if now_s != ts_cache.0 {
            ts_cache = (now_s, timestamps(now_s));
        }
        let tpl = &sh.pool[body_idx];
        body_idx = (body_idx + 1) % sh.pool.len();
        let first_id = sh.next_id.fetch_add(sh.batch, Ordering::Relaxed);
        let payload = tpl.render(first_id, &ts_cache.1);
        let n_events = tpl.events() as u64;
        let len = payload.len();
        let mut req = Request::new(Full::new(payload));
        *req.method_mut() = Method::POST;
        *req.uri_mut() = sh.target.path.clone();
        let h = req.headers_mut();
        h.insert(hyper::header::HOST, sh.target.authority.clone());
        h.insert(AUTHORIZATION, sh.target.auth.clone());
        h.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/x-ndjson"),
        );
        h.insert(CONTENT_LENGTH, HeaderValue::from(len));
        if sh.gzip {
            h.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        }
        let started = Instant::now();
        st.prep_ns += (started - prep_start).as_nanos() as u64;
        st.prep_count += 1;
        let from = if sh.interval.is_some() {
            sched
        } else {
            started
        };

        let result = tokio::time::timeout(sh.timeout, exchange(conn, req)).await;
        let done = Instant::now();
        let in_window = done >= sh.measure_start && done <= sh.measure_end;
        if done > sh.measure_end {
            st.late += 1;
        }
        match result {
            Ok(Ok((status, body))) => {
                let mut accepted = 0;
                if (200..300).contains(&status) {
                    st.ok_any += 1;
                }
                if status == 202 {
                    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&body) {
                        let get =
                            |k: &str| v.get(k).and_then(serde_json::Value::as_u64).unwrap_or(0);
                        accepted = get("accepted");
                        if in_window {
                            st.rejected += get("rejected");
                            st.duplicates += get("duplicates");
                        }
                    } else if in_window {
                        *st.errors.entry("bad_response_json").or_default() += 1;
                    }
                }
                sh.live_accepted.fetch_add(accepted, Ordering::Relaxed);
                sh.live_requests.fetch_add(1, Ordering::Relaxed);
                if in_window {
                    st.requests += 1;
                    st.sent += n_events;
                    st.accepted += accepted;
                    *st.statuses.entry(status).or_default() += 1;
                    let us = (done - from).as_micros().max(1) as u64;
                    st.hist.saturating_record(us);
                }
            }
            Ok(Err(kind)) => {
                sender = None;
                if in_window {
                    st.requests += 1;
                    st.sent += n_events;
                    *st.errors.entry(kind).or_default() += 1;
                }
            }
            Err(_) => {
                sender = None;
                if in_window {
                    st.requests += 1;
                    st.sent += n_events;
                    *st.errors.entry("timeout").or_default() += 1;
                }
            }
        }
    }
    st
}

// ---------------------------------------------------------------------------------
// Main, progress and report
// ---------------------------------------------------------------------------------

/// CPU seconds (user + system) used by this process so far, from /proc (Linux).
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = f.get(11)?.parse().ok()?;
    let stime: f64 = f.get(12)?.parse().ok()?;
    // USER_HZ is 100 on every Linux architecture that matters here.
    Some((utime + stime) / 100.0)
}

fn main() -> ExitCode {
    let args = Args::parse();
    let (uri, auth) = validate(&args);
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("adgate-load: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    ExitCode::from(rt.block_on(run(args, uri, auth)))
}

async fn run(args: Args, uri: Uri, auth: HeaderValue) -> u8 {
    let target = match resolve(&uri, auth, args.allow_remote).await {
        Ok(t) => t,
        Err((2, msg)) => usage_error(msg),
        Err((code, msg)) => {
            eprintln!("adgate-load: {msg}");
            return code;
        }
    };
    let mut target = target;
    let mut last_err = String::new();
    let mut reachable = None;
    for &addr in &target.candidates {
        match tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(addr)).await {
            Ok(Ok(_)) => {
                reachable = Some(addr);
                break;
            }
            Ok(Err(e)) => last_err = format!("cannot connect to {addr}: {e}"),
            Err(_) => last_err = format!("connecting to {addr} timed out"),
        }
    }
    match reachable {
        Some(addr) => target.addr = addr,
        None => {
            eprintln!("adgate-load: {last_err} (is the gateway running?)");
            return 1;
        }
    }

    // Pool of bodies, built before the clock starts.
    let seed = args.seed.unwrap_or_else(rand::random);
    let run_prefix: u32 = rand::random();
    let est_body = args
        .batch
        .saturating_mul(if args.gzip { 1100 } else { 700 });
    let pool_n = args.pool.min((512usize << 20) / est_body.max(1)).max(1);
    let build_start = Instant::now();
    let mut gen = events::Gen::new(
        <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(seed),
        run_prefix,
        args.pii_share,
    );
    let pool: Vec<body::Template> = (0..pool_n)
        .map(|_| body::Template::build(&mut gen, args.batch, args.gzip))
        .collect();
    let plain_bytes: usize = pool.iter().map(body::Template::plain_len).sum();
    let wire_bytes: usize = pool.iter().map(body::Template::wire_len).sum();
    let pool_events: usize = pool.iter().map(body::Template::events).sum();
    eprintln!(
        "adgate-load: {pool_n} bodies x {} events built in {:.2} s: {:.0} B/event, {:.1} KiB/body{} (seed {seed}, run prefix {run_prefix:08x})",
        args.batch,
        build_start.elapsed().as_secs_f64(),
        plain_bytes as f64 / pool_events as f64,
        wire_bytes as f64 / pool_n as f64 / 1024.0,
        if args.gzip {
            format!(" gzip ({:.1}x)", plain_bytes as f64 / wire_bytes as f64)
        } else {
            String::new()
        },
    );
    if wire_bytes / pool_n > 10 << 20 {
        eprintln!("adgate-load: note: bodies exceed 10 MiB, adgate's default max_body_bytes (413)");
    }

    let t0 = Instant::now();
    let measure_start = t0 + args.warmup;
    let measure_end = measure_start + args.duration;
    let interval = args
        .rate
        .map(|r| Duration::from_secs_f64(args.connections as f64 * args.batch as f64 / r));
    let shared = Arc::new(Shared {
        target,
        pool,
        gzip: args.gzip,
        batch: args.batch as u64,
        workers: args.connections,
        timeout: args.timeout,
        next_id: AtomicU64::new(0),
        live_accepted: AtomicU64::new(0),
        live_requests: AtomicU64::new(0),
        t0,
        measure_start,
        measure_end,
        interval,
    });
    let handles: Vec<_> = (0..args.connections)
        .map(|i| tokio::spawn(worker(i, shared.clone())))
        .collect();

    // Progress lines on stderr, and CPU samples at the window's edges.
    let every = Duration::from_secs(if std::io::stderr().is_terminal() {
        1
    } else {
        5
    });
    let mut tick = t0 + every;
    let mut cpu0: Option<Option<f64>> = None;
    let (mut last_t, mut last_acc, mut last_req) = (t0, 0u64, 0u64);
    let cpu1 = loop {
        let edge = if cpu0.is_none() {
            measure_start
        } else {
            measure_end
        };
        tokio::time::sleep_until(tick.min(edge).into()).await;
        let now = Instant::now();
        if cpu0.is_none() && now >= measure_start {
            cpu0 = Some(cpu_seconds());
        }
        if now >= measure_end {
            break cpu_seconds();
        }
        if now >= tick {
            let acc = shared.live_accepted.load(Ordering::Relaxed);
            let req = shared.live_requests.load(Ordering::Relaxed);
            let dt = (now - last_t).as_secs_f64();
            eprintln!(
                "[{:>5.0}s]{} {:>10.0} events/s accepted {:>8.1} requests/s",
                (now - t0).as_secs_f64(),
                if now < measure_start { " warmup" } else { "" },
                (acc - last_acc) as f64 / dt,
                (req - last_req) as f64 / dt,
            );
            (last_t, last_acc, last_req) = (now, acc, req);
            tick += every;
        }
    };

    let mut total = Stats::new();
    for h in handles {
        match h.await {
            Ok(st) => total.merge(st),
            Err(e) => eprintln!("adgate-load: worker failed: {e}"),
        }
    }
    let cpu = match (cpu0.flatten(), cpu1) {
        (Some(a), Some(b)) => Some(b - a),
        _ => None,
    };
    report(&args, &total, cpu);
    if total.ok_any == 0 {
        eprintln!("adgate-load: no request got a 2xx answer");
        1
    } else {
        0
    }
}

fn report(args: &Args, t: &Stats, cpu: Option<f64>) {
    let secs = args.duration.as_secs_f64();
    let q = |p: f64| (!t.hist.is_empty()).then(|| t.hist.value_at_quantile(p) as f64 / 1000.0);
    let max = (!t.hist.is_empty()).then(|| t.hist.max() as f64 / 1000.0);
    let (p50, p90, p99, p999) = (q(0.50), q(0.90), q(0.99), q(0.999));
    let fmt = |v: Option<f64>| v.map_or_else(|| "-".to_string(), |v| format!("{v:.3}"));
    let errors: u64 = t.errors.values().sum();
    let eps = t.accepted as f64 / secs;
    let rps = t.requests as f64 / secs;
    let sent_rate = t.sent as f64 / secs;
    let prep_us = if t.prep_count > 0 {
        t.prep_ns as f64 / t.prep_count as f64 / 1000.0
    } else {
        0.0
    };
    let cores = cpu.map(|c| c / secs);
    let per_100k = cores
        .filter(|_| sent_rate > 0.0)
        .map(|c| c / (sent_rate / 100_000.0));
    let join = |m: Vec<String>| {
        if m.is_empty() {
            "-".to_string()
        } else {
            m.join("  ")
        }
    };

    println!("adgate-load  {}", args.url);
    println!(
        "  mode              {}, {} connections, {} events/request, {}",
        match args.rate {
            Some(r) => format!("fixed rate {r:.0} events/s"),
            None => "closed loop".to_string(),
        },
        args.connections,
        args.batch,
        if args.gzip { "gzip NDJSON" } else { "NDJSON" }
    );
    println!(
        "  duration          {secs:.2} s measured (warm-up {:.2} s excluded)",
        args.warmup.as_secs_f64()
    );
    println!("  requests          {}  ({rps:.1}/s)", t.requests);
    println!("  events sent       {}  ({sent_rate:.0}/s)", t.sent);
    println!("  events accepted   {}  ({eps:.0}/s)", t.accepted);
    println!(
        "  rejected          {}  duplicates {}",
        t.rejected, t.duplicates
    );
    println!(
        "  latency (ms)      p50 {}  p90 {}  p99 {}  p99.9 {}  max {}",
        fmt(p50),
        fmt(p90),
        fmt(p99),
        fmt(p999),
        fmt(max)
    );
    println!(
        "  statuses          {}",
        join(
            t.statuses
                .iter()
                .map(|(k, v)| format!("{k}: {v}"))
                .collect()
        )
    );
    println!(
        "  errors            {errors}{}",
        if errors > 0 {
            format!(
                "  ({})",
                t.errors
                    .iter()
                    .map(|(k, v)| format!("{k}: {v}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        } else {
            String::new()
        }
    );
    println!("  body prep         {prep_us:.1} us/request (copy + event_id/timestamp patch)");
    match (cpu, cores) {
        (Some(c), Some(cores)) => println!(
            "  generator CPU     {cores:.2} cores ({c:.2} CPU-s in {secs:.2} s){}",
            per_100k.map_or_else(String::new, |p| format!(
                ", {p:.2} cores per 100k events/s sent"
            ))
        ),
        _ => println!("  generator CPU     n/a"),
    }
    if t.late > 0 {
        println!(
            "  in flight at end  {} (completed after the window, not counted)",
            t.late
        );
    }
    if t.statuses.contains_key(&401) {
        println!("  note              401 answers: the gateway does not accept this --token");
    }
    if let Some(r) = args.rate {
        if sent_rate < 0.95 * r {
            println!(
                "  note              target rate not reached ({:.0}% of it): the server or --connections is the limit",
                100.0 * sent_rate / r
            );
        }
    }
    if args.json {
        let statuses: serde_json::Map<String, serde_json::Value> = t
            .statuses
            .iter()
            .map(|(k, v)| (k.to_string(), serde_json::json!(v)))
            .collect();
        let error_kinds: serde_json::Map<String, serde_json::Value> = t
            .errors
            .iter()
            .map(|(k, v)| (k.to_string(), serde_json::json!(v)))
            .collect();
        let line = serde_json::json!({
            "events_per_sec": eps,
            "requests_per_sec": rps,
            "p50_ms": p50,
            "p90_ms": p90,
            "p99_ms": p99,
            "p999_ms": p999,
            "max_ms": max,
            "accepted": t.accepted,
            "sent": t.sent,
            "requests": t.requests,
            "rejected": t.rejected,
            "duplicates": t.duplicates,
            "statuses": statuses,
            "errors": errors,
            "error_kinds": error_kinds,
            "duration_s": secs,
            "connections": args.connections,
            "batch": args.batch,
            "gzip": args.gzip,
            "target_rate": args.rate,
            "prep_us_per_request": prep_us,
            "cpu_cores": cores,
            "cpu_cores_per_100k_eps": per_100k,
        });
        println!("{line}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use std::collections::HashSet;
    use std::io::Read;

    fn pool(seed: u64, batch: usize, gzip: bool, pii: f64) -> Vec<body::Template> {
        let mut gen = events::Gen::new(rand::rngs::StdRng::seed_from_u64(seed), 0x1234_abcd, pii);
        (0..3)
            .map(|_| body::Template::build(&mut gen, batch, gzip))
            .collect()
    }

    fn lines(body: &[u8]) -> Vec<serde_json::Value> {
        body.split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice(l).expect("valid JSON line"))
            .collect()
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("10"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        for bad in ["", "5x", "-1s", "s", "1.2.3s", "ms"] {
            assert!(parse_duration(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn rfc3339_dates() {
        assert_eq!(&rfc3339(0), b"1970-01-01T00:00:00Z");
        assert_eq!(&rfc3339(951_782_400), b"2000-02-29T00:00:00Z");
        assert_eq!(&rfc3339(1_700_000_000), b"2023-11-14T22:13:20Z");
        assert_eq!(&rfc3339(4_102_444_799), b"2099-12-31T23:59:59Z");
    }

    #[test]
    fn plain_bodies_are_valid_unique_ndjson() {
        let pool = pool(7, 200, false, 0.0);
        let ts = timestamps(1_700_000_000);
        let mut ids = HashSet::new();
        let mut types = BTreeMap::new();
        let mut next = 0;
        for round in 0..2 {
            for t in &pool {
                let evs = lines(&t.render(next, &ts));
                next += t.events() as u64;
                assert_eq!(evs.len(), 200);
                for e in evs {
                    let id = e["event_id"].as_str().unwrap();
                    assert_eq!(id.len(), 36);
                    assert!(id.starts_with("1234abcd-"));
                    assert!(
                        ids.insert(id.to_string()),
                        "duplicate {id} in round {round}"
                    );
                    let when = e["timestamp"].as_str().unwrap();
                    assert!(ts.iter().any(|t| t == when.as_bytes()), "{when}");
                    *types
                        .entry(e["event_type"].as_str().unwrap().to_string())
                        .or_insert(0) += 1;
                }
            }
        }
        assert_eq!(ids.len(), 1200);
        for ty in [
            "ad_impression",
            "app_install",
            "purchase",
            "product_view",
            "search",
        ] {
            assert!(types.contains_key(ty), "{ty} missing from {types:?}");
        }
    }

    #[test]
    fn gzip_bodies_inflate_to_the_plain_ones() {
        for seed in 0..4 {
            let gz = pool(seed, 150, true, 0.1);
            let plain = pool(seed, 150, false, 0.1);
            let ts = timestamps(unix_now());
            for (g, p) in gz.iter().zip(&plain) {
                let mut inflated = Vec::new();
                flate2::read::GzDecoder::new(&g.render(99, &ts)[..])
                    .read_to_end(&mut inflated)
                    .unwrap();
                assert_eq!(inflated, p.render(99, &ts));
                assert!(g.wire_len() * 2 < p.wire_len(), "gzip should compress");
            }
        }
    }

    #[test]
    fn pii_share_one_puts_pii_in_every_ad_or_app_block() {
        let pool = pool(3, 100, false, 1.0);
        let ts = timestamps(1_700_000_000);
        for e in lines(&pool[0].render(0, &ts)) {
            let fields = [
                &e["ad"]["campaign_id"],
                &e["ad"]["placement"],
                &e["app"]["app_id"],
            ];
            let hit = fields
                .iter()
                .filter_map(|v| v.as_str())
                .any(|s| s.contains('@') || s.chars().filter(char::is_ascii_digit).count() >= 10);
            assert!(hit, "no PII in {e}");
        }
    }
}

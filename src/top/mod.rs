//! `adgate top`: a live terminal view of one gateway, read from its
//! `/metrics` only (see docs/top.md and docs/metrics.md).
//!
//! This module owns the model and is pure: [`parse`] turns Prometheus text
//! into a [`Scrape`], [`View::between`] turns two scrapes into the rates the
//! screen shows. [`fetch`] does the HTTP (TLS with a CA file), [`ui`] draws,
//! [`run`] is the loop: one scrape per interval on a thread of its own, keys
//! read in between, so `q` answers even while the gateway does not.

pub mod fetch;
pub mod ui;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime};

/// How often `top` scrapes unless told otherwise: the "every second" of
/// `vector top` and `top(1)`; the gateway renders /metrics in microseconds.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(1);

/// One series: metric name and its labels, sorted by label name.
pub type Labels = Vec<(String, String)>;

/// One scrape: every sample by (name, labels), and when it was read.
#[derive(Debug, Clone)]
pub struct Scrape {
    pub at: Instant,
    pub samples: BTreeMap<(String, Labels), f64>,
}

/// A line of the text format that is neither a comment nor a sample.
#[derive(Debug, PartialEq, Eq)]
pub struct ParseError {
    pub line: usize,
    pub reason: &'static str,
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.reason)
    }
}

/// Parses the Prometheus text exposition format (version 0.0.4): comment
/// lines are skipped; each sample line is `name{label="value",...} value
/// [timestamp]` with `\\`, `\"` and `\n` escapes in label values.
pub fn parse(text: &str, at: Instant) -> Result<Scrape, ParseError> {
    let mut samples = BTreeMap::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let err = |reason| ParseError {
            line: i + 1,
            reason,
        };
        let name_end = line
            .find(|c: char| c == '{' || c.is_whitespace())
            .ok_or_else(|| err("a sample without a value"))?;
        let name = &line[..name_end];
        if !valid_name(name) {
            return Err(err("not a metric name"));
        }
        let mut rest = &line[name_end..];
        let mut labels = Labels::new();
        if let Some(body) = rest.strip_prefix('{') {
            let (l, after) = parse_labels(body).map_err(err)?;
            labels = l;
            rest = after;
        }
        let value = rest
            .split_whitespace()
            .next()
            .ok_or_else(|| err("a sample without a value"))?;
        let value = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v.parse().map_err(|_| err("a value that is not a number"))?,
        };
        labels.sort();
        samples.insert((name.to_string(), labels), value);
    }
    Ok(Scrape { at, samples })
}

fn valid_name(s: &str) -> bool {
    let mut c = s.chars();
    matches!(c.next(), Some(f) if f.is_ascii_alphabetic() || f == '_' || f == ':')
        && c.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// Labels after the `{`; returns them and the text after the `}`.
fn parse_labels(mut s: &str) -> Result<(Labels, &str), &'static str> {
    let mut out = Labels::new();
    loop {
        s = s.trim_start();
        if let Some(after) = s.strip_prefix('}') {
            return Ok((out, after));
        }
        let eq = s.find('=').ok_or("a label without '='")?;
        let name = s[..eq].trim();
        if !valid_name(name) {
            return Err("not a label name");
        }
        s = s[eq + 1..]
            .trim_start()
            .strip_prefix('"')
            .ok_or("a label value without quotes")?;
        let mut value = String::new();
        let mut chars = s.char_indices();
        let end = loop {
            match chars.next() {
                None => return Err("an unterminated label value"),
                Some((i, '"')) => break i,
                Some((_, '\\')) => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, c)) => value.push(c),
                    None => return Err("an unterminated label value"),
                },
                Some((_, c)) => value.push(c),
            }
        };
        out.push((name.to_string(), value));
        s = s[end + 1..].trim_start();
        s = s.strip_prefix(',').unwrap_or(s);
    }
}

impl Scrape {
    /// The value of the series `name` whose labels include `want`, summed
    /// over the other labels; `None` when no such series exists.
    pub fn sum(&self, name: &str, want: &[(&str, &str)]) -> Option<f64> {
        let mut found = None;
        for ((n, labels), v) in self
            .samples
            .range((name.to_string(), Labels::new())..)
            .take_while(|((n, _), _)| n == name)
        {
            debug_assert_eq!(n, name);
            if want
                .iter()
                .all(|(k, w)| labels.iter().any(|(lk, lv)| lk == k && lv == w))
            {
                *found.get_or_insert(0.0) += v;
            }
        }
        found
    }

    /// The distinct values of `label` on series of `name`, sorted.
    pub fn label_values(&self, name: &str, label: &str) -> Vec<String> {
        let set: BTreeSet<String> = self
            .samples
            .range((name.to_string(), Labels::new())..)
            .take_while(|((n, _), _)| n == name)
            .filter_map(|((_, labels), _)| {
                labels
                    .iter()
                    .find(|(k, _)| k == label)
                    .map(|(_, v)| v.clone())
            })
            .collect();
        set.into_iter().collect()
    }
}

/// A counter's increase per second between two scrapes. A counter lower
/// than before means the gateway restarted: its whole value is new (what
/// Prometheus' `rate()` assumes too).
pub fn rate(prev: Option<f64>, cur: Option<f64>, seconds: f64) -> Option<f64> {
    let cur = cur?;
    if seconds <= 0.0 {
        return None;
    }
    let increase = match prev {
        Some(p) if cur >= p => cur - p,
        _ => cur,
    };
    Some(increase / seconds)
}

/// One producer's line.
#[derive(Debug, Clone, PartialEq)]
pub struct ProducerRow {
    pub name: String,
    pub received_per_s: Option<f64>,
    pub throttled_per_s: Option<f64>,
    pub duplicate_per_s: Option<f64>,
}

/// One partner's line, and its drops by reason for the detail panel.
#[derive(Debug, Clone, PartialEq)]
pub struct PartnerRow {
    pub name: String,
    /// `push` when the gateway counts delivery attempts for it, else `pull`.
    pub mode: &'static str,
    pub routed_per_s: Option<f64>,
    pub delivered_per_s: Option<f64>,
    pub dropped_per_s: Option<f64>,
    /// Push attempts that failed (retryable or permanent) per second.
    pub failed_per_s: Option<f64>,
    pub dead_letters: Option<f64>,
    pub backlog_events: Option<f64>,
    pub backlog_bytes: Option<f64>,
    pub max_bytes: Option<f64>,
    /// Mean ingest-to-acknowledgement age of the events delivered in the
    /// interval (from `adgate_partner_event_age_seconds`).
    pub delivered_age_s: Option<f64>,
    /// (reason, drops per second, drops since the gateway started).
    pub drops: Vec<(String, Option<f64>, f64)>,
}

/// Everything the screen shows, computed from the last two scrapes.
#[derive(Debug, Clone, PartialEq)]
pub struct View {
    pub version: Option<String>,
    pub seconds: f64,
    pub producers: Vec<ProducerRow>,
    /// Rejected events per second by reason (the gateway counts rejections
    /// by reason only: a rejected request may carry no valid producer).
    pub rejected: Vec<(String, Option<f64>)>,
    pub rejected_per_s: Option<f64>,
    pub overloaded_per_s: Option<f64>,
    pub in_flight: Option<f64>,
    pub partners: Vec<PartnerRow>,
    /// CPU time per wall-clock second (1.0 = one core busy).
    pub cpu_cores: Option<f64>,
    pub rss_bytes: Option<f64>,
    pub open_fds: Option<f64>,
    pub start_time_s: Option<f64>,
}

impl View {
    /// The view of `cur`, with rates over the time since `prev` (no rates
    /// without a previous scrape).
    pub fn between(prev: Option<&Scrape>, cur: &Scrape) -> View {
        let seconds = prev
            .map(|p| cur.at.saturating_duration_since(p.at).as_secs_f64())
            .unwrap_or(0.0);
        let r = |name: &str, labels: &[(&str, &str)]| -> Option<f64> {
            let p = prev?;
            rate(p.sum(name, labels), cur.sum(name, labels), seconds)
        };
        let producers = cur
            .label_values("adgate_events_received_total", "producer")
            .into_iter()
            .map(|p| {
                let l = [("producer", p.as_str())];
                ProducerRow {
                    received_per_s: r("adgate_events_received_total", &l),
                    throttled_per_s: r("adgate_events_throttled_total", &l),
                    duplicate_per_s: r("adgate_events_duplicate_total", &l),
                    name: p,
                }
            })
            .collect();
        let rejected = cur
            .label_values("adgate_events_rejected_total", "reason")
            .into_iter()
            .map(|reason| {
                let v = r("adgate_events_rejected_total", &[("reason", &reason)]);
                (reason, v)
            })
            .collect();
        let mut names: BTreeSet<String> = BTreeSet::new();
        for m in [
            "adgate_events_routed_total",
            "adgate_outbox_events",
            "adgate_events_delivered_total",
        ] {
            names.extend(cur.label_values(m, "partner"));
        }
        let partners = names
            .into_iter()
            .map(|p| partner_row(prev, cur, seconds, p))
            .collect();
        let version = cur
            .label_values("adgate_build_info", "version")
            .into_iter()
            .next();
        View {
            version,
            seconds,
            producers,
            rejected,
            rejected_per_s: r("adgate_events_rejected_total", &[]),
            overloaded_per_s: r("adgate_ingest_overloaded_total", &[]),
            in_flight: cur.sum("adgate_ingest_in_flight", &[]),
            partners,
            cpu_cores: r("process_cpu_seconds_total", &[]),
            rss_bytes: cur.sum("process_resident_memory_bytes", &[]),
            open_fds: cur.sum("process_open_fds", &[]),
            start_time_s: cur.sum("process_start_time_seconds", &[]),
        }
    }
}

fn partner_row(prev: Option<&Scrape>, cur: &Scrape, seconds: f64, name: String) -> PartnerRow {
    let l = [("partner", name.as_str())];
    let r = |metric: &str, labels: &[(&str, &str)]| -> Option<f64> {
        let p = prev?;
        rate(p.sum(metric, labels), cur.sum(metric, labels), seconds)
    };
    let push = cur.sum("adgate_delivery_attempts_total", &l).is_some();
    let failed_per_s = if push {
        let a = r(
            "adgate_delivery_attempts_total",
            &[("partner", &name), ("outcome", "retryable")],
        );
        let b = r(
            "adgate_delivery_attempts_total",
            &[("partner", &name), ("outcome", "permanent")],
        );
        match (a, b) {
            (None, None) => None,
            (a, b) => Some(a.unwrap_or(0.0) + b.unwrap_or(0.0)),
        }
    } else {
        None
    };
    // Mean age of what was delivered in the interval: d(sum) / d(count).
    let delivered_age_s = prev.and_then(|p| {
        let d = |m: &str| Some(cur.sum(m, &l)? - p.sum(m, &l)?);
        let count = d("adgate_partner_event_age_seconds_count")?;
        let sum = d("adgate_partner_event_age_seconds_sum")?;
        (count > 0.0 && sum >= 0.0).then(|| sum / count)
    });
    let drops = cur
        .label_values("adgate_events_dropped_total", "reason")
        .into_iter()
        .filter_map(|reason| {
            let rl = [("partner", name.as_str()), ("reason", reason.as_str())];
            let total = cur.sum("adgate_events_dropped_total", &rl)?;
            let per_s = r("adgate_events_dropped_total", &rl);
            Some((reason, per_s, total))
        })
        .collect();
    PartnerRow {
        mode: if push { "push" } else { "pull" },
        routed_per_s: r("adgate_events_routed_total", &l),
        delivered_per_s: r("adgate_events_delivered_total", &l),
        dropped_per_s: r("adgate_events_dropped_total", &l),
        failed_per_s,
        dead_letters: cur.sum("adgate_dead_letter_total", &l),
        backlog_events: cur.sum("adgate_outbox_events", &l),
        backlog_bytes: cur.sum("adgate_outbox_bytes", &l),
        max_bytes: cur.sum("adgate_outbox_max_bytes", &l),
        delivered_age_s,
        drops,
        name,
    }
}

/// What the screen knows: the last view, whether the gateway answers, the
/// selection and the pause flag. Keys and scrapes change it; [`ui`] draws it.
#[derive(Debug)]
pub struct State {
    pub target: String,
    pub interval: Duration,
    pub view: Option<View>,
    pub last: Option<Scrape>,
    /// When the view was last updated (wall clock).
    pub updated: Option<SystemTime>,
    /// Since when scrapes fail (wall clock), and the last error.
    pub unreachable: Option<(SystemTime, String)>,
    pub paused: bool,
    pub selected: usize,
}

impl State {
    pub fn new(target: String, interval: Duration) -> State {
        State {
            target,
            interval,
            view: None,
            last: None,
            updated: None,
            unreachable: None,
            paused: false,
            selected: 0,
        }
    }

    /// Takes one scrape result. While paused, the screen stays as it is
    /// and scrapes are not kept: rates after the pause cover one interval.
    pub fn scraped(&mut self, r: Result<Scrape, String>, now: SystemTime) {
        match r {
            Ok(s) => {
                self.unreachable = None;
                if self.paused {
                    self.last = None;
                    return;
                }
                self.view = Some(View::between(self.last.as_ref(), &s));
                self.last = Some(s);
                self.updated = Some(now);
                let n = self.view.as_ref().map_or(0, |v| v.partners.len());
                self.selected = self.selected.min(n.saturating_sub(1));
            }
            Err(e) => {
                let since = self.unreachable.take().map_or(now, |(t, _)| t);
                self.unreachable = Some((since, e));
            }
        }
    }

    /// Applies a key; false when the key asks to quit.
    pub fn key(&mut self, k: Key) -> bool {
        let n = self.view.as_ref().map_or(0, |v| v.partners.len());
        match k {
            Key::Quit => return false,
            Key::Pause => self.paused = !self.paused,
            Key::Up => self.selected = self.selected.saturating_sub(1),
            Key::Down => self.selected = (self.selected + 1).min(n.saturating_sub(1)),
        }
        true
    }
}

/// The keys `top` answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    Quit,
    Pause,
    Up,
    Down,
}

/// `adgate top` options.
#[derive(Debug, Clone)]
pub struct Options {
    /// The gateway's base URL (`http://HOST:PORT` or `https://...`).
    pub url: String,
    /// Where /metrics is served, when not on the main listener.
    pub metrics_url: Option<String>,
    /// PEM CA certificates to trust for an https URL.
    pub ca_file: Option<PathBuf>,
    pub interval: Duration,
}

impl Options {
    /// The URL scraped: `--metrics-url`, else `--url` + `/metrics`.
    pub fn target(&self) -> String {
        match &self.metrics_url {
            Some(m) => m.clone(),
            None => format!("{}/metrics", self.url.trim_end_matches('/')),
        }
    }
}

/// Runs the terminal view until `q` (or Ctrl-C). Errors are set-up
/// failures (a bad URL or CA file, no terminal); a gateway that does not
/// answer is shown, not an error.
pub fn run(opts: Options) -> Result<(), String> {
    use ratatui::crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
    let target = opts.target();
    let client = fetch::Client::new(&target, opts.ca_file.as_deref())?;
    let (tx, rx) = mpsc::channel();
    let interval = opts.interval;
    // The scraper: one request per interval, each bounded by the interval
    // (at least a second) so a stalled gateway shows as unreachable.
    std::thread::spawn(move || {
        let rt = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(rt) => rt,
            Err(e) => {
                let _ = tx.send(Err(format!("cannot start the runtime: {e}")));
                return;
            }
        };
        let timeout = interval.max(Duration::from_secs(1));
        loop {
            let started = Instant::now();
            let r = rt.block_on(client.get(timeout)).and_then(|text| {
                parse(&text, Instant::now()).map_err(|e| format!("bad /metrics: {e}"))
            });
            if tx.send(r).is_err() {
                return;
            }
            std::thread::sleep(interval.saturating_sub(started.elapsed()));
        }
    });
    let mut state = State::new(target, opts.interval);
    let mut terminal = ratatui::try_init().map_err(|e| format!("cannot use the terminal: {e}"))?;
    let result = (|| -> Result<(), String> {
        loop {
            terminal
                .draw(|f| ui::draw(f, &state))
                .map_err(|e| format!("cannot draw: {e}"))?;
            // Wait for a key or the next scrape, whichever comes first.
            let mut redraw = false;
            while !redraw {
                if event::poll(Duration::from_millis(50)).map_err(|e| e.to_string())? {
                    match event::read().map_err(|e| e.to_string())? {
                        Event::Key(k) if k.kind != KeyEventKind::Release => {
                            let key = match k.code {
                                KeyCode::Char('q') | KeyCode::Esc => Some(Key::Quit),
                                KeyCode::Char('c')
                                    if k.modifiers.contains(KeyModifiers::CONTROL) =>
                                {
                                    Some(Key::Quit)
                                }
                                KeyCode::Char('p') | KeyCode::Char(' ') => Some(Key::Pause),
                                KeyCode::Up | KeyCode::Char('k') => Some(Key::Up),
                                KeyCode::Down | KeyCode::Char('j') => Some(Key::Down),
                                _ => None,
                            };
                            if let Some(key) = key {
                                if !state.key(key) {
                                    return Ok(());
                                }
                                redraw = true;
                            }
                        }
                        Event::Resize(..) => redraw = true,
                        _ => {}
                    }
                }
                while let Ok(r) = rx.try_recv() {
                    state.scraped(r, SystemTime::now());
                    redraw = true;
                }
            }
        }
    })();
    ratatui::restore();
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = r#"# HELP adgate_events_received_total Events read.
# TYPE adgate_events_received_total counter
adgate_events_received_total{producer="web"} 100
adgate_events_received_total{producer="app"} 10
adgate_events_throttled_total{producer="web"} 4
adgate_events_rejected_total{reason="bad_json"} 2
adgate_events_rejected_total{reason="too_large"} 0
adgate_events_routed_total{partner="acme"} 50
adgate_events_routed_total{partner="beta"} 40
adgate_events_delivered_total{partner="acme"} 0
adgate_events_delivered_total{partner="beta"} 30
adgate_events_dropped_total{partner="acme",reason="consent"} 7
adgate_events_dropped_total{partner="acme",reason="minor"} 1
adgate_events_dropped_total{partner="beta",reason="consent"} 0
adgate_delivery_attempts_total{outcome="ok",partner="acme"} 0
adgate_delivery_attempts_total{outcome="retryable",partner="acme"} 3
adgate_delivery_attempts_total{outcome="permanent",partner="acme"} 0
adgate_dead_letter_total{partner="acme"} 0
adgate_outbox_events{partner="acme"} 50
adgate_outbox_bytes{partner="acme"} 5000
adgate_outbox_events{partner="beta"} 10
adgate_partner_event_age_seconds_sum{partner="beta"} 3
adgate_partner_event_age_seconds_count{partner="beta"} 30
adgate_build_info{version="0.1.0"} 1
process_cpu_seconds_total 1.5
process_resident_memory_bytes 2.5e7
"#;

    fn at(base: Instant, s: u64) -> Instant {
        base + Duration::from_secs(s)
    }

    #[test]
    fn parses_samples_labels_and_escapes() {
        let s = parse(
            "# c\nm_total 3\nm2{a=\"x\\\"y\\\\z\\n\",b=\"\"} 1.5e3 1700000000\nh_bucket{le=\"+Inf\"} +Inf\n",
            Instant::now(),
        )
        .unwrap();
        assert_eq!(s.sum("m_total", &[]), Some(3.0));
        assert_eq!(s.sum("m2", &[("a", "x\"y\\z\n")]), Some(1500.0));
        assert_eq!(s.sum("m2", &[("b", "")]), Some(1500.0));
        assert_eq!(s.sum("h_bucket", &[("le", "+Inf")]), Some(f64::INFINITY));
        assert_eq!(s.sum("absent", &[]), None);
        assert_eq!(s.sum("m2", &[("a", "other")]), None);
    }

    #[test]
    fn bad_lines_name_their_line() {
        let now = Instant::now();
        assert_eq!(
            parse("ok 1\nm{a=\"x} 1\n", now).unwrap_err(),
            ParseError {
                line: 2,
                reason: "an unterminated label value"
            }
        );
        assert_eq!(
            parse("m abc", now).unwrap_err().reason,
            "a value that is not a number"
        );
        assert_eq!(
            parse("m", now).unwrap_err().reason,
            "a sample without a value"
        );
        assert_eq!(parse("1m 2", now).unwrap_err().reason, "not a metric name");
        assert_eq!(
            parse("m{a} 2", now).unwrap_err().reason,
            "a label without '='"
        );
    }

    #[test]
    fn the_gateways_own_metrics_parse() {
        let m = crate::metrics::Metrics::new();
        m.init_partner("acme", true);
        m.init_producer("web");
        m.events_received.with_label_values(&["web"]).inc_by(5);
        let s = parse(&String::from_utf8(m.render()).unwrap(), Instant::now()).unwrap();
        assert_eq!(
            s.sum("adgate_events_received_total", &[("producer", "web")]),
            Some(5.0)
        );
        let v = View::between(None, &s);
        assert_eq!(v.partners.len(), 1);
        assert_eq!(v.partners[0].mode, "push");
        assert_eq!(v.producers[0].name, "web");
    }

    #[test]
    fn sums_over_other_labels() {
        let s = parse(TEXT, Instant::now()).unwrap();
        assert_eq!(
            s.sum("adgate_events_dropped_total", &[("partner", "acme")]),
            Some(8.0)
        );
        assert_eq!(s.sum("adgate_events_received_total", &[]), Some(110.0));
        assert_eq!(
            s.label_values("adgate_events_dropped_total", "reason"),
            vec!["consent".to_string(), "minor".to_string()]
        );
    }

    #[test]
    fn rates_handle_resets_and_missing_series() {
        assert_eq!(rate(Some(10.0), Some(30.0), 2.0), Some(10.0));
        // A restart: the counter starts again from zero.
        assert_eq!(rate(Some(100.0), Some(6.0), 2.0), Some(3.0));
        assert_eq!(rate(None, Some(6.0), 2.0), Some(3.0));
        assert_eq!(rate(Some(1.0), None, 2.0), None);
        assert_eq!(rate(Some(1.0), Some(2.0), 0.0), None);
    }

    #[test]
    fn view_rates_between_two_scrapes() {
        let base = Instant::now();
        let prev = parse(TEXT, at(base, 0)).unwrap();
        let later = TEXT
            .replace("{producer=\"web\"} 100", "{producer=\"web\"} 120")
            .replace(
                "throttled_total{producer=\"web\"} 4",
                "throttled_total{producer=\"web\"} 8",
            )
            .replace("{reason=\"bad_json\"} 2", "{reason=\"bad_json\"} 6")
            .replace(
                "routed_total{partner=\"acme\"} 50",
                "routed_total{partner=\"acme\"} 70",
            )
            .replace(
                "partner=\"acme\",reason=\"consent\"} 7",
                "partner=\"acme\",reason=\"consent\"} 11",
            )
            .replace(
                "outcome=\"retryable\",partner=\"acme\"} 3",
                "outcome=\"retryable\",partner=\"acme\"} 5",
            )
            .replace(
                "outbox_events{partner=\"acme\"} 50",
                "outbox_events{partner=\"acme\"} 70",
            )
            .replace(
                "delivered_total{partner=\"beta\"} 30",
                "delivered_total{partner=\"beta\"} 34",
            )
            .replace(
                "seconds_sum{partner=\"beta\"} 3",
                "seconds_sum{partner=\"beta\"} 5",
            )
            .replace(
                "seconds_count{partner=\"beta\"} 30",
                "seconds_count{partner=\"beta\"} 34",
            )
            .replace(
                "process_cpu_seconds_total 1.5",
                "process_cpu_seconds_total 2.5",
            );
        let cur = parse(&later, at(base, 4)).unwrap();
        let v = View::between(Some(&prev), &cur);
        assert_eq!(v.seconds, 4.0);
        assert_eq!(v.version.as_deref(), Some("0.1.0"));
        let web = v.producers.iter().find(|p| p.name == "web").unwrap();
        assert_eq!(web.received_per_s, Some(5.0));
        assert_eq!(web.throttled_per_s, Some(1.0));
        let app = v.producers.iter().find(|p| p.name == "app").unwrap();
        assert_eq!(app.received_per_s, Some(0.0));
        assert_eq!(app.throttled_per_s, None, "no series, no rate");
        assert_eq!(v.rejected_per_s, Some(1.0));
        assert_eq!(v.rejected[0], ("bad_json".to_string(), Some(1.0)));
        let acme = &v.partners[0];
        assert_eq!((acme.name.as_str(), acme.mode), ("acme", "push"));
        assert_eq!(acme.routed_per_s, Some(5.0));
        assert_eq!(acme.dropped_per_s, Some(1.0));
        assert_eq!(acme.failed_per_s, Some(0.5));
        assert_eq!(acme.backlog_events, Some(70.0));
        assert_eq!(acme.backlog_bytes, Some(5000.0));
        assert_eq!(acme.delivered_age_s, None, "nothing delivered");
        assert_eq!(
            acme.drops,
            vec![
                ("consent".into(), Some(1.0), 11.0),
                ("minor".into(), Some(0.0), 1.0)
            ]
        );
        let beta = &v.partners[1];
        assert_eq!((beta.name.as_str(), beta.mode), ("beta", "pull"));
        assert_eq!(beta.delivered_per_s, Some(1.0));
        assert_eq!(beta.failed_per_s, None);
        assert_eq!(beta.delivered_age_s, Some(0.5));
        assert_eq!(v.cpu_cores, Some(0.25));
        assert_eq!(v.rss_bytes, Some(2.5e7));
    }

    #[test]
    fn state_tracks_outages_pause_and_selection() {
        let base = Instant::now();
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1000);
        let mut st = State::new("http://x/metrics".into(), DEFAULT_INTERVAL);
        st.scraped(Ok(parse(TEXT, at(base, 0)).unwrap()), t0);
        assert!(st.view.is_some() && st.unreachable.is_none());
        st.scraped(
            Err("connection refused".into()),
            t0 + Duration::from_secs(1),
        );
        st.scraped(
            Err("connection refused".into()),
            t0 + Duration::from_secs(2),
        );
        let (since, e) = st.unreachable.clone().unwrap();
        assert_eq!(
            since,
            t0 + Duration::from_secs(1),
            "the first failure stays the start"
        );
        assert_eq!(e, "connection refused");
        assert!(st.view.is_some(), "the last view stays on screen");
        st.scraped(
            Ok(parse(TEXT, at(base, 3)).unwrap()),
            t0 + Duration::from_secs(3),
        );
        assert!(st.unreachable.is_none());

        assert!(st.key(Key::Down));
        assert_eq!(st.selected, 1);
        st.key(Key::Down);
        assert_eq!(
            st.selected, 1,
            "two partners: the selection stops at the last"
        );
        st.key(Key::Up);
        st.key(Key::Up);
        assert_eq!(st.selected, 0);

        st.key(Key::Pause);
        let frozen = st.view.clone();
        let busier = TEXT.replace("{producer=\"web\"} 100", "{producer=\"web\"} 900");
        st.scraped(
            Ok(parse(&busier, at(base, 4)).unwrap()),
            t0 + Duration::from_secs(4),
        );
        assert_eq!(st.view, frozen, "paused: the screen does not change");
        st.key(Key::Pause);
        st.scraped(
            Ok(parse(&busier, at(base, 5)).unwrap()),
            t0 + Duration::from_secs(5),
        );
        let web = &st.view.as_ref().unwrap().producers[1];
        assert_eq!(web.received_per_s, None, "no rate across the pause");
        st.scraped(
            Ok(parse(&busier, at(base, 6)).unwrap()),
            t0 + Duration::from_secs(6),
        );
        assert_eq!(
            st.view.as_ref().unwrap().producers[1].received_per_s,
            Some(0.0)
        );
        assert!(!st.key(Key::Quit));
    }
}

//! `adgate report`: numbers checked against the traffic the test sent,
//! across a restart and while the gateway runs; the HTML version loaded in
//! headless Chromium (Debian's `chromium`), whose screenshot must show
//! every chart's marks and whose DOM must keep every SVG element.
//!
//! Without /usr/bin/chromium the render test fails with the fix, unless the
//! run is a quick one (`scripts/test.sh --quick`), where it says SKIPPED.
//! `ADGATE_REPORT_KEEP=DIR` copies the generated report and screenshot there.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::run::Run;
use crate::common::*;
use serde_json::{json, Value};

const CHROMIUM: &str = "/usr/bin/chromium";

fn config(acme: &str) -> String {
    format!(
        "{HEAD}{}{}",
        push_partner("acme", acme, "K_A", ""),
        pull_partner("beta", "T_FEED_B", "K_B", "")
    )
}

fn ev(id: &str, user: Value, ad: Value) -> Value {
    json!({"event_id": id, "event_type": "ad_impression", "timestamp": "2026-11-28T13:45:12Z",
           "user": user, "ad": ad})
}

/// 5 forwarded, 2 minors, 3 with an email in an allow-listed field
/// (pii_guard), 1 without consent (opted_out), 1 without event_type
/// (rejected): 12 received.
fn traffic(prefix: &str) -> String {
    let mut v = Vec::new();
    for i in 0..5 {
        v.push(ev(
            &format!("{prefix}ok{i}"),
            json!({"email": format!("p{i}@example.com")}),
            json!({"campaign_id": "c-1"}),
        ));
    }
    for i in 0..2 {
        v.push(ev(
            &format!("{prefix}minor{i}"),
            json!({"email": "kid@example.com", "age": 12}),
            json!({"campaign_id": "c-1"}),
        ));
    }
    for i in 0..3 {
        v.push(ev(
            &format!("{prefix}pii{i}"),
            json!({"email": "leaky@example.com"}),
            json!({"campaign_id": format!("c-for-leak{i}@example.org")}),
        ));
    }
    let mut no_consent = ev(
        &format!("{prefix}nc"),
        json!({"email": "quiet@example.com"}),
        json!({"campaign_id": "c-1"}),
    );
    no_consent["consent"] = json!({"personalized_ads": false});
    v.push(no_consent);
    v.push(json!({"event_id": format!("{prefix}bad"), "timestamp": "2026-11-28T13:45:12Z"}));
    ndjson(&v)
}

fn report(g: &Gateway, args: &[&str]) -> Run {
    let run = Run::exec(
        Command::new(BIN)
            .arg("report")
            .arg("--config")
            .arg(&g.config_path)
            .args(args),
    );
    run.code(0);
    run
}

/// The cells of the Markdown table row whose first cell is `first`, in the
/// table whose header row starts with `header`.
fn row(md: &str, header: &str, first: &str) -> Vec<String> {
    let mut in_table = false;
    for line in md.lines() {
        if line.starts_with(&format!("| {header} |")) {
            in_table = true;
            continue;
        }
        if in_table && !line.starts_with('|') {
            in_table = false;
        }
        if in_table && line.starts_with(&format!("| {first} |")) {
            return line
                .trim_matches('|')
                .split(" | ")
                .map(|c| c.trim().to_owned())
                .collect();
        }
    }
    panic!("no row {first} in table {header}:\n{md}")
}

fn secrets_and_identifiers() -> Vec<String> {
    let mut v: Vec<String> = base_env().into_values().collect();
    v.extend(
        [
            "p0@example.com",
            "kid@example.com",
            "leaky@example.com",
            "quiet@example.com",
            "c-for-leak",
        ]
        .map(String::from),
    );
    v
}

#[test]
fn report_counts_survive_restarts_and_read_next_to_a_running_gateway() {
    let acme = MockPartner::always(200);
    let mut g = Gateway::start(&config(&acme.url()), base_env());
    let r = g.post_events(&traffic("a-"), "application/x-ndjson");
    assert_eq!(r.status, 202, "{}", r.body);
    assert_eq!(r.json()["accepted"], 11);
    wait_metric(
        &g,
        "adgate_events_delivered_total",
        &[("partner", "acme")],
        5.0,
    );
    drain_feed(&g, "beta", FEED_TOKEN_B);
    let admin = |path: &str, body: Value| {
        let r = g.request(
            "POST",
            path,
            Some(ADMIN_TOKEN),
            &[],
            body.to_string().as_bytes(),
        );
        assert_eq!(r.status, 200, "{path}: {}", r.body);
    };
    admin("/v1/optouts", json!({"email": "quiet@example.com"}));
    admin("/v1/optouts", json!({"phone": "+12065550100"}));
    admin("/v1/access", json!({"email": "p0@example.com"}));
    admin("/v1/forget", json!({"email": "p1@example.com"}));
    // SIGTERM: the final flush writes the counters.
    assert_eq!(g.terminate(), Some(0));

    let md = report(&g, &["--since", "7d"]).stdout.clone();
    assert_eq!(row(&md, "producer", "web")[1..], ["12", "0", "0"]);
    assert_eq!(row(&md, "reason", "missing_field")[1], "1");
    // partner | routed | delivered | dead-lettered | not_allowed | no_consent |
    // opted_out | minor | sensitive | no_identifier | pii_guard | invalid
    let want = ["5", "5", "0", "0", "0", "1", "2", "0", "0", "3", "0"];
    assert_eq!(row(&md, "partner", "acme")[1..], want, "{md}");
    assert_eq!(row(&md, "partner", "beta")[1..], want, "{md}");
    // Opt-outs: two recorded directly, one by forget; honoured per partner.
    // Each stores its normalized and its lenient match form, and an email
    // or phone the SHA-256 forms a producer may send pre-hashed (five for
    // each email here: as written, in capitals, with a line end, and
    // capitalized as a CRM shows it, `Quiet@example.com` and
    // `Quiet@Example.com`; three for the phone: with and without `+`, its
    // national number), each under both pre-hashed tags:
    // 3 x 2 + 2 x (5 + 5 + 3).
    assert!(md.contains("- Opt-out list: 32 keyed hashes"), "{md}");
    assert!(md.contains("- Opt-outs recorded in the period: 3"), "{md}");
    assert_eq!(row(&md, "identifier kind", "email")[1], "2");
    assert_eq!(row(&md, "identifier kind", "phone")[1], "1");
    assert!(
        md.contains("- Forget requests: 1 (0 queued outbox copies purged)"),
        "{md}"
    );
    assert!(md.contains("- Subject access requests answered: 1"), "{md}");
    // Leak guard per partner.
    assert_eq!(row(&md, "partner", "acme").len(), 12);
    assert!(md.contains("| acme | 3 |\n| beta | 3 |"), "{md}");
    // Keys: from the config and the store.
    assert!(md.contains("| acme | k1 | signs new ad_ids | "), "{md}");
    assert!(md.contains("| beta | k1 | signs new ad_ids | "), "{md}");
    assert!(md.contains(
        "allow-listed fields: ad.campaign_id, ad.placement, ad.value_estimate_micros, ad.currency, app.app_id"
    ));
    assert!(md.contains("- delivery: push") && md.contains("- delivery: pull"));
    // Events withheld because of an opt-out, and distinct identifiers in the
    // ledger: 5 people delivered, p1 forgotten, 4 left. Notices of p1's
    // forget: acme (push, no notice_endpoint) skipped, beta's queued on its
    // notice feed, not yet read.
    assert!(
        md.contains("| acme | 1 | 4 | 0 | 1 |\n| beta | 1 | 4 | 0 | 0 |"),
        "{md}"
    );
    let today = &md[md.find("- Period: ").unwrap() + 24..][..10];
    let day = row(&md, "day", today);
    // day | received | delivered acme | delivered beta | pii_guard
    assert_eq!(day[1..], ["12", "5", "5", "6"], "{md}");

    // Restart, more traffic; a report taken while it runs sees what was
    // persisted before (the store is shared with the live gateway).
    // p1 is opted out by the forget now: 4 forwarded this time.
    g.spawn();
    let r = g.post_events(&traffic("b-"), "application/x-ndjson");
    assert_eq!(r.status, 202, "{}", r.body);
    wait_metric(
        &g,
        "adgate_events_delivered_total",
        &[("partner", "acme")],
        4.0,
    );
    let live = report(&g, &["--since", "7d"]).stdout.clone();
    let received: u64 = row(&live, "producer", "web")[1].parse().unwrap();
    assert!(received >= 12, "{live}");
    drain_feed(&g, "beta", FEED_TOKEN_B);
    assert_eq!(g.terminate(), Some(0));
    let md = report(&g, &["--since", "2d"]).stdout.clone();
    assert_eq!(row(&md, "producer", "web")[1..], ["24", "0", "0"]);
    assert_eq!(
        row(&md, "partner", "beta")[1..],
        ["9", "9", "0", "0", "0", "3", "4", "0", "0", "6", "0"],
        "{md}"
    );
    for s in secrets_and_identifiers() {
        assert!(!md.contains(&s), "{s} in the report");
    }
    // Key age: first seen today, so 0 days.
    assert!(md.contains("| acme | k1 | signs new ad_ids | "));
    let key_row = md.lines().find(|l| l.starts_with("| acme | k1 |")).unwrap();
    assert_eq!(key_row.split(" | ").nth(4), Some("0"), "{key_row}");
}

#[test]
fn report_refuses_what_it_cannot_read() {
    let dir = tempfile::tempdir().unwrap();
    Run::exec(
        Command::new(BIN)
            .args(["report", "--data-dir"])
            .arg(dir.path()),
    )
    .code(1)
    .stderr_has("privacy.db does not exist");
    Run::exec(Command::new(BIN).args(["report", "--since", "0d"]))
        .code(2)
        .stderr_has("1 to 3650");
    Run::exec(Command::new(BIN).args(["report", "--since", "last week"]))
        .code(2)
        .stderr_has("30d");
    Run::exec(Command::new(BIN).args(["report", "--format", "pdf"]))
        .code(2)
        .stderr_has("md");
    let cfg = dir.path().join("bad.toml");
    std::fs::write(&cfg, "[server]\nlisten = 5\n").unwrap();
    Run::exec(Command::new(BIN).args(["report", "--config"]).arg(&cfg))
        .code(1)
        .stderr_has("server.listen");
}

// ---------------------------------------------------------------------------
// HTML in a real browser.

fn chromium_or_skip() -> bool {
    if Path::new(CHROMIUM).exists() {
        return true;
    }
    skip_or_fail(
        "tests/it/report.rs html render",
        &format!("{CHROMIUM} not found"),
        "apt-get install chromium (scripts/test.sh does)",
    );
    false
}

fn chromium(profile: &Path, args: &[&str], page: &Path) -> Run {
    let run = Run::exec(
        Command::new(CHROMIUM)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--disable-extensions",
                "--disable-background-networking",
                "--hide-scrollbars",
                "--force-device-scale-factor=1",
                "--force-color-profile=srgb",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .args(args)
            .arg(format!("file://{}", page.display())),
    );
    run.code(0);
    run
}

/// Pixels within 8 of `hex` per channel in an RGB(A) PNG.
fn count_color(rgba: &[u8], channels: usize, hex: &str) -> usize {
    let c = |i: usize| u8::from_str_radix(&hex[1 + 2 * i..3 + 2 * i], 16).unwrap() as i32;
    let (r, g, b) = (c(0), c(1), c(2));
    rgba.chunks_exact(channels)
        .filter(|p| {
            (p[0] as i32 - r).abs() <= 8
                && (p[1] as i32 - g).abs() <= 8
                && (p[2] as i32 - b).abs() <= 8
        })
        .count()
}

#[test]
fn html_report_renders_its_charts_in_chromium() {
    if !chromium_or_skip() {
        return;
    }
    let acme = MockPartner::always(200);
    let mut g = Gateway::start(&config(&acme.url()), base_env());
    let r = g.post_events(&traffic("h-"), "application/x-ndjson");
    assert_eq!(r.status, 202, "{}", r.body);
    // beta does not pull: its line stays at zero, apart from acme's.
    wait_metric(
        &g,
        "adgate_events_delivered_total",
        &[("partner", "acme")],
        5.0,
    );
    assert_eq!(g.terminate(), Some(0));

    let out: PathBuf = g.dir.path().join("report.html");
    report(
        &g,
        &[
            "--since",
            "14d",
            "--format",
            "html",
            "--out",
            out.to_str().unwrap(),
        ],
    );
    let html = std::fs::read_to_string(&out).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    for s in secrets_and_identifiers() {
        assert!(!html.contains(&s), "{s} in the report");
    }
    // Self-contained: no script, no resource to fetch (the only URL is the
    // SVG namespace).
    assert!(!html.contains("<script") && !html.contains("src=") && !html.contains("href="));
    assert_eq!(
        html.matches("http").count(),
        html.matches("xmlns=\"http://www.w3.org/2000/svg\"").count()
    );

    let profile = tempfile::tempdir().unwrap();
    // The DOM after parsing keeps the four charts and their marks.
    let dom = chromium(profile.path(), &["--dump-dom"], &out)
        .stdout
        .clone();
    for id in ["received", "delivered", "dropped", "pii_guard"] {
        assert!(
            dom.contains(&format!("data-chart=\"{id}\"")),
            "chart {id} missing from the DOM"
        );
    }
    assert_eq!(dom.matches("<svg").count(), 4);
    assert_eq!(
        dom.matches("class=\"bar\"").count(),
        2,
        "one bar each in received and pii_guard (one day of data)"
    );
    assert_eq!(
        dom.matches("class=\"line\"").count(),
        2,
        "a line per partner"
    );
    assert_eq!(
        dom.matches("class=\"point\"").count(),
        28,
        "14 days x 2 partners"
    );
    assert_eq!(
        dom.matches("class=\"hbar\"").count(),
        3,
        "pii_guard, minor, opted_out"
    );

    // The screenshot shows every chart's marks in their colours.
    let shot = g.dir.path().join("report.png");
    chromium(
        profile.path(),
        &[
            "--window-size=1000,5000",
            &format!("--screenshot={}", shot.display()),
        ],
        &out,
    );
    let decoder = png::Decoder::new(std::fs::File::open(&shot).unwrap());
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    let channels = info.color_type.samples();
    let px = &buf[..info.buffer_size()];
    if let Ok(keep) = std::env::var("ADGATE_REPORT_KEEP") {
        std::fs::create_dir_all(&keep).unwrap();
        std::fs::copy(&out, Path::new(&keep).join("report.html")).unwrap();
        std::fs::copy(&shot, Path::new(&keep).join("report.png")).unwrap();
    }
    let counts: Vec<(&str, usize)> = [
        ("received bars", "#2563eb"),
        ("pii_guard bars", "#7c3aed"),
        ("acme line", "#dc2626"),
        ("beta line", "#16a34a"),
        ("drop bars", "#d97706"),
    ]
    .iter()
    .map(|(what, hex)| (*what, count_color(px, channels, hex)))
    .collect();
    for (what, n) in &counts {
        assert!(
            *n >= 150,
            "{what}: only {n} pixels of its colour in the screenshot: {counts:?}"
        );
    }
    // Not a blank page either: most of it is white, but not all.
    let white = count_color(px, channels, "#ffffff");
    let total = px.len() / channels;
    assert!(
        white < total * 99 / 100,
        "{white} of {total} pixels are white"
    );
}

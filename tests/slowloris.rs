//! Slowloris: many connections dribbling a request header a byte at a time
//! must not stop the gateway serving normal clients, nor grow its memory
//! without bound.

mod common;

use std::io::Write;
use std::time::{Duration, Instant};

use common::*;

fn rss_kb(pid: i32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

#[test]
fn slow_header_clients_do_not_starve_normal_ones() {
    let cfg = format!("{HEAD}{}", pull_partner("alpha", "T_FEED_A", "K_A", ""));
    let g = Gateway::start(&cfg, base_env());
    let before = rss_kb(g.pid());
    let mut slow: Vec<std::net::TcpStream> = (0..300)
        .map(|_| {
            let mut s = std::net::TcpStream::connect(g.addr).unwrap();
            s.write_all(b"POST /v1/events HTTP/1.1\r\nHost: x\r\nX-Slow: ")
                .unwrap();
            s
        })
        .collect();
    let started = Instant::now();
    let mut served = 0;
    let mut round = 0;
    while started.elapsed() < Duration::from_secs(3) {
        // Every slow client sends one more header byte...
        for s in &mut slow {
            let _ = s.write_all(b"a");
        }
        // ...while a normal producer keeps getting its 202s.
        let r = g.post_events(
            &ndjson(&[event(
                &format!("n-{round}"),
                "ad_impression",
                "a@example.com",
            )]),
            "application/x-ndjson",
        );
        assert_eq!(r.status, 202, "{}", r.body);
        served += 1;
        round += 1;
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(served >= 5, "only {served} normal requests were served");
    let during = rss_kb(g.pid());
    // 300 idle connections cost buffers, not megabytes each.
    assert!(
        during < before + 64 * 1024,
        "RSS grew from {before} kB to {during} kB with 300 slow clients"
    );
    assert_eq!(g.get("/healthz", None).status, 200);
}

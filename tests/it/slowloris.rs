//! Slowloris: more connections than the gateway holds without a complete
//! request head, dribbling a header a byte at a time, must not stop it
//! serving normal clients, nor grow its memory without bound, and every one
//! of them is closed once the header timeout (from accept) has passed.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use crate::common::*;

/// `server.header_timeout_ms` of this test.
const HEADER_TIMEOUT: Duration = Duration::from_millis(1000);
/// The gateway's bound on connections without a complete request head
/// (`server::MAX_PENDING_CONNECTIONS`).
const PENDING_BOUND: usize = 1024;

#[test]
fn slow_header_clients_do_not_starve_normal_ones_and_are_closed() {
    let slow_n = PENDING_BOUND + 200;
    let limit = raise_fd_limit(slow_n as u64 + 512);
    assert!(
        limit >= slow_n as u64 + 256,
        "RLIMIT_NOFILE {limit} is too low for {slow_n} connections"
    );
    let cfg = format!(
        "{}{}",
        HEAD.replace(
            "shutdown_grace_seconds = 5",
            &format!(
                "shutdown_grace_seconds = 5\nheader_timeout_ms = {}",
                HEADER_TIMEOUT.as_millis()
            )
        ),
        pull_partner("alpha", "T_FEED_A", "K_A", "")
    );
    let g = Gateway::start(&cfg, base_env());
    let (_, before) = memory_kb(g.pid());
    let mut slow: Vec<std::net::TcpStream> = (0..slow_n)
        .map(|_| {
            let mut s = std::net::TcpStream::connect(g.addr).unwrap();
            let _ = s.write_all(b"POST /v1/events HTTP/1.1\r\nHost: x\r\nX-Slow: ");
            s
        })
        .collect();
    let started = Instant::now();
    let mut served = 0;
    // Well past the header timeout of every slow client, and at least a
    // few rounds however slowly they go.
    while started.elapsed() < HEADER_TIMEOUT * 3 || served < 3 {
        // Every slow client sends one more header byte...
        for s in &mut slow {
            let _ = s.write_all(b"a");
        }
        // ...while a normal producer keeps getting its 202s.
        let r = g.post_events(
            &ndjson(&[event(
                &format!("n-{served}"),
                "ad_impression",
                "a@example.com",
            )]),
            "application/x-ndjson",
        );
        assert_eq!(r.status, 202, "{}", r.body);
        assert_eq!(g.get("/healthz", None).status, 200);
        served += 1;
        std::thread::sleep(HEADER_TIMEOUT / 5);
    }
    let (_, during) = memory_kb(g.pid());
    // Slow connections cost buffers, not megabytes each.
    assert!(
        during < before + 64 * 1024,
        "RSS grew from {before} kB to {during} kB with {slow_n} slow clients"
    );
    // None of them stays open: each is closed at the header timeout (or
    // earlier, to make room under the bound). They keep dribbling while we
    // look, so a timeout that started again at every byte would never close
    // them; the bound is a generous multiple of the header timeout, for a
    // gateway slowed down by two busy shared cores.
    let patience = HEADER_TIMEOUT * 10;
    let mut open = slow;
    for s in &open {
        s.set_nonblocking(true).unwrap();
    }
    loop {
        open.retain_mut(|s| {
            let mut b = [0u8; 512];
            match s.read(&mut b) {
                Ok(0) => false,
                // An answer (408) before the close counts as closed too.
                Ok(_) => false,
                Err(e) => e.kind() == std::io::ErrorKind::WouldBlock,
            }
        });
        if open.is_empty() || started.elapsed() > patience {
            break;
        }
        for s in &mut open {
            let _ = s.write_all(b"a");
        }
        std::thread::sleep(HEADER_TIMEOUT / 5);
    }
    assert_eq!(
        open.len(),
        0,
        "{} of {slow_n} slow clients still open {patience:?} after they connected (header_timeout_ms {HEADER_TIMEOUT:?})",
        open.len()
    );
    assert_eq!(g.get("/healthz", None).status, 200);
}

/// The gateway's bound on open connections (`server::MAX_CONNECTIONS`).
const CONNECTION_BOUND: usize = 4096;

/// Sends one keep-alive GET /healthz on `s` and reads its whole answer.
fn healthz_keep_alive(s: &mut std::net::TcpStream) -> bool {
    if s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut got = Vec::new();
    let mut b = [0u8; 512];
    while !got.ends_with(b"ok\n") {
        match s.read(&mut b) {
            Ok(0) | Err(_) => return false,
            Ok(n) => got.extend_from_slice(&b[..n]),
        }
    }
    got.starts_with(b"HTTP/1.1 200")
}

#[test]
fn idle_keep_alive_connections_at_the_bound_make_room_for_a_new_client() {
    let n = CONNECTION_BOUND;
    let limit = raise_fd_limit(n as u64 + 512);
    assert!(
        limit >= n as u64 + 256,
        "RLIMIT_NOFILE {limit} is too low for {n} connections"
    );
    let cfg = format!("{}{}", HEAD, pull_partner("alpha", "T_FEED_A", "K_A", ""));
    let g = Gateway::start(&cfg, base_env());
    // Every connection the gateway holds has finished a request and waits,
    // kept alive, for the next one.
    let mut held: Vec<std::net::TcpStream> = Vec::with_capacity(n);
    for i in 0..n {
        let mut s = std::net::TcpStream::connect(g.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        assert!(healthz_keep_alive(&mut s), "connection {i} not served");
        held.push(s);
    }
    // Health probes on new connections (as a kubelet opens them) still get
    // in: the longest idle connections are closed to make room.
    for i in 0..3 {
        let mut probe = std::net::TcpStream::connect(g.addr).unwrap();
        probe
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        assert!(healthz_keep_alive(&mut probe), "probe {i} refused");
        held.push(probe);
    }
    // The ones closed were the oldest idle ones; the newest still work.
    let closed = held[..64]
        .iter_mut()
        .map(healthz_keep_alive)
        .filter(|served| !served)
        .count();
    assert!(closed >= 1, "no idle connection was closed to make room");
    let last = held.last_mut().unwrap();
    assert!(
        healthz_keep_alive(last),
        "the newest idle connection was closed"
    );
}

//! `adgate top` in a real terminal: the binary runs in tmux against a real
//! gateway under a small load, and the tests read the screen with
//! `tmux capture-pane -p`. The gateway has a push partner whose endpoint
//! refuses connections (its backlog grows) and a pull partner nobody reads.
//!
//! Without tmux the tests fail with the fix (`apt-get install tmux`; .ci/run
//! and scripts/test.sh install it), unless the run is a quick one.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use crate::common::*;

/// `top --interval` in these tests: the default of one second.
const INTERVAL: Duration = Duration::from_secs(1);
/// How long a screen may take to show what the gateway's /metrics shows:
/// generous, for two cores shared with other builds.
const SETTLE: Duration = Duration::from_secs(60);

fn tmux_or_skip(test: &str) -> bool {
    let ok = Command::new("tmux")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        skip_or_fail(test, "tmux is not installed", "apt-get install tmux");
    }
    ok
}

/// A tmux server of its own (its own socket), running one command in a
/// fixed-size window; killed on drop.
struct Tmux {
    socket: String,
    /// The command's exit code is written here when it ends.
    exit_file: PathBuf,
}

impl Tmux {
    fn start(dir: &Path, args: &[String]) -> Tmux {
        static N: AtomicUsize = AtomicUsize::new(0);
        let socket = format!(
            "adgate-top-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        );
        let exit_file = dir.join(format!("{socket}.exit"));
        let quoted: Vec<String> = std::iter::once(BIN.to_string())
            .chain(args.iter().cloned())
            .map(|a| format!("'{}'", a.replace('\'', r"'\''")))
            .collect();
        let script = format!("{}; echo $? > '{}'", quoted.join(" "), exit_file.display());
        let t = Tmux { socket, exit_file };
        let st = Command::new("tmux")
            .args([
                "-L",
                &t.socket,
                "-f",
                "/dev/null",
                "new-session",
                "-d",
                "-s",
                "top",
            ])
            .args(["-x", "132", "-y", "40"])
            .args(["sh", "-c", &script])
            .env("TERM", "xterm-256color")
            .status()
            .expect("run tmux");
        assert!(st.success(), "tmux new-session failed");
        t
    }

    fn capture(&self, colours: bool) -> String {
        let mut cmd = Command::new("tmux");
        cmd.args(["-L", &self.socket, "capture-pane", "-p", "-t", "top"]);
        if colours {
            cmd.arg("-e");
        }
        let out = cmd.output().expect("tmux capture-pane");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn keys(&self, keys: &str) {
        let st = Command::new("tmux")
            .args(["-L", &self.socket, "send-keys", "-t", "top", keys])
            .status()
            .expect("tmux send-keys");
        assert!(st.success(), "tmux send-keys {keys} failed");
    }

    fn alive(&self) -> bool {
        Command::new("tmux")
            .args(["-L", &self.socket, "has-session", "-t", "top"])
            .output()
            .is_ok_and(|o| o.status.success())
    }

    /// Polls the screen until `f` accepts it; panics with the last screen.
    fn wait<T>(&self, what: &str, mut f: impl FnMut(&str) -> Option<T>) -> T {
        let mut last = String::new();
        wait_for(SETTLE, || {
            last = self.capture(false);
            f(&last)
        })
        .unwrap_or_else(|| panic!("the screen never showed {what}; last screen:\n{last}"))
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .output();
    }
}

/// The cells of the table row whose first cell is `name` (the selected
/// row starts with the highlight symbol `>`).
fn row(screen: &str, name: &str) -> Option<Vec<String>> {
    screen.lines().find_map(|l| {
        let cells: Vec<String> = l
            .trim_start()
            .trim_start_matches('>')
            .split_whitespace()
            .map(str::to_string)
            .collect();
        (cells.first().map(String::as_str) == Some(name)).then_some(cells)
    })
}

/// A number cell: `12.5`, `40`; `None` for `-` or when the row is absent.
fn cell(screen: &str, name: &str, i: usize) -> Option<f64> {
    row(screen, name)?.get(i)?.parse().ok()
}

/// The column of the partners table: name, mode, routed/s, delivered/s,
/// dropped/s, failed/s, dead, backlog.
const BACKLOG: usize = 7;
const EVENTS_PER_S: usize = 1;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Posts a batch of events every tenth of an interval until `stop`; one
/// event in five is a minor's, which policy drops (reason `minor`).
fn load(g: &Gateway, stop: &AtomicBool) {
    let mut n = 0;
    while !stop.load(Ordering::SeqCst) {
        let batch: Vec<_> = (0..5)
            .map(|i| {
                n += 1;
                let mut e = event(
                    &format!("top-{n}-{i}"),
                    "ad_impression",
                    &format!("u{n}@example.com"),
                );
                if i == 0 {
                    e["user"]["age"] = 15.into();
                }
                e
            })
            .collect();
        // Errors are expected while the gateway is down.
        let _ = g.post_events(&ndjson(&batch), "application/x-ndjson");
        std::thread::sleep(INTERVAL / 10);
    }
}

#[test]
fn top_shows_rates_a_growing_backlog_pauses_survives_a_restart_and_quits() {
    if !tmux_or_skip("top_shows_rates...") {
        return;
    }
    // A fixed port, so the gateway comes back where `top` looks for it.
    let port = free_port();
    let refused = free_port();
    let config = format!(
        "{}{}{}",
        HEAD.replace("127.0.0.1:0", &format!("127.0.0.1:{port}")),
        push_partner(
            "acme",
            &format!("http://127.0.0.1:{refused}/ingest"),
            "K_A",
            ""
        ),
        pull_partner("beta", "T_FEED_B", "K_B", ""),
    );
    let mut g = Gateway::start(&config, base_env());
    let work = tempfile::tempdir().unwrap();
    let tmux = Tmux::start(
        work.path(),
        &[
            "top".into(),
            "--url".into(),
            format!("http://127.0.0.1:{port}"),
        ],
    );
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| load(&g, &stop));

        // Rates appear: the producer's events/s is not zero.
        tmux.wait("events/s > 0 for producer web", |sc| {
            cell(sc, "web", EVENTS_PER_S).filter(|v| *v > 0.0)
        });
        // The refused partner's backlog grows between two screens.
        let first = tmux.wait("a backlog for acme", |sc| cell(sc, "acme", BACKLOG));
        let later = tmux.wait("acme's backlog growing", |sc| {
            cell(sc, "acme", BACKLOG).filter(|b| *b > first)
        });
        let screen = tmux.capture(false);
        assert!(
            cell(&screen, "acme", 5).is_some_and(|f| f >= 0.0),
            "failed/s shown for the push partner:\n{screen}"
        );
        assert_eq!(row(&screen, "acme").unwrap()[1], "push", "{screen}");
        assert_eq!(row(&screen, "beta").unwrap()[1], "pull", "{screen}");
        eprintln!("acme backlog {first} -> {later}");
        // For the README's picture (scripts/top-screenshot.sh).
        let shot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("top-screen.ansi");
        let _ = std::fs::write(&shot, tmux.capture(true));

        // Drop reasons of the selected partner; the arrows move the selection.
        tmux.wait("acme's drops for reason minor", |sc| {
            sc.contains("drops of acme").then_some(())?;
            cell(sc, "minor", 1).filter(|r| *r > 0.0)
        });
        tmux.keys("Down");
        tmux.wait("beta's drops after Down", |sc| {
            sc.contains("drops of beta").then_some(())
        });
        tmux.keys("Up");
        tmux.wait("acme's drops after Up", |sc| {
            sc.contains("drops of acme").then_some(())
        });

        // `p` freezes the screen while the backlog keeps growing.
        tmux.keys("p");
        let paused = tmux.wait("PAUSED", |sc| sc.contains("PAUSED").then(|| sc.to_string()));
        let frozen = cell(&paused, "acme", BACKLOG).expect("backlog while paused");
        let moved = wait_for(SETTLE, || {
            let now = metric_labeled(&g.metrics(), "adgate_outbox_events", &[("partner", "acme")]);
            (now > frozen).then_some(now)
        })
        .expect("the gateway's backlog grows");
        // Three scrapes' time: an unpaused screen would have moved.
        std::thread::sleep(INTERVAL * 3);
        let still = tmux.capture(false);
        assert_eq!(
            cell(&still, "acme", BACKLOG),
            Some(frozen),
            "paused, the screen kept {frozen} while the gateway had {moved}:\n{still}"
        );
        tmux.keys("p");
        tmux.wait("the screen moving again after p", |sc| {
            (!sc.contains("PAUSED")).then_some(())?;
            cell(sc, "acme", BACKLOG).filter(|b| *b > frozen)
        });
        stop.store(true, Ordering::SeqCst);
    });

    // The gateway goes away: the screen says since when, and keeps trying.
    g.kill();
    let down = tmux.wait("unreachable since", |sc| {
        sc.lines()
            .find(|l| l.contains("unreachable since"))
            .map(str::to_string)
    });
    assert!(down.contains("retrying every 1s"), "{down}");
    assert!(tmux.alive(), "top keeps running while the gateway is down");
    g.spawn();
    tmux.wait("the gateway back", |sc| {
        (!sc.contains("unreachable") && sc.contains("connected;")).then_some(())?;
        // The backlog survived the restart (the outbox is durable).
        cell(sc, "acme", BACKLOG).filter(|b| *b > 0.0)
    });

    // `q` quits with status 0 and the terminal session ends.
    tmux.keys("q");
    wait_for(SETTLE, || (!tmux.alive()).then_some(()))
        .unwrap_or_else(|| panic!("top did not quit on q:\n{}", tmux.capture(false)));
    let code = std::fs::read_to_string(&tmux.exit_file).expect("exit status written");
    assert_eq!(code.trim(), "0");
}

#[test]
fn top_reads_a_tls_metrics_listener_with_the_gateways_ca() {
    if !tmux_or_skip("top_reads_a_tls_metrics_listener...") {
        return;
    }
    use rcgen::{
        BasicConstraints, CertificateParams, CertifiedIssuer, ExtendedKeyUsagePurpose, IsCa,
        KeyPair, KeyUsagePurpose,
    };
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign];
    let ca = CertifiedIssuer::self_signed(p, KeyPair::generate().unwrap()).unwrap();
    let mut p =
        CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let key = KeyPair::generate().unwrap();
    let cert = p.signed_by(&key, &ca).unwrap();

    let dir = tempfile::tempdir().unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::write(dir.path().join("server.crt"), cert.pem()).unwrap();
    std::fs::write(dir.path().join("server.key"), key.serialize_pem()).unwrap();
    std::fs::set_permissions(
        dir.path().join("server.key"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    let ca_file = dir.path().join("ca.crt");
    std::fs::write(&ca_file, ca.pem()).unwrap();
    let config = format!(
        "{}{}",
        HEAD.replace(
            "shutdown_grace_seconds = 5\n",
            "shutdown_grace_seconds = 5\nmetrics_listen = \"127.0.0.1:0\"\n\
             [server.tls]\ncert_file = \"server.crt\"\nkey_file = \"server.key\"\n",
        ),
        pull_partner("beta", "T_FEED_B", "K_B", ""),
    );
    let mut g = Gateway::start_in(dir, &config, base_env());
    g.agent = tls_agent(&ca.pem(), None);
    let metrics = format!(
        "https://127.0.0.1:{}/metrics",
        g.metrics_addr.unwrap().port()
    );
    let stop = AtomicBool::new(false);
    let work = tempfile::tempdir().unwrap();
    std::thread::scope(|s| {
        s.spawn(|| load(&g, &stop));
        let args = |ca: Option<&Path>| {
            let mut a: Vec<String> = vec![
                "top".into(),
                "--url".into(),
                format!("https://127.0.0.1:{}", g.addr.port()),
                "--metrics-url".into(),
                metrics.clone(),
            ];
            if let Some(ca) = ca {
                a.extend(["--ca-file".into(), ca.display().to_string()]);
            }
            a
        };
        // Without the CA the certificate is refused, and the screen says so.
        let untrusted = Tmux::start(work.path(), &args(None));
        let line = untrusted.wait("unreachable without the CA", |sc| {
            sc.lines()
                .find(|l| l.contains("unreachable since"))
                .map(str::to_string)
        });
        assert!(line.to_lowercase().contains("certificate"), "{line}");
        drop(untrusted);
        // With it, the rates appear.
        let tmux = Tmux::start(work.path(), &args(Some(&ca_file)));
        tmux.wait("events/s > 0 over TLS", |sc| {
            cell(sc, "web", EVENTS_PER_S).filter(|v| *v > 0.0)
        });
        tmux.wait("beta's backlog over TLS", |sc| {
            cell(sc, "beta", BACKLOG).filter(|b| *b > 0.0)
        });
        stop.store(true, Ordering::SeqCst);
    });
}

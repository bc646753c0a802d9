//! TLS and mTLS against the real binary, with certificates made here by
//! rcgen (a CA, server and client certificates):
//!
//! - every listener speaks TLS (main and metrics); HTTP/1.1 and HTTP/2 are
//!   chosen by ALPN; TLS 1.2 and 1.3 are served, a TLS 1.1 ClientHello is
//!   refused with a protocol_version alert, and plain HTTP gets no answer;
//! - under mTLS a client without a certificate, or with one from another CA,
//!   is refused in the handshake (and counted); a producer's token still
//!   decides who it is, and its certificate must agree (403 otherwise);
//! - reload (SIGHUP or POST /admin/reload) serves a new certificate to new
//!   handshakes while an open connection keeps working; a bad certificate
//!   or key is refused and the old one keeps serving;
//! - `check-config` names the file and key of every TLS problem.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use crate::common::run::Run;
use crate::common::*;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};

// ---------------------------------------------------------------------------
// A test PKI.

struct Ca {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

/// A certificate and its key, PEM.
#[derive(Clone)]
struct Leaf {
    cert: String,
    key: String,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.distinguished_name.push(DnType::CommonName, name);
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        Ca {
            issuer: CertifiedIssuer::self_signed(p, KeyPair::generate().unwrap()).unwrap(),
        }
    }

    fn pem(&self) -> String {
        self.issuer.pem()
    }

    fn issue(&self, names: &[&str], usage: ExtendedKeyUsagePurpose) -> Leaf {
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        let mut p = CertificateParams::new(names).unwrap();
        p.extended_key_usages = vec![usage];
        let key = KeyPair::generate().unwrap();
        let cert = p.signed_by(&key, &self.issuer).unwrap();
        Leaf {
            cert: cert.pem(),
            key: key.serialize_pem(),
        }
    }

    fn server(&self) -> Leaf {
        self.issue(
            &["localhost", "127.0.0.1"],
            ExtendedKeyUsagePurpose::ServerAuth,
        )
    }

    fn client(&self, name: &str) -> Leaf {
        self.issue(&[name], ExtendedKeyUsagePurpose::ClientAuth)
    }
}

fn write(path: &Path, text: &str, mode: u32) {
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// Writes the server's certificate and key (0600) and the client CA into
/// `dir`, as the config below names them.
fn install(dir: &Path, server: &Leaf, client_ca: Option<&Ca>) {
    write(&dir.join("server.crt"), &server.cert, 0o644);
    write(&dir.join("server.key"), &server.key, 0o600);
    if let Some(ca) = client_ca {
        write(&dir.join("clients-ca.crt"), &ca.pem(), 0o644);
    }
}

const TLS: &str = r#"
[server.tls]
cert_file = "server.crt"
key_file = "server.key"
"#;

const MTLS: &str = r#"
[server.tls]
cert_file = "server.crt"
key_file = "server.key"
client_ca_file = "clients-ca.crt"
"#;

/// HEAD with a metrics listener and `tls` (the [server.tls] table).
fn head(tls: &str) -> String {
    HEAD.replace(
        "shutdown_grace_seconds = 5\n",
        &format!("shutdown_grace_seconds = 5\nmetrics_listen = \"127.0.0.1:0\"\n{tls}"),
    )
}

fn start(config: &str, server: &Leaf, client_ca: Option<&Ca>) -> Gateway {
    let dir = tempfile::tempdir().unwrap();
    install(dir.path(), server, client_ca);
    Gateway::start_in(dir, config, base_env())
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

type Tls = tokio_rustls::client::TlsStream<tokio::net::TcpStream>;

/// A TLS handshake with `addr` using `config`.
async fn handshake(addr: SocketAddr, config: Arc<rustls::ClientConfig>) -> std::io::Result<Tls> {
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    let name = rustls::pki_types::ServerName::IpAddress(addr.ip().into());
    tokio_rustls::TlsConnector::from(config)
        .connect(name, tcp)
        .await
}

/// The server's end-entity certificate as a handshake sees it.
fn served_cert(addr: SocketAddr, ca: &Ca) -> Vec<u8> {
    rt().block_on(async {
        let s = handshake(
            addr,
            tls_client_config(&ca.pem(), None, rustls::DEFAULT_VERSIONS, &[]),
        )
        .await
        .expect("handshake");
        s.get_ref().1.peer_certificates().unwrap()[0].to_vec()
    })
}

fn der(leaf: &Leaf) -> Vec<u8> {
    pem_certs(&leaf.cert)[0].to_vec()
}

/// GET `path` over an established connection with hyper's HTTP/1.1 or
/// HTTP/2 client (as ALPN chose); returns status and version.
async fn get_over(s: Tls, path: &str) -> (u16, http::Version) {
    use http_body_util::{BodyExt, Empty};
    let h2 = s.get_ref().1.alpn_protocol() == Some(b"h2");
    let io = hyper_util::rt::TokioIo::new(s);
    let req = http::Request::get(path)
        .header("host", "localhost")
        .body(Empty::<bytes::Bytes>::new())
        .unwrap();
    let resp = if h2 {
        let (mut send, conn) =
            hyper::client::conn::http2::handshake(hyper_util::rt::TokioExecutor::new(), io)
                .await
                .unwrap();
        tokio::spawn(conn);
        send.send_request(req).await.unwrap()
    } else {
        let (mut send, conn) = hyper::client::conn::http1::handshake(io).await.unwrap();
        tokio::spawn(conn);
        send.send_request(req).await.unwrap()
    };
    let status = resp.status().as_u16();
    let version = resp.version();
    let _ = resp.into_body().collect().await;
    (status, version)
}

// ---------------------------------------------------------------------------
// TLS.

#[test]
fn every_listener_speaks_tls_12_or_13_and_alpn_picks_http1_or_h2() {
    let ca = Ca::new("adgate test CA");
    let config = format!(
        "{}{}",
        head(TLS),
        pull_partner("alpha", "T_FEED_A", "K_A", "")
    );
    let mut g = start(&config, &ca.server(), None);
    assert_eq!(g.scheme, "https", "the gateway says it serves https");
    let metrics_addr = g.metrics_addr.expect("a metrics listener");
    g.agent = tls_agent(&ca.pem(), None);

    // The harness's HTTP/1.1 client over TLS: ingest, feed, health.
    let ev = event("tls-1", "ad_impression", "tls.person@example.com");
    let r = g.post_events(&ev.to_string(), "application/json");
    assert_eq!(r.status, 202, "{}", r.body);
    let r = g.get("/v1/feed/alpha?max=10", Some(FEED_TOKEN_A));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["events"].as_array().unwrap().len(), 1);
    // The metrics listener is TLS too, with the same certificate.
    assert!(g.metrics().contains("adgate_build_info"));
    assert_eq!(served_cert(metrics_addr, &ca), served_cert(g.addr, &ca));

    rt().block_on(async {
        for addr in [g.addr, metrics_addr] {
            // ALPN: h2 when offered, HTTP/1.1 when that is all the client speaks.
            for (offer, want_alpn, want_version) in [
                (
                    &[&b"h2"[..], b"http/1.1"][..],
                    &b"h2"[..],
                    http::Version::HTTP_2,
                ),
                (
                    &[&b"http/1.1"[..]][..],
                    &b"http/1.1"[..],
                    http::Version::HTTP_11,
                ),
            ] {
                let s = handshake(
                    addr,
                    tls_client_config(&ca.pem(), None, rustls::DEFAULT_VERSIONS, offer),
                )
                .await
                .expect("handshake");
                assert_eq!(s.get_ref().1.alpn_protocol(), Some(want_alpn));
                assert_eq!(get_over(s, "/healthz").await, (200, want_version));
            }
            // TLS 1.3 and 1.2 are both served.
            for (v, want) in [
                (&rustls::version::TLS13, rustls::ProtocolVersion::TLSv1_3),
                (&rustls::version::TLS12, rustls::ProtocolVersion::TLSv1_2),
            ] {
                let s = handshake(addr, tls_client_config(&ca.pem(), None, &[v], &[b"h2"]))
                    .await
                    .expect("handshake");
                assert_eq!(s.get_ref().1.protocol_version(), Some(want));
                assert_eq!(get_over(s, "/readyz").await.0, 200);
            }
        }
    });

    // A TLS 1.1 client: its ClientHello (legacy version 3.2, no
    // supported_versions extension) gets a fatal alert. As old clients send
    // it (no signature_algorithms, a TLS 1.2 extension), rustls stops at
    // handshake_failure (40); with signature_algorithms added, so that the
    // version is the only thing wrong, at protocol_version (70).
    for addr in [g.addr, metrics_addr] {
        for (sigalgs, alert) in [(false, 40), (true, 70)] {
            let reply = raw_exchange(addr, &tls11_client_hello(sigalgs));
            assert!(
                reply.len() >= 7 && reply[0] == 0x15 && reply[5] == 2 && reply[6] == alert,
                "expected fatal alert {alert}, got {reply:02x?}"
            );
        }
    }
    // Plain HTTP to a TLS port gets no HTTP answer.
    let reply = raw_exchange(g.addr, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(
        !reply.starts_with(b"HTTP/"),
        "plain HTTP was answered: {reply:?}"
    );
    wait_metric(
        &g,
        "adgate_tls_handshake_failures_total",
        &[("listener", "metrics"), ("reason", "incompatible")],
        2.0,
    );
    let m = g.metrics();
    assert_eq!(
        metric_labeled(
            &m,
            "adgate_tls_handshake_failures_total",
            &[("listener", "main"), ("reason", "incompatible")]
        ),
        2.0,
        "{m}"
    );
    // A client that does not trust the gateway's CA cannot talk to it.
    let other = Ca::new("someone else");
    let r = tls_agent(&other.pem(), None).get(&g.url("/healthz")).call();
    assert!(r.is_err(), "a client with another CA's roots connected");
    assert_eq!(g.terminate(), Some(0));
}

/// Sends `bytes` and returns what the server answers before closing (or
/// within 5 s).
fn raw_exchange(addr: SocketAddr, bytes: &[u8]) -> Vec<u8> {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(bytes).unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = s.read(&mut buf) {
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    out
}

/// A minimal TLS 1.1 ClientHello: record version 3.2, client_version 3.2,
/// TLS_RSA_WITH_AES_128_CBC_SHA and TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA,
/// no supported_versions extension offering 1.2 or 1.3; with `sigalgs`, a
/// signature_algorithms extension (rsa_pkcs1_sha256, ecdsa_secp256r1_sha256,
/// rsa_pss_rsae_sha256).
fn tls11_client_hello(sigalgs: bool) -> Vec<u8> {
    let mut body = vec![0x03, 0x02];
    body.extend_from_slice(&[0x5a; 32]); // random
    body.push(0); // session id
    body.extend_from_slice(&[0x00, 0x04, 0x00, 0x2f, 0xc0, 0x09]); // cipher suites
    body.extend_from_slice(&[0x01, 0x00]); // compression: null
    if sigalgs {
        body.extend_from_slice(&[0x00, 0x0c, 0x00, 0x0d, 0x00, 0x08, 0x00, 0x06]);
        body.extend_from_slice(&[0x04, 0x01, 0x04, 0x03, 0x08, 0x04]);
    }
    let mut hs = vec![0x01, 0, 0, body.len() as u8];
    hs.extend_from_slice(&body);
    let mut rec = vec![0x16, 0x03, 0x02, 0, hs.len() as u8];
    rec.extend_from_slice(&hs);
    rec
}

// ---------------------------------------------------------------------------
// mTLS.

const PRODUCER2_TOKEN: &str = "producer2-token-0123456789abcdef0123456789";

/// Producer "web" must present `web-frontend`; "app" names none, so any
/// client certificate of the CA goes with its token.
fn mtls_config() -> String {
    format!(
        "{}{}",
        head(MTLS).replace(
            "token_env = \"T_PRODUCER\"\n",
            "token_env = \"T_PRODUCER\"\nclient_cert_name = \"web-frontend\"\n\n[[producers]]\nname = \"app\"\ntoken_env = \"T_PRODUCER2\"\n",
        ),
        pull_partner("alpha", "T_FEED_A", "K_A", "")
    )
}

#[test]
fn mtls_refuses_clients_without_a_certificate_and_matches_certificates_to_producers() {
    let ca = Ca::new("adgate test CA");
    let clients = Ca::new("adgate clients CA");
    let dir = tempfile::tempdir().unwrap();
    install(dir.path(), &ca.server(), Some(&clients));
    let mut env = base_env();
    env.insert("T_PRODUCER2".into(), PRODUCER2_TOKEN.into());
    let mut g = Gateway::start_in(dir, &mtls_config(), env);
    let metrics_addr = g.metrics_addr.unwrap();
    let web = clients.client("web-frontend");
    let other_service = clients.client("batch-importer");
    let stranger = Ca::new("not our CA").client("web-frontend");

    // The metrics listener asks for no client certificate.
    g.agent = tls_agent(&ca.pem(), None);
    assert!(g.metrics().contains("adgate_build_info"));
    assert!(g.metrics_url().contains(&metrics_addr.to_string()));

    // No certificate, or one from another CA: refused in the handshake.
    // Ok(status) when answered, Err(()) when refused at the TLS level.
    let post = |agent: &ureq::Agent| -> Result<u16, ()> {
        match agent
            .post(&g.url("/v1/events"))
            .set("Authorization", &format!("Bearer {PRODUCER_TOKEN}"))
            .set("Content-Type", "application/json")
            .send_string(&event("m-0", "ad_impression", "mtls.person@example.com").to_string())
        {
            Ok(r) => Ok(r.status()),
            Err(ureq::Error::Status(code, _)) => Ok(code),
            Err(ureq::Error::Transport(_)) => Err(()),
        }
    };
    assert_eq!(
        post(&tls_agent(&ca.pem(), None)),
        Err(()),
        "a client without a certificate was answered"
    );
    let stranger_agent = tls_agent(&ca.pem(), Some((&stranger.cert, &stranger.key)));
    assert_eq!(
        post(&stranger_agent),
        Err(()),
        "a certificate from another CA was answered"
    );
    wait_metric(
        &g,
        "adgate_tls_handshake_failures_total",
        &[("listener", "main"), ("reason", "no_client_certificate")],
        1.0,
    );
    wait_metric(
        &g,
        "adgate_tls_handshake_failures_total",
        &[("listener", "main"), ("reason", "bad_certificate")],
        1.0,
    );

    // web's certificate with web's token: accepted.
    g.agent = tls_agent(&ca.pem(), Some((&web.cert, &web.key)));
    let ev = |id: &str| event(id, "ad_impression", &format!("{id}@example.com")).to_string();
    let r = g.post_events(&ev("m-1"), "application/json");
    assert_eq!(r.status, 202, "{}", r.body);
    // The certificate is a second factor, not a replacement: no token, 401.
    let r = g.request(
        "POST",
        "/v1/events",
        None,
        &[("Content-Type", "application/json")],
        ev("m-2").as_bytes(),
    );
    assert_eq!(r.status, 401, "{}", r.body);
    // web's certificate with app's token: the certificate is another producer's.
    let r = g.request(
        "POST",
        "/v1/events",
        Some(PRODUCER2_TOKEN),
        &[("Content-Type", "application/json")],
        ev("m-3").as_bytes(),
    );
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(
        r.json()["error"]
            .as_str()
            .unwrap()
            .contains("belongs to another producer"),
        "{}",
        r.body
    );
    assert!(!r.body.contains(PRODUCER2_TOKEN) && !r.body.contains("web-frontend"));

    // Another service's certificate: fine for app (no client_cert_name),
    // not for web, whose token needs web-frontend.
    g.agent = tls_agent(&ca.pem(), Some((&other_service.cert, &other_service.key)));
    let r = g.request(
        "POST",
        "/v1/events",
        Some(PRODUCER2_TOKEN),
        &[("Content-Type", "application/json")],
        ev("m-4").as_bytes(),
    );
    assert_eq!(r.status, 202, "{}", r.body);
    let r = g.post_events(&ev("m-5"), "application/json");
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(
        r.json()["error"]
            .as_str()
            .unwrap()
            .contains("does not carry the name of the producer"),
        "{}",
        r.body
    );
    // Feeds and the admin API need a client certificate (any from the CA)
    // and their own token.
    let r = g.get("/v1/feed/alpha?max=10", Some(FEED_TOKEN_A));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.json()["events"].as_array().unwrap().len(),
        2,
        "m-1 and m-4 went through"
    );
    let r = g.request(
        "POST",
        "/v1/optouts",
        Some(ADMIN_TOKEN),
        &[("Content-Type", "application/json")],
        br#"{"email": "m-9@example.com"}"#,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let m = g.metrics();
    assert_eq!(
        metric_labeled(
            &m,
            "adgate_http_requests_total",
            &[("route", "/v1/events"), ("code", "403")]
        ),
        2.0,
        "{m}"
    );
    assert_eq!(g.terminate(), Some(0));
}

// ---------------------------------------------------------------------------
// Reload.

#[test]
fn reload_serves_a_new_certificate_keeps_connections_and_refuses_bad_files() {
    let ca = Ca::new("adgate test CA");
    let first = ca.server();
    let config = format!(
        "{}{}",
        head(TLS),
        pull_partner("alpha", "T_FEED_A", "K_A", "")
    );
    let mut g = start(&config, &first, None);
    g.agent = tls_agent(&ca.pem(), None);
    let dir = g.dir.path().to_path_buf();
    assert_eq!(served_cert(g.addr, &ca), der(&first));

    let rt = rt();
    // A connection opened before the reload.
    let (mut open, _conn) = rt.block_on(async {
        let s = handshake(
            g.addr,
            tls_client_config(&ca.pem(), None, rustls::DEFAULT_VERSIONS, &[b"h2"]),
        )
        .await
        .unwrap();
        let (send, conn) = hyper::client::conn::http2::handshake(
            hyper_util::rt::TokioExecutor::new(),
            hyper_util::rt::TokioIo::new(s),
        )
        .await
        .unwrap();
        (send, tokio::spawn(conn))
    });
    let get = |send: &mut hyper::client::conn::http2::SendRequest<
        http_body_util::Empty<bytes::Bytes>,
    >| {
        rt.block_on(async {
            let req = http::Request::get(g.url("/healthz"))
                .body(http_body_util::Empty::new())
                .unwrap();
            send.send_request(req).await.map(|r| r.status().as_u16())
        })
    };
    assert_eq!(get(&mut open).unwrap(), 200);

    // SIGHUP with a new certificate and key: new handshakes get it.
    let second = ca.server();
    install(&dir, &second, None);
    g.signal(libc::SIGHUP);
    wait_metric(&g, "adgate_config_reloads_total", &[("result", "ok")], 1.0);
    assert_eq!(served_cert(g.addr, &ca), der(&second));
    assert_eq!(get(&mut open).unwrap(), 200, "the open connection survives");

    // Refused, each through POST /admin/reload, the old certificate stays:
    let reload = |g: &Gateway| g.request("POST", "/admin/reload", Some(ADMIN_TOKEN), &[], b"");
    let third = ca.server();
    type BreakIt<'a> = Box<dyn Fn() + 'a>;
    let cases: Vec<(&str, BreakIt, &str)> = vec![
        (
            "a key that is not the certificate's",
            Box::new(|| {
                write(&dir.join("server.crt"), &third.cert, 0o644);
                write(&dir.join("server.key"), &first.key, 0o600);
            }),
            "server.tls.key_file: the private key in",
        ),
        (
            "a certificate file that is not PEM",
            Box::new(|| {
                write(
                    &dir.join("server.crt"),
                    "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n",
                    0o644,
                )
            }),
            "server.tls.cert_file:",
        ),
        (
            "a key file its group can read",
            Box::new(|| {
                write(&dir.join("server.crt"), &third.cert, 0o644);
                write(&dir.join("server.key"), &third.key, 0o640);
            }),
            "server.tls.key_file:",
        ),
    ];
    for (n, (what, break_it, says)) in cases.iter().enumerate() {
        break_it();
        let r = reload(&g);
        assert_eq!(r.status, 400, "{what}: {}", r.body);
        assert!(r.body.contains(says), "{what}: {}", r.body);
        assert!(!r.body.contains("PRIVATE KEY"), "{what}: {}", r.body);
        wait_metric(
            &g,
            "adgate_config_reloads_total",
            &[("result", "error")],
            (n + 1) as f64,
        );
        assert_eq!(
            served_cert(g.addr, &ca),
            der(&second),
            "{what}: the old certificate stays"
        );
        assert_eq!(get(&mut open).unwrap(), 200);
    }
    assert!(g.logs().contains("config reload refused"));

    // TLS cannot be switched off by a reload (the listener speaks TLS).
    install(&dir, &third, None);
    std::fs::write(
        &g.config_path,
        config
            .replace(TLS, "")
            .replace("{DATA}", g.data_dir().to_str().unwrap()),
    )
    .unwrap();
    let r = reload(&g);
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(
        r.body.contains("[server.tls] cannot be added or removed"),
        "{}",
        r.body
    );

    // Fixed files: the next reload serves the third certificate.
    std::fs::write(
        &g.config_path,
        config.replace("{DATA}", g.data_dir().to_str().unwrap()),
    )
    .unwrap();
    let r = reload(&g);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(served_cert(g.addr, &ca), der(&third));
    assert_eq!(get(&mut open).unwrap(), 200);
    assert_eq!(g.terminate(), Some(0));
}

// ---------------------------------------------------------------------------
// check-config.

struct Check {
    dir: tempfile::TempDir,
    config: PathBuf,
    key_pem: String,
}

impl Check {
    fn new(tls: &str) -> Check {
        let ca = Ca::new("adgate test CA");
        let server = ca.server();
        let dir = tempfile::tempdir().unwrap();
        install(dir.path(), &server, Some(&Ca::new("clients")));
        let config = dir.path().join("adgate.toml");
        let text = format!(
            "{}{}",
            head(tls),
            pull_partner("alpha", "T_FEED_A", "K_A", "")
        )
        .replace("{DATA}", "data");
        std::fs::write(&config, text).unwrap();
        Check {
            dir,
            config,
            key_pem: server.key,
        }
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }

    fn run(&self) -> Run {
        let r = Run::exec(
            Command::new(BIN)
                .args(["check-config", "--config", self.config.to_str().unwrap()])
                .env_clear()
                .envs(base_env())
                .current_dir(self.dir.path()),
        );
        for line in self.key_pem.lines().filter(|l| !l.starts_with("-----")) {
            r.nowhere(line);
        }
        r
    }

    #[track_caller]
    fn refused(&self, key: &str, problem: &str, fix: &str) {
        let r = self.run();
        r.code(2)
            .stderr_has(&format!("{}: {key}: ", self.config.display()))
            .stderr_has(problem)
            .stderr_has(&format!("(fix: {fix}"));
    }
}

#[test]
fn check_config_validates_the_tls_files_and_names_file_and_key() {
    let c = Check::new(MTLS);
    c.run()
        .code(0)
        .stdout_has("tls: TLS 1.2/1.3 on every listener, cert_file ")
        .stdout_has(&c.path("server.crt"))
        .stdout_has(&format!(
            "mtls: client certificates from {} required",
            c.path("clients-ca.crt")
        ))
        .stdout_has("warning: producers[0]: no client_cert_name");

    // The key of another certificate.
    let c = Check::new(TLS);
    write(
        &c.dir.path().join("server.key"),
        &Ca::new("x").server().key,
        0o600,
    );
    c.refused(
        "server.tls.key_file",
        &format!(
            "the private key in {} does not match the certificate in {}",
            c.path("server.key"),
            c.path("server.crt")
        ),
        "use the key the certificate was issued for",
    );

    // A key its group or everyone can read.
    for (mode, says) in [
        (0o640, "mode 0640 gives its group access"),
        (0o644, "mode 0644 gives other users access"),
    ] {
        let c = Check::new(TLS);
        std::fs::set_permissions(
            c.dir.path().join("server.key"),
            std::fs::Permissions::from_mode(mode),
        )
        .unwrap();
        c.refused(
            "server.tls.key_file",
            &format!("{}: {says}", c.path("server.key")),
            &format!("chmod 600 {}", c.path("server.key")),
        );
    }

    // Files that are not what they should be.
    let c = Check::new(TLS);
    write(&c.dir.path().join("server.crt"), "hello\n", 0o644);
    c.refused(
        "server.tls.cert_file",
        "holds no CERTIFICATE block",
        "point cert_file at the PEM certificate chain",
    );
    let c = Check::new(TLS);
    write(
        &c.dir.path().join("server.key"),
        &c.key_pem.replace("PRIVATE KEY", "PUBLIC KEY"),
        0o600,
    );
    c.refused(
        "server.tls.key_file",
        "holds no PRIVATE KEY block",
        "point key_file at the PEM private key",
    );
    let c = Check::new(MTLS);
    std::fs::remove_file(c.dir.path().join("clients-ca.crt")).unwrap();
    c.refused(
        "server.tls.client_ca_file",
        &format!("cannot read {}", c.path("clients-ca.crt")),
        "check the path",
    );
    let c = Check::new("\n[server.tls]\ncert_file = \"server.crt\"\n");
    c.refused(
        "server.tls.key_file",
        "missing",
        "set cert_file and key_file",
    );

    // client_cert_name needs client_ca_file, and names one producer.
    let named = "token_env = \"T_PRODUCER\"\nclient_cert_name = \"web-frontend\"\n";
    let c = Check::new(TLS);
    let text = std::fs::read_to_string(&c.config)
        .unwrap()
        .replace("token_env = \"T_PRODUCER\"\n", named);
    std::fs::write(&c.config, text).unwrap();
    c.refused(
        "producers[0].client_cert_name",
        "server.tls.client_ca_file is not",
        "set [server.tls] client_ca_file",
    );
    let c = Check::new(MTLS);
    let text = std::fs::read_to_string(&c.config).unwrap().replace(
        "token_env = \"T_PRODUCER\"\n",
        &format!("{named}\n[[producers]]\nname = \"web2\"\ntoken_env = \"T_FEED_B\"\nclient_cert_name = \"Web-Frontend\"\n"),
    );
    std::fs::write(&c.config, text).unwrap();
    c.refused(
        "producers[1].client_cert_name",
        "also the client_cert_name of producers[0]",
        "give every producer its own client certificate name",
    );
}

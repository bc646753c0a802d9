//! TLS on the listeners: the rustls server configs built from `[server.tls]`
//! (TLS 1.3 and 1.2 only, the ring provider, ALPN `h2` and `http/1.1`), and
//! the names of a verified client certificate for mTLS.
//!
//! The configs are built while the config is validated, so `check-config`,
//! startup and reload refuse the same broken files with the same message,
//! and a reload that passes swaps the certificate in for new handshakes
//! (connections already open keep theirs).

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig, SupportedProtocolVersion};
use zeroize::Zeroizing;

/// TLS 1.3 and 1.2: 1.0 and 1.1 are deprecated (RFC 8996), and rustls does
/// not implement them anyway; naming both here keeps the floor explicit.
pub const PROTOCOL_VERSIONS: &[&SupportedProtocolVersion] =
    &[&rustls::version::TLS13, &rustls::version::TLS12];

/// HTTP/2 first, HTTP/1.1 for clients that offer only it.
pub const ALPN: [&[u8]; 2] = [b"h2", b"http/1.1"];

/// A client must finish its handshake within this time: a connection that
/// opens and sends nothing must not hold a connection slot for long.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// `[server.tls]`, validated: the files it names and the server configs
/// built from them.
#[derive(Clone)]
pub struct TlsSettings {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    pub client_ca_file: Option<PathBuf>,
    /// Certificates in `cert_file` (the server's first, then intermediates).
    pub chain_len: usize,
    /// The main listener: client certificates from `client_ca_file` are
    /// required when it is set.
    pub main: Arc<ServerConfig>,
    /// The metrics listener: the same certificate, no client certificates
    /// (scrapers and health probes rarely carry one; it serves no tokens,
    /// identifiers or events).
    pub metrics: Arc<ServerConfig>,
}

impl fmt::Debug for TlsSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The server configs hold the private key; only the paths are shown.
        f.debug_struct("TlsSettings")
            .field("cert_file", &self.cert_file)
            .field("key_file", &self.key_file)
            .field("client_ca_file", &self.client_ca_file)
            .field("chain_len", &self.chain_len)
            .finish_non_exhaustive()
    }
}

impl TlsSettings {
    pub fn mtls(&self) -> bool {
        self.client_ca_file.is_some()
    }
}

/// A problem with one of the files: the `[server.tls]` key that names it,
/// what is wrong, and the fix. Never carries key material.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsError {
    pub key: &'static str,
    pub problem: String,
    pub fix: String,
}

fn err(key: &'static str, problem: String, fix: &str) -> TlsError {
    TlsError {
        key,
        problem,
        fix: fix.to_string(),
    }
}

fn read(key: &'static str, path: &Path) -> Result<Zeroizing<Vec<u8>>, TlsError> {
    std::fs::read(path).map(Zeroizing::new).map_err(|e| {
        err(
            key,
            format!("cannot read {}: {}", path.display(), e.kind()),
            "check the path and that adgate's user may read it",
        )
    })
}

fn certs(
    key: &'static str,
    path: &Path,
    fix: &str,
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = read(key, path)?;
    let certs: Vec<CertificateDer<'static>> = rustls_pemfile::certs(&mut &pem[..])
        .collect::<Result<_, _>>()
        .map_err(|e| {
            err(
                key,
                format!("{} is not valid PEM: {e}", path.display()),
                fix,
            )
        })?;
    if certs.is_empty() {
        return Err(err(
            key,
            format!("{} holds no CERTIFICATE block", path.display()),
            fix,
        ));
    }
    Ok(certs)
}

/// Reads and checks the files and builds both server configs. `key_file`
/// must be private to adgate's user ([`crate::secret::check_private_file`]).
pub fn load(
    cert_file: &Path,
    key_file: &Path,
    client_ca_file: Option<&Path>,
) -> Result<TlsSettings, TlsError> {
    const CERT_FIX: &str =
        "point cert_file at the PEM certificate chain, the server's certificate first";
    let chain = certs("server.tls.cert_file", cert_file, CERT_FIX)?;

    if let Err(who) = crate::secret::check_private_file(key_file) {
        return Err(err(
            "server.tls.key_file",
            format!(
                "{}: {who}; adgate refuses private keys that others can read",
                key_file.display()
            ),
            &crate::secret::private_file_fix(key_file),
        ));
    }
    let pem = read("server.tls.key_file", key_file)?;
    let key: PrivateKeyDer<'static> = match rustls_pemfile::private_key(&mut &pem[..]) {
        Ok(Some(k)) => k,
        Ok(None) => {
            return Err(err(
                "server.tls.key_file",
                format!("{} holds no PRIVATE KEY block", key_file.display()),
                "point key_file at the PEM private key (PKCS#8, PKCS#1 or SEC1) of cert_file",
            ))
        }
        Err(e) => {
            return Err(err(
                "server.tls.key_file",
                format!("{} is not valid PEM: {}", key_file.display(), e.kind()),
                "point key_file at the PEM private key (PKCS#8, PKCS#1 or SEC1) of cert_file",
            ))
        }
    };
    drop(pem);

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = || {
        ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(PROTOCOL_VERSIONS)
            .expect("the ring provider supports TLS 1.2 and 1.3")
    };
    let single = |b: rustls::ConfigBuilder<ServerConfig, rustls::server::WantsServerCert>,
                  k: PrivateKeyDer<'static>|
     -> Result<ServerConfig, TlsError> {
        let mut c = b.with_single_cert(chain.clone(), k).map_err(|e| match e {
            rustls::Error::InconsistentKeys(_) => err(
                "server.tls.key_file",
                format!(
                    "the private key in {} does not match the certificate in {}",
                    key_file.display(),
                    cert_file.display()
                ),
                "use the key the certificate was issued for (or the certificate of this key)",
            ),
            other => err(
                "server.tls.key_file",
                format!(
                    "cannot use the key in {} with the certificate in {}: {other}",
                    key_file.display(),
                    cert_file.display()
                ),
                "use an RSA, ECDSA (P-256/P-384) or Ed25519 key and its certificate",
            ),
        })?;
        c.alpn_protocols = ALPN.iter().map(|p| p.to_vec()).collect();
        Ok(c)
    };

    let metrics = single(builder().with_no_client_auth(), key.clone_key())?;
    let main = match client_ca_file {
        None => metrics.clone(),
        Some(ca) => {
            const FIX: &str =
                "point client_ca_file at the PEM certificates of the CA(s) that issue client certificates";
            let mut roots = RootCertStore::empty();
            for c in certs("server.tls.client_ca_file", ca, FIX)? {
                roots.add(c).map_err(|e| {
                    err(
                        "server.tls.client_ca_file",
                        format!(
                            "{} holds a certificate that is not a usable CA: {e}",
                            ca.display()
                        ),
                        FIX,
                    )
                })?;
            }
            let verifier =
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                    .build()
                    .map_err(|e| {
                        err(
                            "server.tls.client_ca_file",
                            format!(
                                "cannot verify client certificates with {}: {e}",
                                ca.display()
                            ),
                            FIX,
                        )
                    })?;
            single(builder().with_client_cert_verifier(verifier), key)?
        }
    };
    Ok(TlsSettings {
        cert_file: cert_file.to_path_buf(),
        key_file: key_file.to_path_buf(),
        client_ca_file: client_ca_file.map(Path::to_path_buf),
        chain_len: chain.len(),
        main: Arc::new(main),
        metrics: Arc::new(metrics),
    })
}

/// The names of a client certificate the handshake verified against
/// `client_ca_file`: its subjectAltName DNS names and URIs (a SPIFFE id, for
/// instance). The subject CN is not used, as rustls and browsers do not use it
/// for server names either (RFC 6125): a certificate without SAN has no name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientCert {
    pub names: Vec<String>,
}

impl ClientCert {
    /// The names of the end-entity certificate (the first of the chain).
    pub fn from_chain(chain: &[CertificateDer<'_>]) -> ClientCert {
        let Some(ee) = chain.first() else {
            return ClientCert::default();
        };
        let Ok(cert) = webpki::EndEntityCert::try_from(ee) else {
            return ClientCert::default();
        };
        let mut names: Vec<String> = cert.valid_dns_names().map(str::to_owned).collect();
        names.extend(cert.valid_uri_names().map(str::to_owned));
        ClientCert { names }
    }

    /// Does the certificate carry `name`? DNS names compare without case;
    /// URIs exactly. Wildcards match nothing: a producer is one name.
    pub fn has(&self, name: &str) -> bool {
        self.names.iter().any(|n| {
            if n.contains(':') {
                n == name
            } else {
                !n.starts_with('*') && n.eq_ignore_ascii_case(name)
            }
        })
    }
}

/// What [`outbound_connector`] builds.
pub type OutboundConnector =
    hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>;

/// The connector for adgate's outbound HTTP and HTTPS requests (push
/// delivery, `adgate top`): with `ca_pem`, its certificates are the only
/// trusted roots; without, the system's roots (webpki's bundled ones when
/// the system has none). Also returns how many CA certificates `ca_pem`
/// held. The error names the problem, never the file's content; callers add
/// which setting it came from.
pub fn outbound_connector(
    ca_pem: Option<&[u8]>,
    connect_timeout: Option<std::time::Duration>,
) -> Result<(OutboundConnector, usize), String> {
    let mut cas = 0;
    let builder = hyper_rustls::HttpsConnectorBuilder::new();
    let builder = match ca_pem {
        Some(mut pem) => {
            let mut roots = rustls::RootCertStore::empty();
            for cert in rustls_pemfile::certs(&mut pem) {
                let cert = cert.map_err(|e| format!("unreadable PEM: {e}"))?;
                roots
                    .add(cert)
                    .map_err(|e| format!("bad CA certificate: {e}"))?;
            }
            cas = roots.len();
            let tls = rustls::ClientConfig::builder()
                .with_root_certificates(roots)
                .with_no_client_auth();
            builder.with_tls_config(tls)
        }
        None => match hyper_rustls::HttpsConnectorBuilder::new().with_native_roots() {
            Ok(b) => b,
            Err(_) => builder.with_webpki_roots(),
        },
    };
    let mut http = hyper_util::client::legacy::connect::HttpConnector::new();
    http.enforce_http(false);
    http.set_connect_timeout(connect_timeout);
    http.set_nodelay(true);
    Ok((
        builder.https_or_http().enable_http1().wrap_connector(http),
        cas,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    struct Files {
        dir: tempfile::TempDir,
    }

    impl Files {
        fn new() -> Files {
            Files {
                dir: tempfile::tempdir().unwrap(),
            }
        }
        fn write(&self, name: &str, text: &str, mode: u32) -> PathBuf {
            let p = self.dir.path().join(name);
            std::fs::write(&p, text).unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
            p
        }
    }

    fn server_cert() -> (String, String) {
        let c = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
        (c.cert.pem(), c.signing_key.serialize_pem())
    }

    #[test]
    fn loads_a_matching_pair_and_refuses_mismatch_bad_pem_and_open_modes() {
        let f = Files::new();
        let (cert, key) = server_cert();
        let (_, other_key) = server_cert();
        let c = f.write("cert.pem", &cert, 0o644);
        let k = f.write("key.pem", &key, 0o600);
        let t = load(&c, &k, None).expect("valid pair");
        assert_eq!(t.chain_len, 1);
        assert!(!t.mtls());
        assert_eq!(
            t.main.alpn_protocols,
            vec![b"h2".to_vec(), b"http/1.1".to_vec()]
        );
        // Debug shows paths, never the key.
        let dbg = format!("{t:?}");
        assert!(dbg.contains("key.pem") && !dbg.contains("PRIVATE"), "{dbg}");

        let other = f.write("other.pem", &other_key, 0o600);
        let e = load(&c, &other, None).unwrap_err();
        assert_eq!(e.key, "server.tls.key_file");
        assert!(
            e.problem.contains("does not match the certificate"),
            "{e:?}"
        );

        let open = f.write("open.pem", &key, 0o640);
        let e = load(&c, &open, None).unwrap_err();
        assert_eq!(e.key, "server.tls.key_file");
        assert!(e.problem.contains("mode 0640"), "{e:?}");
        assert!(e.fix.contains("chmod 600"), "{e:?}");

        let garbage = f.write("garbage.pem", "not a certificate\n", 0o644);
        let e = load(&garbage, &k, None).unwrap_err();
        assert_eq!(e.key, "server.tls.cert_file");
        assert!(e.problem.contains("no CERTIFICATE block"), "{e:?}");
        let e = load(&c, &garbage, None).unwrap_err();
        assert_eq!(e.key, "server.tls.key_file");
        let e = load(&c, &k, Some(&garbage)).unwrap_err();
        assert_eq!(e.key, "server.tls.client_ca_file");
        let e = load(&c, &f.dir.path().join("missing.pem"), None).unwrap_err();
        assert!(e.problem.contains("cannot"), "{e:?}");
        // No error ever carries the key's PEM.
        for e in [
            load(&c, &other, None).unwrap_err(),
            load(&c, &garbage, None).unwrap_err(),
        ] {
            assert!(!format!("{e:?}").contains(&key[40..80]));
        }
    }

    #[test]
    fn client_cert_names_are_san_dns_and_uri() {
        let mut p = rcgen::CertificateParams::new(vec!["Web-Frontend".to_string()]).unwrap();
        p.subject_alt_names.push(rcgen::SanType::URI(
            "spiffe://example.org/ns/shop/sa/web".try_into().unwrap(),
        ));
        p.distinguished_name
            .push(rcgen::DnType::CommonName, "not-a-name-we-use");
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = p.self_signed(&key).unwrap();
        let cc = ClientCert::from_chain(&[cert.der().clone()]);
        assert!(cc.has("web-frontend"), "{cc:?}");
        assert!(cc.has("spiffe://example.org/ns/shop/sa/web"));
        assert!(!cc.has("not-a-name-we-use"), "the CN is not a name");
        assert!(!cc.has("web"));
        assert!(!ClientCert::default().has("web-frontend"));
    }
}

//! HTTP(S) GET of `/metrics` for `adgate top`: the client pattern of the
//! push worker (hyper-rustls; a CA file replaces the system roots).

use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::client::legacy::{connect::HttpConnector, Client as HyperClient};
use hyper_util::rt::TokioExecutor;

/// A /metrics page larger than this is refused: the gateway's is a few
/// hundred kilobytes with hundreds of partners.
const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

type Https = HyperClient<hyper_rustls::HttpsConnector<HttpConnector>, Empty<Bytes>>;

/// The client for one metrics URL.
#[derive(Clone)]
pub struct Client {
    uri: http::Uri,
    http: Https,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").field("uri", &self.uri).finish()
    }
}

impl Client {
    /// Checks the URL (http or https, with a host) and reads the CA file.
    pub fn new(url: &str, ca_file: Option<&Path>) -> Result<Client, String> {
        let uri: http::Uri = url
            .parse()
            .map_err(|e| format!("--url/--metrics-url {url:?}: not a URL ({e})"))?;
        match uri.scheme_str() {
            Some("http") | Some("https") => {}
            _ => {
                return Err(format!(
                    "--url/--metrics-url {url:?}: use http://HOST:PORT or https://HOST:PORT"
                ))
            }
        }
        if uri.host().is_none() {
            return Err(format!("--url/--metrics-url {url:?}: no host"));
        }
        let pem = ca_file
            .map(|path| {
                std::fs::read(path).map_err(|e| format!("--ca-file {}: {e}", path.display()))
            })
            .transpose()?;
        let at = |e: String| match ca_file {
            Some(path) => format!("--ca-file {}: {e}", path.display()),
            None => e,
        };
        let (conn, cas) = crate::tls::outbound_connector(pem.as_deref(), None).map_err(at)?;
        if pem.is_some() && cas == 0 {
            return Err(at("no PEM certificate in the file".into()));
        }
        Ok(Client {
            uri,
            http: HyperClient::builder(TokioExecutor::new())
                .pool_max_idle_per_host(1)
                .build(conn),
        })
    }

    /// One GET; the body as text, or why not (shown on screen).
    pub async fn get(&self, timeout: Duration) -> Result<String, String> {
        let req = http::Request::get(self.uri.clone())
            .header(http::header::ACCEPT, "text/plain")
            .body(Empty::new())
            .map_err(|e| e.to_string())?;
        let fetch = async {
            let res = self.http.request(req).await.map_err(describe)?;
            let status = res.status();
            let body = Limited::new(res.into_body(), MAX_BODY_BYTES)
                .collect()
                .await
                .map_err(|e| format!("reading the body: {e}"))?
                .to_bytes();
            if !status.is_success() {
                return Err(format!("HTTP {status}"));
            }
            String::from_utf8(body.to_vec()).map_err(|_| "a body that is not UTF-8".to_string())
        };
        match tokio::time::timeout(timeout, fetch).await {
            Ok(r) => r,
            Err(_) => Err(format!("no answer within {} ms", timeout.as_millis())),
        }
    }
}

/// The innermost cause of a client error ("connection refused", "invalid
/// peer certificate: UnknownIssuer"): hyper's outer message says little.
fn describe(e: hyper_util::client::legacy::Error) -> String {
    let mut cause: &dyn std::error::Error = &e;
    while let Some(c) = cause.source() {
        cause = c;
    }
    cause.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked_before_anything_runs() {
        assert!(Client::new("http://127.0.0.1:9/metrics", None).is_ok());
        assert!(Client::new("ftp://x/metrics", None)
            .unwrap_err()
            .contains("use http://"));
        assert!(Client::new("not a url", None)
            .unwrap_err()
            .contains("not a URL"));
        let e =
            Client::new("https://x/metrics", Some(Path::new("/nonexistent/ca.pem"))).unwrap_err();
        assert!(e.starts_with("--ca-file /nonexistent/ca.pem"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("ca.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let e = Client::new("https://x/metrics", Some(&empty)).unwrap_err();
        assert!(e.contains("no PEM certificate"), "{e}");
    }

    #[test]
    fn a_closed_port_is_an_error_that_says_so() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let c = Client::new(&format!("http://127.0.0.1:{port}/metrics"), None).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let e = rt.block_on(c.get(Duration::from_secs(5))).unwrap_err();
        assert!(e.to_lowercase().contains("refused"), "{e}");
    }
}

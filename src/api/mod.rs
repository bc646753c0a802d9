//! The router: which handler answers which route on which listener, and
//! per-route metrics. Handlers are thin: they read the request, call the
//! component that does the work (ingest, the outbox feed, the opt-out list,
//! the ledger) and write the answer.

pub mod access;
pub mod admin;
pub mod feed;
pub mod ingest;

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http::{header, Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;

use crate::app::serve::Role;
use crate::app::App;
use crate::outbox::Stream;
use crate::web::{catch_panic, error, text, Resp};

async fn metrics_response(app: &App, refused: Option<Resp>) -> Resp {
    if let Some(r) = refused {
        return r;
    }
    // Gauges read now, not up to one interval ago.
    app.refresh_gauges().await;
    let mut r = Response::new(Full::new(Bytes::from(app.metrics.render())));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        "text/plain; version=0.0.4; charset=utf-8"
            .parse()
            .expect("ascii"),
    );
    r
}

fn route_of(path: &str) -> &'static str {
    match path {
        "/v1/events" => "/v1/events",
        "/v1/optouts" => "/v1/optouts",
        "/v1/forget" => "/v1/forget",
        "/v1/access" => "/v1/access",
        "/admin/reload" => "/admin/reload",
        "/healthz" => "/healthz",
        "/readyz" => "/readyz",
        "/metrics" => "/metrics",
        // `/v1/feed/{partner}/notices...` needs a partner name before the
        // suffix (a partner may be called "notices"; names have no `/`).
        p if p.starts_with("/v1/feed/")
            && p.ends_with("/notices/commit")
            && p.len() > "/v1/feed//notices/commit".len() =>
        {
            "/v1/feed/notices/commit"
        }
        p if p.starts_with("/v1/feed/")
            && p.ends_with("/notices")
            && p.len() > "/v1/feed//notices".len() =>
        {
            "/v1/feed/notices"
        }
        p if p.starts_with("/v1/feed/") && p.ends_with("/commit") => "/v1/feed/commit",
        p if p.starts_with("/v1/feed/") => "/v1/feed",
        _ => "other",
    }
}

/// The router as crate::app::run takes it.
pub fn router(
    app: Arc<App>,
    role: Role,
    req: Request<Incoming>,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = Resp> + Send>> {
    Box::pin(handle(app, role, req))
}

/// Answers one request on a listener of `role`.
pub async fn handle(app: Arc<App>, role: Role, req: Request<Incoming>) -> Resp {
    let started = Instant::now();
    let route = route_of(req.uri().path());
    let resp = catch_panic(&app.metrics.panics, route, dispatch(&app, role, route, req)).await;
    let code = resp.status().as_u16().to_string();
    app.metrics
        .http_requests
        .with_label_values(&[route, &code])
        .inc();
    app.metrics
        .http_duration
        .with_label_values(&[route])
        .observe(started.elapsed().as_secs_f64());
    resp
}

async fn dispatch(app: &Arc<App>, role: Role, route: &'static str, req: Request<Incoming>) -> Resp {
    let method = req.method().clone();
    let allow = |m: &[Method]| -> Option<Resp> {
        if m.contains(&method) {
            None
        } else {
            let allowed: Vec<&str> = m.iter().map(|m| m.as_str()).collect();
            let mut r = error(
                StatusCode::METHOD_NOT_ALLOWED,
                &format!("{} is not allowed here; use {}", method, allowed.join(", ")),
            );
            r.headers_mut()
                .insert(header::ALLOW, allowed.join(", ").parse().expect("ascii"));
            Some(r)
        }
    };
    let main = matches!(role, Role::Main { .. });
    let metrics_here = matches!(role, Role::MetricsOnly | Role::Main { metrics_here: true });
    match route {
        "/healthz" => {
            allow(&[Method::GET, Method::HEAD]).unwrap_or_else(|| text(StatusCode::OK, "ok\n"))
        }
        "/readyz" => allow(&[Method::GET, Method::HEAD]).unwrap_or_else(|| {
            if app.is_ready() {
                text(StatusCode::OK, "ready\n")
            } else {
                text(StatusCode::SERVICE_UNAVAILABLE, "not ready\n")
            }
        }),
        "/metrics" if metrics_here => metrics_response(app, allow(&[Method::GET])).await,
        "/v1/events" if main => match allow(&[Method::POST]) {
            Some(r) => r,
            None => crate::api::ingest::handle(app, req).await,
        },
        "/v1/feed" if main => match allow(&[Method::GET]) {
            Some(r) => r,
            None => crate::api::feed::handle_get(app, req, Stream::Events).await,
        },
        "/v1/feed/commit" if main => match allow(&[Method::POST]) {
            Some(r) => r,
            None => crate::api::feed::handle_commit(app, req, Stream::Events).await,
        },
        "/v1/feed/notices" if main => match allow(&[Method::GET]) {
            Some(r) => r,
            None => crate::api::feed::handle_get(app, req, Stream::Notices).await,
        },
        "/v1/feed/notices/commit" if main => match allow(&[Method::POST]) {
            Some(r) => r,
            None => crate::api::feed::handle_commit(app, req, Stream::Notices).await,
        },
        "/v1/optouts" | "/v1/forget" | "/v1/access" | "/admin/reload" if main => {
            match allow(&[Method::POST]) {
                Some(r) => r,
                None => crate::api::admin::handle(app, route, req).await,
            }
        }
        _ => error(StatusCode::NOT_FOUND, "no such endpoint"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{env_from, Config};
    use crate::web::read_body;
    use hyper::service::service_fn;
    use hyper_util::rt::{TokioExecutor, TokioIo};
    use hyper_util::server::conn::auto;
    use std::collections::HashMap;
    use std::convert::Infallible;
    use tokio::net::TcpListener;

    const PRODUCER: &str = "producer-token-0123456789abcdef0123456789";
    const FEED: &str = "feed-token-0123456789abcdef0123456789abc";

    async fn app(dir: &std::path::Path) -> Arc<App> {
        let toml = format!(
            r#"
[server]
listen = "127.0.0.1:0"
data_dir = "{}"
[[producers]]
name = "web"
token_env = "P"
[[partners]]
name = "a"
event_types = ["ad_impression"]
identifiers = ["account_id"]
fields = ["ad.campaign_id"]
[partners.delivery]
mode = "pull"
token_env = "F"
[[partners.keys]]
id = "k1"
secret_env = "K"
"#,
            dir.join("data").display()
        );
        let env = env_from(HashMap::from([
            ("P".to_string(), PRODUCER.to_string()),
            ("F".to_string(), FEED.to_string()),
            (
                "K".to_string(),
                "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=".to_string(),
            ),
        ]));
        let config = Config::from_toml(&toml, "t.toml", dir, &env).expect("config");
        let app = App::build(config.clone(), None).await.expect("app");
        app.start_partners(&config).await.expect("partners");
        app
    }

    /// The server's per-request path (`catch_panic` around `dispatch`)
    /// over a real hyper connection, with one extra route whose handler
    /// panics: the kind of bug the fuzzers look for, reached by a request.
    async fn serve_with_a_panicking_route(app: Arc<App>, listener: TcpListener) {
        let role = Role::Main { metrics_here: true };
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let app = app.clone();
            let svc = service_fn(move |req: Request<Incoming>| {
                let app = app.clone();
                async move {
                    let route = route_of(req.uri().path());
                    let bug = req.uri().path() == "/v1/events" && req.uri().query() == Some("bug");
                    let handler = async {
                        if bug {
                            // Mid-request, after reading some of it.
                            let _ = read_body(req, 1024).await;
                            panic!("a bug quoting request content: jane@example.com");
                        }
                        dispatch(&app, role, route, req).await
                    };
                    Ok::<_, Infallible>(catch_panic(&app.metrics.panics, route, handler).await)
                }
            });
            tokio::spawn(
                auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), svc)
                    .into_owned(),
            );
        }
    }

    fn post(agent: &ureq::Agent, url: &str, body: &str) -> (u16, String) {
        let r = agent
            .post(url)
            .set("Authorization", &format!("Bearer {PRODUCER}"))
            .set("Content-Type", "application/x-ndjson")
            .send_string(body);
        match r {
            Ok(r) => (r.status(), r.into_string().unwrap_or_default()),
            Err(ureq::Error::Status(c, r)) => (c, r.into_string().unwrap_or_default()),
            Err(e) => panic!("transport error: {e}"),
        }
    }

    fn event(id: &str) -> String {
        format!(
            r#"{{"event_id":"{id}","event_type":"ad_impression","timestamp":"2026-11-28T13:45:12Z","user":{{"account_id":"A-{id}"}},"ad":{{"campaign_id":"c-7"}}}}"#
        )
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_panicking_handler_answers_500_and_the_server_keeps_serving() {
        let dir = tempfile::tempdir().expect("tempdir");
        let app = app(dir.path()).await;
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        tokio::spawn(serve_with_a_panicking_route(app.clone(), listener));

        let checks = tokio::task::spawn_blocking(move || {
            // One keep-alive connection for all requests.
            let agent = ureq::AgentBuilder::new().max_idle_connections(1).build();
            let events = format!("{base}/v1/events");
            let before = post(
                &agent,
                &events,
                &format!("{}\n{}", event("e1"), event("e2")),
            );
            let panicked = post(&agent, &format!("{events}?bug"), &event("e3"));
            let after = post(
                &agent,
                &events,
                &format!("{}\n{}", event("e3"), event("e1")),
            );
            let feed = agent
                .get(&format!("{base}/v1/feed/a?max=100"))
                .set("Authorization", &format!("Bearer {FEED}"))
                .call()
                .expect("feed")
                .into_string()
                .expect("feed body");
            let metrics = agent
                .get(&format!("{base}/metrics"))
                .call()
                .expect("metrics")
                .into_string()
                .expect("metrics body");
            (before, panicked, after, feed, metrics)
        })
        .await
        .expect("client");
        let (before, panicked, after, feed, metrics) = checks;
        assert_eq!(before.0, 202, "{before:?}");
        assert_eq!(panicked.0, 500, "{panicked:?}");
        assert!(
            !panicked.1.contains("jane") && panicked.1.contains("retry"),
            "{panicked:?}"
        );
        // The server still serves; e3 was not taken as seen, e1 is a duplicate.
        assert_eq!(after.0, 202, "{after:?}");
        let v: serde_json::Value = serde_json::from_str(&after.1).expect("json");
        assert_eq!(
            (v["accepted"].as_u64(), v["duplicates"].as_u64()),
            (Some(2), Some(1)),
            "{v}"
        );
        // Everything accepted before and after the panic is in the feed.
        let f: serde_json::Value = serde_json::from_str(&feed).expect("feed json");
        assert_eq!(f["events"].as_array().map(Vec::len), Some(3), "{f}");
        assert!(
            metrics.contains("adgate_panics_total 1\n"),
            "{}",
            metrics
                .lines()
                .filter(|l| l.contains("panics"))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}

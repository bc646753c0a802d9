//! The pull feed's HTTP side (see docs/delivery.md): `GET
//! /v1/feed/{partner}?max=N&wait_ms=W` and `POST /v1/feed/{partner}/commit
//! {"cursor": "..."}`, with the partner's feed token. Leases, cursors and
//! acknowledgements are the outbox's (crate::outbox::feed), the same on
//! every backend.
//!
//! A pull partner's notices (crate::notice) are a second feed of the same
//! kind on its notice outbox: `GET /v1/feed/{partner}/notices` and
//! `POST /v1/feed/{partner}/notices/commit`, same token, cursors, leases,
//! with a `"notices"` list; their commits count in `adgate_notices_total`,
//! not in the delivered events or the ledger.

use std::sync::Arc;
use std::time::Duration;

use http::{Request, StatusCode};
use hyper::body::Incoming;

use crate::app::{App, PullFeed};
use crate::config::MAX_FEED_WAIT_MS;
use crate::notice::NoticeType;
use crate::outbox::{FeedError, Stream};
use crate::web::{self, error, Resp};

/// Default `max` when the partner gives none, and the hard cap.
const DEFAULT_MAX: usize = 100;
const MAX_MAX: usize = 10_000;

fn feed_error(e: FeedError) -> Resp {
    match e {
        FeedError::Cursor(msg) => error(StatusCode::BAD_REQUEST, msg),
        FeedError::Unavailable(msg) => web::unavailable(msg),
        FeedError::Failed => error(StatusCode::INTERNAL_SERVER_ERROR, "feed could not be read"),
    }
}

/// Finds the feed of `stream` named in the path and checks the token
/// against it (a partner's notice feed takes its event feed token).
fn authorize(
    app: &Arc<App>,
    req: &Request<Incoming>,
    stream: Stream,
    suffix: &str,
) -> Result<Arc<PullFeed>, Resp> {
    let path = req.uri().path();
    let suffix = match stream {
        Stream::Events => suffix.to_owned(),
        Stream::Notices => format!("/notices{suffix}"),
    };
    let name = path
        .strip_prefix("/v1/feed/")
        .and_then(|r| r.strip_suffix(suffix.as_str()))
        .unwrap_or("");
    let Some(token) = web::bearer(req) else {
        return Err(web::unauthorized(
            "missing feed token (Authorization: Bearer <token>)",
        ));
    };
    if stream == Stream::Notices {
        let notice_feeds = app.notice_feeds.read().unwrap();
        if let Some(f) = notice_feeds.get(name) {
            if f.token_matches(token) {
                return Ok(f.clone());
            }
        }
    }
    let feeds = app.feeds.read().unwrap();
    if stream == Stream::Events {
        if let Some(f) = feeds.get(name) {
            if f.token_matches(token) {
                return Ok(f.clone());
            }
        }
    }
    let known_elsewhere = feeds.values().any(|f| f.token_matches(token))
        || app
            .runtime()
            .config
            .producers
            .iter()
            .any(|p| p.token.ct_eq(token))
        || app
            .runtime()
            .config
            .admin_token
            .as_ref()
            .is_some_and(|a| a.ct_eq(token));
    let exists = match stream {
        Stream::Events => feeds.contains_key(name),
        Stream::Notices => app.notice_feeds.read().unwrap().contains_key(name),
    };
    if known_elsewhere && !exists {
        // An authenticated caller asking for a feed that does not exist (or
        // a push partner, which has none).
        Err(error(
            StatusCode::NOT_FOUND,
            "no pull feed of that name (the partner is unknown or uses push delivery)",
        ))
    } else if known_elsewhere {
        Err(error(
            StatusCode::FORBIDDEN,
            "this token may not read this feed",
        ))
    } else {
        Err(web::unauthorized("invalid feed token"))
    }
}

/// The value of the query parameter `key`; `Err` when it is given more
/// than once (`?max=1&max=100000`: which one the sender meant is not
/// guessed).
fn query_param<'a>(q: &'a str, key: &str) -> Result<Option<&'a str>, Resp> {
    let mut values = q.split('&').filter_map(|kv| {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        (k == key).then_some(v)
    });
    let first = values.next();
    if values.next().is_some() {
        return Err(error(
            StatusCode::BAD_REQUEST,
            &format!("query parameter {key} is given more than once"),
        ));
    }
    Ok(first)
}

pub async fn handle_get(app: &Arc<App>, req: Request<Incoming>, stream: Stream) -> Resp {
    let feed = match authorize(app, &req, stream, "") {
        Ok(f) => f,
        Err(r) => return r,
    };
    let q = req.uri().query().unwrap_or("");
    let (max, wait_ms) = match (query_param(q, "max"), query_param(q, "wait_ms")) {
        (Ok(m), Ok(w)) => (m, w),
        (Err(r), _) | (_, Err(r)) => return r,
    };
    let max = match max.map(|v| v.parse::<usize>()) {
        None => None,
        Some(Ok(n)) if (1..=MAX_MAX).contains(&n) => Some(n),
        Some(_) => {
            return error(
                StatusCode::BAD_REQUEST,
                &format!("max must be an integer from 1 to {MAX_MAX}"),
            )
        }
    };
    let wait_ms = match wait_ms.map(|v| v.parse::<u64>()) {
        None => 0,
        Some(Ok(n)) if n <= MAX_FEED_WAIT_MS => n,
        Some(_) => {
            return error(
                StatusCode::BAD_REQUEST,
                &format!("wait_ms must be an integer from 0 to {MAX_FEED_WAIT_MS}"),
            )
        }
    };
    let max = max.unwrap_or_else(|| feed.feed.batch_max().min(DEFAULT_MAX.max(1)));
    match feed
        .feed
        .serve(
            max,
            Duration::from_millis(wait_ms),
            app.stopping.subscribe(),
        )
        .await
    {
        Ok(body) => web::json_bytes(StatusCode::OK, body),
        Err(e) => feed_error(e),
    }
}

pub async fn handle_commit(app: &Arc<App>, req: Request<Incoming>, stream: Stream) -> Resp {
    let feed = match authorize(app, &req, stream, "/commit") {
        Ok(f) => f,
        Err(r) => return web::refuse(req, r).await,
    };
    let body = match web::read_body(req, web::SMALL_BODY_BYTES).await {
        Ok(b) => b,
        Err(e) => return e.response(web::SMALL_BODY_BYTES as u64, None),
    };
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Commit {
        cursor: String,
    }
    let c: Commit = match serde_json::from_slice(&body) {
        Ok(c) => c,
        Err(_) => {
            return error(
                StatusCode::BAD_REQUEST,
                "body must be {\"cursor\": \"...\"}",
            )
        }
    };
    let c = match feed.feed.commit(&c.cursor).await {
        Ok(c) => c,
        Err(e) => return feed_error(e),
    };
    match stream {
        Stream::Events => {
            app.privacy.delivered(&feed.partner, c.ledger).await;
            app.metrics.delivered(&feed.partner, c.ingest_ms);
        }
        Stream::Notices => {
            for (t, n) in [
                (NoticeType::OptedOut, c.tagged),
                (NoticeType::Deleted, c.count - c.tagged),
            ] {
                if n > 0 {
                    app.metrics
                        .notices
                        .with_label_values(&[&feed.partner, t.as_str(), "delivered"])
                        .inc_by(n);
                }
            }
        }
    }
    let mut v = serde_json::json!({"committed": true});
    v[stream.items()] = c.count.into();
    web::json(StatusCode::OK, &v)
}

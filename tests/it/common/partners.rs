//! Mock partner APIs that validate the exact request shape each partner
//! documents (sources cited in src/profile/*.rs): Meta Conversions API,
//! Google Ads `uploadClickConversions` and TikTok Events API 2.0.
//!
//! Each is a real HTTP/1.1 server on 127.0.0.1:0 (hyper). A request that
//! breaks the partner's rules is answered `400 {"error": "<reason>"}`
//! (`401` for a missing or wrong credential, as the partners do); a valid
//! one `200` with the partner's success body, and its events are recorded.
//! The reason names the rule and the JSON path, never a value.
//!
//! The checks follow the public docs, and are stricter in one place where
//! adgate promises more: every `external_id` must be hex SHA-256 too (Meta
//! only recommends hashing it).

use std::collections::{HashMap, VecDeque};
use std::io::Read as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Map, Value};

/// Which API a mock speaks, with the ids and credentials it expects.
#[derive(Debug, Clone)]
pub enum PartnerApi {
    Meta {
        pixel_id: String,
        access_token: String,
    },
    Google {
        customer_id: String,
        access_token: String,
        developer_token: String,
    },
    Tiktok {
        event_source_id: String,
        access_token: String,
    },
}

impl PartnerApi {
    /// The endpoint path the partner serves.
    pub fn path(&self) -> String {
        match self {
            PartnerApi::Meta { pixel_id, .. } => format!("/v21.0/{pixel_id}/events"),
            PartnerApi::Google { customer_id, .. } => {
                format!("/v21/customers/{customer_id}:uploadClickConversions")
            }
            PartnerApi::Tiktok { .. } => "/open_api/v1.3/event/track/".to_owned(),
        }
    }

    pub fn batch_limit(&self) -> usize {
        match self {
            PartnerApi::Meta { .. } | PartnerApi::Tiktok { .. } => 1000,
            PartnerApi::Google { .. } => 2000,
        }
    }
}

/// One request as the mock saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub status: u16,
    /// Why it was refused (`None` when accepted or forced).
    pub reason: Option<String>,
    pub headers: HashMap<String, String>,
    pub path_and_query: String,
    pub body: Vec<u8>,
}

/// A request, as [`validate`] reads it.
pub struct Request<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub headers: &'a HashMap<String, String>,
    /// After undoing `Content-Encoding: gzip`.
    pub body: &'a [u8],
}

pub type Refusal = (u16, String);

fn bad(reason: impl Into<String>) -> Refusal {
    (400, reason.into())
}

fn unauthorized(reason: impl Into<String>) -> Refusal {
    (401, reason.into())
}

/// Exactly 64 lowercase hex digits.
pub fn is_hex64(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn object<'v>(v: &'v Value, path: &str) -> Result<&'v Map<String, Value>, Refusal> {
    v.as_object()
        .ok_or_else(|| bad(format!("{path} must be an object")))
}

fn only_keys(o: &Map<String, Value>, allowed: &[&str], path: &str) -> Result<(), Refusal> {
    match o.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(bad(format!("{path}.{k} is not a known parameter"))),
        None => Ok(()),
    }
}

fn string<'v>(o: &'v Map<String, Value>, key: &str, path: &str) -> Result<&'v str, Refusal> {
    match o.get(key) {
        None => Err(bad(format!("{path}.{key} is required"))),
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(s),
        Some(_) => Err(bad(format!("{path}.{key} must be a non-empty string"))),
    }
}

fn opt_string(o: &Map<String, Value>, key: &str, path: &str) -> Result<(), Refusal> {
    match o.get(key) {
        None | Some(Value::String(_)) => Ok(()),
        Some(_) => Err(bad(format!("{path}.{key} must be a string"))),
    }
}

/// Unix seconds (not milliseconds): an integer in (0, 10^10).
fn unix_seconds(o: &Map<String, Value>, key: &str, path: &str) -> Result<(), Refusal> {
    match o.get(key).and_then(Value::as_i64) {
        Some(t) if t > 0 && t < 10_000_000_000 => Ok(()),
        Some(_) => Err(bad(format!("{path}.{key} must be Unix seconds"))),
        None => Err(bad(format!("{path}.{key} is required as an integer"))),
    }
}

/// A hex SHA-256 string, or (when `list_ok`) a non-empty list of them.
fn hashed(v: &Value, path: &str, list_ok: bool) -> Result<(), Refusal> {
    match v {
        Value::String(s) if is_hex64(s) => Ok(()),
        Value::String(_) => Err(bad(format!("{path} must be lowercase hex SHA-256"))),
        Value::Array(a) if list_ok && !a.is_empty() => {
            for (i, x) in a.iter().enumerate() {
                hashed(x, &format!("{path}[{i}]"), false)?;
            }
            Ok(())
        }
        _ => Err(bad(format!(
            "{path} must be a hex SHA-256 string{}",
            if list_ok { " or a list of them" } else { "" }
        ))),
    }
}

fn batch<'v>(
    body: &'v Map<String, Value>,
    key: &str,
    limit: usize,
) -> Result<&'v Vec<Value>, Refusal> {
    let items = match body.get(key) {
        Some(Value::Array(a)) => a,
        Some(_) => return Err(bad(format!("{key} must be an array"))),
        None => return Err(bad(format!("{key} is required"))),
    };
    if items.is_empty() {
        return Err(bad(format!("{key} must not be empty")));
    }
    if items.len() > limit {
        return Err(bad(format!(
            "{key} has {} items, more than the limit of {limit}",
            items.len()
        )));
    }
    Ok(items)
}

fn json_body(req: &Request<'_>) -> Result<Map<String, Value>, Refusal> {
    let ct = req
        .headers
        .get("content-type")
        .map(String::as_str)
        .unwrap_or("");
    if !ct.starts_with("application/json") {
        return Err(bad("Content-Type must be application/json"));
    }
    let v: Value =
        serde_json::from_slice(req.body).map_err(|e| bad(format!("body is not JSON: {e}")))?;
    match v {
        Value::Object(o) => Ok(o),
        _ => Err(bad("body must be a JSON object")),
    }
}

/// Checks one request against `api`'s documented rules; the accepted events
/// on success.
pub fn validate(api: &PartnerApi, req: &Request<'_>) -> Result<Vec<Value>, Refusal> {
    if req.method != "POST" {
        return Err(bad("method must be POST"));
    }
    if req.path != api.path() {
        return Err((404, "unknown path".to_owned()));
    }
    match api {
        PartnerApi::Meta { access_token, .. } => {
            let token = req
                .query
                .unwrap_or("")
                .split('&')
                .find_map(|kv| kv.strip_prefix("access_token="));
            if token != Some(access_token.as_str()) {
                return Err(unauthorized(
                    "access_token query parameter missing or invalid",
                ));
            }
            meta(&json_body(req)?, api.batch_limit())
        }
        PartnerApi::Google {
            access_token,
            developer_token,
            customer_id,
        } => {
            let bearer = req.headers.get("authorization").map(String::as_str);
            if bearer != Some(format!("Bearer {access_token}").as_str()) {
                return Err(unauthorized(
                    "Authorization: Bearer token missing or invalid",
                ));
            }
            if req.headers.get("developer-token") != Some(developer_token) {
                return Err(unauthorized("developer-token header missing or invalid"));
            }
            google(&json_body(req)?, customer_id, api.batch_limit())
        }
        PartnerApi::Tiktok {
            access_token,
            event_source_id,
        } => {
            if req.headers.get("access-token") != Some(access_token) {
                return Err(unauthorized("Access-Token header missing or invalid"));
            }
            tiktok(&json_body(req)?, event_source_id, api.batch_limit())
        }
    }
}

const META_ACTION_SOURCES: &[&str] = &[
    "email",
    "website",
    "app",
    "phone_call",
    "chat",
    "physical_store",
    "system_generated",
    "business_messaging",
    "other",
];

fn meta(body: &Map<String, Value>, limit: usize) -> Result<Vec<Value>, Refusal> {
    only_keys(body, &["data", "test_event_code"], "body")?;
    let data = batch(body, "data", limit)?;
    for (i, ev) in data.iter().enumerate() {
        let p = format!("data[{i}]");
        let o = object(ev, &p)?;
        only_keys(
            o,
            &[
                "event_name",
                "event_time",
                "event_id",
                "action_source",
                "event_source_url",
                "opt_out",
                "user_data",
                "custom_data",
                "data_processing_options",
                "data_processing_options_country",
                "data_processing_options_state",
            ],
            &p,
        )?;
        string(o, "event_name", &p)?;
        unix_seconds(o, "event_time", &p)?;
        opt_string(o, "event_id", &p)?;
        let src = string(o, "action_source", &p)?;
        if !META_ACTION_SOURCES.contains(&src) {
            return Err(bad(format!("{p}.action_source is not a known source")));
        }
        let ud = object(
            o.get("user_data")
                .ok_or_else(|| bad(format!("{p}.user_data is required")))?,
            &format!("{p}.user_data"),
        )?;
        only_keys(
            ud,
            &[
                "em",
                "ph",
                "external_id",
                "fn",
                "ln",
                "db",
                "ge",
                "ct",
                "st",
                "zp",
                "country",
                "client_ip_address",
                "client_user_agent",
                "fbc",
                "fbp",
            ],
            &format!("{p}.user_data"),
        )?;
        let mut ids = 0;
        for k in ["em", "ph", "external_id"] {
            if let Some(v) = ud.get(k) {
                hashed(v, &format!("{p}.user_data.{k}"), true)?;
                ids += 1;
            }
        }
        if ids == 0 {
            return Err(bad(format!(
                "{p}.user_data needs at least one customer information parameter"
            )));
        }
        if let Some(cd) = o.get("custom_data") {
            object(cd, &format!("{p}.custom_data"))?;
        }
        if let Some(dpo) = o.get("data_processing_options") {
            let a = dpo
                .as_array()
                .ok_or_else(|| bad(format!("{p}.data_processing_options must be an array")))?;
            if a.iter().any(|x| x.as_str() != Some("LDU")) {
                return Err(bad(format!(
                    "{p}.data_processing_options may only contain \"LDU\""
                )));
            }
            if !a.is_empty() {
                for k in [
                    "data_processing_options_country",
                    "data_processing_options_state",
                ] {
                    if o.get(k).and_then(Value::as_i64).is_none() {
                        return Err(bad(format!("{p}.{k} is required as an integer with LDU")));
                    }
                }
            }
        }
    }
    Ok(data.clone())
}

fn is_date_time(s: &str) -> bool {
    // yyyy-mm-dd hh:mm:ss+|-hh:mm
    let b = s.as_bytes();
    let digits = [
        0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18, 20, 21, 23, 24,
    ];
    b.len() == 25
        && digits.iter().all(|&i| b[i].is_ascii_digit())
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b' '
        && b[13] == b':'
        && b[16] == b':'
        && (b[19] == b'+' || b[19] == b'-')
        && b[22] == b':'
}

const CONSENT_STATUSES: &[&str] = &["UNSPECIFIED", "UNKNOWN", "GRANTED", "DENIED"];

fn google(
    body: &Map<String, Value>,
    customer_id: &str,
    limit: usize,
) -> Result<Vec<Value>, Refusal> {
    only_keys(
        body,
        &[
            "conversions",
            "partialFailure",
            "validateOnly",
            "debugEnabled",
            "jobId",
        ],
        "body",
    )?;
    if body.get("partialFailure") != Some(&Value::Bool(true)) {
        return Err(bad("partialFailure must be true"));
    }
    let conversions = batch(body, "conversions", limit)?;
    let action_prefix = format!("customers/{customer_id}/conversionActions/");
    for (i, c) in conversions.iter().enumerate() {
        let p = format!("conversions[{i}]");
        let o = object(c, &p)?;
        only_keys(
            o,
            &[
                "conversionAction",
                "conversionDateTime",
                "orderId",
                "userIdentifiers",
                "conversionValue",
                "currencyCode",
                "consent",
                "gclid",
                "gbraid",
                "wbraid",
            ],
            &p,
        )?;
        let action = string(o, "conversionAction", &p)?;
        let ok = action
            .strip_prefix(&action_prefix)
            .is_some_and(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()));
        if !ok {
            return Err(bad(format!(
                "{p}.conversionAction is not a conversion action of this customer"
            )));
        }
        if !is_date_time(string(o, "conversionDateTime", &p)?) {
            return Err(bad(format!(
                "{p}.conversionDateTime must be yyyy-mm-dd hh:mm:ss+|-hh:mm"
            )));
        }
        opt_string(o, "orderId", &p)?;
        match o.get("userIdentifiers") {
            Some(Value::Array(ids)) if !ids.is_empty() && ids.len() <= 5 => {
                for (j, id) in ids.iter().enumerate() {
                    let q = format!("{p}.userIdentifiers[{j}]");
                    let io = object(id, &q)?;
                    only_keys(
                        io,
                        &["hashedEmail", "hashedPhoneNumber", "userIdentifierSource"],
                        &q,
                    )?;
                    let set: Vec<&str> = ["hashedEmail", "hashedPhoneNumber"]
                        .into_iter()
                        .filter(|k| io.contains_key(*k))
                        .collect();
                    if set.len() != 1 {
                        return Err(bad(format!(
                            "{q} must set exactly one of hashedEmail, hashedPhoneNumber"
                        )));
                    }
                    hashed(&io[set[0]], &format!("{q}.{}", set[0]), false)?;
                }
            }
            Some(Value::Array(ids)) if ids.len() > 5 => {
                return Err(bad(format!(
                    "{p}.userIdentifiers has more than 5 identifiers"
                )))
            }
            None if o.contains_key("gclid") => {}
            _ => {
                return Err(bad(format!(
                    "{p}.userIdentifiers must be a list of 1 to 5 identifiers"
                )))
            }
        }
        if let Some(v) = o.get("conversionValue") {
            if !v.as_f64().is_some_and(|x| x >= 0.0) {
                return Err(bad(format!("{p}.conversionValue must be a number >= 0")));
            }
        }
        if let Some(c) = o.get("currencyCode") {
            let ok = c
                .as_str()
                .is_some_and(|s| s.len() == 3 && s.bytes().all(|b| b.is_ascii_uppercase()));
            if !ok {
                return Err(bad(format!("{p}.currencyCode must be an ISO 4217 code")));
            }
        }
        if let Some(c) = o.get("consent") {
            let q = format!("{p}.consent");
            let co = object(c, &q)?;
            only_keys(co, &["adUserData", "adPersonalization"], &q)?;
            for (k, v) in co {
                if !v.as_str().is_some_and(|s| CONSENT_STATUSES.contains(&s)) {
                    return Err(bad(format!("{q}.{k} must be a ConsentStatus")));
                }
            }
        }
    }
    Ok(conversions.clone())
}

fn tiktok(
    body: &Map<String, Value>,
    event_source_id: &str,
    limit: usize,
) -> Result<Vec<Value>, Refusal> {
    only_keys(
        body,
        &[
            "event_source",
            "event_source_id",
            "data",
            "test_event_code",
            "partner_name",
        ],
        "body",
    )?;
    let src = string(body, "event_source", "body")?;
    if !["web", "app", "offline", "crm"].contains(&src) {
        return Err(bad("body.event_source must be web, app, offline or crm"));
    }
    if string(body, "event_source_id", "body")? != event_source_id {
        return Err(bad("body.event_source_id is not this pixel or app"));
    }
    let data = batch(body, "data", limit)?;
    for (i, ev) in data.iter().enumerate() {
        let p = format!("data[{i}]");
        let o = object(ev, &p)?;
        only_keys(
            o,
            &[
                "event",
                "event_time",
                "event_id",
                "user",
                "properties",
                "page",
                "app",
                "ad",
                "limited_data_use",
            ],
            &p,
        )?;
        string(o, "event", &p)?;
        unix_seconds(o, "event_time", &p)?;
        opt_string(o, "event_id", &p)?;
        let q = format!("{p}.user");
        let user = object(
            o.get("user")
                .ok_or_else(|| bad(format!("{q} is required")))?,
            &q,
        )?;
        only_keys(
            user,
            &[
                "email",
                "phone",
                "external_id",
                "ttclid",
                "ttp",
                "ip",
                "user_agent",
                "locale",
            ],
            &q,
        )?;
        let mut ids = 0;
        for k in ["email", "phone", "external_id"] {
            if let Some(v) = user.get(k) {
                hashed(v, &format!("{q}.{k}"), true)?;
                ids += 1;
            }
        }
        if ids == 0 {
            return Err(bad(format!("{q} needs email, phone or external_id")));
        }
        if let Some(pr) = o.get("properties") {
            object(pr, &format!("{p}.properties"))?;
        }
    }
    Ok(data.clone())
}

fn success_body(api: &PartnerApi, n: usize) -> String {
    match api {
        PartnerApi::Meta { .. } => {
            format!(r#"{{"events_received":{n},"messages":[],"fbtrace_id":"mock"}}"#)
        }
        PartnerApi::Google { .. } => {
            let results = vec!["{}"; n].join(",");
            format!(r#"{{"results":[{results}],"jobId":"1"}}"#)
        }
        PartnerApi::Tiktok { .. } => r#"{"code":0,"message":"OK","data":{}}"#.to_owned(),
    }
}

/// Answers forced on the next requests: a status, and a body other than
/// the default error.
type Forced = Mutex<VecDeque<(u16, Option<String>)>>;

/// A running mock partner API.
pub struct PartnerMock {
    pub addr: SocketAddr,
    pub api: PartnerApi,
    seen: Arc<Mutex<Vec<Seen>>>,
    accepted: Arc<Mutex<Vec<Value>>>,
    forced: Arc<Forced>,
    _shutdown: tokio::sync::oneshot::Sender<()>,
}

impl PartnerMock {
    pub fn meta(pixel_id: &str, access_token: &str) -> PartnerMock {
        PartnerMock::start(PartnerApi::Meta {
            pixel_id: pixel_id.into(),
            access_token: access_token.into(),
        })
    }

    pub fn google(customer_id: &str, access_token: &str, developer_token: &str) -> PartnerMock {
        PartnerMock::start(PartnerApi::Google {
            customer_id: customer_id.into(),
            access_token: access_token.into(),
            developer_token: developer_token.into(),
        })
    }

    pub fn tiktok(event_source_id: &str, access_token: &str) -> PartnerMock {
        PartnerMock::start(PartnerApi::Tiktok {
            event_source_id: event_source_id.into(),
            access_token: access_token.into(),
        })
    }

    /// The endpoint URL to configure (without any credential).
    pub fn url(&self) -> String {
        format!("http://{}{}", self.addr, self.api.path())
    }

    /// Every request so far, in arrival order.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// Every event of every accepted request, in order.
    pub fn accepted(&self) -> Vec<Value> {
        self.accepted.lock().unwrap().clone()
    }

    /// Answer the next requests with these statuses (before validating
    /// them, recording nothing as accepted): `fail_next(&[503, 503])`.
    pub fn fail_next(&self, statuses: &[u16]) {
        self.forced
            .lock()
            .unwrap()
            .extend(statuses.iter().map(|s| (*s, None)));
    }

    /// Answer the next request with this status and body, as the real API
    /// does for an error it reports inside a 200 (TikTok's `code`,
    /// Google's `partialFailureError`); nothing is recorded as accepted.
    pub fn answer_next(&self, status: u16, body: &str) {
        self.forced
            .lock()
            .unwrap()
            .push_back((status, Some(body.to_owned())));
    }

    pub fn start(api: PartnerApi) -> PartnerMock {
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let accepted: Arc<Mutex<Vec<Value>>> = Arc::default();
        let forced: Arc<Forced> = Arc::default();
        let (tx, rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let (seen2, accepted2, forced2, api2) = (
            seen.clone(),
            accepted.clone(),
            forced.clone(),
            Arc::new(api.clone()),
        );
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                tx.send(listener.local_addr().unwrap()).unwrap();
                let serve = async {
                    loop {
                        let (stream, _) = listener.accept().await.unwrap();
                        let (seen, accepted, forced, api) = (
                            seen2.clone(),
                            accepted2.clone(),
                            forced2.clone(),
                            api2.clone(),
                        );
                        tokio::spawn(async move {
                            let svc = hyper::service::service_fn(
                                move |req: hyper::Request<hyper::body::Incoming>| {
                                    let (seen, accepted, forced, api) = (
                                        seen.clone(),
                                        accepted.clone(),
                                        forced.clone(),
                                        api.clone(),
                                    );
                                    async move {
                                        let method = req.method().as_str().to_owned();
                                        let path = req.uri().path().to_owned();
                                        let query = req.uri().query().map(str::to_owned);
                                        let (headers, body) = super::read_request(req).await;
                                        let (status, text, reason) = answer(
                                            &api,
                                            &forced,
                                            &accepted,
                                            &method,
                                            &path,
                                            query.as_deref(),
                                            &headers,
                                            &body,
                                        );
                                        seen.lock().unwrap().push(Seen {
                                            status,
                                            reason,
                                            headers,
                                            path_and_query: match &query {
                                                Some(q) => format!("{path}?{q}"),
                                                None => path,
                                            },
                                            body,
                                        });
                                        let mut r = hyper::Response::new(
                                            http_body_util::Full::new(bytes::Bytes::from(text)),
                                        );
                                        *r.status_mut() =
                                            hyper::StatusCode::from_u16(status).unwrap();
                                        r.headers_mut().insert(
                                            hyper::header::CONTENT_TYPE,
                                            "application/json".parse().unwrap(),
                                        );
                                        Ok::<_, std::convert::Infallible>(r)
                                    }
                                },
                            );
                            let _ = hyper::server::conn::http1::Builder::new()
                                .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                                .await;
                        });
                    }
                };
                tokio::select! {
                    _ = serve => {}
                    _ = stop_rx => {}
                }
            });
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(10))
            .expect("mock partner API started");
        PartnerMock {
            addr,
            api,
            seen,
            accepted,
            forced,
            _shutdown: stop_tx,
        }
    }
}

/// Status, body text and refusal reason for one request.
#[allow(clippy::too_many_arguments)]
fn answer(
    api: &PartnerApi,
    forced: &Forced,
    accepted: &Mutex<Vec<Value>>,
    method: &str,
    path: &str,
    query: Option<&str>,
    headers: &HashMap<String, String>,
    body: &[u8],
) -> (u16, String, Option<String>) {
    if let Some((s, body)) = forced.lock().unwrap().pop_front() {
        let text = body.unwrap_or_else(|| r#"{"error":"forced by the test"}"#.to_owned());
        return (s, text, None);
    }
    let gz = headers.get("content-encoding").map(String::as_str) == Some("gzip");
    let mut inflated = Vec::new();
    let body = if gz {
        if flate2::read::GzDecoder::new(body)
            .read_to_end(&mut inflated)
            .is_err()
        {
            let why = "Content-Encoding: gzip but the body is not gzip".to_owned();
            return (
                400,
                serde_json::json!({ "error": why }).to_string(),
                Some(why),
            );
        }
        &inflated[..]
    } else {
        body
    };
    let req = Request {
        method,
        path,
        query,
        headers,
        body,
    };
    match validate(api, &req) {
        Ok(events) => {
            let n = events.len();
            accepted.lock().unwrap().extend(events);
            (200, success_body(api, n), None)
        }
        Err((status, why)) => (
            status,
            serde_json::json!({ "error": why }).to_string(),
            Some(why),
        ),
    }
}

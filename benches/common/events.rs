//! The benches' shared inputs: realistic ~660-byte events, the partner keys
//! and the config with 1-3 partners. Included with `#[path]` by
//! `benches/policy.rs` and `benches/peers/benches/peers.rs`, so both measure
//! the same events under the same config.

use std::collections::HashMap;
use std::path::Path;

use adgate::config::{env_from, Config};

/// `n` events: 3 of every 6 are ad impressions, 1 an app install (both
/// routed), 1 a purchase and 1 a product view (not routed, `not_allowed`).
pub fn events(n: usize) -> Vec<String> {
    let types = [
        "ad_impression",
        "ad_impression",
        "ad_impression",
        "app_install",
        "purchase",
        "product_view",
    ];
    (0..n)
        .map(|i| {
            let t = types[i % types.len()];
            serde_json::json!({
                "event_id": format!("0b6f2c1e-4d3a-4f1b-9c2d-{i:012}"),
                "event_type": t,
                "timestamp": "2026-11-28T13:45:12Z",
                "user": {"email": format!("  Jane.Doe{i}@Example.com "), "account_id": format!("A{i:08}"),
                         "device_id": format!("9f8e7d6c-5b4a-3c2d-1e0f-{i:012}"), "phone": "+1 206 555 0100",
                         "ip": "203.0.113.9", "age": 34},
                "consent": {"personalized_ads": true, "gpc": false},
                "context": {"page_url": "https://shop.example.com/products/12345?ref=home", "user_agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36", "category": "books"},
                "search": {"query": "running shoes"},
                "ad": {"campaign_id": "c-77", "placement": "home-top", "value_estimate_micros": 1250, "currency": "USD"},
                "app": {"app_id": "com.example.game"}
            })
            .to_string()
        })
        .collect()
}

/// Partner `i` has key id `k{i}` and these key bytes (base64).
pub const KEYS: [&str; 3] = [
    "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
    "HyAhIiMkJSYnKCkqKywtLi8wMTIzNDU2Nzg5Ojs8PT4=",
    "QEFCQ0RFRkdISUpLTE1OT1BRUlNUVVZXWFlaW1xdXl8=",
];

/// Default privacy section (hour granularity, minor age 18); `partners`
/// partners with the same event types, identifiers and fields.
pub fn config(partners: usize) -> Config {
    let mut toml = String::new();
    let mut env = HashMap::new();
    for (i, key) in KEYS.iter().enumerate().take(partners) {
        toml.push_str(&format!(
            r#"
[[partners]]
name = "p{i}"
event_types = ["ad_impression", "app_install"]
identifiers = ["email", "account_id", "device_id"]
fields = ["ad.campaign_id", "ad.placement", "ad.value_estimate_micros", "ad.currency", "app.app_id"]
[partners.delivery]
mode = "pull"
token_env = "T{i}"
[[partners.keys]]
id = "k{i}"
secret_env = "K{i}"
"#
        ));
        env.insert(
            format!("T{i}"),
            format!("token-{i}-0123456789abcdef0123456789abcdef"),
        );
        env.insert(format!("K{i}"), key.to_string());
    }
    Config::from_toml(&toml, "bench.toml", Path::new("."), &env_from(env)).unwrap()
}

//! The embedded demo default of `adgate serve` without `--config`: listens on
//! 127.0.0.1:8080, data in `./adgate-data`, one producer, one pull-mode
//! partner and an admin token. Keys and tokens are generated on first start
//! into `adgate-data/demo/` (mode 0600) and reused after.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use base64::Engine as _;

use crate::config::{env_from, Config};

pub const DEMO_PARTNER: &str = "demo-partner";
pub const DEMO_PRODUCER: &str = "demo";

/// Tokens a person needs to try the demo.
#[derive(Debug)]
pub struct DemoTokens {
    pub producer: String,
    pub feed: String,
    pub admin: String,
    /// Where the admin token is kept (it is not printed: only the demo
    /// producer and feed tokens are).
    pub admin_file: PathBuf,
}

fn secret(dir: &Path, name: &str, make: impl Fn() -> String) -> std::io::Result<String> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let path = dir.join(name);
    if let Ok(s) = std::fs::read_to_string(&path) {
        if !s.trim().is_empty() {
            return Ok(s.trim().to_owned());
        }
    }
    let v = make();
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&path)?;
    f.write_all(v.as_bytes())?;
    f.sync_all()?;
    Ok(v)
}

/// Builds the demo config, creating its secrets on first start.
pub fn config(data_dir: &Path) -> Result<(Config, DemoTokens), String> {
    let dir: PathBuf = data_dir.join("demo");
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let tok = || crate::util::random_token(32);
    let key = || {
        let mut b = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut b);
        base64::engine::general_purpose::STANDARD.encode(b)
    };
    let io = |e: std::io::Error| format!("cannot write demo secrets in {}: {e}", dir.display());
    let tokens = DemoTokens {
        producer: secret(&dir, "producer.token", tok).map_err(io)?,
        feed: secret(&dir, "feed.token", tok).map_err(io)?,
        admin: secret(&dir, "admin.token", tok).map_err(io)?,
        admin_file: dir.join("admin.token"),
    };
    let partner_key = secret(&dir, "partner.key", key).map_err(io)?;
    let toml = format!(
        r#"
[server]
listen = "127.0.0.1:8080"
data_dir = "{data}"

[[producers]]
name = "{DEMO_PRODUCER}"
token_env = "DEMO_PRODUCER_TOKEN"

[admin]
token_env = "DEMO_ADMIN_TOKEN"

[privacy]
minor_age = 18
sensitive_categories = ["health", "pharmacy"]
time_granularity = "hour"

[[partners]]
name = "{DEMO_PARTNER}"
event_types = ["ad_impression", "ad_click", "app_install"]
identifiers = ["account_id", "email", "device_id", "phone"]
fields = ["ad.campaign_id", "ad.placement", "ad.value_estimate_micros", "ad.currency", "app.app_id"]
[partners.delivery]
mode = "pull"
token_env = "DEMO_FEED_TOKEN"
[[partners.keys]]
id = "demo1"
secret_env = "DEMO_PARTNER_KEY"
"#,
        data = data_dir
            .display()
            .to_string()
            .replace('\\', "\\\\")
            .replace('"', "\\\"")
    );
    let env = env_from(HashMap::from([
        ("DEMO_PRODUCER_TOKEN".to_string(), tokens.producer.clone()),
        ("DEMO_ADMIN_TOKEN".to_string(), tokens.admin.clone()),
        ("DEMO_FEED_TOKEN".to_string(), tokens.feed.clone()),
        ("DEMO_PARTNER_KEY".to_string(), partner_key),
    ]));
    let cfg = Config::from_toml(&toml, "<embedded demo config>", Path::new("."), &env)
        .map_err(|e| e.to_string())?;
    Ok((cfg, tokens))
}

//! Config validation (see docs/config.md) through the real binary:
//! `adgate check-config --config FILE` exits 2 on every rule, and stderr
//! names the file, the exact key path and a fix, never a secret. A valid
//! config exits 0 with a one-screen summary that carries no secret either.
//!
//! Every failure prints the command, its exit status, stdout and stderr.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;

use crate::common::run::Run;
use crate::common::BIN;

// ---------------------------------------------------------------------------
// Running the binary.

// ---------------------------------------------------------------------------
// A valid config and its secrets, written into a temp dir.

/// Base64 of 32 bytes starting at `seed` (counting up): distinct per seed.
fn key_b64(seed: u8, len: usize) -> String {
    let bytes: Vec<u8> = (0..len).map(|i| seed.wrapping_add(i as u8)).collect();
    STANDARD.encode(bytes)
}

fn default_env() -> BTreeMap<String, String> {
    BTreeMap::from([
        (
            "T_WEB".into(),
            "tok-web-5b2c9d7e1f3a4b6c8d0e2f4a6b8c0d2e".into(),
        ),
        (
            "T_ADMIN".into(),
            "tok-admin-9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b".into(),
        ),
        (
            "T_FEED_BETA".into(),
            "tok-feed-beta-1a2b3c4d5e6f7a8b9c0d1e2f3a".into(),
        ),
        (
            "T_SIGN".into(),
            "whsec-sign-acme-0f1e2d3c4b5a69788796a5b4c3".into(),
        ),
        ("K_ACME_OLD".into(), key_b64(10, 32)),
        ("K_BETA".into(), key_b64(100, 32)),
        ("K_META".into(), key_b64(150, 32)),
        ("K_GOOGLE".into(), key_b64(200, 32)),
        ("K_TIKTOK".into(), key_b64(3, 32)),
        (
            "T_META_TOKEN".into(),
            "EAAB-meta-access-token-7f6e5d4c3b2a1908".into(),
        ),
        (
            "T_GOOGLE_TOKEN".into(),
            "ya29.google-oauth-token-0a1b2c3d4e5f6a7b".into(),
        ),
        (
            "T_GOOGLE_DEV".into(),
            "google-developer-token-9f8e7d6c5b4a3f2e".into(),
        ),
        (
            "T_TIKTOK_TOKEN".into(),
            "tiktok-access-token-1f2e3d4c5b6a79880".into(),
        ),
    ])
}

/// Secrets that live in files next to the config (relative `*_file` paths).
const APP_TOKEN: &str = "tok-app-file-3c5e7a9b1d3f5a7c9e1b3d5f7a9c";

fn acme_new_key() -> String {
    key_b64(50, 32)
}

/// Two producers (env and file tokens), admin, a push partner with two keys
/// (env and file) and a pull partner.
const VALID: &str = r#"
[server]
listen = "127.0.0.1:0"
data_dir = "data"
shutdown_grace_seconds = 5

[[producers]]
name = "web"
token_env = "T_WEB"

[[producers]]
name = "app"
token_file = "secrets/app.token"

[admin]
token_env = "T_ADMIN"

[privacy]
minor_age = 18
sensitive_categories = ["health", "pharmacy"]
time_granularity = "hour"

[[partners]]
name = "acme-ads"
event_types = ["ad_impression", "app_install"]
identifiers = ["account_id", "email", "device_id"]
fields = ["ad.campaign_id", "ad.placement", "app.app_id"]
[partners.delivery]
mode = "push"
endpoint = "https://ads.acme.example/v1/events"
signing_secret_env = "T_SIGN"
[[partners.keys]]
id = "k202605"
secret_env = "K_ACME_OLD"
[[partners.keys]]
id = "k202611"
secret_file = "secrets/acme.key"

[[partners]]
name = "beta-metrics"
event_types = ["ad_impression"]
identifiers = ["device_id", "account_id"]
fields = ["ad.campaign_id", "ad.value_estimate_micros"]
[partners.delivery]
mode = "pull"
token_env = "T_FEED_BETA"
lease_ms = 30000
[[partners.keys]]
id = "b1"
secret_env = "K_BETA"
"#;

/// `text` with `from` replaced by `to`; `from` must occur exactly once, so a
/// test can never pass because its edit silently did nothing.
#[track_caller]
fn edit(text: &str, from: &str, to: &str) -> String {
    let n = text.matches(from).count();
    assert_eq!(n, 1, "edit anchor {from:?} occurs {n} times in the config");
    text.replacen(from, to, 1)
}

struct Setup {
    dir: tempfile::TempDir,
    config: PathBuf,
    env: BTreeMap<String, String>,
}

impl Setup {
    /// Writes `toml` and the file secrets (mode 0600) into a fresh temp dir.
    fn new(toml: &str) -> Setup {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("secrets")).unwrap();
        for (name, value) in [
            ("secrets/app.token", format!("{APP_TOKEN}\n")),
            ("secrets/acme.key", acme_new_key()),
        ] {
            let path = dir.path().join(name);
            std::fs::write(&path, value).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        let config = dir.path().join("adgate.toml");
        std::fs::write(&config, toml).unwrap();
        Setup {
            dir,
            config,
            env: default_env(),
        }
    }

    fn file(&self) -> String {
        self.config.display().to_string()
    }

    /// Every secret value this setup can hand the binary, encoded as stored
    /// and (for keys) in the other base64 alphabets, so a re-encoded leak is
    /// caught too.
    fn secrets(&self) -> Vec<String> {
        let mut out: Vec<String> = self.env.values().cloned().collect();
        out.push(APP_TOKEN.into());
        out.push(acme_new_key());
        for v in out.clone() {
            if let Ok(b) = STANDARD.decode(&v) {
                out.push(URL_SAFE_NO_PAD.encode(&b));
                out.push(b.iter().map(|x| format!("{x:02x}")).collect());
            }
        }
        out
    }

    fn check_config(&self) -> Run {
        Run::exec(
            Command::new(BIN)
                .args(["check-config", "--config", &self.file()])
                .env_clear()
                .envs(&self.env)
                .current_dir(self.dir.path()),
        )
    }

    /// Asserts the config is refused with exit 2 and an error line of the
    /// form `FILE: KEY: problem (fix: ...)`, naming `problem` and `fix`.
    #[track_caller]
    fn refused(&self, key: &str, problem: &str, fix: &str) -> Run {
        let r = self.check_config();
        r.code(2)
            .stderr_has(&format!("{}: {key}: ", self.file()))
            .stderr_has(problem)
            .stderr_has("(fix: ")
            .stderr_has(fix)
            .no_secrets(&self.secrets());
        if !r.stdout.is_empty() {
            r.fail("a refused config prints nothing on stdout");
        }
        r
    }
}

#[track_caller]
fn refused(toml: &str, key: &str, problem: &str, fix: &str) -> Run {
    Setup::new(toml).refused(key, problem, fix)
}

// ---------------------------------------------------------------------------
// Valid configs.

#[test]
fn valid_config_exits_0_and_summarizes_without_secrets() {
    let s = Setup::new(VALID);
    let r = s.check_config();
    r.code(0).no_secrets(&s.secrets());
    r.stdout_has("OK")
        .stdout_has("producers: web, app")
        .stdout_has("admin API: enabled")
        .stdout_has("time_granularity hour")
        .stdout_has("partner acme-ads: push to https://ads.acme.example/v1/events")
        .stdout_has("partner beta-metrics: pull from /v1/feed/beta-metrics")
        .stdout_has("event_types: ad_impression, app_install")
        .stdout_has("event_types: ad_impression\n")
        .stdout_has("fields: ad.campaign_id, ad.placement, app.app_id")
        .stdout_has("fields: ad.campaign_id, ad.value_estimate_micros")
        .stdout_has("keys: k202605, k202611 (signing with k202611)")
        .stdout_has("keys: b1 (signing with b1)");
    // One screen.
    if r.stdout.lines().count() > 40 {
        r.fail("the summary should fit on one screen");
    }
}

/// deploy/adgate.example.toml is the config operators copy; it must pass
/// with every secret it names provided, and its summary must list what it
/// configures. What it configures is read from the file itself, so the
/// example can evolve without this test changing.
#[test]
fn example_config_passes_check_config() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/adgate.example.toml");
    let text =
        std::fs::read_to_string(&example).unwrap_or_else(|e| panic!("{}: {e}", example.display()));
    let doc: toml::Value = toml::from_str(&text).expect("example is TOML");

    // Give every `*_env` a fresh, distinct value: keygen-shaped base64 of 32
    // bytes works for tokens, signing secrets and keys alike.
    let mut env = BTreeMap::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.starts_with('#') {
            continue;
        }
        if let Some((k, v)) = line.split_once('=') {
            if k.trim().ends_with("_env") {
                let var = v.trim().trim_matches('"').to_string();
                env.insert(var, key_b64(n as u8, 32));
            }
        }
    }
    assert!(!env.is_empty(), "the example names no *_env secret");
    let secrets: Vec<String> = env.values().cloned().collect();
    let dir = tempfile::tempdir().unwrap();
    let r = Run::exec(
        Command::new(BIN)
            .args(["check-config", "--config", example.to_str().unwrap()])
            .env_clear()
            .envs(&env)
            .current_dir(dir.path()),
    );
    r.code(0).no_secrets(&secrets);
    // The request bounds, defaults where the example leaves them out.
    r.stdout_has("max_events_per_body 10000, header_timeout 10000 ms");
    let partners = doc["partners"]
        .as_array()
        .expect("example has [[partners]]");
    for p in partners {
        let name = p["name"].as_str().unwrap();
        r.stdout_has(&format!("partner {name}: "));
        let list = |key: &str| -> Vec<String> {
            p.get(key)
                .and_then(|v| v.as_array())
                .map(|a| {
                    a.iter()
                        .map(|x| match x.as_str() {
                            Some(s) => s.to_string(),
                            // A value contract table: its path, then its contract.
                            None => x["path"].as_str().unwrap_or_default().to_string(),
                        })
                        .collect()
                })
                .unwrap_or_default()
        };
        r.stdout_has(&format!("event_types: {}", list("event_types").join(", ")));
        for f in list("fields") {
            r.stdout_has(&f);
        }
        // Contracts are shown with their field.
        for f in p
            .get("fields")
            .and_then(|v| v.as_array())
            .into_iter()
            .flatten()
        {
            match f.get("type").and_then(|t| t.as_str()) {
                Some(t) => r.stdout_has(&format!("{} ({t}", f["path"].as_str().unwrap())),
                None => continue,
            };
        }
        let ids: Vec<&str> = p["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["id"].as_str().unwrap())
            .collect();
        r.stdout_has(&format!("keys: {}", ids.join(", ")));
    }
}

// ---------------------------------------------------------------------------
// Refusals: one test per docs/config.md rule.

#[test]
fn unknown_key_at_top_level() {
    refused(
        &format!("telemetry = true\n{VALID}"),
        "telemetry",
        "unknown field `telemetry`",
        "remove the key or correct its spelling",
    );
}

#[test]
fn unknown_key_in_a_table() {
    refused(
        &edit(
            VALID,
            "data_dir = \"data\"",
            "data_dir = \"data\"\nlisen = \"0.0.0.0:80\"",
        ),
        "server.lisen",
        "unknown field `lisen`",
        "remove the key or correct its spelling",
    );
}

#[test]
fn unknown_key_nested_in_partner_delivery() {
    refused(
        &edit(
            VALID,
            "endpoint = \"https://ads.acme.example/v1/events\"",
            "endpiont = \"https://ads.acme.example/v1/events\"",
        ),
        "partners[0].delivery.endpiont",
        "unknown field `endpiont`",
        "remove the key or correct its spelling",
    );
}

#[test]
fn unknown_key_nested_in_second_partner_key() {
    refused(
        &edit(VALID, "secret_env = \"K_BETA\"", "secert_env = \"K_BETA\""),
        "partners[1].keys[0].secert_env",
        "unknown field `secert_env`",
        "remove the key or correct its spelling",
    );
}

#[test]
fn duplicate_partner_names() {
    refused(
        &edit(VALID, "name = \"beta-metrics\"", "name = \"acme-ads\""),
        "partners[1].name",
        "duplicate partner name \"acme-ads\"",
        "distinct name",
    );
}

#[test]
fn partner_without_a_key() {
    let toml = edit(
        VALID,
        "[[partners.keys]]\nid = \"b1\"\nsecret_env = \"K_BETA\"\n",
        "",
    );
    refused(&toml, "partners[1].keys", "no key", "adgate keygen");
}

#[test]
fn key_shorter_than_32_bytes_after_decoding() {
    let mut s = Setup::new(VALID);
    // 31 bytes: base64 is 44 characters long, like a real key.
    s.env.insert("K_BETA".into(), key_b64(100, 31));
    s.refused(
        "partners[1].keys[0].secret_env",
        "31 bytes after base64 decoding",
        "adgate keygen",
    );
}

#[test]
fn short_key_from_a_file_names_the_file_key() {
    let s = Setup::new(VALID);
    std::fs::write(s.dir.path().join("secrets/acme.key"), key_b64(50, 16)).unwrap();
    s.refused(
        "partners[0].keys[1].secret_file",
        "16 bytes after base64 decoding",
        "adgate keygen",
    );
}

#[test]
fn key_that_is_not_base64() {
    let mut s = Setup::new(VALID);
    s.env.insert(
        "K_BETA".into(),
        "this is not base64 at all, it is a passphrase!".into(),
    );
    s.refused(
        "partners[1].keys[0].secret_env",
        "not valid base64",
        "adgate keygen",
    );
}

#[test]
fn two_partners_sharing_key_bytes() {
    let mut s = Setup::new(VALID);
    // The same 32 bytes as acme's old key, written in another base64
    // alphabet: the rule is about key bytes, not strings.
    let bytes = STANDARD.decode(key_b64(10, 32)).unwrap();
    s.env.insert("K_BETA".into(), URL_SAFE_NO_PAD.encode(bytes));
    s.refused(
        "partners[1].keys[0].secret_env",
        "same key bytes are used by partners[0].keys[0]",
        "give every partner its own keys",
    );
}

#[test]
fn every_protected_path_in_fields_is_refused() {
    let protected = [
        "user",
        "user.email",
        "purchase.total",
        "search",
        "view.sku",
        "context",
        "context.page_url",
        "context.referrer",
        "context.ip",
        "context.user_agent",
    ];
    for path in protected {
        // Second partner, second entry: the index in the message is the real one.
        let toml = edit(
            VALID,
            "fields = [\"ad.campaign_id\", \"ad.value_estimate_micros\"]",
            &format!("fields = [\"ad.campaign_id\", \"{path}\", \"ad.value_estimate_micros\"]"),
        );
        let r = refused(
            &toml,
            "partners[1].fields[1]",
            &format!("\"{path}\""),
            "remove it from fields",
        );
        r.stderr_has("protected path");
    }
}

#[test]
fn env_var_not_set() {
    let mut s = Setup::new(VALID);
    s.env.remove("T_SIGN");
    s.refused(
        "partners[0].delivery.signing_secret_env",
        "environment variable T_SIGN is not set",
        "export T_SIGN",
    );
}

#[test]
fn key_env_var_not_set() {
    let mut s = Setup::new(VALID);
    s.env.remove("K_ACME_OLD");
    s.refused(
        "partners[0].keys[0].secret_env",
        "K_ACME_OLD is not set",
        "export K_ACME_OLD",
    );
}

#[test]
fn secret_file_missing() {
    let s = Setup::new(VALID);
    let key = s.dir.path().join("secrets/acme.key");
    std::fs::remove_file(&key).unwrap();
    // Relative paths resolve against the config's directory, and the error
    // shows the resolved path.
    s.refused(
        "partners[0].keys[1].secret_file",
        &format!("cannot read secret file {}", key.display()),
        "check the path",
    );
}

#[test]
fn token_file_missing() {
    let s = Setup::new(VALID);
    std::fs::remove_file(s.dir.path().join("secrets/app.token")).unwrap();
    s.refused(
        "producers[1].token_file",
        "cannot read secret file",
        "check the path",
    );
}

#[test]
fn invalid_key_id() {
    for bad in ["k 2026/11", "", "k20261101-rotated-x"] {
        refused(
            &edit(VALID, "id = \"k202605\"", &format!("id = \"{bad}\"")),
            "partners[0].keys[0].id",
            &format!("\"{bad}\" is not a valid key id"),
            "A-Z a-z 0-9 _ -",
        );
    }
}

#[test]
fn unknown_identifier_kind() {
    refused(
        &edit(
            VALID,
            "identifiers = [\"device_id\", \"account_id\"]",
            "identifiers = [\"device_id\", \"ip\"]",
        ),
        "partners[1].identifiers[1]",
        "unknown identifier \"ip\"",
        "use email, phone, account_id or device_id",
    );
}

#[test]
fn bad_time_granularity() {
    refused(
        &edit(
            VALID,
            "time_granularity = \"hour\"",
            "time_granularity = \"week\"",
        ),
        "privacy.time_granularity",
        "unknown granularity \"week\"",
        "\"second\", \"minute\", \"hour\", \"day\"",
    );
}

#[test]
fn push_without_endpoint() {
    refused(
        &edit(
            VALID,
            "endpoint = \"https://ads.acme.example/v1/events\"\n",
            "",
        ),
        "partners[0].delivery.endpoint",
        "push delivery needs an endpoint",
        "set endpoint = ",
    );
}

#[test]
fn pull_without_token() {
    refused(
        &edit(VALID, "token_env = \"T_FEED_BETA\"\n", ""),
        "partners[1].delivery",
        "missing token_env or token_file",
        "token_env = ",
    );
}

#[test]
fn one_token_for_two_roles() {
    // Two variables, one value: the feed token is also the web producer's.
    let mut s = Setup::new(VALID);
    let web = s.env["T_WEB"].clone();
    s.env.insert("T_FEED_BETA".into(), web);
    s.refused(
        "partners[1].delivery.token_env",
        "uses the same token as producers[0].token_env",
        "its own token",
    );

    // A file token reused as the admin token.
    let mut s = Setup::new(VALID);
    s.env.insert("T_ADMIN".into(), APP_TOKEN.into());
    s.refused(
        "admin.token_env",
        "uses the same token as producers[1].token_file",
        "its own token",
    );
}

#[test]
fn missing_config_file_names_the_file() {
    let s = Setup::new(VALID);
    std::fs::remove_file(&s.config).unwrap();
    s.check_config()
        .code(2)
        .stderr_has(&s.file())
        .stderr_has("cannot read config file")
        .stderr_has("fix: ");
}

#[test]
fn invalid_toml_names_the_line() {
    let s = Setup::new(&edit(VALID, "minor_age = 18", "minor_age = 18 18"));
    s.check_config()
        .code(2)
        .stderr_has(&s.file())
        .stderr_has("line ")
        .stderr_has("fix: ");
}

/// A secret file its group or other users can read is refused (docs/config.md's
/// "clear message": file, mode and the fix), and accepted once it is 0600.
#[test]
fn secret_files_others_can_read_are_refused_until_chmod_600() {
    use std::os::unix::fs::PermissionsExt as _;
    let s = Setup::new(VALID);
    let key = s.dir.path().join("secrets/acme.key");
    for (mode, says) in [
        (0o644, "mode 0644 gives other users access"),
        (0o640, "mode 0640 gives its group access"),
        (0o440, "mode 0440 gives its group access"),
    ] {
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(mode)).unwrap();
        s.refused("partners[0].keys[1].secret_file", says, "chmod 600 ")
            .stderr_has(&key.display().to_string())
            .stderr_has("defaultMode");
    }
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o400)).unwrap();
    let token = s.dir.path().join("secrets/app.token");
    std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o604)).unwrap();
    s.refused(
        "producers[1].token_file",
        "mode 0604 gives other users access",
        "chmod 600 ",
    );
    std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o600)).unwrap();
    s.check_config().code(0).no_secrets(&s.secrets());
}

/// Tokens and signing secrets under 32 bytes are warned about by key path,
/// never by value; the config still passes.
#[test]
fn weak_tokens_are_warned_about_by_key_path() {
    let mut s = Setup::new(VALID);
    s.env
        .insert("T_FEED_BETA".into(), "short-feed-token".into());
    s.env.insert("T_SIGN".into(), "short-signing".into());
    s.env.insert("T_ADMIN".into(), "short-admin-token".into());
    let r = s.check_config();
    r.code(0)
        .stdout_has("warning: admin.token_env: shorter than 32 bytes")
        .stdout_has("warning: partners[0].delivery.signing_secret_env: shorter than 32 bytes")
        .stdout_has("warning: partners[1].delivery.token_env: shorter than 32 bytes")
        .no_secrets(&s.secrets());
    r.check(
        !r.stdout.contains("producers[0]"),
        "the 43-byte web token is not weak",
    );
}

// ---------------------------------------------------------------------------
// Partner profiles (docs/profiles.md).

/// VALID plus one partner per partner API profile, each complete.
fn with_profiles() -> String {
    format!(
        "{VALID}{}",
        r#"
[[partners]]
name = "meta"
profile = "meta_capi"
linkable_ids = "accept"
event_types = ["ad_impression", "app_install"]
identifiers = ["email", "phone", "account_id"]
fields = ["ad.campaign_id"]
[partners.profile_options]
pixel_id = "1234567890123456"
event_names = { ad_impression = "ViewContent", app_install = "AppInstall" }
[partners.delivery]
mode = "push"
endpoint = "https://graph.facebook.com/v21.0/1234567890123456/events"
access_token_env = "T_META_TOKEN"
[[partners.keys]]
id = "m1"
secret_env = "K_META"

[[partners]]
name = "google"
profile = "google_ads"
linkable_ids = "accept"
event_types = ["app_install"]
identifiers = ["email", "phone"]
fields = ["ad.value_estimate_micros", "ad.currency"]
[partners.profile_options]
customer_id = "1234567890"
conversion_action = "customers/1234567890/conversionActions/987654321"
value_field = "ad.value_estimate_micros"
value_unit = "micros"
currency_field = "ad.currency"
[partners.delivery]
mode = "push"
endpoint = "https://googleads.googleapis.com/v21/customers/1234567890:uploadClickConversions"
access_token_env = "T_GOOGLE_TOKEN"
developer_token_env = "T_GOOGLE_DEV"
[[partners.keys]]
id = "g1"
secret_env = "K_GOOGLE"

[[partners]]
name = "tiktok"
profile = "tiktok_events"
linkable_ids = "accept"
event_types = ["ad_impression"]
identifiers = ["email", "account_id"]
[partners.profile_options]
event_source_id = "CTEST0PIXEL0CODE0001"
event_names = { ad_impression = "ViewContent" }
[partners.delivery]
mode = "push"
endpoint = "https://business-api.tiktok.com/open_api/v1.3/event/track/"
access_token_env = "T_TIKTOK_TOKEN"
[[partners.keys]]
id = "t1"
secret_env = "K_TIKTOK"
"#
    )
}

#[test]
fn profiles_pass_and_the_summary_names_linkable_partners() {
    let s = Setup::new(&with_profiles());
    let r = s.check_config();
    r.code(0).no_secrets(&s.secrets());
    r.stdout_has("linkable identifiers (plain SHA-256, same at every partner; see docs/profiles.md): sent to meta, google, tiktok")
        .stdout_has("  profile: adgate (keyed ad_ids, not linkable")
        .stdout_has("  profile: meta_capi (LINKABLE: plain SHA-256 of email, phone, account_id; linkable_ids = \"accept\"; at most 500 events per request)")
        .stdout_has("  profile: google_ads (LINKABLE: plain SHA-256 of email, phone;")
        .stdout_has("  profile: tiktok_events (LINKABLE: plain SHA-256 of email, account_id;");
    // Without them, no partner receives linkable identifiers.
    Setup::new(VALID).check_config().code(0).stdout_has(
        "linkable identifiers (plain SHA-256, same at every partner; see docs/profiles.md): sent to no partner",
    );
}

#[test]
fn linkable_profile_without_acceptance_is_refused() {
    for (i, name) in [(2, "meta_capi"), (3, "google_ads"), (4, "tiktok_events")] {
        let toml = with_profiles();
        // Drop this partner's acceptance only.
        let anchor = format!("profile = \"{name}\"\nlinkable_ids = \"accept\"\n");
        refused(
            &edit(&toml, &anchor, &format!("profile = \"{name}\"\n")),
            &format!("partners[{i}].linkable_ids"),
            &format!("the {name} profile sends plain SHA-256 of identifiers"),
            &format!("add linkable_ids = \"accept\" to partners[{i}]"),
        );
    }
    refused(
        &edit(
            &with_profiles(),
            "linkable_ids = \"accept\"\nevent_types = [\"app_install\"]",
            "linkable_ids = \"yes\"\nevent_types = [\"app_install\"]",
        ),
        "partners[3].linkable_ids",
        "unknown value \"yes\"",
        "linkable_ids = \"accept\"",
    );
}

#[test]
fn every_missing_profile_option_is_refused_by_key() {
    let t = with_profiles();
    let cases: [(&str, &str, &str, &str, &str); 7] = [
        (
            "pixel_id = \"1234567890123456\"\n",
            "",
            "partners[2].profile_options.pixel_id",
            "is missing",
            "add pixel_id = ",
        ),
        (
            "event_names = { ad_impression = \"ViewContent\", app_install = \"AppInstall\" }\n",
            "event_names = { ad_impression = \"ViewContent\" }\n",
            "partners[2].profile_options.event_names.app_install",
            "event type \"app_install\" has no event name",
            "add app_install = ",
        ),
        (
            "customer_id = \"1234567890\"\n",
            "",
            "partners[3].profile_options.customer_id",
            "is missing",
            "add customer_id = ",
        ),
        (
            "conversion_action = \"customers/1234567890/conversionActions/987654321\"\n",
            "",
            "partners[3].profile_options.conversion_action",
            "is missing",
            "add conversion_action = ",
        ),
        (
            "event_source_id = \"CTEST0PIXEL0CODE0001\"\n",
            "",
            "partners[4].profile_options.event_source_id",
            "is missing",
            "add event_source_id = ",
        ),
        (
            "event_names = { ad_impression = \"ViewContent\" }\n[partners.delivery]\nmode = \"push\"\nendpoint = \"https://business",
            "[partners.delivery]\nmode = \"push\"\nendpoint = \"https://business",
            "partners[4].profile_options.event_names.ad_impression",
            "event type \"ad_impression\" has no event name",
            "to profile_options.event_names",
        ),
        (
            "pixel_id = \"1234567890123456\"\n",
            "pixel = \"1234567890123456\"\n",
            "partners[2].profile_options.pixel",
            "unknown field `pixel`",
            "see docs/profiles.md",
        ),
    ];
    for (from, to, key, problem, fix) in cases {
        refused(&edit(&t, from, to), key, problem, fix);
    }
}

#[test]
fn profile_credentials_and_delivery_rules_are_checked() {
    let t = with_profiles();
    refused(
        &edit(&t, "access_token_env = \"T_META_TOKEN\"\n", ""),
        "partners[2].delivery.access_token_env",
        "the meta_capi profile needs the partner's access token",
        "access_token_env = ",
    );
    refused(
        &edit(&t, "developer_token_env = \"T_GOOGLE_DEV\"\n", ""),
        "partners[3].delivery.developer_token_env",
        "the google_ads profile needs the partner's developer token",
        "developer_token_env = ",
    );
    // A pull feed is not what these APIs read.
    refused(
        &edit(
            &t,
            "mode = \"push\"\nendpoint = \"https://business-api.tiktok.com/open_api/v1.3/event/track/\"\naccess_token_env = \"T_TIKTOK_TOKEN\"\n",
            "mode = \"pull\"\ntoken_env = \"T_TIKTOK_TOKEN\"\n",
        ),
        "partners[4].delivery.mode",
        "the tiktok_events profile only supports mode = \"push\"",
        "set mode = \"push\"",
    );
    refused(
        &edit(
            &t,
            "endpoint = \"https://graph.facebook.com/v21.0/1234567890123456/events\"",
            "endpoint = \"https://graph.facebook.com/v21.0/999/events\"",
        ),
        "partners[2].delivery.endpoint",
        "does not end in \"/1234567890123456/events\"",
        "documented endpoint",
    );
    refused(
        &edit(
            &t,
            "access_token_env = \"T_META_TOKEN\"\n",
            "access_token_env = \"T_META_TOKEN\"\nbatch_max_events = 1001\n",
        ),
        "partners[2].delivery.batch_max_events",
        "1001 is above the meta_capi limit of 1000 events per request",
        "use at most 1000",
    );
    refused(
        &edit(&t, "profile = \"meta_capi\"", "profile = \"snapchat\""),
        "partners[2].profile",
        "unknown profile \"snapchat\"",
        "\"meta_capi\"",
    );
    refused(
        &edit(
            &t,
            "identifiers = [\"email\", \"phone\"]",
            "identifiers = [\"device_id\"]",
        ),
        "partners[3].identifiers",
        "the google_ads profile can send none of these identifiers",
        "email, phone",
    );
    let mut s = Setup::new(&t);
    s.env.insert(
        "T_META_TOKEN".into(),
        "EAAB meta token with spaces 0123".into(),
    );
    s.refused(
        "partners[2].delivery.access_token_env",
        "the access token has characters other than visible ASCII",
        "without spaces or line breaks",
    );
    // From a file: the same rules as every secret file.
    {
        use std::os::unix::fs::PermissionsExt as _;
        let s = Setup::new(&edit(
            &t,
            "access_token_env = \"T_META_TOKEN\"",
            "access_token_file = \"secrets/meta.token\"",
        ));
        let file = s.dir.path().join("secrets/meta.token");
        std::fs::write(&file, "EAAB-meta-token-from-a-file-0123456789\n").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        s.refused(
            "partners[2].delivery.access_token_file",
            "mode 0644 gives other users access",
            "chmod 600 ",
        );
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        let r = s.check_config();
        r.code(0);
        r.check(
            !r.stdout.contains("EAAB-meta-token-from-a-file"),
            "the token is never printed",
        );
    }
    // The adgate profile has no options and no API credential.
    refused(
        &edit(
            &t,
            "signing_secret_env = \"T_SIGN\"\n",
            "signing_secret_env = \"T_SIGN\"\naccess_token_env = \"T_META_TOKEN\"\n",
        ),
        "partners[0].delivery.access_token_env",
        "the adgate profile signs with signing_secret_* instead",
        "remove them",
    );
}

/// The README's Partners section shows a complete partner config per
/// profile; together (after a server head) they pass check-config, with
/// every secret they name provided.
#[test]
fn readme_partner_configs_pass_check_config() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let section = readme
        .split("\n## Partners\n")
        .nth(1)
        .and_then(|s| s.split("\n## ").next())
        .expect("a Partners section in README.md");
    let blocks: Vec<&str> = section
        .split("```toml\n")
        .skip(1)
        .filter_map(|b| b.split("```").next())
        .collect();
    assert_eq!(blocks.len(), 4, "one config per profile");
    let mut toml = String::from("[server]\nlisten = \"127.0.0.1:0\"\ndata_dir = \"data\"\n");
    for b in &blocks {
        toml.push_str(b);
    }
    let mut s = Setup::new(&toml);
    s.env.clear();
    let mut seed = 1u8;
    for line in toml.lines() {
        let Some((_, rest)) = line.split_once("_env = \"") else {
            continue;
        };
        let var = rest.split('"').next().unwrap().to_string();
        let value = if var.contains("_KEY_") {
            seed = seed.wrapping_add(40);
            key_b64(seed, 32)
        } else {
            format!("tok-{}-0123456789abcdef0123456789", var.to_lowercase())
        };
        s.env.insert(var, value);
    }
    let r = s.check_config();
    r.code(0).no_secrets(&s.secrets());
    for (name, profile) in [
        ("acme-ads", "adgate"),
        ("meta", "meta_capi"),
        ("google", "google_ads"),
        ("tiktok", "tiktok_events"),
    ] {
        r.stdout_has(&format!("partner {name}: push to "))
            .stdout_has(&format!("  profile: {profile} ("));
    }
    r.stdout_has("sent to meta, google, tiktok");
}

//! Real `nats-server` processes for the JetStream backend's tests: one
//! server per gateway (the two-backend suite) or a 3-node cluster (the
//! failure test), each on free loopback ports with a temp store dir,
//! with user/password auth so every test also checks that the NATS
//! password never reaches adgate's output.
//!
//! `backend_tests!(name)` runs the function `name` once per backend: the
//! `jetstream` variant sets a thread-local that makes `Gateway::start` start
//! its own server and append an `[outbox]` section to the config.

use std::cell::Cell;
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const NATS_USER: &str = "adgate";
pub const NATS_PASSWORD: &str = "nats-password-0123456789abcdef0123";
/// adgate's NATS permissions, as deploy/nats/nats-cluster.conf grants
/// them: every JetStream test proves they are enough.
const PERMISSIONS: &str = r#"{ publish: ["adgate.>", "$KV.adgate_optouts.>", "$KV.adgate_ledger.>", "$JS.API.>", "$JS.ACK.>", "$JS.FC.>", "_INBOX.>"], subscribe: ["_INBOX.>", "$KV.adgate_optouts.>"] }"#;

/// The shared internal key of the replicas (base64, 32 bytes).
pub const INTERNAL_KEY: &str = "QEFCQ0RFRkdISUpLTE1OT1BRUlNUVVZXWFlaW1xdXl8=";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Embedded,
    JetStream,
}

thread_local! {
    static BACKEND: Cell<Backend> = const { Cell::new(Backend::Embedded) };
}

/// The backend the current test runs on.
pub fn backend() -> Backend {
    BACKEND.with(|b| b.get())
}

pub fn set_backend(b: Backend) {
    BACKEND.with(|c| c.set(b));
}

/// Runs each named test on both backends: `backend_tests!(name)` next to an
/// ordinary `fn name()` generates `mod name { #[test] fn embedded; #[test]
/// fn jetstream }`, each selecting the backend and calling `super::name()`.
/// The bodies do not change (`Gateway::start` reads the backend) and, being
/// plain functions, rustfmt formats them.
#[allow(unused_macros)]
macro_rules! backend_tests {
    ($($name:ident),+ $(,)?) => {
        $(
            mod $name {
                #[test]
                fn embedded() {
                    $crate::common::nats::set_backend($crate::common::nats::Backend::Embedded);
                    super::$name()
                }
                #[test]
                fn jetstream() {
                    $crate::common::nats::set_backend($crate::common::nats::Backend::JetStream);
                    super::$name()
                }
            }
        )+
    };
}

/// Environment the gateway needs for the `[outbox]` section below.
pub fn env() -> HashMap<String, String> {
    HashMap::from([
        ("T_NATS_PASS".to_string(), NATS_PASSWORD.to_string()),
        ("T_INTERNAL_KEY".to_string(), INTERNAL_KEY.to_string()),
    ])
}

/// The `[outbox]` section for servers `urls`.
/// `outbox.ack_wait_ms` of [`outbox_section`]: a dead replica's push
/// batches go to a live one after this long.
pub const ACK_WAIT_MS: u64 = 2_000;

pub fn outbox_section(urls: &[String], replicas: usize) -> String {
    let list: Vec<String> = urls.iter().map(|u| format!("\"{u}\"")).collect();
    format!(
        r#"
[outbox]
backend = "jetstream"
servers = [{}]
user = "{NATS_USER}"
password_env = "T_NATS_PASS"
internal_key_env = "T_INTERNAL_KEY"
replicas = {replicas}
ack_wait_ms = {ACK_WAIT_MS}
"#,
        list.join(", ")
    )
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One `nats-server -js` process.
pub struct NatsServer {
    pub port: u16,
    pub cluster_port: u16,
    pub dir: tempfile::TempDir,
    child: Option<Child>,
    pub log: Arc<Mutex<String>>,
    conf: PathBuf,
}

fn nats_binary() -> &'static str {
    if Command::new("nats-server")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_err()
    {
        panic!(
            "nats-server is not installed: the JetStream backend's tests run a real server. \
             Install it (Debian: apt-get install nats-server; .ci/run does) and run again."
        );
    }
    "nats-server"
}

impl NatsServer {
    /// A single JetStream server.
    pub fn start() -> NatsServer {
        NatsServer::start_node("solo", None, &[])
    }

    /// A node of cluster `name`; `routes` are the other nodes' cluster ports.
    fn start_node(name: &str, cluster: Option<u16>, routes: &[u16]) -> NatsServer {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let cluster_port = cluster.unwrap_or(0);
        let store = dir.path().join("js");
        let mut conf = format!(
            "server_name: {name}\nlisten: 127.0.0.1:{port}\njetstream {{\n  store_dir: \"{}\"\n}}\nauthorization {{\n  users: [{{\n    user: {NATS_USER}\n    password: \"{NATS_PASSWORD}\"\n    permissions: {PERMISSIONS}\n  }}]\n}}\n",
            store.display()
        );
        if let Some(cp) = cluster {
            let r: Vec<String> = routes
                .iter()
                .map(|p| format!("nats-route://127.0.0.1:{p}"))
                .collect();
            conf.push_str(&format!(
                "cluster {{\n  name: adgate-test\n  listen: 127.0.0.1:{cp}\n  routes: [{}]\n}}\n",
                r.join(", ")
            ));
        }
        let conf_path = dir.path().join("nats.conf");
        std::fs::write(&conf_path, conf).unwrap();
        let mut s = NatsServer {
            port,
            cluster_port,
            dir,
            child: None,
            log: Arc::new(Mutex::new(String::new())),
            conf: conf_path,
        };
        s.spawn();
        s
    }

    /// (Re)starts the process on the same config and store.
    pub fn spawn(&mut self) {
        let mut child = Command::new(nats_binary())
            .args(["-c", self.conf.to_str().unwrap()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start nats-server");
        let err = child.stderr.take().unwrap();
        let log = self.log.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(err).lines() {
                let Ok(line) = line else { break };
                if line.contains("Server is ready") {
                    if let Some(t) = tx.take() {
                        let _ = t.send(());
                    }
                }
                let mut l = log.lock().unwrap();
                l.push_str(&line);
                l.push('\n');
            }
        });
        self.child = Some(child);
        if rx.recv_timeout(Duration::from_secs(20)).is_err() {
            panic!("nats-server did not start:\n{}", self.log.lock().unwrap());
        }
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    pub fn store_dir(&self) -> &Path {
        self.dir.path()
    }

    /// SIGKILL.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "---- nats-server :{} ----\n{}",
                self.port,
                self.log.lock().unwrap()
            );
        }
        self.kill();
    }
}

/// A 3-node JetStream cluster on loopback ports.
pub struct Cluster {
    pub nodes: Vec<NatsServer>,
}

impl Cluster {
    pub fn start() -> Cluster {
        let cports = [free_port(), free_port(), free_port()];
        let mut nodes = Vec::new();
        for (i, cp) in cports.iter().enumerate() {
            let routes: Vec<u16> = cports.iter().copied().filter(|p| p != cp).collect();
            nodes.push(NatsServer::start_node(&format!("n{i}"), Some(*cp), &routes));
        }
        let c = Cluster { nodes };
        c.wait_for_meta_leader();
        c
    }

    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(|n| n.url()).collect()
    }

    /// JetStream answers account info once the cluster has a meta leader.
    fn wait_for_meta_leader(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ok = block_on(async {
                let Ok(c) = connect(&self.nodes[0].url()).await else {
                    return false;
                };
                // Raw: the typed account info does not parse NATS 2.9's answer.
                match c.request("$JS.API.INFO", bytes::Bytes::new()).await {
                    Ok(r) => serde_json::from_slice::<serde_json::Value>(&r.payload)
                        .is_ok_and(|v| v.get("error").is_none() && v.get("streams").is_some()),
                    Err(_) => false,
                }
            });
            if ok {
                return;
            }
            if Instant::now() > deadline {
                for n in &self.nodes {
                    eprintln!("---- node :{} ----\n{}", n.port, n.log.lock().unwrap());
                }
                panic!("the NATS cluster did not elect a JetStream leader in 30 s");
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

pub async fn connect(url: &str) -> Result<async_nats::Client, async_nats::ConnectError> {
    async_nats::ConnectOptions::new()
        .user_and_password(NATS_USER.into(), NATS_PASSWORD.into())
        .connection_timeout(Duration::from_secs(5))
        .connect(url)
        .await
}

/// Every message of `stream` (payloads as JSON), read with an ordered
/// consumer: what an operator sees with `nats stream view`.
pub fn stream_json(url: &str, stream: &str) -> Vec<serde_json::Value> {
    use futures_util::StreamExt;
    block_on(async {
        let c = connect(url).await.expect("connect to nats-server");
        let js = async_nats::jetstream::new(c);
        let Ok(mut s) = js.get_stream(stream).await else {
            return Vec::new();
        };
        let n = s.info().await.unwrap().state.messages;
        if n == 0 {
            return Vec::new();
        }
        let consumer = s
            .create_consumer(async_nats::jetstream::consumer::pull::OrderedConfig::default())
            .await
            .unwrap();
        let mut msgs = consumer.messages().await.unwrap();
        let mut out = Vec::new();
        while let Ok(Some(Ok(m))) = tokio::time::timeout(Duration::from_secs(2), msgs.next()).await
        {
            out.push(serde_json::from_slice(&m.payload).unwrap());
            if m.info().unwrap().pending == 0 {
                break;
            }
        }
        out
    })
}

/// Keys in the opt-out bucket.
pub fn optout_keys(url: &str) -> usize {
    use futures_util::StreamExt;
    block_on(async {
        let c = connect(url).await.expect("connect to nats-server");
        let js = async_nats::jetstream::new(c);
        let kv = js.get_key_value("adgate_optouts").await.unwrap();
        let keys: Vec<_> = kv.keys().await.unwrap().collect().await;
        keys.len()
    })
}

/// [`optout_keys`], 0 while the bucket does not exist (yet).
pub fn optout_keys_or_zero(url: &str) -> usize {
    use futures_util::StreamExt;
    block_on(async {
        let Ok(c) = connect(url).await else { return 0 };
        let js = async_nats::jetstream::new(c);
        let Ok(kv) = js.get_key_value("adgate_optouts").await else {
            return 0;
        };
        match kv.keys().await {
            Ok(keys) => keys.collect::<Vec<_>>().await.len(),
            Err(_) => 0,
        }
    })
}

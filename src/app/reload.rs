//! Reloading the config: one supervisor applies reload requests in turn,
//! whether they come from SIGHUP or `POST /admin/reload` (the same
//! channel); a refused config leaves the running one in place, and both
//! outcomes are counted and logged here.

use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, oneshot};

use super::{App, Runtime};
use crate::config::Config;
use crate::policy::Policy;

/// Where a reload request's outcome goes.
type Reply = oneshot::Sender<Result<(), String>>;

/// Reload requests waiting for the supervisor, each with its answer.
#[derive(Debug)]
pub(crate) struct Requests {
    tx: mpsc::Sender<Reply>,
    rx: Mutex<Option<mpsc::Receiver<Reply>>>,
}

impl Requests {
    pub(crate) fn new() -> Requests {
        // A few waiting requests are plenty: they all reload the same file.
        let (tx, rx) = mpsc::channel(8);
        Requests {
            tx,
            rx: Mutex::new(Some(rx)),
        }
    }
}

/// Starts the supervisor of `app`'s reload requests; it stops at shutdown.
pub(crate) fn supervise(app: &Arc<App>) {
    let Some(mut rx) = app.reloads.rx.lock().unwrap().take() else {
        return;
    };
    let app = app.clone();
    let mut stop = app.stopping.subscribe();
    tokio::spawn(async move {
        loop {
            tokio::select! {
                req = rx.recv() => match req {
                    Some(reply) => {
                        let result = app.reload().await;
                        let _ = reply.send(result);
                    }
                    None => break,
                },
                _ = stop.changed() => break,
            }
        }
    });
}

impl App {
    /// Asks the supervisor to reload the config file and waits for the
    /// outcome (the error message when the new config was refused).
    pub async fn request_reload(&self) -> Result<(), String> {
        let (reply, answer) = oneshot::channel();
        if self.reloads.tx.send(reply).await.is_err() {
            return Err("the gateway is shutting down; the config was not reloaded".into());
        }
        answer.await.unwrap_or_else(|_| {
            Err("the gateway is shutting down; the config was not reloaded".into())
        })
    }

    /// Re-reads the config file; swaps it in if valid. Returns the error
    /// message if not (the old config stays).
    async fn reload(self: &Arc<App>) -> Result<(), String> {
        let result = match &self.config_path {
            None => Err(
                "the embedded demo config cannot be reloaded; start with --config FILE".to_string(),
            ),
            Some(path) => match Config::load(path) {
                Err(e) => Err(e.to_string()),
                Ok(new) => {
                    let old = self.runtime();
                    if new.server.data_dir != old.config.server.data_dir
                        || new.server.listen != old.config.server.listen
                        || new.server.metrics_listen != old.config.server.metrics_listen
                    {
                        Err("server.listen, server.metrics_listen and server.data_dir cannot change on reload; restart adgate".into())
                    } else if new.server.tls.is_some() != old.config.server.tls.is_some() {
                        // The listeners speak TLS or not from the start; the
                        // certificate, key and client CA may change.
                        Err(
                            "[server.tls] cannot be added or removed on reload; restart adgate"
                                .into(),
                        )
                    } else if let Some(msg) = profile_change(&old.config, &new) {
                        Err(msg)
                    } else {
                        let policy = Policy::new(&new, self.hasher.clone());
                        if !new.outbox.same_store(&old.config.outbox) {
                            return self.reload_result(Err(
                                "the [outbox] section cannot change on reload; restart adgate"
                                    .into(),
                            ));
                        }
                        let data = &new.server.data_dir;
                        if let Err(e) = crate::keyprint::check(data, &new)
                            .and_then(|()| crate::keyprint::record(data, &new))
                        {
                            return self.reload_result(Err(e));
                        }
                        match self.start_partners(&new).await {
                            Err(e) => Err(format!("cannot open an outbox: {e}")),
                            Ok(()) => {
                                for p in &new.producers {
                                    self.metrics.init_producer(&p.name);
                                }
                                self.privacy.configure(&new).await;
                                *self.runtime.write().unwrap() = Arc::new(Runtime {
                                    config: new,
                                    policy,
                                });
                                Ok(())
                            }
                        }
                    }
                }
            },
        };
        self.reload_result(result)
    }

    fn reload_result(&self, result: Result<(), String>) -> Result<(), String> {
        self.metrics.emit(crate::metrics::events::ConfigReload(
            result.as_ref().map(|_| ()).map_err(String::as_str),
        ));
        result
    }
}

/// A partner whose `profile` a reload would change: its outbox holds events
/// encoded for the old profile, which the new framing would send to the
/// wrong API (see docs/profiles.md).
fn profile_change(old: &Config, new: &Config) -> Option<String> {
    new.partners.iter().enumerate().find_map(|(i, p)| {
        let before = old.partner(&p.name)?;
        (before.profile != p.profile).then(|| {
            format!(
                "partners[{i}].profile cannot change on reload ({} -> {}): the outbox holds events encoded for {}; give the partner a new name (a new outbox) instead",
                before.profile, p.profile, before.profile
            )
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::env_from;
    use std::collections::HashMap;
    use std::path::Path;

    fn config(profile: &str) -> Config {
        let toml = format!(
            r#"
[[partners]]
name = "acme"
{profile}
event_types = ["ad_impression"]
identifiers = ["email"]
[partners.profile_options]
pixel_id = "123"
event_names = {{ ad_impression = "ViewContent" }}
[partners.delivery]
mode = "push"
endpoint = "https://graph.example/v21.0/123/events"
access_token_env = "A"
[[partners.keys]]
id = "k1"
secret_env = "K"
"#
        );
        let env = env_from(HashMap::from([
            ("A".to_string(), "partner-token-0123456789".to_string()),
            (
                "K".to_string(),
                "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=".to_string(),
            ),
        ]));
        Config::from_toml(&toml, "t.toml", Path::new("."), &env).unwrap()
    }

    /// A reload may not switch a partner's profile under its outbox.
    #[test]
    fn a_profile_change_is_refused_on_reload() {
        let meta = config("profile = \"meta_capi\"\nlinkable_ids = \"accept\"");
        assert_eq!(profile_change(&meta, &meta), None);
        let tiktok_like = {
            let mut c = meta.clone();
            c.partners[0].profile = crate::profile::ProfileKind::TiktokEvents;
            c
        };
        let msg = profile_change(&meta, &tiktok_like).unwrap();
        assert!(
            msg.starts_with(
                "partners[0].profile cannot change on reload (meta_capi -> tiktok_events)"
            ),
            "{msg}"
        );
    }
}

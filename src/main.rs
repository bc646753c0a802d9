//! The `adgate` binary: parse args, load config, set up logging, run.
//! Exit codes: 0 ok, 2 bad usage or config, 1 runtime failure.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

use adgate::cli::{Cli, Command, LogFormat, OutputFormat, ReportFormat};
use adgate::config::Config;
use adgate::policy::RequestSignals;

fn init_tracing(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("ADGATE_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    use std::io::IsTerminal as _;
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => b.json().flatten_event(true).init(),
        LogFormat::Text => b.init(),
    }
}

/// Writes a command's output to stdout. A reader that went away (`adgate
/// explain ... | head`) ends the output quietly, as it ends `cat`'s; any
/// other write error is reported (exit 1).
fn emit(text: &str) -> ExitCode {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: cannot write the output: {e}");
            ExitCode::from(1)
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Keygen { id } => {
            let mut b = [0u8; 32];
            rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut b);
            use base64::Engine as _;
            let key = base64::engine::general_purpose::STANDARD.encode(b);
            // stdout carries the key alone, so `$(adgate keygen)` and secret
            // stores get exactly the secret; the config hint goes to stderr.
            println!("{key}");
            if let Some(id) = id {
                eprintln!("[[partners.keys]]\nid = \"{id}\"\nsecret_env = \"ADGATE_KEY_{}\"  # holds the key above", id.to_uppercase().replace('-', "_"));
            }
            ExitCode::SUCCESS
        }
        Command::CheckConfig { config } => match Config::load(&config) {
            Ok(c) => {
                print!("{}", c.summary());
                // A backend's remote part is part of the config: reachable,
                // and what it needs exists or can be created.
                let checked = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| e.to_string())
                    .and_then(|rt| rt.block_on(adgate::outbox::check(&c)));
                match checked {
                    Ok(lines) => {
                        for l in lines {
                            println!("{l}");
                        }
                    }
                    Err(e) => {
                        eprintln!("error: {}: {e}", config.display());
                        return ExitCode::from(2);
                    }
                }
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(2)
            }
        },
        Command::Explain {
            config,
            partner,
            format,
            sec_gpc,
            dnt,
            event_file,
        } => explain(
            config,
            partner,
            format,
            RequestSignals { sec_gpc, dnt },
            event_file,
        ),
        Command::Serve { config } => serve(config, cli.log_format),
        Command::Top {
            url,
            metrics_url,
            ca_file,
            interval,
        } => match adgate::top::run(adgate::top::Options {
            url,
            metrics_url,
            ca_file,
            interval,
        }) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(2)
            }
        },
        Command::Report {
            config,
            data_dir,
            since,
            format,
            out,
        } => report(config, data_dir, since, format, out),
    }
}

fn explain(
    config: PathBuf,
    partner: Option<String>,
    format: OutputFormat,
    request: RequestSignals,
    file: Option<PathBuf>,
) -> ExitCode {
    let cfg = match Config::load(&config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let mut input = Vec::new();
    let read = match file.as_deref() {
        None => std::io::stdin().read_to_end(&mut input).map(|_| ()),
        Some(p) if p.as_os_str() == "-" => std::io::stdin().read_to_end(&mut input).map(|_| ()),
        Some(p) => std::fs::read(p).map(|b| input = b),
    };
    if let Err(e) = read {
        eprintln!("error: cannot read events: {e}");
        return ExitCode::from(2);
    }
    match adgate::cli::explain::explain_with(&cfg, partner.as_deref(), &input, request) {
        Ok(report) => emit(&match format {
            OutputFormat::Json => serde_json::to_string_pretty(&report).expect("json") + "\n",
            OutputFormat::Text => adgate::cli::explain::render_text(&report),
        }),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

fn report(
    config: Option<PathBuf>,
    data_dir: Option<PathBuf>,
    since: adgate::report::Since,
    format: ReportFormat,
    out: Option<PathBuf>,
) -> ExitCode {
    let opts = adgate::report::Options {
        config,
        data_dir,
        since,
        now_ms: adgate::util::now_ms(),
    };
    let r = match adgate::report::collect(&opts) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    let text = match format {
        ReportFormat::Md => adgate::report::markdown::render(&r),
        ReportFormat::Html => adgate::report::html::render(&r),
    };
    match out {
        None => emit(&text),
        Some(p) => match std::fs::write(&p, text) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: cannot write {}: {e}", p.display());
                ExitCode::from(1)
            }
        },
    }
}

fn serve(config_path: Option<PathBuf>, log_format: LogFormat) -> ExitCode {
    init_tracing(log_format);
    // Parse and validate everything before binding a port.
    let (config, demo) = match &config_path {
        Some(p) => match Config::load(p) {
            Ok(c) => (c, None),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        },
        None => {
            match adgate::config::demo::config(std::path::Path::new(
                adgate::config::DEFAULT_DATA_DIR,
            )) {
                Ok((c, t)) => (c, Some(t)),
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(1);
                }
            }
        }
    };
    for w in &config.warnings {
        tracing::warn!(warning = %w, "config");
    }
    match adgate::util::raise_nofile_limit() {
        Ok(Some((old, new))) => {
            tracing::info!(
                old,
                new,
                "raised the soft open-file limit (RLIMIT_NOFILE) to the hard limit: {old} -> {new}"
            )
        }
        Ok(None) => {}
        Err(e) => {
            tracing::warn!(error = %e, "cannot raise the soft open-file limit (RLIMIT_NOFILE)")
        }
    }
    adgate::web::install_panic_hook();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let grace = config.server.shutdown_grace;
    let code = rt.block_on(async move {
        let listeners = match adgate::app::Listeners::bind(&config).await {
            Ok(l) => l,
            Err(e) => {
                tracing::error!(error = %e, listen = %config.server.listen, "cannot bind");
                return ExitCode::from(1);
            }
        };
        let app = match adgate::app::App::build(config, config_path.clone()).await {
            Ok(a) => a,
            Err(e) => {
                tracing::error!(error = %e, "cannot start");
                return ExitCode::from(1);
            }
        };
        let addr = listeners.main_addr();
        // Signal handlers exist before anyone is told we listen: a SIGHUP or
        // SIGTERM sent right after the line below must not hit the default
        // action (terminate).
        use tokio::signal::unix::{signal, SignalKind};
        let (mut hup, mut term, mut int) = match (
            signal(SignalKind::hangup()),
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            (Ok(h), Ok(t), Ok(i)) => (h, t, i),
            _ => {
                tracing::error!("cannot install signal handlers");
                return ExitCode::from(1);
            }
        };
        // One line on stdout says where the gateway listens (port 0 works).
        let scheme = if app.runtime().config.server.tls.is_some() { "https" } else { "http" };
        match listeners.metrics.as_ref().and_then(|m| m.local_addr().ok()) {
            Some(m) => println!("adgate listening on {scheme}://{addr} (metrics on {scheme}://{m}/metrics)"),
            None => println!("adgate listening on {scheme}://{addr}"),
        }
        if let Some(t) = demo {
            tracing::warn!(
                "DEMO MODE: running the embedded default config (one demo producer, one pull partner, keys in ./adgate-data/demo). Not for production: pass --config FILE."
            );
            println!("adgate demo mode: embedded default config, not for production");
            println!("producer token: {}", t.producer);
            println!("feed token: {}", t.feed);
            println!("admin token: in {} (owner-only; not printed)", t.admin_file.display());
            println!("demo partner: {} (GET http://{addr}/v1/feed/{})", adgate::config::demo::DEMO_PARTNER, adgate::config::demo::DEMO_PARTNER);
            use std::io::Write;
            let _ = std::io::stdout().flush();
        }
        tracing::info!(listen = %addr, version = env!("CARGO_PKG_VERSION"), "adgate serving");
        // SIGHUP reloads; SIGTERM/SIGINT shut down.
        {
            let app = app.clone();
            tokio::spawn(async move {
                while hup.recv().await.is_some() {
                    let _ = app.request_reload().await;
                }
            });
        }
        let shutdown = async move {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        };
        match adgate::app::run(app, adgate::api::router, listeners, shutdown).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                tracing::error!(error = %e, "gateway failed");
                ExitCode::from(1)
            }
        }
    });
    // Blocking tasks still running past the grace period do not hold the exit.
    rt.shutdown_timeout(grace.min(std::time::Duration::from_secs(2)));
    code
}

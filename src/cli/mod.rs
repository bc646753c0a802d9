//! Command line (see docs/cli.md), parsed with clap. Bad usage exits 2.

pub mod explain;

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "adgate",
    version,
    about = "Advertising-identifier pseudonymization gateway"
)]
pub struct Cli {
    /// Log format: human-readable text or one JSON object per line.
    #[arg(long, global = true, value_enum, default_value = "text")]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    /// Markdown with plain tables.
    Md,
    /// One self-contained HTML page with SVG charts.
    Html,
}

fn since(s: &str) -> Result<crate::report::Since, String> {
    crate::report::Since::parse(s)
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the gateway. Without --config: the embedded demo default.
    Serve {
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// Validate a config and print a one-screen summary (exit 0 or 2).
    CheckConfig {
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
    },
    /// Show what each partner would receive for events, and why.
    Explain {
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// Only this partner.
        #[arg(long)]
        partner: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value = "text")]
        format: OutputFormat,
        /// Evaluate as if the request carried `Sec-GPC: 1` (Global
        /// Privacy Control for every event).
        #[arg(long)]
        sec_gpc: bool,
        /// Evaluate as if the request carried `DNT: 1` (Do Not Track for
        /// every event).
        #[arg(long)]
        dnt: bool,
        /// Events (JSON object, array or NDJSON); stdin when absent or "-".
        event_file: Option<PathBuf>,
    },
    /// Transparency report for privacy reviewers, from the data dir (works
    /// while the gateway runs; reads no secret).
    Report {
        /// The gateway's config: its data_dir, partners, fields and key ids
        /// (secrets are not read).
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Data dir to read (default: the config's server.data_dir, else ./adgate-data).
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
        /// Period: the last N UTC days (30d) or from a UTC date (2026-11-01).
        #[arg(long, default_value = "30d", value_parser = since)]
        since: crate::report::Since,
        /// Output format.
        #[arg(long, value_enum, default_value = "md")]
        format: ReportFormat,
        /// Write the report to FILE instead of stdout.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Live terminal view of a running gateway, read from its /metrics
    /// (q quit, p pause, up/down select a partner). See docs/top.md.
    Top {
        /// The gateway's base URL; /metrics is read under it.
        #[arg(long, value_name = "URL", default_value = "http://127.0.0.1:8080")]
        url: String,
        /// Where /metrics is served when the gateway has a metrics_listen
        /// (e.g. http://127.0.0.1:9090/metrics).
        #[arg(long, value_name = "URL")]
        metrics_url: Option<String>,
        /// PEM CA certificate(s) to trust for https (the gateway's CA).
        #[arg(long, value_name = "FILE")]
        ca_file: Option<PathBuf>,
        /// Seconds between two scrapes.
        #[arg(long, value_name = "SECONDS", default_value = "1", value_parser = interval)]
        interval: std::time::Duration,
    },
    /// Print a new random 256-bit key, base64.
    Keygen {
        /// Key id to print next to the key (for a config's [[partners.keys]]).
        #[arg(long, value_parser = key_id)]
        id: Option<String>,
    },
}

/// `top --interval`: 0.1 to 3600 seconds.
fn interval(s: &str) -> Result<std::time::Duration, String> {
    match s.parse::<f64>() {
        Ok(v) if (0.1..=3600.0).contains(&v) => Ok(std::time::Duration::from_secs_f64(v)),
        _ => Err("use a number of seconds from 0.1 to 3600".into()),
    }
}

/// `keygen --id` takes only ids a config accepts, so its output can be pasted.
fn key_id(s: &str) -> Result<String, String> {
    if crate::config::valid_key_id(s) {
        Ok(s.to_owned())
    } else {
        Err("not a valid key id: use 1-16 characters from A-Z a-z 0-9 _ - (the id is part of every ad_id)".into())
    }
}

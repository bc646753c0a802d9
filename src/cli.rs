//! Command line (SPEC §1), parsed with clap. Bad usage exits 2.

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
        /// Events (JSON object, array or NDJSON); stdin when absent or "-".
        event_file: Option<PathBuf>,
    },
    /// Print a new random 256-bit key, base64.
    Keygen {
        /// Key id to print next to the key (for a config's [[partners.keys]]).
        #[arg(long, value_parser = key_id)]
        id: Option<String>,
    },
}

/// `keygen --id` takes only ids a config accepts, so its output can be pasted.
fn key_id(s: &str) -> Result<String, String> {
    if crate::config::valid_key_id(s) {
        Ok(s.to_owned())
    } else {
        Err("not a valid key id: use 1-16 characters from A-Z a-z 0-9 _ - (the id is part of every ad_id)".into())
    }
}

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
        #[arg(long)]
        id: Option<String>,
    },
}

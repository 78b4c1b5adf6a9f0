//! Command-line parsing and the commands; each command in its own module.

mod ingest;
mod plugin_run;
mod serve;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// smstrigger: turn SMS events into actions on customer records with
/// sandboxed WebAssembly trigger plugins.
#[derive(Debug, Parser)]
#[command(name = "smstrigger", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Work with trigger plugins.
    #[command(subcommand)]
    Plugin(PluginCommand),
    /// Run the HTTP service.
    Serve(serve::Args),
    /// Journal events from JSON lines on stdin and process them.
    Ingest(ingest::Args),
}

#[derive(Debug, Subcommand)]
enum PluginCommand {
    /// Run a plugin component on one event locally, in the same sandbox and
    /// with the same limits as the server; executes nothing.
    Run(plugin_run::Args),
}

impl Cli {
    /// Runs the command; the exit code says whether it succeeded.
    pub fn run(self) -> anyhow::Result<ExitCode> {
        match self.command {
            Command::Plugin(PluginCommand::Run(args)) => plugin_run::run(args),
            Command::Serve(args) => serve::run(args),
            Command::Ingest(args) => ingest::run(args),
        }
    }
}

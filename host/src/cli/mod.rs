//! Command-line parsing and the commands; each command in its own module.

mod audit;
mod compile_worker;
mod demo;
mod format;
mod ingest;
mod plugin_client;
mod plugin_new;
mod plugin_replay;
mod plugin_run;
mod plugin_shadow;
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
    /// Run the whole system once: a server, a tenant, the example plugins,
    /// the seed's scenarios, and each customer's event list.
    Demo(demo::Args),
    /// Show the tenant's audit trail on a running server: every change to
    /// its plugins, bindings and settings, who made it, from what to what.
    Audit(audit::Args),
    /// Run the HTTP service.
    Serve(serve::Args),
    /// Journal events from JSON lines on stdin and process them.
    Ingest(ingest::Args),
    /// Internal: compile one component from stdin for the server.
    #[command(name = "compile-worker", hide = true)]
    CompileWorker(compile_worker::Args),
}

#[derive(Debug, Subcommand)]
enum PluginCommand {
    /// Run a plugin component on one event locally, in the same sandbox and
    /// with the same limits as the server; executes nothing.
    Run(plugin_run::Args),
    /// Write a new plugin crate from a template, with a rule and its tests.
    New(plugin_new::NewArgs),
    /// Build a plugin crate into a wasm32-wasip2 component.
    Build(plugin_new::BuildArgs),
    /// Upload a component to a running server as a new version of a plugin
    /// (and make it the active one, unless --no-activate).
    Install(plugin_client::InstallArgs),
    /// List the tenant's plugins on a running server.
    List(plugin_client::ListArgs),
    /// Make a version of a plugin the active one.
    Activate(plugin_client::ActivateArgs),
    /// Make a plugin's previous version the active one again.
    Rollback(plugin_client::RollbackArgs),
    /// Run a plugin version on the server on one event and show what the host
    /// would decide on each action; executes nothing.
    DryRun(plugin_client::DryRunArgs),
    /// Replay a candidate version over the plugin's recent decisions on a
    /// running server; exits 1 when any decision would differ.
    Replay(plugin_replay::Args),
    /// Start a shadow (a candidate version run beside the active one on
    /// live events, compared, never executed), show it, or stop it.
    Shadow(plugin_shadow::Args),
}

impl Cli {
    /// The log filter when `RUST_LOG` is unset: the service logs what it
    /// does; the other commands print their own output and log only trouble.
    pub fn default_log_filter(&self) -> &'static str {
        match self.command {
            Command::Serve(_) => "smstrigger_host=info,warn",
            _ => "warn",
        }
    }

    /// Runs the command; the exit code says whether it succeeded.
    pub fn run(self) -> anyhow::Result<ExitCode> {
        match self.command {
            Command::Plugin(PluginCommand::Run(args)) => plugin_run::run(args),
            Command::Plugin(PluginCommand::New(args)) => plugin_new::new(args),
            Command::Plugin(PluginCommand::Build(args)) => plugin_new::build(args),
            Command::Plugin(PluginCommand::Install(args)) => plugin_client::install(args),
            Command::Plugin(PluginCommand::List(args)) => plugin_client::list(args),
            Command::Plugin(PluginCommand::Activate(args)) => plugin_client::activate(args),
            Command::Plugin(PluginCommand::Rollback(args)) => plugin_client::rollback(args),
            Command::Plugin(PluginCommand::DryRun(args)) => plugin_client::dry_run(args),
            Command::Plugin(PluginCommand::Replay(args)) => plugin_replay::run(args),
            Command::Plugin(PluginCommand::Shadow(args)) => plugin_shadow::run(args),
            Command::Demo(args) => demo::run(args),
            Command::Audit(args) => audit::run(args),
            Command::Serve(args) => serve::run(args),
            Command::Ingest(args) => ingest::run(args),
            Command::CompileWorker(args) => compile_worker::run(args),
        }
    }
}

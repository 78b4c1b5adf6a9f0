//! `smstrigger-proof`: the load-proof harness. Each subcommand is one
//! scenario that drives the real `smstrigger` binary (found next to this
//! executable), prints a table of figures and one final JSON line, and
//! exits non-zero when a promise breaks.
//!
//! Adding a scenario: a module with `Args` (clap) and
//! `run(Args) -> anyhow::Result<Report>`, and one variant of [`Scenario`].

mod api;
mod bombs;
mod cluster;
mod contained;
mod crash;
mod floor;
mod hostile;
mod http;
mod isolation;
mod journal;
mod load;
mod neighbour;
mod pg;
mod report;
mod requests;
mod rss;
mod server;
mod setup;
mod stats;
mod swap;
mod wrk;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use report::Report;

#[derive(Parser)]
#[command(version, about = "Load proofs of the smstrigger server")]
struct Cli {
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Subcommand)]
enum Scenario {
    /// The floor server: a bare durable journal behind the inbound webhook
    /// (group commit, no auth, no plugins) that `http` compares to.
    Floor(floor::Args),
    /// The HTTP load benchmark: peak accept rate, ratio to the floor,
    /// decision rate, latency to decision, RSS with many tenants, restart.
    Http(http::Args),
    /// Hot swap under load: the active plugin version alternates every
    /// second under a steady load; no failed request, no lost or doubled
    /// event, both versions decide, p99s within 2x of no swaps.
    Swap(swap::Args),
    /// A noisy neighbour: a tenant whose plugin burns its whole CPU budget
    /// floods over its quota while another sends 10 events/s; the quiet
    /// tenant's p99 within 2x of alone, no 429s for it.
    Neighbour(neighbour::Args),
    /// SIGKILL under load, 20 times, restarting on the same data: every
    /// acknowledged event decided exactly once, no disposition doubled.
    Crash(crash::Args),
    /// A quiet tenant beside a hostile one that binds sleeping, looping
    /// and memory-bomb plugins, floods dry runs and replays, uploads
    /// compile bombs and points its executor at a silent remote: the
    /// quiet tenant gets no error, each event decided once, p99 within 2x
    /// of alone; the hostile one gets the named limits; a clean SIGTERM.
    Isolation(isolation::Args),
    /// Two hosts on one PostgreSQL: accepted/s against a PostgreSQL
    /// floor, decisions/s from a backlog, p99 to decision, the database's
    /// cost per event, and a host SIGKILLed under load whose claims the
    /// other finishes once their leases run out, exactly once.
    Cluster(cluster::Args),
}

impl Scenario {
    fn run(self) -> anyhow::Result<Report> {
        match self {
            Scenario::Floor(args) => floor::run(args),
            Scenario::Http(args) => http::run(args),
            Scenario::Swap(args) => swap::run(args),
            Scenario::Neighbour(args) => neighbour::run(args),
            Scenario::Crash(args) => crash::run(args),
            Scenario::Isolation(args) => isolation::run(args),
            Scenario::Cluster(args) => cluster::run(args),
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.scenario.run() {
        Ok(report) => {
            print!("{}", report.table());
            println!("{}", report.json());
            if report.passed() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("smstrigger-proof: {e:#}");
            ExitCode::FAILURE
        }
    }
}

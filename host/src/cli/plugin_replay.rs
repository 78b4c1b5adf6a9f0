//! `smstrigger plugin replay`: what a candidate version would decide
//! differently on the events its plugin already decided.

use std::process::ExitCode;

use smstrigger_host::wire::plugins::{Decided, ReplayBody, ReplayReport};

use super::plugin_client::{Client, Remote, Reply};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The plugin's name.
    name: String,
    /// The candidate version.
    version: u32,
    /// How many of the plugin's most recent decisions to replay.
    #[arg(long, default_value_t = 100)]
    limit: usize,
    #[command(flatten)]
    remote: Remote,
}

/// Exit 0 when the candidate decides every replayed event as recorded, 1
/// when anything differs (so scripts can gate an activation on it).
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let client = Client::new(args.remote)?;
    let version = args.version.to_string();
    let url = client.endpoint(&["v1", "plugins", &args.name, "versions", &version, "replay"]);
    let request = client.http.post(url).json(&ReplayBody {
        limit: Some(args.limit),
    });
    let Reply::Done(report) = client.send::<ReplayReport>(request)? else {
        return Ok(ExitCode::FAILURE);
    };
    if !client.json {
        println!(
            "replayed {} v{} over {} events: {} same, {} different ({} failed)",
            report.plugin,
            report.version,
            report.replayed,
            report.same,
            report.different,
            report.failed
        );
        for difference in &report.differences {
            let side = |decided: &Decided| {
                let actions = decided.actions.as_array().map_or(0, Vec::len);
                match &decided.error_code {
                    Some(code) => format!("failed [{code}]"),
                    None => format!("{actions} action(s)"),
                }
            };
            let recorded = difference
                .recorded
                .version
                .map_or_else(|| "null".to_string(), |v| v.to_string());
            println!(
                "  event {}: recorded v{recorded} {} -> candidate {}",
                difference.event_id,
                side(&difference.recorded),
                side(&difference.candidate)
            );
        }
    }
    Ok(if report.different == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

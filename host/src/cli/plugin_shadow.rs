//! `smstrigger plugin shadow NAME [VERSION] [--stop]`: start a shadow of
//! VERSION, show the running one (without VERSION), or stop it.

use std::process::ExitCode;

use smstrigger_host::wire::plugins::ShadowReport;

use super::plugin_client::{Client, Remote, Reply};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The plugin's name.
    name: String,
    /// The candidate version to start shadowing (or, with --stop, the one
    /// to stop); none: show the running shadow.
    version: Option<u32>,
    /// Stop the shadow of VERSION.
    #[arg(long, requires = "version")]
    stop: bool,
    #[command(flatten)]
    remote: Remote,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let client = Client::new(args.remote)?;
    let request = match args.version {
        None => client
            .http
            .get(client.endpoint(&["v1", "plugins", &args.name, "shadow"])),
        Some(version) => {
            let version = version.to_string();
            let url =
                client.endpoint(&["v1", "plugins", &args.name, "versions", &version, "shadow"]);
            if args.stop {
                client.http.delete(url)
            } else {
                client.http.post(url)
            }
        }
    };
    let Reply::Done(report) = client.send::<ShadowReport>(request)? else {
        return Ok(ExitCode::FAILURE);
    };
    if client.json {
        return Ok(ExitCode::SUCCESS);
    }
    let what = match (args.version, args.stop) {
        (Some(_), false) => "started",
        (Some(_), true) => "stopped",
        (None, _) => "running",
    };
    print!("{}", describe(&report, what));
    Ok(ExitCode::SUCCESS)
}

/// The report: a summary line, then one line per difference shown.
fn describe(report: &ShadowReport, what: &str) -> String {
    let mut out = format!(
        "{} v{} shadow {what} (events after {}; compared up to {}): {} same, {} different, {} failed\n",
        report.plugin,
        report.version,
        report.after_event,
        report.compared_to,
        report.same,
        report.different,
        report.failed,
    );
    for difference in &report.differences {
        let count = |actions: &serde_json::Value| actions.as_array().map_or(0, Vec::len);
        let records: Vec<String> = difference.records.iter().map(|r| r.to_string()).collect();
        let rejected = difference.verdicts.iter().filter(|v| !v.accepted).count();
        let failed = match &difference.candidate.error_code {
            Some(code) => format!(" ({code})"),
            None => String::new(),
        };
        out.push_str(&format!(
            "  event {} ({}), records [{}]: active v{} {} action(s) -> candidate {} action(s){failed}, {} rejected\n",
            difference.event_id,
            difference.outcome.as_str(),
            records.join(", "),
            difference.active.version.map_or("-".into(), |v| v.to_string()),
            count(&difference.active.actions),
            count(&difference.candidate.actions),
            rejected,
        ));
    }
    out
}

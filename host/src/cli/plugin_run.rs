//! `smstrigger plugin run`: one event through one component, printed.
//!
//! Runs through `registry::run`, the same call the server makes for live
//! events, dry runs and replays, on a runtime of its own with no store:
//! lookups answer from `--records`, verdicts come from `--project`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use smstrigger_host::actions::{ProjectRules, Proposal, RecordScope, validate};
use smstrigger_host::model::{ContactRecord, RecordId, SmsEvent};
use smstrigger_host::registry;
use smstrigger_host::runtime::{Call, Limits, Runtime, StaticRecords};

use super::format::{describe, log_line, verdict_lines, zones};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The plugin component (`.wasm`, built for wasm32-wasip2).
    file: PathBuf,
    /// The event as JSON: `{"kind": "inbound", ...}` or `{"kind": "outbound", ...}`.
    #[arg(long)]
    event: PathBuf,
    /// A configuration value for the plugin, as KEY=VALUE; repeatable.
    #[arg(long = "config", value_name = "KEY=VALUE")]
    config: Vec<String>,
    /// Records that `find-records` can return, as a JSON array.
    #[arg(long)]
    records: Option<PathBuf>,
    /// The project's rules as JSON (`timeZone`, `callingHours`,
    /// `callingHoursPolicy`, `horizonDays`, `maxActionsPerEvent`,
    /// `dispositions`: the custom ids); with it, each action is shown with
    /// the verdict the host would give.
    #[arg(long, value_name = "PROJECT.json")]
    project: Option<PathBuf>,
    /// The fuel budget (CPU) of the call.
    #[arg(long, default_value_t = Limits::default().fuel)]
    fuel: u64,
    /// The linear memory limit of the call, in MiB.
    #[arg(long, default_value_t = Limits::default().memory_bytes >> 20)]
    memory_mib: usize,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let bytes =
        std::fs::read(&args.file).with_context(|| format!("reading {}", args.file.display()))?;
    let event: SmsEvent = read_json(&args.event)?;
    let records: Vec<ContactRecord> = match &args.records {
        Some(path) => read_json(path)?,
        None => Vec::new(),
    };
    let config = parse_config(&args.config)?;
    let rules = match &args.project {
        Some(path) => {
            let mut rules: serde_json::Value = read_json(path)?;
            rules["projectId"] = serde_json::json!(event.project_id());
            Some(
                serde_json::from_value::<ProjectRules>(rules)
                    .with_context(|| format!("{}: not a project's rules", path.display()))?,
            )
        }
        None => None,
    };
    let limits = Limits {
        fuel: args.fuel,
        memory_bytes: args.memory_mib << 20,
        ..Limits::default()
    };

    let runtime = Runtime::new(None)?;
    let plugin = runtime.load(&bytes)?;
    let zones = zones(&event, &records);
    let scopes = scopes(&event, &records);
    let call = Call {
        event: &event,
        config: Arc::new(config),
        lookup: Arc::new(StaticRecords(records)),
        limits,
    };
    let ran = registry::run(&runtime, &plugin, call, None);

    println!(
        "plugin   {} (sha256 {})",
        args.file.display(),
        &plugin.sha256()[..12]
    );
    let outcome = match ran {
        Ok(Some(outcome)) => outcome,
        Ok(None) => {
            println!(
                "skipped  the component is built for world {}, which has no such event: the host would not ask it",
                plugin.world()
            );
            return Ok(ExitCode::SUCCESS);
        }
        Err(error) => {
            // The host's fault (no instance free): nothing about the plugin.
            println!(
                "failed   [{}] {error} (the host's, not the plugin's)",
                error.code()
            );
            return Ok(ExitCode::FAILURE);
        }
    };
    println!(
        "used     {} fuel of {}, {:.2} ms",
        outcome.fuel_used,
        limits.fuel,
        outcome.elapsed.as_secs_f64() * 1e3
    );
    for line in &outcome.logs {
        println!("{}", log_line(line));
    }
    match outcome.result {
        Ok(actions) if actions.is_empty() => println!("result   no actions"),
        Ok(actions) => {
            println!("result   {} action(s)", actions.len());
            match &rules {
                Some(rules) => {
                    let proposals: Vec<Proposal> = actions
                        .iter()
                        .map(|action| Proposal {
                            plugin: "local".into(),
                            priority: 0,
                            action: action.clone(),
                        })
                        .collect();
                    let verdicts = validate(
                        event.timestamp(),
                        rules,
                        &scopes,
                        &BTreeSet::new(),
                        &proposals,
                    );
                    for verdict in &verdicts {
                        for line in verdict_lines(verdict, &zones) {
                            println!("{line}");
                        }
                    }
                }
                None => {
                    for action in &actions {
                        println!("  {}", describe(action, &zones));
                    }
                    println!("note     pass --project PROJECT.json to see the host's verdicts");
                }
            }
        }
        Err(error) => {
            println!("failed   [{}] {error}", error.code());
            return Ok(ExitCode::FAILURE);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The records the event and `--records` name, as validation scopes them.
fn scopes(event: &SmsEvent, records: &[ContactRecord]) -> BTreeMap<RecordId, RecordScope> {
    event
        .contacts()
        .iter()
        .chain(records)
        .map(|record| {
            let scope = RecordScope {
                id: record.id,
                project_id: record.project_id,
                phone: record.phone.clone(),
                time_zone: Some(record.time_zone.clone()),
                // A local run knows no history: every record starts its
                // day and its window, with the call the event reports.
                sms_today: 0,
                contacts: u32::from(
                    matches!(event, SmsEvent::CallDisposition(call) if call.contact.id == record.id),
                ),
            };
            (record.id, scope)
        })
        .collect()
}

pub(super) fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> anyhow::Result<T> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

pub(super) fn parse_config(pairs: &[String]) -> anyhow::Result<BTreeMap<String, String>> {
    pairs
        .iter()
        .map(|pair| match pair.split_once('=') {
            Some((key, value)) if !key.trim().is_empty() => {
                Ok((key.trim().to_string(), value.to_string()))
            }
            _ => bail!("--config `{pair}`: expected KEY=VALUE"),
        })
        .collect()
}

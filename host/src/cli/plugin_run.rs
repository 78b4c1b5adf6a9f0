//! `smstrigger plugin run`: one event through one component, printed.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use smstrigger_host::model::{Action, ContactRecord, Disposition, RecordId, SmsEvent, Timestamp};
use smstrigger_host::runtime::{Call, Limits, Runtime, StaticRecords};

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
    let limits = Limits {
        fuel: args.fuel,
        memory_bytes: args.memory_mib << 20,
        ..Limits::default()
    };

    let runtime = Runtime::new(None)?;
    let plugin = runtime.load(&bytes)?;
    let zones = zones(&event, &records);
    let outcome = runtime.invoke(
        &plugin,
        Call {
            event: &event,
            config: Arc::new(config),
            lookup: Arc::new(StaticRecords(records)),
            limits,
        },
    );

    println!(
        "plugin   {} (sha256 {})",
        args.file.display(),
        &plugin.sha256()[..12]
    );
    println!(
        "used     {} fuel of {}, {:.2} ms",
        outcome.fuel_used,
        limits.fuel,
        outcome.elapsed.as_secs_f64() * 1e3
    );
    for line in &outcome.logs {
        println!(
            "log      {:<5} {}",
            format!("{:?}", line.level).to_lowercase(),
            line.message
        );
    }
    match outcome.result {
        Ok(actions) if actions.is_empty() => println!("result   no actions"),
        Ok(actions) => {
            println!("result   {} action(s)", actions.len());
            for action in &actions {
                println!("  {}", describe(action, &zones));
            }
        }
        Err(error) => {
            println!("failed   [{}] {error}", error.code());
            return Ok(ExitCode::FAILURE);
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn read_json<T: serde::de::DeserializeOwned>(path: &PathBuf) -> anyhow::Result<T> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

fn parse_config(pairs: &[String]) -> anyhow::Result<BTreeMap<String, String>> {
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

/// Each known record's time zone, to print times as the record reads them.
fn zones(event: &SmsEvent, records: &[ContactRecord]) -> BTreeMap<RecordId, String> {
    let from_event = match event {
        SmsEvent::Outbound(status) => std::slice::from_ref(&status.contact),
        SmsEvent::Inbound(sms) => sms.matches.as_slice(),
    };
    from_event
        .iter()
        .chain(records)
        .map(|record| (record.id, record.time_zone.clone()))
        .collect()
}

fn describe(action: &Action, zones: &BTreeMap<RecordId, String>) -> String {
    let zone = zones.get(&action.record_id).map(String::as_str);
    let when = |at: Timestamp| format_time(at, zone);
    let what = match action.disposition {
        Disposition::SharedCallback { at } => format!("Shared Callback at {}", when(at)),
        Disposition::Discard => "Discard".to_string(),
        Disposition::Custom {
            id,
            next_calldate: Some(at),
        } => {
            format!("disposition {id}, next call {}", when(at))
        }
        Disposition::Custom {
            id,
            next_calldate: None,
        } => format!("disposition {id}"),
    };
    let note = action
        .note
        .as_deref()
        .map(|n| format!("  ({n})"))
        .unwrap_or_default();
    format!("record {}: {what}{note}", action.record_id)
}

/// `2026-12-01 14:30 Europe/Budapest` when the zone is known, UTC otherwise.
fn format_time(at: Timestamp, zone: Option<&str>) -> String {
    let Some(utc) = chrono::DateTime::from_timestamp(at, 0) else {
        return format!("{at} (out of range)");
    };
    match zone.and_then(|z| z.parse::<chrono_tz::Tz>().ok()) {
        Some(tz) => format!("{} {tz}", utc.with_timezone(&tz).format("%Y-%m-%d %H:%M")),
        None => format!("{} UTC", utc.format("%Y-%m-%d %H:%M")),
    }
}

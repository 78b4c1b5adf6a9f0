//! Output helpers shared by the plugin commands: actions, times, log lines.

use std::collections::BTreeMap;

use smstrigger_host::actions::Verdict;
use smstrigger_host::model::{Action, ContactRecord, Disposition, RecordId, SmsEvent, Timestamp};
use smstrigger_host::runtime::LogLine;

/// Each known record's time zone, to print times as the record reads them.
pub fn zones(event: &SmsEvent, records: &[ContactRecord]) -> BTreeMap<RecordId, String> {
    event
        .contacts()
        .iter()
        .chain(records)
        .map(|record| (record.id, record.time_zone.clone()))
        .collect()
}

/// `record 7: Shared Callback at 2026-12-01 11:00 Europe/Budapest  (note)`,
/// or `record 7: SMS "When may we call?"`.
pub fn describe(action: &Action, zones: &BTreeMap<RecordId, String>) -> String {
    let set = match action {
        Action::SetDisposition(set) => set,
        Action::SendSms(sms) => {
            let template = sms
                .template_id
                .as_deref()
                .map(|t| format!("  (template {t})"))
                .unwrap_or_default();
            return format!("record {}: SMS {:?}{template}", sms.record_id, sms.text);
        }
    };
    let zone = zones.get(&set.record_id).map(String::as_str);
    let when = |at: Timestamp| format_time(at, zone);
    let what = match set.disposition {
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
    let note = set
        .note
        .as_deref()
        .map(|n| format!("  ({n})"))
        .unwrap_or_default();
    format!("record {}: {what}{note}", set.record_id)
}

/// `2026-12-01 14:30 Europe/Budapest` when the zone is known, UTC otherwise.
pub fn format_time(at: Timestamp, zone: Option<&str>) -> String {
    let Some(utc) = chrono::DateTime::from_timestamp(at, 0) else {
        return format!("{at} (out of range)");
    };
    match zone.and_then(|z| z.parse::<chrono_tz::Tz>().ok()) {
        Some(tz) => format!("{} {tz}", utc.with_timezone(&tz).format("%Y-%m-%d %H:%M")),
        None => format!("{} UTC", utc.format("%Y-%m-%d %H:%M")),
    }
}

/// `log      warn  message`: one line a plugin logged.
pub fn log_line(line: &LogLine) -> String {
    format!(
        "log      {:<5} {}",
        format!("{:?}", line.level).to_lowercase(),
        line.message
    )
}

/// `812 B`, `12.3 KiB`, `1.4 MiB`.
pub fn size(bytes: u64) -> String {
    const KIB: f64 = 1024.0;
    let b = bytes as f64;
    if bytes < 1024 {
        format!("{bytes} B")
    } else if b < KIB * KIB {
        format!("{:.1} KiB", b / KIB)
    } else {
        format!("{:.1} MiB", b / (KIB * KIB))
    }
}

/// An action with the host's verdict on it: `accepted` or `rejected`, and
/// the reason code and detail when there is one.
pub fn verdict_lines(verdict: &Verdict, zones: &BTreeMap<RecordId, String>) -> Vec<String> {
    let state = if verdict.accepted {
        "accepted"
    } else {
        "rejected"
    };
    let mut lines = vec![format!(
        "  {state:<8}  {}",
        describe(&verdict.action, zones)
    )];
    if verdict.reason.is_some() || verdict.detail.is_some() {
        let code = verdict
            .reason
            .map(|r| format!("[{}]", r.code()))
            .unwrap_or_default();
        let detail = verdict.detail.as_deref().unwrap_or_default();
        lines.push(format!("            {}", format!("{code} {detail}").trim()));
    }
    lines
}

//! `smstrigger audit`: the tenant's audit trail from a running server,
//! one change a line (who, when, what, from what to what, why).

use std::process::ExitCode;

use serde_json::Value;

use super::format::format_time;
use super::plugin_client::{Client, Remote, Reply};
use smstrigger_host::model::{Actor, AuditEntry, ChangeKind};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only the changes to this plugin.
    #[arg(long)]
    plugin: Option<String>,
    /// Only the changes of this kind (e.g. plugin_activated, bindings_set).
    #[arg(long)]
    kind: Option<String>,
    /// Entries to show, 1 to 1000.
    #[arg(long, default_value_t = 100)]
    limit: usize,
    /// Start after this entry id (the previous page's last).
    #[arg(long, default_value_t = 0)]
    after: u64,
    #[command(flatten)]
    remote: Remote,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let client = Client::new(args.remote)?;
    let mut url = client.endpoint(&["v1", "audit"]);
    {
        let mut query = url.query_pairs_mut();
        query.append_pair("limit", &args.limit.to_string());
        query.append_pair("after", &args.after.to_string());
        if let Some(plugin) = &args.plugin {
            query.append_pair("plugin", plugin);
        }
        if let Some(kind) = &args.kind {
            query.append_pair("kind", kind);
        }
    }
    let Reply::Done(entries) = client.send::<Vec<AuditEntry>>(client.http.get(url))? else {
        return Ok(ExitCode::FAILURE);
    };
    if client.json {
        return Ok(ExitCode::SUCCESS);
    }
    if entries.is_empty() {
        println!("no changes recorded");
    }
    for entry in &entries {
        println!("{}", line(entry));
    }
    if entries.len() == args.limit
        && let Some(last) = entries.last()
    {
        println!("(more: --after {})", last.id);
    }
    Ok(ExitCode::SUCCESS)
}

/// `#ID  WHEN  WHO  KIND  SUBJECT  CHANGE`.
fn line(entry: &AuditEntry) -> String {
    let change = &entry.change;
    let who = match &change.actor {
        Actor::Key {
            key_id: Some(id),
            fingerprint,
        } => format!("key {id} ({fingerprint})"),
        Actor::Key { fingerprint, .. } => format!("key ({fingerprint})"),
        Actor::Operator => "operator".into(),
        Actor::Host { what } => format!("host: {what}"),
    };
    let subject = match (&change.plugin, change.project) {
        (Some(plugin), _) => plugin.clone(),
        (None, Some(project)) => format!("project {project}"),
        (None, None) => "-".into(),
    };
    let mut out = format!(
        "#{:<4} {}  {who}  {}  {subject}  {}",
        entry.id,
        format_time(entry.at, None),
        change.kind.as_str(),
        what_changed(change.kind, &change.from, &change.to)
    );
    if let Some(reason) = &change.reason {
        out.push_str(&format!(" (why: {reason})"));
    }
    out
}

/// A change in a few words: versions as `v1 -> v2`, anything else as its
/// JSON before and after.
fn what_changed(kind: ChangeKind, from: &Value, to: &Value) -> String {
    let version = |value: &Value| match value.as_u64() {
        Some(v) => format!("v{v}"),
        None => "none".into(),
    };
    match kind {
        ChangeKind::PluginInstalled => format!(
            "v{} ({}, {} bytes), active: {}",
            to["version"],
            to["world"].as_str().unwrap_or("?"),
            to["size"],
            version(&to["activeVersion"])
        ),
        ChangeKind::PluginActivated | ChangeKind::PluginRolledBack => format!(
            "{} -> {}",
            version(&from["activeVersion"]),
            version(&to["activeVersion"])
        ),
        _ => format!("{from} -> {to}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use smstrigger_host::model::Change;

    #[test]
    fn a_line_names_who_what_and_why() {
        let key = Actor::Key {
            key_id: Some(3),
            fingerprint: "0123456789ab".into(),
        };
        let mut change = Change::new(&key, ChangeKind::PluginRolledBack)
            .plugin("followup")
            .from_to(
                serde_json::json!({ "activeVersion": 2 }),
                serde_json::json!({ "activeVersion": 1 }),
            );
        change.reason = Some("failures".into());
        let entry = AuditEntry {
            id: 7,
            at: 1_796_115_600,
            change,
        };
        assert_eq!(
            line(&entry),
            "#7    2026-12-01 09:00 UTC  key 3 (0123456789ab)  plugin_rolled_back  followup  v2 -> v1 (why: failures)"
        );
    }
}

//! The audit trail's value types: who changed what of a tenant's rules and
//! settings, from what to what, and why. Never a secret: a key is named by
//! its id and fingerprint, a token only as changed or not.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{ProjectId, Timestamp};

/// Who made a change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Actor {
    /// One of the tenant's API keys: its id (as `GET /v1/keys` lists it;
    /// none if it was revoked meanwhile) and its fingerprint.
    #[serde(rename_all = "camelCase")]
    Key {
        key_id: Option<u64>,
        fingerprint: String,
    },
    /// The operator key.
    Operator,
    /// The host itself, `what` naming which part (the plugin directory
    /// watcher, a canary's guard).
    Host { what: String },
}

/// What kind of change an entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    /// A new version of a plugin stored (and activated, if asked).
    PluginInstalled,
    PluginActivated,
    PluginRolledBack,
    /// A project's bindings replaced.
    BindingsSet,
    ProjectCreated,
    /// A project's custom disposition added or replaced.
    DispositionSet,
    /// The tenant's settings (webhook auth, executor, SMS sender, opt-out
    /// keywords, acceptance window).
    TenantSettingsChanged,
    /// The tenant's plugin limits, set by the operator.
    LimitsSet,
    KeyAdded,
    KeyRevoked,
    WebhookSecretRotated,
    /// A candidate version started, or stopped, shadowing the active one.
    ShadowStarted,
    ShadowStopped,
}

impl ChangeKind {
    /// Every kind, in the order of the enum.
    pub const ALL: [ChangeKind; 13] = [
        ChangeKind::PluginInstalled,
        ChangeKind::PluginActivated,
        ChangeKind::PluginRolledBack,
        ChangeKind::BindingsSet,
        ChangeKind::ProjectCreated,
        ChangeKind::DispositionSet,
        ChangeKind::TenantSettingsChanged,
        ChangeKind::LimitsSet,
        ChangeKind::KeyAdded,
        ChangeKind::KeyRevoked,
        ChangeKind::WebhookSecretRotated,
        ChangeKind::ShadowStarted,
        ChangeKind::ShadowStopped,
    ];

    /// The stored spelling, the same string serde writes.
    pub fn as_str(&self) -> &'static str {
        match self {
            ChangeKind::PluginInstalled => "plugin_installed",
            ChangeKind::PluginActivated => "plugin_activated",
            ChangeKind::PluginRolledBack => "plugin_rolled_back",
            ChangeKind::BindingsSet => "bindings_set",
            ChangeKind::ProjectCreated => "project_created",
            ChangeKind::DispositionSet => "disposition_set",
            ChangeKind::TenantSettingsChanged => "tenant_settings_changed",
            ChangeKind::LimitsSet => "limits_set",
            ChangeKind::KeyAdded => "key_added",
            ChangeKind::KeyRevoked => "key_revoked",
            ChangeKind::WebhookSecretRotated => "webhook_secret_rotated",
            ChangeKind::ShadowStarted => "shadow_started",
            ChangeKind::ShadowStopped => "shadow_stopped",
        }
    }

    /// The kind stored (or asked for) as `text`.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == text)
    }
}

/// One change, as it is recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Change {
    pub actor: Actor,
    pub kind: ChangeKind,
    /// The plugin it concerns, if one.
    pub plugin: Option<String>,
    /// The project it concerns, if one.
    pub project: Option<ProjectId>,
    /// What it was before (any JSON; `null`: nothing, or not known).
    pub from: Value,
    /// What it is now (any JSON; `null`: nothing, as after a revocation).
    pub to: Value,
    /// Why, when the change says (a rollback's reason).
    pub reason: Option<String>,
}

impl Change {
    /// A change of `kind` by `actor` with nothing named yet.
    pub fn new(actor: &Actor, kind: ChangeKind) -> Self {
        Change {
            actor: actor.clone(),
            kind,
            plugin: None,
            project: None,
            from: Value::Null,
            to: Value::Null,
            reason: None,
        }
    }

    pub fn plugin(mut self, name: &str) -> Self {
        self.plugin = Some(name.to_string());
        self
    }

    pub fn project(mut self, project: ProjectId) -> Self {
        self.project = Some(project);
        self
    }

    /// What it was and what it is now.
    pub fn from_to(mut self, from: Value, to: Value) -> Self {
        self.from = from;
        self.to = to;
        self
    }
}

/// A recorded change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditEntry {
    /// The store's sequence number, for paging.
    pub id: u64,
    /// When it was recorded (the store's clock).
    pub at: Timestamp,
    #[serde(flatten)]
    pub change: Change,
}

/// Which of a tenant's audit entries to read: by id after a cursor,
/// oldest first, optionally one plugin's or one kind's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditFilter<'a> {
    pub after: u64,
    pub plugin: Option<&'a str>,
    pub kind: Option<ChangeKind>,
    pub limit: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_stored_as_serde_spells_them() {
        for kind in ChangeKind::ALL {
            let json = serde_json::to_value(kind).unwrap();
            assert_eq!(json, kind.as_str());
            assert_eq!(ChangeKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(ChangeKind::parse("plugin_deleted"), None);
    }
}

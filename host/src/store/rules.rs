//! The business rules of the store, above its back ends: every back end
//! stores and loads, these decide, so a second back end cannot disagree.
//!
//! - A project is created with the system dispositions ([`SHARED_CALLBACK_ID`],
//!   [`DISCARD_ID`]), and those can never be changed.
//! - A plugin's next version is the newest stored one plus one, computed
//!   here; a back end refuses a number already taken (`Conflict`) and the
//!   number is computed again, so concurrent uploads (from several hosts,
//!   even) get distinct numbers without a lock across the read and the
//!   write.
//! - An event is `failed` when any plugin failed on it, else `done`.
//! - A tenant that never set opt-out keywords has the defaults
//!   ([`DEFAULT_OPT_OUT_KEYWORDS`]); keywords are kept trimmed and upper
//!   case.
//!
//! The store traits call these from their provided methods
//! (`create_project`, `upsert_disposition`, `add_plugin_version`,
//! `opt_out_keywords`, `set_opt_out_keywords`); back ends implement only
//! the methods those build on and never override them.

use super::{DispositionDef, Error, Plugins, ProcessedEvent, Result, Tenants};
use crate::model::{
    DISCARD_ID, DecisionOutcome, EventState, ProjectId, SHARED_CALLBACK_ID, TenantId,
};
use crate::phone::DEFAULT_OPT_OUT_KEYWORDS;

/// How many times a plugin version's number is computed again after
/// another upload took it: each retry means another upload of the same
/// plugin committed in between, so a handful is plenty.
pub const VERSION_ATTEMPTS: usize = 8;

/// The dispositions every project has from its creation, system ones.
pub fn system_dispositions() -> Vec<DispositionDef> {
    [
        (DISCARD_ID, "Discard"),
        (SHARED_CALLBACK_ID, "Shared Callback"),
    ]
    .into_iter()
    .map(|(id, name)| DispositionDef {
        id,
        name: name.into(),
        active: true,
        system: true,
    })
    .collect()
}

/// Whether `id` names a system disposition (the same in every project).
pub fn is_system_disposition(id: u32) -> bool {
    id == SHARED_CALLBACK_ID || id == DISCARD_ID
}

/// Sets a tenant's disposition: `Conflict` for a system one (after the
/// project's ownership is checked, so another tenant's project stays a
/// `NotFound`); what is stored is never marked system.
pub(super) fn upsert_disposition<S: Tenants + ?Sized>(
    store: &S,
    tenant: TenantId,
    project: ProjectId,
    disposition: &DispositionDef,
) -> Result<()> {
    if is_system_disposition(disposition.id) {
        store.project(tenant, project)?;
        return Err(Error::Conflict {
            what: format!("disposition {} is a system disposition", disposition.id),
        });
    }
    store.write_disposition(
        tenant,
        project,
        &DispositionDef {
            system: false,
            ..disposition.clone()
        },
    )
}

/// The version number after `latest` (none stored: 1); `Conflict` when the
/// numbers are used up.
pub fn next_version(latest: Option<u32>) -> Result<u32> {
    match latest {
        None => Ok(1),
        Some(latest) => latest.checked_add(1).ok_or_else(|| Error::Conflict {
            what: format!("plugin versions are used up at {latest}"),
        }),
    }
}

/// Stores a new version under the next number, computing it again when
/// another upload took it first (see the module doc).
pub(super) fn add_plugin_version<S: Plugins + ?Sized>(
    store: &S,
    tenant: TenantId,
    name: &str,
    sha256: &str,
    component: &[u8],
) -> Result<u32> {
    let mut attempts = 0;
    loop {
        let version = next_version(store.latest_plugin_version(tenant, name)?)?;
        match store.insert_plugin_version(tenant, name, version, sha256, component) {
            Err(Error::Conflict { .. }) if attempts + 1 < VERSION_ATTEMPTS => attempts += 1,
            Err(Error::Conflict { what }) => {
                return Err(Error::Unavailable {
                    what: format!("{what}, {VERSION_ATTEMPTS} times: uploads keep racing"),
                });
            }
            result => return result.map(|()| version),
        }
    }
}

/// The opt-out keywords in effect: the tenant's own, or the defaults when
/// it never set any (an empty list it set is kept: no opt-outs).
pub fn opt_out_keywords(stored: Option<Vec<String>>) -> Vec<String> {
    stored.unwrap_or_else(|| {
        DEFAULT_OPT_OUT_KEYWORDS
            .iter()
            .map(|k| (*k).to_owned())
            .collect()
    })
}

/// Keywords as they are kept: trimmed, in upper case.
pub fn normalize_keywords(keywords: &[String]) -> Vec<String> {
    keywords.iter().map(|k| k.trim().to_uppercase()).collect()
}

impl ProcessedEvent {
    /// The state its commit leaves the event in: `failed` when any plugin
    /// failed on it, else `done` (an opt-out, which runs none, is done).
    pub fn state(&self) -> EventState {
        if self
            .decisions
            .iter()
            .any(|d| d.outcome == DecisionOutcome::Failed)
        {
            EventState::Failed
        } else {
            EventState::Done
        }
    }
}

#[cfg(test)]
mod tests {
    //! The rules through real stores are in the conformance suite
    //! (`store/conformance`), on every back end.

    use super::*;
    use crate::store::DecisionRecord;

    fn processed(outcomes: &[DecisionOutcome]) -> ProcessedEvent {
        ProcessedEvent {
            event_id: crate::model::EventId(1),
            tenant_id: TenantId(1),
            resolved: "{}".into(),
            decisions: outcomes
                .iter()
                .map(|&o| DecisionRecord::host("p", o, None))
                .collect(),
            writes: vec![],
            outbox: vec![],
            messages: vec![],
            contacts: vec![],
            opted_out: None,
            opted_in: None,
            processed_at: 0,
            plugin_cpu: Default::default(),
        }
    }

    #[test]
    fn an_event_is_failed_when_any_plugin_failed_else_done() {
        use DecisionOutcome::*;
        assert_eq!(processed(&[Ok, Failed, Ok]).state(), EventState::Failed);
        assert_eq!(processed(&[Ok, Ok]).state(), EventState::Done);
        assert_eq!(processed(&[OptedOut]).state(), EventState::Done);
        assert_eq!(processed(&[]).state(), EventState::Done);
    }

    #[test]
    fn version_numbers_start_at_one_follow_the_newest_and_never_wrap() {
        assert_eq!(next_version(None).unwrap(), 1);
        assert_eq!(next_version(Some(7)).unwrap(), 8);
        assert!(matches!(
            next_version(Some(u32::MAX)),
            Err(Error::Conflict { .. })
        ));
    }

    #[test]
    fn keywords_default_only_when_never_set_and_are_kept_upper_case() {
        assert_eq!(opt_out_keywords(None).len(), DEFAULT_OPT_OUT_KEYWORDS.len());
        assert_eq!(opt_out_keywords(Some(vec![])), Vec::<String>::new());
        assert_eq!(
            normalize_keywords(&[" stop ".into(), "Halt".into()]),
            ["STOP", "HALT"]
        );
    }
}

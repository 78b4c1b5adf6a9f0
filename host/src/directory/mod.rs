//! The directory: every use case on a tenant's own data, each in one place
//! the API calls (the registry owns the plugins, the pipeline the events).
//!
//! - tenants and their credentials (`tenants.rs`): a new tenant with its
//!   first key and webhook secret, more keys, revocation, rotation, a key's
//!   tenant, settings, the operator's limits;
//! - projects and their dispositions, records and their event lists, the
//!   do-not-contact list (`data.rs`), with the data quotas that bound what
//!   a tenant may hold.
//!
//! Owns no HTTP and no SQL: it calls the store's traits and answers
//! [`Error`], which the API maps to statuses. Input is already checked for
//! shape (the API's bodies do that); what needs the stored data (a quota,
//! a tenant that must exist) is checked here.

mod data;
mod tenants;

use std::sync::Arc;

use crate::config::Quotas;
use crate::store::{self, Store};

pub use tenants::{Credentials, NewKey, new_secret};

/// Why a directory use case was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Adding this would put the tenant over one of its data quotas;
    /// nothing was stored.
    #[error("the tenant holds {used} {what}; its quota is {quota}")]
    QuotaExceeded {
        what: &'static str,
        used: u64,
        quota: u64,
    },
    #[error(transparent)]
    Store(#[from] store::Error),
}

/// Serializing a value for the audit trail fails only on a bug: the
/// store's backend error, as a stored JSON that does not parse is.
impl From<serde_json::Error> for Error {
    fn from(error: serde_json::Error) -> Self {
        Error::Store(error.into())
    }
}

pub type Result<T> = std::result::Result<T, Error>;

/// The tenant-data use cases over one store.
pub struct Directory {
    store: Arc<dyn Store>,
    quotas: Quotas,
}

impl Directory {
    pub fn new(store: Arc<dyn Store>, quotas: Quotas) -> Self {
        Self { store, quotas }
    }

    /// Refuses `adding` more of what `what` counts when the tenant holds
    /// `used` of them and may hold `quota`.
    fn room(what: &'static str, used: u64, adding: u64, quota: u64) -> Result<()> {
        if used.saturating_add(adding) > quota {
            return Err(Error::QuotaExceeded { what, used, quota });
        }
        Ok(())
    }
}

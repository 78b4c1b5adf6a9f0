//! Settings the hot paths read on every webhook and event (projects,
//! tenants, limits, opt-out keywords, a project's active bindings), kept
//! in memory.
//!
//! The store is the only writer of these settings, so it empties the memos
//! whenever it changes one (rare: an operator or tenant editing settings).
//! A read that loaded a value from the database before such a change does
//! not put it in the memo after it: every change bumps a generation, and a
//! load only lands if the generation is still the one it started under.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::RwLock;

use super::Result;

/// One memo: values by key, loaded on first read.
#[derive(Debug)]
pub(crate) struct Memo<K, V> {
    inner: RwLock<(u64, HashMap<K, V>)>,
}

impl<K, V> Default for Memo<K, V> {
    fn default() -> Self {
        Self {
            inner: RwLock::new((0, HashMap::new())),
        }
    }
}

impl<K: Eq + Hash, V: Clone> Memo<K, V> {
    /// The value for `key`, from memory or else from `load` (remembered).
    pub fn get_or_load(&self, key: K, load: impl FnOnce() -> Result<V>) -> Result<V> {
        let generation = {
            let inner = self.inner.read().unwrap_or_else(|p| p.into_inner());
            if let Some(value) = inner.1.get(&key) {
                return Ok(value.clone());
            }
            inner.0
        };
        let value = load()?;
        let mut inner = self.inner.write().unwrap_or_else(|p| p.into_inner());
        if inner.0 == generation {
            inner.1.insert(key, value.clone());
        }
        Ok(value)
    }

    /// Forgets everything (after a change).
    pub fn clear(&self) {
        let mut inner = self.inner.write().unwrap_or_else(|p| p.into_inner());
        inner.0 += 1;
        inner.1.clear();
    }
}

/// The memos of one store.
#[derive(Debug, Default)]
pub(crate) struct Memos {
    pub projects: Memo<(crate::model::TenantId, crate::model::ProjectId), crate::store::Project>,
    pub owners: Memo<crate::model::ProjectId, crate::model::TenantId>,
    pub tenants: Memo<crate::model::TenantId, crate::store::TenantSettings>,
    pub limits: Memo<crate::model::TenantId, crate::store::TenantLimits>,
    pub keywords: Memo<crate::model::TenantId, Option<Vec<String>>>,
    pub bindings:
        Memo<(crate::model::TenantId, crate::model::ProjectId), Vec<crate::store::ActiveBinding>>,
}

impl Memos {
    /// Forgets every memo: a setting changed.
    pub fn changed(&self) {
        self.projects.clear();
        self.owners.clear();
        self.tenants.clear();
        self.limits.clear();
        self.keywords.clear();
        self.bindings.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_load_that_raced_a_change_is_not_remembered() {
        let memo: Memo<u8, &str> = Memo::default();
        let value = memo
            .get_or_load(1, || {
                memo.clear(); // the change lands while the load reads
                Ok("old")
            })
            .unwrap();
        assert_eq!(value, "old");
        assert_eq!(memo.get_or_load(1, || Ok("new")).unwrap(), "new");
        assert_eq!(
            memo.get_or_load(1, || Ok("newer")).unwrap(),
            "new",
            "remembered"
        );
    }
}

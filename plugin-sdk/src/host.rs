//! The host calls: `log`, `config` and `find-records`.
//!
//! In a component they call the host's imports. Compiled natively (for a
//! rule's unit tests) they call the stubs of [`crate::testing`], so the same
//! rule code runs in both places unchanged.

use std::str::FromStr;

use crate::model::{ContactRecord, Level};

#[cfg(target_arch = "wasm32")]
use crate::wit::smstrigger::plugin::host as imports;

#[cfg(not(target_arch = "wasm32"))]
use crate::testing::stub as imports;

/// Records a line in the event's decision log.
///
/// The host cuts long lines and stops a plugin that logs more lines than
/// its limit allows.
pub fn log(level: Level, message: &str) {
    imports::log(level, message)
}

/// Reads a setting of this installation of the plugin, or `None` when the
/// project's binding does not set `key`.
pub fn config(key: &str) -> Option<String> {
    imports::config(key)
}

/// Reads the setting `key` as a `T`, or `default` when it is not set.
///
/// A value that does not parse is an error naming the key and the value,
/// so a rule can pass it on with `?` and the decision log says what to fix.
pub fn config_or<T: FromStr>(key: &str, default: T) -> Result<T, String> {
    match config(key) {
        None => Ok(default),
        Some(raw) => raw.trim().parse().map_err(|_| {
            format!(
                "config `{key}` = `{raw}` is not a valid {}",
                std::any::type_name::<T>()
            )
        }),
    }
}

/// The records of the event's tenant and project whose phone matches
/// `phone` (E.164 or a national spelling of it).
///
/// The host never returns records of another project or tenant, and stops
/// a plugin that makes more lookups per event than its limit allows.
pub fn find_records(phone: &str) -> Vec<ContactRecord> {
    imports::find_records(phone)
}

//! The `host` interface: `log`, `config`, `find-records`.
//!
//! Every import is bounded: a plugin can neither make the host allocate
//! without limit nor call it without limit. Going over a count traps with a
//! [`LimitExceeded`] that names the limit; an oversized argument is cut or
//! matches nothing, since the plugin can handle that. Every import first
//! checks the call's wall-clock deadline, and `find-records` again after
//! the lookup, so time in the host counts; a lookup the host could not
//! answer traps the call as the host's fault ([`super::LookupFailed`]).

use super::bindings::{v1, v2};
use super::convert;
use std::time::Instant;

use super::limits::{DeadlinePassed, LimitExceeded, MAX_LOG_LINE_BYTES};
use super::state::CallState;
use super::{LogLevel, LogLine, Lookup};
use crate::model::ContactRecord;

/// Longest phone `find-records` looks up; a longer one is no phone number,
/// so it finds nothing.
const MAX_ARGUMENT_BYTES: usize = 256;

/// The imports as every world version has them; each version's trait
/// implementation below only converts its own types.
impl CallState {
    /// Traps with [`DeadlinePassed`] once the call's deadline is behind it.
    fn within_deadline(&self) -> wasmtime::Result<()> {
        if Instant::now() >= self.deadline {
            return Err(wasmtime::Error::new(DeadlinePassed));
        }
        Ok(())
    }

    fn log(&mut self, level: LogLevel, message: String) -> wasmtime::Result<()> {
        self.within_deadline()?;
        if self.logs.len() >= self.limits.max_log_lines {
            return Err(wasmtime::Error::new(LimitExceeded::LogLines {
                limit: self.limits.max_log_lines,
            }));
        }
        self.logs.push(LogLine {
            level,
            message: truncated(&message, MAX_LOG_LINE_BYTES),
        });
        Ok(())
    }

    fn config(&mut self, key: String) -> wasmtime::Result<Option<String>> {
        self.within_deadline()?;
        Ok(self.config.get(&key).cloned())
    }

    /// Looks `phone` up and records the answer; the caller converts the
    /// records it gets back (the last lookup's).
    fn find_records(&mut self, phone: String) -> wasmtime::Result<&[ContactRecord]> {
        self.within_deadline()?;
        if self.lookups.len() >= self.limits.max_lookups {
            return Err(wasmtime::Error::new(LimitExceeded::Lookups {
                limit: self.limits.max_lookups,
            }));
        }
        let (phone, records) = if phone.len() > MAX_ARGUMENT_BYTES {
            (truncated(&phone, MAX_ARGUMENT_BYTES), Vec::new())
        } else {
            let records = self.lookup.find_records(&phone)?;
            (phone, records)
        };
        // A slow lookup counts against the deadline like guest time.
        self.within_deadline()?;
        self.lookups.push(Lookup { phone, records });
        Ok(&self.lookups[self.lookups.len() - 1].records)
    }
}

/// The host interface of one world version, `$v`, on [`CallState`].
macro_rules! host_interface {
    ($v:ident, $convert:ident) => {
        impl $v::wit_types::Host for CallState {}

        impl $v::host_api::Host for CallState {
            fn log(&mut self, level: $v::Level, message: String) -> wasmtime::Result<()> {
                let level = match level {
                    $v::Level::Debug => LogLevel::Debug,
                    $v::Level::Info => LogLevel::Info,
                    $v::Level::Warn => LogLevel::Warn,
                    $v::Level::Error => LogLevel::Error,
                };
                CallState::log(self, level, message)
            }

            fn config(&mut self, key: String) -> wasmtime::Result<Option<String>> {
                CallState::config(self, key)
            }

            fn find_records(
                &mut self,
                phone: String,
            ) -> wasmtime::Result<Vec<$v::wit_types::ContactRecord>> {
                let records = CallState::find_records(self, phone)?;
                Ok(records
                    .iter()
                    .map(convert::$convert::record_to_wit)
                    .collect())
            }
        }
    };
}

host_interface!(v2, current);
host_interface!(v1, first);

/// `text` cut to at most `max` bytes at a character boundary, the cut marked.
pub(crate) fn truncated(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max.saturating_sub(3);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &text[..end])
}

//! The `host` interface: `log`, `config`, `find-records`.
//!
//! Every import is bounded: a plugin can neither make the host allocate
//! without limit nor call it without limit. Going over a count traps with a
//! [`LimitExceeded`] that names the limit; an oversized argument is cut or
//! matches nothing, since the plugin can handle that. Every import first
//! checks the call's wall-clock deadline, and `find-records` again after
//! the lookup, so time in the host counts; a lookup the host could not
//! answer traps the call as the host's fault ([`super::LookupFailed`]).

use super::bindings::{Level, host_api, wit_types};
use super::convert;
use std::time::Instant;

use super::limits::{DeadlinePassed, LimitExceeded, MAX_LOG_LINE_BYTES};
use super::state::CallState;
use super::{LogLevel, LogLine, Lookup};

/// Longest phone `find-records` looks up; a longer one is no phone number,
/// so it finds nothing.
const MAX_ARGUMENT_BYTES: usize = 256;

impl wit_types::Host for CallState {}

impl CallState {
    /// Traps with [`DeadlinePassed`] once the call's deadline is behind it.
    fn within_deadline(&self) -> wasmtime::Result<()> {
        if Instant::now() >= self.deadline {
            return Err(wasmtime::Error::new(DeadlinePassed));
        }
        Ok(())
    }
}

impl host_api::Host for CallState {
    fn log(&mut self, level: Level, message: String) -> wasmtime::Result<()> {
        self.within_deadline()?;
        if self.logs.len() >= self.limits.max_log_lines {
            return Err(wasmtime::Error::new(LimitExceeded::LogLines {
                limit: self.limits.max_log_lines,
            }));
        }
        let level = match level {
            Level::Debug => LogLevel::Debug,
            Level::Info => LogLevel::Info,
            Level::Warn => LogLevel::Warn,
            Level::Error => LogLevel::Error,
        };
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

    fn find_records(&mut self, phone: String) -> wasmtime::Result<Vec<wit_types::ContactRecord>> {
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
        let answer = records.iter().map(convert::record_to_wit).collect();
        self.lookups.push(Lookup { phone, records });
        Ok(answer)
    }
}

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

//! The boundary where SQLite's errors become the store's: nothing above
//! `store/sqlite` sees a `rusqlite` type.
//!
//! Busy and locked databases are transient ([`Error::Unavailable`]); a
//! value SQLite cannot hold (an unsigned number past `i64::MAX`) is the
//! caller's ([`Error::OutOfRange`]); everything else, stored JSON that does
//! not parse and the data directory's IO included, is the back end's own
//! failure ([`Error::Backend`]), with SQLite's text kept as context.

use rusqlite::ErrorCode;

use crate::store::Error;

impl From<rusqlite::Error> for Error {
    fn from(error: rusqlite::Error) -> Self {
        match &error {
            rusqlite::Error::SqliteFailure(failure, _)
                if matches!(
                    failure.code,
                    ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked
                ) =>
            {
                Error::Unavailable {
                    what: format!("database: {error}"),
                }
            }
            rusqlite::Error::ToSqlConversionFailure(cause) => Error::OutOfRange {
                what: format!(
                    "a number in the request is out of range (at most {}): {cause}",
                    i64::MAX
                ),
            },
            _ => Error::Backend {
                what: format!("database: {error}"),
            },
        }
    }
}

impl From<serde_json::Error> for Error {
    fn from(error: serde_json::Error) -> Self {
        Error::Backend {
            what: format!("stored JSON: {error}"),
        }
    }
}

impl From<std::io::Error> for Error {
    fn from(error: std::io::Error) -> Self {
        Error::Backend {
            what: format!("the data directory: {error}"),
        }
    }
}

/// A unique key the change would repeat, as a [`Error::Conflict`] naming
/// `what`; any other error as usual.
pub(super) fn conflict_on_unique(error: rusqlite::Error, what: impl FnOnce() -> String) -> Error {
    match &error {
        rusqlite::Error::SqliteFailure(failure, _)
            if failure.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
                || failure.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE =>
        {
            Error::Conflict { what: what() }
        }
        _ => error.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sqlite::SqliteStore;
    use crate::store::{Records, Tenants};

    /// A u64 id SQLite's signed integers cannot hold is the input's fault,
    /// never a failure of the store.
    #[test]
    fn a_number_sqlite_cannot_hold_is_out_of_range() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).unwrap();
        let tenant = store.create_tenant("t", "s").unwrap().id;
        let error = store
            .record(tenant, crate::model::RecordId(i64::MAX as u64 + 1))
            .unwrap_err();
        assert!(matches!(error, Error::OutOfRange { .. }), "{error:?}");
        assert!(error.to_string().contains("out of range"), "{error}");
    }

    /// A database another connection holds the write lock of answers
    /// `Unavailable` (worth a retry), not a failure of the store.
    #[test]
    fn a_locked_database_is_unavailable() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).unwrap();
        let tenant = store.create_tenant("t", "s").unwrap().id;
        let holder =
            rusqlite::Connection::open(dir.path().join(super::super::DATABASE_FILE)).unwrap();
        holder.execute_batch("BEGIN IMMEDIATE").unwrap();
        store
            .conn()
            .busy_timeout(std::time::Duration::ZERO)
            .unwrap();
        let error = store
            .set_tenant_limits(tenant, &Default::default())
            .unwrap_err();
        assert!(matches!(error, Error::Unavailable { .. }), "{error:?}");
        holder.execute_batch("ROLLBACK").unwrap();
    }

    /// Stored JSON that does not parse is the back end's failure, named.
    #[test]
    fn stored_json_that_does_not_parse_is_a_backend_failure() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).unwrap();
        let tenant = store.create_tenant("t", "s").unwrap().id;
        store
            .conn()
            .execute("UPDATE tenants SET limits = '{' WHERE id = ?1", [tenant.0])
            .unwrap();
        let error = store.tenant_limits(tenant).unwrap_err();
        assert!(matches!(error, Error::Backend { .. }), "{error:?}");
        assert!(error.to_string().contains("stored JSON"), "{error}");
    }
}

//! The boundary where PostgreSQL's errors become the store's: nothing above
//! `store/postgres` sees a `postgres` or `r2d2` type.
//!
//! - A serialization failure, a deadlock, a lock not available, a server
//!   shutting down or refusing connections, a lost connection, and a pool
//!   with no connection free in time are transient: [`Error::Unavailable`]
//!   (the transaction was rolled back; the same call may succeed).
//! - A unique key another row holds is [`Error::Conflict`] (a taken name
//!   or number; callers that expect a race retry on it).
//! - A number PostgreSQL cannot hold is the caller's: [`Error::OutOfRange`].
//! - Anything else is the back end's own failure, [`Error::Backend`], with
//!   PostgreSQL's text kept as context.

use ::postgres::error::SqlState;

use crate::store::Error;

/// SQLSTATEs worth a retry: nothing changed and the same call may succeed.
const TRANSIENT: &[SqlState] = &[
    SqlState::T_R_SERIALIZATION_FAILURE,
    SqlState::T_R_DEADLOCK_DETECTED,
    SqlState::LOCK_NOT_AVAILABLE,
    SqlState::ADMIN_SHUTDOWN,
    SqlState::CRASH_SHUTDOWN,
    SqlState::CANNOT_CONNECT_NOW,
    SqlState::TOO_MANY_CONNECTIONS,
];

impl From<::postgres::Error> for Error {
    fn from(error: ::postgres::Error) -> Self {
        match error.code() {
            Some(code) if TRANSIENT.contains(code) => Error::Unavailable {
                what: format!("database: {}", db_message(&error)),
            },
            Some(code) if *code == SqlState::UNIQUE_VIOLATION => Error::Conflict {
                what: format!("database: {}", db_message(&error)),
            },
            Some(code) if *code == SqlState::NUMERIC_VALUE_OUT_OF_RANGE => Error::OutOfRange {
                what: format!("a number in the request is out of range: {error}"),
            },
            None if error.is_closed() || io_error(&error) => Error::Unavailable {
                what: format!("database connection: {error}"),
            },
            _ => Error::Backend {
                what: format!("database: {}", db_message(&error)),
            },
        }
    }
}

impl From<r2d2_postgres::r2d2::Error> for Error {
    fn from(error: r2d2_postgres::r2d2::Error) -> Self {
        Error::Unavailable {
            what: format!("no database connection: {error}"),
        }
    }
}

/// The server's own message and detail when there is one (the `Display`
/// of a server error is only "db error").
fn db_message(error: &::postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => match db.detail() {
            Some(detail) => format!("{}: {detail}", db.message()),
            None => db.message().to_owned(),
        },
        None => error.to_string(),
    }
}

/// Whether the error came from the connection's socket.
fn io_error(error: &::postgres::Error) -> bool {
    std::error::Error::source(error).is_some_and(|source| source.is::<std::io::Error>())
}

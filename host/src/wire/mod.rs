//! The JSON shapes that cross the wire, declared once for both sides: the
//! API serves them, and the CLI client (`smstrigger plugin …`) and the
//! remote executor (`actions::remote`) parse them.
//!
//! Types only: no handler, no client, no I/O. A field renamed here changes
//! the API, the CLI and the remote client together, which is the point.
//! Serialized field order is the order the API has always answered in (the
//! `/v2` envelopes are alphabetical, as `serde_json::json!` wrote them).
//!
//! - [`ErrorBody`]: every `/v1` error answer.
//! - [`plugins`]: uploads, activation, dry runs and replays.
//! - [`v2`]: the contact-center record API's envelopes and time format.

pub mod plugins;
pub mod v2;

use serde::{Deserialize, Serialize};

/// The body of every `/v1` error answer: `{"error": {"code", "message"}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// What went wrong: a stable code to branch on and a message for a person.
/// Also a dry run's plugin failure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable, snake_case: `bad_request`, `invalid`, `not_found`,
    /// `unauthorized`, `conflict`, `quota_exceeded`, `overloaded`, or a
    /// runtime error code such as `compile_failed`.
    #[schema(example = "not_found")]
    pub code: String,
    /// What to change, in words.
    #[schema(example = "plugin reply not found")]
    pub message: String,
}

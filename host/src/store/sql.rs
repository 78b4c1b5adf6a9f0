//! SQL both back ends share: the same tables and columns, spelled the same
//! in SQLite and PostgreSQL.

/// The columns a decision row is read from (its back end's
/// `decision_from_row`), of the decisions table under `alias` (with its
/// dot, or empty); a config stored once is read back from
/// `binding_configs`.
pub(crate) fn decision_columns(alias: &str) -> String {
    format!(
        "{alias}plugin, {alias}version, {alias}priority, {alias}outcome, {alias}error_code,
         {alias}error, {alias}fuel_used, {alias}duration_us, {alias}logs, {alias}verdicts,
         {alias}actions,
         COALESCE((SELECT config FROM binding_configs WHERE sha256 = {alias}config_sha),
                  {alias}config),
         {alias}lookups"
    )
}

/// How many columns [`decision_columns`] lists.
pub(crate) const DECISION_COLUMN_COUNT: usize = 13;

/// The columns a message row is read from (its back end's
/// `message_from_row`), in that order.
pub(crate) const MESSAGE_COLUMNS: &str = "id, message_id, project_id, record_id, event_id, \
    phone, text, sender_id, template_id, plugin, plugin_version, status, created_at, attempts, \
    next_attempt_at, provider_sid, error";

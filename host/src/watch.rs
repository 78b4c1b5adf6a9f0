//! Development only: install and activate a component whenever its file in
//! a watched directory changes (`smstrigger serve --watch DIR`).
//!
//! Polls the directory (no platform file-watching API to depend on); a
//! `NAME.wasm` (underscores read as `-`) becomes plugin `NAME` of the given
//! tenant. A component that does not load is logged and skipped; the
//! active version stays.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::api::AppState;
use crate::model::TenantId;
use crate::runtime::sha256_hex;

/// How often the directory is looked at.
pub const POLL: Duration = Duration::from_millis(500);

/// Watches `dir` until the task is dropped.
pub async fn watch(state: AppState, dir: PathBuf, tenant: TenantId) {
    tracing::info!(dir = %dir.display(), %tenant, "watching for plugin components");
    let mut seen: HashMap<PathBuf, String> = HashMap::new();
    loop {
        let state = state.clone();
        let dir = dir.clone();
        let previous = seen.clone();
        let scanned =
            tokio::task::spawn_blocking(move || scan(&state, &dir, tenant, &previous)).await;
        if let Ok(changed) = scanned {
            seen.extend(changed);
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Installs every component whose bytes changed since `seen`; returns
/// their new hashes.
fn scan(
    state: &AppState,
    dir: &Path,
    tenant: TenantId,
    seen: &HashMap<PathBuf, String>,
) -> HashMap<PathBuf, String> {
    let mut changed = HashMap::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return changed;
    };
    for path in entries.flatten().map(|entry| entry.path()) {
        if path.extension().is_none_or(|ext| ext != "wasm") {
            continue;
        }
        let Ok(bytes) = std::fs::read(&path) else {
            continue;
        };
        let sha256 = sha256_hex(&bytes);
        if seen.get(&path) == Some(&sha256) {
            continue;
        }
        let name = path
            .file_stem()
            .map(|stem| stem.to_string_lossy().replace('_', "-"))
            .unwrap_or_default();
        match install(state, tenant, &name, &bytes, &sha256) {
            Ok(version) => {
                tracing::info!(plugin = %name, version, "installed and activated from the watched directory")
            }
            Err(error) => tracing::warn!(plugin = %name, %error, "not installed"),
        }
        changed.insert(path, sha256);
    }
    changed
}

fn install(
    state: &AppState,
    tenant: TenantId,
    name: &str,
    bytes: &[u8],
    sha256: &str,
) -> anyhow::Result<u32> {
    let plugin = state.runtime.load(bytes)?;
    let version = state
        .store
        .add_plugin_version(tenant, name, sha256, bytes)?;
    state.pipeline.plugins().insert(plugin);
    state.store.activate_plugin(tenant, name, version)?;
    Ok(version)
}

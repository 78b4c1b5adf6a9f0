//! Development only: install and activate a component whenever its file in
//! a watched directory changes (`smstrigger serve --watch DIR`).
//!
//! Polls the directory (no platform file-watching API to depend on); a
//! `NAME.wasm` (underscores read as `-`) becomes plugin `NAME` of the given
//! tenant, installed through `Registry::install` like an upload, with the
//! same checks and quotas. A component refused for good (it does not
//! load, a bad name, a quota) is logged and skipped until its file changes;
//! the active version stays. One refused for now (the upload rate, a
//! compile running) is tried again at the next poll.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::model::TenantId;
use crate::registry::{Error, PluginName, Registry};
use crate::runtime::sha256_hex;

/// How often the directory is looked at.
pub const POLL: Duration = Duration::from_millis(500);

/// Watches `dir` until the task is dropped.
pub async fn watch(registry: Arc<Registry>, dir: PathBuf, tenant: TenantId) {
    tracing::info!(dir = %dir.display(), %tenant, "watching for plugin components");
    let mut seen: HashMap<PathBuf, String> = HashMap::new();
    loop {
        let registry = Arc::clone(&registry);
        let dir = dir.clone();
        let previous = seen.clone();
        let scanned =
            tokio::task::spawn_blocking(move || scan(&registry, &dir, tenant, &previous)).await;
        if let Ok(changed) = scanned {
            seen.extend(changed);
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Installs every component whose bytes changed since `seen`; returns
/// the new hashes of those installed or refused for good.
fn scan(
    registry: &Registry,
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
        let installed = PluginName::new(name.clone())
            .and_then(|name| registry.install(tenant, &name, &bytes, true, &watcher()));
        match installed {
            Ok(uploaded) => {
                tracing::info!(plugin = %name, version = uploaded.version, "installed and activated from the watched directory")
            }
            Err(
                error @ Error::Refused {
                    code: "upload_rate" | "compile_busy",
                    ..
                },
            ) => {
                tracing::info!(plugin = %name, %error, "not installed yet; trying again");
                continue;
            }
            Err(error) => tracing::warn!(plugin = %name, %error, "not installed"),
        }
        changed.insert(path, sha256);
    }
    changed
}

/// Who the audit trail names for a version the watcher installed.
fn watcher() -> crate::model::Actor {
    crate::model::Actor::Host {
        what: "plugin directory watcher".into(),
    }
}

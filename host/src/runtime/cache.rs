//! Compiled components on disk, keyed by the component's SHA-256, so a
//! restart loads machine code instead of recompiling.
//!
//! Loading machine code is only sound for artifacts this host wrote, so the
//! cache lives in the host's own data directory and is written atomically
//! (a temporary file renamed into place). An artifact from another wasmtime
//! version or configuration fails to deserialize and is recompiled.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use wasmtime::Engine;
use wasmtime::component::Component;

use super::error::Error;

/// A directory of `<sha256>.cwasm` files.
#[derive(Debug, Clone)]
pub struct CompileCache {
    dir: PathBuf,
}

impl CompileCache {
    /// Uses `dir`, creating it if needed.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, Error> {
        let dir = dir.into();
        fs::create_dir_all(&dir).map_err(|e| cache_error(&dir, e))?;
        Ok(Self { dir })
    }

    /// The component for `bytes`: loaded from the cache when this host
    /// compiled it before, compiled (and cached) otherwise.
    pub(crate) fn component(
        &self,
        engine: &Engine,
        bytes: &[u8],
        sha256: &str,
    ) -> Result<Component, Error> {
        if let Some(component) = self.cached(engine, sha256) {
            return Ok(component);
        }
        let path = self.path(sha256);
        let component = compile(engine, bytes)?;
        let serialized = component.serialize().map_err(|e| Error::Cache {
            reason: format!("{e:#}"),
        })?;
        let mut temporary =
            tempfile::NamedTempFile::new_in(&self.dir).map_err(|e| cache_error(&self.dir, e))?;
        temporary
            .write_all(&serialized)
            .map_err(|e| cache_error(temporary.path(), e))?;
        temporary
            .persist(&path)
            .map_err(|e| cache_error(&path, e.error))?;
        Ok(component)
    }

    /// The cached component for `sha256`, if this host compiled it before
    /// (with this wasmtime and configuration).
    pub(crate) fn cached(&self, engine: &Engine, sha256: &str) -> Option<Component> {
        let path = self.path(sha256);
        if !path.exists() {
            return None;
        }
        // SAFETY: the file is one this host serialized with
        // `Component::serialize` into its own data directory; wasmtime
        // rejects artifacts from another version or configuration.
        match unsafe { Component::deserialize_file(engine, &path) } {
            Ok(component) => Some(component),
            Err(error) => {
                tracing::warn!(path = %path.display(), %error, "recompiling a stale cached component");
                None
            }
        }
    }

    fn path(&self, sha256: &str) -> PathBuf {
        self.dir.join(format!("{sha256}.cwasm"))
    }
}

/// Compiles `bytes` (a component, never a precompiled artifact).
pub(crate) fn compile(engine: &Engine, bytes: &[u8]) -> Result<Component, Error> {
    Component::new(engine, bytes).map_err(|e| Error::Compile {
        reason: format!("{e:#}"),
    })
}

fn cache_error(path: &Path, error: std::io::Error) -> Error {
    Error::Cache {
        reason: format!("{}: {error}", path.display()),
    }
}

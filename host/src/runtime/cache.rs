//! Compiled components on disk, keyed by the component's SHA-256, so a
//! restart loads machine code instead of recompiling.
//!
//! Loading machine code is only sound for artifacts this host wrote, so the
//! cache lives in the host's own data directory and is written atomically
//! (a temporary file renamed into place). An artifact from another wasmtime
//! version or configuration fails to deserialize and is recompiled.
//!
//! A compile writes nothing: the artifact is kept only once the runtime
//! has checked the component against the world ([`CompileCache::keep`]),
//! so a refused component leaves no file behind. Temporary files a crashed
//! process left are removed when the cache opens.
//!
//! The cache is where a runtime with a data directory gets its machine
//! code, so it also says how compiles run: in this process, or in a
//! limited worker process ([`CompileCache::with_worker`], see
//! [`super::compile`]).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use wasmtime::Engine;
use wasmtime::component::Component;

use super::compile::{self, CompileWorker};
use super::error::Error;

/// The prefix of the temporary files an artifact is written through.
const TEMPORARY_PREFIX: &str = ".tmp";

/// A directory of `<sha256>.cwasm` files.
#[derive(Debug, Clone)]
pub struct CompileCache {
    dir: PathBuf,
    worker: Option<CompileWorker>,
}

/// A freshly compiled component and its serialized artifact, not yet on
/// disk.
pub(crate) struct Compiled {
    pub(crate) component: Component,
    artifact: Vec<u8>,
}

impl CompileCache {
    /// Uses `dir`, creating it if needed; compiles run in this process
    /// until [`with_worker`](Self::with_worker).
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, Error> {
        let dir = dir.into();
        fs::create_dir_all(&dir).map_err(|e| cache_error(&dir, e))?;
        remove_temporaries(&dir);
        Ok(Self { dir, worker: None })
    }

    /// Compiles in a worker process under `worker`'s CPU and wall-clock
    /// limits; a compile over either is refused with `compile_limit`.
    pub fn with_worker(mut self, worker: CompileWorker) -> Self {
        self.worker = Some(worker);
        self
    }

    /// Compiles `bytes` (in the worker when there is one); writes nothing.
    pub(crate) fn compile(&self, engine: &Engine, bytes: &[u8]) -> Result<Compiled, Error> {
        let artifact = match &self.worker {
            Some(worker) => compile::artifact_in_worker(worker, bytes)?,
            None => compile::artifact_in_process(engine, bytes)?,
        };
        // SAFETY: the artifact was serialized just now by this host's own
        // code, in this process or in its own executable's compile worker;
        // wasmtime rejects one from another version or configuration.
        let component =
            unsafe { Component::deserialize(engine, &artifact) }.map_err(|e| Error::Compile {
                reason: format!("the compiled artifact does not load: {e:#}"),
            })?;
        Ok(Compiled {
            component,
            artifact,
        })
    }

    /// Writes `compiled` as the artifact of `sha256`, atomically.
    pub(crate) fn keep(&self, sha256: &str, compiled: &Compiled) -> Result<(), Error> {
        let path = self.path(sha256);
        let mut temporary = tempfile::Builder::new()
            .prefix(TEMPORARY_PREFIX)
            .tempfile_in(&self.dir)
            .map_err(|e| cache_error(&self.dir, e))?;
        temporary
            .write_all(&compiled.artifact)
            .map_err(|e| cache_error(temporary.path(), e))?;
        temporary
            .persist(&path)
            .map_err(|e| cache_error(&path, e.error))?;
        Ok(())
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

    /// Deletes `sha256`'s artifact, if there is one.
    pub(crate) fn remove(&self, sha256: &str) {
        if let Err(error) = fs::remove_file(self.path(sha256))
            && error.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(sha256, %error, "could not delete a compiled component");
        }
    }

    /// Whether an artifact for `sha256` is on disk (it may still turn out
    /// stale, and be recompiled, when it is loaded).
    pub(crate) fn contains(&self, sha256: &str) -> bool {
        self.path(sha256).exists()
    }

    fn path(&self, sha256: &str) -> PathBuf {
        self.dir.join(format!("{sha256}.cwasm"))
    }
}

/// Removes temporary files a crashed process left in `dir`; best effort.
fn remove_temporaries(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if entry
            .file_name()
            .to_string_lossy()
            .starts_with(TEMPORARY_PREFIX)
        {
            fs::remove_file(entry.path()).ok();
        }
    }
}

fn cache_error(path: &Path, error: std::io::Error) -> Error {
    Error::Cache {
        reason: format!("{}: {error}", path.display()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opening_removes_the_temporaries_a_crash_left_and_keeps_artifacts() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(".tmpAbC123"), b"half an artifact").unwrap();
        fs::write(dir.path().join("ab12.cwasm"), b"an artifact").unwrap();
        CompileCache::open(dir.path()).unwrap();
        let left: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .map(|entry| entry.file_name())
            .collect();
        assert_eq!(left, ["ab12.cwasm"]);
    }
}

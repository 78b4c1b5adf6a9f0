//! [`RemoteClient`]: the one HTTP client every remote call of the process
//! goes through, built from the operator's `[remote]` configuration.
//!
//! - TLS is rustls (reqwest's, with aws-lc-rs); server certificates are
//!   checked against the system's roots plus the operator's
//!   `remote.ca_file`.
//! - Redirects are never followed: a `302` to another host or port is the
//!   remote's answer, not a second request.
//! - No proxy: a proxy would resolve names itself, past our resolver.
//! - Every host name is resolved by [`GuardedResolver`], which drops each
//!   address [`UrlPolicy::check_ip`] refuses and fails with
//!   [`AddressRefused`] when none is left: the connect-time check, against
//!   DNS that answered differently when the URL was set. reqwest does not
//!   resolve an IP-literal host, so the executor checks the whole URL with
//!   [`UrlPolicy::check`] before each call as well.
//!
//! The client itself is built on first use, on the calling thread:
//! reqwest's blocking client must not be built inside an async runtime,
//! and the server's state is built inside one. Everything that can be
//! wrong in the configuration (the CA file) is read and checked when the
//! [`RemoteClient`] is made, at start-up.

use std::io;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use reqwest::Certificate;
use reqwest::blocking::Client;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use super::call::RetryPolicy;
use super::policy::UrlPolicy;
use crate::config::RemoteConfig;

/// Why the remote client cannot be made from the configuration.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("remote.ca_file {path}: {source}")]
    CaUnreadable { path: PathBuf, source: io::Error },
    #[error("remote.ca_file {path} holds no PEM certificate ({reason})")]
    CaNotPem { path: PathBuf, reason: String },
}

/// Why a connection was not attempted: every address the host name
/// resolved to is refused by the [`UrlPolicy`]. The remote call sees it
/// as the source of its transport error.
#[derive(Debug, thiserror::Error)]
#[error("{host} resolves only to addresses the host may not call")]
pub struct AddressRefused {
    pub host: String,
}

/// Resolves a host name to addresses (the system's resolver by default;
/// tests map names to loopback addresses with their own).
pub type Lookup = Arc<dyn Fn(&str) -> io::Result<Vec<IpAddr>> + Send + Sync>;

/// The system resolver (`getaddrinfo`).
pub fn system_lookup() -> Lookup {
    Arc::new(|host: &str| Ok((host, 0).to_socket_addrs()?.map(|a| a.ip()).collect()))
}

/// The process's remote HTTP client and the rules it enforces.
pub struct RemoteClient {
    policy: UrlPolicy,
    roots: Vec<Certificate>,
    lookup: Lookup,
    client: OnceLock<Result<Client, String>>,
}

impl RemoteClient {
    /// A client with `policy`, the system's roots and resolver.
    pub fn new(policy: UrlPolicy) -> Self {
        Self {
            policy,
            roots: Vec::new(),
            lookup: system_lookup(),
            client: OnceLock::new(),
        }
    }

    /// The client the operator's `[remote]` section describes; the CA file
    /// is read now, and an unreadable or empty one is an error naming it.
    pub fn from_config(config: &RemoteConfig) -> Result<Self, ClientError> {
        let mut client = Self::new(config.url_policy());
        if let Some(path) = &config.ca_file {
            client.roots = read_roots(path)?;
        }
        Ok(client)
    }

    /// Trusts `roots` besides the system's (e.g. a test's own CA).
    pub fn with_roots(mut self, roots: Vec<Certificate>) -> Self {
        self.roots = roots;
        self
    }

    /// Resolves names with `lookup` instead of the system's resolver; the
    /// answers are still filtered by the policy.
    pub fn with_lookup(mut self, lookup: Lookup) -> Self {
        self.lookup = lookup;
        self
    }

    /// The rules every URL and address is checked against.
    pub fn policy(&self) -> &UrlPolicy {
        &self.policy
    }

    /// The shared client, built on first use with `retry`'s timeouts; the
    /// error says why it could not be built (a TLS setup failure).
    pub(crate) fn get(&self, retry: &RetryPolicy) -> Result<&Client, String> {
        self.client
            .get_or_init(|| {
                Client::builder()
                    .connect_timeout(retry.connect_timeout)
                    .timeout(retry.request_timeout)
                    .redirect(reqwest::redirect::Policy::none())
                    .no_proxy()
                    .https_only(!self.policy.allow_http)
                    .tls_certs_merge(self.roots.iter().cloned())
                    .dns_resolver(Arc::new(GuardedResolver {
                        policy: self.policy.clone(),
                        lookup: Arc::clone(&self.lookup),
                    }))
                    .build()
                    .map_err(|e| format!("{e:#}"))
            })
            .as_ref()
            .map_err(Clone::clone)
    }
}

/// Reads every certificate of a PEM file.
fn read_roots(path: &Path) -> Result<Vec<Certificate>, ClientError> {
    let pem = std::fs::read(path).map_err(|source| ClientError::CaUnreadable {
        path: path.to_path_buf(),
        source,
    })?;
    let roots = Certificate::from_pem_bundle(&pem).map_err(|e| ClientError::CaNotPem {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    if roots.is_empty() {
        return Err(ClientError::CaNotPem {
            path: path.to_path_buf(),
            reason: "no CERTIFICATE block".into(),
        });
    }
    Ok(roots)
}

/// Resolves with a [`Lookup`] and keeps only the addresses the policy
/// allows; see the module docs.
struct GuardedResolver {
    policy: UrlPolicy,
    lookup: Lookup,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_string();
        let policy = self.policy.clone();
        let lookup = Arc::clone(&self.lookup);
        Box::pin(async move {
            let looked_up = host.clone();
            let found = tokio::task::spawn_blocking(move || lookup(&looked_up)).await??;
            let (allowed, refused): (Vec<IpAddr>, Vec<IpAddr>) = found
                .into_iter()
                .partition(|address| policy.check_ip(*address).is_ok());
            if !refused.is_empty() {
                tracing::warn!(%host, ?refused, "remote host resolved to refused addresses");
            }
            if allowed.is_empty() && !refused.is_empty() {
                return Err(Box::new(AddressRefused { host }) as _);
            }
            let addrs: Addrs = Box::new(allowed.into_iter().map(|ip| SocketAddr::new(ip, 0)));
            Ok(addrs)
        })
    }
}

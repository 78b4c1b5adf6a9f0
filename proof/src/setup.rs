//! Setting a server up over HTTP the way a customer would: tenants, each
//! with a project, records with distinct phones, and `reply-call-time`
//! uploaded, activated and bound.

use anyhow::{Context, Result};
use serde_json::{Value, json};

use crate::api::{Api, TenantKeys};
use crate::requests::record_phone;

/// The plugin every scenario binds.
pub const PLUGIN: &str = "reply-call-time";

/// The `reply-call-time` component, as the workspace builds it.
pub fn plugin_component() -> Result<Vec<u8>> {
    let path = smstrigger_test_components::REPLY_CALL_TIME;
    std::fs::read(path).with_context(|| {
        format!("reading the reply-call-time component {path} (rebuild smstrigger-proof)")
    })
}

/// A tenant ready for events.
#[derive(Debug, Clone)]
pub struct Tenant {
    pub keys: TenantKeys,
    pub project: u64,
    /// Its records' phones, in E.164, one record each.
    pub phones: Vec<String>,
}

/// A tenant named `name` with one project, one record per phone and the
/// plugin uploaded, activated and bound with `config`.
pub fn tenant(
    api: &Api,
    name: &str,
    phones: Vec<String>,
    component: &[u8],
    config: Value,
) -> Result<Tenant> {
    let keys = api.create_tenant(name)?;
    let project = api.create_project(&keys, &format!("{name}-collections"))?;
    api.import_records(&keys, project, &phones)?;
    api.upload_plugin(&keys, PLUGIN, component)?;
    api.bind(&keys, project, PLUGIN, config)?;
    Ok(Tenant {
        keys,
        project,
        phones,
    })
}

/// `records` distinct record phones.
pub fn phones(records: usize) -> Vec<String> {
    (0..records).map(record_phone).collect()
}

/// `count` small tenants (one record each), set up by `workers` threads;
/// each binding carries its own harmless config key (`tenant_tag`).
pub fn many_tenants(
    api: &Api,
    count: usize,
    component: &[u8],
    workers: usize,
) -> Result<Vec<Tenant>> {
    let workers = workers.clamp(1, count.max(1));
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|w| {
                scope.spawn(move || -> Result<Vec<(usize, Tenant)>> {
                    (w..count)
                        .step_by(workers)
                        .map(|i| {
                            let config = json!({ "tenant_tag": format!("t{i}") });
                            let made = tenant(
                                api,
                                &format!("neighbour-{i}"),
                                vec![record_phone(i)],
                                component,
                                config,
                            )
                            .with_context(|| format!("setting up tenant {i} of {count}"))?;
                            Ok((i, made))
                        })
                        .collect()
                })
            })
            .collect();
        let mut all = Vec::with_capacity(count);
        for handle in handles {
            all.extend(handle.join().expect("a set-up thread panicked")?);
        }
        all.sort_by_key(|(i, _)| *i);
        Ok(all.into_iter().map(|(_, tenant)| tenant).collect())
    })
}

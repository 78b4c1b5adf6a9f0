//! A blocking client of the server's HTTP API: the operator's calls
//! (tenants), a tenant's calls (projects, records, plugins, bindings) and
//! signed webhooks. Every non-2xx answer is an error naming the call.

use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use reqwest::blocking::{Client, RequestBuilder};
use serde_json::{Value, json};

use crate::requests::sign;
use crate::server::OPERATOR_KEY;

/// The path of the inbound-SMS webhook.
pub const INBOUND_PATH: &str = "/v1/webhooks/sms/inbound";
/// The header carrying the webhook body's HMAC.
pub const SIGNATURE_HEADER: &str = "X-Smstrigger-Signature";

/// A tenant's credentials, as `POST /v1/tenants` returns them.
#[derive(Debug, Clone)]
pub struct TenantKeys {
    pub id: u64,
    pub api_key: String,
    pub webhook_secret: String,
}

/// The API of one server.
#[derive(Clone)]
pub struct Api {
    pub(crate) client: Client,
    pub url: String,
}

impl Api {
    pub fn new(url: &str) -> Result<Self> {
        Self::with_timeout(url, Duration::from_secs(120))
    }

    /// A client whose requests time out after `timeout` (connecting after
    /// one second: a server that is down answers at once on loopback).
    pub fn with_timeout(url: &str, timeout: Duration) -> Result<Self> {
        let client = Client::builder()
            .timeout(timeout)
            .connect_timeout(Duration::from_secs(1))
            .build()
            .context("building the HTTP client")?;
        Ok(Self {
            client,
            url: url.trim_end_matches('/').to_string(),
        })
    }

    pub(crate) fn send(&self, what: &str, request: RequestBuilder) -> Result<Value> {
        let response = request
            .send()
            .with_context(|| format!("{what}: no answer from {}", self.url))?;
        let status = response.status();
        let text = response.text().unwrap_or_default();
        if !status.is_success() {
            bail!("{what}: {status} {text}");
        }
        serde_json::from_str(&text)
            .with_context(|| format!("{what}: the answer is not JSON: {text}"))
    }

    /// `POST /v1/tenants` with the operator key.
    pub fn create_tenant(&self, name: &str) -> Result<TenantKeys> {
        let created = self.send(
            "creating a tenant",
            self.client
                .post(format!("{}/v1/tenants", self.url))
                .bearer_auth(OPERATOR_KEY)
                .json(&json!({ "name": name })),
        )?;
        let field = |name: &str| {
            created[name]
                .as_str()
                .map(str::to_string)
                .ok_or_else(|| anyhow!("the new tenant has no {name}: {created}"))
        };
        Ok(TenantKeys {
            id: created["id"]
                .as_u64()
                .ok_or_else(|| anyhow!("the new tenant has no id: {created}"))?,
            api_key: field("apiKey")?,
            webhook_secret: field("webhookSecret")?,
        })
    }

    /// A project in Europe/Budapest, Hungarian phones, calling hours
    /// 08:00–20:00 (callbacks outside them are shifted), and no cap on
    /// contact attempts: a load sends each record far more receipts than
    /// a week's seven calls, and every one must execute.
    pub fn create_project(&self, tenant: &TenantKeys, name: &str) -> Result<u64> {
        let project = self.send(
            "creating a project",
            self.client
                .post(format!("{}/v1/projects", self.url))
                .bearer_auth(&tenant.api_key)
                .json(&json!({
                    "name": name,
                    "timeZone": crate::requests::ZONE,
                    "defaultCountry": "HU",
                    "callingHours": { "start": "08:00", "end": "20:00" },
                    "contactRules": null,
                })),
        )?;
        project["id"]
            .as_u64()
            .ok_or_else(|| anyhow!("the new project has no id: {project}"))
    }

    /// Imports one record per phone (JSON lines, at most 10,000 a call);
    /// returns their ids in order.
    pub fn import_records(
        &self,
        tenant: &TenantKeys,
        project: u64,
        phones: &[String],
    ) -> Result<Vec<u64>> {
        let mut ids = Vec::with_capacity(phones.len());
        for chunk in phones.chunks(10_000) {
            let lines: String = chunk
                .iter()
                .map(|phone| format!("{}\n", json!({ "phone": phone })))
                .collect();
            let imported = self.send(
                "importing records",
                self.client
                    .post(format!("{}/v1/projects/{project}/records/import", self.url))
                    .bearer_auth(&tenant.api_key)
                    .header("content-type", "application/x-ndjson")
                    .body(lines),
            )?;
            let chunk_ids = imported["ids"]
                .as_array()
                .ok_or_else(|| anyhow!("the import answered no ids: {imported}"))?;
            ids.extend(chunk_ids.iter().filter_map(Value::as_u64));
        }
        if ids.len() != phones.len() {
            bail!("imported {} records of {}", ids.len(), phones.len());
        }
        Ok(ids)
    }

    /// Uploads (and activates) a version of plugin `name`; returns it.
    pub fn upload_plugin(&self, tenant: &TenantKeys, name: &str, component: &[u8]) -> Result<u64> {
        let uploaded = self.send(
            "uploading a plugin",
            self.client
                .put(format!("{}/v1/plugins/{name}", self.url))
                .bearer_auth(&tenant.api_key)
                .header("content-type", "application/wasm")
                .body(component.to_vec()),
        )?;
        if uploaded["active"] != json!(true) {
            bail!("the uploaded plugin is not active: {uploaded}");
        }
        uploaded["version"]
            .as_u64()
            .ok_or_else(|| anyhow!("the upload answered no version: {uploaded}"))
    }

    /// Binds `plugin` alone to `project` with `config`.
    pub fn bind(
        &self,
        tenant: &TenantKeys,
        project: u64,
        plugin: &str,
        config: Value,
    ) -> Result<()> {
        self.send(
            "binding a plugin",
            self.client
                .put(format!("{}/v1/projects/{project}/bindings", self.url))
                .bearer_auth(&tenant.api_key)
                .json(&json!([{ "plugin": plugin, "priority": 10, "config": config }])),
        )?;
        Ok(())
    }

    /// Posts a signed inbound webhook; returns the event id it was
    /// journaled as, failing unless it was newly accepted.
    pub fn send_inbound(&self, secret: &str, body: &str) -> Result<u64> {
        let ack = self.send(
            "sending an inbound webhook",
            self.client
                .post(format!("{}{INBOUND_PATH}", self.url))
                .header("content-type", "application/json")
                .header(SIGNATURE_HEADER, sign(secret, body))
                .body(body.to_string()),
        )?;
        if ack["status"] != json!("accepted") {
            bail!("the webhook was not accepted as new: {ack}");
        }
        ack["eventId"]
            .as_u64()
            .ok_or_else(|| anyhow!("the webhook answered no eventId: {ack}"))
    }
}

//! The runtime on real plugins compiled to wasm32-wasip2 components.
//!
//! One test binary, a module per area; all tests share one [`Runtime`] (one
//! engine, one pool), as the service does.

mod examples;
mod host_faults;
mod hostile;
mod imports;
mod javascript;
mod sandbox;
mod wasi_calls;
mod worlds;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock};

use smstrigger_host::model::{
    ContactRecord, DeliveryStatus, InboundSms, OutboundStatus, ProjectId, RecordId, SmsEvent,
    Timestamp,
};
use smstrigger_host::runtime::{Call, Limits, Outcome, Plugin, Runtime, StaticRecords};

pub const BUDAPEST: &str = "Europe/Budapest";

/// The one runtime every test uses.
pub fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| Runtime::new(None).expect("the engine starts"))
}

/// Loads the component at `path` (one of `smstrigger_test_components`),
/// compiling each component once for the whole test binary, as the service
/// compiles each plugin version once.
pub fn load(path: &str) -> Plugin {
    static LOADED: Mutex<BTreeMap<String, Plugin>> = Mutex::new(BTreeMap::new());
    let mut loaded = LOADED.lock().unwrap_or_else(|poison| poison.into_inner());
    let plugin = loaded.entry(path.to_string()).or_insert_with(|| {
        let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
        runtime().load(&bytes).expect("the component loads")
    });
    plugin.clone()
}

/// Runs `plugin` on `event` with `config` and the default limits.
pub fn invoke(plugin: &Plugin, event: &SmsEvent, config: &[(&str, &str)]) -> Outcome {
    invoke_with(plugin, event, config, Limits::default(), vec![])
}

/// Runs `plugin` with every input spelled out.
pub fn invoke_with(
    plugin: &Plugin,
    event: &SmsEvent,
    config: &[(&str, &str)],
    limits: Limits,
    records: Vec<ContactRecord>,
) -> Outcome {
    let config: BTreeMap<String, String> = config
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    runtime().invoke(
        plugin,
        Call {
            event,
            config: Arc::new(config),
            lookup: Arc::new(StaticRecords(records)),
            limits,
        },
    )
}

/// A record in project 1, Budapest.
pub fn record(id: u64, phone: &str) -> ContactRecord {
    record_in(id, phone, BUDAPEST)
}

pub fn record_in(id: u64, phone: &str, zone: &str) -> ContactRecord {
    ContactRecord {
        id: RecordId(id),
        project_id: ProjectId(1),
        phone: phone.into(),
        time_zone: zone.into(),
        fields: vec![],
        last_disposition: None,
    }
}

pub fn outbound(contact: &ContactRecord, status: DeliveryStatus, at: Timestamp) -> SmsEvent {
    SmsEvent::Outbound(OutboundStatus {
        message_id: format!("out-{}-{at}", contact.id),
        project_id: contact.project_id,
        contact: contact.clone(),
        status,
        template_id: None,
        timestamp: at,
    })
}

pub fn inbound(matches: &[&ContactRecord], phone: &str, message: &str, at: Timestamp) -> SmsEvent {
    SmsEvent::Inbound(InboundSms {
        message_id: format!("in-{phone}-{at}"),
        project_id: ProjectId(1),
        source_phone_number: phone.into(),
        message: message.into(),
        timestamp: at,
        matches: matches.iter().map(|&record| record.clone()).collect(),
        last_outbound: None,
    })
}

/// The instant of `YYYY-MM-DD hh:mm` local time in `zone`.
pub fn local_in(datetime: &str, zone: &str) -> Timestamp {
    use chrono::TimeZone;
    let naive = chrono::NaiveDateTime::parse_from_str(datetime, "%Y-%m-%d %H:%M").unwrap();
    let tz: chrono_tz::Tz = zone.parse().unwrap();
    tz.from_local_datetime(&naive)
        .earliest()
        .unwrap()
        .timestamp()
}

pub fn local(datetime: &str) -> Timestamp {
    local_in(datetime, BUDAPEST)
}

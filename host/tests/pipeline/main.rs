//! The durable pipeline on a real store, with real plugins compiled to
//! components: journal → plugins → validation → execution.
//!
//! One test binary, a module per area; every test gets its own store (a
//! SQLite data directory, or a PostgreSQL schema: see [`Place`] and
//! [`pg`]), and all share one runtime whose compile cache makes each
//! component compile once. A test that holds for any back end is written
//! once, taking its [`Place`], and listed in [`on_both!`].

/// Makes each listed test `NAME(Place)` one test per back end:
/// `sqlite::NAME` and `postgres::NAME` (which passes without running when
/// PostgreSQL cannot be reached and is not required, as [`pg`] says).
macro_rules! on_both {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[test]
                fn $name() {
                    super::$name(crate::Place::sqlite());
                }
            )*
        }
        mod postgres {
            $(
                #[test]
                fn $name() {
                    if let Some(place) = crate::Place::postgres() {
                        super::$name(place);
                    }
                }
            )*
        }
    };
}

mod boundaries;
mod crash;
mod crash_postgres;
mod delivery;
mod host_faults;
mod hosts;
mod ingest;
mod past_callbacks;
mod scenarios;

use smstrigger_test_pg as pg;

use std::sync::{Arc, OnceLock};

use smstrigger_host::actions::CallingHoursPolicy;
use smstrigger_host::actions::calling_hours::CallingHours;
use smstrigger_host::actions::{EmbeddedExecutor, Executor};
use smstrigger_host::config::Clock;
use smstrigger_host::model::{DeliveryStatus, EventId, ProjectId, RecordId, TenantId, Timestamp};
use smstrigger_host::pipeline::{Acceptance, Incoming, Pipeline, PipelineConfig};
use smstrigger_host::runtime::{CompileCache, Runtime};
use smstrigger_host::secrets::SecretsKey;
use smstrigger_host::store::{
    Binding, DispositionDef, EventView, Journaled, NewRecord, PgStore, Project, ProjectSettings,
    RecordEvent, SqliteStore, Store, StoredRecord,
};
pub use smstrigger_host::store::{Journal, Plugins, Records, Tenants};

pub const BUDAPEST: &str = "Europe/Budapest";

/// The one runtime every test uses, with an on-disk compile cache.
pub fn runtime() -> Arc<Runtime> {
    static RUNTIME: OnceLock<Arc<Runtime>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("compile-cache");
            let cache = CompileCache::open(dir).expect("the cache directory");
            Arc::new(Runtime::new(Some(cache)).expect("the engine starts"))
        })
        .clone()
}

/// Where a fixture's store lives, for as long as the fixture does.
pub enum Place {
    /// A SQLite data directory.
    Sqlite(tempfile::TempDir),
    /// A PostgreSQL schema of its own (boxed: its connection settings are
    /// large), and the key its secrets are sealed with.
    Postgres(Box<pg::Schema>, SecretsKey),
}

impl Place {
    pub fn sqlite() -> Self {
        Self::Sqlite(tempfile::tempdir().unwrap())
    }

    /// A fresh schema; `None` when PostgreSQL cannot be reached and is not
    /// required.
    pub fn postgres() -> Option<Self> {
        Some(Self::Postgres(
            Box::new(pg::Schema::fresh()?),
            SecretsKey::generate(),
        ))
    }

    /// A store handle on this place (on PostgreSQL, another host).
    pub fn open(&self) -> Arc<dyn Store> {
        match self {
            Self::Sqlite(dir) => Arc::new(SqliteStore::open(dir.path()).unwrap()),
            Self::Postgres(schema, key) => {
                Arc::new(PgStore::open_config(schema.config.clone(), key.clone()).unwrap())
            }
        }
    }
}

/// A store with one tenant and one project (Europe/Budapest, calling
/// hours 08:00–20:00, shift), and a pipeline over it.
pub struct Fixture {
    pub store: Arc<dyn Store>,
    pub pipeline: Arc<Pipeline>,
    pub tenant: TenantId,
    pub project: Project,
    /// Dropped last, after every handle on it.
    pub place: Place,
}

/// A plugin binding as tests write it: (plugin, priority, config pairs).
pub type BindingSpec<'a> = (&'a str, i32, &'a [(&'a str, &'a str)]);

impl Fixture {
    /// A fixture on `place` whose project shifts callbacks into calling
    /// hours.
    pub fn on(place: Place) -> Self {
        Self::with_policy(place, CallingHoursPolicy::Shift)
    }

    pub fn with_policy(place: Place, policy: CallingHoursPolicy) -> Self {
        Self::build(place, settings(policy), runtime())
    }

    /// A fixture whose project has `settings`.
    pub fn with_settings(place: Place, settings: ProjectSettings) -> Self {
        Self::build(place, settings, runtime())
    }

    /// A fixture whose pipeline runs plugins on `runtime`.
    pub fn with_runtime(place: Place, runtime: Arc<Runtime>) -> Self {
        Self::build(place, settings(CallingHoursPolicy::Shift), runtime)
    }

    fn build(place: Place, settings: ProjectSettings, runtime: Arc<Runtime>) -> Self {
        let store = place.open();
        let tenant = store.create_tenant("acme", "secret").unwrap().id;
        let project = store.create_project(tenant, &settings).unwrap();
        let paid = DispositionDef {
            id: 41,
            name: "Promised to pay".into(),
            active: false,
            system: false,
        };
        store.upsert_disposition(tenant, project.id, &paid).unwrap();
        let pipeline = pipeline_on(&store, runtime);
        Self {
            store,
            pipeline,
            tenant,
            project,
            place,
        }
    }

    /// Installs and activates the component at `path` as `name`.
    pub fn install(&self, tenant: TenantId, name: &str, path: &str) -> u32 {
        install(self.store.as_ref(), tenant, name, path)
    }

    /// Binds plugins to the fixture's project.
    pub fn bind(&self, bindings: &[BindingSpec<'_>]) {
        let bindings: Vec<Binding> = bindings
            .iter()
            .map(|(plugin, priority, config)| Binding {
                plugin: plugin.to_string(),
                priority: *priority,
                config: config
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            })
            .collect();
        self.store
            .set_bindings(self.tenant, self.project.id, &bindings)
            .unwrap();
    }

    /// A record in the fixture's project; `phone` in any spelling.
    pub fn record(&self, phone: &str) -> StoredRecord {
        create_record(self.store.as_ref(), self.tenant, self.project.id, phone)
    }

    /// A delivery receipt for `record` at 2026-12-01 10:00, processed.
    pub fn delivered(&self, record: RecordId) -> EventId {
        let at = local("2026-12-01 10:00");
        let id = accepted(self.status(record, "m-1", DeliveryStatus::Delivered, at));
        self.drain();
        id
    }

    pub fn status(
        &self,
        record: RecordId,
        message_id: &str,
        status: DeliveryStatus,
        at: Timestamp,
    ) -> Journaled {
        self.pipeline
            .accept(
                self.tenant,
                Incoming::Status {
                    message_id: message_id.into(),
                    project_id: self.project.id,
                    record_id: record,
                    status,
                    template_id: None,
                    timestamp: at,
                },
            )
            .unwrap()
    }

    pub fn inbound(&self, phone: &str, message: &str, at: Timestamp) -> Journaled {
        self.pipeline
            .accept(self.tenant, inbound(self.project.id, phone, message, at))
            .unwrap()
    }

    pub fn drain(&self) {
        self.pipeline.drain().unwrap();
    }

    pub fn events_of(&self, record: RecordId) -> Vec<RecordEvent> {
        self.store.record_events(self.tenant, record).unwrap()
    }

    pub fn event(&self, id: EventId) -> EventView {
        self.store.event(self.tenant, id).unwrap()
    }

    /// The verdicts of every decision of an event, flattened.
    pub fn verdicts(&self, id: EventId) -> Vec<serde_json::Value> {
        self.event(id)
            .decisions
            .iter()
            .flat_map(|d| d.verdicts.as_array().cloned().unwrap_or_default())
            .collect()
    }
}

pub fn settings(policy: CallingHoursPolicy) -> ProjectSettings {
    ProjectSettings {
        name: "collections".into(),
        time_zone: BUDAPEST.into(),
        default_country: "HU".into(),
        calling_hours: Some(CallingHours::parse("08:00", "20:00").unwrap()),
        calling_hours_policy: policy,
        horizon_days: 90,
        max_actions_per_event: 16,
        past_callback_policy: Default::default(),
        sms_rules: Default::default(),
        contact_rules: Default::default(),
    }
}

/// A record of `tenant` in `project`; `phone` in any spelling (the store
/// keeps E.164, as the record API normalizes it).
pub fn create_record(
    store: &dyn Store,
    tenant: TenantId,
    project: ProjectId,
    phone: &str,
) -> StoredRecord {
    let phone = smstrigger_host::phone::to_e164(phone, "HU").unwrap();
    let record = NewRecord {
        project_id: project,
        phone,
        time_zone: None,
        fields: vec![],
    };
    store.create_record(tenant, &record).unwrap()
}

/// The executors' clock in these tests: 2025-12-01 00:00 UTC, before every
/// callback the tests' fixed-date events set, so what executes does not
/// depend on the day the tests run. The tests of the execution-time check
/// pin their own clock.
pub const EXECUTION_CLOCK: Timestamp = 1_764_547_200;

pub fn pipeline_on(store: &Arc<dyn Store>, runtime: Arc<Runtime>) -> Arc<Pipeline> {
    pipeline_at(store, runtime, Clock::pinned(EXECUTION_CLOCK))
}

/// A pipeline whose executor reads `clock`.
pub fn pipeline_at(store: &Arc<dyn Store>, runtime: Arc<Runtime>, clock: Clock) -> Arc<Pipeline> {
    let store = Arc::clone(store);
    let executor = Arc::new(EmbeddedExecutor::with_clock(Arc::clone(&store), clock));
    Pipeline::new(store, runtime, executor, fixed_dates())
}

/// The pipeline's configuration in these tests: their events carry fixed
/// dates, so no acceptance window (the window is tested with the webhooks
/// and `smstrigger ingest`, which use the server's).
pub fn fixed_dates() -> PipelineConfig {
    PipelineConfig {
        acceptance: Acceptance::Any,
        ..PipelineConfig::default()
    }
}

pub fn install(store: &dyn Store, tenant: TenantId, name: &str, path: &str) -> u32 {
    let bytes = std::fs::read(path).unwrap();
    let sha = smstrigger_host::runtime::sha256_hex(&bytes);
    let version = store
        .add_plugin_version(tenant, name, &sha, &bytes)
        .unwrap();
    store.activate_plugin(tenant, name, version).unwrap();
    version
}

pub fn inbound(project: ProjectId, phone: &str, message: &str, at: Timestamp) -> Incoming {
    Incoming::Inbound {
        message_id: None,
        project_id: project,
        source_phone_number: phone.into(),
        message: message.into(),
        timestamp: at,
    }
}

/// The instant of `YYYY-MM-DD hh:mm` in Budapest.
pub fn local(datetime: &str) -> Timestamp {
    use chrono::TimeZone;
    let naive = chrono::NaiveDateTime::parse_from_str(datetime, "%Y-%m-%d %H:%M").unwrap();
    let tz: chrono_tz::Tz = BUDAPEST.parse().unwrap();
    tz.from_local_datetime(&naive)
        .earliest()
        .unwrap()
        .timestamp()
}

pub fn accepted(journaled: Journaled) -> EventId {
    match journaled {
        Journaled::Accepted(id) => id,
        other => panic!("expected the event to be accepted, got {other:?}"),
    }
}

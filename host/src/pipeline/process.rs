//! One journaled event → the decisions of its project's plugins and the
//! record changes validation accepts. Reads the store, writes nothing: the
//! executor commits the result.

use std::sync::Arc;

use super::Incoming;
use crate::actions::{Proposal, judge};
use crate::metrics::Metrics;
use crate::model::{
    Action, CallDisposition, DecisionOutcome, InboundSms, OutboundStatus, RecordId, SentSms,
    SmsEvent, TenantId,
};
use crate::phone;
use crate::registry::{Registry, StoreLookup, VersionRef};
use crate::runtime::{self, Call, RecordLookup};
use crate::store::{
    self, ContactAttempt, ContactKind, DecisionRecord, MessageFilter, MessageStatus, MessageWrite,
    PendingEvent, ProcessedEvent, Project, RecordWrite, Store,
};

/// The name decisions use for the host's own opt-out rule.
pub const OPT_OUT_DECIDER: &str = "host:opt-out";

/// The name decisions use for the host's own re-subscription rule.
pub const OPT_IN_DECIDER: &str = "host:opt-in";
/// The decision (and the sender of the answer) of a `HELP` the host answered.
pub const HELP_DECIDER: &str = "host:help";
/// The template ids of the host's own answers.
pub const HELP_TEMPLATE: &str = "help";
pub const OPT_OUT_TEMPLATE: &str = "opt-out-confirmation";

/// Why an event could not be decided now; either way it stays pending and
/// is tried again, since neither says anything about its plugins.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error(transparent)]
    Store(#[from] store::Error),
    #[error("plugin {plugin} v{version} could not run for a reason of the host's: {error}")]
    Host {
        plugin: String,
        version: u32,
        error: runtime::Error,
    },
    #[error("stored JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// A bug of the host's met on this event (or group): contained so the
    /// pipeline goes on, and the events are tried again later.
    #[error("the host panicked: {0}")]
    Panicked(String),
}

impl ProcessError {
    /// The error for a caught panic's payload.
    pub(crate) fn panicked(payload: Box<dyn std::any::Any + Send>) -> Self {
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic without a message".into());
        ProcessError::Panicked(message)
    }
}

/// Processes one pending event.
///
/// A plugin that fails for its own reasons (a trap, a limit, its error) is
/// decided as failed; one that could not run for the host's (no instance
/// free, a lookup or a load that failed, see
/// [`runtime::Error::is_host_fault`]) fails the whole event with
/// [`ProcessError::Host`], so it is retried instead of decided on a
/// partial view.
pub(crate) fn process(
    store: &Arc<dyn Store>,
    registry: &Registry,
    metrics: &Metrics,
    pending: &PendingEvent,
    processed_at: i64,
) -> Result<ProcessedEvent, ProcessError> {
    let tenant = pending.tenant_id;
    let incoming: Incoming = serde_json::from_str(&pending.input)?;
    let project = store.project(tenant, pending.project_id)?;
    let limits = registry.limits(tenant)?;
    let event = resolve(store.as_ref(), tenant, &project, incoming)?;
    let mut decisions = Vec::new();

    // Opting out and back in are the host's rules and come before any
    // plugin: an opt-out lists the sender before any action is judged; a
    // re-subscription takes effect for the next event, so nothing this
    // message makes a plugin ask reaches the phone yet.
    let (mut opted_out, mut opted_in) = (None, None);
    let host_rule = match &event {
        SmsEvent::Inbound(sms)
            if phone::is_opt_out(&sms.message, &store.opt_out_keywords(tenant)?) =>
        {
            Some((
                OPT_OUT_DECIDER,
                DecisionOutcome::OptedOut,
                &mut opted_out,
                sms,
            ))
        }
        SmsEvent::Inbound(sms) if phone::is_opt_in(&sms.message) => {
            Some((OPT_IN_DECIDER, DecisionOutcome::OptedIn, &mut opted_in, sms))
        }
        _ => None,
    };
    if let Some((decider, outcome, phone, sms)) = host_rule {
        decisions.push(DecisionRecord::host(decider, outcome, None));
        *phone = Some(sms.source_phone_number.clone());
    }
    let mut messages = host_replies(
        store.as_ref(),
        tenant,
        &project,
        &event,
        opted_out.is_some(),
    )?;
    if messages.iter().any(|m| m.plugin == HELP_DECIDER) {
        decisions.push(DecisionRecord::host(
            HELP_DECIDER,
            DecisionOutcome::HelpAnswered,
            None,
        ));
    }

    let lookup: Arc<dyn RecordLookup> = Arc::new(StoreLookup::new(store, tenant, &project));
    let mut runs = Vec::new();
    for binding in store.active_bindings(tenant, project.id)? {
        let (Some(version), Some(sha256)) = (binding.version, &binding.sha256) else {
            continue; // bound but never activated
        };
        let target = VersionRef {
            name: binding.binding.plugin.clone(),
            version,
            sha256: sha256.clone(),
        };
        let call = Call {
            event: &event,
            config: Arc::new(binding.binding.config.clone()),
            lookup: Arc::clone(&lookup),
            limits,
        };
        let outcome = registry
            .run_live(tenant, &target, call, metrics)
            .map_err(|error| ProcessError::Host {
                plugin: target.name.clone(),
                version,
                error,
            })?;
        // Not asked (its world has no such event): no decision of its own.
        if let Some(outcome) = outcome {
            runs.push((binding, outcome));
        }
    }

    // Validate every plugin's actions together: priority conflicts and the
    // per-event limit span plugins.
    let mut proposals = Vec::new();
    let plugin_cpu = runs.iter().map(|(_, outcome)| outcome.cpu).sum();
    for (binding, outcome) in &runs {
        for action in outcome.result.as_deref().unwrap_or_default() {
            proposals.push(Proposal {
                plugin: binding.binding.plugin.clone(),
                priority: binding.binding.priority,
                action: action.clone(),
            });
        }
    }
    let verdicts = judge(
        store.as_ref(),
        tenant,
        &project,
        &event,
        &proposals,
        opted_out.as_deref(),
        true,
    )?;

    let mut verdicts = verdicts.into_iter();
    let mut writes = Vec::new();
    for (binding, outcome) in runs {
        let count = outcome.result.as_ref().map_or(0, Vec::len);
        let mine: Vec<_> = verdicts.by_ref().take(count).collect();
        for verdict in mine.iter().filter(|v| v.accepted) {
            let set = match &verdict.action {
                Action::SetDisposition(set) => set,
                Action::SendSms(sms) => {
                    messages.push(MessageWrite {
                        project_id: project.id,
                        record_id: Some(sms.record_id),
                        phone: phone_of(store.as_ref(), tenant, &event, sms.record_id)?,
                        text: sms.text.clone(),
                        sender_id: sms.sender_id.clone(),
                        template_id: sms.template_id.clone(),
                        plugin: binding.binding.plugin.clone(),
                        plugin_version: binding.version,
                        status: match verdict.send_at {
                            Some(_) => MessageStatus::Queued,
                            None => MessageStatus::Sent,
                        },
                        send_at: verdict.send_at,
                    });
                    continue;
                }
            };
            writes.push(RecordWrite {
                record_id: set.record_id,
                disposition_id: set.disposition.id(),
                next_calldate: set.disposition.next_calldate(),
                plugin: binding.binding.plugin.clone(),
                plugin_version: binding.version,
                note: set.note.clone(),
            });
        }
        let (result, error_code, error) = match &outcome.result {
            Ok(_) => (DecisionOutcome::Ok, None, None),
            Err(e) => (
                DecisionOutcome::Failed,
                Some(e.code().to_string()),
                Some(e.to_string()),
            ),
        };
        decisions.push(DecisionRecord {
            plugin: binding.binding.plugin,
            version: binding.version,
            priority: binding.binding.priority,
            outcome: result,
            error_code,
            error,
            fuel_used: outcome.fuel_used,
            duration_us: outcome.elapsed.as_micros() as u64,
            logs: serde_json::to_value(&outcome.logs)?,
            verdicts: serde_json::to_value(&mine)?,
            actions: serde_json::to_value(outcome.result.as_deref().unwrap_or_default())?,
            config: serde_json::to_value(&binding.binding.config)?,
            lookups: serde_json::to_value(&outcome.lookups)?,
        });
    }

    // Counted while the project's contact rule is on.
    let contacts = match project.settings.contact_rules {
        Some(_) => contact_attempts(&event, &writes),
        None => Vec::new(),
    };
    Ok(ProcessedEvent {
        event_id: pending.id,
        tenant_id: tenant,
        resolved: serde_json::to_string(&event)?,
        decisions,
        writes,
        outbox: Vec::new(),
        messages,
        contacts,
        opted_out,
        opted_in,
        processed_at,
        plugin_cpu,
    })
}

/// The contact attempts an event makes, counted at its time (as the cap
/// counts them when it judges): the call a call disposition reports, and
/// each callback its accepted actions schedule.
fn contact_attempts(event: &SmsEvent, writes: &[RecordWrite]) -> Vec<ContactAttempt> {
    let at = event.timestamp();
    let call = match event {
        SmsEvent::CallDisposition(call) => Some(ContactAttempt {
            record_id: call.contact.id,
            kind: ContactKind::Call,
            at,
        }),
        _ => None,
    };
    let callbacks = writes
        .iter()
        .filter(|write| write.next_calldate.is_some())
        .map(|write| ContactAttempt {
            record_id: write.record_id,
            kind: ContactKind::Callback,
            at,
        });
    call.into_iter().chain(callbacks).collect()
}

/// The SMS the host itself answers an inbound message with, from the
/// project's SMS rules: its help text to `HELP`, and its confirmation to an
/// opt-out (`opting_out`) of a phone not listed already (one confirmation
/// per opt-out, none to a phone already out). Sent to the sender's phone,
/// on its record when the project has one (else on none: a stranger is
/// answered too). Sent at once, whatever the hours, the day's count or the
/// list: the sender just wrote.
fn host_replies(
    store: &dyn Store,
    tenant: TenantId,
    project: &Project,
    event: &SmsEvent,
    opting_out: bool,
) -> Result<Vec<MessageWrite>, ProcessError> {
    let SmsEvent::Inbound(sms) = event else {
        return Ok(Vec::new());
    };
    let rules = &project.settings.sms_rules;
    let phone = &sms.source_phone_number;
    let reply = if opting_out {
        let listed = !store
            .do_not_contact(tenant, std::slice::from_ref(phone))?
            .is_empty();
        rules
            .opt_out_confirmation
            .as_ref()
            .filter(|_| !listed)
            .map(|text| (OPT_OUT_DECIDER, OPT_OUT_TEMPLATE, text))
    } else if phone::is_help(&sms.message) {
        rules
            .help_text
            .as_ref()
            .map(|text| (HELP_DECIDER, HELP_TEMPLATE, text))
    } else {
        None
    };
    let Some((decider, template, text)) = reply else {
        return Ok(Vec::new());
    };
    Ok(vec![MessageWrite {
        project_id: project.id,
        record_id: event.contacts().first().map(|record| record.id),
        phone: phone.clone(),
        text: text.clone(),
        sender_id: None,
        template_id: Some(template.into()),
        plugin: decider.into(),
        plugin_version: None,
        status: MessageStatus::Sent,
        send_at: None,
    }])
}

/// The last SMS the project sent to `phone`: what a reply from it answers.
/// Events about one phone are decided one at a time in journal order, so
/// an SMS a later event sends to it is not sent yet.
fn last_sent(
    store: &dyn Store,
    tenant: TenantId,
    project: crate::model::ProjectId,
    phone: &str,
) -> Result<Option<SentSms>, store::Error> {
    let filter = MessageFilter {
        project,
        record: None,
        phone: Some(phone),
        after: 0,
        newest_first: true,
        limit: 1,
    };
    let sent = store.messages(tenant, &filter)?;
    Ok(sent.into_iter().next().map(|message| SentSms {
        message_id: message.message_id,
        template_id: message.template_id,
        timestamp: message.created_at,
    }))
}

/// The phone of `record` (validation found it in the tenant's project):
/// from the event when it carries the record, else from the store.
fn phone_of(
    store: &dyn Store,
    tenant: TenantId,
    event: &SmsEvent,
    record: RecordId,
) -> Result<String, store::Error> {
    match event.contacts().iter().find(|contact| contact.id == record) {
        Some(contact) => Ok(contact.phone.clone()),
        None => Ok(store.record(tenant, record)?.phone),
    }
}

/// The event as plugins see it: the receipt's or the call's record, or the
/// records matching the sender, as they are now.
fn resolve(
    store: &dyn Store,
    tenant: TenantId,
    project: &Project,
    incoming: Incoming,
) -> Result<SmsEvent, store::Error> {
    let zone = &project.settings.time_zone;
    Ok(match incoming {
        Incoming::Status {
            message_id,
            project_id,
            record_id,
            status,
            template_id,
            timestamp,
        } => SmsEvent::Outbound(OutboundStatus {
            message_id,
            project_id,
            contact: store.record(tenant, record_id)?.to_contact(zone),
            status,
            template_id,
            timestamp,
        }),
        Incoming::Inbound {
            message_id,
            project_id,
            source_phone_number,
            message,
            timestamp,
        } => SmsEvent::Inbound(InboundSms {
            matches: store
                .records_by_phone(tenant, project_id, &source_phone_number)?
                .iter()
                .map(|record| record.to_contact(zone))
                .collect(),
            last_outbound: last_sent(store, tenant, project_id, &source_phone_number)?,
            message_id: message_id.unwrap_or_default(),
            project_id,
            source_phone_number,
            message,
            timestamp,
        }),
        Incoming::CallDisposition {
            call_id,
            project_id,
            phone: _,
            record_id,
            disposition,
            direction,
            attempts,
            first_attempt,
            agent,
            timestamp,
        } => {
            // Journaling found the record; an entry without one is not ours.
            let record_id = record_id.ok_or_else(|| store::Error::Backend {
                what: format!("call {call_id} was journaled without its record"),
            })?;
            SmsEvent::CallDisposition(CallDisposition {
                contact: store.record(tenant, record_id)?.to_contact(zone),
                call_id,
                project_id,
                disposition,
                direction,
                attempts,
                first_attempt,
                agent,
                timestamp,
            })
        }
    })
}

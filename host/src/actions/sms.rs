//! The SMS outbox: messages a tenant's decisions send through its SMS
//! provider, handed over after the commit that decided them.
//!
//! A tenant whose `smsSender` is a provider (the Twilio Messages API:
//! `POST {baseUrl}/2010-04-01/Accounts/{accountSid}/Messages.json`, form
//! fields `To`, `From`, `Body`, `StatusCallback`, HTTP Basic with the
//! account id and auth token) gets its messages committed `queued` with
//! their decision ([`TenantRouter`](super::TenantRouter)); this module's
//! workers (one per tenant at a time, [`super::workers`]) send them:
//! - **exactly once**: a message is queued in the transaction that decides
//!   its event, and every attempt carries the same `Idempotency-Key` (the
//!   message id, `sms-{event}-{record}-{plugin}`), so an attempt repeated
//!   after an unclear answer, a crash or another host taking over the
//!   lease ([`SmsOutbox::claim_messages`]) is one message at the provider;
//! - **retried, never dropped**: a 5xx, a 429 or a transport failure is
//!   retried with backoff ([`OutboxPolicy`]) until the budget runs out
//!   (`failed`, `provider_unavailable`); any other 4xx is the provider's
//!   considered refusal (`failed`, `provider_refused` with its status and
//!   numeric error code, never its text);
//! - **the tenant's URL is checked** before each attempt by the same rules
//!   as a remote executor's ([`UrlPolicy`](super::remote::policy::UrlPolicy)),
//!   through the same client (TLS, no redirects, addresses checked at
//!   connect time);
//! - the provider's message id is kept; its status callbacks then advance
//!   the message (`api::twilio`) and become this product's delivery events.
//!
//! The outbox also sends the messages of any tenant that wait for a later
//! time (an SMS moved into its project's SMS hours): when due, through the
//! provider, or recorded sent by the embedded sender.

use std::io::Read;
use std::sync::Arc;

use serde_json::Value;

use super::remote::RetryPolicy;
use super::remote::client::RemoteClient;
use super::validate::{Placement, record_zone, within_sms_hours};
use super::workers::{Breakers, Channel, OutboxPolicy, Workers};
use crate::config::Clock;
use crate::model::{TenantId, Timestamp};
use crate::store::{MessageSettlement, MessageStatus, SentMessage, SmsSenderSettings, Store};

/// The plugin name the host's own answers are sent under (`host:help`,
/// `host:opt-out`).
const HOST_SENDER_PREFIX: &str = "host:";

/// Messages one worker claims per pass: few enough that sending them all
/// at the client's worst (2 s to connect, 5 s to answer) ends within the
/// lease.
const BATCH: usize = 8;

/// How long a claim keeps other workers off a message: longer than a
/// batch's attempts can take, so only a dead worker's messages are taken
/// over.
const LEASE_SECS: u32 = 60;

/// The error a provider that could not be reached (or answered 5xx/429)
/// leaves on the message.
pub const PROVIDER_UNAVAILABLE: &str = "provider_unavailable";
/// The error a provider's refusal (another 4xx) leaves on the message.
pub const PROVIDER_REFUSED: &str = "provider_refused";

/// The SMS outbox: its workers stop when it is dropped.
pub type SmsOutbox = Workers<ProviderSends>;

/// Starts the SMS outbox's dispatcher; `clock` is the host's now for the
/// last check before a send (retries are scheduled on the system clock).
pub fn start(
    store: Arc<dyn Store>,
    sender: SmsSender,
    policy: OutboxPolicy,
    clock: Clock,
) -> SmsOutbox {
    Workers::start(
        ProviderSends {
            store,
            sender,
            policy,
            clock,
        },
        policy,
    )
}

/// How messages reach providers: the HTTP client, and the root of the
/// status callbacks' URLs.
pub struct SmsSender {
    client: RemoteClient,
    timeouts: RetryPolicy,
    /// `https://host[:port]` providers call back at (`Config::public_root`).
    callback_root: String,
}

impl SmsSender {
    pub fn new(client: RemoteClient, callback_root: String) -> Self {
        Self {
            client,
            timeouts: RetryPolicy::default(),
            callback_root,
        }
    }

    /// One attempt at handing `message` to the provider `settings` names.
    fn send(&self, settings: &SmsSenderSettings, tenant: TenantId, message: &SentMessage) -> Sent {
        let SmsSenderSettings::Twilio {
            base_url,
            account_sid,
            auth_token,
            from,
        } = settings
        else {
            // The embedded sender: a message that waited for the project's
            // SMS hours (or for a provider the tenant no longer has) is
            // recorded sent now.
            return Sent::Taken(None);
        };
        let url = format!(
            "{}/2010-04-01/Accounts/{account_sid}/Messages.json",
            base_url.trim_end_matches('/')
        );
        if let Err(error) = self.client.policy().check(&url) {
            tracing::warn!(%tenant, %error, "an SMS provider URL is refused");
            return Sent::Unavailable("provider_refused_address".into());
        }
        let client = match self.client.get(&self.timeouts) {
            Ok(client) => client,
            Err(error) => {
                tracing::error!(%error, "the HTTP client could not be built");
                return Sent::Unavailable(PROVIDER_UNAVAILABLE.into());
            }
        };
        let callback = status_callback(&self.callback_root, tenant, &message.message_id);
        let from = message.sender_id.as_deref().unwrap_or(from);
        let answer = client
            .post(&url)
            .basic_auth(account_sid, Some(auth_token))
            .header("Idempotency-Key", &message.message_id)
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(
                url::form_urlencoded::Serializer::new(String::new())
                    .append_pair("To", &message.phone)
                    .append_pair("From", from)
                    .append_pair("Body", &message.text)
                    .append_pair("StatusCallback", &callback)
                    .finish(),
            )
            .send();
        let response = match answer {
            Ok(response) => response,
            Err(error) => {
                tracing::info!(%tenant, message = %message.message_id, error = %error,
                    "the SMS provider could not be reached");
                return Sent::Unavailable(PROVIDER_UNAVAILABLE.into());
            }
        };
        let status = response.status();
        let mut raw = Vec::new();
        let read = response
            .take(super::remote::MAX_ANSWER_BYTES)
            .read_to_end(&mut raw);
        let body: Value = read
            .ok()
            .and_then(|_| serde_json::from_slice(&raw).ok())
            .unwrap_or(Value::Null);
        if status.is_success() {
            return match body["sid"].as_str() {
                Some(sid) if !sid.is_empty() && sid.len() <= 64 => {
                    Sent::Taken(Some(sid.to_string()))
                }
                _ => Sent::Unavailable(format!(
                    "{PROVIDER_UNAVAILABLE}: a {} answer without a message sid",
                    status.as_u16()
                )),
            };
        }
        if status.is_server_error() || status.as_u16() == 429 {
            return Sent::Unavailable(format!("{PROVIDER_UNAVAILABLE}: HTTP {}", status.as_u16()));
        }
        // The provider's own text is not shown: only its status and code.
        let code = body["code"]
            .as_u64()
            .map(|code| format!(", code {code}"))
            .unwrap_or_default();
        Sent::Refused(format!(
            "{PROVIDER_REFUSED}: HTTP {}{code}",
            status.as_u16()
        ))
    }
}

/// The URL a provider posts `message_id`'s statuses to.
pub fn status_callback(root: &str, tenant: TenantId, message_id: &str) -> String {
    format!("{root}/v1/webhooks/twilio/{tenant}/status?messageId={message_id}")
}

/// What one attempt came to.
enum Sent {
    /// The provider took it, under this id (none: the embedded sender).
    Taken(Option<String>),
    /// Worth another attempt (and a failure for the breaker).
    Unavailable(String),
    /// Never worth another attempt.
    Refused(String),
}

/// Tenants' queued messages, sent through their providers.
pub struct ProviderSends {
    store: Arc<dyn Store>,
    sender: SmsSender,
    policy: OutboxPolicy,
    clock: Clock,
}

impl Channel for ProviderSends {
    const NAME: &'static str = "sms";

    fn due_tenants(&self, now: Timestamp) -> crate::store::Result<Vec<TenantId>> {
        self.store.sms_due_tenants(now)
    }

    fn deliver(&self, tenant: TenantId, breakers: &Breakers) {
        while breakers.may_call(tenant) {
            let now = chrono::Utc::now().timestamp();
            let claimed = match self.store.claim_messages(tenant, now, LEASE_SECS, BATCH) {
                Ok(claimed) if claimed.is_empty() => return,
                Ok(claimed) => claimed,
                Err(error) => {
                    tracing::error!(%tenant, %error, "claiming queued SMS failed");
                    return;
                }
            };
            let mut waits = false;
            for message in &claimed {
                // A message left unsent here keeps its lease and is taken
                // up again when the lease runs out.
                if !breakers.may_call(tenant) {
                    return;
                }
                match self.attempt(tenant, message, breakers) {
                    Ok(status) => waits |= status == MessageStatus::Queued,
                    Err(error) => {
                        tracing::error!(%tenant, message = %message.message_id, %error,
                            "settling an SMS failed");
                        return;
                    }
                }
            }
            if waits {
                return; // what waits is looked at again at the next poll
            }
        }
    }
}

impl ProviderSends {
    /// The last check before a send, on what may have changed since the
    /// decision: a phone that opted out meanwhile gets nothing (`failed`,
    /// `do_not_contact`); a plugin's SMS whose time has drifted out of the
    /// project's SMS hours (a backlog, retries) waits for them again or is
    /// refused (`outside_sms_hours`), as the project says. The host's own
    /// answers (help, the opt-out confirmation) go out regardless.
    fn held(
        &self,
        tenant: TenantId,
        message: &SentMessage,
    ) -> crate::store::Result<Option<MessageSettlement>> {
        if message.plugin.starts_with(HOST_SENDER_PREFIX) {
            return Ok(None);
        }
        let failed = |error: String| MessageSettlement {
            status: MessageStatus::Failed,
            attempts: message.attempts,
            next_attempt_at: None,
            provider_sid: None,
            error: Some(error),
        };
        let listed = self
            .store
            .do_not_contact(tenant, std::slice::from_ref(&message.phone))?;
        if !listed.is_empty() {
            return Ok(Some(failed(
                "do_not_contact: the phone opted out before the SMS went out".into(),
            )));
        }
        let rules = self.store.project(tenant, message.project_id)?.rules();
        let zone = match message.record_id.map(|id| self.store.record(tenant, id)) {
            Some(Ok(record)) => record.time_zone,
            None | Some(Err(crate::store::Error::NotFound { .. })) => None,
            Some(Err(other)) => return Err(other),
        };
        let zone = record_zone(zone.as_deref(), &rules);
        Ok(match within_sms_hours(&rules, zone, self.clock.now()) {
            Placement::Kept => None,
            Placement::Refused { detail } => Some(failed(format!("outside_sms_hours: {detail}"))),
            Placement::Shifted { to, .. } => Some(MessageSettlement {
                status: MessageStatus::Queued,
                attempts: message.attempts,
                next_attempt_at: Some(to),
                provider_sid: None,
                error: None,
            }),
        })
    }

    /// One attempt at `message`, settled; its status then.
    fn attempt(
        &self,
        tenant: TenantId,
        message: &SentMessage,
        breakers: &Breakers,
    ) -> crate::store::Result<MessageStatus> {
        if let Some(held) = self.held(tenant, message)? {
            tracing::info!(%tenant, message = %message.message_id, status = held.status.as_str(),
                error = held.error.as_deref().unwrap_or(""), "SMS held back before sending");
            self.store.settle_message(tenant, message.id, &held)?;
            return Ok(held.status);
        }
        let settings = self.store.tenant(tenant)?.sms_sender;
        let sent = self.sender.send(&settings, tenant, message);
        let now = chrono::Utc::now().timestamp();
        let attempts = message.attempts.saturating_add(1);
        let settlement = match sent {
            Sent::Taken(sid) => {
                breakers.record(tenant, true);
                MessageSettlement {
                    status: MessageStatus::Sent,
                    attempts,
                    next_attempt_at: None,
                    provider_sid: sid,
                    error: None,
                }
            }
            Sent::Refused(error) => MessageSettlement {
                status: MessageStatus::Failed,
                attempts,
                next_attempt_at: None,
                provider_sid: None,
                error: Some(error),
            },
            Sent::Unavailable(error) => {
                breakers.record(tenant, false);
                let given_up = self.policy.given_up(message.created_at, now);
                MessageSettlement {
                    status: match given_up {
                        true => MessageStatus::Failed,
                        false => MessageStatus::Queued,
                    },
                    attempts,
                    next_attempt_at: (!given_up)
                        .then(|| now + self.policy.backoff(attempts).as_secs().max(1) as i64),
                    provider_sid: None,
                    error: Some(error),
                }
            }
        };
        tracing::info!(%tenant, message = %message.message_id, status = settlement.status.as_str(),
            attempts, error = settlement.error.as_deref().unwrap_or(""), "SMS to the provider");
        self.store.settle_message(tenant, message.id, &settlement)?;
        Ok(settlement.status)
    }
}

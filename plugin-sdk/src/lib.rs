//! Write smstrigger trigger plugins in Rust.
//!
//! A plugin is a type implementing [`Trigger`], exported with
//! [`export_trigger!`] from a `cdylib` crate built for `wasm32-wasip2`:
//!
//! ```
//! use smstrigger_sdk::{Action, DeliveryStatus, Event, Trigger, config_or, export_trigger};
//!
//! struct CallBackWhenNotTraceable;
//!
//! impl Trigger for CallBackWhenNotTraceable {
//!     fn on_event(event: Event) -> Result<Vec<Action>, String> {
//!         let Event::Outbound(status) = event else { return Ok(vec![]) };
//!         if status.status != DeliveryStatus::NotTraceable {
//!             return Ok(vec![]);
//!         }
//!         let delay: i64 = config_or("delay_minutes", 60)?;
//!         Ok(vec![Action::shared_callback(status.contact.id, status.timestamp + delay * 60)])
//!     }
//! }
//!
//! export_trigger!(CallBackWhenNotTraceable);
//! ```
//!
//! The SDK targets world `smstrigger:plugin@0.2.0`. What a plugin sees:
//! - the event and action types of the WIT world, with a few constructors
//!   ([`Action::shared_callback`], [`Action::send_sms`], …) and accessors
//!   ([`Event::timestamp`], …);
//! - the host calls [`log`], [`config`] (and [`config_or`]) and
//!   [`find_records`];
//! - [`time`]: finding dates in free text and turning a local time in a
//!   record's zone into a timestamp, with DST gaps and folds handled;
//! - [`text`]: keyword matching the way customers type;
//! - [`template`]: `{field}` templates for SMS texts;
//! - [`testing`]: run a rule natively with plain `cargo test`, with stubbed
//!   configuration and record lookups.
//!
//! The generated bindings live in the hidden [`wit`] module; nothing in a
//! plugin needs to name them.
//!
//! # Moving a plugin from world 0.1.0
//! Components built with an SDK for 0.1.0 keep running unchanged: rebuild
//! only to use what 0.2.0 adds. Rebuilt with this SDK:
//! - the event type is [`Event`] (`SmsEvent` is a deprecated alias), and it
//!   has a third case, [`Event::CallDisposition`]: a `match` over every
//!   case needs an arm for it (`let Event::Inbound(sms) = event else { … }`
//!   needs nothing);
//! - [`Action`] is a variant, [`Action::SetDisposition`] or
//!   [`Action::SendSms`]: the constructors are unchanged; read a
//!   disposition's fields by matching, or with [`Action::record_id`],
//!   [`Action::next_calldate`] and [`Action::note`];
//! - [`InboundSms`] has `last_outbound`, the last SMS the project sent to
//!   the sender, to answer only replies to a campaign's template.

mod host;
mod model;
pub mod template;
pub mod testing;
pub mod text;
pub mod time;

pub use host::{config, config_or, find_records, log};
pub use model::*;

/// The bindings generated from `wit/`, the only copy of the contract.
#[doc(hidden)]
pub mod wit {
    wit_bindgen::generate!({
        path: "../wit",
        world: "trigger",
        pub_export_macro: true,
        default_bindings_module: "smstrigger_sdk::wit",
        additional_derives: [PartialEq],
    });
}

/// Exports a [`Trigger`] implementation as the plugin's `on-event` function.
///
/// Use it once, at the root of the plugin's `cdylib` crate.
#[macro_export]
macro_rules! export_trigger {
    ($ty:ident) => {
        $crate::wit::export!($ty with_types_in $crate::wit);
    };
}

//! Write smstrigger trigger plugins in Rust.
//!
//! A plugin is a type implementing [`Trigger`], exported with
//! [`export_trigger!`] from a `cdylib` crate built for `wasm32-wasip2`:
//!
//! ```
//! use smstrigger_sdk::{Action, DeliveryStatus, SmsEvent, Trigger, config_or, export_trigger};
//!
//! struct CallBackWhenNotTraceable;
//!
//! impl Trigger for CallBackWhenNotTraceable {
//!     fn on_event(event: SmsEvent) -> Result<Vec<Action>, String> {
//!         let SmsEvent::Outbound(status) = event else { return Ok(vec![]) };
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
//! What a plugin sees:
//! - the event and action types of the `smstrigger:plugin` WIT world, with
//!   a few constructors ([`Action::shared_callback`], …) and accessors
//!   ([`SmsEvent::timestamp`], …);
//! - the host calls [`log`], [`config`] (and [`config_or`]) and
//!   [`find_records`];
//! - [`time`]: finding dates in free text and turning a local time in a
//!   record's zone into a timestamp, with DST gaps and folds handled;
//! - [`text`]: keyword matching the way customers type;
//! - [`testing`]: run a rule natively with plain `cargo test`, with stubbed
//!   configuration and record lookups.
//!
//! The generated bindings live in the hidden [`wit`] module; nothing in a
//! plugin needs to name them.

mod host;
mod model;
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

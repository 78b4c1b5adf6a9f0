//! Hearing of other hosts' settings changes: a connection of its own that
//! LISTENs on the channel the settings triggers notify (see the settings
//! generation migration in [`super::schema`]).
//!
//! Only hastens what the poll of the generation does anyway: a
//! notification sent while this connection is down is lost, and a
//! connection that died silently (a network gone quiet) hears nothing
//! until the server or the kernel says it is closed. The connection is
//! made on the first wait, not at open, so a store nobody watches holds
//! none.

use std::sync::Mutex;
use std::time::Duration;

use ::postgres::fallible_iterator::FallibleIterator;
use ::postgres::{Client, Config, NoTls};

use super::{CONNECT_TIMEOUT, Result};

/// The channel the settings triggers notify.
const CHANNEL: &str = "smstrigger_settings";

/// What the listening connection calls itself, so an operator can tell
/// it from the pool's.
pub(crate) const APPLICATION_NAME: &str = "smstrigger settings listener";

/// The listening connection, (re)made when needed.
pub(super) struct Listener {
    config: Config,
    client: Mutex<Option<Client>>,
}

impl Listener {
    /// A listener for the database `config` connects to (not connected
    /// yet), named [`APPLICATION_NAME`] in `pg_stat_activity`.
    pub(super) fn new(mut config: Config) -> Self {
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        config.application_name(APPLICATION_NAME);
        Self {
            config,
            client: Mutex::new(None),
        }
    }

    /// Waits up to `timeout` for a notification on the channel, connecting
    /// (and LISTENing) first when there is no live connection. A failed
    /// connection still takes `timeout`, so a caller that loops on this
    /// polls at its pace, and the next call tries again.
    pub(super) fn wait(&self, timeout: Duration) -> Result<()> {
        let mut client = self.client.lock().unwrap_or_else(|p| p.into_inner());
        let live = match client.take().filter(|live| !live.is_closed()) {
            Some(live) => live,
            None => match self.connect() {
                Ok(live) => live,
                Err(error) => {
                    drop(client);
                    std::thread::sleep(timeout);
                    return Err(error);
                }
            },
        };
        let heard = {
            let mut notifications = client.insert(live).notifications();
            let heard = notifications.timeout_iter(timeout).next();
            if let Ok(Some(_)) = heard {
                // One poll answers every notification already here; an
                // error shows at the next wait.
                while let Ok(Some(_)) = notifications.iter().next() {}
            }
            heard
        };
        if let Err(error) = heard {
            *client = None; // lost: the next wait connects again
            return Err(error.into());
        }
        Ok(())
    }

    fn connect(&self) -> Result<Client> {
        let mut client = self.config.connect(NoTls)?;
        client.batch_execute(&format!("LISTEN {CHANNEL}"))?;
        Ok(client)
    }
}

//! What the host checks before it executes an action, and the executors
//! that carry actions out.

pub mod calling_hours;
pub mod execution_time;
pub mod executor;
mod judge;
pub mod outbox;
pub mod remote;
pub mod router;
pub mod segments;
pub mod sms;
pub mod validate;
pub mod workers;

pub use executor::{EmbeddedExecutor, Executor};
pub use judge::judge;
pub use remote::RemoteExecutor;
pub use router::TenantRouter;
pub use validate::*;

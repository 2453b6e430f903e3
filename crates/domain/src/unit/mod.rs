//! The unit aggregate (stream `unit-{serial}`): custody, zone and every return of one physical
//! unit, because the two-strikes rules need the whole history.

mod commands;
mod decide;
mod events;
mod state;
mod types;

#[cfg(test)]
mod tests;

pub use commands::*;
pub use decide::{allowed_receivers, decide, exchange, step_after_handover, use_spare_on_site};
pub use events::UnitEvent;
pub use state::{PendingHandover, ReturnCase, Step, UnitState};
pub use types::*;

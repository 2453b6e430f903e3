//! The rules of repairledger, pure: commands are decided against state (`decide`) and state is
//! folded from events (`evolve`). No IO, no clock, no randomness: the time of a command and
//! anything a rule needs from another aggregate come in with the command.
//!
//! Architecture invariant: this crate knows nothing of HTTP, sled, utoipa or the wall clock.

pub mod access;
pub mod actor;
pub mod calendar;
pub mod complaint;
pub mod error;
pub mod fees;
pub mod guard;
pub mod penalty;
pub mod plan;
pub mod policy;
pub mod privacy;
pub mod production;
pub mod quality;
pub mod service;
pub mod signature;
pub mod sla;
pub mod unit;

pub use actor::{Actor, Role};
pub use error::{DomainError, ErrorKind, PlanError};
pub use policy::Policy;

/// An aggregate that lives in one stream of its own: folded from its events, deciding commands.
/// The adapters run every such aggregate the same way (load, fold, decide, append).
pub trait Aggregate: Sized {
    type Event: serde::Serialize + serde::de::DeserializeOwned + Clone + Send + Sync + 'static;
    type Command;
    /// The id's name in requests and problems ("request_id", "complaint_id").
    const ID: &'static str;
    fn stream(id: &str) -> String;
    fn fold(id: &str, events: &[Self::Event]) -> Self;
    fn decide(
        &self,
        id: &str,
        command: &Self::Command,
        ctx: &unit::Ctx,
    ) -> Result<Vec<Self::Event>, DomainError>;
}

/// Stream names: one stream per aggregate.
pub mod streams {
    pub fn unit(serial: &str) -> String {
        format!("unit-{serial}")
    }
    pub fn plan(plan_id: &str) -> String {
        format!("plan-{plan_id}")
    }
    pub fn production(order_id: &str) -> String {
        format!("production-{order_id}")
    }
    pub fn service(request_id: &str) -> String {
        format!("service-{request_id}")
    }
    /// One stream per breach: a breach is assessed at most once.
    pub fn penalty(breach_id: &str) -> String {
        format!("penalty-{breach_id}")
    }
    pub fn complaint(complaint_id: &str) -> String {
        format!("complaint-{complaint_id}")
    }
    pub fn quality(case_id: &str) -> String {
        format!("quality-{case_id}")
    }
    /// A customer's personal-data record (erasures).
    pub fn customer(customer_id: &str) -> String {
        format!("customer-{customer_id}")
    }
    /// An API token's life.
    pub fn token(token_id: &str) -> String {
        format!("token-{token_id}")
    }
    pub const POLICY: &str = "policy";
}

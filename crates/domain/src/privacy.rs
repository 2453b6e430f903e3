//! A customer's personal data (客户资料, confidential per seed 003): names, signatures and site
//! addresses are sealed under a key of the customer's own before they reach the log. Erasing the
//! data destroys that key (crypto-shredding); this stream is the log's record that it was done,
//! by whom and why, so an auditor sees the erasure without seeing the data.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::guard::role_in;
use crate::unit::Ctx;
use crate::{DomainError, Role};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type", deny_unknown_fields)]
pub enum PrivacyEvent {
    /// The customer's key was destroyed: every sealed value of theirs now reads as erased.
    PersonalDataErased {
        customer_id: String,
        reason: String,
        /// The generation of the customer's key that was destroyed (0: none existed). A
        /// customer who comes back later gets a new generation, which this erasure leaves alone.
        key_generation: u32,
        at: DateTime<Utc>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrivacyCommand {
    /// `key_generation` is the vault's current generation for the customer (a fact the adapter
    /// reads, as other commands carry facts of other aggregates).
    ErasePersonalData { reason: String, key_generation: u32 },
}

/// What the log says of one customer's personal data.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CustomerData {
    pub erased_at: Option<DateTime<Utc>>,
    /// The key generation the last erasure destroyed.
    pub erased_generation: Option<u32>,
}

impl CustomerData {
    pub fn evolve(mut self, e: &PrivacyEvent) -> Self {
        match e {
            PrivacyEvent::PersonalDataErased {
                at, key_generation, ..
            } => {
                self.erased_at = Some(*at);
                self.erased_generation = Some(*key_generation);
            }
        }
        self
    }
}

/// Only the general manager, who answers for the company's records, orders an erasure; the
/// reason (the customer's request, the end of retention) is kept.
pub fn decide(
    state: &CustomerData,
    customer_id: &str,
    c: &PrivacyCommand,
    ctx: &Ctx,
) -> Result<Vec<PrivacyEvent>, DomainError> {
    match c {
        PrivacyCommand::ErasePersonalData {
            reason,
            key_generation,
        } => {
            role_in(
                ctx,
                &[Role::GeneralManager],
                "erase a customer's personal data",
            )?;
            if reason.trim().is_empty() {
                return Err(DomainError::InvalidInput {
                    field: "reason",
                    reason: "an erasure records why it was done".into(),
                });
            }
            // A customer who came back after an erasure has a newer key, which may be erased too.
            if state
                .erased_generation
                .is_some_and(|erased| *key_generation <= erased)
            {
                return Err(DomainError::PersonalDataAlreadyErased {
                    customer_id: customer_id.to_string(),
                });
            }
            Ok(vec![PrivacyEvent::PersonalDataErased {
                customer_id: customer_id.to_string(),
                reason: reason.clone(),
                key_generation: *key_generation,
                at: ctx.at,
            }])
        }
    }
}

impl crate::Aggregate for CustomerData {
    type Event = PrivacyEvent;
    type Command = PrivacyCommand;
    const ID: &'static str = "customer_id";
    fn stream(id: &str) -> String {
        crate::streams::customer(id)
    }
    fn fold(_id: &str, events: &[PrivacyEvent]) -> Self {
        events
            .iter()
            .fold(CustomerData::default(), |s, e| s.evolve(e))
    }
    fn decide(
        &self,
        id: &str,
        c: &PrivacyCommand,
        ctx: &Ctx,
    ) -> Result<Vec<PrivacyEvent>, DomainError> {
        decide(self, id, c, ctx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Actor, Aggregate, Policy};
    use chrono::TimeZone;

    fn erase_gen(
        state: &CustomerData,
        role: Role,
        reason: &str,
        key_generation: u32,
    ) -> Result<Vec<PrivacyEvent>, DomainError> {
        let policy = Policy::default_policy();
        let actor = Actor::new(format!("{role}-1"), role);
        let ctx = Ctx::new(
            &actor,
            Utc.with_ymd_and_hms(2026, 5, 4, 9, 0, 0).unwrap(),
            &policy,
        );
        state.decide(
            "C-1",
            &PrivacyCommand::ErasePersonalData {
                reason: reason.into(),
                key_generation,
            },
            &ctx,
        )
    }

    fn erase(
        state: &CustomerData,
        role: Role,
        reason: &str,
    ) -> Result<Vec<PrivacyEvent>, DomainError> {
        erase_gen(state, role, reason, 1)
    }

    #[test]
    fn the_general_manager_erases_once_with_a_reason() {
        let events = erase(
            &CustomerData::default(),
            Role::GeneralManager,
            "customer's request",
        )
        .unwrap();
        assert_eq!(events.len(), 1);
        let erased = CustomerData::fold("C-1", &events);
        assert_eq!(
            erase(&erased, Role::GeneralManager, "again")
                .unwrap_err()
                .code(),
            "personal-data-already-erased"
        );
    }

    #[test]
    fn nobody_else_erases_and_a_reason_is_required() {
        for role in Role::ALL.into_iter().filter(|r| *r != Role::GeneralManager) {
            assert_eq!(
                erase(&CustomerData::default(), role, "asked")
                    .unwrap_err()
                    .code(),
                "role-not-permitted"
            );
        }
        assert_eq!(
            erase(&CustomerData::default(), Role::GeneralManager, "  ")
                .unwrap_err()
                .code(),
            "invalid-input"
        );
    }
}

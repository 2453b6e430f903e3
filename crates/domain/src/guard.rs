//! Guards shared by the aggregates' `decide` functions: who may act, specific text, order.

use crate::actor::Role;
use crate::error::DomainError;
use crate::unit::Ctx;

/// The actor's role is one of `roles`.
pub fn role_in(ctx: &Ctx, roles: &[Role], action: &'static str) -> Result<(), DomainError> {
    if roles.contains(&ctx.actor.role) {
        Ok(())
    } else {
        Err(DomainError::RoleNotPermitted {
            role: ctx.actor.role,
            action,
        })
    }
}

/// Rule 1's test, for every free text the regulations want specific: not a placeholder.
pub fn specific(ctx: &Ctx, field: &'static str, text: &str) -> Result<(), DomainError> {
    if ctx.policy.is_placeholder(text) {
        Err(DomainError::PlaceholderDescription { field })
    } else {
        Ok(())
    }
}

pub fn out_of_order(step: &'static str, expected: &'static str) -> DomainError {
    DomainError::StepOutOfOrder { step, expected }
}

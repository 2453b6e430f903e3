//! API tokens as facts in the log: issued to a person with an expiry, revoked with a reason.
//! The log keeps only the token's SHA-256, never the token; an auditor reads who could act,
//! from when to when, and who granted it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::guard::role_in;
use crate::unit::Ctx;
use crate::{DomainError, Role};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type", deny_unknown_fields)]
pub enum TokenEvent {
    TokenIssued {
        token_id: String,
        person_id: String,
        /// Hex SHA-256 of the whole token.
        sha256: String,
        expires_at: DateTime<Utc>,
        at: DateTime<Utc>,
    },
    TokenRevoked {
        token_id: String,
        reason: String,
        at: DateTime<Utc>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenCommand {
    Issue {
        person_id: String,
        sha256: String,
        expires_at: DateTime<Utc>,
    },
    Revoke {
        reason: String,
    },
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenState {
    pub issued: bool,
    pub revoked: bool,
}

impl TokenState {
    pub fn evolve(mut self, e: &TokenEvent) -> Self {
        match e {
            TokenEvent::TokenIssued { .. } => self.issued = true,
            TokenEvent::TokenRevoked { .. } => self.revoked = true,
        }
        self
    }
}

/// The rules of a token's life, whoever runs them (the API for the general manager, the CLI
/// for the operator who holds the server's data).
pub fn rules(
    state: &TokenState,
    token_id: &str,
    c: &TokenCommand,
    at: DateTime<Utc>,
) -> Result<Vec<TokenEvent>, DomainError> {
    match c {
        TokenCommand::Issue {
            person_id,
            sha256,
            expires_at,
        } => {
            if state.issued {
                return Err(DomainError::TokenAlreadyIssued {
                    token_id: token_id.into(),
                });
            }
            if *expires_at <= at {
                return Err(DomainError::InvalidInput {
                    field: "expires_at",
                    reason: "a token expires after it is issued".into(),
                });
            }
            if sha256.len() != 64 || !sha256.chars().all(|c| c.is_ascii_hexdigit()) {
                return Err(DomainError::InvalidInput {
                    field: "sha256",
                    reason: "64 hex digits".into(),
                });
            }
            Ok(vec![TokenEvent::TokenIssued {
                token_id: token_id.into(),
                person_id: person_id.clone(),
                sha256: sha256.to_ascii_lowercase(),
                expires_at: *expires_at,
                at,
            }])
        }
        TokenCommand::Revoke { reason } => {
            if !state.issued {
                return Err(DomainError::TokenNotFound {
                    token_id: token_id.into(),
                });
            }
            if state.revoked {
                return Err(DomainError::TokenAlreadyRevoked {
                    token_id: token_id.into(),
                });
            }
            if reason.trim().is_empty() {
                return Err(DomainError::InvalidInput {
                    field: "reason",
                    reason: "a revocation records why".into(),
                });
            }
            Ok(vec![TokenEvent::TokenRevoked {
                token_id: token_id.into(),
                reason: reason.clone(),
                at,
            }])
        }
    }
}

impl crate::Aggregate for TokenState {
    type Event = TokenEvent;
    type Command = TokenCommand;
    const ID: &'static str = "token_id";
    fn stream(id: &str) -> String {
        crate::streams::token(id)
    }
    fn fold(_id: &str, events: &[TokenEvent]) -> Self {
        events
            .iter()
            .fold(TokenState::default(), |s, e| s.evolve(e))
    }
    /// Through the API, only the general manager grants and withdraws access.
    fn decide(
        &self,
        id: &str,
        c: &TokenCommand,
        ctx: &Ctx,
    ) -> Result<Vec<TokenEvent>, DomainError> {
        role_in(ctx, &[Role::GeneralManager], "issue or revoke API tokens")?;
        rules(self, id, c, ctx.at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Actor, Aggregate, Policy};
    use chrono::{Duration, TimeZone};

    fn at() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 5, 4, 9, 0, 0).unwrap()
    }

    fn issue() -> TokenCommand {
        TokenCommand::Issue {
            person_id: "wang.as".into(),
            sha256: "ab".repeat(32),
            expires_at: at() + Duration::days(90),
        }
    }

    fn run(s: &TokenState, role: Role, c: &TokenCommand) -> Result<Vec<TokenEvent>, DomainError> {
        let policy = Policy::default_policy();
        let actor = Actor::new(format!("{role}-1"), role);
        s.decide("t1", c, &Ctx::new(&actor, at(), &policy))
    }

    #[test]
    fn issued_once_revoked_once() {
        let issued = TokenState::fold(
            "t1",
            &run(&TokenState::default(), Role::GeneralManager, &issue()).unwrap(),
        );
        assert_eq!(
            run(&issued, Role::GeneralManager, &issue())
                .unwrap_err()
                .code(),
            "token-already-issued"
        );
        let revoke = TokenCommand::Revoke {
            reason: "left the company".into(),
        };
        let revoked = issued
            .clone()
            .evolve(&run(&issued, Role::GeneralManager, &revoke).unwrap()[0]);
        assert_eq!(
            run(&revoked, Role::GeneralManager, &revoke)
                .unwrap_err()
                .code(),
            "token-already-revoked"
        );
        assert_eq!(
            run(&TokenState::default(), Role::GeneralManager, &revoke)
                .unwrap_err()
                .code(),
            "token-not-found"
        );
    }

    #[test]
    fn only_the_general_manager_and_only_with_a_future_expiry() {
        assert_eq!(
            run(&TokenState::default(), Role::AfterSales, &issue())
                .unwrap_err()
                .code(),
            "role-not-permitted"
        );
        let past = TokenCommand::Issue {
            person_id: "wang.as".into(),
            sha256: "ab".repeat(32),
            expires_at: at(),
        };
        assert_eq!(
            run(&TokenState::default(), Role::GeneralManager, &past)
                .unwrap_err()
                .code(),
            "invalid-input"
        );
    }
}

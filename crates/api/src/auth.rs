//! Bearer tokens mapped to a person and a role. Tokens are kept only as SHA-256 hashes, so a heap
//! dump, a log line or the event log never shows one.
//!
//! Two kinds: tokens issued through the log (`rl_{token_id}_{secret}`, with an expiry, revocable;
//! `repairledger token issue` or `POST /v1/tokens`), and tokens of the people file (a hash, or
//! plaintext for development only). An issued token is found by its id, which is not secret,
//! and its hash compared in constant time.

use std::collections::HashMap;
use std::future::{ready, Ready};

use actix_web::{dev::Payload, web, FromRequest, HttpMessage, HttpRequest};
use repairledger_domain::{Actor, Role};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use crate::problem::ApiError;
use crate::AppState;

/// One person of the directory, as configured.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PersonConfig {
    pub person_id: String,
    pub name: String,
    pub role: Role,
    /// A bearer token in plaintext: development only (the quick start's well-known tokens).
    #[serde(default)]
    pub token: Option<String>,
    /// The hex SHA-256 of a bearer token handed out some other way.
    #[serde(default)]
    pub token_sha256: Option<String>,
}

/// The people file: `[[people]]` tables.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeopleFile {
    pub people: Vec<PersonConfig>,
}

/// A person as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Person {
    pub person_id: String,
    pub name: String,
    pub role: Role,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum DirectoryError {
    #[error("people file does not parse: {0}")]
    Parse(String),
    #[error("person {0} appears twice")]
    DuplicatePerson(String),
    #[error("two people share a token (person {0})")]
    DuplicateToken(String),
    #[error("person {0} has a token shorter than 16 characters")]
    WeakToken(String),
    #[error(
        "person {0}: token_sha256 is 64 hex digits, and token and token_sha256 exclude each other"
    )]
    BadTokenHash(String),
}

/// Who is who: by token hash (authentication) and by id (handover receivers).
#[derive(Debug, Default)]
pub struct Directory {
    by_token_hash: HashMap<[u8; 32], String>,
    by_id: HashMap<String, Person>,
    /// How many people-file tokens were given in plaintext (the server warns).
    pub plaintext: usize,
}

pub fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

impl Directory {
    pub fn parse(text: &str) -> Result<Directory, DirectoryError> {
        let file: PeopleFile =
            toml::from_str(text).map_err(|e| DirectoryError::Parse(e.to_string()))?;
        Directory::from_people(file.people)
    }

    pub fn from_people(people: Vec<PersonConfig>) -> Result<Directory, DirectoryError> {
        let mut d = Directory::default();
        for p in people {
            if d.by_id.contains_key(&p.person_id) {
                return Err(DirectoryError::DuplicatePerson(p.person_id));
            }
            let hash = match (&p.token, &p.token_sha256) {
                (Some(_), Some(_)) => return Err(DirectoryError::BadTokenHash(p.person_id)),
                (Some(t), None) if t.len() < 16 => {
                    return Err(DirectoryError::WeakToken(p.person_id))
                }
                (Some(t), None) => {
                    d.plaintext += 1;
                    Some(token_hash(t))
                }
                (None, Some(h)) => Some(
                    hex::decode(h.trim())
                        .ok()
                        .and_then(|b| <[u8; 32]>::try_from(b).ok())
                        .ok_or_else(|| DirectoryError::BadTokenHash(p.person_id.clone()))?,
                ),
                (None, None) => None,
            };
            if let Some(hash) = hash {
                if d.by_token_hash.insert(hash, p.person_id.clone()).is_some() {
                    return Err(DirectoryError::DuplicateToken(p.person_id));
                }
            }
            d.by_id.insert(
                p.person_id.clone(),
                Person {
                    person_id: p.person_id,
                    name: p.name,
                    role: p.role,
                },
            );
        }
        Ok(d)
    }

    /// Looks a people-file token up by its hash: the comparison is over digests, not secrets.
    pub fn authenticate(&self, token: &str) -> Option<&Person> {
        self.by_token_hash
            .get(&token_hash(token))
            .and_then(|id| self.by_id.get(id))
    }

    pub fn person(&self, person_id: &str) -> Option<&Person> {
        self.by_id.get(person_id)
    }

    pub fn people(&self) -> Vec<Person> {
        let mut v: Vec<Person> = self.by_id.values().cloned().collect();
        v.sort_by(|a, b| a.person_id.cmp(&b.person_id));
        v
    }
}

/// The authenticated caller. As an extractor it answers 401 when the token is missing or wrong.
#[derive(Debug, Clone)]
pub struct Caller(pub Person);

/// A caller and the key their requests are counted under for rate limiting (one per token).
#[derive(Debug, Clone)]
pub struct Authenticated {
    pub person: Person,
    pub rate_key: String,
}

/// The prefix of tokens issued through the log.
pub const ISSUED_PREFIX: &str = "rl_";

/// A new issued token: `rl_{token_id}_{secret}` (id: 16 hex digits; secret: 256 bits from the
/// OS generator, 64 hex digits).
pub fn new_token() -> (String, String) {
    let id = repairledger_privacy::random_hex(8);
    let secret = repairledger_privacy::random_hex(32);
    let token = format!("{ISSUED_PREFIX}{id}_{secret}");
    (id, token)
}

/// Who a bearer token belongs to, now.
pub fn authenticate(state: &AppState, token: &str) -> Result<Authenticated, ApiError> {
    use subtle::ConstantTimeEq;
    if let Some((id, _)) = token
        .strip_prefix(ISSUED_PREFIX)
        .and_then(|rest| rest.split_once('_'))
    {
        let Some(view) = state.projector.read(|m| m.tokens.get(id).cloned()) else {
            return Err(ApiError::Unauthenticated);
        };
        let stored = hex::decode(&view.sha256).unwrap_or_default();
        let presented = token_hash(token);
        if stored.len() != 32 || !bool::from(presented.ct_eq(&stored[..])) {
            return Err(ApiError::Unauthenticated);
        }
        if view.revoked_at.is_some() {
            return Err(ApiError::Unauthenticated);
        }
        if state.clock.now() >= view.expires_at {
            return Err(ApiError::TokenExpired(view.expires_at.to_rfc3339()));
        }
        let person = state
            .directory
            .person(&view.person_id)
            .cloned()
            .ok_or(ApiError::Unauthenticated)?;
        return Ok(Authenticated {
            person,
            rate_key: format!("token:{id}"),
        });
    }
    let person = state
        .directory
        .authenticate(token)
        .cloned()
        .ok_or(ApiError::Unauthenticated)?;
    Ok(Authenticated {
        rate_key: format!("person:{}", person.person_id),
        person,
    })
}

/// The bearer token of a request, if any.
pub fn bearer(req: &HttpRequest) -> Option<&str> {
    req.headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
}

impl Caller {
    pub fn actor(&self) -> Actor {
        Actor::new(self.0.person_id.clone(), self.0.role)
    }

    /// Commands are refused to the auditor before anything else is looked at.
    pub fn writer(&self) -> Result<Actor, ApiError> {
        if self.0.role == Role::Auditor {
            return Err(ApiError::ReadOnlyRole {
                role: self.0.role.to_string(),
            });
        }
        Ok(self.actor())
    }
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Ready<Result<Self, Self::Error>>;

    /// The gate authenticated the request already; outside it, the token is checked here.
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        if let Some(a) = req.extensions().get::<Authenticated>() {
            return ready(Ok(Caller(a.person.clone())));
        }
        let result = match (req.app_data::<web::Data<AppState>>(), bearer(req)) {
            (Some(state), Some(token)) => authenticate(state, token).map(|a| Caller(a.person)),
            _ => Err(ApiError::Unauthenticated),
        };
        ready(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PEOPLE: &str = r#"
        [[people]]
        person_id = "as1"
        name = "An"
        role = "after_sales"
        token = "0123456789abcdef-as1"
    "#;

    #[test]
    fn a_token_authenticates_its_person_and_nothing_else() {
        let d = Directory::parse(PEOPLE).unwrap();
        assert_eq!(
            d.authenticate("0123456789abcdef-as1").unwrap().person_id,
            "as1"
        );
        assert!(d.authenticate("0123456789abcdef-as2").is_none());
    }

    #[test]
    fn weak_and_duplicate_tokens_are_refused() {
        let weak = PEOPLE.replace("0123456789abcdef-as1", "short");
        assert_eq!(
            Directory::parse(&weak).unwrap_err(),
            DirectoryError::WeakToken("as1".into())
        );
        let twice = format!(
            "{PEOPLE}\n{}",
            PEOPLE.replace("as1\"\n        name", "as2\"\n        name")
        );
        assert!(matches!(
            Directory::parse(&twice),
            Err(DirectoryError::DuplicateToken(_))
        ));
    }
}

//! Bearer tokens mapped to a person and a role. Tokens are kept only as SHA-256 hashes in memory,
//! so a heap dump or a log line never shows one.

use std::collections::HashMap;
use std::future::{ready, Ready};

use actix_web::{dev::Payload, web, FromRequest, HttpRequest};
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
    /// The bearer token. Only its hash is kept once loaded.
    pub token: String,
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
}

/// Who is who: by token hash (authentication) and by id (handover receivers).
#[derive(Debug, Default)]
pub struct Directory {
    by_token_hash: HashMap<[u8; 32], String>,
    by_id: HashMap<String, Person>,
}

fn token_hash(token: &str) -> [u8; 32] {
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
            if p.token.len() < 16 {
                return Err(DirectoryError::WeakToken(p.person_id));
            }
            if d.by_id.contains_key(&p.person_id) {
                return Err(DirectoryError::DuplicatePerson(p.person_id));
            }
            if d.by_token_hash
                .insert(token_hash(&p.token), p.person_id.clone())
                .is_some()
            {
                return Err(DirectoryError::DuplicateToken(p.person_id));
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

    /// Looks a token up by its hash: the comparison is over digests, not secrets.
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

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>();
        let token = req
            .headers()
            .get(actix_web::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim);
        let person = match (state, token) {
            (Some(state), Some(token)) => state.directory.authenticate(token).cloned(),
            _ => None,
        };
        ready(person.map(Caller).ok_or(ApiError::Unauthenticated))
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

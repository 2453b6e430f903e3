//! Who may act (API tokens) and whose personal data is erased, as folds of the log.

use chrono::{DateTime, Utc};
use repairledger_domain::access::TokenEvent;
use repairledger_domain::privacy::PrivacyEvent;
use repairledger_store::RecordedEvent;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::model::ReadModel;

/// An API token as the log records it. The API shows it without the hash.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenView {
    pub token_id: String,
    pub person_id: String,
    pub sha256: String,
    pub expires_at: DateTime<Utc>,
    pub issued_at: DateTime<Utc>,
    /// Who granted it (a person, or `operator` for the command line).
    pub issued_by: String,
    pub revoked_at: Option<DateTime<Utc>>,
    pub revoke_reason: Option<String>,
}

/// The record of one erasure: the data is gone, the fact stays.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ErasureView {
    pub customer_id: String,
    pub reason: String,
    /// The generation of the customer's key that was destroyed.
    pub key_generation: u32,
    pub erased_by: String,
    pub at: DateTime<Utc>,
    pub position: u64,
}

impl ReadModel {
    pub(crate) fn apply_token(&mut self, e: &RecordedEvent, ev: &TokenEvent) {
        match ev {
            TokenEvent::TokenIssued {
                token_id,
                person_id,
                sha256,
                expires_at,
                at,
            } => {
                self.tokens.insert(
                    token_id.clone(),
                    TokenView {
                        token_id: token_id.clone(),
                        person_id: person_id.clone(),
                        sha256: sha256.clone(),
                        expires_at: *expires_at,
                        issued_at: *at,
                        issued_by: e.actor.person_id.clone(),
                        revoked_at: None,
                        revoke_reason: None,
                    },
                );
            }
            TokenEvent::TokenRevoked {
                token_id,
                reason,
                at,
            } => {
                if let Some(t) = self.tokens.get_mut(token_id) {
                    t.revoked_at = Some(*at);
                    t.revoke_reason = Some(reason.clone());
                }
            }
        }
    }

    pub(crate) fn apply_privacy(&mut self, e: &RecordedEvent, ev: &PrivacyEvent) {
        match ev {
            PrivacyEvent::PersonalDataErased {
                customer_id,
                reason,
                key_generation,
                at,
            } => {
                self.erasures.insert(
                    customer_id.clone(),
                    ErasureView {
                        customer_id: customer_id.clone(),
                        reason: reason.clone(),
                        key_generation: *key_generation,
                        erased_by: e.actor.person_id.clone(),
                        at: *at,
                        position: e.position,
                    },
                );
            }
        }
    }
}

impl ReadModel {
    /// The customer a stream's events are about, for sealing personal data that comes without
    /// a `customer` beside it (a signature on delivery, a sign-off on site).
    pub fn customer_of(&self, stream: &str) -> Option<String> {
        use crate::codec::{stream_kind, StreamKind};
        let (kind, id) = stream_kind(stream);
        match kind {
            StreamKind::Unit => self.units.get(id).and_then(|u| {
                u.state
                    .returns
                    .last()
                    .map(|r| r.customer.customer_id.clone())
                    .or_else(|| u.shipments.last().map(|s| s.customer.customer_id.clone()))
            }),
            StreamKind::Service => self
                .services
                .get(id)
                .map(|s| s.customer.customer_id.clone()),
            StreamKind::Complaint => self
                .complaints
                .get(id)
                .map(|c| c.customer.customer_id.clone()),
            StreamKind::Production => self.orders.get(id).map(|o| o.customer.customer_id.clone()),
            StreamKind::Customer => Some(id.to_string()),
            _ => None,
        }
    }
}

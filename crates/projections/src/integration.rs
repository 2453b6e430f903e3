//! Integration records kept in the log: webhook subscriptions (stream `webhook-{id}`). They are
//! facts an auditor may want ("who was sent what, since when") but not business rules, so they
//! live here rather than in the domain.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", deny_unknown_fields)]
pub enum WebhookEvent {
    WebhookSubscribed {
        subscription_id: String,
        url: String,
        /// Only these event types; all when absent.
        event_types: Option<BTreeSet<String>>,
        /// Only streams starting with this; all when absent.
        stream_prefix: Option<String>,
        /// Deliveries start after this position.
        from_position: u64,
        /// SHA-256 of the signing secret: proves which secret was issued without keeping it here.
        secret_sha256: String,
        at: DateTime<Utc>,
    },
    WebhookUnsubscribed {
        subscription_id: String,
        reason: String,
        at: DateTime<Utc>,
    },
}

/// A subscription as the log knows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct WebhookView {
    pub subscription_id: String,
    pub url: String,
    pub event_types: Option<BTreeSet<String>>,
    pub stream_prefix: Option<String>,
    pub from_position: u64,
    pub secret_sha256: String,
    pub subscribed_by: String,
    pub subscribed_at: DateTime<Utc>,
    pub active: bool,
}

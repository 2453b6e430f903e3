//! RFC 9457 problem details. Every error of the API is mapped here, once: a stable `type` URI per
//! rule, the HTTP status that fits it, the rule's source in `detail`.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use repairledger_domain::{DomainError, ErrorKind};
use repairledger_store::StoreError;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The base of every problem `type`. Part of the API contract: never changes.
pub const PROBLEM_BASE: &str = "https://repairledger.dev/problems/";

/// An RFC 9457 problem document (`application/problem+json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Problem {
    /// A stable URI naming the rule or failure: `https://repairledger.dev/problems/{code}`.
    #[serde(rename = "type")]
    pub problem_type: String,
    pub title: String,
    pub status: u16,
    /// What went wrong for this request, and the rule's source.
    pub detail: String,
    /// The short, stable code (the last segment of `type`), for switch statements.
    pub code: String,
    /// For `version-mismatch` and `concurrent-modification`: the stream's current version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_version: Option<u64>,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Domain(#[from] DomainError),
    #[error("a valid bearer token is required")]
    Unauthenticated,
    #[error("the token expired at {0}; ask for a new one")]
    TokenExpired(String),
    #[error("more than {per_second} requests a second (burst {burst}) with this token; retry after {retry_after_secs} s")]
    RateLimited {
        per_second: u32,
        burst: u32,
        retry_after_secs: u64,
    },
    #[error("the {role} role reads and never writes")]
    ReadOnlyRole { role: String },
    #[error("unit {0} is not known")]
    UnitNotFound(String),
    #[error("repair plan {0} is not known")]
    PlanNotFound(String),
    #[error("emergency production order {0} is not known")]
    OrderNotFound(String),
    #[error("no breach {0}: see GET /v1/breaches")]
    BreachNotFound(String),
    #[error("person {0} is not in the directory")]
    UnknownPerson(String),
    #[error("If-Match names version {expected}, the stream is at {current}")]
    VersionMismatch { expected: u64, current: u64 },
    #[error("the stream changed while the command was decided; read it again and retry")]
    ConcurrentModification { current: Option<u64> },
    #[error("the Idempotency-Key was already used for a different request")]
    IdempotencyKeyReused,
    #[error("{0}")]
    MalformedRequest(String),
    #[error("the body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("min_position {position} is not reached yet: the log's head is {head}; retry later")]
    PositionNotReached { position: u64, head: u64 },
    #[error("{0}")]
    InvalidHeader(String),
    #[error("occurred_at {0}")]
    OccurredAtOutOfBounds(String),
    #[error("{0}")]
    NotFound(String),
    #[error("no such endpoint: see /openapi.json")]
    NoSuchEndpoint,
    #[error("this path answers {0}")]
    MethodNotAllowed(String),
    #[error("the receiver did not accept the delivery: {0}")]
    DeliveryFailed(String),
    #[error("the {role} role may not call {operation}")]
    OperationNotPermitted { role: String, operation: String },
    #[error("not ready: {0}")]
    NotReady(String),
    #[error("the event log is unavailable: {0}")]
    Unavailable(String),
    /// The disk refused the write: `full` for ENOSPC, else an I/O error. Never acknowledged.
    #[error("the disk under the event log failed ({}): {detail}; the command was not acknowledged: retry with the same Idempotency-Key once the server is ready", if *.full { "no space left" } else { "I/O error" })]
    Disk { full: bool, detail: String },
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict { actual, .. } => {
                ApiError::ConcurrentModification { current: actual }
            }
            StoreError::IdempotencyMismatch { .. } => ApiError::IdempotencyKeyReused,
            StoreError::Unavailable(m) => ApiError::Unavailable(m),
            StoreError::Disk { kind, detail } => ApiError::Disk {
                full: kind == repairledger_store::DiskFault::Full,
                detail,
            },
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl From<repairledger_projections::ProjectionError> for ApiError {
    fn from(e: repairledger_projections::ProjectionError) -> Self {
        ApiError::Internal(e.to_string())
    }
}

impl From<repairledger_projections::codec::DecodeError> for ApiError {
    fn from(e: repairledger_projections::codec::DecodeError) -> Self {
        ApiError::Internal(e.to_string())
    }
}

impl ApiError {
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Domain(d) => d.code(),
            ApiError::Unauthenticated => "unauthenticated",
            ApiError::TokenExpired(_) => "token-expired",
            ApiError::RateLimited { .. } => "rate-limited",
            ApiError::ReadOnlyRole { .. } => "read-only-role",
            ApiError::UnitNotFound(_) => "unit-not-found",
            ApiError::PlanNotFound(_) => "plan-not-found",
            ApiError::OrderNotFound(_) => "order-not-found",
            ApiError::BreachNotFound(_) => "breach-not-found",
            ApiError::UnknownPerson(_) => "unknown-person",
            ApiError::VersionMismatch { .. } => "version-mismatch",
            ApiError::ConcurrentModification { .. } => "concurrent-modification",
            ApiError::IdempotencyKeyReused => "idempotency-key-reused",
            ApiError::MalformedRequest(_) => "malformed-request",
            ApiError::PayloadTooLarge { .. } => "payload-too-large",
            ApiError::PositionNotReached { .. } => "position-not-reached",
            ApiError::InvalidHeader(_) => "invalid-header",
            ApiError::OccurredAtOutOfBounds(_) => "occurred-at-out-of-bounds",
            ApiError::NotFound(_) => "not-found",
            ApiError::NoSuchEndpoint => "no-such-endpoint",
            ApiError::MethodNotAllowed(_) => "method-not-allowed",
            ApiError::DeliveryFailed(_) => "delivery-failed",
            ApiError::Unavailable(_) => "service-unavailable",
            ApiError::Disk { full: true, .. } => "storage-full",
            ApiError::Disk { full: false, .. } => "storage-failed",
            ApiError::NotReady(_) => "not-ready",
            ApiError::OperationNotPermitted { .. } => "role-not-permitted",
            ApiError::Internal(_) => "internal-error",
        }
    }

    fn title(&self) -> &'static str {
        match self {
            ApiError::Domain(d) => match d.kind() {
                ErrorKind::Forbidden => "Not permitted for this person",
                ErrorKind::Conflict => "Not possible in the current state",
                ErrorKind::Rule => "Refused by a business rule",
                ErrorKind::NotFound => "Not found",
            },
            ApiError::Unauthenticated => "Authentication required",
            ApiError::TokenExpired(_) => "Token expired",
            ApiError::RateLimited { .. } => "Too many requests",
            ApiError::ReadOnlyRole { .. } => "Read-only role",
            ApiError::UnitNotFound(_)
            | ApiError::PlanNotFound(_)
            | ApiError::OrderNotFound(_)
            | ApiError::BreachNotFound(_)
            | ApiError::NotFound(_)
            | ApiError::NoSuchEndpoint => "Not found",
            ApiError::UnknownPerson(_) => "Unknown person",
            ApiError::VersionMismatch { .. } => "Version mismatch",
            ApiError::ConcurrentModification { .. } => "Concurrent modification",
            ApiError::IdempotencyKeyReused => "Idempotency key reused",
            ApiError::MalformedRequest(_) => "Malformed request",
            ApiError::PayloadTooLarge { .. } => "Payload too large",
            ApiError::PositionNotReached { .. } => "Position not reached",
            ApiError::InvalidHeader(_) => "Invalid header",
            ApiError::OccurredAtOutOfBounds(_) => "Business time out of bounds",
            ApiError::DeliveryFailed(_) => "Delivery failed",
            ApiError::Unavailable(_) => "Service unavailable",
            ApiError::Disk { full: true, .. } => "No space left for the event log",
            ApiError::Disk { full: false, .. } => "The event log's disk failed",
            ApiError::NotReady(_) => "Not ready",
            ApiError::MethodNotAllowed(_) => "Method not allowed",
            ApiError::OperationNotPermitted { .. } => "Not permitted for this person",
            ApiError::Internal(_) => "Internal error",
        }
    }

    fn detail(&self) -> String {
        match self {
            ApiError::Domain(d) => format!("{d}. Rule: {}", d.rule()),
            // Never leak internals to the caller; they are in the server log.
            ApiError::Internal(_) => "the server failed; the request was not applied".into(),
            other => other.to_string(),
        }
    }

    pub fn problem(&self) -> Problem {
        let code = self.code();
        Problem {
            problem_type: format!("{PROBLEM_BASE}{code}"),
            title: self.title().into(),
            status: self.status_code().as_u16(),
            detail: self.detail(),
            code: code.into(),
            current_version: match self {
                ApiError::VersionMismatch { current, .. } => Some(*current),
                ApiError::ConcurrentModification { current } => Some(current.unwrap_or(0)),
                _ => None,
            },
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Domain(d) => match d.kind() {
                ErrorKind::Forbidden => StatusCode::FORBIDDEN,
                ErrorKind::Conflict => StatusCode::CONFLICT,
                ErrorKind::Rule => StatusCode::UNPROCESSABLE_ENTITY,
                ErrorKind::NotFound => StatusCode::NOT_FOUND,
            },
            ApiError::Unauthenticated | ApiError::TokenExpired(_) => StatusCode::UNAUTHORIZED,
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::ReadOnlyRole { .. } | ApiError::OperationNotPermitted { .. } => {
                StatusCode::FORBIDDEN
            }
            ApiError::UnitNotFound(_)
            | ApiError::PlanNotFound(_)
            | ApiError::OrderNotFound(_)
            | ApiError::BreachNotFound(_)
            | ApiError::NotFound(_)
            | ApiError::NoSuchEndpoint => StatusCode::NOT_FOUND,
            ApiError::UnknownPerson(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::VersionMismatch { .. } => StatusCode::PRECONDITION_FAILED,
            ApiError::ConcurrentModification { .. } => StatusCode::CONFLICT,
            ApiError::IdempotencyKeyReused => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::MalformedRequest(_) | ApiError::InvalidHeader(_) => StatusCode::BAD_REQUEST,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::PositionNotReached { .. } => StatusCode::CONFLICT,
            ApiError::OccurredAtOutOfBounds(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::DeliveryFailed(_) => StatusCode::BAD_GATEWAY,
            ApiError::Unavailable(_) | ApiError::NotReady(_) | ApiError::Disk { .. } => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let ApiError::Internal(msg) = self {
            tracing::error!(error = %msg, "internal error");
        }
        let mut res = HttpResponse::build(self.status_code());
        res.insert_header((header::CONTENT_TYPE, "application/problem+json"));
        match self {
            ApiError::Unauthenticated => {
                res.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
            }
            ApiError::TokenExpired(_) => {
                res.insert_header((
                    header::WWW_AUTHENTICATE,
                    "Bearer error=\"invalid_token\", error_description=\"expired\"",
                ));
            }
            ApiError::RateLimited {
                retry_after_secs, ..
            } => {
                res.insert_header((header::RETRY_AFTER, retry_after_secs.to_string()));
            }
            ApiError::Unavailable(_) => {
                res.insert_header((header::RETRY_AFTER, "1"));
            }
            // The server retries the disk every few seconds (`disk_retry_seconds`).
            ApiError::Disk { .. } => {
                res.insert_header((header::RETRY_AFTER, "5"));
            }
            ApiError::MethodNotAllowed(allow) => {
                res.insert_header((header::ALLOW, allow.as_str()));
            }
            _ => {}
        }
        res.body(serde_json::to_string(&self.problem()).expect("problem serializes"))
    }
}

/// Every problem code the API can answer with, for the docs and the `/v1/problems` listing.
pub fn all_codes() -> Vec<&'static str> {
    let mut codes = vec![
        "unauthenticated",
        "token-expired",
        "rate-limited",
        "read-only-role",
        "unit-not-found",
        "plan-not-found",
        "order-not-found",
        "breach-not-found",
        "unknown-person",
        "version-mismatch",
        "concurrent-modification",
        "idempotency-key-reused",
        "malformed-request",
        "payload-too-large",
        "position-not-reached",
        "invalid-header",
        "occurred-at-out-of-bounds",
        "not-found",
        "no-such-endpoint",
        "method-not-allowed",
        "delivery-failed",
        "service-unavailable",
        "storage-full",
        "storage-failed",
        "not-ready",
        "internal-error",
    ];
    codes.extend(repairledger_domain::error::CODES.iter().copied());
    codes
}

//! API tokens (issued and revoked as events) and the erasure of a customer's personal data.

use actix_web::web::{Data, Path};
use actix_web::{get, post, HttpRequest, HttpResponse};
use chrono::{DateTime, Duration, Utc};
use repairledger_domain::access::{TokenCommand, TokenState};
use repairledger_domain::privacy::{CustomerData, PrivacyCommand};
use repairledger_projections::{ErasureView, TokenView};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::{new_token, token_hash, Caller};
use crate::command::{aggregate_command, aggregate_result, Meta};
use crate::dto::CommandResponse;
use crate::json::Json;
use crate::problem::ApiError;
use crate::AppState;

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"person_id": "wang.as", "expires_in_days": 90, "occurred_at": null}))]
pub struct IssueTokenRequest {
    /// A person of the directory; the token acts with their role.
    pub person_id: String,
    /// 1 to the server's `token_max_days` (400 by default; more is refused with 422
    /// `invalid-input`).
    #[schema(format = "uint32", minimum = 1, maximum = 4294967295u32)]
    pub expires_in_days: u32,
    pub occurred_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct IssuedToken {
    pub token_id: String,
    /// The bearer token. Shown once: only its SHA-256 is kept.
    pub token: String,
    pub person_id: String,
    pub expires_at: DateTime<Utc>,
    pub position: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"reason": "the laptop it was on was lost", "occurred_at": null}))]
pub struct RevokeTokenRequest {
    pub reason: String,
    pub occurred_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum TokenStatus {
    Active,
    Expired,
    Revoked,
}

/// A token without its hash.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TokenInfo {
    pub token_id: String,
    pub person_id: String,
    pub status: TokenStatus,
    pub expires_at: DateTime<Utc>,
    pub issued_at: DateTime<Utc>,
    pub issued_by: String,
    pub revoked_at: Option<DateTime<Utc>>,
    pub revoke_reason: Option<String>,
}

impl TokenInfo {
    fn of(t: &TokenView, now: DateTime<Utc>) -> TokenInfo {
        TokenInfo {
            token_id: t.token_id.clone(),
            person_id: t.person_id.clone(),
            status: if t.revoked_at.is_some() {
                TokenStatus::Revoked
            } else if now >= t.expires_at {
                TokenStatus::Expired
            } else {
                TokenStatus::Active
            },
            expires_at: t.expires_at,
            issued_at: t.issued_at,
            issued_by: t.issued_by.clone(),
            revoked_at: t.revoked_at,
            revoke_reason: t.revoke_reason.clone(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"reason": "the customer asked for their data to be deleted (letter of 2026-05-02)", "occurred_at": null}))]
pub struct EraseRequest {
    pub reason: String,
    pub occurred_at: Option<DateTime<Utc>>,
}

/// Issue a token to a person (general manager). The answer shows the token once.
#[utoipa::path(post, path = "/v1/tokens", tag = "access", operation_id = "issueToken",
    request_body = IssueTokenRequest,
    responses((status = 200, description = "Issued; the token is shown only here", body = IssuedToken)))]
#[post("/tokens")]
pub async fn issue(
    req: HttpRequest,
    state: Data<AppState>,
    caller: Caller,
    body: Json<IssueTokenRequest>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    if req.headers().contains_key("Idempotency-Key") {
        return Err(ApiError::InvalidHeader(
            "Idempotency-Key is not accepted here: a replay could not show the token again; \
             retry without it and revoke any token you did not receive"
                .into(),
        ));
    }
    let max = state.limits.token_max_days;
    if b.expires_in_days == 0 {
        return Err(ApiError::MalformedRequest(
            "expires_in_days must be at least 1".into(),
        ));
    }
    // The longest validity is the server's setting, which the schema cannot state: 422.
    if i64::from(b.expires_in_days) > max {
        return Err(ApiError::Domain(
            repairledger_domain::DomainError::InvalidInput {
                field: "expires_in_days",
                reason: format!("at most {max} days (the server's token_max_days)"),
            },
        ));
    }
    if state.directory.person(&b.person_id).is_none() {
        return Err(ApiError::UnknownPerson(b.person_id));
    }
    let meta = Meta::new(&req, &state, &caller, b.occurred_at, &b)?;
    let (token_id, token) = new_token();
    let expires_at = state.clock.now() + Duration::days(i64::from(b.expires_in_days));
    let sha256 = hex::encode(token_hash(&token));
    let (result, _) = aggregate_result::<TokenState>(&state, meta, &token_id, |_| {
        Ok(TokenCommand::Issue {
            person_id: b.person_id.clone(),
            sha256: sha256.clone(),
            expires_at,
        })
    })
    .await?;
    Ok(HttpResponse::Ok().json(IssuedToken {
        token_id,
        token,
        person_id: b.person_id,
        expires_at,
        position: result.last_position,
    }))
}

/// Revoke a token (general manager): it stops working at once, on every request.
#[utoipa::path(post, path = "/v1/tokens/{token_id}/revocation", tag = "access", operation_id = "revokeToken",
    request_body = RevokeTokenRequest,
    params(("token_id" = String, Path, description = "The token's id (the part after `rl_`)")),
    responses((status = 200, description = "Revoked", body = CommandResponse)))]
#[post("/tokens/{token_id}/revocation")]
pub async fn revoke(
    req: HttpRequest,
    state: Data<AppState>,
    caller: Caller,
    token_id: Path<String>,
    body: Json<RevokeTokenRequest>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    let meta = Meta::new(&req, &state, &caller, b.occurred_at, &b)?;
    aggregate_command::<TokenState>(&state, meta, &token_id, |_| {
        Ok(TokenCommand::Revoke {
            reason: b.reason.clone(),
        })
    })
    .await
}

/// Issued tokens without their hashes (the general manager and the auditor).
#[utoipa::path(get, path = "/v1/tokens", tag = "access", operation_id = "listTokens",
    responses((status = 200, description = "Tokens, newest first", body = [TokenInfo])))]
#[get("/tokens")]
pub async fn list(state: Data<AppState>, _caller: Caller) -> Result<HttpResponse, ApiError> {
    let now = state.clock.now();
    let mut tokens: Vec<TokenInfo> = state
        .projector
        .read(|m| m.tokens.values().map(|t| TokenInfo::of(t, now)).collect());
    tokens.sort_by(|a, b| {
        b.issued_at
            .cmp(&a.issued_at)
            .then(a.token_id.cmp(&b.token_id))
    });
    Ok(HttpResponse::Ok().json(tokens))
}

/// Erase a customer's personal data (general manager): their key is destroyed, so every name,
/// signature and site of theirs reads `[erased]` from now on, in every view and in every copy of
/// the log. The events and the hash chain stay whole; this erasure is recorded.
#[utoipa::path(post, path = "/v1/customers/{customer_id}/erasure", tag = "access", operation_id = "eraseCustomerData",
    request_body = EraseRequest,
    params(("customer_id" = String, Path, description = "The customer")),
    responses((status = 200, description = "Erased", body = CommandResponse)))]
#[post("/customers/{customer_id}/erasure")]
pub async fn erase(
    req: HttpRequest,
    state: Data<AppState>,
    caller: Caller,
    customer_id: Path<String>,
    body: Json<EraseRequest>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    let meta = Meta::new(&req, &state, &caller, b.occurred_at, &b)?;
    let vault_failed = |e: repairledger_privacy::VaultError| {
        tracing::error!(error = %e, "the key vault failed");
        ApiError::Unavailable("the key vault failed; retry".into())
    };
    let generation = state.vault.generation(&customer_id).map_err(vault_failed)?;
    // Recorded first, destroyed next: a crash in between is finished at the next start.
    let response = aggregate_command::<CustomerData>(&state, meta, &customer_id, |_| {
        Ok(PrivacyCommand::ErasePersonalData {
            reason: b.reason.clone(),
            key_generation: generation,
        })
    })
    .await?;
    state
        .vault
        .erase_up_to(&customer_id, generation)
        .map_err(vault_failed)?;
    Ok(response)
}

/// Every erasure on record.
#[utoipa::path(get, path = "/v1/erasures", tag = "access", operation_id = "listErasures",
    responses((status = 200, description = "Erasures in log order", body = [ErasureView])))]
#[get("/erasures")]
pub async fn erasures(state: Data<AppState>, _caller: Caller) -> Result<HttpResponse, ApiError> {
    let mut all: Vec<ErasureView> = state
        .projector
        .read(|m| m.erasures.values().cloned().collect());
    all.sort_by_key(|e| e.position);
    Ok(HttpResponse::Ok().json(all))
}

//! Customer signatures as stored evidence: uploaded once (content-addressed, stream
//! `signature-{sha256}`, through the normal command path so the record is hash-chained, exported
//! and replicated), referenced by commands, read back by auditors and the roles that see
//! customer data. The bytes are personal data (seed 003): sealed under the customer's key.

use actix_web::http::header;
use actix_web::web::{Data, Path};
use actix_web::{get, post, HttpRequest, HttpResponse};
use base64::Engine;
use chrono::{DateTime, Utc};
use repairledger_domain::signature::{self, Capture, SignatureEvent};
use repairledger_domain::unit::{
    EvidenceInput, PersonRef, Signature, SignatureInput, SignatureRecord,
};
use repairledger_domain::Role;
use repairledger_privacy::Opened;
use repairledger_projections::codec;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::command::{check_id, execute_result, refused, Meta, Planned};
use crate::json::Json;
use crate::problem::ApiError;
use crate::AppState;

/// Upload a signature: handwriting captured on a device, or given by the customer in the portal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "media_type": "image/png",
    "data": "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==",
    "customer_id": "CUST-017",
    "occurred_at": null
}))]
pub struct SignatureUploadRequest {
    /// `image/png`, `image/svg+xml` or `application/vnd.repairledger.strokes+json`.
    pub media_type: String,
    /// The bytes, base64 (standard alphabet, padded, canonical: unused bits of the last
    /// character zero).
    #[schema(
        pattern = "^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/][AQgw]==|[A-Za-z0-9+/]{2}[AEIMQUYcgkosw048]=)?$"
    )]
    pub data: String,
    /// The customer who signed: the bytes are sealed under their key, so erasing the customer's
    /// personal data erases the handwriting too.
    #[schema(pattern = "^[A-Za-z0-9._-]{1,64}$")]
    pub customer_id: Option<String>,
    pub occurred_at: Option<DateTime<Utc>>,
}

/// A stored signature record, as commands refer to it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SignatureRecordView {
    /// Hex SHA-256 of the plain bytes: the record's name.
    pub sha256: String,
    pub media_type: String,
    pub bytes: u64,
    /// `portal` when the customer uploaded it with their own token, else `captured`.
    pub evidence_kind: String,
    /// Who uploaded it.
    pub person_id: String,
    /// The log position of the upload.
    pub position: u64,
    /// Where the bytes are read back (auditors and the roles that see customer data).
    pub href: String,
    /// False when the same bytes were recorded before: the answer is that record.
    pub recorded: bool,
}

/// The record of `sha256` in the log, if any, with its stored event.
fn find(
    state: &AppState,
    sha256: &str,
) -> Result<Option<(SignatureRecord, SignatureEvent)>, ApiError> {
    let stored = state.store.read_stream(&signature::stream(sha256), 1, 1)?;
    let Some(e) = stored.first() else {
        return Ok(None);
    };
    let event: SignatureEvent = codec::decode(e)?;
    let SignatureEvent::SignatureCaptured { media_type, .. } = &event;
    let role = Role::parse(&e.actor.role)
        .ok_or_else(|| ApiError::Internal(format!("unknown role {:?}", e.actor.role)))?;
    let record = SignatureRecord {
        sha256: sha256.to_string(),
        media_type: media_type.clone(),
        by: PersonRef {
            person_id: e.actor.person_id.clone(),
            role,
        },
        position: e.position,
    };
    Ok(Some((record, event)))
}

/// A command's signature as the domain records it: a `captured` reference is looked up here and
/// the record handed to the domain, which refuses what is missing or weak.
pub fn resolve(state: &AppState, input: &SignatureInput) -> Result<Signature, ApiError> {
    let record = match &input.evidence {
        Some(EvidenceInput::Captured { sha256 }) if signature::is_sha256(sha256) => {
            find(state, sha256)?.map(|(r, _)| r)
        }
        _ => None,
    };
    signature::resolve(input, record.as_ref(), &state.policy).map_err(refused)
}

fn view(record: &SignatureRecord, event: &SignatureEvent, recorded: bool) -> SignatureRecordView {
    let SignatureEvent::SignatureCaptured { bytes, .. } = event;
    SignatureRecordView {
        sha256: record.sha256.clone(),
        media_type: record.media_type.clone(),
        bytes: *bytes,
        evidence_kind: if record.by.role == Role::Customer {
            "portal"
        } else {
            "captured"
        }
        .into(),
        person_id: record.by.person_id.clone(),
        position: record.position,
        href: format!("/v1/signatures/{}", record.sha256),
        recorded,
    }
}

/// Upload a customer's signature (an image or a stroke record).
///
/// Content-addressed: the same bytes twice are the same record (answered with `recorded:
/// false`), not an error. Uploaded with a customer's own token, the record is portal evidence.
/// Commands then refer to it as `{"kind": "captured", "sha256": ...}` in their signature's
/// `evidence`. The bytes are sealed in the log like every customer's personal data.
#[utoipa::path(
    post, path = "/v1/signatures", tag = "signatures", operation_id = "uploadSignature",
    request_body = SignatureUploadRequest,
    responses((status = 200, description = "The signature record", body = SignatureRecordView))
)]
#[post("/signatures")]
pub async fn upload(
    req: HttpRequest,
    state: Data<AppState>,
    caller: Caller,
    body: Json<SignatureUploadRequest>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    if let Some(id) = &b.customer_id {
        check_id("customer_id", id)?;
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b.data.trim())
        .map_err(|_| ApiError::MalformedRequest("data is not standard base64".into()))?;
    let sha256 = hex::encode(Sha256::digest(&bytes));
    let mut capture = Capture {
        sha256: sha256.clone(),
        media_type: b.media_type.clone(),
        bytes: bytes.len() as u64,
        max_bytes: state.limits.max_signature_bytes as u64,
        customer_id: b.customer_id.clone(),
        sealed_data: String::new(),
    };
    // The request as the idempotency key sees it: the content's hash, not the content.
    let summary = serde_json::json!({
        "sha256": sha256, "media_type": b.media_type, "customer_id": b.customer_id,
        "occurred_at": b.occurred_at,
    });
    let meta = Meta::new(&req, &state, &caller, b.occurred_at, &summary)?;
    signature::check_upload(&capture).map_err(refused)?;
    if let Some((record, event)) = find(&state, &sha256)? {
        return Ok(HttpResponse::Ok().json(view(&record, &event, false)));
    }
    let stream = signature::stream(&sha256);
    let subject = b.customer_id.clone().unwrap_or_else(|| stream.clone());
    capture.sealed_data = state
        .vault
        .seal(
            &subject,
            &base64::engine::general_purpose::STANDARD.encode(&bytes),
        )
        .map_err(|e| {
            tracing::error!(error = %e, "the key vault failed");
            ApiError::Unavailable("the key vault could not seal the signature; retry".into())
        })?;
    let appended = execute_result(&state, meta, &stream, |state, ctx| {
        let version = state.store.stream_version(&stream)?.unwrap_or(0);
        let events = signature::capture(version > 0, &capture, ctx).map_err(refused)?;
        Ok(vec![Planned::new(stream.clone(), version, &events)])
    })
    .await;
    match (appended, find(&state, &sha256)?) {
        (Ok((_, replayed)), Some((record, event))) => {
            Ok(HttpResponse::Ok().json(view(&record, &event, !replayed)))
        }
        // Lost a race to the same bytes: that record is the answer.
        (Err(_), Some((record, event))) => {
            Ok(HttpResponse::Ok().json(view(&record, &event, false)))
        }
        (Err(e), None) => Err(e),
        (Ok(_), None) => Err(ApiError::Internal(
            "the signature was appended but cannot be read".into(),
        )),
    }
}

/// Read a signature's bytes back, with their media type (auditors and the roles that see
/// customer data).
///
/// The `ETag` is the SHA-256 of the bytes. A signature whose customer's personal data was
/// erased answers 404.
#[utoipa::path(
    get, path = "/v1/signatures/{sha256}", tag = "signatures", operation_id = "getSignature",
    params(("sha256" = String, Path, description = "Hex SHA-256 of the bytes")),
    responses((status = 200, description = "The bytes",
        content((String = "image/png"), (String = "image/svg+xml"),
                (String = "application/vnd.repairledger.strokes+json"))))
)]
#[get("/signatures/{sha256}")]
pub async fn get_one(
    state: Data<AppState>,
    _caller: Caller,
    sha256: Path<String>,
) -> Result<HttpResponse, ApiError> {
    if !signature::is_sha256(&sha256) {
        return Err(ApiError::MalformedRequest(
            "a signature is named by 64 lowercase hex digits".into(),
        ));
    }
    let Some((record, SignatureEvent::SignatureCaptured { data, .. })) = find(&state, &sha256)?
    else {
        return Err(ApiError::NotFound(format!("no signature {sha256}")));
    };
    let encoded = match state.vault.open_sealed(&data) {
        Opened::Plain(s) => s,
        Opened::Erased => {
            return Err(ApiError::NotFound(format!(
                "signature {sha256} was erased with its customer's personal data"
            )))
        }
        Opened::Unreadable => {
            return Err(ApiError::Internal(format!(
                "signature {sha256} cannot be opened with the server's keys"
            )))
        }
    };
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .map_err(|e| ApiError::Internal(format!("signature {sha256} is not base64: {e}")))?;
    if hex::encode(Sha256::digest(&bytes)) != *sha256 {
        return Err(ApiError::Internal(format!(
            "signature {sha256} does not match its hash"
        )));
    }
    Ok(HttpResponse::Ok()
        .content_type(record.media_type.as_str())
        .insert_header((header::ETAG, format!("\"{sha256}\"")))
        .insert_header((header::CACHE_CONTROL, "private, no-store"))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        // An uploaded SVG must not run anything in a browser that opens it.
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'unsafe-inline'; sandbox",
        ))
        .body(bytes))
}

//! Customer signatures as evidence (domain.md §1 rules 2 and 12, §2 feedback form): where the
//! regulation has the customer sign (交接签字, 用户签字), the signature is either captured
//! handwriting stored content-addressed, given by the customer through their own portal token,
//! or a name typed by staff with the reason nothing better was possible.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::actor::Role;
use crate::unit::{
    Ctx, EvidenceInput, Signature, SignatureEvidence, SignatureInput, SignatureRecord,
};
use crate::{DomainError, Policy};

/// The formats a signature may be uploaded in.
pub const MEDIA_TYPES: &[&str] = &[
    "image/png",
    "image/svg+xml",
    "application/vnd.repairledger.strokes+json",
];

/// A signature record's stream: one per content, so the same bytes are the same record.
pub fn stream(sha256: &str) -> String {
    format!("signature-{sha256}")
}

/// Hex SHA-256, lowercase: what names a record.
pub fn is_sha256(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type", deny_unknown_fields)]
pub enum SignatureEvent {
    /// Signature bytes, stored once. `data` is the base64 of the bytes, sealed under the
    /// customer's key (personal data, seed 003); `sha256` is over the plain bytes.
    SignatureCaptured {
        sha256: String,
        media_type: String,
        bytes: u64,
        /// The customer whose key seals `data`: erasing them erases the handwriting.
        customer_id: Option<String>,
        data: String,
        at: DateTime<Utc>,
    },
}

/// An upload as the adapter prepared it: hashed, measured, and the bytes sealed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capture {
    pub sha256: String,
    pub media_type: String,
    pub bytes: u64,
    /// The most bytes accepted (configuration).
    pub max_bytes: u64,
    pub customer_id: Option<String>,
    pub sealed_data: String,
}

/// Records an upload. `exists`: a record of these bytes is in the log already; the adapter
/// answers it instead (the same bytes twice are the same record).
pub fn capture(exists: bool, c: &Capture, ctx: &Ctx) -> Result<Vec<SignatureEvent>, DomainError> {
    if ctx.actor.role == Role::Auditor {
        return Err(DomainError::RoleNotPermitted {
            role: ctx.actor.role,
            action: "record a signature",
        });
    }
    check_upload(c)?;
    if exists {
        return Ok(Vec::new());
    }
    Ok(vec![SignatureEvent::SignatureCaptured {
        sha256: c.sha256.clone(),
        media_type: c.media_type.clone(),
        bytes: c.bytes,
        customer_id: c.customer_id.clone(),
        data: c.sealed_data.clone(),
        at: ctx.at,
    }])
}

/// What an upload must be, whoever sends it: an accepted format, some bytes, not too many.
pub fn check_upload(c: &Capture) -> Result<(), DomainError> {
    if !MEDIA_TYPES.contains(&c.media_type.as_str()) {
        return Err(DomainError::SignatureMediaTypeNotAccepted {
            media_type: c.media_type.clone(),
        });
    }
    if c.bytes == 0 {
        return Err(DomainError::SignatureEmpty);
    }
    if c.bytes > c.max_bytes {
        return Err(DomainError::SignatureTooLarge {
            bytes: c.bytes,
            max: c.max_bytes,
        });
    }
    if !is_sha256(&c.sha256) {
        return Err(DomainError::InvalidInput {
            field: "sha256",
            reason: "must be 64 lowercase hex digits".into(),
        });
    }
    Ok(())
}

/// Turns a command's signature into the recorded one. `record` is the stored record a
/// `captured` reference names, as the adapter found it (`None`: no such record).
pub fn resolve(
    input: &SignatureInput,
    record: Option<&SignatureRecord>,
    policy: &Policy,
) -> Result<Signature, DomainError> {
    let evidence = match &input.evidence {
        None => return Err(DomainError::SignatureEvidenceRequired),
        Some(EvidenceInput::Typed { reason }) => SignatureEvidence::Typed {
            reason: reason.clone(),
        },
        Some(EvidenceInput::Captured { sha256 }) => match record {
            Some(r) if r.sha256 == *sha256 && r.by.role == Role::Customer => {
                SignatureEvidence::Portal {
                    sha256: r.sha256.clone(),
                    media_type: r.media_type.clone(),
                    person_id: r.by.person_id.clone(),
                    position: r.position,
                }
            }
            Some(r) if r.sha256 == *sha256 => SignatureEvidence::Captured {
                sha256: r.sha256.clone(),
                media_type: r.media_type.clone(),
            },
            _ => {
                return Err(DomainError::SignatureNotFound {
                    sha256: sha256.clone(),
                })
            }
        },
    };
    let signature = Signature {
        name: input.name.clone(),
        signed_at: input.signed_at,
        evidence,
    };
    check(&signature, policy)?;
    Ok(signature)
}

/// The checks every customer signature of a new command passes: a name, and evidence that is
/// more than a name (a typed one only with a specific reason).
pub fn require(sig: &Signature, ctx: &Ctx) -> Result<(), DomainError> {
    check(sig, ctx.policy)
}

fn check(sig: &Signature, policy: &Policy) -> Result<(), DomainError> {
    if sig.name.trim().is_empty() {
        return Err(DomainError::CustomerSignatureRequired);
    }
    match &sig.evidence {
        SignatureEvidence::LegacyTyped => Err(DomainError::SignatureEvidenceRequired),
        SignatureEvidence::Typed { reason } => {
            if reason.trim().is_empty() || policy.is_placeholder(reason) {
                Err(DomainError::TypedSignatureReasonRequired)
            } else {
                Ok(())
            }
        }
        SignatureEvidence::Captured { sha256, .. } | SignatureEvidence::Portal { sha256, .. } => {
            if is_sha256(sha256) {
                Ok(())
            } else {
                Err(DomainError::SignatureNotFound {
                    sha256: sha256.clone(),
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actor::Actor;
    use crate::unit::PersonRef;
    use chrono::TimeZone;

    const SHA: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    fn at() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 2, 8, 0, 0).unwrap()
    }

    fn input(evidence: Option<EvidenceInput>) -> SignatureInput {
        SignatureInput {
            name: "Zhang San".into(),
            signed_at: at(),
            evidence,
        }
    }

    fn record(role: Role) -> SignatureRecord {
        SignatureRecord {
            sha256: SHA.into(),
            media_type: "image/png".into(),
            by: PersonRef {
                person_id: if role == Role::Customer {
                    "zhang.customer".into()
                } else {
                    "li.fr".into()
                },
                role,
            },
            position: 7,
        }
    }

    fn upload(media_type: &str, bytes: u64) -> Capture {
        Capture {
            sha256: SHA.into(),
            media_type: media_type.into(),
            bytes,
            max_bytes: 1024,
            customer_id: Some("CUST-017".into()),
            sealed_data: "pii:v1:sealed".into(),
        }
    }

    fn with_ctx<T>(role: Role, f: impl FnOnce(&Ctx) -> T) -> T {
        let policy = Policy::default_policy();
        let actor = Actor::new("li.fr", role);
        f(&Ctx::new(&actor, at(), &policy))
    }

    #[test]
    fn a_captured_reference_to_a_stored_record_is_recorded_with_its_hash_and_media_type() {
        let captured = Some(EvidenceInput::Captured { sha256: SHA.into() });
        let sig = with_ctx(Role::FieldReceiver, |ctx| {
            resolve(
                &input(captured),
                Some(&record(Role::FieldReceiver)),
                ctx.policy,
            )
        })
        .unwrap();
        assert_eq!(
            sig.evidence,
            SignatureEvidence::Captured {
                sha256: SHA.into(),
                media_type: "image/png".into()
            }
        );
    }

    #[test]
    fn a_record_the_customer_uploaded_with_their_own_token_is_portal_evidence() {
        let captured = Some(EvidenceInput::Captured { sha256: SHA.into() });
        let sig = with_ctx(Role::TechnicalService, |ctx| {
            resolve(&input(captured), Some(&record(Role::Customer)), ctx.policy)
        })
        .unwrap();
        assert_eq!(
            sig.evidence,
            SignatureEvidence::Portal {
                sha256: SHA.into(),
                media_type: "image/png".into(),
                person_id: "zhang.customer".into(),
                position: 7,
            }
        );
        assert_eq!(sig.evidence.kind(), "portal");
    }

    #[test]
    fn a_captured_reference_to_no_stored_record_is_refused() {
        let captured = Some(EvidenceInput::Captured { sha256: SHA.into() });
        let e = with_ctx(Role::FieldReceiver, |ctx| {
            resolve(&input(captured), None, ctx.policy)
        });
        assert_eq!(
            e,
            Err(DomainError::SignatureNotFound { sha256: SHA.into() })
        );
    }

    #[test]
    fn a_signature_without_evidence_is_refused() {
        let e = with_ctx(Role::FieldReceiver, |ctx| {
            resolve(&input(None), None, ctx.policy)
        });
        assert_eq!(e, Err(DomainError::SignatureEvidenceRequired));
    }

    #[test]
    fn a_typed_name_with_a_specific_reason_is_accepted_and_marked_typed() {
        let reason = "customer has no device; signed paper form No. 2026-031";
        let typed = Some(EvidenceInput::Typed {
            reason: reason.into(),
        });
        let sig = with_ctx(Role::FieldReceiver, |ctx| {
            resolve(&input(typed), None, ctx.policy)
        })
        .unwrap();
        assert_eq!(
            sig.evidence,
            SignatureEvidence::Typed {
                reason: reason.into()
            }
        );
    }

    #[test]
    fn a_typed_name_without_a_reason_or_with_a_placeholder_reason_is_refused() {
        for reason in ["", "  ", "n/a", "unknown", "-"] {
            let typed = Some(EvidenceInput::Typed {
                reason: reason.into(),
            });
            let e = with_ctx(Role::FieldReceiver, |ctx| {
                resolve(&input(typed), None, ctx.policy)
            });
            assert_eq!(
                e,
                Err(DomainError::TypedSignatureReasonRequired),
                "{reason:?}"
            );
        }
    }

    #[test]
    fn a_legacy_typed_signature_is_refused_on_a_new_command() {
        let sig = Signature {
            name: "Zhang San".into(),
            signed_at: at(),
            evidence: SignatureEvidence::LegacyTyped,
        };
        let e = with_ctx(Role::TechnicalService, |ctx| require(&sig, ctx));
        assert_eq!(e, Err(DomainError::SignatureEvidenceRequired));
    }

    #[test]
    fn an_event_written_before_evidence_existed_reads_as_legacy_typed() {
        let old = r#"{"name": "Zhang San", "signed_at": "2026-03-02T08:00:00Z"}"#;
        let sig: Signature = serde_json::from_str(old).unwrap();
        assert_eq!(sig.evidence, SignatureEvidence::LegacyTyped);
        assert_eq!(sig.evidence.kind(), "legacy_typed");
    }

    #[test]
    fn an_upload_in_an_accepted_format_is_recorded_once() {
        let c = upload("image/png", 100);
        let events = with_ctx(Role::FieldReceiver, |ctx| capture(false, &c, ctx)).unwrap();
        assert!(matches!(
            &events[..],
            [SignatureEvent::SignatureCaptured { sha256, bytes: 100, .. }] if sha256 == SHA
        ));
        let again = with_ctx(Role::FieldReceiver, |ctx| capture(true, &c, ctx)).unwrap();
        assert!(again.is_empty(), "the same bytes are the same record");
    }

    #[test]
    fn an_upload_in_another_format_is_refused() {
        let e = with_ctx(Role::FieldReceiver, |ctx| {
            capture(false, &upload("image/jpeg", 100), ctx)
        });
        assert_eq!(
            e,
            Err(DomainError::SignatureMediaTypeNotAccepted {
                media_type: "image/jpeg".into()
            })
        );
    }

    #[test]
    fn an_empty_upload_is_refused() {
        let e = with_ctx(Role::Customer, |ctx| {
            capture(false, &upload("image/png", 0), ctx)
        });
        assert_eq!(e, Err(DomainError::SignatureEmpty));
    }

    #[test]
    fn an_upload_over_the_size_limit_is_refused() {
        let e = with_ctx(Role::Customer, |ctx| {
            capture(false, &upload("image/png", 1025), ctx)
        });
        assert_eq!(
            e,
            Err(DomainError::SignatureTooLarge {
                bytes: 1025,
                max: 1024
            })
        );
    }
}

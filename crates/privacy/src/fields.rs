//! Which fields of an event are a customer's personal data, sealing them on the way into the
//! log, and disclosing them on the way out.
//!
//! The fields, by JSON shape (so a new event type with a `customer` or a signature is covered
//! without a new line of code):
//! - `customer.name` (and the `name` of a customer anywhere: `user`, `delivered_to`),
//! - the `name` of every `*signature` object (the customer signs; staff sign with accounts),
//! - every `site` string (the customer's address),
//! - `confirmed_by` (the customer's person who confirmed a quote).
//!
//! Free texts (descriptions, notes) are not parsed: the API documents that they must not carry
//! names or addresses.

use serde_json::Value;

use crate::vault::{Opened, Vault, VaultError, PREFIX};

pub const REDACTED: &str = "[redacted]";
pub const ERASED: &str = "[erased]";
pub const UNREADABLE: &str = "[unreadable]";

fn name_holder(key: &str) -> bool {
    key == "customer" || key == "user" || key == "delivered_to" || key.ends_with("signature")
}

fn personal(parent: Option<&str>, key: &str) -> bool {
    key == "site" || key == "confirmed_by" || (key == "name" && parent.is_some_and(name_holder))
}

/// The customer an event is about: the first `customer.customer_id` in it.
pub fn subject_in(value: &Value) -> Option<String> {
    match value {
        Value::Object(o) => {
            if let Some(id) = o
                .get("customer")
                .and_then(|c| c.get("customer_id"))
                .and_then(Value::as_str)
            {
                return Some(id.to_string());
            }
            o.values().find_map(subject_in)
        }
        Value::Array(a) => a.iter().find_map(subject_in),
        _ => None,
    }
}

/// Seals the personal fields of `value` under `subject`'s key; answers how many it sealed.
/// A value sealed already (copied from an earlier event) is left as it is.
pub fn seal_payload(value: &mut Value, subject: &str, vault: &Vault) -> Result<usize, VaultError> {
    fn walk(
        v: &mut Value,
        parent: Option<&str>,
        subject: &str,
        vault: &Vault,
        n: &mut usize,
    ) -> Result<(), VaultError> {
        match v {
            Value::Object(o) => {
                for (k, child) in o.iter_mut() {
                    match child {
                        Value::String(s) if personal(parent, k) && !s.starts_with(PREFIX) => {
                            *s = vault.seal(subject, s)?;
                            *n += 1;
                        }
                        _ => walk(child, Some(k), subject, vault, n)?,
                    }
                }
            }
            Value::Array(a) => {
                for child in a {
                    walk(child, parent, subject, vault, n)?;
                }
            }
            _ => {}
        }
        Ok(())
    }
    let mut n = 0;
    walk(value, None, subject, vault, &mut n)?;
    Ok(n)
}

/// Who sees what: the caller's role decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disclosure {
    /// In clear (or `[erased]`).
    Reveal,
    /// `[redacted]`, without touching a key.
    Redact,
}

fn shown(vault: &Vault, sealed: &str, d: Disclosure) -> String {
    match d {
        Disclosure::Redact => REDACTED.to_string(),
        Disclosure::Reveal => match vault.open_sealed(sealed) {
            Opened::Plain(s) => s,
            Opened::Erased => ERASED.to_string(),
            Opened::Unreadable => UNREADABLE.to_string(),
        },
    }
}

/// Replaces every sealed string of a JSON document; `None` when it holds none (the common case,
/// answered without parsing). A sealed value is always a whole JSON string, and its alphabet has
/// no quote or backslash, so the scan is exact.
pub fn disclose_json(body: &[u8], vault: &Vault, d: Disclosure) -> Option<Vec<u8>> {
    replace_json(body, |sealed| shown(vault, sealed, d))
}

/// Every sealed string of a JSON document as `[redacted]`, without a vault (webhook bodies).
pub fn redact_json(body: &[u8]) -> Option<Vec<u8>> {
    replace_json(body, |_| REDACTED.to_string())
}

fn replace_json(body: &[u8], show: impl Fn(&str) -> String) -> Option<Vec<u8>> {
    let needle = b"\"pii:v1:";
    let first = find(body, needle, 0)?;
    let mut out = Vec::with_capacity(body.len());
    let mut from = 0;
    let mut at = Some(first);
    while let Some(start) = at {
        let inner = start + 1;
        let Some(end) = body[inner..]
            .iter()
            .position(|b| *b == b'"')
            .map(|e| inner + e)
        else {
            break;
        };
        out.extend_from_slice(&body[from..start]);
        let sealed = std::str::from_utf8(&body[inner..end]).unwrap_or_default();
        let text = show(sealed);
        out.extend_from_slice(
            serde_json::to_string(&text)
                .expect("strings serialize")
                .as_bytes(),
        );
        from = end + 1;
        at = find(body, needle, from);
    }
    out.extend_from_slice(&body[from..]);
    Some(out)
}

/// The same for text formats (CSV, SVG): `escape` makes the shown text safe in that format.
pub fn disclose_text(
    body: &str,
    vault: &Vault,
    d: Disclosure,
    escape: impl Fn(&str) -> String,
) -> Option<String> {
    body.find(PREFIX)?;
    let mut out = String::with_capacity(body.len());
    let mut rest = body;
    while let Some(start) = rest.find(PREFIX) {
        out.push_str(&rest[..start]);
        let tail = &rest[start + PREFIX.len()..];
        let len = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
            .unwrap_or(tail.len());
        let sealed = &rest[start..start + PREFIX.len() + len];
        out.push_str(&escape(&shown(vault, sealed, d)));
        rest = &rest[start + PREFIX.len() + len..];
    }
    out.push_str(rest);
    Some(out)
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    hay.get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::KeyRing;
    use serde_json::json;

    fn vault() -> (tempfile::TempDir, Vault) {
        let dir = tempfile::tempdir().unwrap();
        let ring = KeyRing::parse(&KeyRing::new_file("k1")).unwrap();
        let v = Vault::open(dir.path(), ring).unwrap();
        (dir, v)
    }

    #[test]
    fn names_signatures_and_sites_are_sealed_and_nothing_else() {
        let (_d, v) = vault();
        let mut e = json!({
            "customer": {"customer_id": "C-1", "name": "Zhang San"},
            "customer_signature": {"name": "Zhang San", "signed_at": "2026-03-02T08:00:00Z"},
            "form": {"site": "Huadong plant", "fault_symptoms": "no output", "filled_by": "li.fr"},
            "received_by": {"person_id": "wang.as", "role": "after_sales"},
            "model": "RD-40"
        });
        assert_eq!(subject_in(&e).as_deref(), Some("C-1"));
        assert_eq!(seal_payload(&mut e, "C-1", &v).unwrap(), 3);
        let text = e.to_string();
        assert!(
            !text.contains("Zhang") && !text.contains("Huadong"),
            "{text}"
        );
        assert!(text.contains("no output") && text.contains("li.fr") && text.contains("C-1"));
        // Sealing twice changes nothing.
        let again = e.clone();
        assert_eq!(seal_payload(&mut e, "C-1", &v).unwrap(), 0);
        assert_eq!(e, again);

        let body = serde_json::to_vec(&json!({"items": [e]})).unwrap();
        let shown: Value =
            serde_json::from_slice(&disclose_json(&body, &v, Disclosure::Reveal).unwrap()).unwrap();
        assert_eq!(shown["items"][0]["customer"]["name"], "Zhang San");
        assert_eq!(shown["items"][0]["form"]["site"], "Huadong plant");
        let hidden: Value =
            serde_json::from_slice(&disclose_json(&body, &v, Disclosure::Redact).unwrap()).unwrap();
        assert_eq!(hidden["items"][0]["customer"]["name"], REDACTED);
        assert_eq!(hidden["items"][0]["customer_signature"]["name"], REDACTED);
        assert!(disclose_json(b"{\"a\":1}", &v, Disclosure::Reveal).is_none());

        v.erase("C-1").unwrap();
        let erased: Value =
            serde_json::from_slice(&disclose_json(&body, &v, Disclosure::Reveal).unwrap()).unwrap();
        assert_eq!(erased["items"][0]["customer"]["name"], ERASED);
    }

    #[test]
    fn quotes_in_a_name_stay_valid_json_and_text_formats_are_escaped() {
        let (_d, v) = vault();
        let sealed = v.seal("C-1", "A \"quoted\" <name>, Ltd").unwrap();
        let body = format!("{{\"n\":\"{sealed}\"}}");
        let shown: Value = serde_json::from_slice(
            &disclose_json(body.as_bytes(), &v, Disclosure::Reveal).unwrap(),
        )
        .unwrap();
        assert_eq!(shown["n"], "A \"quoted\" <name>, Ltd");
        let svg = format!("<text>{sealed}</text>");
        let out = disclose_text(&svg, &v, Disclosure::Reveal, |s| {
            s.replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('>', "&gt;")
        })
        .unwrap();
        assert_eq!(out, "<text>A \"quoted\" &lt;name&gt;, Ltd</text>");
    }
}

//! The JSON body extractor of every command. It answers like `web::Json` with the app's settings
//! (the body limit, `application/json` required, problem+json errors: 400 `malformed-request`,
//! 413 `payload-too-large`) and also takes a whole number written as a float where an integer is
//! expected: JSON Schema counts `5.0` as an integer, so a client (or a language without integers)
//! may send one, which serde alone refuses for a `u32`.

use std::borrow::Cow;
use std::ops::Deref;

use actix_web::error::PayloadError;
use actix_web::mime;
use actix_web::{dev::Payload, web, FromRequest, HttpMessage, HttpRequest};
use futures::future::LocalBoxFuture;
use serde::de::DeserializeOwned;

use crate::problem::ApiError;
use crate::AppState;

/// A request body: `Json<T>` where handlers took `web::Json<T>`.
#[derive(Debug)]
pub struct Json<T>(pub T);

impl<T> Json<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> Deref for Json<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

/// The integer a JSON number token is exactly, if it is written with a fraction or an exponent
/// (`5.0`, `-2.50e1`, `1E3`), has no fractional part and an `i64` (negative) or `u64` holds it.
/// Decimal arithmetic on the text, so no digit is lost to a float on the way.
fn whole(token: &str) -> Option<String> {
    let (negative, unsigned) = match token.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, token),
    };
    let (mantissa, exponent) = match unsigned.split_once(['e', 'E']) {
        Some((m, e)) => (m, Some(e)),
        None => (unsigned, None),
    };
    let (int, frac) = match mantissa.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (mantissa, None),
    };
    if frac.is_none() && exponent.is_none() {
        return None; // an integer already
    }
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    // The JSON grammar; anything else is left for the parser to refuse.
    if !digits(int) || (int.len() > 1 && int.starts_with('0')) || !frac.is_none_or(digits) {
        return None;
    }
    let exponent: i64 = match exponent {
        None => 0,
        Some(e) => {
            let d = e.strip_prefix(['+', '-']).unwrap_or(e);
            // Past 4 digits no such number is an integer an i64 or u64 holds, but zero.
            if !digits(d) || d.len() > 4 {
                return None;
            }
            e.parse().ok()?
        }
    };
    let frac = frac.unwrap_or("");
    let mut significand = format!("{int}{frac}");
    let mut shift = exponent - frac.len() as i64;
    while significand.len() > 1 && significand.ends_with('0') {
        significand.pop();
        shift += 1;
    }
    let significand = significand.trim_start_matches('0');
    if significand.is_empty() {
        return Some("0".into());
    }
    if shift < 0 || significand.len() as i64 + shift > 20 {
        return None;
    }
    let n = format!(
        "{}{significand}{}",
        if negative { "-" } else { "" },
        "0".repeat(shift as usize)
    );
    let fits = if negative {
        n.parse::<i64>().is_ok()
    } else {
        n.parse::<u64>().is_ok()
    };
    fits.then_some(n)
}

/// `body` with every whole-number float outside strings rewritten as its integer ([`whole`]).
fn whole_numbers_as_integers(body: &[u8]) -> Cow<'_, [u8]> {
    let mut out: Option<Vec<u8>> = None;
    let (mut i, mut copied, mut in_string) = (0, 0, false);
    while i < body.len() {
        let b = body[i];
        if in_string {
            match b {
                b'\\' => i += 2,
                b'"' => {
                    in_string = false;
                    i += 1;
                }
                _ => i += 1,
            }
            continue;
        }
        match b {
            b'"' => {
                in_string = true;
                i += 1;
            }
            b'-' | b'0'..=b'9' => {
                let start = i;
                while i < body.len()
                    && matches!(body[i], b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E')
                {
                    i += 1;
                }
                // The token is ASCII by construction.
                let token = std::str::from_utf8(&body[start..i]).unwrap_or_default();
                if let Some(int) = whole(token) {
                    let o = out.get_or_insert_with(|| Vec::with_capacity(body.len()));
                    o.extend_from_slice(&body[copied..start]);
                    o.extend_from_slice(int.as_bytes());
                    copied = i;
                }
            }
            _ => i += 1,
        }
    }
    match out {
        Some(mut o) => {
            o.extend_from_slice(&body[copied..]);
            Cow::Owned(o)
        }
        None => Cow::Borrowed(body),
    }
}

/// `application/json` or any `+json` type, as `web::Json` requires.
fn is_json(req: &HttpRequest) -> bool {
    match req.mime_type() {
        Ok(Some(m)) => m.subtype() == mime::JSON || m.suffix() == Some(mime::JSON),
        _ => false,
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for Json<T> {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let json = is_json(req);
        let limit = req.app_data::<web::Data<AppState>>().map_or_else(
            || crate::Limits::default().max_body_bytes,
            |s| s.limits.max_body_bytes,
        );
        // The app's `PayloadConfig` has the same limit.
        let body = web::Bytes::from_request(req, payload);
        Box::pin(async move {
            if !json {
                return Err(
                    ApiError::MalformedRequest("the body must be application/json".into()).into(),
                );
            }
            let body = body.await.map_err(|e| match e.as_error::<PayloadError>() {
                Some(PayloadError::Overflow) => ApiError::PayloadTooLarge { limit },
                _ => ApiError::MalformedRequest(e.to_string()),
            })?;
            serde_json::from_slice::<T>(&whole_numbers_as_integers(&body))
                .map(Json)
                .map_err(|e| ApiError::MalformedRequest(format!("invalid JSON body: {e}")).into())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewrite(s: &str) -> String {
        String::from_utf8(whole_numbers_as_integers(s.as_bytes()).into_owned()).unwrap()
    }

    #[test]
    fn whole_numbers_become_integers_exactly_and_nothing_else_changes() {
        assert_eq!(
            rewrite(r#"{"a": 5.0, "b": -3.00, "c": 2.5, "d": [1e3, 1.5E1, 2e-1], "e": 0.0}"#),
            r#"{"a": 5, "b": -3, "c": 2.5, "d": [1000, 15, 2e-1], "e": 0}"#
        );
        // Past 2^53 a float would lose digits; the text does not.
        assert_eq!(
            rewrite(r#"[2198022516299513.0, 18446744073709551615.0, 9223372036854775807e0]"#),
            "[2198022516299513, 18446744073709551615, 9223372036854775807]"
        );
        assert_eq!(
            rewrite(r#"[-9223372036854775808.0, -9223372036854775809.0, 18446744073709551616.0]"#),
            "[-9223372036854775808, -9223372036854775809.0, 18446744073709551616.0]"
        );
        assert_eq!(
            rewrite(r#"[1e300, 0e99999, 12, -0]"#),
            r#"[1e300, 0e99999, 12, -0]"#
        );
        // Strings, escapes and malformed numbers are left alone.
        let same = r#"{"s": "5.0 \" 6.0", "k\\": "7.0", "bad": [01.0, 1., .5, -, 1.0.0, 1e]}"#;
        assert_eq!(rewrite(same), same);
        assert!(matches!(
            whole_numbers_as_integers(b"{\"x\": 1}"),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn a_rewritten_body_reads_as_its_integers() {
        #[derive(serde::Deserialize)]
        struct B {
            n: u32,
            big: i64,
        }
        let b: B = serde_json::from_slice(&whole_numbers_as_integers(
            br#"{"n": 5.0, "big": 2198022516299513.0}"#,
        ))
        .unwrap();
        assert_eq!((b.n, b.big), (5, 2198022516299513));
    }
}

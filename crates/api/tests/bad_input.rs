//! Bad input never panics, never appends: each case answers a 4xx problem and the log head stays
//! where it was.

mod common;

use common::{call, open_body, TestApp};
use serde_json::{json, Value};

async fn raw(
    app: &TestApp,
    who: Option<&str>,
    path: &str,
    body: &str,
    content_type: &str,
) -> (u16, Value) {
    let svc = app.service().await;
    let mut req = actix_web::test::TestRequest::post()
        .uri(path)
        .insert_header(("content-type", content_type))
        .set_payload(body.to_string());
    if let Some(who) = who {
        req = req.insert_header(("Authorization", format!("Bearer {}", app.tokens[who])));
    }
    let (s, b, ct) = call(&svc, req.to_request()).await;
    assert_eq!(
        ct.as_deref(),
        Some("application/problem+json"),
        "{path}: {b}"
    );
    (s, b)
}

#[actix_web::test]
async fn malformed_unknown_wrong_typed_and_oversized_bodies_are_refused_without_appending() {
    let app = TestApp::new().await;
    let head = app.head();
    let path = "/v1/units/SN-1/returns";
    let mut unknown = open_body("R-1");
    unknown["surprise"] = json!(1);
    let mut wrong_type = open_body("R-1");
    wrong_type["mode"] = json!(7);
    let mut bad_enum = open_body("R-1");
    bad_enum["mode"] = json!("teleported");
    let mut long = open_body("R-1");
    long["form"]["fault_symptoms"] = json!("x".repeat(5000));
    let huge = format!("{{\"pad\": \"{}\"}}", "x".repeat(70 * 1024));
    let cases: Vec<(&str, String, &str, u16, &str)> = vec![
        (
            "malformed JSON",
            "{\"return_id\": ".into(),
            "application/json",
            400,
            "malformed-request",
        ),
        (
            "unknown field",
            unknown.to_string(),
            "application/json",
            400,
            "malformed-request",
        ),
        (
            "wrong type",
            wrong_type.to_string(),
            "application/json",
            400,
            "malformed-request",
        ),
        (
            "unknown enum value",
            bad_enum.to_string(),
            "application/json",
            400,
            "malformed-request",
        ),
        (
            "string too long",
            long.to_string(),
            "application/json",
            400,
            "malformed-request",
        ),
        (
            "oversized body",
            huge,
            "application/json",
            413,
            "payload-too-large",
        ),
        (
            "not JSON",
            "return_id=R-1".into(),
            "application/x-www-form-urlencoded",
            400,
            "malformed-request",
        ),
    ];
    for (what, body, ct, status, code) in cases {
        let (s, b) = raw(&app, Some("li.fr"), path, &body, ct).await;
        assert_eq!(
            (s, b["code"].as_str().unwrap_or_default()),
            (status, code),
            "{what}: {b}"
        );
        assert_eq!(app.head(), head, "{what} appended");
    }
}

/// What is sent (name, who, method, path, headers) and the problem expected (status, code).
type Case<'a> = (
    &'a str,
    Option<&'a str>,
    &'a str,
    &'a str,
    Vec<(String, String)>,
    u16,
    &'a str,
);

#[actix_web::test]
async fn authentication_roles_unknown_resources_and_headers_are_checked() {
    let app = TestApp::new().await;
    let svc = app.service().await;
    let head = app.head();
    let body = open_body("R-1");
    let cases: Vec<Case> = vec![
        (
            "no token",
            None,
            "POST",
            "/v1/units/SN-1/returns",
            vec![],
            401,
            "unauthenticated",
        ),
        (
            "auditor writes",
            Some("audit"),
            "POST",
            "/v1/units/SN-1/returns",
            vec![],
            403,
            "read-only-role",
        ),
        (
            "wrong role for carried",
            Some("wang.as"),
            "POST",
            "/v1/units/SN-1/returns",
            vec![],
            422,
            "wrong-opener-for-mode",
        ),
        (
            "bad id",
            Some("li.fr"),
            "POST",
            "/v1/units/SN%201/returns",
            vec![],
            400,
            "malformed-request",
        ),
        (
            "unknown unit",
            Some("wang.as"),
            "POST",
            "/v1/units/NOPE/registration",
            vec![],
            404,
            "unit-not-found",
        ),
        (
            "bad If-Match",
            Some("li.fr"),
            "POST",
            "/v1/units/SN-1/returns",
            vec![("If-Match".into(), "\"abc\"".into())],
            400,
            "invalid-header",
        ),
        (
            "stale If-Match",
            Some("li.fr"),
            "POST",
            "/v1/units/SN-1/returns",
            vec![("If-Match".into(), "\"4\"".into())],
            412,
            "version-mismatch",
        ),
        (
            "unknown endpoint",
            Some("li.fr"),
            "POST",
            "/v1/nowhere",
            vec![],
            404,
            "no-such-endpoint",
        ),
    ];
    for (what, who, method, path, headers, status, code) in cases {
        let b = if path.ends_with("registration") {
            json!({})
        } else {
            body.clone()
        };
        let (s, resp, ct) = call(&svc, app.request(who, method, path, Some(&b), &headers)).await;
        assert_eq!(
            (s, resp["code"].as_str().unwrap_or_default()),
            (status, code),
            "{what}: {resp}"
        );
        assert_eq!(ct.as_deref(), Some("application/problem+json"), "{what}");
        assert_eq!(app.head(), head, "{what} appended");
    }
    let (s, resp, _) = call(
        &svc,
        app.request(Some("li.fr"), "GET", "/v1/units/NOPE", None, &[]),
    )
    .await;
    assert_eq!((s, resp["code"].as_str()), (404, Some("unit-not-found")));
    let (s, resp, _) = call(&svc, app.request(None, "GET", "/nowhere", None, &[])).await;
    assert_eq!((s, resp["code"].as_str()), (404, Some("no-such-endpoint")));
    let (s, resp, _) = call(
        &svc,
        app.request(Some("li.fr"), "GET", "/v1/zones/attic", None, &[]),
    )
    .await;
    assert_eq!((s, resp["code"].as_str()), (404, Some("not-found")));
    let (s, resp, _) = call(
        &svc,
        app.request(Some("li.fr"), "GET", "/v1/events?limit=0", None, &[]),
    )
    .await;
    assert_eq!((s, resp["code"].as_str()), (400, Some("malformed-request")));
    let (s, resp, _) = call(
        &svc,
        app.request(Some("li.fr"), "GET", "/v1/events?bogus=1", None, &[]),
    )
    .await;
    assert_eq!((s, resp["code"].as_str()), (400, Some("malformed-request")));
}

#[actix_web::test]
async fn business_time_is_bounded() {
    let app = TestApp::new().await;
    let svc = app.service().await;
    let head = app.head();
    for at in ["2026-03-02T09:00:00Z", "2025-01-01T00:00:00Z"] {
        let mut b = open_body("R-1");
        b["occurred_at"] = json!(at);
        let (s, resp, _) = call(
            &svc,
            app.request(
                Some("li.fr"),
                "POST",
                "/v1/units/SN-1/returns",
                Some(&b),
                &[],
            ),
        )
        .await;
        assert_eq!(
            (s, resp["code"].as_str()),
            (422, Some("occurred-at-out-of-bounds")),
            "{at}"
        );
    }
    assert_eq!(app.head(), head);
}

#[actix_web::test]
async fn an_idempotent_retry_returns_the_original_response_and_a_changed_body_is_refused() {
    let app = TestApp::new().await;
    let svc = app.service().await;
    let key = vec![("Idempotency-Key".to_string(), "open-SN-1-once".to_string())];
    let (s1, first, _) = call(
        &svc,
        app.request(
            Some("li.fr"),
            "POST",
            "/v1/units/SN-1/returns",
            Some(&open_body("R-1")),
            &key,
        ),
    )
    .await;
    assert_eq!(s1, 200, "{first}");
    let head = app.head();
    let (s2, again, _) = call(
        &svc,
        app.request(
            Some("li.fr"),
            "POST",
            "/v1/units/SN-1/returns",
            Some(&open_body("R-1")),
            &key,
        ),
    )
    .await;
    assert_eq!(
        (s2, &again),
        (200, &first),
        "the retry answers exactly the original"
    );
    assert_eq!(app.head(), head, "the retry appended nothing");
    let mut changed = open_body("R-1");
    changed["return_id"] = json!("R-2");
    let (s3, problem, _) = call(
        &svc,
        app.request(
            Some("li.fr"),
            "POST",
            "/v1/units/SN-1/returns",
            Some(&changed),
            &key,
        ),
    )
    .await;
    assert_eq!(
        (s3, problem["code"].as_str()),
        (422, Some("idempotency-key-reused"))
    );
    assert_eq!(app.head(), head);
}

#[actix_web::test]
async fn concurrent_retries_with_one_key_append_once() {
    let app = TestApp::new().await;
    let svc = app.service().await;
    let key = vec![("Idempotency-Key".to_string(), "open-SN-2".to_string())];
    let before = app.head();
    let reqs = (0..8).map(|_| {
        call(
            &svc,
            app.request(
                Some("li.fr"),
                "POST",
                "/v1/units/SN-2/returns",
                Some(&open_body("R-1")),
                &key,
            ),
        )
    });
    let results = futures::future::join_all(reqs).await;
    for (s, b, _) in &results {
        assert_eq!(*s, 200, "{b}");
        assert_eq!(b, &results[0].1, "every retry sees the same response");
    }
    assert_eq!(
        app.head(),
        before + 2,
        "ProductIdentified and ReturnOpened, once"
    );
}

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
            "stale weak If-Match",
            Some("li.fr"),
            "POST",
            "/v1/units/SN-1/returns",
            vec![("If-Match".into(), "W/\"4\"".into())],
            412,
            "version-mismatch",
        ),
        (
            "If-Match with a sign",
            Some("li.fr"),
            "POST",
            "/v1/units/SN-1/returns",
            vec![("If-Match".into(), "+0".into())],
            400,
            "invalid-header",
        ),
        (
            "If-Match quoted twice",
            Some("li.fr"),
            "POST",
            "/v1/units/SN-1/returns",
            vec![("If-Match".into(), "\"\"0\"\"".into())],
            400,
            "invalid-header",
        ),
        (
            "If-Match half quoted",
            Some("li.fr"),
            "POST",
            "/v1/units/SN-1/returns",
            vec![("If-Match".into(), "\"0".into())],
            400,
            "invalid-header",
        ),
        (
            "weak If-Match without quotes",
            Some("li.fr"),
            "POST",
            "/v1/units/SN-1/returns",
            vec![("If-Match".into(), "W/0".into())],
            400,
            "invalid-header",
        ),
        (
            "If-Match of 20 digits",
            Some("li.fr"),
            "POST",
            "/v1/units/SN-1/returns",
            vec![("If-Match".into(), "00000000000000000000".into())],
            400,
            "invalid-header",
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

#[actix_web::test]
async fn a_whole_number_float_is_an_integer_and_a_fraction_is_not() {
    let app = TestApp::new().await;
    let svc = app.service().await;
    let receive = |id: &str, distance: Value| {
        json!({
            "request_id": id, "kind": "repair", "category": "own",
            "customer": {"customer_id": "C-1", "name": "Plant"},
            "serial": null, "model": "RD-40", "site": "line 3", "distance_km": distance,
            "description": "no output after a power cut", "occurred_at": null
        })
    };
    let post = |body: Value| {
        app.request(
            Some("li.fr"),
            "POST",
            "/v1/service-requests",
            Some(&body),
            &[],
        )
    };
    // JSON Schema counts 120.0 as an integer: so does the server.
    let (s, r, _) = call(&svc, post(receive("FS-1", json!(120.0)))).await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["events"][0]["payload"]["distance_km"], json!(120));
    let head = app.head();
    for distance in [json!(120.5), json!(-1.0), json!(1e300)] {
        let (s, r, _) = call(&svc, post(receive("FS-2", distance.clone()))).await;
        assert_eq!(
            (s, r["code"].as_str()),
            (400, Some("malformed-request")),
            "{distance}: {r}"
        );
    }
    assert_eq!(app.head(), head);
}

#[actix_web::test]
async fn a_min_position_past_the_head_is_not_reached_yet_not_malformed() {
    let app = TestApp::new().await;
    let svc = app.service().await;
    let head = app.head();
    for path in ["/v1/units", "/v1/zones", "/v1/complaints", "/v1/timers"] {
        let uri = format!("{path}?min_position={}", head + 1);
        let (s, r, ct) = call(&svc, app.request(Some("li.fr"), "GET", &uri, None, &[])).await;
        assert_eq!(
            (s, r["code"].as_str()),
            (409, Some("position-not-reached")),
            "{uri}: {r}"
        );
        assert_eq!(ct.as_deref(), Some("application/problem+json"));
        assert!(
            r["detail"]
                .as_str()
                .unwrap()
                .contains(&format!("head is {head}")),
            "{r}"
        );
        let uri = format!("{path}?min_position={head}");
        let (s, r, _) = call(&svc, app.request(Some("li.fr"), "GET", &uri, None, &[])).await;
        assert_eq!(s, 200, "{uri}: {r}");
    }
}

#[actix_web::test]
async fn a_customer_id_is_an_id_wherever_a_body_names_a_customer() {
    let app = TestApp::new().await;
    let svc = app.service().await;
    let head = app.head();
    for (i, customer_id) in ["".to_string(), "C".repeat(65), "Plant/3".into()]
        .into_iter()
        .enumerate()
    {
        let body = json!({
            "order_id": format!("EP-{i}"), "model": "RD-90",
            "customer": {"customer_id": customer_id, "name": "Plant"},
            "faulty_serial": null, "reason": "no RD-90 spare in the spares zone"
        });
        let (s, r, _) = call(
            &svc,
            app.request(
                Some("wang.as"),
                "POST",
                "/v1/emergency-production-orders",
                Some(&body),
                &[],
            ),
        )
        .await;
        assert_eq!(
            (s, r["code"].as_str()),
            (400, Some("malformed-request")),
            "{customer_id:?}: {r}"
        );
        assert!(
            r["detail"]
                .as_str()
                .unwrap()
                .starts_with("customer.customer_id must be"),
            "{r}"
        );
    }
    let mut body = open_body("R-1");
    body["customer"]["customer_id"] = json!("C 1");
    let (s, r, _) = call(
        &svc,
        app.request(
            Some("li.fr"),
            "POST",
            "/v1/units/SN-1/returns",
            Some(&body),
            &[],
        ),
    )
    .await;
    assert_eq!(
        (s, r["code"].as_str()),
        (400, Some("malformed-request")),
        "{r}"
    );
    assert_eq!(app.head(), head);
}

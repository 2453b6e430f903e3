//! Security end to end: issued tokens (expiry, revocation, constant-time check by id), rate
//! limits per token, personal data sealed in the log and disclosed by role, erasure by key
//! destruction with the chain intact.

mod common;

use actix_web::test;
use chrono::Duration;
use common::{call, open_body, TestApp};
use repairledger_api::Limits;
use repairledger_store::EventStore;
use serde_json::{json, Value};

fn with_token(method: &str, path: &str, token: &str, body: Option<&Value>) -> actix_http::Request {
    let mut req = test::TestRequest::default()
        .method(method.parse().unwrap())
        .uri(path)
        .insert_header(("Authorization", format!("Bearer {token}")));
    if let Some(b) = body {
        req = req.set_json(b);
    }
    req.to_request()
}

#[actix_web::test]
async fn an_issued_token_works_until_it_expires_or_is_revoked() {
    let app = TestApp::new().await;
    let svc = app.service().await;
    let issue = json!({"person_id": "wang.as", "expires_in_days": 1, "occurred_at": null});
    let (s, r, _) = call(
        &svc,
        app.request(Some("gm"), "POST", "/v1/tokens", Some(&issue), &[]),
    )
    .await;
    assert_eq!(s, 200, "{r}");
    let token = r["token"].as_str().unwrap().to_string();
    let token_id = r["token_id"].as_str().unwrap().to_string();
    assert!(token.starts_with(&format!("rl_{token_id}_")));

    let (s, me, _) = call(&svc, with_token("GET", "/v1/me", &token, None)).await;
    assert_eq!(
        (s, me["person_id"].as_str()),
        (200, Some("wang.as")),
        "{me}"
    );

    // The log holds the hash, never the token.
    let log = serde_json::to_string(&app.store.read_all(0, 10_000).unwrap()).unwrap();
    assert!(!log.contains(&token));
    assert!(log.contains(&hex::encode(repairledger_api::auth::token_hash(&token))));

    // The right id with a wrong secret, and a token nobody issued, are both 401.
    let forged = format!("rl_{token_id}_{}", "0".repeat(64));
    let (s, r, _) = call(&svc, with_token("GET", "/v1/me", &forged, None)).await;
    assert_eq!((s, r["code"].as_str()), (401, Some("unauthenticated")));
    let (s, _, _) = call(&svc, with_token("GET", "/v1/me", "rl_0000_nothing", None)).await;
    assert_eq!(s, 401);

    // The list shows the token without its hash, to the manager and the auditor only.
    let (s, list, _) = call(
        &svc,
        app.request(Some("audit"), "GET", "/v1/tokens", None, &[]),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(list[0]["status"], "active");
    assert!(list[0].get("sha256").is_none());
    let (s, r, _) = call(
        &svc,
        app.request(Some("wang.as"), "GET", "/v1/tokens", None, &[]),
    )
    .await;
    assert_eq!((s, r["code"].as_str()), (403, Some("role-not-permitted")));

    // Expired: 401 with its own type, so a client knows to ask for a new one.
    app.set_time(app.clock_now() + Duration::days(2));
    let (s, r, _) = call(&svc, with_token("GET", "/v1/me", &token, None)).await;
    assert_eq!((s, r["code"].as_str()), (401, Some("token-expired")), "{r}");

    // Revoked: 401 at once, on every request; revoking twice is a conflict.
    let (s, r, _) = call(
        &svc,
        app.request(Some("gm"), "POST", "/v1/tokens", Some(&issue), &[]),
    )
    .await;
    assert_eq!(s, 200, "{r}");
    let second = r["token"].as_str().unwrap().to_string();
    let second_id = r["token_id"].as_str().unwrap().to_string();
    assert_eq!(
        call(&svc, with_token("GET", "/v1/me", &second, None))
            .await
            .0,
        200
    );
    let revoke = json!({"reason": "left the company", "occurred_at": null});
    let path = format!("/v1/tokens/{second_id}/revocation");
    let (s, r, _) = call(
        &svc,
        app.request(Some("gm"), "POST", &path, Some(&revoke), &[]),
    )
    .await;
    assert_eq!(s, 200, "{r}");
    let (s, r, _) = call(&svc, with_token("GET", "/v1/me", &second, None)).await;
    assert_eq!((s, r["code"].as_str()), (401, Some("unauthenticated")));
    let (s, r, _) = call(
        &svc,
        app.request(Some("gm"), "POST", &path, Some(&revoke), &[]),
    )
    .await;
    assert_eq!(
        (s, r["code"].as_str()),
        (409, Some("token-already-revoked"))
    );

    // Only the general manager issues; a replayable issue (Idempotency-Key) is refused.
    let (s, r, _) = call(
        &svc,
        app.request(Some("wang.as"), "POST", "/v1/tokens", Some(&issue), &[]),
    )
    .await;
    assert_eq!((s, r["code"].as_str()), (403, Some("role-not-permitted")));
    let idem = [("Idempotency-Key".to_string(), "k-1".to_string())];
    let (s, r, _) = call(
        &svc,
        app.request(Some("gm"), "POST", "/v1/tokens", Some(&issue), &idem),
    )
    .await;
    assert_eq!((s, r["code"].as_str()), (400, Some("invalid-header")));
    let unknown = json!({"person_id": "nobody", "expires_in_days": 1, "occurred_at": null});
    let (s, r, _) = call(
        &svc,
        app.request(Some("gm"), "POST", "/v1/tokens", Some(&unknown), &[]),
    )
    .await;
    assert_eq!((s, r["code"].as_str()), (422, Some("unknown-person")));
    let long = json!({"person_id": "wang.as", "expires_in_days": 100000, "occurred_at": null});
    let (s, r, _) = call(
        &svc,
        app.request(Some("gm"), "POST", "/v1/tokens", Some(&long), &[]),
    )
    .await;
    assert_eq!((s, r["code"].as_str()), (422, Some("invalid-input")));
    let never = json!({"person_id": "wang.as", "expires_in_days": 0, "occurred_at": null});
    let (s, r, _) = call(
        &svc,
        app.request(Some("gm"), "POST", "/v1/tokens", Some(&never), &[]),
    )
    .await;
    assert_eq!((s, r["code"].as_str()), (400, Some("malformed-request")));
}

#[actix_web::test]
async fn a_token_over_its_rate_gets_429_with_retry_after_and_others_are_not_slowed() {
    let app = TestApp::with_limits(Limits {
        rate_per_second: 1,
        rate_burst: 3,
        ..Limits::default()
    })
    .await;
    let svc = app.service().await;
    for _ in 0..3 {
        let (s, _, _) = call(
            &svc,
            app.request(Some("wang.as"), "GET", "/v1/me", None, &[]),
        )
        .await;
        assert_eq!(s, 200);
    }
    let resp = test::call_service(
        &svc,
        app.request(Some("wang.as"), "GET", "/v1/me", None, &[]),
    )
    .await;
    assert_eq!(resp.status().as_u16(), 429);
    assert!(resp.headers().get("Retry-After").is_some());
    let body: Value = test::read_body_json(resp).await;
    assert_eq!(body["code"], "rate-limited");
    // Another token has its own budget.
    let (s, _, _) = call(&svc, app.request(Some("audit"), "GET", "/v1/me", None, &[])).await;
    assert_eq!(s, 200);
}

#[actix_web::test]
async fn personal_data_is_ciphertext_in_the_log_clear_to_after_sales_redacted_to_others() {
    let app = TestApp::new().await;
    let svc = app.service().await;
    let mut body = open_body("R-1");
    body["customer"] = json!({"customer_id": "C-9", "name": "Erase Me Ltd"});
    body["form"]["site"] = json!("12 Secret Road, boiler room");
    let (s, r, _) = call(
        &svc,
        app.request(
            Some("li.fr"),
            "POST",
            "/v1/units/SN-9/returns",
            Some(&body),
            &[],
        ),
    )
    .await;
    assert_eq!(s, 200, "{r}");
    // The command's own answer is disclosed by role like any read.
    assert!(r["events"].to_string().contains("Erase Me Ltd"), "{r}");

    let log = serde_json::to_string(&app.store.read_all(0, 10_000).unwrap()).unwrap();
    assert!(
        !log.contains("Erase Me") && !log.contains("Secret Road"),
        "plaintext in the log"
    );
    assert!(log.contains("pii:v1:"));

    let unit = |who: &'static str| {
        let req = app.request(Some(who), "GET", "/v1/units/SN-9", None, &[]);
        let svc = &svc;
        async move { call(svc, req).await.1 }
    };
    let seen = unit("wang.as").await;
    assert_eq!(
        seen["state"]["returns"][0]["customer"]["name"],
        "Erase Me Ltd"
    );
    assert_eq!(
        seen["records"][0]["form"]["site"],
        "12 Secret Road, boiler room"
    );
    for who in ["audit", "liu.rep", "sun.qc"] {
        let text = unit(who).await.to_string();
        assert!(
            !text.contains("Erase Me") && !text.contains("Secret Road"),
            "{who}: {text}"
        );
        assert!(text.contains("[redacted]"), "{who}");
    }
    // The event feed is disclosed the same way; the export stays sealed for everyone.
    let (_, feed, _) = call(
        &svc,
        app.request(Some("audit"), "GET", "/v1/events?after=0", None, &[]),
    )
    .await;
    assert!(!feed.to_string().contains("Erase Me"));
    let (_, export, _) = call(
        &svc,
        app.request(Some("gm"), "GET", "/v1/export", None, &[]),
    )
    .await;
    assert!(!export.to_string().contains("Erase Me"));
    assert!(export.to_string().contains("pii:v1:"));
}

#[actix_web::test]
async fn erasure_destroys_the_key_keeps_the_chain_and_survives_a_restart() {
    let app = TestApp::new().await;
    let svc = app.service().await;
    let mut body = open_body("R-1");
    body["customer"] = json!({"customer_id": "C-9", "name": "Erase Me Ltd"});
    let (s, r, _) = call(
        &svc,
        app.request(
            Some("li.fr"),
            "POST",
            "/v1/units/SN-9/returns",
            Some(&body),
            &[],
        ),
    )
    .await;
    assert_eq!(s, 200, "{r}");
    let head_before = app.store.verify().unwrap();

    let erase =
        json!({"reason": "the customer's written request of 2026-03-01", "occurred_at": null});
    let (s, r, _) = call(
        &svc,
        app.request(
            Some("wang.as"),
            "POST",
            "/v1/customers/C-9/erasure",
            Some(&erase),
            &[],
        ),
    )
    .await;
    assert_eq!((s, r["code"].as_str()), (403, Some("role-not-permitted")));
    let (s, r, _) = call(
        &svc,
        app.request(
            Some("gm"),
            "POST",
            "/v1/customers/C-9/erasure",
            Some(&erase),
            &[],
        ),
    )
    .await;
    assert_eq!(s, 200, "{r}");
    let (s, r, _) = call(
        &svc,
        app.request(
            Some("gm"),
            "POST",
            "/v1/customers/C-9/erasure",
            Some(&erase),
            &[],
        ),
    )
    .await;
    assert_eq!(
        (s, r["code"].as_str()),
        (409, Some("personal-data-already-erased"))
    );

    let (_, unit, _) = call(
        &svc,
        app.request(Some("wang.as"), "GET", "/v1/units/SN-9", None, &[]),
    )
    .await;
    assert_eq!(unit["state"]["returns"][0]["customer"]["name"], "[erased]");
    assert_eq!(
        unit["state"]["returns"][0]["customer"]["customer_id"],
        "C-9"
    );
    // The events before the erasure are untouched: the chain verifies and keeps its prefix.
    let verify = app.store.verify().unwrap();
    assert_eq!(verify.first_broken, None);
    assert!(verify.events_checked > head_before.events_checked);
    let (_, erasures, _) = call(
        &svc,
        app.request(Some("audit"), "GET", "/v1/erasures", None, &[]),
    )
    .await;
    assert_eq!(erasures[0]["customer_id"], "C-9");
    assert_eq!(erasures[0]["erased_by"], "gm");

    // The customer comes back: a new key; the old record stays erased, the new one reads.
    let mut again = open_body("R-2");
    again["customer"] = json!({"customer_id": "C-9", "name": "Back Again Ltd"});
    let (s, r, _) = call(
        &svc,
        app.request(
            Some("li.fr"),
            "POST",
            "/v1/units/SN-10/returns",
            Some(&again),
            &[],
        ),
    )
    .await;
    assert_eq!(s, 200, "{r}");
    let (_, unit10, _) = call(
        &svc,
        app.request(Some("wang.as"), "GET", "/v1/units/SN-10", None, &[]),
    )
    .await;
    assert_eq!(
        unit10["state"]["returns"][0]["customer"]["name"],
        "Back Again Ltd"
    );

    // A restart on the same log and vault (its start finishes interrupted erasures): the
    // erasure holds, the new key is not touched.
    let restarted = app.restart().await;
    let svc2 = restarted.service().await;
    let (_, unit, _) = call(
        &svc2,
        restarted.request(Some("wang.as"), "GET", "/v1/units/SN-9", None, &[]),
    )
    .await;
    assert_eq!(unit["state"]["returns"][0]["customer"]["name"], "[erased]");
    let (_, unit10, _) = call(
        &svc2,
        restarted.request(Some("wang.as"), "GET", "/v1/units/SN-10", None, &[]),
    )
    .await;
    assert_eq!(
        unit10["state"]["returns"][0]["customer"]["name"],
        "Back Again Ltd"
    );
}

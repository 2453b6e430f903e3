//! Customer signatures as evidence through HTTP: uploaded once, referenced by a command, read
//! back byte for byte by the auditor, sealed in the log and erased with the customer's data.

mod common;

use actix_web::test;
use base64::Engine;
use common::{call, open_body, TestApp};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// A 1x1 PNG.
const PNG: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";

fn upload(data: &str) -> Value {
    json!({"media_type": "image/png", "data": data, "customer_id": "CUST-017", "occurred_at": null})
}

fn signed_with(sha256: &str) -> Value {
    let mut body = open_body("R-1");
    body["customer_signature"] = json!({
        "name": "Zhang San", "signed_at": "2026-03-02T08:00:00Z",
        "evidence": {"kind": "captured", "sha256": sha256}
    });
    body
}

#[actix_web::test]
async fn a_png_uploaded_signs_a_pick_up_and_the_auditor_reads_the_same_bytes_back() {
    let app = TestApp::new().await;
    let svc = app.service().await;
    let png = base64::engine::general_purpose::STANDARD
        .decode(PNG)
        .unwrap();
    let sha256 = hex::encode(Sha256::digest(&png));

    let (s, r, _) = call(
        &svc,
        app.request(
            Some("li.fr"),
            "POST",
            "/v1/signatures",
            Some(&upload(PNG)),
            &[],
        ),
    )
    .await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["sha256"], sha256.as_str());
    assert_eq!(r["evidence_kind"], "captured");
    assert_eq!(r["recorded"], true);
    let position = r["position"].clone();

    // The same bytes again are the same record: nothing is appended.
    let head = app.head();
    let (s, r, _) = call(
        &svc,
        app.request(
            Some("li.fr"),
            "POST",
            "/v1/signatures",
            Some(&upload(PNG)),
            &[],
        ),
    )
    .await;
    assert_eq!(
        (s, &r["recorded"], &r["position"]),
        (200, &json!(false), &position)
    );
    assert_eq!(app.head(), head);

    // The bytes are sealed in the log: the plain base64 is nowhere in it.
    let stored = app
        .state
        .store
        .read_stream(&format!("signature-{sha256}"), 1, 10)
        .unwrap();
    let data = stored[0].payload["data"].as_str().unwrap();
    assert!(data.starts_with("pii:v1:"), "{data}");

    let (s, r, _) = call(
        &svc,
        app.request(
            Some("li.fr"),
            "POST",
            "/v1/units/SN-1/returns",
            Some(&signed_with(&sha256)),
            &[],
        ),
    )
    .await;
    assert_eq!(s, 200, "{r}");
    let (_, unit, _) = call(
        &svc,
        app.request(Some("wang.as"), "GET", "/v1/units/SN-1", None, &[]),
    )
    .await;
    let shown = unit.to_string();
    assert!(shown.contains("\"kind\":\"captured\""), "{shown}");
    assert!(shown.contains(&sha256), "{shown}");

    let resp = test::call_service(
        &svc,
        app.request(
            Some("audit"),
            "GET",
            &format!("/v1/signatures/{sha256}"),
            None,
            &[],
        ),
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers().get("content-type").unwrap(), "image/png");
    assert_eq!(
        resp.headers().get("etag").unwrap().to_str().unwrap(),
        format!("\"{sha256}\"")
    );
    let bytes = test::read_body(resp).await;
    assert_eq!(bytes.as_ref(), png.as_slice());
    assert_eq!(hex::encode(Sha256::digest(&bytes)), sha256);

    let (s, r, _) = call(
        &svc,
        app.request(
            Some("liu.rep"),
            "GET",
            &format!("/v1/signatures/{sha256}"),
            None,
            &[],
        ),
    )
    .await;
    assert_eq!((s, r["code"].as_str()), (403, Some("role-not-permitted")));
}

#[actix_web::test]
async fn a_reference_to_bytes_never_uploaded_refuses_the_pick_up() {
    let app = TestApp::new().await;
    let svc = app.service().await;
    let missing = hex::encode(Sha256::digest(b"never uploaded"));
    let head = app.head();
    let (s, r, _) = call(
        &svc,
        app.request(
            Some("li.fr"),
            "POST",
            "/v1/units/SN-1/returns",
            Some(&signed_with(&missing)),
            &[],
        ),
    )
    .await;
    assert_eq!(
        (s, r["code"].as_str()),
        (422, Some("signature-not-found")),
        "{r}"
    );
    assert_eq!(app.head(), head);
}

#[actix_web::test]
async fn an_upload_over_the_size_limit_is_refused() {
    let app = TestApp::new().await;
    let svc = app.service().await;
    let max = app.state.limits.max_signature_bytes;
    let big = base64::engine::general_purpose::STANDARD.encode(vec![7u8; max + 1]);
    let (s, r, _) = call(
        &svc,
        app.request(
            Some("li.fr"),
            "POST",
            "/v1/signatures",
            Some(&upload(&big)),
            &[],
        ),
    )
    .await;
    assert_eq!(
        (s, r["code"].as_str()),
        (422, Some("signature-too-large")),
        "{r}"
    );
}

#[actix_web::test]
async fn a_signature_is_erased_with_its_customers_personal_data() {
    let app = TestApp::new().await;
    let svc = app.service().await;
    let (s, r, _) = call(
        &svc,
        app.request(
            Some("li.fr"),
            "POST",
            "/v1/signatures",
            Some(&upload(PNG)),
            &[],
        ),
    )
    .await;
    assert_eq!(s, 200, "{r}");
    let path = format!("/v1/signatures/{}", r["sha256"].as_str().unwrap());
    let erase =
        json!({"reason": "the customer's written request of 2026-03-01", "occurred_at": null});
    let (s, r, _) = call(
        &svc,
        app.request(
            Some("gm"),
            "POST",
            "/v1/customers/CUST-017/erasure",
            Some(&erase),
            &[],
        ),
    )
    .await;
    assert_eq!(s, 200, "{r}");
    let (s, r, _) = call(&svc, app.request(Some("audit"), "GET", &path, None, &[])).await;
    assert_eq!((s, r["code"].as_str()), (404, Some("not-found")), "{r}");
}

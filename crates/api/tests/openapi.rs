//! The committed `api-spec/openapi.json` must equal the generated document. Regenerate with
//! `just openapi` (or `UPDATE_OPENAPI=1 cargo test -p repairledger-api --test openapi`).

mod common;

use common::{call, TestApp};

const SPEC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../api-spec/openapi.json");

#[test]
fn the_committed_spec_equals_the_generated_one() {
    let generated = repairledger_api::openapi::document_json();
    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        std::fs::write(SPEC, &generated).expect("write the spec");
    }
    let committed = std::fs::read_to_string(SPEC).unwrap_or_default();
    assert!(
        committed == generated,
        "api-spec/openapi.json is out of date: run `just openapi` and commit the result"
    );
}

#[test]
fn every_operation_has_an_id_a_summary_and_problem_responses() {
    let doc: serde_json::Value =
        serde_json::from_str(&repairledger_api::openapi::document_json()).unwrap();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let here = format!("{method} {path}");
            assert!(op["operationId"].is_string(), "{here}: no operationId");
            assert!(op["summary"].is_string(), "{here}: no summary");
            if method == "post" {
                for status in ["400", "401", "403", "409", "412", "422"] {
                    assert!(
                        op["responses"][status].is_object(),
                        "{here}: no {status} problem"
                    );
                }
            }
        }
    }
}

/// Every documented path is routed: a request to it never hits the router's 404 for unknown endpoints.
#[actix_web::test]
async fn every_documented_path_is_served() {
    let app = TestApp::new().await;
    let svc = app.service().await;
    let doc: serde_json::Value =
        serde_json::from_str(&repairledger_api::openapi::document_json()).unwrap();
    for (path, item) in doc["paths"].as_object().unwrap() {
        let concrete = path
            .replace("{serial}", "SN-0")
            .replace("{handover_id}", "H-0")
            .replace("{plan_id}", "P-0")
            .replace("{order_id}", "O-0")
            .replace("{zone}", "spares")
            .replace("{stream}", "policy")
            .replace("/events/live", "/events/live?max_events=0");
        for method in item.as_object().unwrap().keys() {
            let body = serde_json::json!({});
            let req = app.request(
                Some("audit"),
                &method.to_uppercase(),
                &concrete,
                (method == "post").then_some(&body),
                &[],
            );
            let (_, b, _) = call(&svc, req).await;
            assert!(
                b["code"] != "no-such-endpoint",
                "{method} {path} is documented but not routed: {b}"
            );
        }
    }
}

//! The log outlives the code: a log written by an earlier version (schema 1 of
//! `UnitRegistered`, in `fixtures/logs/v1-walkthrough.jsonl`) imports with the same head hash,
//! verifies, reads through the upcaster, and accepts new commands on top.

mod common;

use common::{call, TestApp};
use repairledger_store::{export, EventStore};
use serde_json::json;

fn v1_log() -> Vec<repairledger_store::RecordedEvent> {
    let text = include_str!("../../../fixtures/logs/v1-walkthrough.jsonl");
    text.lines()
        .map(|l| export::from_json_line(l).expect("fixture line parses"))
        .collect()
}

#[actix_web::test]
async fn an_old_log_imports_with_its_hashes_and_reads_through_the_upcaster() {
    let history = v1_log();
    let last = history.last().unwrap().clone();
    assert!(
        history
            .iter()
            .any(|e| e.event_type == "UnitRegistered" && e.schema == 1),
        "the fixture holds the old shape"
    );
    let app = TestApp::with_history(history).await;
    // The imported head keeps its hash; the current policy version (newer than the log's) is
    // published after it at start-up.
    let imported = app.store.read_all(last.position - 1, 1).unwrap();
    assert_eq!(
        (imported[0].position, imported[0].hash.clone()),
        (last.position, last.hash.clone()),
        "same head hash"
    );
    assert_eq!(app.store.verify().unwrap().first_broken, None);

    let svc = app.service().await;
    let (s, unit, _) = call(
        &svc,
        app.request(Some("audit"), "GET", "/v1/units/SN-1001", None, &[]),
    )
    .await;
    assert_eq!(s, 200, "{unit}");
    let registration = &unit["records"][0]["registration"];
    assert_eq!(registration["in_warranty"], json!(true), "{registration}");
    assert_eq!(registration["warranty_end"], json!("2027-09-01"));
    assert_eq!(unit["state"]["returns"][0]["in_warranty"], json!(true));

    // Rebuilding from the imported log gives the live model.
    let rebuilt = repairledger_projections::rebuild(&app.store, |_| {}).unwrap();
    let live = app
        .state
        .projector
        .read(|m| serde_json::to_string(m).unwrap());
    assert_eq!(serde_json::to_string(&rebuilt).unwrap(), live);

    // New events continue the chain, written in the current schema.
    app.set_time(last.recorded_at + chrono::Duration::days(1));
    let body = json!({
        "return_id": "R-2", "mode": "customer_direct",
        "customer": {"customer_id": "CUST-017", "name": "Huadong Power Plant"},
        "product": null,
        "form": {"fault_symptoms": "relay K3 chatters", "site": "control room 3",
                 "circumstances": "customer brought it in", "filled_by": "wang.as", "unverifiable_reason": null},
        "customer_signature": {"name": "Zhang San (customer)", "signed_at": "2026-03-02T08:00:00Z", "evidence": {"kind": "typed", "reason": "the customer signed the paper handover form"}}, "receiver_returned_at": null, "customer_due_date": null
    });
    let (s, r, _) = call(
        &svc,
        app.request(
            Some("wang.as"),
            "POST",
            "/v1/units/SN-1001/returns",
            Some(&body),
            &[],
        ),
    )
    .await;
    assert_eq!(s, 200, "{r}");
    let (s, r, _) = call(
        &svc,
        app.request(
            Some("wang.as"),
            "POST",
            "/v1/units/SN-1001/registration",
            Some(&json!({})),
            &[],
        ),
    )
    .await;
    assert_eq!(s, 200, "{r}");
    let registered = r["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == "UnitRegistered")
        .unwrap();
    assert_eq!(registered["schema"], json!(2));
    assert!(registered["payload"]["warranty"]["in_warranty"].is_boolean());
    assert_eq!(app.store.verify().unwrap().first_broken, None);

    // One anchor per day: the imported day ends at the old head; today ends at the new head.
    // The start-up publication of the current policy version is dated by the test clock, a day
    // of its own before both.
    let (_, anchors, _) = call(
        &svc,
        app.request(Some("audit"), "GET", "/v1/audit/anchors", None, &[]),
    )
    .await;
    let anchors = anchors.as_array().unwrap();
    assert_eq!(anchors.len(), 3, "{anchors:?}");
    let anchors = &anchors[1..];
    assert_eq!(
        (anchors[0]["position"].as_u64(), anchors[0]["hash"].as_str()),
        (Some(last.position), Some(last.hash.as_str()))
    );
    let head = app.store.head().unwrap();
    assert_eq!(
        (anchors[1]["position"].as_u64(), anchors[1]["hash"].as_str()),
        (Some(head.position), Some(head.hash.as_str()))
    );
    // As of the old head, only the first day existed.
    let path = format!("/v1/audit/anchors?as_of_position={}", last.position);
    let (_, then, _) = call(&svc, app.request(Some("audit"), "GET", &path, None, &[])).await;
    assert_eq!(then.as_array().unwrap().len(), 1);
}

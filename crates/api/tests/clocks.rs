//! Units never registered stay visible (rules 5 and 13): the awaiting-registration list, the SLA
//! board and the monthly QC report all show a mailed unit after-sales received but left alone.

mod common;

use chrono::{TimeZone, Utc};
use common::{call, TestApp};
use serde_json::{json, Value};

fn mailed(return_id: &str) -> Value {
    json!({
        "return_id": return_id, "mode": "mailed",
        "customer": {"customer_id": "C-1", "name": "Plant"},
        "product": {"model": "RD-40", "production_date": "2025-09-01", "warranty_end": "2027-09-01"},
        "form": {"fault_symptoms": "relay chatters", "site": "pump house 2", "circumstances": "weekly test",
                 "filled_by": "zhou.ts", "unverifiable_reason": null},
        "customer_signature": null, "receiver_returned_at": null, "customer_due_date": null
    })
}

#[actix_web::test]
async fn a_received_unit_left_unregistered_shows_on_the_list_the_board_and_the_qc_report() {
    let app = TestApp::new().await;
    let svc = app.service().await;
    let post =
        |who: &str, path: &str, body: Value| app.request(Some(who), "POST", path, Some(&body), &[]);
    let get = |path: &str| app.request(Some("audit"), "GET", path, None, &[]);
    let (s, r, _) = call(
        &svc,
        post("zhou.ts", "/v1/units/SN-1/returns", mailed("R-1")),
    )
    .await;
    assert_eq!(s, 200, "{r}");
    let (_, list, _) = call(&svc, get("/v1/units?step=received")).await;
    assert_eq!(list["items"], json!([]), "in the post: not received yet");

    // Monday 2026-03-09 09:00 local: after-sales takes it out of the post.
    app.set_time(Utc.with_ymd_and_hms(2026, 3, 9, 1, 0, 0).unwrap());
    let (s, r, _) = call(
        &svc,
        post(
            "wang.as",
            "/v1/units/SN-1/receipt-by-post",
            json!({"waybill": "SF1"}),
        ),
    )
    .await;
    assert_eq!(s, 200, "{r}");

    // Thursday: still not registered.
    app.set_time(Utc.with_ymd_and_hms(2026, 3, 12, 2, 0, 0).unwrap());
    let (_, list, _) = call(&svc, get("/v1/units?step=received")).await;
    let serials: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["serial"].as_str().unwrap())
        .collect();
    assert_eq!(serials, ["SN-1"]);

    let (_, board, _) = call(&svc, get("/v1/timers?limit=100")).await;
    let state = |id: &str| {
        board["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["timer"]["timer_id"] == id)
            .map(|t| t["evaluation"]["state"].clone())
    };
    assert_eq!(state("SN-1.registration.1"), Some(json!("breached")));
    assert_eq!(state("SN-1.repair_cycle.1"), Some(json!("running")));

    let (_, report, _) = call(&svc, get("/v1/reports/qc-monthly?month=2026-03")).await;
    assert_eq!(
        report["registration"],
        json!({"received": 1, "registered_in_time": 0, "registered_late": 0, "awaiting_registration": 1})
    );

    // Registered late: off the list, counted late.
    let (s, r, _) = call(
        &svc,
        post("wang.as", "/v1/units/SN-1/registration", json!({})),
    )
    .await;
    assert_eq!(s, 200, "{r}");
    let (_, list, _) = call(&svc, get("/v1/units?step=received")).await;
    assert_eq!(list["items"], json!([]));
    let (_, report, _) = call(&svc, get("/v1/reports/qc-monthly?month=2026-03")).await;
    assert_eq!(report["registration"]["registered_late"], 1);
    assert_eq!(report["registration"]["awaiting_registration"], 0);
}

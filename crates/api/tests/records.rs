//! The monthly QC report in its three formats, and the unit file, through HTTP.

mod common;

use actix_web::test;
use chrono::{TimeZone, Utc};
use common::{call, TestApp};
use serde_json::{json, Value};

/// Replays a scenario file's commands (they are checked in detail by `scenarios.rs`).
async fn replay<S>(app: &TestApp, svc: &S, name: &str)
where
    S: actix_web::dev::Service<
        actix_http::Request,
        Response = actix_web::dev::ServiceResponse,
        Error = actix_web::Error,
    >,
{
    let path = format!(
        "{}/../../fixtures/scenarios/{name}.jsonl",
        env!("CARGO_MANIFEST_DIR")
    );
    for line in std::fs::read_to_string(path).unwrap().lines() {
        let l: Value = serde_json::from_str(line).unwrap();
        app.set_time(l["at"].as_str().unwrap().parse().unwrap());
        let req = app.request(
            l["as"].as_str(),
            l["method"].as_str().unwrap(),
            l["path"].as_str().unwrap(),
            l.get("body"),
            &[],
        );
        let (s, _, _) = call(svc, req).await;
        assert_eq!(u64::from(s), l["expect"].as_u64().unwrap_or(200), "{line}");
    }
}

async fn raw<S>(app: &TestApp, svc: &S, path: &str) -> (String, String)
where
    S: actix_web::dev::Service<
        actix_http::Request,
        Response = actix_web::dev::ServiceResponse,
        Error = actix_web::Error,
    >,
{
    let resp = test::call_service(svc, app.request(Some("audit"), "GET", path, None, &[])).await;
    assert_eq!(resp.status(), 200, "{path}");
    let ct = resp
        .headers()
        .get("content-type")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    let body = String::from_utf8(test::read_body(resp).await.to_vec()).unwrap();
    (ct, body)
}

#[actix_web::test]
async fn the_monthly_qc_report_is_json_csv_and_svg_and_the_same_log_gives_the_same_bytes() {
    let app = TestApp::new().await;
    let svc = app.service().await;
    replay(&app, &svc, "qc_month").await;
    let (ct, csv) = raw(
        &app,
        &svc,
        "/v1/reports/qc-monthly?month=2026-03&format=csv",
    )
    .await;
    assert_eq!(ct, "text/csv; charset=utf-8");
    assert_eq!(
        csv,
        "month,model,cause,repairs,complaints,total,inspections,first_pass_passes,reinspections,first_pass_yield_bp\n\
         2026-03,RD-40,component_quality,3,0,3,0,0,0,\n\
         2026-03,RD-90,design_defect,1,0,1,0,0,0,\n\
         2026-03,RD-90,process_defect,1,0,1,0,0,0,\n\
         2026-03,RD-90,production_control,1,0,1,0,0,0,\n",
        "customer misuse is not a product cause"
    );
    let (ct, svg) = raw(
        &app,
        &svc,
        "/v1/reports/qc-monthly?month=2026-03&format=svg",
    )
    .await;
    assert_eq!(ct, "image/svg+xml");
    insta::assert_snapshot!("qc_report_2026_03_svg", svg);
    let (_, again) = raw(
        &app,
        &svc,
        "/v1/reports/qc-monthly?month=2026-03&format=svg",
    )
    .await;
    assert_eq!(svg, again);
    // Rebuilt from the log, the report is the same.
    let head = app.head();
    let (_, past) = raw(
        &app,
        &svc,
        &format!("/v1/reports/qc-monthly?month=2026-03&format=svg&as_of_position={head}"),
    )
    .await;
    assert_eq!(svg, past);
    let (_, empty) = raw(&app, &svc, "/v1/reports/qc-monthly?month=2026-02").await;
    let empty: Value = serde_json::from_str(&empty).unwrap();
    assert_eq!(empty["total"], 0);
    for bad in [
        "/v1/reports/qc-monthly?month=2026-13",
        "/v1/reports/qc-monthly?format=pdf",
        "/v1/reports/qc-monthly?month=march",
    ] {
        let (s, body, _) = call(&svc, app.request(Some("audit"), "GET", bad, None, &[])).await;
        assert_eq!(
            (s, body["code"].as_str()),
            (400, Some("malformed-request")),
            "{bad}"
        );
    }
}

#[actix_web::test]
async fn a_unit_failed_once_then_passed_counts_one_failure_one_reinspection_and_a_first_pass_yield_below_100_percent(
) {
    let app = TestApp::new().await;
    let svc = app.service().await;
    replay(&app, &svc, "qc_recount").await;
    let (_, json) = raw(&app, &svc, "/v1/reports/qc-monthly?month=2026-03").await;
    let r: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        (&r["rows"][0]["repairs"], &r["rows"][0]["complaints"]),
        (&json!(1), &json!(1)),
        "the return confirmed twice counts once; the complaint once"
    );
    let i = &r["inspections"][0];
    assert_eq!(
        (
            &i["inspections"],
            &i["first_inspections"],
            &i["first_pass_passes"],
            &i["reinspections"],
            &i["first_pass_yield_bp"],
            &i["first_pass_yield"],
        ),
        (
            &json!(2),
            &json!(1),
            &json!(0),
            &json!(1),
            &json!(0),
            &json!("0.00 %")
        )
    );
    let (_, csv) = raw(
        &app,
        &svc,
        "/v1/reports/qc-monthly?month=2026-03&format=csv",
    )
    .await;
    assert_eq!(
        csv,
        "month,model,cause,repairs,complaints,total,inspections,first_pass_passes,reinspections,first_pass_yield_bp\n\
         2026-03,RD-40,component_quality,1,1,2,2,0,1,0\n"
    );
}

#[actix_web::test]
async fn the_unit_file_holds_the_shipped_state_follow_ups_satisfaction_and_service_history() {
    let app = TestApp::new().await;
    let svc = app.service().await;
    app.set_time(Utc.with_ymd_and_hms(2026, 3, 3, 2, 0, 0).unwrap());
    let post =
        |who: &str, path: &str, body: Value| app.request(Some(who), "POST", path, Some(&body), &[]);
    let open = json!({
        "return_id": "R-1", "mode": "carried",
        "customer": {"customer_id": "C-1", "name": "Plant"},
        "product": {"model": "RD-40", "production_date": "2023-05-01", "warranty_end": "2026-05-01", "batch": "B-2023-05"},
        "form": {"fault_symptoms": "no output", "site": "line 3", "circumstances": "after a power cut",
                 "filled_by": "li.fr", "unverifiable_reason": null},
        "customer_signature": {"name": "Zhang San (customer)", "signed_at": "2026-03-02T08:00:00Z", "evidence": {"kind": "typed", "reason": "the customer signed the paper handover form"}}, "receiver_returned_at": "2026-03-02T07:30:00Z", "customer_due_date": null
    });
    assert_eq!(
        call(&svc, post("li.fr", "/v1/units/SN-F1/returns", open))
            .await
            .0,
        200
    );
    let ship = json!({"customer": {"customer_id": "C-1", "name": "Plant"}, "shipped_on": "2023-06-01",
                      "configuration": "RD-40, 4 channels, firmware 2.1", "occurred_at": null});
    let (s, r, _) = call(
        &svc,
        post("liu.rep", "/v1/units/SN-F1/shipments", ship.clone()),
    )
    .await;
    assert_eq!((s, r["code"].as_str()), (403, Some("role-not-permitted")));
    assert_eq!(
        call(&svc, post("chen.prod", "/v1/units/SN-F1/shipments", ship))
            .await
            .0,
        200
    );
    let follow = |year: i32| json!({"year": year, "satisfaction": "satisfied", "notes": "runs two shifts", "occurred_at": null});
    assert_eq!(
        call(
            &svc,
            post("wang.as", "/v1/units/SN-F1/follow-ups", follow(2024))
        )
        .await
        .0,
        200
    );
    let (s, r, _) = call(
        &svc,
        post("wang.as", "/v1/units/SN-F1/follow-ups", follow(2024)),
    )
    .await;
    assert_eq!(
        (s, r["code"].as_str()),
        (409, Some("follow-up-already-recorded"))
    );
    let complaint = json!({"complaint_id": "CP-9", "customer": {"customer_id": "C-1", "name": "Plant"}, "market": "domestic",
        "model": "RD-40", "batch": "B-2023-05", "print_code": null, "serials": ["SN-F1"], "quantity": 1, "weight_kg": 3,
        "description": "cover hinge cracked", "occurred_at": null});
    assert_eq!(
        call(&svc, post("wang.as", "/v1/complaints", complaint))
            .await
            .0,
        200
    );
    let request = json!({"request_id": "SR-9", "kind": "repair", "category": "own", "customer": {"customer_id": "C-1", "name": "Plant"},
        "serial": "SN-F1", "model": "RD-40", "site": "line 3", "distance_km": 40, "description": "no output", "occurred_at": null});
    assert_eq!(
        call(&svc, post("wang.as", "/v1/service-requests", request))
            .await
            .0,
        200
    );
    let (s, file, _) = call(
        &svc,
        app.request(Some("audit"), "GET", "/v1/units/SN-F1/file", None, &[]),
    )
    .await;
    assert_eq!(s, 200, "{file}");
    assert_eq!(file["product"]["batch"], "B-2023-05");
    assert_eq!(
        file["shipments"][0]["configuration"],
        "RD-40, 4 channels, firmware 2.1"
    );
    assert_eq!(file["user"]["customer_id"], "C-1");
    assert_eq!(
        file["follow_ups_missing"],
        json!([2025]),
        "2024 on file, 2025 ended without one, 2026 still running"
    );
    assert_eq!(file["satisfaction"][0]["source"], "follow_up");
    assert_eq!(file["returns"][0]["return_id"], "R-1");
    assert_eq!(file["complaints"][0]["complaint_id"], "CP-9");
    assert_eq!(file["field_service"][0]["request_id"], "SR-9");
    let (s, r, _) = call(
        &svc,
        app.request(Some("audit"), "GET", "/v1/units/SN-404/file", None, &[]),
    )
    .await;
    assert_eq!((s, r["code"].as_str()), (404, Some("unit-not-found")));
}

//! What operators scrape and probe: `/metrics`, `/readyz`, `/healthz`.

mod common;

use actix_web::test;
use common::{call, open_body, TestApp};

#[actix_web::test]
async fn metrics_count_commands_by_outcome_and_expose_the_log_and_projection_positions() {
    let app = TestApp::new().await;
    let svc = app.service().await;
    let (s, _, _) = call(
        &svc,
        app.request(
            Some("li.fr"),
            "POST",
            "/v1/units/SN-1/returns",
            Some(&open_body("R-1")),
            &[],
        ),
    )
    .await;
    assert_eq!(s, 200);
    let (s, _, _) = call(
        &svc,
        app.request(
            Some("li.fr"),
            "POST",
            "/v1/units/SN-1/returns",
            Some(&open_body("R-2")),
            &[],
        ),
    )
    .await;
    assert_eq!(s, 409, "a second open return is refused");
    let resp = test::call_service(&svc, app.request(None, "GET", "/metrics", None, &[])).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers().get("content-type").unwrap(),
        "text/plain; version=0.0.4"
    );
    let text = String::from_utf8(test::read_body(resp).await.to_vec()).unwrap();
    let head = app.head();
    for line in [
        "repairledger_commands_total{outcome=\"accepted\"} 1".to_string(),
        "repairledger_commands_total{outcome=\"refused\"} 1".to_string(),
        "repairledger_events_appended_total 2".to_string(),
        format!("repairledger_log_head_position {head}"),
        format!("repairledger_projection_position {head}"),
        "repairledger_projection_lag_events 0".to_string(),
        "repairledger_write_queue_depth 0".to_string(),
        "repairledger_command_duration_seconds_count 2".to_string(),
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in\n{text}"
        );
    }
}

#[actix_web::test]
async fn readiness_and_liveness_need_no_token() {
    let app = TestApp::new().await;
    let svc = app.service().await;
    let (s, body, _) = call(&svc, app.request(None, "GET", "/readyz", None, &[])).await;
    assert_eq!((s, body["status"].as_str()), (200, Some("ready")));
    let (s, body, _) = call(&svc, app.request(None, "GET", "/healthz", None, &[])).await;
    assert_eq!((s, body["status"].as_str()), (200, Some("ok")));
}

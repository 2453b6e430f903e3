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

/// The route table (one trie lookup per request, crates/api/src/route.rs) must name the same
/// pattern as actix's router for every path of the OpenAPI document, literals such as
/// `/v1/penalties/tallies` beside `/v1/penalties/{penalty_id}` included: the authorization gate,
/// the log span and the metrics all trust it.
#[actix_web::test]
async fn the_route_table_agrees_with_the_router_on_every_documented_path() {
    use actix_web::{dev::Service, web, App, HttpResponse};
    let app = TestApp::new().await;
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<(String, Option<String>)>::new()));
    let record = seen.clone();
    let svc = test::init_service(
        App::new()
            .wrap_fn(move |req, srv| {
                record
                    .lock()
                    .unwrap()
                    .push((req.path().to_string(), req.match_pattern()));
                srv.call(req)
            })
            .configure(repairledger_api::configure(app.state.clone()))
            .default_service(web::to(HttpResponse::NotFound)),
    )
    .await;
    let doc = repairledger_api::openapi::document();
    let mut checked = 0;
    for (pattern, item) in &doc.paths.paths {
        // Every parameter filled with a value no literal segment has.
        let path: String = pattern
            .split('/')
            .map(|seg| if seg.starts_with('{') { "x-1" } else { seg })
            .collect::<Vec<_>>()
            .join("/");
        let method = if item.get.is_some() { "GET" } else { "POST" };
        let req = test::TestRequest::default()
            .method(method.parse().unwrap())
            .uri(&path)
            .to_request();
        let _ = test::call_service(&svc, req).await;
        let (seen_path, actix) = seen.lock().unwrap().pop().expect("the request was seen");
        assert_eq!(seen_path, path);
        assert_eq!(actix.as_deref(), Some(pattern.as_str()), "actix on {path}");
        assert_eq!(
            repairledger_api::route::table().lookup(&path),
            Some(pattern.as_str()),
            "the route table on {path}"
        );
        checked += 1;
    }
    assert!(checked > 100, "only {checked} documented paths");
    for unknown in [
        "/v1/units",
        "/v1/units/x/nope",
        "/nope",
        "/v1/penalties/a/b",
    ] {
        let _ = test::call_service(&svc, test::TestRequest::get().uri(unknown).to_request()).await;
        let (_, actix) = seen.lock().unwrap().pop().unwrap();
        assert_eq!(
            repairledger_api::route::table()
                .lookup(unknown)
                .map(str::to_string),
            actix,
            "{unknown}"
        );
    }
}

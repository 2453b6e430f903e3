//! Field service through HTTP beyond the scenarios: escalation to a return, timers as of an
//! instant, per-item penalties, and bad input on every new kind of body and query.

mod common;

use chrono::{Duration, TimeZone, Utc};
use common::{call, open_body, TestApp};
use serde_json::{json, Value};

fn receive(id: &str, serial: Option<&str>) -> Value {
    json!({
        "request_id": id, "kind": "repair", "category": "own",
        "customer": {"customer_id": "C-1", "name": "Plant"},
        "serial": serial, "model": "RD-40", "site": "line 3", "distance_km": 120,
        "description": "no output after a power cut", "occurred_at": null
    })
}

#[actix_web::test]
async fn escalation_links_the_request_and_the_units_open_return() {
    let app = TestApp::new().await;
    let svc = app.service().await;
    let post =
        |who: &str, path: &str, body: Value| app.request(Some(who), "POST", path, Some(&body), &[]);
    let (s, r, _) = call(
        &svc,
        post(
            "wang.as",
            "/v1/service-requests",
            receive("SR-1", Some("SN-1")),
        ),
    )
    .await;
    assert_eq!(s, 200, "{r}");
    let escalate = json!({"serial": "SN-1", "return_id": "R-1", "occurred_at": null});
    let (s, r, _) = call(
        &svc,
        post(
            "wang.as",
            "/v1/service-requests/SR-1/escalation",
            escalate.clone(),
        ),
    )
    .await;
    assert_eq!(
        (s, r["code"].as_str()),
        (422, Some("return-not-open")),
        "{r}"
    );
    let (s, r, _) = call(
        &svc,
        post("li.fr", "/v1/units/SN-1/returns", open_body("R-1")),
    )
    .await;
    assert_eq!(s, 200, "{r}");
    let (s, r, _) = call(
        &svc,
        post("wang.as", "/v1/service-requests/SR-1/escalation", escalate),
    )
    .await;
    assert_eq!(s, 200, "{r}");
    let (s, list, _) = call(
        &svc,
        app.request(
            Some("audit"),
            "GET",
            "/v1/service-requests?serial=SN-1",
            None,
            &[],
        ),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(list["items"][0]["escalated_to"]["return_id"], "R-1");
    let (s, one, _) = call(
        &svc,
        app.request(Some("audit"), "GET", "/v1/service-requests/SR-1", None, &[]),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(one["state"]["escalated_to"], json!(["SN-1", "R-1"]));
    let (s, r, _) = call(
        &svc,
        app.request(
            Some("audit"),
            "GET",
            "/v1/service-requests/SR-404",
            None,
            &[],
        ),
    )
    .await;
    assert_eq!(
        (s, r["code"].as_str()),
        (404, Some("service-request-not-found"))
    );
}

#[actix_web::test]
async fn timers_are_judged_at_the_instant_asked_and_as_the_log_stood() {
    let app = TestApp::new().await;
    let svc = app.service().await;
    // Tuesday 2026-03-03 09:00 +08:00.
    let t0 = Utc.with_ymd_and_hms(2026, 3, 3, 1, 0, 0).unwrap();
    app.set_time(t0);
    let (s, r, _) = call(
        &svc,
        app.request(
            Some("li.fr"),
            "POST",
            "/v1/service-requests",
            Some(&receive("SR-2", None)),
            &[],
        ),
    )
    .await;
    assert_eq!(s, 200, "{r}");
    let timer = |q: String| {
        let req = app.request(
            Some("audit"),
            "GET",
            &format!("/v1/timers?subject=SR-2{q}"),
            None,
            &[],
        );
        let svc = &svc;
        async move {
            let (s, body, _) = call(svc, req).await;
            assert_eq!(s, 200, "{body}");
            body["items"][0]["evaluation"]["state"]
                .as_str()
                .unwrap_or("none")
                .to_string()
        }
    };
    assert_eq!(timer(String::new()).await, "running");
    app.set_time(t0 + Duration::hours(7));
    assert_eq!(
        timer(String::new()).await,
        "breached",
        "relay due 13:00 +8 after 4 working hours"
    );
    let then = (t0 + Duration::hours(1)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    assert_eq!(timer(format!("&at={then}")).await, "running");
    let (s, r, _) = call(
        &svc,
        app.request(
            Some("li.fr"),
            "POST",
            "/v1/service-requests/SR-2/relay",
            Some(&json!({"to_person_id": "wang.as", "occurred_at": null})),
            &[],
        ),
    )
    .await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(
        timer("&rule=relay".into()).await,
        "breached",
        "stopped late"
    );
    // As the log stood at the receipt, judged then: running.
    let (s, page, _) = call(
        &svc,
        app.request(
            Some("audit"),
            "GET",
            "/v1/timers?as_of_position=2&rule=relay",
            None,
            &[],
        ),
    )
    .await;
    assert_eq!(s, 200, "{page}");
    assert_eq!(page["items"][0]["timer"]["stopped_at"], Value::Null);
    let (s, page, _) = call(
        &svc,
        app.request(
            Some("audit"),
            "GET",
            "/v1/timers?state=breached&person=li.fr",
            None,
            &[],
        ),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(page["items"].as_array().unwrap().len(), 1, "{page}");
    let (s, page, _) = call(
        &svc,
        app.request(
            Some("audit"),
            "GET",
            "/v1/timers?department=after_sales&state=breached",
            None,
            &[],
        ),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(page["items"].as_array().unwrap().len(), 0, "{page}");
}

#[actix_web::test]
async fn unclear_records_are_penalised_per_item_and_numbered() {
    let app = TestApp::new().await;
    let svc = app.service().await;
    let post =
        |who: &str, path: &str, body: Value| app.request(Some(who), "POST", path, Some(&body), &[]);
    let (s, _, _) = call(
        &svc,
        post("wang.as", "/v1/service-requests", receive("SR-3", None)),
    )
    .await;
    assert_eq!(s, 200);
    let path = "/v1/service-requests/SR-3/unclear-record-penalties";
    let body = |person: &str, items: u32| json!({"person_id": person, "items": items, "reason": "site address and contact missing: a wasted trip", "occurred_at": null});
    let (s, r, _) = call(&svc, post("wang.as", path, body("nobody", 1))).await;
    assert_eq!((s, r["code"].as_str()), (422, Some("unknown-person")));
    let (s, r, _) = call(&svc, post("wang.as", path, body("li.fr", 3))).await;
    assert_eq!(s, 200, "{r}");
    let (s, r, _) = call(&svc, post("wang.as", path, body("li.fr", 1))).await;
    assert_eq!(s, 200, "{r}");
    let (_, list, _) = call(
        &svc,
        app.request(
            Some("audit"),
            "GET",
            "/v1/penalties?person=li.fr&rule=unclear_record",
            None,
            &[],
        ),
    )
    .await;
    let amounts: Vec<(String, i64)> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["penalty_id"].as_str().unwrap().to_string(),
                p["amount_minor"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        amounts,
        vec![
            ("SR-3.unclear_record.1".to_string(), 15_000),
            ("SR-3.unclear_record.2".to_string(), 5_000)
        ]
    );
    let (s, r, _) = call(
        &svc,
        post(
            "wang.as",
            "/v1/service-requests/SR-404/unclear-record-penalties",
            body("li.fr", 1),
        ),
    )
    .await;
    assert_eq!(
        (s, r["code"].as_str()),
        (404, Some("service-request-not-found"))
    );
    let (s, one, _) = call(
        &svc,
        app.request(
            Some("audit"),
            "GET",
            "/v1/penalties/SR-3.unclear_record.1",
            None,
            &[],
        ),
    )
    .await;
    assert_eq!((s, one["items"].as_u64()), (200, Some(3)));
    let (s, r, _) = call(
        &svc,
        app.request(
            Some("audit"),
            "GET",
            "/v1/penalties/SR-3.nothing.1",
            None,
            &[],
        ),
    )
    .await;
    assert_eq!((s, r["code"].as_str()), (404, Some("penalty-not-found")));
}

#[actix_web::test]
async fn bad_field_service_input_is_a_clear_problem_and_appends_nothing() {
    let app = TestApp::new().await;
    let svc = app.service().await;
    let post =
        |who: &str, path: &str, body: Value| app.request(Some(who), "POST", path, Some(&body), &[]);
    let (s, _, _) = call(
        &svc,
        post("wang.as", "/v1/service-requests", receive("SR-4", None)),
    )
    .await;
    assert_eq!(s, 200);
    let head = app.head();
    let cases: Vec<(&str, &str, &str, Value, u16, &str)> = vec![
        (
            "wang.as",
            "POST",
            "/v1/service-requests/SR-4/clock-pauses",
            json!({"timer": "coffee_break", "reason": "holiday", "note": "x", "occurred_at": null}),
            400,
            "malformed-request",
        ),
        (
            "wang.as",
            "POST",
            "/v1/service-requests/SR-4/clock-pauses",
            json!({"timer": "on_site_arrival", "reason": "holiday", "note": "national day", "occurred_at": null}),
            422,
            "no-running-timer",
        ),
        (
            "wang.as",
            "POST",
            "/v1/service-requests/SR-4/relay",
            json!({"to_person_id": "ghost", "occurred_at": null}),
            422,
            "unknown-person",
        ),
        (
            "wang.as",
            "POST",
            "/v1/service-requests/SR-4/quotes",
            json!({"travel_cost_minor": 1, "engineers": 1, "days": 1, "parts": [], "work_cost_minor": 0, "margin_bp": null, "occurred_at": null}),
            422,
            "warranty-not-decided",
        ),
        (
            "wang.as",
            "POST",
            "/v1/service-requests/bad%20id/contacts",
            json!({"note": "called", "occurred_at": null}),
            400,
            "malformed-request",
        ),
        (
            "wang.as",
            "POST",
            "/v1/service-requests/SR-404/contacts",
            json!({"note": "called", "occurred_at": null}),
            404,
            "service-request-not-found",
        ),
        (
            "wang.as",
            "POST",
            "/v1/service-requests",
            json!({"request_id": "SR-4", "kind": "repair", "category": "own", "customer": {"customer_id": "C", "name": "C"},
                "serial": null, "model": null, "site": "x y", "distance_km": 1, "description": "again", "occurred_at": null}),
            409,
            "step-out-of-order",
        ),
        (
            "audit",
            "POST",
            "/v1/service-requests/SR-4/contacts",
            json!({"note": "called", "occurred_at": null}),
            403,
            "read-only-role",
        ),
        (
            "wang.as",
            "POST",
            "/v1/breaches/SR-4.relay.1/penalty",
            json!({"amount_minor": null, "reason": "late", "occurred_at": null}),
            422,
            "no-breach",
        ),
        (
            "wang.as",
            "POST",
            "/v1/breaches/SR-4.relay.1/penalty",
            json!({"amount_minor": null, "reason": "late", "surprise": 1}),
            400,
            "malformed-request",
        ),
        (
            "gm",
            "POST",
            "/v1/penalties/SR-4.relay.1/waiver",
            json!({"reason": "customer withdrew", "occurred_at": null}),
            404,
            "penalty-not-found",
        ),
        (
            "audit",
            "GET",
            "/v1/timers?state=late",
            Value::Null,
            400,
            "malformed-request",
        ),
        (
            "audit",
            "GET",
            "/v1/timers?limit=0",
            Value::Null,
            400,
            "malformed-request",
        ),
        (
            "audit",
            "GET",
            "/v1/timers?colour=red",
            Value::Null,
            400,
            "malformed-request",
        ),
        (
            "audit",
            "GET",
            "/v1/penalties/tallies",
            Value::Null,
            400,
            "malformed-request",
        ),
        (
            "audit",
            "GET",
            "/v1/penalties/tallies?by=planet",
            Value::Null,
            400,
            "malformed-request",
        ),
        (
            "audit",
            "GET",
            "/v1/service-requests?status=maybe",
            Value::Null,
            400,
            "malformed-request",
        ),
    ];
    for (who, method, path, body, status, code) in cases {
        let body = (!body.is_null()).then_some(body);
        let (s, r, ct) = call(
            &svc,
            app.request(Some(who), method, path, body.as_ref(), &[]),
        )
        .await;
        assert_eq!(
            (s, r["code"].as_str()),
            (status, Some(code)),
            "{method} {path}: {r}"
        );
        assert_eq!(ct.as_deref(), Some("application/problem+json"));
    }
    assert_eq!(app.head(), head, "no refused command appended anything");
}

#[actix_web::test]
async fn quotes_follow_the_rate_tables_and_the_competitor_margin() {
    let app = TestApp::new().await;
    let svc = app.service().await;
    let post =
        |who: &str, path: &str, body: Value| app.request(Some(who), "POST", path, Some(&body), &[]);
    let mut body = receive("SR-5", None);
    body["category"] = json!("competitor");
    assert_eq!(
        call(&svc, post("wang.as", "/v1/service-requests", body))
            .await
            .0,
        200
    );
    let warranty = json!({"in_warranty": false, "misuse": false, "basis": "competitor's press", "occurred_at": null});
    let (s, r, _) = call(
        &svc,
        post(
            "wang.as",
            "/v1/service-requests/SR-5/warranty-decision",
            warranty.clone(),
        ),
    )
    .await;
    assert_eq!(
        (s, r["code"].as_str()),
        (422, Some("competitor-work-not-approved"))
    );
    let approval = json!({"scope": "replace the seal kit only", "occurred_at": null});
    assert_eq!(
        call(
            &svc,
            post(
                "gm",
                "/v1/service-requests/SR-5/competitor-approval",
                approval
            )
        )
        .await
        .0,
        200
    );
    assert_eq!(
        call(
            &svc,
            post(
                "wang.as",
                "/v1/service-requests/SR-5/warranty-decision",
                warranty
            )
        )
        .await
        .0,
        200
    );
    let quote = |margin: i64| json!({"travel_cost_minor": 50000, "engineers": 1, "days": 2, "parts": [{"part_no": "SEAL", "quantity": 2, "unit_price_minor": 10000}], "work_cost_minor": 30000, "margin_bp": margin, "occurred_at": null});
    let (s, r, _) = call(
        &svc,
        post("wang.as", "/v1/service-requests/SR-5/quotes", quote(1999)),
    )
    .await;
    assert_eq!((s, r["code"].as_str()), (422, Some("margin-below-minimum")));
    let (s, r, _) = call(
        &svc,
        post("wang.as", "/v1/service-requests/SR-5/quotes", quote(2500)),
    )
    .await;
    assert_eq!(s, 200, "{r}");
    let (_, view, _) = call(
        &svc,
        app.request(Some("audit"), "GET", "/v1/service-requests/SR-5", None, &[]),
    )
    .await;
    // Cost: travel 500 + 2 days x 400 + parts 200 + work 300 = 1800; +25 % = 2250.00.
    assert_eq!(
        view["quotes"][0]["quote"]["total_minor"],
        json!(225_000),
        "{view}"
    );
}

#[actix_web::test]
async fn the_service_queue_lists_open_requests_by_category_priority_then_oldest_first() {
    let app = TestApp::new().await;
    let svc = app.service().await;
    let t0 = Utc.with_ymd_and_hms(2026, 3, 3, 1, 0, 0).unwrap();
    // Received in this order; the ids sort differently again.
    for (n, (id, category)) in [
        ("SR-A", "competitor"),
        ("SR-B", "partner"),
        ("SR-C", "own_via_agent"),
        ("SR-D", "own"),
        ("SR-E", "partner"),
        ("SR-F", "own"),
    ]
    .into_iter()
    .enumerate()
    {
        app.set_time(t0 + Duration::minutes(10 * n as i64));
        let mut body = receive(id, None);
        body["category"] = json!(category);
        let (s, r, _) = call(
            &svc,
            app.request(
                Some("wang.as"),
                "POST",
                "/v1/service-requests",
                Some(&body),
                &[],
            ),
        )
        .await;
        assert_eq!(s, 200, "{r}");
    }
    let ids = |v: &Value| -> Vec<String> {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["request_id"].as_str().unwrap().to_string())
            .collect()
    };
    let get = |path: &str| app.request(Some("audit"), "GET", path, None, &[]);
    let (s, q, _) = call(&svc, get("/v1/service-requests?status=open&sort=priority")).await;
    assert_eq!(s, 200, "{q}");
    assert_eq!(
        ids(&q),
        ["SR-D", "SR-F", "SR-C", "SR-B", "SR-E", "SR-A"],
        "own, own via agent, partner, competitor; oldest first within a category"
    );
    // Paged, the cursor continues the same order.
    let (_, first, _) = call(&svc, get("/v1/service-requests?sort=priority&limit=4")).await;
    assert_eq!(ids(&first), ["SR-D", "SR-F", "SR-C", "SR-B"]);
    let cursor = first["next_cursor"].as_str().unwrap().to_string();
    let (_, rest, _) = call(
        &svc,
        get(&format!(
            "/v1/service-requests?sort=priority&limit=4&cursor={cursor}"
        )),
    )
    .await;
    assert_eq!(ids(&rest), ["SR-E", "SR-A"]);
    // The default order is still by id.
    let (_, by_id, _) = call(&svc, get("/v1/service-requests")).await;
    assert_eq!(
        ids(&by_id),
        ["SR-A", "SR-B", "SR-C", "SR-D", "SR-E", "SR-F"]
    );
    let (s, r, _) = call(&svc, get("/v1/service-requests?sort=urgency")).await;
    assert_eq!(
        (s, r["code"].as_str()),
        (400, Some("malformed-request")),
        "{r}"
    );
}

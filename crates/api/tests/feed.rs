//! Following the log: filters and cursors, stream pages, the live SSE feed with resume, export.

mod common;

use common::{call, open_body, TestApp};
use repairledger_store::{export, EventStore};
use serde_json::{json, Value};

/// Opens returns for `n` units: positions 2.. (1 is the policy), two events each.
async fn open_units<S>(app: &TestApp, svc: &S, from: usize, n: usize)
where
    S: actix_web::dev::Service<
        actix_http::Request,
        Response = actix_web::dev::ServiceResponse,
        Error = actix_web::Error,
    >,
{
    for i in from..from + n {
        let path = format!("/v1/units/SN-{i}/returns");
        let (s, b, _) = call(
            svc,
            app.request(Some("li.fr"), "POST", &path, Some(&open_body("R-1")), &[]),
        )
        .await;
        assert_eq!(s, 200, "{b}");
    }
}

/// Parses an SSE body into (id, event type) pairs, skipping comments.
fn frames(body: &str) -> Vec<(u64, String)> {
    body.split("\n\n")
        .filter(|f| f.starts_with("id: "))
        .map(|f| {
            let mut id = 0;
            let mut ty = String::new();
            for line in f.lines() {
                if let Some(v) = line.strip_prefix("id: ") {
                    id = v.parse().unwrap();
                }
                if let Some(v) = line.strip_prefix("event: ") {
                    ty = v.to_string();
                }
            }
            (id, ty)
        })
        .collect()
}

async fn text<S>(svc: &S, req: actix_http::Request) -> (u16, String)
where
    S: actix_web::dev::Service<
        actix_http::Request,
        Response = actix_web::dev::ServiceResponse,
        Error = actix_web::Error,
    >,
{
    let resp = actix_web::test::call_service(svc, req).await;
    let status = resp.status().as_u16();
    let bytes = actix_web::test::read_body(resp).await;
    (status, String::from_utf8(bytes.to_vec()).unwrap())
}

#[actix_web::test]
async fn filters_narrow_the_feed_and_the_cursor_moves_past_what_they_skip() {
    let app = TestApp::new().await;
    let svc = app.service().await;
    open_units(&app, &svc, 1, 5).await;
    let get = |path: &str| call(&svc, app.request(Some("audit"), "GET", path, None, &[]));
    let (_, page, _) = get("/v1/events?type=ReturnOpened&limit=2").await;
    let types: Vec<&str> = page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["ReturnOpened", "ReturnOpened"]);
    assert_eq!(
        page["next_after"],
        json!(5),
        "the cursor is the last position scanned"
    );
    let (_, page, _) = get("/v1/events?type=ReturnOpened&after=5&limit=100").await;
    assert_eq!(page["events"].as_array().unwrap().len(), 3);
    let (_, page, _) = get("/v1/events?stream_prefix=unit-SN-3&limit=100").await;
    let positions: Vec<u64> = page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["position"].as_u64().unwrap())
        .collect();
    assert_eq!(positions, [6, 7]);
    let (_, page, _) = get("/v1/events?type=NoSuchType").await;
    assert_eq!(
        (
            page["events"].as_array().unwrap().len(),
            &page["next_after"]
        ),
        (0, &json!(11))
    );
    let (_, page, _) = get("/v1/events?from=2030-01-01T00:00:00Z").await;
    assert!(page["events"].as_array().unwrap().is_empty());
}

#[actix_web::test]
async fn a_stream_reads_in_pages() {
    let app = TestApp::new().await;
    let svc = app.service().await;
    open_units(&app, &svc, 1, 1).await;
    let hand = json!({"handover_id": "H-1", "to_person_id": "wang.as", "plan_id": null});
    call(
        &svc,
        app.request(
            Some("li.fr"),
            "POST",
            "/v1/units/SN-1/handovers",
            Some(&hand),
            &[],
        ),
    )
    .await;
    let get = |path: &str| call(&svc, app.request(Some("audit"), "GET", path, None, &[]));
    let (s, page, _) = get("/v1/streams/unit-SN-1/events?limit=2").await;
    assert_eq!(s, 200, "{page}");
    assert_eq!(
        (page["version"].clone(), page["next_from_version"].clone()),
        (json!(3), json!(3))
    );
    let (_, page, _) = get("/v1/streams/unit-SN-1/events?from_version=3").await;
    assert_eq!(page["events"][0]["type"], "HandoverInitiated");
    assert_eq!(page["next_from_version"], Value::Null);
    let (s, p, _) = get("/v1/streams/unit-NOPE/events").await;
    assert_eq!((s, p["code"].as_str()), (404, Some("not-found")));
}

#[actix_web::test]
async fn the_live_feed_resumes_from_last_event_id_with_no_gap_and_no_duplicate() {
    let app = TestApp::new().await;
    let svc = app.service().await;
    open_units(&app, &svc, 1, 4).await; // positions 1..=9
    let (s, first) = text(
        &svc,
        app.request(
            Some("audit"),
            "GET",
            "/v1/events/live?max_events=4",
            None,
            &[],
        ),
    )
    .await;
    assert_eq!(s, 200);
    let first = frames(&first);
    assert_eq!(first.iter().map(|f| f.0).collect::<Vec<_>>(), [1, 2, 3, 4]);
    // The client drops and reconnects with the last id it saw.
    let resume = vec![("Last-Event-ID".to_string(), "4".to_string())];
    let (_, second) = text(
        &svc,
        app.request(
            Some("audit"),
            "GET",
            "/v1/events/live?max_events=5",
            None,
            &resume,
        ),
    )
    .await;
    let second = frames(&second);
    assert_eq!(
        second.iter().map(|f| f.0).collect::<Vec<_>>(),
        [5, 6, 7, 8, 9]
    );
    assert_eq!(second[0].1, "ReturnOpened");
    // Filters apply to the live feed too.
    let (_, only) = text(
        &svc,
        app.request(
            Some("audit"),
            "GET",
            "/v1/events/live?type=ReturnOpened&max_events=4",
            None,
            &[],
        ),
    )
    .await;
    assert!(frames(&only).iter().all(|f| f.1 == "ReturnOpened"));
}

#[actix_web::test]
async fn the_live_feed_delivers_events_appended_after_it_was_opened() {
    let app = TestApp::new().await;
    let svc = app.service().await;
    // Caught up at position 1; the next three events arrive while the stream waits.
    let req = app.request(
        Some("audit"),
        "GET",
        "/v1/events/live?after=1&max_events=3",
        None,
        &[],
    );
    let resp = actix_web::test::call_service(&svc, req).await;
    let reading = actix_web::test::read_body(resp);
    let writing = async {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        open_units(&app, &svc, 1, 2).await;
    };
    let (body, ()) = futures::join!(reading, writing);
    let got = frames(std::str::from_utf8(&body).unwrap());
    assert_eq!(got.iter().map(|f| f.0).collect::<Vec<_>>(), [2, 3, 4]);
}

#[actix_web::test]
async fn an_export_imports_into_an_empty_log_with_the_same_head() {
    let app = TestApp::new().await;
    let svc = app.service().await;
    open_units(&app, &svc, 1, 3).await;
    let (s, body) = text(
        &svc,
        app.request(Some("audit"), "GET", "/v1/export", None, &[]),
    )
    .await;
    assert_eq!(s, 200);
    let events: Vec<_> = body
        .lines()
        .map(|l| export::from_json_line(l).unwrap())
        .collect();
    assert_eq!(events.len(), 7);
    let copy = TestApp::with_history(events).await;
    assert_eq!(
        copy.store.head().unwrap(),
        app.store.head().unwrap(),
        "same head hash"
    );
    let (_, ce) = text(
        &svc,
        app.request(
            Some("audit"),
            "GET",
            "/v1/export?format=cloudevents&after=6",
            None,
            &[],
        ),
    )
    .await;
    let ce: Value = serde_json::from_str(ce.lines().next().unwrap()).unwrap();
    assert_eq!(
        (ce["specversion"].as_str(), ce["position"].as_u64()),
        (Some("1.0"), Some(7))
    );
    assert_eq!(ce["type"], "dev.repairledger.ReturnOpened");
}

/// A backup taken while 64 clients write (issue "No silent loss"): every export is a verified
/// prefix of the log, and importing it gives exactly the log's hash at the export's last position.
#[actix_web::test]
async fn an_export_taken_while_64_clients_write_imports_to_the_logs_hash_at_its_last_position() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let app = TestApp::new().await;
    let svc = app.service().await;
    let before = app.head();
    let done = AtomicBool::new(false);
    let writers = async {
        let clients = (0..64).map(|w| {
            let (app, svc) = (&app, &svc);
            async move {
                for i in 0..4 {
                    let path = format!("/v1/units/SN-W{w}-{i}/returns");
                    let (s, b, _) = call(
                        svc,
                        app.request(Some("li.fr"), "POST", &path, Some(&open_body("R-1")), &[]),
                    )
                    .await;
                    assert_eq!(s, 200, "{b}");
                }
            }
        });
        futures::future::join_all(clients).await;
        done.store(true, Ordering::SeqCst);
    };
    let exports = async {
        let mut bodies = Vec::new();
        loop {
            let finished = done.load(Ordering::SeqCst);
            let (s, body) = text(
                &svc,
                app.request(Some("audit"), "GET", "/v1/export", None, &[]),
            )
            .await;
            assert_eq!(s, 200);
            bodies.push(body);
            if finished {
                return bodies;
            }
            tokio::task::yield_now().await;
        }
    };
    let ((), bodies) = futures::join!(writers, exports);
    let head = app.store.head().unwrap();
    assert_eq!(
        head.position,
        before + 64 * 4 * 2,
        "every acknowledged command is in the log"
    );
    let mut lengths = std::collections::BTreeSet::new();
    for body in bodies {
        let events: Vec<_> = body
            .lines()
            .map(|l| export::from_json_line(l).unwrap())
            .collect();
        let Some(last) = events.last().map(|e| e.position) else {
            continue;
        };
        lengths.insert(last);
        let logged = app.store.read_all(last - 1, 1).unwrap();
        let copy = TestApp::with_history(events).await;
        let restored = copy.store.head().unwrap();
        assert_eq!(restored.position, last);
        assert_eq!(
            restored.hash, logged[0].hash,
            "the export up to {last} restores the log's hash there"
        );
    }
    assert!(
        lengths.contains(&head.position),
        "the last export, taken after the writers, holds everything: {lengths:?}"
    );
}

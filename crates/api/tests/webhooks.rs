//! Webhooks: signed deliveries in log order, retries, dead letters and redelivery, against a
//! real HTTP receiver on loopback.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use common::{call, open_body, TestApp};
use serde_json::{json, Value};

#[derive(Default)]
struct Receiver {
    /// (subscription, signature, body, parsed body)
    got: Mutex<Vec<(String, String, String, Value)>>,
    fail_next: AtomicU32,
    broken: AtomicBool,
}

async fn receive(req: HttpRequest, body: web::Bytes, r: web::Data<Receiver>) -> HttpResponse {
    if req.path() == "/broken" && r.broken.load(Ordering::SeqCst) {
        return HttpResponse::ServiceUnavailable().finish();
    }
    if r.fail_next.load(Ordering::SeqCst) > 0 {
        r.fail_next.fetch_sub(1, Ordering::SeqCst);
        return HttpResponse::InternalServerError().finish();
    }
    let header = |n: &str| req.headers().get(n).unwrap().to_str().unwrap().to_string();
    let (subscription, sig) = (
        header("X-Repairledger-Subscription"),
        header("X-Repairledger-Signature"),
    );
    let body_text = String::from_utf8(body.to_vec()).unwrap();
    let value: Value = serde_json::from_str(&body_text).unwrap();
    r.got
        .lock()
        .unwrap()
        .push((subscription, sig, body_text, value));
    HttpResponse::Ok().finish()
}

async fn start_receiver() -> (web::Data<Receiver>, u16) {
    let r = web::Data::new(Receiver::default());
    let data = r.clone();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .default_service(web::to(receive))
    })
    .workers(1)
    .bind(("127.0.0.1", 0))
    .unwrap();
    let port = server.addrs()[0].port();
    actix_web::rt::spawn(server.run());
    (r, port)
}

async fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..400 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("timed out waiting for {what}");
}

#[actix_web::test]
async fn deliveries_are_signed_in_order_retried_and_dead_lettered() {
    let (receiver, port) = start_receiver().await;
    let app = TestApp::new().await;
    let svc = app.service().await;
    tokio::spawn(repairledger_api::outbox::run(
        app.state.clone(),
        Duration::from_millis(20),
    ));

    let sub = json!({"subscription_id": "erp-1", "url": format!("http://127.0.0.1:{port}/hook"),
                     "event_types": null, "stream_prefix": "unit-", "from_position": 0});
    let (s, created, _) = call(
        &svc,
        app.request(Some("wang.as"), "POST", "/v1/webhooks", Some(&sub), &[]),
    )
    .await;
    assert_eq!(s, 200, "{created}");
    let secret = created["secret"].as_str().unwrap().to_string();
    let (s, p, _) = call(
        &svc,
        app.request(Some("audit"), "POST", "/v1/webhooks", Some(&sub), &[]),
    )
    .await;
    assert_eq!((s, p["code"].as_str()), (403, Some("read-only-role")));

    // The first two attempts fail; the retries deliver, and order holds.
    receiver.fail_next.store(2, Ordering::SeqCst);
    for i in 1..=3 {
        let path = format!("/v1/units/SN-{i}/returns");
        let (s, b, _) = call(
            &svc,
            app.request(Some("li.fr"), "POST", &path, Some(&open_body("R-1")), &[]),
        )
        .await;
        assert_eq!(s, 200, "{b}");
    }
    wait_for("six unit events", || {
        receiver.got.lock().unwrap().len() >= 6
    })
    .await;
    let got = receiver.got.lock().unwrap().clone();
    let positions: Vec<u64> = got
        .iter()
        .map(|g| g.3["position"].as_u64().unwrap())
        .collect();
    // 1 is the policy, 2 the subscription itself: filtered out by the stream prefix.
    assert_eq!(
        positions,
        [3, 4, 5, 6, 7, 8],
        "in log order, no gap, no duplicate"
    );
    for (_, sig, body, value) in &got {
        let t: i64 = sig
            .split(',')
            .next()
            .unwrap()
            .trim_start_matches("t=")
            .parse()
            .unwrap();
        assert_eq!(
            sig,
            &repairledger_api::outbox::signature(&secret, t, body.as_bytes()),
            "HMAC verifies"
        );
        assert!(value["stream"].as_str().unwrap().starts_with("unit-"));
    }

    // A receiver that keeps failing: each event is tried max_attempts times, then dead-lettered.
    receiver.broken.store(true, Ordering::SeqCst);
    let broken = json!({"subscription_id": "erp-2", "url": format!("http://127.0.0.1:{port}/broken"),
                        "event_types": ["ReturnOpened"], "stream_prefix": null, "from_position": 0});
    let (s, b, _) = call(
        &svc,
        app.request(Some("wang.as"), "POST", "/v1/webhooks", Some(&broken), &[]),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let dead_path = "/v1/webhooks/erp-2/dead-letters";
    let mut dead = Value::Null;
    for _ in 0..400 {
        dead = call(
            &svc,
            app.request(Some("audit"), "GET", dead_path, None, &[]),
        )
        .await
        .1;
        if dead.as_array().is_some_and(|d| d.len() == 3) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let dead = dead.as_array().unwrap().clone();
    assert_eq!(
        dead.iter()
            .map(|d| d["position"].as_u64().unwrap())
            .collect::<Vec<_>>(),
        [4, 6, 8]
    );
    assert!(dead.iter().all(|d| d["attempts"] == 3));
    let (_, status, _) = call(
        &svc,
        app.request(Some("audit"), "GET", "/v1/webhooks/erp-2", None, &[]),
    )
    .await;
    assert_eq!(
        (
            status["dead_letters"].as_u64(),
            status["delivery"]["delivered_through"].as_u64()
        ),
        (Some(3), Some(9))
    );

    // Redelivery fails while the receiver is down, and succeeds once it is back.
    let redo = "/v1/webhooks/erp-2/dead-letters/6/redelivery";
    let (s, p, _) = call(
        &svc,
        app.request(Some("wang.as"), "POST", redo, Some(&json!({})), &[]),
    )
    .await;
    assert_eq!((s, p["code"].as_str()), (502, Some("delivery-failed")));
    receiver.broken.store(false, Ordering::SeqCst);
    let (s, left, _) = call(
        &svc,
        app.request(Some("wang.as"), "POST", redo, Some(&json!({})), &[]),
    )
    .await;
    assert_eq!(s, 200, "{left}");
    assert_eq!(left.as_array().unwrap().len(), 2);

    // Unsubscribed: nothing more is sent.
    let stop = json!({"reason": "ERP migrated"});
    let (s, b, _) = call(
        &svc,
        app.request(
            Some("wang.as"),
            "POST",
            "/v1/webhooks/erp-1/cancellation",
            Some(&stop),
            &[],
        ),
    )
    .await;
    assert_eq!(
        (s, b["subscription"]["active"].as_bool()),
        (200, Some(false))
    );
    let before = receiver.got.lock().unwrap().len();
    let (_, opened, _) = call(
        &svc,
        app.request(
            Some("li.fr"),
            "POST",
            "/v1/units/SN-9/returns",
            Some(&open_body("R-1")),
            &[],
        ),
    )
    .await;
    let last = opened["position"].as_u64().unwrap();
    wait_for("erp-2 to get the new ReturnOpened", || {
        receiver
            .got
            .lock()
            .unwrap()
            .iter()
            .any(|g| g.0 == "erp-2" && g.3["position"] == json!(last))
    })
    .await;
    let after: Vec<(String, u64)> = receiver.got.lock().unwrap()[before..]
        .iter()
        .map(|g| (g.0.clone(), g.3["position"].as_u64().unwrap()))
        .collect();
    assert!(
        after.iter().all(|(sub, _)| sub == "erp-2"),
        "nothing for the cancelled erp-1: {after:?}"
    );
}

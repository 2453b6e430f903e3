//! Failures of the machine underneath are answered, not hidden: a failed write is a 503 with
//! nothing appended; an overloaded writer sheds load with 503 + Retry-After instead of queueing
//! without bound.

mod common;

use common::{call, open_body, TestApp};
use serde_json::Value;

#[actix_web::test]
async fn an_io_error_during_append_is_a_503_and_appends_nothing() {
    let app = TestApp::new().await;
    let svc = app.service().await;
    let head = app.head();
    app.store.inject_write_failures(1);
    let key = vec![("Idempotency-Key".to_string(), "k-1".to_string())];
    let req = app.request(
        Some("li.fr"),
        "POST",
        "/v1/units/SN-1/returns",
        Some(&open_body("R-1")),
        &key,
    );
    let resp = actix_web::test::call_service(&svc, req).await;
    assert_eq!(resp.status().as_u16(), 503);
    assert_eq!(
        resp.headers()
            .get("Retry-After")
            .and_then(|v| v.to_str().ok()),
        Some("5")
    );
    let body: Value = actix_web::test::read_body_json(resp).await;
    assert_eq!(body["code"], "storage-failed");
    assert_eq!(app.head(), head, "nothing half-written");
    // The retry with the same key goes through, once.
    let (s, b, _) = call(
        &svc,
        app.request(
            Some("li.fr"),
            "POST",
            "/v1/units/SN-1/returns",
            Some(&open_body("R-1")),
            &key,
        ),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(app.head(), head + 2);
    assert_eq!(
        repairledger_store::EventStore::verify(&app.store)
            .unwrap()
            .first_broken,
        None
    );
}

#[actix_web::test]
async fn a_failed_flush_is_a_503_and_nothing_more_is_appended_until_the_log_is_reopened() {
    let app = TestApp::new().await;
    let svc = app.service().await;
    app.store.inject_flush_failures(1);
    let open = |serial: &str| {
        app.request(
            Some("li.fr"),
            "POST",
            &format!("/v1/units/{serial}/returns"),
            Some(&open_body("R-1")),
            &[],
        )
    };
    let (s, b, _) = call(&svc, open("SN-1")).await;
    assert_eq!(
        s, 503,
        "a command whose flush failed is not acknowledged: {b}"
    );
    // The disk answers again, but the pages the failed fsync covered may be gone while sled's
    // memory says they are written: nothing is chained onto them.
    let head = app.head();
    let (s, b, _) = call(&svc, open("SN-2")).await;
    assert_eq!(s, 503, "{b}");
    assert_eq!(b["code"], "storage-failed");
    assert_eq!(app.head(), head, "nothing appended after a failed flush");
    let (s, b, _) = call(&svc, app.request(None, "GET", "/readyz", None, &[])).await;
    assert_eq!(s, 503, "{b}");
    assert!(
        b["detail"].as_str().unwrap_or_default().contains("flush"),
        "{b}"
    );
}

/// sled shows a batch before its flush; an idempotent retry must not be answered from it. A
/// replay of a commit whose flush failed acknowledged what a restart does not find (the
/// simulation, tests/sim.rs, found it as a crash between a retry's 200 and the flush).
#[actix_web::test]
async fn a_retry_is_not_acknowledged_from_a_commit_whose_flush_failed() {
    let app = TestApp::new().await;
    let svc = app.service().await;
    app.store.inject_flush_failures(1);
    let key = [("Idempotency-Key".to_string(), "open-SN-1".to_string())];
    let open = || {
        app.request(
            Some("li.fr"),
            "POST",
            "/v1/units/SN-1/returns",
            Some(&open_body("R-1")),
            &key,
        )
    };
    let (s, b, _) = call(&svc, open()).await;
    assert_eq!(s, 503, "{b}");
    let (s, b, _) = call(&svc, open()).await;
    assert_ne!(
        s, 200,
        "the retry was acknowledged from a commit that never became durable: {b}"
    );
}

/// What sled applied but no flush covered is not read: not folded into a checkpoint, not
/// delivered, not the head. A checkpoint of it made the next start after a crash refuse the log
/// as shorter than the checkpoint (the simulation, tests/sim.rs, found it).
#[actix_web::test]
async fn what_no_flush_covered_is_not_read_nor_checkpointed() {
    use repairledger_store::EventStore;
    let app = TestApp::new().await;
    let svc = app.service().await;
    let before = app.store.head().expect("head");
    let mut checkpointer = app.state.projector.checkpointer(1);
    app.store.inject_flush_failures(1);
    let (s, b, _) = call(
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
    assert_eq!(s, 503, "{b}");
    assert_eq!(app.store.head().expect("head"), before);
    assert!(app
        .store
        .read_all(before.position, 10)
        .expect("read")
        .is_empty());
    checkpointer.run(&app.store).expect("checkpoint");
    let saved = app
        .store
        .load_checkpoint(repairledger_projections::CHECKPOINT)
        .expect("load")
        .map_or(0, |c| c.position);
    assert!(
        saved <= before.position,
        "checkpoint at {saved}, durable head {}",
        before.position
    );
}

#[actix_web::test]
async fn a_full_disk_is_a_503_storage_full_until_the_disk_takes_writes_and_the_log_reopens() {
    let app = TestApp::new().await;
    let svc = app.service().await;
    let head = app.head();
    let key = vec![("Idempotency-Key".to_string(), "k-full".to_string())];
    let open = |serial: &str, key: &[(String, String)]| {
        app.request(
            Some("li.fr"),
            "POST",
            &format!("/v1/units/{serial}/returns"),
            Some(&open_body("R-1")),
            key,
        )
    };
    app.store.inject_full_disk_flushes(1);
    let (s, b, _) = call(&svc, open("SN-1", &key)).await;
    assert_eq!(s, 503, "{b}");
    assert_eq!(b["code"], "storage-full");
    assert!(
        b["type"].as_str().unwrap().ends_with("/storage-full"),
        "{b}"
    );
    // Still refused, and readiness names the fault, while the log is not reopened.
    let (s, b, _) = call(&svc, open("SN-2", &[])).await;
    assert_eq!((s, b["code"].as_str()), (503, Some("storage-full")), "{b}");
    let (s, b, _) = call(&svc, app.request(None, "GET", "/readyz", None, &[])).await;
    assert_eq!(s, 503, "{b}");
    assert!(
        b["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("no space left"),
        "{b}"
    );
    assert_eq!(app.head(), head, "nothing acknowledged, nothing visible");

    // The disk takes writes again: the server's own retry reopens the log.
    let task = actix_web::rt::spawn(repairledger_api::recover_from_disk_faults(
        app.state.clone(),
        std::time::Duration::from_millis(20),
    ));
    let mut ready = false;
    for _ in 0..250 {
        let (s, _, _) = call(&svc, app.request(None, "GET", "/readyz", None, &[])).await;
        if s == 200 {
            ready = true;
            break;
        }
        actix_web::rt::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    task.abort();
    assert!(ready, "ready again once the log reopened");
    // The command that failed is retried with its key and answered once, whether or not its
    // batch reached the disk before the fault.
    let (s, b, _) = call(&svc, open("SN-1", &key)).await;
    assert_eq!(s, 200, "{b}");
    let (s, b, _) = call(&svc, open("SN-1", &key)).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(app.head(), head + 2, "one return opened, once");
    assert_eq!(
        repairledger_store::EventStore::verify(&app.store)
            .unwrap()
            .first_broken,
        None
    );
}

#[actix_web::test]
async fn an_overloaded_writer_sheds_load_with_retry_after() {
    let app = TestApp::with_queue(1).await;
    let svc = app.service().await;
    let head = app.head();
    let requests = (0..64).map(|i| {
        let path = format!("/v1/units/SN-{i}/returns");
        call(
            &svc,
            app.request(Some("li.fr"), "POST", &path, Some(&open_body("R-1")), &[]),
        )
    });
    let results = futures::future::join_all(requests).await;
    let ok = results.iter().filter(|r| r.0 == 200).count() as u64;
    let shed: Vec<_> = results.iter().filter(|r| r.0 == 503).collect();
    assert_eq!(ok + shed.len() as u64, 64, "only 200 or 503: {results:?}");
    assert!(
        !shed.is_empty() && ok > 0,
        "{ok} accepted, {} shed",
        shed.len()
    );
    assert!(shed.iter().all(|r| r.1["code"] == "service-unavailable"));
    assert_eq!(
        app.head(),
        head + 2 * ok,
        "exactly the acknowledged commands are in the log"
    );
}

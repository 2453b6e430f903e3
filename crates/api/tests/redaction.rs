//! Personal data never reaches a log line, a problem detail, the event log's bytes or a role
//! that may not see it: every scenario of `fixtures/scenarios/` is run through the API with the
//! server's request logging at TRACE level, and every name, signature and site its requests
//! carry is searched for everywhere it must not be.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use actix_web::{test, App};
use common::TestApp;
use serde_json::Value;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Every personal value in a request body: the fields `repairledger_privacy::fields` seals.
fn personal(v: &Value, parent: Option<&str>, out: &mut Vec<String>) {
    match v {
        Value::Object(o) => {
            for (k, child) in o {
                let holder = parent.is_some_and(|p| p == "customer" || p.ends_with("signature"));
                match child {
                    Value::String(s)
                        if k == "site" || k == "confirmed_by" || (k == "name" && holder) =>
                    {
                        out.push(s.clone())
                    }
                    _ => personal(child, Some(k), out),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|c| personal(c, parent, out)),
        _ => {}
    }
}

fn files_under(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = entry.path();
        if p.is_dir() {
            files_under(&p, out);
        } else {
            out.push(p);
        }
    }
}

#[actix_web::test]
async fn no_scenario_leaks_personal_data_into_logs_problems_the_log_or_redacted_reads() {
    let captured = Captured::default();
    let writer = captured.clone();
    tracing::subscriber::set_global_default(
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            // Every span too (the request's method, route, target, status), not only events.
            .with_span_events(
                tracing_subscriber::fmt::format::FmtSpan::NEW
                    | tracing_subscriber::fmt::format::FmtSpan::CLOSE,
            )
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .with_writer(move || writer.clone())
            .finish(),
    )
    .expect("the only subscriber of this test binary");

    let dir = format!("{}/../../fixtures/scenarios", env!("CARGO_MANIFEST_DIR"));
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .collect();
    names.sort();
    let (mut requests, mut problems, mut values) = (0, 0, Vec::<String>::new());
    for path in &names {
        let app = TestApp::new().await;
        let svc = test::init_service(
            App::new()
                .wrap(tracing_actix_web::TracingLogger::default())
                .configure(repairledger_api::configure(app.state.clone())),
        )
        .await;
        let mut seen = Vec::new();
        for raw in std::fs::read_to_string(path).unwrap().lines() {
            if raw.trim().is_empty() {
                continue;
            }
            let line: Value = serde_json::from_str(raw).unwrap();
            app.set_time(line["at"].as_str().unwrap().parse().unwrap());
            let steps: Vec<Value> = match line.get("concurrent").and_then(Value::as_array) {
                Some(reqs) => reqs.clone(),
                None => vec![line.clone()],
            };
            for step in steps {
                if let Some(b) = step.get("body") {
                    personal(b, None, &mut seen);
                }
                let headers: Vec<(String, String)> = step
                    .get("headers")
                    .and_then(Value::as_object)
                    .map(|h| {
                        h.iter()
                            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().into()))
                            .collect()
                    })
                    .unwrap_or_default();
                let req = app.request(
                    step["as"].as_str(),
                    step["method"].as_str().unwrap(),
                    step["path"].as_str().unwrap(),
                    step.get("body"),
                    &headers,
                );
                let (status, body, _) = common::call(&svc, req).await;
                requests += 1;
                if status >= 400 {
                    problems += 1;
                    let text = body.to_string();
                    for v in &seen {
                        assert!(
                            !text.contains(v.as_str()),
                            "{path:?}: a problem shows {v:?}: {text}"
                        );
                    }
                }
            }
        }
        seen.sort();
        seen.dedup();
        // The log's events and its files on disk hold ciphertext only.
        let events = serde_json::to_string(
            &repairledger_store::EventStore::read_all(&app.store, 0, 1_000_000).unwrap(),
        )
        .unwrap();
        let mut files = Vec::new();
        files_under(app.dir.path(), &mut files);
        let disk: Vec<u8> = files
            .iter()
            .flat_map(|f| std::fs::read(f).unwrap_or_default())
            .collect();
        // Roles that may not see personal data read none of it, wherever they look.
        let mut redacted = String::new();
        for read in [
            "/v1/units?limit=500",
            "/v1/service-requests?limit=500",
            "/v1/complaints",
            "/v1/events?after=0&limit=1000",
            "/v1/returns",
        ] {
            for who in ["audit", "liu.rep", "sun.qc"] {
                let (s, body, _) =
                    common::call(&svc, app.request(Some(who), "GET", read, None, &[])).await;
                assert_eq!(s, 200, "{read}");
                redacted.push_str(&body.to_string());
            }
        }
        let (_, clear, _) = common::call(
            &svc,
            app.request(
                Some("wang.as"),
                "GET",
                "/v1/events?after=0&limit=1000",
                None,
                &[],
            ),
        )
        .await;
        let clear = clear.to_string();
        for v in &seen {
            assert!(
                !events.contains(v.as_str()),
                "{path:?}: {v:?} in the event log"
            );
            assert!(
                !disk.windows(v.len()).any(|w| w == v.as_bytes()),
                "{path:?}: {v:?} in the files of the log or the vault"
            );
            assert!(
                !redacted.contains(v.as_str()),
                "{path:?}: {v:?} shown to a role that may not see it"
            );
            assert!(
                clear.contains(&serde_json::to_string(v).unwrap()),
                "{path:?}: after-sales does not see {v:?}"
            );
        }
        values.extend(seen);
    }
    values.sort();
    values.dedup();
    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.lines().count() > requests,
        "the request log was captured ({} lines)",
        logs.lines().count()
    );
    for v in &values {
        assert!(!logs.contains(v.as_str()), "{v:?} in the server log");
    }
    assert!(
        values.len() >= 10,
        "the scenarios carry personal data: {values:?}"
    );
    println!(
        "redaction: {} scenarios, {requests} requests ({problems} refused), {} personal values, {} log lines: none leaked",
        names.len(),
        values.len(),
        logs.lines().count()
    );
}

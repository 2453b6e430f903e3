//! Crash safety: the real server under concurrent load, killed with SIGKILL at random moments
//! and restarted, loses no acknowledged event. After every restart: every acknowledged event is
//! at its position with its hash, positions are gapless, the chain verifies; at the end the
//! projections (checkpoint + catch-up) equal a rebuild from position 0.
//!
//! `CRASH_CYCLES` sets the number of kill/restart cycles (CI: a few; `just crash`: 100).

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_repairledger");

fn people_file() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/dev-people.toml")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start(data: &Path, port: u16) -> Child {
    Command::new(BIN)
        .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
        .arg("--data")
        .arg(data)
        .env("REPAIRLEDGER_PEOPLE", people_file())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the server starts")
}

async fn wait_ready(client: &reqwest::Client, base: &str) {
    for _ in 0..200 {
        if let Ok(r) = client.get(format!("{base}/healthz")).send().await {
            if r.status().is_success() {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the server did not become ready");
}

fn open_body(return_id: &str) -> Value {
    json!({
        "return_id": return_id, "mode": "carried",
        "customer": {"customer_id": "C-1", "name": "Plant"},
        "product": {"model": "RD-40", "production_date": "2025-09-01", "warranty_end": "2027-09-01"},
        "form": {"fault_symptoms": "no output", "site": "line 3", "circumstances": "after a power cut",
                 "filled_by": "li.fr", "unverifiable_reason": null},
        "customer_signature": {"name": "Zhang San (customer)", "signed_at": "2026-03-02T08:00:00Z", "evidence": {"kind": "typed", "reason": "the customer signed the paper handover form"}}, "receiver_returned_at": "2026-03-02T07:30:00Z", "customer_due_date": null
    })
}

/// One client: opens returns on fresh units and hands them to after-sales, recording every
/// event the server acknowledged (position → hash).
async fn load(
    client: reqwest::Client,
    base: String,
    worker: usize,
    cycle: usize,
) -> BTreeMap<u64, String> {
    let mut acked = BTreeMap::new();
    for i in 0.. {
        let serial = format!("C{cycle}-W{worker}-{i}");
        let steps = [
            (
                format!("{base}/v1/units/{serial}/returns"),
                "dev-token-field-receiver",
                open_body("R-1"),
            ),
            (
                format!("{base}/v1/units/{serial}/handovers"),
                "dev-token-field-receiver",
                json!({"handover_id": "H-1", "to_person_id": "wang.as", "plan_id": null}),
            ),
        ];
        for (url, token, body) in steps {
            let sent = client
                .post(url)
                .bearer_auth(token)
                .header("Content-Type", "application/json")
                .body(body.to_string())
                .send()
                .await;
            let Ok(resp) = sent else { return acked };
            if !resp.status().is_success() {
                return acked;
            }
            let Ok(v) = resp.json::<Value>().await else {
                return acked;
            };
            for e in v["events"].as_array().into_iter().flatten() {
                acked.insert(
                    e["position"].as_u64().unwrap(),
                    e["hash"].as_str().unwrap().to_string(),
                );
            }
        }
    }
    acked
}

/// GETs a JSON document as the auditor.
async fn get_json(client: &reqwest::Client, url: &str) -> Value {
    client
        .get(url)
        .bearer_auth("dev-token-auditor-readonly")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn all_events(client: &reqwest::Client, base: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut after = 0;
    loop {
        let page: Value = get_json(
            client,
            &format!("{base}/v1/events?after={after}&limit=1000"),
        )
        .await;
        let events = page["events"].as_array().unwrap().clone();
        if events.is_empty() {
            return out;
        }
        after = page["next_after"].as_u64().unwrap();
        out.extend(events);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_acknowledged_event_is_lost_across_kill_9() {
    let cycles: usize = std::env::var("CRASH_CYCLES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(5);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let mut acked: BTreeMap<u64, String> = BTreeMap::new();
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    for cycle in 0..cycles {
        let port = free_port();
        let base = format!("http://127.0.0.1:{port}");
        let mut server = start(&data, port);
        wait_ready(&client, &base).await;

        // Everything acknowledged so far survived the previous kill.
        let events = all_events(&client, &base).await;
        for (i, e) in events.iter().enumerate() {
            assert_eq!(
                e["position"].as_u64(),
                Some(i as u64 + 1),
                "cycle {cycle}: positions are gapless"
            );
        }
        for (position, hash) in &acked {
            let e = events
                .get(*position as usize - 1)
                .unwrap_or_else(|| panic!("cycle {cycle}: acknowledged position {position} lost"));
            assert_eq!(
                e["hash"].as_str(),
                Some(hash.as_str()),
                "cycle {cycle}: position {position} changed"
            );
        }
        let verify: Value = get_json(&client, &format!("{base}/v1/audit/verify")).await;
        assert_eq!(verify["intact"], json!(true), "cycle {cycle}: {verify}");

        // Load, then SIGKILL at a pseudo-random moment while requests are in flight.
        let workers: Vec<_> = (0..8)
            .map(|w| tokio::spawn(load(client.clone(), base.clone(), w, cycle)))
            .collect();
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        tokio::time::sleep(Duration::from_millis(100 + seed % 400)).await;
        server.kill().expect("SIGKILL");
        server.wait().unwrap();
        for w in workers {
            acked.extend(w.await.unwrap());
        }
    }
    // A clean final start and stop, then the projections must equal a rebuild from position 0.
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut server = start(&data, port);
    wait_ready(&client, &base).await;
    let events = all_events(&client, &base).await;
    assert!(acked.keys().all(|p| (*p as usize) <= events.len()));
    server.kill().unwrap();
    server.wait().unwrap();
    let rebuild = Command::new(BIN)
        .args(["rebuild", "--data"])
        .arg(&data)
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&rebuild.stdout);
    assert!(
        rebuild.status.success(),
        "rebuild differs from the live projections: {out}"
    );
    let verify = Command::new(BIN)
        .args(["verify", "--data"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stdout)
    );
    println!(
        "crash test: {cycles} SIGKILL cycles, {} events acknowledged, 0 lost, {} in the log",
        acked.len(),
        events.len()
    );
    assert!(
        !acked.is_empty(),
        "the load acknowledged nothing: the test proved nothing"
    );
}

/// Changes one byte of the payload of the event at `position` in the sled files.
fn tamper(data: &Path, position: u64) {
    let db = sled::open(data).unwrap();
    // The log tree: `e` followed by the big-endian position (see sled_log.rs).
    let events = db.open_tree("log").unwrap();
    let key = [&[b'e'][..], &position.to_be_bytes()].concat();
    let mut bytes = events.get(&key).unwrap().unwrap().to_vec();
    let at = bytes
        .windows(10)
        .position(|w| w == b"\"payload\":")
        .unwrap()
        + 12;
    bytes[at] ^= 0x01;
    events.insert(key, bytes).unwrap();
    db.flush().unwrap();
}

fn import_fixture(data: &Path) -> u64 {
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/logs/v1-walkthrough.jsonl");
    let out = Command::new(BIN)
        .args(["import", "--data"])
        .arg(data)
        .arg("--input")
        .arg(&fixture)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let head: Value = serde_json::from_slice(&out.stdout).unwrap();
    head["head_position"].as_u64().unwrap()
}

#[test]
fn a_corrupted_tail_stops_the_server_naming_the_position_and_verify_finds_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let head = import_fixture(&data);
    tamper(&data, head);
    let out = Command::new(BIN)
        .args(["serve", "--bind", &format!("127.0.0.1:{}", free_port())])
        .arg("--data")
        .arg(&data)
        .env("REPAIRLEDGER_PEOPLE", people_file())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(2),
        "the server must not start: {stderr}"
    );
    assert!(
        stderr.contains(&format!("position {head}")),
        "names the position: {stderr}"
    );
    let verify = Command::new(BIN)
        .args(["verify", "--data"])
        .arg(&data)
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&verify.stdout).unwrap();
    assert_eq!(verify.status.code(), Some(1));
    assert_eq!(report["first_broken"], json!(head));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_the_queue_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut server = start(&data, port);
    wait_ready(&client, &base).await;
    let workers: Vec<_> = (0..8)
        .map(|w| tokio::spawn(load(client.clone(), base.clone(), w, 0)))
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let term = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    let status = server.wait().unwrap();
    assert!(status.success(), "a clean exit on SIGTERM: {status:?}");
    let mut acked = BTreeMap::new();
    for w in workers {
        acked.extend(w.await.unwrap());
    }
    assert!(!acked.is_empty());
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut server = start(&data, port);
    wait_ready(&client, &base).await;
    let events = all_events(&client, &base).await;
    for (position, hash) in &acked {
        assert_eq!(
            events[*position as usize - 1]["hash"].as_str(),
            Some(hash.as_str())
        );
    }
    server.kill().unwrap();
    server.wait().unwrap();
}

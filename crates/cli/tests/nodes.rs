//! Two API nodes on one PostgreSQL log: a write on one node is read on the other with
//! `min_position` (read your writes across nodes), a customer's sealed name opens on both (the
//! key vault is shared), optimistic concurrency and idempotency hold across nodes, the event
//! feed of each node follows the other's appends, and both see one intact chain.
//!
//! Needs `PGTEST_URL` (see crates/store/tests/pg_conformance.rs); CI sets it and
//! `PGTEST_REQUIRED`, which makes its absence a failure.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_repairledger");

fn url() -> Option<String> {
    repairledger_store::conformance::postgres_url()
}

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

struct Node {
    child: Child,
    base: String,
    log: PathBuf,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(url: &str, schema: &str, keys: &Path, dir: &Path, name: &str) -> Node {
    let port = free_port();
    let log = dir.join(format!("{name}.log"));
    let child = Command::new(BIN)
        .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
        .arg("--data")
        .arg(dir.join(name))
        .env("REPAIRLEDGER_STORE", "postgres")
        .env("REPAIRLEDGER_POSTGRES_URL", url)
        .env("REPAIRLEDGER_POSTGRES_SCHEMA", schema)
        .env("REPAIRLEDGER_PEOPLE", people_file())
        .env("REPAIRLEDGER_PII_KEYS_FILE", keys)
        .env("REPAIRLEDGER_RATE_PER_SECOND", "0")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("the server starts");
    Node {
        child,
        base: format!("http://127.0.0.1:{port}"),
        log,
    }
}

async fn ready(client: &reqwest::Client, node: &Node) {
    for _ in 0..400 {
        if let Ok(r) = client.get(format!("{}/healthz", node.base)).send().await {
            if r.status().is_success() {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!(
        "node {} did not start: {}",
        node.base,
        std::fs::read_to_string(&node.log).unwrap_or_default()
    );
}

async fn post(
    client: &reqwest::Client,
    node: &Node,
    path: &str,
    token: &str,
    body: Value,
    headers: &[(&str, &str)],
) -> (u16, reqwest::header::HeaderMap, Value) {
    let mut req = client
        .post(format!("{}{path}", node.base))
        .bearer_auth(token)
        .json(&body);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    (status, headers, r.json().await.unwrap_or(Value::Null))
}

async fn get(client: &reqwest::Client, node: &Node, path: &str, token: &str) -> (u16, String) {
    let r = client
        .get(format!("{}{path}", node.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

fn open_body(serial: &str, name: &str) -> Value {
    json!({
        "return_id": format!("R-{serial}"), "mode": "carried",
        "customer": {"customer_id": format!("C-{serial}"), "name": name},
        "product": {"model": "RD-40", "production_date": "2025-09-01", "warranty_end": "2027-09-01"},
        "form": {"fault_symptoms": "no output", "site": "line 3", "circumstances": "after a power cut",
                 "filled_by": "li.fr", "unverifiable_reason": null},
        "customer_signature": {"name": "Zhang San (customer)", "signed_at": "2026-03-02T08:00:00Z", "evidence": {"kind": "typed", "reason": "the customer signed the paper handover form"}}, "receiver_returned_at": "2026-03-02T07:30:00Z", "customer_due_date": null
    })
}

const FR: &str = "dev-token-field-receiver";
const AS: &str = "dev-token-after-sales";
const AUDITOR: &str = "dev-token-auditor-readonly";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_share_one_log_and_read_each_others_writes() {
    let Some(url) = url() else { return };
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys.toml");
    let file = Command::new(BIN).args(["keys", "new"]).output().unwrap();
    std::fs::write(&keys, &file.stdout).unwrap();
    let schema = format!("nodes_{}", std::process::id());
    // Started together: they race to create the tables and to publish the policy.
    let a = start(&url, &schema, &keys, dir.path(), "a");
    let b = start(&url, &schema, &keys, dir.path(), "b");
    let client = reqwest::Client::new();
    ready(&client, &a).await;
    ready(&client, &b).await;

    // A write on A, read on B at the position A answered.
    let (status, opened_headers, opened) = post(
        &client,
        &a,
        "/v1/units/SN-1/returns",
        FR,
        open_body("SN-1", "Two Node Plant"),
        &[],
    )
    .await;
    assert_eq!(status, 200, "{opened}");
    let position = opened["position"].as_u64().unwrap();
    let (status, unit) = get(
        &client,
        &b,
        &format!("/v1/units/SN-1?min_position={position}"),
        FR,
    )
    .await;
    assert_eq!(status, 200, "{unit}");
    assert!(
        unit.contains("Two Node Plant"),
        "node B opens the name node A sealed: {unit}"
    );

    // The next step on B, deciding against the version A answered.
    let version = opened_headers["etag"].to_str().unwrap().to_string();
    let (status, headers, handed) = post(
        &client,
        &b,
        "/v1/units/SN-1/handovers",
        FR,
        json!({"handover_id": "H-1", "to_person_id": "wang.as", "plan_id": null}),
        &[("If-Match", version.as_str())],
    )
    .await;
    assert_eq!(status, 200, "{handed}");
    assert_ne!(headers["etag"].to_str().unwrap(), version);
    // A stale version on A is refused: optimistic concurrency spans the nodes.
    let (status, _, problem) = post(
        &client,
        &a,
        "/v1/units/SN-1/handovers/H-1/signature",
        AS,
        json!({}),
        &[("If-Match", version.as_str())],
    )
    .await;
    assert_eq!(status, 412, "{problem}");
    assert_eq!(problem["code"], "version-mismatch");

    // An idempotent retry that lands on the other node replays the first answer.
    let key = [("Idempotency-Key", "two-node-retry")];
    let (s1, _, first) = post(
        &client,
        &a,
        "/v1/units/SN-2/returns",
        FR,
        open_body("SN-2", "Retry Plant"),
        &key,
    )
    .await;
    let (s2, h2, second) = post(
        &client,
        &b,
        "/v1/units/SN-2/returns",
        FR,
        open_body("SN-2", "Retry Plant"),
        &key,
    )
    .await;
    assert_eq!((s1, s2), (200, 200), "{first} {second}");
    assert_eq!(h2["idempotent-replayed"], "true");
    assert_eq!(first["position"], second["position"]);

    // Without min_position too, B's projections follow A within moments (LISTEN/NOTIFY).
    let (_, _, third) = post(
        &client,
        &a,
        "/v1/units/SN-3/returns",
        FR,
        open_body("SN-3", "Follow Plant"),
        &[],
    )
    .await;
    let target = third["position"].as_u64().unwrap();
    let mut followed = false;
    for _ in 0..200 {
        let (status, _) = get(&client, &b, "/v1/units/SN-3", AUDITOR).await;
        if status == 200 {
            followed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(followed, "node B's projections did not follow node A");

    // One log, one head, intact, whichever node is asked.
    let (_, va) = get(&client, &a, "/v1/audit/verify", AUDITOR).await;
    let (_, vb) = get(&client, &b, "/v1/audit/verify", AUDITOR).await;
    let (va, vb): (Value, Value) = (
        serde_json::from_str(&va).unwrap(),
        serde_json::from_str(&vb).unwrap(),
    );
    assert_eq!(va["intact"], true, "{va}");
    assert_eq!(vb["intact"], true, "{vb}");
    assert_eq!(va["head_hash"], vb["head_hash"]);
    assert!(va["head_position"].as_u64().unwrap() >= target);
    // The policy was published once, though both nodes started at once.
    let (_, feed) = get(&client, &b, "/v1/events?after=0&limit=1000", AUDITOR).await;
    let feed: Value = serde_json::from_str(&feed).unwrap();
    let events = feed["events"].as_array().expect("a page of events");
    let published = events
        .iter()
        .filter(|e| e["type"] == "PolicyPublished")
        .count();
    assert_eq!(published, 1, "the policy published once");
}

/// Runs the binary to completion with the PostgreSQL settings (or sled, `schema = None`).
fn run_cli(url: &str, schema: Option<&str>, keys: &Path, args: &[&str]) -> std::process::Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .env("REPAIRLEDGER_PEOPLE", people_file())
        .env("REPAIRLEDGER_PII_KEYS_FILE", keys);
    if let Some(schema) = schema {
        cmd.env("REPAIRLEDGER_STORE", "postgres")
            .env("REPAIRLEDGER_POSTGRES_URL", url)
            .env("REPAIRLEDGER_POSTGRES_SCHEMA", schema);
    }
    let out = cmd.output().expect("runs");
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sled_log_moves_to_postgres_with_its_head_hash_and_customer_keys() {
    let Some(url) = url() else { return };
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys.toml");
    let file = Command::new(BIN).args(["keys", "new"]).output().unwrap();
    std::fs::write(&keys, &file.stdout).unwrap();
    let data = dir.path().join("data");
    let client = reqwest::Client::new();

    // A sled node with a sealed customer name in its log.
    let port = free_port();
    let log = dir.path().join("sled.log");
    let mut sled_node = Node {
        child: Command::new(BIN)
            .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
            .arg("--data")
            .arg(&data)
            .env("REPAIRLEDGER_PEOPLE", people_file())
            .env("REPAIRLEDGER_PII_KEYS_FILE", &keys)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap(),
        base: format!("http://127.0.0.1:{port}"),
        log,
    };
    ready(&client, &sled_node).await;
    let (status, _, opened) = post(
        &client,
        &sled_node,
        "/v1/units/MV-1/returns",
        FR,
        open_body("MV-1", "Moving Plant"),
        &[],
    )
    .await;
    assert_eq!(status, 200, "{opened}");
    let _ = Command::new("kill")
        .args(["-TERM", &sled_node.child.id().to_string()])
        .status();
    let _ = sled_node.child.wait();

    // export → import → keys import, as docs/deployment.md says.
    let data_arg = data.to_str().unwrap();
    let export = run_cli(&url, None, &keys, &["export", "--data", data_arg]);
    let jsonl = dir.path().join("log.jsonl");
    std::fs::write(&jsonl, &export.stdout).unwrap();
    let schema = format!("moved_{}", std::process::id());
    run_cli(
        &url,
        Some(&schema),
        &keys,
        &["import", "--input", jsonl.to_str().unwrap()],
    );
    let vault_dir = dir.path().join("data-vault");
    run_cli(
        &url,
        Some(&schema),
        &keys,
        &["keys", "import", "--from", vault_dir.to_str().unwrap()],
    );
    let head = |out: std::process::Output| {
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["first_broken"], Value::Null, "{v}");
        v["head"].clone()
    };
    let sled_head = head(run_cli(&url, None, &keys, &["verify", "--data", data_arg]));
    let pg_head = head(run_cli(&url, Some(&schema), &keys, &["verify"]));
    assert_eq!(sled_head, pg_head, "the same head hash after the move");

    // A node on the moved log opens the name sealed on sled.
    let node = start(&url, &schema, &keys, dir.path(), "moved");
    ready(&client, &node).await;
    let (status, unit) = get(&client, &node, "/v1/units/MV-1", FR).await;
    assert_eq!(status, 200, "{unit}");
    assert!(unit.contains("Moving Plant"), "{unit}");
}

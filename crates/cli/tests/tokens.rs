//! Tokens and keys from the command line: a token issued by the operator (recorded in the log)
//! lets its person in; revoked, it does not; the master key is rotated by restarting with a new
//! active key, after which the old key can go.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_repairledger");

fn people_file() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/dev-people.toml")
}

fn cli(data: &Path, keys: &Path, args: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .args(args)
        .env("REPAIRLEDGER_DATA", data)
        .env("REPAIRLEDGER_PEOPLE", people_file())
        .env("REPAIRLEDGER_PII_KEYS_FILE", keys)
        .output()
        .expect("runs")
}

fn start(data: &Path, keys: &Path, port: u16, log: &Path) -> Child {
    Command::new(BIN)
        .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
        .arg("--data")
        .arg(data)
        .env("REPAIRLEDGER_PEOPLE", people_file())
        .env("REPAIRLEDGER_PII_KEYS_FILE", keys)
        .env("RUST_LOG", "debug")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .expect("the server starts")
}

async fn me(base: &str, token: &str) -> u16 {
    let client = reqwest::Client::new();
    for _ in 0..200 {
        if let Ok(r) = client
            .get(format!("{base}/v1/me"))
            .bearer_auth(token)
            .send()
            .await
        {
            return r.status().as_u16();
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the server did not answer");
}

fn stop(mut child: Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
}

#[tokio::test]
async fn an_operator_issues_and_revokes_tokens_and_rotates_the_master_key() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let keys = dir.path().join("keys.toml");
    let new_file = Command::new(BIN)
        .args(["keys", "new", "--id", "k1"])
        .output()
        .unwrap();
    std::fs::write(&keys, &new_file.stdout).unwrap();

    let out = cli(
        &data,
        &keys,
        &["token", "issue", "--person", "wang.as", "--days", "30"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert!(token.starts_with("rl_"), "{token}");
    let token_id = token[3..].split('_').next().unwrap().to_string();

    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let base = format!("http://127.0.0.1:{port}");
    let log = dir.path().join("server.log");
    let server = start(&data, &keys, port, &log);
    assert_eq!(me(&base, &token).await, 200);
    // A customer's name goes in, sealed under the k1 master key's wrapping.
    let body = serde_json::json!({
        "return_id": "R-1", "mode": "carried",
        "customer": {"customer_id": "C-1", "name": "Rotation Test Plant"},
        "product": {"model": "RD-40", "production_date": "2025-09-01", "warranty_end": "2027-09-01"},
        "form": {"fault_symptoms": "no output", "site": "line 3", "circumstances": "after a power cut",
                 "filled_by": "li.fr", "unverifiable_reason": null},
        "customer_signature": {"name": "Zhang San (customer)", "signed_at": "2026-03-02T08:00:00Z", "evidence": {"kind": "typed", "reason": "the customer signed the paper handover form"}}, "receiver_returned_at": "2026-03-02T07:30:00Z", "customer_due_date": null
    });
    let r = reqwest::Client::new()
        .post(format!("{base}/v1/units/SN-1/returns"))
        .bearer_auth("dev-token-field-receiver")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200, "{}", r.text().await.unwrap());
    stop(server);
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(!logged.contains(&token), "the token is in the server log");
    assert!(
        !logged.contains("Rotation Test Plant"),
        "a customer name is in the server log"
    );

    let out = cli(
        &data,
        &keys,
        &["token", "revoke", &token_id, "--reason", "rotated out"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let list = cli(&data, &keys, &["token", "list"]);
    assert!(String::from_utf8_lossy(&list.stdout).contains("revoked"));

    // Rotation: k2 active beside k1; the start rewraps; then k1 is deleted and all still reads.
    let k1 = std::fs::read_to_string(&keys).unwrap();
    let k1_line = k1
        .lines()
        .find(|l| l.starts_with("\"k1\""))
        .unwrap()
        .to_string();
    let k2 = String::from_utf8(
        Command::new(BIN)
            .args(["keys", "new-key"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    std::fs::write(
        &keys,
        format!(
            "active = \"k2\"\n[keys]\n{k1_line}\n\"k2\" = \"{}\"\n",
            k2.trim()
        ),
    )
    .unwrap();
    let status = cli(&data, &keys, &["keys", "status"]);
    let text = String::from_utf8_lossy(&status.stdout).to_string();
    assert!(
        text.contains("\"k2\": 1"),
        "{text} {}",
        String::from_utf8_lossy(&status.stderr)
    );
    std::fs::write(
        &keys,
        format!("active = \"k2\"\n[keys]\n\"k2\" = \"{}\"\n", k2.trim()),
    )
    .unwrap();

    let server = start(&data, &keys, port, &log);
    assert_eq!(me(&base, &token).await, 401, "a revoked token still works");
    let unit: serde_json::Value = reqwest::Client::new()
        .get(format!("{base}/v1/units/SN-1"))
        .bearer_auth("dev-token-after-sales")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    stop(server);
    assert_eq!(
        unit["state"]["returns"][0]["customer"]["name"],
        "Rotation Test Plant"
    );
}

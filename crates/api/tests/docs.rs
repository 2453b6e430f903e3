//! The curl examples of the docs run against a real server on loopback: every `sh` block of
//! `docs/api.md`, `docs/auditing.md`, `docs/integration.md` and `docs/field-service.md`, in order. A command must answer
//! 2xx unless its line ends with `# expect NNN`.

mod common;

use actix_web::{App, HttpServer};
use common::TestApp;

/// Wraps curl so that each call checks its status, then runs the documented commands.
const PRELUDE: &str = r#"
set -u
curl() {
  local tmp code
  tmp=$(mktemp)
  code=$(command curl -sS -o "$tmp" -w '%{http_code}' "$@") || { echo "curl could not run: $*"; exit 1; }
  cat "$tmp"; echo
  echo "RAN $code"
  if [ -n "${EXPECT:-}" ]; then
    [ "$code" = "$EXPECT" ] || { echo "FAILED: expected $EXPECT, got $code: $*"; exit 1; }
  else
    case "$code" in 2*) ;; *) echo "FAILED: got $code: $*"; exit 1;; esac
  fi
}
"#;

/// The `sh` blocks of a Markdown file, with `# expect NNN` turned into `EXPECT=NNN`.
fn script(markdown: &str, port: u16) -> String {
    let mut out = String::from(PRELUDE);
    let mut inside = false;
    for line in markdown.lines() {
        if line.trim_start().starts_with("```") {
            inside = !inside && line.trim() == "```sh";
            continue;
        }
        if !inside {
            continue;
        }
        let line = line.replace("127.0.0.1:8080", &format!("127.0.0.1:{port}"));
        match line.rsplit_once("# expect ") {
            Some((command, status)) => out.push_str(&format!(
                "EXPECT={} {}\n",
                status.trim(),
                command.trim_end()
            )),
            None => out.push_str(&format!("{line}\n")),
        }
    }
    out
}

async fn run_doc(name: &str) {
    let app = TestApp::new().await;
    let state = app.state.clone();
    let server =
        HttpServer::new(move || App::new().configure(repairledger_api::configure(state.clone())))
            .workers(1)
            .bind(("127.0.0.1", 0))
            .unwrap();
    let port = server.addrs()[0].port();
    let server = server.run();
    let handle = server.handle();
    actix_web::rt::spawn(server);
    let path = format!("{}/../../docs/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap();
    let script = script(&text, port);
    let output = tokio::process::Command::new("bash")
        .arg("-c")
        .arg(&script)
        .output()
        .await
        .expect("bash runs");
    handle.stop(true).await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{name}: a documented command failed\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let documented = script
        .lines()
        .filter(|l| l.starts_with("curl ") || l.starts_with("EXPECT="))
        .count();
    let ran = stdout.lines().filter(|l| l.starts_with("RAN ")).count();
    assert!(documented > 0, "{name} has no curl example");
    assert_eq!(
        ran, documented,
        "{name}: every documented command ran\n{stdout}"
    );
}

#[actix_web::test]
async fn the_api_walkthrough_runs() {
    run_doc("api.md").await;
}

#[actix_web::test]
async fn the_auditing_examples_run() {
    run_doc("auditing.md").await;
}

#[actix_web::test]
async fn the_integration_examples_run() {
    run_doc("integration.md").await;
}

#[actix_web::test]
async fn the_field_service_walkthrough_runs() {
    run_doc("field-service.md").await;
}

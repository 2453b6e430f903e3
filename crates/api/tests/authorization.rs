//! The authorization matrix: every operation of the OpenAPI document, called as every role,
//! answers as `authz::COMMANDS` says. A command without a row, or a row without a command,
//! fails here; so does a published table (`docs/authorization.md`) that differs from the code.

mod common;

use common::{call, TestApp};
use repairledger_api::authz;
use repairledger_domain::Role;
use serde_json::Value;

/// One person per role, from the development people file.
fn people() -> Vec<(Role, String)> {
    let file: toml::Value = toml::from_str(common::PEOPLE).unwrap();
    let mut out: Vec<(Role, String)> = Vec::new();
    for p in file["people"].as_array().unwrap() {
        let role = Role::parse(p["role"].as_str().unwrap()).unwrap();
        if !out.iter().any(|(r, _)| *r == role) {
            out.push((role, p["person_id"].as_str().unwrap().to_string()));
        }
    }
    out
}

/// A concrete path for a template: every parameter becomes a valid id.
fn concrete(template: &str) -> String {
    template
        .split('/')
        .map(|seg| match seg {
            "{position}" => "1".to_string(),
            s if s.starts_with('{') => "X-1".to_string(),
            s => s.to_string(),
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// The operation's request example: its own, or its schema's.
fn example(spec: &Value, op: &Value) -> Value {
    let content = &op["requestBody"]["content"]["application/json"];
    if !content["example"].is_null() {
        return content["example"].clone();
    }
    let name = content["schema"]["$ref"]
        .as_str()
        .and_then(|r| r.rsplit('/').next())
        .unwrap_or_default();
    let schema_example = &spec["components"]["schemas"][name]["example"];
    if schema_example.is_null() {
        serde_json::json!({})
    } else {
        schema_example.clone()
    }
}

#[actix_web::test]
async fn every_operation_as_every_role_answers_as_the_table_says() {
    let spec: Value = serde_json::from_str(&repairledger_api::openapi::document_json()).unwrap();
    let app = TestApp::new().await;
    let svc = app.service().await;
    let people = people();
    assert_eq!(
        people.len(),
        Role::ALL.len(),
        "one person per role in the people file"
    );
    let mut checked = 0;
    let mut commands_in_spec = Vec::new();
    for (template, item) in spec["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let path = concrete(template);
            if method == "post" {
                commands_in_spec.push(template.clone());
                let roles = authz::command_roles(template)
                    .unwrap_or_else(|| panic!("POST {template} has no row in authz::COMMANDS"));
                let body = example(&spec, op);
                for (role, person) in &people {
                    let head = app.head();
                    let (s, r, _) = call(
                        &svc,
                        app.request(Some(person), "POST", &path, Some(&body), &[]),
                    )
                    .await;
                    let code = r["code"].as_str().unwrap_or_default();
                    if *role == Role::Auditor {
                        assert_eq!(
                            (s, code),
                            (403, "read-only-role"),
                            "POST {template} as {role}"
                        );
                    } else if roles.contains(role) {
                        // Allowed through the gate; the domain may still say who within the
                        // role (custodian, receiver, lead), but never refuse the role itself.
                        assert!(
                            !(s == 403 && code == "role-not-permitted"),
                            "POST {template} as {role}: the table allows it, the domain refused: {r}"
                        );
                    } else {
                        assert_eq!(
                            (s, code),
                            (403, "role-not-permitted"),
                            "POST {template} as {role}: {r}"
                        );
                        assert_eq!(app.head(), head, "a refused call appended");
                    }
                    checked += 1;
                }
            } else if method == "get" {
                if template == "/v1/events/live" {
                    continue; // a stream that never ends; its access is the same as the feed's
                }
                let restricted = authz::read_roles(template);
                for (role, person) in &people {
                    let (s, r, _) =
                        call(&svc, app.request(Some(person), "GET", &path, None, &[])).await;
                    match restricted {
                        Some(roles) if !roles.contains(role) => assert_eq!(
                            (s, r["code"].as_str().unwrap_or_default()),
                            (403, "role-not-permitted"),
                            "GET {template} as {role}: {r}"
                        ),
                        _ => assert!(!matches!(s, 401 | 403), "GET {template} as {role}: {s} {r}"),
                    }
                    checked += 1;
                }
            }
        }
    }
    for (pattern, _, _) in authz::RESTRICTED_READS {
        assert!(
            spec["paths"][pattern]["get"].is_object(),
            "restricted read {pattern} matches no read"
        );
    }
    for (pattern, _, _) in authz::COMMANDS {
        assert!(
            commands_in_spec.iter().any(|c| c == pattern),
            "authz row {pattern} matches no command"
        );
    }
    println!(
        "authorization matrix: {checked} calls ({} commands and the reads x {} roles)",
        commands_in_spec.len(),
        people.len()
    );
    assert!(checked > 1000);
}

#[actix_web::test]
async fn a_command_without_a_token_is_401_and_a_forbidden_role_learns_it_before_a_schema_error() {
    let app = TestApp::new().await;
    let svc = app.service().await;
    let (s, r, _) = call(
        &svc,
        app.request(
            None,
            "POST",
            "/v1/units/SN-1/registration",
            Some(&serde_json::json!({})),
            &[],
        ),
    )
    .await;
    assert_eq!((s, r["code"].as_str()), (401, Some("unauthenticated")));
    // The body is nonsense, but the role is the first thing wrong.
    let (s, r, _) = call(
        &svc,
        app.request(
            Some("liu.rep"),
            "POST",
            "/v1/units/SN-1/registration",
            Some(&serde_json::json!({"x": 1})),
            &[],
        ),
    )
    .await;
    assert_eq!(
        (s, r["code"].as_str()),
        (403, Some("role-not-permitted")),
        "{r}"
    );
}

#[test]
fn the_published_table_is_the_code() {
    let path = format!("{}/../../docs/authorization.md", env!("CARGO_MANIFEST_DIR"));
    let generated = authz::markdown();
    if std::env::var_os("REGENERATE").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert_eq!(
        committed, generated,
        "docs/authorization.md is stale: run with REGENERATE=1"
    );
}

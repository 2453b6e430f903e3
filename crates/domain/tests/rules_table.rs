//! The traceability table (docs/rules.md): one row per rule of the business specification, the
//! code that enforces it and the tests that prove it accepted and refused. The rows live in
//! docs/rules.toml; this test checks every name they give still exists, refuses a §1–§5 rule
//! without a refusal test, and renders docs/rules.md from them (a drift fails; run with
//! `UPDATE_RULES=1` to write it).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Table {
    section: Vec<Section>,
    rule: Vec<Rule>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Section {
    id: String,
    title: String,
    /// Sections every rule of which must be done: its code, an accepting test, a refusal test.
    required: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Rule {
    id: String,
    title: String,
    source: String,
    #[serde(default)]
    enforced: Vec<String>,
    #[serde(default)]
    accepted: Vec<String>,
    #[serde(default)]
    refused: Vec<String>,
    /// What is still missing, for a rule that is not done; empty for a done one.
    #[serde(default)]
    gap: String,
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `path::name` names a function (or a `scenario!(name)` test) in a file of this repository.
fn check_ref(reference: &str, test: bool) -> Result<(), String> {
    let (file, name) = reference
        .rsplit_once("::")
        .ok_or_else(|| format!("{reference}: expected `path::name`"))?;
    let text = std::fs::read_to_string(root().join(file))
        .map_err(|e| format!("{reference}: cannot read {file}: {e}"))?;
    let lines: Vec<&str> = text.lines().collect();
    let defined_at = lines.iter().position(|l| {
        let l = l.trim_start();
        let l = l.strip_prefix("pub(crate) ").unwrap_or(l);
        let l = l.strip_prefix("pub ").unwrap_or(l);
        let l = l.strip_prefix("async ").unwrap_or(l);
        l.starts_with(&format!("fn {name}(")) || l.starts_with(&format!("fn {name}<"))
    });
    let by_macro = lines
        .iter()
        .any(|l| l.trim_start().ends_with(&format!("!({name});")));
    match (defined_at, by_macro) {
        (None, false) => Err(format!("{reference}: no `fn {name}` in {file}")),
        (Some(i), _) if test => {
            // A test: an attribute naming `test` right above it (test, tokio::test, actix_web::test).
            let above = lines[i.saturating_sub(3)..i].join("\n");
            if above.contains("test]") || above.contains("test(") {
                Ok(())
            } else {
                Err(format!("{reference}: `fn {name}` is not a test"))
            }
        }
        _ => Ok(()),
    }
}

fn cell(refs: &[String]) -> String {
    if refs.is_empty() {
        return "—".into();
    }
    refs.iter()
        .map(|r| {
            let (file, name) = r.rsplit_once("::").unwrap_or((r, ""));
            format!("[`{name}`](../{file})")
        })
        .collect::<Vec<_>>()
        .join("<br>")
}

fn render(t: &Table) -> String {
    let mut out = String::from(
        "# Rules and the tests that prove them\n\n\
         Generated from `docs/rules.toml` by `crates/domain/tests/rules_table.rs` \
         (`UPDATE_RULES=1 cargo test -p repairledger-domain --test rules_table`); do not edit by hand.\n\
         One row per rule of the business specification (`shared/domain.md`, distilled from the \
         regulations in `shared/seeds/`): the code that enforces it, a test of the accepting path \
         and a test of the refusal. A rule is **done** when all three exist; the test that writes \
         this page fails when a rule of a required section has no refusal test.\n",
    );
    for s in &t.section {
        let rules: Vec<&Rule> = t
            .rule
            .iter()
            .filter(|r| r.id.split('.').next() == Some(s.id.as_str()))
            .collect();
        let done = rules.iter().filter(|r| status(r) == "done").count();
        out.push_str(&format!(
            "\n## §{} {}\n\n{done} of {} done.\n\n\
             | rule | what | source | enforced by | accepted | refused | status |\n\
             |---|---|---|---|---|---|---|\n",
            s.id,
            s.title,
            rules.len()
        ));
        for r in rules {
            let st = match status(r) {
                "done" => "done".to_string(),
                other => format!("{other}: {}", r.gap),
            };
            out.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} | {} |\n",
                r.id,
                r.title,
                r.source,
                cell(&r.enforced),
                cell(&r.accepted),
                cell(&r.refused),
                st
            ));
        }
    }
    out
}

fn status(r: &Rule) -> &'static str {
    if r.enforced.is_empty() && r.accepted.is_empty() && r.refused.is_empty() {
        "open"
    } else if !r.gap.is_empty()
        || r.enforced.is_empty()
        || r.accepted.is_empty()
        || r.refused.is_empty()
    {
        "partial"
    } else {
        "done"
    }
}

#[test]
fn every_rule_names_its_code_and_its_tests_and_the_page_is_current() {
    let text = std::fs::read_to_string(root().join("docs/rules.toml")).expect("docs/rules.toml");
    let table: Table = toml::from_str(&text).expect("docs/rules.toml parses");
    let mut problems = Vec::new();
    let mut ids = BTreeSet::new();
    for r in &table.rule {
        if !ids.insert(r.id.clone()) {
            problems.push(format!("rule {} is listed twice", r.id));
        }
        let section = r.id.split('.').next().unwrap_or_default();
        let Some(s) = table.section.iter().find(|s| s.id == section) else {
            problems.push(format!("rule {} is in no declared section", r.id));
            continue;
        };
        for e in &r.enforced {
            if let Err(p) = check_ref(e, false) {
                problems.push(format!("rule {}: {p}", r.id));
            }
        }
        for t in r.accepted.iter().chain(&r.refused) {
            if let Err(p) = check_ref(t, true) {
                problems.push(format!("rule {}: {p}", r.id));
            }
        }
        if s.required && status(r) != "done" {
            problems.push(format!(
                "rule {} ({}) is not done: it needs the code that enforces it, an accepting test \
                 and a refusal test, and no gap ({})",
                r.id, r.title, r.gap
            ));
        }
    }
    let page = render(&table);
    let path = root().join("docs/rules.md");
    if std::env::var_os("UPDATE_RULES").is_some() {
        std::fs::write(&path, &page).expect("write docs/rules.md");
    } else if std::fs::read_to_string(&path).ok().as_deref() != Some(page.as_str()) {
        problems.push(
            "docs/rules.md differs from docs/rules.toml: run \
             `UPDATE_RULES=1 cargo test -p repairledger-domain --test rules_table`"
                .into(),
        );
    }
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

/// The table covers the specification: where `shared/domain.md` sits beside the repository (as
/// on the developers' machines and in CI), every numbered rule of §1 and §6 has a row.
#[test]
fn the_table_has_a_row_for_every_numbered_rule_of_the_specification() {
    let Ok(spec) = std::fs::read_to_string(root().join("../shared/domain.md")) else {
        eprintln!("shared/domain.md is not beside the repository: nothing to compare");
        return;
    };
    let text = std::fs::read_to_string(root().join("docs/rules.toml")).expect("docs/rules.toml");
    let table: Table = toml::from_str(&text).expect("docs/rules.toml parses");
    let mut section = String::new();
    let mut missing = Vec::new();
    for line in spec.lines() {
        if let Some(h) = line.strip_prefix("## ") {
            section = h.split('.').next().unwrap_or_default().trim().to_string();
            continue;
        }
        let t = line.trim_start();
        let Some((n, _)) = t.split_once(". ") else {
            continue;
        };
        if n.is_empty() || !n.chars().all(|c| c.is_ascii_digit()) || line.starts_with(' ') {
            continue;
        }
        let id = format!("{section}.{n}");
        if !table.rule.iter().any(|r| r.id == id) {
            missing.push(id);
        }
    }
    assert!(missing.is_empty(), "rules without a row: {missing:?}");
}

//! Shared by the criterion benchmarks (`#[path]`-included): criterion measures each case, and
//! this reads back its median so every case can be printed as a ratio to its baseline from the
//! same run (the machines are noisy; ratios within a run are what we compare).

use std::path::{Path, PathBuf};

/// Where criterion writes its results: `$CARGO_TARGET_DIR/criterion`, or `target/criterion` of
/// the workspace (benchmarks run with the package's directory as their working directory).
pub fn output_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(t) => PathBuf::from(t).join("criterion"),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/criterion"),
    }
}

/// Cases that ran in this process: criterion keeps the estimates of earlier runs, and a table
/// must not mix a case filtered out now with one measured now.
static RAN: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

/// Call from a case's measurement closure.
pub fn ran(group: &str, function: &str, parameter: &str) {
    let id = format!("{group}/{function}/{parameter}");
    let mut ran = RAN.lock().unwrap();
    if !ran.contains(&id) {
        ran.push(id);
    }
}

/// The median seconds of one iteration of `group/function/parameter`, from criterion's
/// estimates; `None` when that case did not run in this process (filtered out, no PostgreSQL).
pub fn median_seconds(group: &str, function: &str, parameter: &str) -> Option<f64> {
    if !RAN
        .lock()
        .unwrap()
        .contains(&format!("{group}/{function}/{parameter}"))
    {
        return None;
    }
    // A case without a parameter has no directory level for it.
    let mut path = output_dir().join(group).join(function);
    if !parameter.is_empty() {
        path = path.join(parameter);
    }
    let path = path.join("new/estimates.json");
    let text = std::fs::read_to_string(path).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    Some(v["median"]["point_estimate"].as_f64()? / 1e9)
}

/// Elements per second of a case whose iteration handles `elements`.
pub fn rate(group: &str, function: &str, parameter: &str, elements: u64) -> Option<f64> {
    median_seconds(group, function, parameter).map(|s| elements as f64 / s)
}

/// `a / b` as `0.42x`, or `-` when either is missing.
pub fn ratio(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}x", a / b),
        _ => "-".into(),
    }
}

/// A rate for the table, or `-`.
pub fn show(r: Option<f64>) -> String {
    r.map(|r| format!("{r:.0}")).unwrap_or_else(|| "-".into())
}

//! The scale curve: how append latency, rebuild rate, start-up time, disk and memory per event
//! move as one log grows through 10^4, 10^5, 10^6 (and with SCALE_MAX=10000000, 10^7) events.
//! Each size's figures are printed with their ratio to the first size, measured in the same
//! run: cost per event should stay flat.
//!
//! At each size: the log is filled with whole unit histories (benches/support); then
//! - append: 64 writers each take a fresh unit through its 22 steps as one-event durable
//!   commits (1 408 commits); p50/p99 per commit and events/s;
//! - rebuild: the full projection rebuild from position 0, events/s;
//! - start-up: the model is checkpointed, the store closed, and the time to reopen the log
//!   (tail check) and load the projections from the checkpoint is measured;
//! - disk: bytes of the sled files per event, and of the checkpoint per event;
//! - memory: resident memory the loaded projections add, per event.
//!
//! `cargo bench -p repairledger-projections --bench scale` (SCALE_MAX, default 1000000).

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use repairledger_domain::Policy;
use repairledger_projections::Projector;
use repairledger_store::{
    Commit, EventStore, ExpectedVersion, SledStore, SledStoreConfig, StreamAppend,
};

fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

fn dir_bytes(path: &std::path::Path, skip: &str) -> u64 {
    let Ok(entries) = std::fs::read_dir(path) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| {
            let p = e.path();
            if p.file_name().is_some_and(|n| n == skip) {
                0
            } else if p.is_dir() {
                dir_bytes(&p, skip)
            } else {
                e.metadata().map(|m| m.len()).unwrap_or(0)
            }
        })
        .sum()
}

/// 64 writers, each a fresh unit's 22 steps as one-event commits: per-commit latencies.
async fn append_sample(store: &SledStore, round: usize) -> (Vec<Duration>, Duration) {
    let policy = Arc::new(Policy::default_policy());
    let start = Instant::now();
    let tasks: Vec<_> = (0..64)
        .map(|w| {
            let (store, policy) = (store.clone(), policy.clone());
            tokio::spawn(async move {
                let serial = format!("LAT-{round}-{w}");
                let mut lat = Vec::new();
                for (i, e) in support::unit_events(&serial, &policy)
                    .into_iter()
                    .enumerate()
                {
                    let t = Instant::now();
                    store
                        .append(Commit {
                            streams: vec![StreamAppend {
                                stream: format!("unit-{serial}"),
                                expected: ExpectedVersion::Exact(i as u64),
                                events: vec![e],
                            }],
                            idempotency: None,
                            recorded_at: Utc::now(),
                        })
                        .await
                        .unwrap();
                    lat.push(t.elapsed());
                }
                lat
            })
        })
        .collect();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    (all, start.elapsed())
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)]
}

struct Point {
    events: u64,
    append_rate: f64,
    p50_ms: f64,
    p99_ms: f64,
    rebuild_rate: f64,
    startup_ms: f64,
    disk_per_event: f64,
    checkpoint_per_event: f64,
    memory_per_event: f64,
}

/// A start in a fresh process, as a restarted server makes it: reopen the log (its tail is
/// checked) and load the projections from the checkpoint. Answers the time and the resident
/// memory the loaded projections added.
fn probe_in_child(path: &std::path::Path, events: u64) -> (Duration, u64) {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .env("SCALE_PROBE", path)
        .output()
        .expect("the probe runs");
    assert!(
        out.status.success(),
        "probe: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let mut it = text.split_whitespace().map(|n| n.parse::<u64>().unwrap());
    let (micros, memory, position) = (it.next().unwrap(), it.next().unwrap(), it.next().unwrap());
    assert_eq!(position, events);
    (Duration::from_micros(micros), memory)
}

fn probe(path: &str) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let rss_before = rss_bytes();
    let t = Instant::now();
    let store = rt.block_on(async { SledStore::open(SledStoreConfig::new(path)).unwrap() });
    let projector = Projector::load(&store).unwrap();
    let took = t.elapsed();
    // The log's own cache is counted too: it is what a started server holds.
    let memory = rss_bytes().saturating_sub(rss_before);
    println!("{} {memory} {}", took.as_micros(), projector.position());
}

fn main() {
    if let Ok(path) = std::env::var("SCALE_PROBE") {
        return probe(&path);
    }
    let max: u64 = std::env::var("SCALE_MAX")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log");
    let per_unit = support::events_per_unit() as u64;
    let mut units = 0usize;
    let mut points: Vec<Point> = Vec::new();
    let mut size = 10_000u64;
    let mut round = 0;
    while size <= max {
        let store = rt.block_on(async { SledStore::open(SledStoreConfig::new(&path)).unwrap() });
        let head = store.head().unwrap().position;
        let target_units = units + (size.saturating_sub(head) / per_unit) as usize;
        let fill_start = Instant::now();
        rt.block_on(support::fill(&store, units, target_units));
        units = target_units;
        let fill = fill_start.elapsed();

        let (mut lat, took) = rt.block_on(append_sample(&store, round));
        round += 1;
        lat.sort();
        let append_rate = lat.len() as f64 / took.as_secs_f64();

        let events = store.head().unwrap().position;
        let t = Instant::now();
        let model = repairledger_projections::rebuild(&store, |_| {}).unwrap();
        let rebuild_rate = events as f64 / t.elapsed().as_secs_f64();
        drop(model);

        // Checkpoint, close, and time a start: reopen the log, load the projections.
        Projector::load(&store)
            .unwrap()
            .save_checkpoint(&store)
            .unwrap();
        rt.block_on(store.shutdown());
        drop(store);
        let (startup, memory) = probe_in_child(&path, events);

        let checkpoint = dir_bytes(&path.join("checkpoints"), "");
        let disk = dir_bytes(&path, "checkpoints");
        eprintln!("{events} events (filled in {:.1} s)", fill.as_secs_f64());
        points.push(Point {
            events,
            append_rate,
            p50_ms: pct(&lat, 0.50).as_secs_f64() * 1e3,
            p99_ms: pct(&lat, 0.99).as_secs_f64() * 1e3,
            rebuild_rate,
            startup_ms: startup.as_secs_f64() * 1e3,
            disk_per_event: disk as f64 / events as f64,
            checkpoint_per_event: checkpoint as f64 / events as f64,
            memory_per_event: memory as f64 / events as f64,
        });
        size *= 10;
    }
    let first = &points[0];
    println!();
    println!("scale curve (ratio to the first size in brackets)");
    println!(
        "{:>10} | {:>17} {:>8} {:>8} | {:>17} | {:>10} {:>9} | {:>14} {:>12} | {:>14}",
        "events",
        "appends/s",
        "p50 ms",
        "p99 ms",
        "rebuild events/s",
        "start ms",
        "ms/1e6 ev",
        "disk B/event",
        "ckpt B/event",
        "memory B/event"
    );
    for p in &points {
        let r = |a: f64, b: f64| format!("({:.2}x)", a / b);
        println!(
            "{:>10} | {:>8.0} {:>8} {:>8.2} {:>8.2} | {:>8.0} {:>8} | {:>10.0} {:>9.1} | {:>6.0} {:>7} {:>12.0} | {:>6.0} {:>7}",
            p.events,
            p.append_rate,
            r(p.append_rate, first.append_rate),
            p.p50_ms,
            p.p99_ms,
            p.rebuild_rate,
            r(p.rebuild_rate, first.rebuild_rate),
            p.startup_ms,
            p.startup_ms / p.events as f64 * 1e6,
            p.disk_per_event,
            r(p.disk_per_event, first.disk_per_event),
            p.checkpoint_per_event,
            p.memory_per_event,
            r(p.memory_per_event, first.memory_per_event),
        );
    }
}

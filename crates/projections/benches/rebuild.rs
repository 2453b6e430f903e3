//! Rebuild speed: the full projection rebuild against a deserialize-only pass over the same log
//! (read every envelope and decode its domain event, fold nothing), both measured by criterion
//! in one run and printed as a ratio at the end.
//!
//! The log is realistic (benches/support: whole unit histories decided by the domain).
//! `cargo bench -p repairledger-projections --bench rebuild` (BENCH_UNITS, default 5000 units).

#[path = "../../../bench/ratios.rs"]
mod ratios;
mod support;

use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use repairledger_domain::unit::UnitEvent;
use repairledger_projections::codec;
use repairledger_store::{EventStore, SledStore, SledStoreConfig};

const GROUP: &str = "rebuild";

fn main() {
    let units: usize = std::env::var("BENCH_UNITS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = rt
        .block_on(async { SledStore::open(SledStoreConfig::new(dir.path().join("log"))).unwrap() });
    rt.block_on(support::fill(&store, 0, units));
    let total = store.head().unwrap().position;

    let deserialize_only = || {
        let start = Instant::now();
        let mut after = 0;
        let mut n = 0u64;
        loop {
            let page = store.read_all(after, 1024).unwrap();
            if page.is_empty() {
                break;
            }
            for e in &page {
                let ev: UnitEvent = codec::decode(e).unwrap();
                std::hint::black_box(ev);
                n += 1;
            }
            after = page.last().unwrap().position;
        }
        assert_eq!(n, total);
        start.elapsed()
    };
    let rebuild = || {
        let start = Instant::now();
        let m = repairledger_projections::rebuild(&store, |_| {}).unwrap();
        assert_eq!(m.position, total);
        start.elapsed()
    };

    let mut c = Criterion::default()
        .output_directory(&ratios::output_dir())
        .configure_from_args();
    let mut g = c.benchmark_group(GROUP);
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(10))
        .throughput(Throughput::Elements(total));
    g.bench_function("deserialize_only", |b| {
        ratios::ran(GROUP, "deserialize_only", "");
        b.iter_custom(|iters| (0..iters).map(|_| deserialize_only()).sum())
    });
    g.bench_function("rebuild", |b| {
        ratios::ran(GROUP, "rebuild", "");
        b.iter_custom(|iters| (0..iters).map(|_| rebuild()).sum())
    });
    g.finish();
    c.final_summary();

    let d = ratios::rate(GROUP, "deserialize_only", "", total);
    let r = ratios::rate(GROUP, "rebuild", "", total);
    println!();
    println!("projection rebuild over {total} events ({units} units), medians of criterion's samples (events/s)");
    println!(
        "{:>20} {:>14} {:>30}",
        "deserialize-only", "rebuild", "rebuild / deserialize-only"
    );
    println!(
        "{:>20} {:>14} {:>30}",
        ratios::show(d),
        ratios::show(r),
        ratios::ratio(r, d)
    );
}

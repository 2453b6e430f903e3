//! Durable appends: the store's group commit against raw sled, measured side by side in one run
//! and reported as ratios (machines here are noisy; absolute numbers are not comparable across
//! runs, ratios within one run are).
//!
//! For W concurrent writers, each appending one-event commits:
//! - `store`: `SledStore::append` (validation, hash chain, one transaction + one flush per batch);
//! - `raw batch`: sled inserts of W events then one `flush`, the ceiling group commit can reach;
//! - `raw flush/event`: one insert + one `flush` per event, what a naive durable log does.
//!
//! - `postgres peer` (when `PG_URL` is set): a plain PostgreSQL event table with the standard
//!   optimistic-concurrency append (unique (stream, version), one durable transaction per
//!   command), what a team would otherwise pick. `bench/pg.sh` installs and starts PostgreSQL.
//!
//! - `pg_store` / `pg_store_2nodes` (with `PG_URL`): this engine's own PostgreSQL backend
//!   (`PgStore`, the backend of several API nodes), with the writers on one node or split over
//!   two stores on one database (two API nodes).
//!
//! `cargo bench -p repairledger-store --bench append` (BENCH_EVENTS sets events per case;
//! criterion's own arguments filter cases, e.g. `-- store/64`). Criterion measures every case;
//! the table at the end divides their medians.

#[path = "../../../bench/ratios.rs"]
mod ratios;

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput};

use chrono::Utc;
use repairledger_store::{
    Commit, EventActor, EventStore, ExpectedVersion, NewEvent, PgStore, PgStoreConfig, SledStore,
    SledStoreConfig, StreamAppend,
};
use serde_json::json;

fn commit(stream: String, i: u64) -> Commit {
    Commit {
        streams: vec![StreamAppend {
            stream,
            expected: ExpectedVersion::Any,
            events: vec![NewEvent {
                event_type: "HandoverSigned".into(),
                schema: 1,
                payload: json!({
                    "handover_id": format!("H-{i}"),
                    "from": {"person_id": "li.fr", "role": "field_receiver"},
                    "to": {"person_id": "wang.as", "role": "after_sales"},
                    "at": "2026-03-02T09:00:00Z"
                }),
                actor: EventActor {
                    person_id: "wang.as".into(),
                    role: "after_sales".into(),
                },
                occurred_at: Utc::now(),
                policy_version: 1,
                correlation_id: Some(format!("c-{i}")),
                causation_id: None,
            }],
        }],
        idempotency: None,
        recorded_at: Utc::now(),
    }
}

async fn store_case(writers: u64, events: u64) -> Duration {
    store_case_with(writers, events, true).await
}

async fn store_case_with(writers: u64, events: u64, head_record: bool) -> Duration {
    let dir = tempfile::tempdir().unwrap();
    let mut config = SledStoreConfig::new(dir.path().join("log"));
    config.head_record = head_record;
    if let Some(us) = std::env::var("BENCH_GATHER_US")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        config.gather_wait = Duration::from_micros(us);
    }
    let store = Arc::new(SledStore::open(config).unwrap());
    let per = events / writers;
    let start = Instant::now();
    let tasks: Vec<_> = (0..writers)
        .map(|w| {
            let store = store.clone();
            tokio::spawn(async move {
                for i in 0..per {
                    store
                        .append(commit(format!("unit-W{w}-{}", i % 50), i))
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let took = start.elapsed();
    assert_eq!(store.head().unwrap().position, per * writers);
    let (flushes, commits) = store.group_commit_stats();
    BATCHES.lock().unwrap().push((writers, flushes, commits));
    took
}

static PG_SCHEMAS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// `writers` writers on `nodes` PgStores sharing one fresh schema (one log).
async fn pg_store_case(url: &str, nodes: u64, writers: u64, events: u64) -> Duration {
    let schema = format!(
        "bench_{}_{}",
        std::process::id(),
        PG_SCHEMAS.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
    );
    let stores: Vec<Arc<PgStore>> = (0..nodes)
        .map(|_| Arc::new(PgStore::open(PgStoreConfig::new(url).schema(schema.clone())).unwrap()))
        .collect();
    let per = events / writers;
    let start = Instant::now();
    let tasks: Vec<_> = (0..writers)
        .map(|w| {
            let store = stores[(w % nodes) as usize].clone();
            tokio::spawn(async move {
                for i in 0..per {
                    store
                        .append(commit(format!("unit-W{w}-{}", i % 50), i))
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let took = start.elapsed();
    assert_eq!(stores[0].head().unwrap().position, per * writers);
    took
}

fn payload(i: u64) -> Vec<u8> {
    // The same bytes the store writes for an event of this shape.
    let c = commit(format!("unit-{i}"), i);
    serde_json::to_vec(&c.streams[0].events[0]).unwrap()
}

fn raw_batch_case(batch: u64, events: u64) -> Duration {
    raw_case(batch, events, false)
}

/// Raw sled with what any readable event log must also write: a per-stream index entry
/// (stream ‖ version → position) beside each event, streams spread as in the store case.
fn raw_indexed_case(batch: u64, events: u64) -> Duration {
    raw_case(batch, events, true)
}

fn raw_case(batch: u64, events: u64, indexed: bool) -> Duration {
    let dir = tempfile::tempdir().unwrap();
    let db = sled::open(dir.path().join("raw")).unwrap();
    let tree = db.open_tree("events").unwrap();
    let start = Instant::now();
    let mut i = 0;
    while i < events {
        let mut b = sled::Batch::default();
        for _ in 0..batch {
            b.insert(&i.to_be_bytes(), payload(i));
            if indexed {
                let (w, n) = (i % batch, i / batch);
                let mut key = format!("s-unit-W{w}-{}", n % 50).into_bytes();
                key.push(0);
                key.extend_from_slice(&(n / 50 + 1).to_be_bytes());
                b.insert(key, &i.to_be_bytes());
            }
            i += 1;
        }
        tree.apply_batch(b).unwrap();
        db.flush().unwrap();
    }
    start.elapsed()
}

fn raw_flush_each_case(events: u64) -> Duration {
    raw_batch_case(1, events)
}

async fn pg_case(url: &str, writers: u64, events: u64) -> Duration {
    let connect = || async {
        let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .expect("PG_URL connects");
        tokio::spawn(conn);
        client
    };
    let setup = connect().await;
    setup
        .batch_execute(
            "DROP TABLE IF EXISTS peer_events;
             CREATE TABLE peer_events (
               position bigserial PRIMARY KEY, stream text NOT NULL, version bigint NOT NULL,
               event_type text NOT NULL, payload jsonb NOT NULL,
               recorded_at timestamptz NOT NULL DEFAULT now(), UNIQUE (stream, version));",
        )
        .await
        .unwrap();
    let per = events / writers;
    let mut clients = Vec::new();
    for _ in 0..writers {
        clients.push(connect().await);
    }
    let start = Instant::now();
    let tasks: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(w, client)| {
            tokio::spawn(async move {
                let insert = client
                    .prepare("INSERT INTO peer_events (stream, version, event_type, payload) VALUES ($1, $2, $3, $4)")
                    .await
                    .unwrap();
                let mut versions = std::collections::HashMap::new();
                for i in 0..per {
                    let stream = format!("unit-W{w}-{}", i % 50);
                    let v = versions.entry(stream.clone()).or_insert(0i64);
                    *v += 1;
                    let c = commit(stream.clone(), i);
                    let e = &c.streams[0].events[0];
                    client.execute(&insert, &[&stream, &*v, &e.event_type, &e.payload]).await.unwrap();
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    start.elapsed()
}

/// Commits per flush seen by the store case, by writer count (for the table).
static BATCHES: std::sync::Mutex<Vec<(u64, u64, u64)>> = std::sync::Mutex::new(Vec::new());

fn events_per_case() -> u64 {
    std::env::var("BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4096)
}

const GROUP: &str = "durable_appends";
const WRITERS: [u64; 3] = [1, 8, 64];
/// One flush per event is slow: fewer events keep the case within seconds.
const FLUSH_EACH_EVENTS: u64 = 1024;

fn benches(c: &mut Criterion, rt: &tokio::runtime::Runtime, pg: Option<&str>) {
    let events = events_per_case();
    let mut g = c.benchmark_group(GROUP);
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(8));
    for w in WRITERS {
        g.throughput(Throughput::Elements(events));
        g.bench_with_input(BenchmarkId::new("store", w), &w, |b, &w| {
            ratios::ran(GROUP, "store", &w.to_string());
            b.iter_custom(|iters| (0..iters).map(|_| rt.block_on(store_case(w, events))).sum())
        });
        g.bench_with_input(
            BenchmarkId::new("store_without_head_record", w),
            &w,
            |b, &w| {
                ratios::ran(GROUP, "store_without_head_record", &w.to_string());
                b.iter_custom(|iters| {
                    (0..iters)
                        .map(|_| rt.block_on(store_case_with(w, events, false)))
                        .sum()
                })
            },
        );
        g.bench_with_input(BenchmarkId::new("raw_batch", w), &w, |b, &w| {
            ratios::ran(GROUP, "raw_batch", &w.to_string());
            b.iter_custom(|iters| (0..iters).map(|_| raw_batch_case(w, events)).sum())
        });
        g.bench_with_input(BenchmarkId::new("raw_batch_indexed", w), &w, |b, &w| {
            ratios::ran(GROUP, "raw_batch_indexed", &w.to_string());
            b.iter_custom(|iters| (0..iters).map(|_| raw_indexed_case(w, events)).sum())
        });
        if let Some(url) = pg {
            g.bench_with_input(BenchmarkId::new("postgres", w), &w, |b, &w| {
                ratios::ran(GROUP, "postgres", &w.to_string());
                b.iter_custom(|iters| {
                    (0..iters)
                        .map(|_| rt.block_on(pg_case(url, w, events)))
                        .sum()
                })
            });
            for (name, nodes) in [("pg_store", 1), ("pg_store_2nodes", 2)] {
                if nodes > w {
                    continue;
                }
                g.bench_with_input(BenchmarkId::new(name, w), &w, |b, &w| {
                    ratios::ran(GROUP, name, &w.to_string());
                    b.iter_custom(|iters| {
                        (0..iters)
                            .map(|_| rt.block_on(pg_store_case(url, nodes, w, events)))
                            .sum()
                    })
                });
            }
        }
    }
    g.throughput(Throughput::Elements(FLUSH_EACH_EVENTS));
    g.bench_function(BenchmarkId::new("raw_flush_per_event", 1), |b| {
        ratios::ran(GROUP, "raw_flush_per_event", "1");
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| raw_flush_each_case(FLUSH_EACH_EVENTS))
                .sum()
        })
    });
    g.finish();
}

fn table(pg: bool) {
    let events = events_per_case();
    let flush_each = ratios::rate(GROUP, "raw_flush_per_event", "1", FLUSH_EACH_EVENTS);
    let batches = BATCHES.lock().unwrap().clone();
    println!();
    println!("durable appends, {events} one-event commits per case, medians of criterion's samples (events/s)");
    println!(
        "{:>7} {:>9} {:>11} {:>10} {:>13} {:>11} {:>12} {:>11} {:>10} {:>9}",
        "writers",
        "store",
        "raw batch",
        "store/raw",
        "raw+index",
        "store/that",
        "flush/event",
        "store/that",
        "postgres",
        "store/pg"
    );
    for w in WRITERS {
        let p = w.to_string();
        let store = ratios::rate(GROUP, "store", &p, events);
        let raw = ratios::rate(GROUP, "raw_batch", &p, events);
        let indexed = ratios::rate(GROUP, "raw_batch_indexed", &p, events);
        let peer = if pg {
            ratios::rate(GROUP, "postgres", &p, events)
        } else {
            None
        };
        println!(
            "{:>7} {:>9} {:>11} {:>10} {:>13} {:>11} {:>12} {:>11} {:>10} {:>9}",
            w,
            ratios::show(store),
            ratios::show(raw),
            ratios::ratio(store, raw),
            ratios::show(indexed),
            ratios::ratio(store, indexed),
            ratios::show(flush_each),
            ratios::ratio(store, flush_each),
            ratios::show(peer),
            ratios::ratio(store, peer)
        );
    }
    println!();
    println!(
        "the head record (docs/operations.md, \"No silent loss\"): the store with it / without it"
    );
    for w in WRITERS {
        let p = w.to_string();
        let with = ratios::rate(GROUP, "store", &p, events);
        let without = ratios::rate(GROUP, "store_without_head_record", &p, events);
        println!(
            "{:>7} {:>10} {:>10} {:>8}",
            w,
            ratios::show(with),
            ratios::show(without),
            ratios::ratio(with, without)
        );
    }
    if pg {
        println!();
        println!("the PostgreSQL backend (PgStore) against the plain PostgreSQL peer and sled, same run (events/s)");
        println!(
            "{:>7} {:>10} {:>9} {:>12} {:>9} {:>10} {:>10}",
            "writers", "pg 1 node", "/peer", "pg 2 nodes", "/peer", "peer", "sled/pg"
        );
        for w in WRITERS {
            let p = w.to_string();
            let one = ratios::rate(GROUP, "pg_store", &p, events);
            let two = ratios::rate(GROUP, "pg_store_2nodes", &p, events);
            let peer = ratios::rate(GROUP, "postgres", &p, events);
            let sled = ratios::rate(GROUP, "store", &p, events);
            println!(
                "{:>7} {:>10} {:>9} {:>12} {:>9} {:>10} {:>10}",
                w,
                ratios::show(one),
                ratios::ratio(one, peer),
                ratios::show(two),
                ratios::ratio(two, peer),
                ratios::show(peer),
                ratios::ratio(sled, one)
            );
        }
    }
    for w in WRITERS {
        let (flushes, commits) = batches
            .iter()
            .filter(|(bw, _, _)| *bw == w)
            .fold((0, 0), |(f, c), (_, bf, bc)| (f + bf, c + bc));
        if flushes > 0 {
            println!(
                "store, {w} writers: {:.1} commits per flush",
                commits as f64 / flushes as f64
            );
        }
    }
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    if let Ok(w) = std::env::var("BENCH_PROFILE_STORE") {
        // Only the store case, for a profiler: `BENCH_PROFILE_STORE=64 perf record ...`.
        let w: u64 = w.parse().expect("BENCH_PROFILE_STORE is a writer count");
        let events = events_per_case();
        let d = rt.block_on(store_case(w, events));
        println!(
            "store, {w} writers: {:.0} events/s",
            events as f64 / d.as_secs_f64()
        );
        return;
    }
    let pg = std::env::var("PG_URL").ok();
    let mut c = Criterion::default()
        .output_directory(&ratios::output_dir())
        .configure_from_args();
    benches(&mut c, &rt, pg.as_deref());
    c.final_summary();
    table(pg.is_some());
}

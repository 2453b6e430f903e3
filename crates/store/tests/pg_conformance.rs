//! The conformance suite on PostgreSQL, and what only several nodes can show: two stores on one
//! database (two API nodes) appending at once stay gapless, agree on one winner per stream
//! version, and each sees the other's appends through `subscribe`.
//!
//! Needs a server: `PGTEST_URL` is its connection string (`.ci/postgres.sh` starts
//! one and prints it). Without it these tests say so and pass, unless `PGTEST_REQUIRED`
//! is set (CI sets it), which makes a missing server a failure.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use repairledger_store::{
    conformance, Commit, EventActor, EventStore, ExpectedVersion, NewEvent, PgStore, PgStoreConfig,
    SledStore, SledStoreConfig, StoreError, StreamAppend,
};
use serde_json::json;

fn url() -> Option<String> {
    repairledger_store::conformance::postgres_url()
}

static SCHEMAS: AtomicU32 = AtomicU32::new(0);

/// A fresh, empty log: a schema of its own.
fn fresh_schema(tag: &str) -> String {
    format!(
        "t_{tag}_{}_{}",
        std::process::id(),
        SCHEMAS.fetch_add(1, Ordering::SeqCst)
    )
}

fn commit(stream: &str, expected: ExpectedVersion) -> Commit {
    Commit {
        streams: vec![StreamAppend {
            stream: stream.into(),
            expected,
            events: vec![NewEvent {
                event_type: "Tested".into(),
                schema: 1,
                payload: json!({ "s": stream }),
                actor: EventActor {
                    person_id: "t".into(),
                    role: "qc".into(),
                },
                occurred_at: Utc::now(),
                policy_version: 1,
                correlation_id: None,
                causation_id: None,
            }],
        }],
        idempotency: None,
        recorded_at: Utc::now(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_passes_the_conformance_suite() {
    let Some(url) = url() else { return };
    conformance::run_all(|| {
        let config = PgStoreConfig::new(&url).schema(fresh_schema("suite"));
        async move { PgStore::open(config).unwrap() }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sled_export_imports_into_postgres_with_the_same_head() {
    let Some(url) = url() else { return };
    let dir = tempfile::tempdir().unwrap();
    let sled = SledStore::open(SledStoreConfig::new(dir.path().join("log"))).unwrap();
    let pg = PgStore::open(PgStoreConfig::new(&url).schema(fresh_schema("import"))).unwrap();
    conformance::export_import_reproduces_the_head(sled, pg).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_on_one_database_stay_gapless_and_follow_each_other() {
    let Some(url) = url() else { return };
    let schema = fresh_schema("nodes");
    let a = Arc::new(PgStore::open(PgStoreConfig::new(&url).schema(schema.clone())).unwrap());
    let b = Arc::new(PgStore::open(PgStoreConfig::new(&url).schema(schema)).unwrap());

    // B follows A's appends through LISTEN/NOTIFY.
    let mut b_head = b.subscribe();
    let first = a
        .append(commit("a-0", ExpectedVersion::NoStream))
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(5), async {
        while *b_head.borrow_and_update() < first.last_position {
            b_head.changed().await.unwrap();
        }
    })
    .await
    .expect("node B sees node A's append");
    assert_eq!(b.stream_version("a-0").unwrap(), Some(1));

    // Both nodes append at once: one gapless chain, each stream's versions 1..n.
    let mut tasks = Vec::new();
    for node in [a.clone(), b.clone()] {
        for w in 0..8 {
            let node = node.clone();
            tasks.push(tokio::spawn(async move {
                for i in 0..10 {
                    node.append(commit(&format!("s-{}", (w + i) % 5), ExpectedVersion::Any))
                        .await
                        .unwrap();
                }
            }));
        }
    }
    // And race to create one stream: exactly one winner across the nodes.
    let mut creators = Vec::new();
    for n in 0..6 {
        let node = if n % 2 == 0 { a.clone() } else { b.clone() };
        creators.push(tokio::spawn(async move {
            node.append(commit("contested", ExpectedVersion::NoStream))
                .await
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let mut wins = 0;
    for c in creators {
        match c.await.unwrap() {
            Ok(_) => wins += 1,
            Err(StoreError::Conflict { .. }) => {}
            Err(e) => panic!("unexpected {e}"),
        }
    }
    assert_eq!(wins, 1, "one creator wins across two nodes");

    let all = a.read_all(0, 100_000).unwrap();
    assert_eq!(all.len(), 1 + 160 + 1);
    for (i, e) in all.iter().enumerate() {
        assert_eq!(e.position, i as u64 + 1, "gapless positions");
    }
    for s in 0..5 {
        let stream = format!("s-{s}");
        let versions: Vec<u64> = b
            .read_stream(&stream, 1, 1000)
            .unwrap()
            .iter()
            .map(|e| e.version)
            .collect();
        assert_eq!(versions, (1..=32).collect::<Vec<_>>(), "{stream}");
    }
    let report = b.verify().unwrap();
    assert_eq!(report.first_broken, None, "{:?}", report.reason);
    assert_eq!(report.head, a.head().unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_refuses_to_change_a_recorded_event() {
    let Some(url) = url() else { return };
    let schema = fresh_schema("tamper");
    let store = PgStore::open(PgStoreConfig::new(&url).schema(schema.clone())).unwrap();
    store
        .append(commit("x", ExpectedVersion::Any))
        .await
        .unwrap();
    let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    for statement in [
        format!("UPDATE {schema}.rl_events SET record = 'x'"),
        format!("DELETE FROM {schema}.rl_events"),
        format!("TRUNCATE {schema}.rl_events"),
    ] {
        let err = client.batch_execute(&statement).await.unwrap_err();
        assert!(
            err.as_db_error()
                .is_some_and(|d| d.message().contains("append-only")),
            "{statement}: {err}"
        );
    }
    assert_eq!(store.verify().unwrap().first_broken, None);
}

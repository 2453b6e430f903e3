//! The conformance suite on sled, and what only sled can show: reopening, and tampering with
//! the files underneath.

use chrono::Utc;
use repairledger_store::{
    conformance, Commit, EventActor, EventStore, ExpectedVersion, Idempotency, NewEvent, SledStore,
    SledStoreConfig, StoreError, StreamAppend,
};
use serde_json::json;

fn commit(stream: &str, n: u64, key: Option<&str>) -> Commit {
    Commit {
        streams: vec![StreamAppend {
            stream: stream.into(),
            expected: ExpectedVersion::Any,
            events: (0..n)
                .map(|i| NewEvent {
                    event_type: "Tested".into(),
                    schema: 1,
                    payload: json!({ "i": i }),
                    actor: EventActor {
                        person_id: "t".into(),
                        role: "qc".into(),
                    },
                    occurred_at: Utc::now(),
                    policy_version: 1,
                    correlation_id: None,
                    causation_id: None,
                })
                .collect(),
        }],
        idempotency: key.map(|k| Idempotency {
            key: k.into(),
            fingerprint: "f".into(),
        }),
        recorded_at: Utc::now(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sled_passes_the_conformance_suite() {
    let dir = tempfile::tempdir().unwrap();
    let counter = std::sync::atomic::AtomicU32::new(0);
    conformance::run_all(|| {
        let n = counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let path = dir.path().join(format!("s{n}"));
        async move { SledStore::open(SledStoreConfig::new(path)).unwrap() }
    })
    .await;
}

async fn fill(path: &std::path::Path) -> (u64, String) {
    let store = SledStore::open(SledStoreConfig::new(path)).unwrap();
    for i in 0..5 {
        store
            .append(commit(&format!("s{i}"), 2, Some(&format!("k{i}"))))
            .await
            .unwrap();
    }
    let head = store.head().unwrap();
    store.shutdown().await;
    drop(store);
    (head.position, head.hash)
}

/// Opens the sled files directly, waiting (bounded) for the lock: sled's background threads
/// may hold it for a moment after the store's last handle is gone.
fn open_raw(path: &std::path::Path) -> sled::Db {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    loop {
        match sled::open(path) {
            Ok(db) => return db,
            Err(_) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            Err(e) => panic!("cannot open the sled files: {e}"),
        }
    }
}

/// Changes exactly one byte of one stored event in the sled files: a digit of its payload, so
/// the record still decodes and only the hash chain can tell.
fn tamper(path: &std::path::Path, position: u64) {
    let db = open_raw(path);
    // The log tree: `e` followed by the big-endian position (see sled_log.rs).
    let events = db.open_tree("log").unwrap();
    let key = [&[b'e'][..], &position.to_be_bytes()].concat();
    let mut bytes = events.get(&key).unwrap().unwrap().to_vec();
    let at = bytes
        .windows(4)
        .position(|w| w == b"\"i\":")
        .expect("payload field")
        + 4;
    bytes[at] = if bytes[at] == b'9' {
        b'0'
    } else {
        bytes[at] + 1
    };
    events.insert(key, bytes).unwrap();
    db.flush().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reopened_log_keeps_head_versions_and_keys() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log");
    let (position, hash) = fill(&path).await;
    let store = SledStore::open(SledStoreConfig::new(&path)).unwrap();
    assert_eq!(store.head().unwrap().position, position);
    assert_eq!(store.head().unwrap().hash, hash);
    assert_eq!(store.stream_version("s3").unwrap(), Some(2));
    let replay = store.append(commit("s0", 2, Some("k0"))).await.unwrap();
    assert!(replay.duplicate, "idempotency keys survive a restart");
    let next = store.append(commit("s0", 1, None)).await.unwrap();
    assert_eq!(
        next.events[0].prev_hash, hash,
        "the chain continues across restarts"
    );
    assert_eq!(store.verify().unwrap().first_broken, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tampered_event_in_the_middle_stops_the_store_and_verify_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log");
    fill(&path).await;
    tamper(&path, 4);
    match SledStore::open(SledStoreConfig::new(&path)) {
        Err(StoreError::Corrupt { position, .. }) => assert_eq!(position, 4),
        other => panic!("expected a refusal naming 4, got {:?}", other.map(|_| ())),
    }
    let mut config = SledStoreConfig::new(&path);
    config.check_tail = false;
    let store = SledStore::open(config).unwrap();
    let report = store.verify().unwrap();
    assert_eq!(report.first_broken, Some(4), "{report:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tampered_tail_stops_the_store_from_opening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log");
    let (position, _) = fill(&path).await;
    tamper(&path, position);
    match SledStore::open(SledStoreConfig::new(&path)) {
        Err(StoreError::Corrupt { position: p, .. }) => assert_eq!(p, position),
        Err(e) => panic!("expected Corrupt, got {e}"),
        Ok(_) => panic!("a tampered tail must not open"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_answers_unavailable_instead_of_growing() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = SledStoreConfig::new(dir.path().join("log"));
    config.queue_capacity = 1;
    config.max_batch = 1;
    let store = std::sync::Arc::new(SledStore::open(config).unwrap());
    let tasks: Vec<_> = (0..64)
        .map(|i| {
            let s = store.clone();
            tokio::spawn(async move { s.append(commit(&format!("q{i}"), 1, None)).await })
        })
        .collect();
    let mut refused = 0;
    let mut ok = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => ok += 1,
            Err(StoreError::Unavailable(_)) => refused += 1,
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(ok + refused, 64);
    assert!(ok >= 1);
    assert_eq!(
        store.head().unwrap().position,
        ok,
        "only acknowledged commits are in the log"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_write_acknowledges_nothing_and_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(SledStoreConfig::new(dir.path().join("log"))).unwrap();
    store.append(commit("a", 2, None)).await.unwrap();
    let head = store.head().unwrap();
    store.inject_write_failures(1);
    match store.append(commit("a", 3, Some("k"))).await {
        Err(StoreError::Disk { detail, .. }) => assert!(detail.contains("injected")),
        other => panic!("expected a disk error, got {other:?}"),
    }
    assert_eq!(store.head().unwrap(), head, "nothing half-written");
    assert_eq!(store.stream_version("a").unwrap(), Some(2));
    assert!(
        store.idempotency("k").unwrap().is_none(),
        "the key was not taken"
    );
    let next = store.append(commit("a", 1, Some("k"))).await.unwrap();
    assert_eq!(
        next.events[0].position,
        head.position + 1,
        "the next write continues the chain"
    );
    assert_eq!(store.verify().unwrap().first_broken, None);
}

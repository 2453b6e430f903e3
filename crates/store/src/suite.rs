//! The store conformance suite: what every `EventStore` backend must do. A backend's tests call
//! [`run_all`] with a factory of fresh, empty stores.

use std::future::Future;
use std::sync::Arc;

use chrono::{TimeZone, Utc};
use serde_json::json;

use crate::{
    Checkpoint, Commit, EventActor, EventStore, ExpectedVersion, Idempotency, NewEvent, StoreError,
    StreamAppend, GENESIS_HASH,
};

fn event(n: u64) -> NewEvent {
    NewEvent {
        event_type: "Tested".into(),
        schema: 1,
        payload: json!({ "n": n, "nested": { "b": 2, "a": 1 } }),
        actor: EventActor {
            person_id: "tester".into(),
            role: "qc".into(),
        },
        occurred_at: Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap(),
        policy_version: 1,
        correlation_id: Some(format!("c{n}")),
        causation_id: None,
    }
}

fn commit(stream: &str, expected: ExpectedVersion, n: u64) -> Commit {
    Commit {
        streams: vec![StreamAppend {
            stream: stream.into(),
            expected,
            events: (0..n).map(event).collect(),
        }],
        idempotency: None,
        recorded_at: Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 6).unwrap(),
    }
}

fn with_key(mut c: Commit, key: &str, fingerprint: &str) -> Commit {
    c.idempotency = Some(Idempotency {
        key: key.into(),
        fingerprint: fingerprint.into(),
    });
    c
}

/// The PostgreSQL server of the tests: `PGTEST_URL` (a connection string; `.ci/postgres.sh`
/// starts one and prints it). Without it the PostgreSQL tests say so and pass, unless
/// `PGTEST_REQUIRED` is set (CI sets it), which makes a missing server a failure.
pub fn postgres_url() -> Option<String> {
    match std::env::var("PGTEST_URL") {
        Ok(u) if !u.is_empty() => Some(u),
        _ => {
            assert!(
                std::env::var_os("PGTEST_REQUIRED").is_none(),
                "PGTEST_REQUIRED is set but PGTEST_URL names no server"
            );
            eprintln!("PGTEST_URL is not set: this PostgreSQL test is skipped");
            None
        }
    }
}

/// Runs every check, each against a fresh store.
pub async fn run_all<S, F, Fut>(make: F)
where
    S: EventStore,
    F: Fn() -> Fut,
    Fut: Future<Output = S>,
{
    first_append_starts_the_chain(make().await).await;
    positions_are_gapless_across_streams_and_versions_per_stream(make().await).await;
    expected_versions_are_enforced(make().await).await;
    a_multi_stream_commit_is_all_or_nothing(make().await).await;
    an_empty_commit_is_refused(make().await).await;
    idempotency_keys_replay_or_refuse(make().await).await;
    reads_by_stream_and_by_position_page(make().await).await;
    the_hash_chain_links_and_verifies(make().await).await;
    checkpoints_round_trip(make().await).await;
    subscribers_see_the_head_advance(make().await).await;
    concurrent_appends_stay_gapless(Arc::new(make().await)).await;
    concurrent_creators_of_one_stream_have_one_winner(Arc::new(make().await)).await;
    export_import_reproduces_the_head(make().await, make().await).await;
}

pub async fn first_append_starts_the_chain<S: EventStore>(store: S) {
    assert_eq!(store.head().unwrap().position, 0, "a new store is empty");
    assert_eq!(store.head().unwrap().hash, GENESIS_HASH);
    let r = store
        .append(commit("a", ExpectedVersion::NoStream, 1))
        .await
        .unwrap();
    let e = &r.events[0];
    assert_eq!((e.position, e.version, r.last_position), (1, 1, 1));
    assert_eq!(e.prev_hash, GENESIS_HASH);
    assert_eq!(e.hash, e.compute_hash());
    assert!(!r.duplicate);
    assert_eq!(store.head().unwrap().hash, e.hash);
}

pub async fn positions_are_gapless_across_streams_and_versions_per_stream<S: EventStore>(store: S) {
    store
        .append(commit("a", ExpectedVersion::Any, 2))
        .await
        .unwrap();
    store
        .append(commit("b", ExpectedVersion::Any, 3))
        .await
        .unwrap();
    store
        .append(commit("a", ExpectedVersion::Exact(2), 1))
        .await
        .unwrap();
    let all = store.read_all(0, 100).unwrap();
    assert_eq!(
        all.iter().map(|e| e.position).collect::<Vec<_>>(),
        (1..=6).collect::<Vec<_>>()
    );
    let a: Vec<_> = store
        .read_stream("a", 1, 100)
        .unwrap()
        .iter()
        .map(|e| (e.version, e.position))
        .collect();
    assert_eq!(a, vec![(1, 1), (2, 2), (3, 6)]);
    assert_eq!(store.stream_version("b").unwrap(), Some(3));
    assert_eq!(store.stream_version("nope").unwrap(), None);
}

pub async fn expected_versions_are_enforced<S: EventStore>(store: S) {
    store
        .append(commit("a", ExpectedVersion::NoStream, 2))
        .await
        .unwrap();
    match store
        .append(commit("a", ExpectedVersion::NoStream, 1))
        .await
    {
        Err(StoreError::Conflict { actual, .. }) => assert_eq!(actual, Some(2)),
        other => panic!("NoStream on an existing stream must conflict, got {other:?}"),
    }
    match store
        .append(commit("a", ExpectedVersion::Exact(1), 1))
        .await
    {
        Err(StoreError::Conflict { actual, .. }) => assert_eq!(actual, Some(2)),
        other => panic!("a stale Exact must conflict, got {other:?}"),
    }
    match store
        .append(commit("new", ExpectedVersion::Exact(3), 1))
        .await
    {
        Err(StoreError::Conflict { actual, .. }) => assert_eq!(actual, None),
        other => panic!("Exact on a missing stream must conflict, got {other:?}"),
    }
    store
        .append(commit("a", ExpectedVersion::Exact(2), 1))
        .await
        .unwrap();
    store
        .append(commit("fresh", ExpectedVersion::Exact(0), 1))
        .await
        .unwrap();
    assert_eq!(
        store.head().unwrap().position,
        4,
        "refused commits appended nothing"
    );
}

pub async fn a_multi_stream_commit_is_all_or_nothing<S: EventStore>(store: S) {
    store
        .append(commit("b", ExpectedVersion::Any, 1))
        .await
        .unwrap();
    let head = store.head().unwrap();
    let mut c = commit("a", ExpectedVersion::NoStream, 2);
    c.streams.push(StreamAppend {
        stream: "b".into(),
        expected: ExpectedVersion::Exact(5),
        events: vec![event(9)],
    });
    assert!(matches!(
        store.append(c.clone()).await,
        Err(StoreError::Conflict { .. })
    ));
    assert_eq!(
        store.head().unwrap(),
        head,
        "nothing of a refused commit lands"
    );
    assert_eq!(store.stream_version("a").unwrap(), None);
    c.streams[1].expected = ExpectedVersion::Exact(1);
    let r = store.append(c).await.unwrap();
    assert_eq!(r.events.len(), 3);
    assert_eq!(store.stream_version("b").unwrap(), Some(2));
}

pub async fn an_empty_commit_is_refused<S: EventStore>(store: S) {
    let mut c = commit("a", ExpectedVersion::Any, 1);
    c.streams.clear();
    assert!(matches!(
        store.append(c).await,
        Err(StoreError::EmptyCommit)
    ));
    assert!(matches!(
        store.append(commit("a", ExpectedVersion::Any, 0)).await,
        Err(StoreError::EmptyCommit)
    ));
    assert_eq!(store.head().unwrap().position, 0);
}

pub async fn idempotency_keys_replay_or_refuse<S: EventStore>(store: S) {
    let first = store
        .append(with_key(
            commit("a", ExpectedVersion::NoStream, 2),
            "k1",
            "f1",
        ))
        .await
        .unwrap();
    let head = store.head().unwrap();
    // The retry would conflict on its version, but the key answers first.
    let again = store
        .append(with_key(
            commit("a", ExpectedVersion::NoStream, 2),
            "k1",
            "f1",
        ))
        .await
        .unwrap();
    assert!(again.duplicate);
    assert_eq!(again.events, first.events);
    assert_eq!(store.head().unwrap(), head, "a replay appends nothing");
    assert!(matches!(
        store
            .append(with_key(
                commit("z", ExpectedVersion::Any, 1),
                "k1",
                "other"
            ))
            .await,
        Err(StoreError::IdempotencyMismatch { .. })
    ));
    let (fingerprint, looked_up) = store.idempotency("k1").unwrap().expect("key known");
    assert_eq!(
        (fingerprint.as_str(), looked_up.events),
        ("f1", first.events.clone())
    );
    assert!(store.idempotency("k2").unwrap().is_none());
    assert!(first
        .events
        .iter()
        .all(|e| e.idempotency_key.as_deref() == Some("k1")));
}

pub async fn reads_by_stream_and_by_position_page<S: EventStore>(store: S) {
    store
        .append(commit("a", ExpectedVersion::Any, 5))
        .await
        .unwrap();
    store
        .append(commit("b", ExpectedVersion::Any, 5))
        .await
        .unwrap();
    let page = store.read_stream("a", 2, 2).unwrap();
    assert_eq!(
        page.iter().map(|e| e.version).collect::<Vec<_>>(),
        vec![2, 3]
    );
    let page = store.read_all(4, 3).unwrap();
    assert_eq!(
        page.iter().map(|e| e.position).collect::<Vec<_>>(),
        vec![5, 6, 7]
    );
    assert!(store.read_all(10, 5).unwrap().is_empty());
    assert!(store.read_stream("missing", 1, 5).unwrap().is_empty());
}

pub async fn the_hash_chain_links_and_verifies<S: EventStore>(store: S) {
    for n in 0..5 {
        store
            .append(commit(&format!("s{n}"), ExpectedVersion::Any, 2))
            .await
            .unwrap();
    }
    let all = store.read_all(0, 100).unwrap();
    let mut prev = GENESIS_HASH.to_string();
    for e in &all {
        assert_eq!(
            e.prev_hash, prev,
            "position {} links to its predecessor",
            e.position
        );
        assert_eq!(e.hash, e.compute_hash());
        prev = e.hash.clone();
    }
    let report = store.verify().unwrap();
    assert_eq!(report.first_broken, None, "{report:?}");
    assert_eq!(report.events_checked, 10);
    assert_eq!(report.head.hash, prev);
}

pub async fn checkpoints_round_trip<S: EventStore>(store: S) {
    assert_eq!(store.load_checkpoint("p").unwrap(), None);
    let cp = Checkpoint {
        position: 7,
        state: b"{}".to_vec(),
    };
    store.save_checkpoint("p", &cp).unwrap();
    assert_eq!(store.load_checkpoint("p").unwrap(), Some(cp));
}

pub async fn subscribers_see_the_head_advance<S: EventStore>(store: S) {
    let mut rx = store.subscribe();
    store
        .append(commit("a", ExpectedVersion::Any, 3))
        .await
        .unwrap();
    rx.changed().await.unwrap();
    assert_eq!(*rx.borrow(), 3);
}

pub async fn concurrent_appends_stay_gapless<S: EventStore>(store: Arc<S>) {
    let tasks: Vec<_> = (0..64)
        .map(|w| {
            let store = store.clone();
            tokio::spawn(async move {
                for i in 0..20 {
                    let stream = if i % 5 == 0 {
                        "shared".to_string()
                    } else {
                        format!("w{w}")
                    };
                    store
                        .append(commit(&stream, ExpectedVersion::Any, 1))
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let all = store.read_all(0, 10_000).unwrap();
    assert_eq!(all.len(), 64 * 20);
    assert!(
        all.iter()
            .enumerate()
            .all(|(i, e)| e.position == i as u64 + 1),
        "gapless, no duplicates"
    );
    let shared = store.read_stream("shared", 1, 10_000).unwrap();
    assert!(shared
        .iter()
        .enumerate()
        .all(|(i, e)| e.version == i as u64 + 1));
    assert_eq!(store.verify().unwrap().first_broken, None);
}

pub async fn concurrent_creators_of_one_stream_have_one_winner<S: EventStore>(store: Arc<S>) {
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .append(commit("unit-x", ExpectedVersion::Exact(0), 1))
                    .await
            })
        })
        .collect();
    let mut wins = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => wins += 1,
            Err(StoreError::Conflict { .. }) => {}
            Err(e) => panic!("unexpected {e}"),
        }
    }
    assert_eq!(wins, 1, "exactly one creator wins");
    assert_eq!(store.stream_version("unit-x").unwrap(), Some(1));
}

/// Exports `source` and imports it into `target` (which must be empty): same events, same head.
pub async fn export_import_reproduces_the_head<S: EventStore, T: EventStore>(source: S, target: T) {
    for n in 0..4 {
        let c = with_key(
            commit(&format!("s{}", n % 2), ExpectedVersion::Any, 3),
            &format!("k{n}"),
            "f",
        );
        source.append(c).await.unwrap();
    }
    let all = source.read_all(0, 10_000).unwrap();
    let mut tampered = all.clone();
    tampered[5].payload = json!({ "n": 99 });
    assert!(matches!(
        target.import(tampered).await,
        Err(StoreError::Corrupt { position: 6, .. })
    ));
    assert_eq!(
        target.head().unwrap().position,
        0,
        "a failed import writes nothing"
    );
    let head = target.import(all[..5].to_vec()).await.unwrap();
    assert_eq!(head.position, 5);
    let head = target.import(all[5..].to_vec()).await.unwrap();
    assert_eq!(head, source.head().unwrap(), "the same head hash");
    assert_eq!(target.read_all(0, 10_000).unwrap(), all);
    assert_eq!(
        target.stream_version("s1").unwrap(),
        source.stream_version("s1").unwrap()
    );
    assert_eq!(target.verify().unwrap().first_broken, None);
    // A retry of an imported key is refused, never applied twice.
    assert!(matches!(
        target
            .append(with_key(commit("s0", ExpectedVersion::Any, 3), "k0", "f"))
            .await,
        Err(StoreError::IdempotencyMismatch { .. })
    ));
    // The chain continues after an import.
    let next = target
        .append(commit("s9", ExpectedVersion::Any, 1))
        .await
        .unwrap();
    assert_eq!(next.events[0].prev_hash, head.hash);
}

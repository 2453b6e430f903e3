//! Damage done to the files under a stopped log, as bit rot, a bad sector or a careless operator
//! would do it (not through sled's API): the store must refuse to open, naming a position, and
//! never serve a shorter or different history. `verify` (which opens without the tail check)
//! must name the first damaged position.

use chrono::Utc;
use repairledger_store::head_record::{HeadRecord, FILE_NAME};
use repairledger_store::{
    repair_truncate_after, Commit, EventActor, EventStore, ExpectedVersion, Head, NewEvent,
    SledStore, SledStoreConfig, StoreError, StreamAppend,
};
use serde_json::json;
use std::path::Path;

fn commit(stream: &str, n: u64) -> Commit {
    Commit {
        streams: vec![StreamAppend {
            stream: stream.into(),
            expected: ExpectedVersion::Any,
            events: (0..n)
                .map(|i| NewEvent {
                    event_type: "Tested".into(),
                    schema: 1,
                    // A marker unique to each event, so a test can find its bytes in the files.
                    payload: json!({ "marker": format!("<<{stream}#{i}>>"), "text": "x".repeat(400) }),
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
        idempotency: None,
        recorded_at: Utc::now(),
    }
}

/// A log of 2 000 events, stopped cleanly; answers its head.
async fn filled(path: &Path) -> Head {
    let store = SledStore::open(SledStoreConfig::new(path)).unwrap();
    for i in 0..200 {
        store.append(commit(&format!("s{i}"), 10)).await.unwrap();
    }
    let head = store.head().unwrap();
    store.shutdown().await;
    drop(store);
    wait_unlocked(path);
    head
}

/// sled's threads may hold the files for a moment after the last handle is gone.
fn wait_unlocked(path: &Path) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    while std::time::Instant::now() < deadline {
        if let Ok(db) = sled::open(path) {
            drop(db);
            std::thread::sleep(std::time::Duration::from_millis(50));
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// sled's largest data file (the one the pages live in).
fn data_file(path: &Path) -> std::path::PathBuf {
    let mut files: Vec<_> = walk(path)
        .into_iter()
        .filter(|p| p.file_name().is_some_and(|n| n != FILE_NAME))
        .filter(|p| !p.to_string_lossy().contains("checkpoints"))
        .collect();
    files.sort_by_key(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0));
    files.pop().expect("sled wrote a file")
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let p = entry.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// Every event's hash, read through the store.
async fn hashes(path: &Path) -> Vec<String> {
    let store = SledStore::open(SledStoreConfig::new(path)).unwrap();
    let all = store.read_all(0, usize::MAX).unwrap();
    store.shutdown().await;
    drop(store);
    wait_unlocked(path);
    all.into_iter().map(|e| e.hash).collect()
}

/// Damage is never served: the store refuses to open, naming a position at or before the
/// first event it can no longer vouch for, or (where the damage hit only space sled no longer
/// uses) it opens with exactly the history it had, every hash the same.
async fn assert_never_served_changed(path: &Path, before: &[String]) {
    match SledStore::open(SledStoreConfig::new(path)) {
        Ok(store) => {
            let now: Vec<String> = store
                .read_all(0, usize::MAX)
                .expect("an opened log reads whole")
                .into_iter()
                .map(|e| e.hash)
                .collect();
            assert!(
                now == before,
                "a damaged log opened with a different history"
            );
            store.shutdown().await;
        }
        Err(StoreError::Corrupt { position, reason }) => {
            assert!(
                position >= 1 && position <= before.len() as u64 + 1,
                "position {position} named for a log of {}: {reason}",
                before.len()
            );
        }
        Err(other) => panic!("a damaged log is named as damaged, not as {other}"),
    }
}

/// The store refuses to open, and `verify` (without the tail check) names the same position.
async fn assert_refused_and_named(path: &Path, before: &[String]) {
    let named = match SledStore::open(SledStoreConfig::new(path)) {
        Ok(_) => panic!("a damaged log opened"),
        Err(StoreError::Corrupt { position, reason }) => {
            assert!(
                position >= 1 && position <= before.len() as u64 + 1,
                "position {position}: {reason}"
            );
            position
        }
        Err(other) => panic!("a damaged log is named as damaged, not as {other}"),
    };
    wait_unlocked(path);
    let mut config = SledStoreConfig::new(path);
    config.check_tail = false;
    if let Ok(store) = SledStore::open(config) {
        let report = store.verify().unwrap();
        assert_eq!(report.first_broken, Some(named), "{report:?}");
        store.shutdown().await;
    }
}

fn damage(path: &Path, how: impl FnOnce(&mut Vec<u8>)) {
    let file = data_file(path);
    let mut bytes = std::fs::read(&file).unwrap();
    how(&mut bytes);
    std::fs::write(&file, &bytes).unwrap();
}

/// Every place the bytes of `needle` stand in `haystack` (sled may keep stale copies of a page).
fn places(haystack: &[u8], needle: &[u8]) -> Vec<usize> {
    haystack
        .windows(needle.len())
        .enumerate()
        .filter(|(_, w)| *w == needle)
        .map(|(i, _)| i)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_byte_flipped_inside_an_event_in_the_middle_of_the_log_is_detected() {
    let dir = tempfile::tempdir().unwrap();
    filled(dir.path()).await;
    let before = hashes(dir.path()).await;
    damage(dir.path(), |b| {
        // Event 5 of commit 100: about position 1 005 of 2 000.
        let at = places(b, b"<<s100#5>>");
        assert!(!at.is_empty(), "the event's bytes are in the file");
        for i in at {
            b[i + 3] ^= 0x01;
        }
    });
    assert_refused_and_named(dir.path(), &before).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_byte_flipped_in_the_middle_of_the_sled_file_is_never_served() {
    let dir = tempfile::tempdir().unwrap();
    filled(dir.path()).await;
    let before = hashes(dir.path()).await;
    damage(dir.path(), |b| {
        let mid = b.len() / 2;
        b[mid] ^= 0x5a;
    });
    assert_never_served_changed(dir.path(), &before).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_truncated_sled_file_is_never_served() {
    let dir = tempfile::tempdir().unwrap();
    filled(dir.path()).await;
    let before = hashes(dir.path()).await;
    damage(dir.path(), |b| b.truncate(b.len() / 2));
    assert_never_served_changed(dir.path(), &before).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zeroed_page_in_the_sled_file_is_never_served() {
    let dir = tempfile::tempdir().unwrap();
    filled(dir.path()).await;
    let before = hashes(dir.path()).await;
    damage(dir.path(), |b| {
        let start = (b.len() / 2) & !4095;
        let end = (start + 4096).min(b.len());
        b[start..end].fill(0);
    });
    assert_never_served_changed(dir.path(), &before).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_head_record_ahead_of_the_log_names_the_first_missing_position() {
    let dir = tempfile::tempdir().unwrap();
    let head = filled(dir.path()).await;
    let (mut record, _) = HeadRecord::open(dir.path()).unwrap();
    record
        .write(&Head {
            position: head.position + 5,
            hash: "ab".repeat(32),
        })
        .unwrap();
    drop(record);
    match SledStore::open(SledStoreConfig::new(dir.path())) {
        Err(StoreError::Corrupt { position, reason }) => {
            assert_eq!(position, head.position + 1, "{reason}");
            assert!(reason.contains("missing"), "{reason}");
        }
        other => panic!("expected a refusal, got {:?}", other.map(|_| ())),
    }
    wait_unlocked(dir.path());
    let mut config = SledStoreConfig::new(dir.path());
    config.check_tail = false;
    let store = SledStore::open(config).unwrap();
    assert_eq!(
        store.verify().unwrap().first_broken,
        Some(head.position + 1)
    );
    store.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_head_record_whose_hash_disagrees_is_refused_at_its_position() {
    let dir = tempfile::tempdir().unwrap();
    let head = filled(dir.path()).await;
    let (mut record, _) = HeadRecord::open(dir.path()).unwrap();
    record
        .write(&Head {
            position: head.position,
            hash: "cd".repeat(32),
        })
        .unwrap();
    drop(record);
    match SledStore::open(SledStoreConfig::new(dir.path())) {
        Err(StoreError::Corrupt { position, .. }) => assert_eq!(position, head.position),
        other => panic!("expected a refusal, got {:?}", other.map(|_| ())),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_head_record_is_refused_once_the_log_had_one() {
    let dir = tempfile::tempdir().unwrap();
    filled(dir.path()).await;
    std::fs::remove_file(dir.path().join(FILE_NAME)).unwrap();
    assert!(matches!(
        SledStore::open(SledStoreConfig::new(dir.path())),
        Err(StoreError::Corrupt { .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_head_record_follows_every_acknowledged_append() {
    let dir = tempfile::tempdir().unwrap();
    let head = filled(dir.path()).await;
    let (_, recorded) = HeadRecord::open(dir.path()).unwrap();
    assert_eq!(recorded, Some(head.clone()));
    // Reopening a sound log works and appends move the record on.
    let store = SledStore::open(SledStoreConfig::new(dir.path())).unwrap();
    store.append(commit("more", 3)).await.unwrap();
    let now = store.head().unwrap();
    store.shutdown().await;
    drop(store);
    wait_unlocked(dir.path());
    assert_eq!(HeadRecord::open(dir.path()).unwrap().1, Some(now));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repair_keeps_a_verified_prefix_and_writes_what_it_removed() {
    let dir = tempfile::tempdir().unwrap();
    let head = filled(dir.path()).await;
    let removed = dir.path().join("removed.jsonl");
    // A prefix past the end of what verifies is refused.
    assert!(repair_truncate_after(dir.path(), head.position + 1, &removed).is_err());
    let report = repair_truncate_after(dir.path(), 1500, &removed).unwrap();
    assert_eq!(report.kept.position, 1500);
    assert_eq!(report.removed_events, head.position - 1500);
    assert_eq!(report.head_record_before, Some(head.clone()));
    let lines = std::fs::read_to_string(&removed).unwrap();
    assert_eq!(lines.lines().count() as u64, 1 + head.position - 1500);
    wait_unlocked(dir.path());
    let store = SledStore::open(SledStoreConfig::new(dir.path())).unwrap();
    assert_eq!(store.head().unwrap(), report.kept);
    assert!(store.verify().unwrap().first_broken.is_none());
    // The log goes on from the kept head.
    let r = store.append(commit("after-repair", 1)).await.unwrap();
    assert_eq!(r.last_position, 1501);
    store.shutdown().await;
}

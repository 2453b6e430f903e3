//! A checkpoint is only ever loaded onto the log it was folded from: one from a longer log (the
//! log lost its tail) or from a different history is refused, never served.

use chrono::Utc;
use repairledger_projections::{ProjectionError, Projector};
use repairledger_store::{
    Commit, EventActor, EventStore, ExpectedVersion, NewEvent, SledStore, SledStoreConfig,
    StreamAppend,
};
use serde_json::json;

async fn log_of(dir: &std::path::Path, name: &str, events: u64, salt: &str) -> SledStore {
    let store = SledStore::open(SledStoreConfig::new(dir.join(name))).unwrap();
    for i in 0..events {
        store
            .append(Commit {
                streams: vec![StreamAppend {
                    stream: format!("test-{i}"),
                    expected: ExpectedVersion::Any,
                    events: vec![NewEvent {
                        event_type: "Tested".into(),
                        schema: 1,
                        payload: json!({ "salt": salt, "i": i }),
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
            })
            .await
            .unwrap();
    }
    store
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkpoint_matching_the_log_loads_and_one_from_a_longer_or_other_log_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let long = log_of(dir.path(), "long", 10, "a").await;
    let projector = Projector::load(&long).unwrap();
    projector.save_checkpoint(&long).unwrap();
    let checkpoint = long
        .load_checkpoint(repairledger_projections::CHECKPOINT)
        .unwrap()
        .expect("saved");
    // The same log: loads.
    assert!(Projector::load(&long).is_ok());

    // The log lost its tail: 6 of the 10 events remain.
    let short = log_of(dir.path(), "short", 6, "a").await;
    short
        .save_checkpoint(repairledger_projections::CHECKPOINT, &checkpoint)
        .unwrap();
    match Projector::load(&short) {
        Err(ProjectionError::CheckpointMismatch(why)) => assert!(why.contains("7..=10"), "{why}"),
        other => panic!("expected a refusal, got {:?}", other.map(|_| ())),
    }

    // Another history of the same length.
    let other = log_of(dir.path(), "other", 10, "b").await;
    other
        .save_checkpoint(repairledger_projections::CHECKPOINT, &checkpoint)
        .unwrap();
    assert!(matches!(
        Projector::load(&other),
        Err(ProjectionError::CheckpointMismatch(_))
    ));
}

//! Publishing the policy at start-up: a new version is recorded only if its calendar covers the
//! 12 months after the clock's now; a version already in the log is not judged again.

mod common;

use std::sync::Arc;

use chrono::{TimeZone, Utc};
use common::{test_vault, PEOPLE};
use repairledger_api::{ApiError, AppState, Directory, Limits, ManualClock};
use repairledger_domain::{DomainError, Policy};
use repairledger_store::{EventStore, SledStore, SledStoreConfig};

async fn start(
    store: &SledStore,
    clock: Arc<ManualClock>,
    dir: &std::path::Path,
) -> Result<AppState, ApiError> {
    AppState::start(
        Arc::new(store.clone()) as Arc<dyn EventStore>,
        Directory::parse(PEOPLE).expect("people parse"),
        Policy::default_policy(),
        clock,
        Limits::default(),
        Arc::new(test_vault(&dir.join("vault"))),
    )
    .await
}

fn policies_published(store: &SledStore) -> usize {
    store
        .read_stream(repairledger_domain::streams::POLICY, 1, usize::MAX)
        .expect("policy stream")
        .len()
}

#[actix_web::test]
async fn a_policy_whose_calendar_covers_the_year_ahead_is_published_at_start_up() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SledStore::open(SledStoreConfig::new(dir.path().join("log"))).expect("store");
    let clock = Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2026, 3, 2, 8, 0, 0).unwrap(),
    ));
    start(&store, clock.clone(), dir.path())
        .await
        .expect("starts");
    assert_eq!(policies_published(&store), 1);
    // Restarted after its calendar ran short: the version is in the log, so it is not judged again.
    clock.set(Utc.with_ymd_and_hms(2028, 6, 1, 8, 0, 0).unwrap());
    start(&store, clock, dir.path()).await.expect("restarts");
    assert_eq!(policies_published(&store), 1);
}

#[actix_web::test]
async fn a_policy_whose_calendar_ends_within_the_year_ahead_is_refused_at_start_up() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SledStore::open(SledStoreConfig::new(dir.path().join("log"))).expect("store");
    let clock = Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2028, 4, 1, 8, 0, 0).unwrap(),
    ));
    let e = start(&store, clock, dir.path())
        .await
        .err()
        .expect("refused");
    assert!(
        matches!(
            &e,
            ApiError::Domain(DomainError::CalendarNotCovered { missing, .. })
                if missing == "2029-01-01..2029-03-31"
        ),
        "{e:?}"
    );
    assert_eq!(policies_published(&store), 0);
}

//! Arbitrary bytes as a policy document: TOML parsing and validation (`Policy::parse`), then the
//! accessors that rely on validation (`calendar`, `penalty_scale`, `on_site_hours`) and the TOML
//! the server publishes into the log, parsed again as `PolicyCache` does.
//!
//! Nothing here may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use repairledger_domain::penalty::PenaltyRule;
use repairledger_domain::Policy;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(policy) = Policy::parse(text) else {
        return;
    };
    // Documented as safe once the policy validated.
    let _ = policy.calendar();
    for rule in PenaltyRule::ALL {
        let _ = policy.penalty_scale(rule);
    }
    for km in [0, 1, 50, 100, 300, u32::MAX] {
        let _ = policy.on_site_hours(km);
    }
    let _ = policy.is_placeholder(text);
    // `AppState::start` publishes `toml::to_string(&policy)`; `PolicyCache` parses it back.
    if let Ok(published) = toml::to_string(&policy) {
        let _ = Policy::parse(&published);
    }
});

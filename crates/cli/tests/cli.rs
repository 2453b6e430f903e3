//! The command line: help on every command, and configuration errors that name the setting.

use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_repairledger"))
}

#[test]
fn every_command_has_help() {
    for args in [
        vec!["--help"],
        vec!["serve", "--help"],
        vec!["verify", "--help"],
        vec!["rebuild", "--help"],
        vec!["export", "--help"],
        vec!["import", "--help"],
        vec!["openapi", "--help"],
        vec!["token", "issue", "--help"],
        vec!["token", "revoke", "--help"],
        vec!["token", "list", "--help"],
        vec!["keys", "new", "--help"],
        vec!["keys", "status", "--help"],
    ] {
        let out = bin().args(&args).output().expect("runs");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{args:?}: {text}");
        assert!(text.contains("Usage:"), "{args:?}: {text}");
    }
}

#[test]
fn invalid_settings_are_refused_at_start_with_the_setting_named() {
    let dir = tempfile::tempdir().unwrap();
    for (key, value, expected) in [
        ("REPAIRLEDGER_BIND", "not-an-address", "bind"),
        ("REPAIRLEDGER_MAX_BODY_BYTES", "12", "max_body_bytes"),
        ("REPAIRLEDGER_MAX_BACKDATE_DAYS", "-1", "max_backdate_days"),
        ("REPAIRLEDGER_LOG_FORMAT", "xml", "log_format"),
        ("REPAIRLEDGER_SURPRISE", "1", "surprise"),
        ("REPAIRLEDGER_STORE", "mysql", "store"),
        // postgres without a URL: the setting that is missing is named.
        ("REPAIRLEDGER_STORE", "postgres", "postgres_url"),
    ] {
        let out = bin()
            .arg("serve")
            .env("REPAIRLEDGER_DATA", dir.path().join("data"))
            .env(key, value)
            .output()
            .expect("runs");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{key}: {err}");
        assert!(
            err.contains("invalid configuration") && err.contains(expected),
            "{key}: {err}"
        );
    }
    // postgres without configured master keys: every node would make a key of its own.
    let out = bin()
        .arg("serve")
        .env("REPAIRLEDGER_DATA", dir.path().join("data"))
        .env("REPAIRLEDGER_STORE", "postgres")
        .env("REPAIRLEDGER_POSTGRES_URL", "host=127.0.0.1 port=1")
        .output()
        .expect("runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("pii_keys_file or pii_key"), "{err}");
}

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;

use super::*;

/// A backing directory and a mountpoint; `None` (with a loud message) when this machine has no
/// FUSE device, except in CI, which must not skip.
fn setup() -> Option<(tempfile::TempDir, PathBuf, PathBuf)> {
    if !Path::new("/dev/fuse").exists() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but /dev/fuse is missing: the fault-injection tests cannot run"
        );
        eprintln!("SKIPPED: /dev/fuse is missing, the faultfs tests did not run");
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let backing = dir.path().join("backing");
    let mnt = dir.path().join("mnt");
    fs::create_dir(&backing).unwrap();
    fs::create_dir(&mnt).unwrap();
    Some((dir, backing, mnt))
}

fn mount(backing: &Path, mnt: &Path) -> Handle {
    FaultFs::mount(backing, mnt).expect("faultfs mounts (as root, or with fusermount3)")
}

#[test]
fn an_unsynced_write_is_gone_after_a_power_cut_and_a_synced_one_survives() {
    let Some((_dir, backing, mnt)) = setup() else {
        return;
    };
    let mut fs_ = mount(&backing, &mnt);
    let mut synced = File::create(mnt.join("synced")).unwrap();
    synced.write_all(b"durable").unwrap();
    synced.sync_all().unwrap();
    synced.write_all(b" and lost").unwrap();
    fs::write(mnt.join("unsynced"), b"never fsynced").unwrap();
    // Readers see everything before the cut (the page cache).
    assert_eq!(
        fs::read(mnt.join("synced")).unwrap(),
        b"durable and lost".to_vec()
    );
    assert!(mnt.join("unsynced").exists());
    drop(synced);
    let report = fs_.power_cut().unwrap();
    assert_eq!(report.applied, 0);
    assert!(report.pending >= 2, "{report:?}");
    drop(fs_);
    assert_eq!(
        fs::read(backing.join("synced")).unwrap(),
        b"durable".to_vec()
    );
    assert!(!backing.join("unsynced").exists());
    // Mounted again, the survivor is what readers see.
    let fs_ = mount(&backing, &mnt);
    assert_eq!(fs::read(mnt.join("synced")).unwrap(), b"durable".to_vec());
    fs_.unmount().unwrap();
}

#[test]
fn a_rename_is_durable_only_after_a_sync() {
    let Some((_dir, backing, mnt)) = setup() else {
        return;
    };
    let mut fs_ = mount(&backing, &mnt);
    fs::create_dir(mnt.join("cp")).unwrap();
    let mut f = File::create(mnt.join("cp/one.tmp")).unwrap();
    f.write_all(b"one").unwrap();
    f.sync_all().unwrap();
    drop(f);
    fs::rename(mnt.join("cp/one.tmp"), mnt.join("cp/one")).unwrap();
    File::open(mnt.join("cp")).unwrap().sync_all().unwrap();
    let mut f = File::create(mnt.join("cp/two.tmp")).unwrap();
    f.write_all(b"two").unwrap();
    f.sync_all().unwrap();
    fs::rename(mnt.join("cp/two.tmp"), mnt.join("cp/two")).unwrap();
    drop(f);
    fs_.power_cut().unwrap();
    drop(fs_);
    assert_eq!(fs::read(backing.join("cp/one")).unwrap(), b"one".to_vec());
    assert!(
        !backing.join("cp/two").exists(),
        "the rename was not synced"
    );
    assert_eq!(
        fs::read(backing.join("cp/two.tmp")).unwrap(),
        b"two".to_vec()
    );
}

#[test]
fn a_torn_write_keeps_a_prefix_of_the_new_bytes_over_the_old() {
    let Some((_dir, backing, mnt)) = setup() else {
        return;
    };
    for seed in 0..4 {
        let mut fs_ = mount(&backing, &mnt);
        let f = OpenOptions::new()
            .create(true)
            .truncate(true)
            .read(true)
            .write(true)
            .open(mnt.join("log"))
            .unwrap();
        f.write_all_at(&[b'a'; 4096], 0).unwrap();
        f.sync_all().unwrap();
        f.write_all_at(&[b'b'; 4096], 0).unwrap();
        drop(f);
        let report = fs_.power_cut_torn(seed).unwrap();
        drop(fs_);
        let (path, offset, len, kept) = report.torn.clone().expect("a write was torn");
        assert_eq!((path, offset, len), (PathBuf::from("log"), 0, 4096));
        assert!(0 < kept && kept < 4096, "{report:?}");
        let bytes = fs::read(backing.join("log")).unwrap();
        assert_eq!(bytes.len(), 4096);
        assert!(bytes[..kept].iter().all(|b| *b == b'b'), "seed {seed}");
        assert!(bytes[kept..].iter().all(|b| *b == b'a'), "seed {seed}");
    }
}

#[test]
fn a_reordered_cut_applies_some_unsynced_writes_and_not_others() {
    let Some((_dir, backing, mnt)) = setup() else {
        return;
    };
    let mut fs_ = mount(&backing, &mnt);
    let f = File::create(mnt.join("pages")).unwrap();
    f.write_all_at(&[0u8; 64], 0).unwrap();
    f.sync_all().unwrap();
    for page in 0..64u64 {
        f.write_all_at(&[1], page).unwrap();
    }
    drop(f);
    let report = fs_.power_cut_reordered(7).unwrap();
    drop(fs_);
    let bytes = fs::read(backing.join("pages")).unwrap();
    let written = bytes.iter().filter(|b| **b == 1).count();
    assert_eq!(written, report.applied);
    assert!(0 < written && written < 64, "{report:?}");
    // Not a prefix: a later write reached the disk while an earlier one did not.
    let first_missing = bytes.iter().position(|b| *b == 0).unwrap();
    assert!(bytes[first_missing..].contains(&1), "{bytes:?}");
}

#[test]
fn eio_and_enospc_reach_the_writer_and_a_failed_fsync_loses_the_pages() {
    let Some((_dir, backing, mnt)) = setup() else {
        return;
    };
    let mut fs_ = mount(&backing, &mnt);
    let f = File::create(mnt.join("f")).unwrap();
    fs_.fail_next_write(Errno::Eio);
    let e = f.write_all_at(b"x", 0).unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::EIO));
    f.write_all_at(b"ok", 0).unwrap();
    fs_.fail_writes(Some(Errno::Enospc));
    for _ in 0..2 {
        let e = f.write_all_at(b"full", 2).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ENOSPC));
    }
    fs_.fail_writes(None);
    f.sync_all().unwrap();
    f.write_all_at(b"!!", 2).unwrap();
    fs_.fail_next_fsync(Errno::Eio);
    let e = f.sync_all().unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::EIO));
    // The page cache still shows the write and a retried fsync succeeds, yet the disk never got
    // it: why a failed fsync must not be retried and trusted.
    assert_eq!(fs::read(mnt.join("f")).unwrap(), b"ok!!".to_vec());
    f.sync_all().unwrap();
    drop(f);
    fs_.power_cut().unwrap();
    drop(fs_);
    assert_eq!(fs::read(backing.join("f")).unwrap(), b"ok".to_vec());
}

#[test]
fn a_clean_unmount_keeps_everything() {
    let Some((_dir, backing, mnt)) = setup() else {
        return;
    };
    let fs_ = mount(&backing, &mnt);
    fs::create_dir_all(mnt.join("a/b")).unwrap();
    fs::write(mnt.join("a/b/c"), b"c").unwrap();
    fs::write(mnt.join("gone"), b"x").unwrap();
    fs::remove_file(mnt.join("gone")).unwrap();
    let names: Vec<_> = fs::read_dir(mnt.join("a"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec![OsString::from("b")]);
    fs_.unmount().unwrap();
    assert_eq!(fs::read(backing.join("a/b/c")).unwrap(), b"c".to_vec());
    assert!(!backing.join("gone").exists());
}

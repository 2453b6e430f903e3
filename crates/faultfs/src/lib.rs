//! A fault-injecting FUSE filesystem for tests: what a power cut, a torn or reordered write and a
//! failing disk do to a program that believes its `fsync`s.
//!
//! [`FaultFs::mount`] loads a real backing directory into memory and serves it at a mountpoint.
//! Every write is seen at once by readers (the page cache) but reaches the durable state only
//! when the file is fsynced (LazyFS style). Creates, renames and unlinks are journaled in order
//! and become durable with the next `fsync` of any file or directory (as ext4's journal commit
//! does). The backing directory is rewritten from the durable state when power is cut (or
//! everything is synced first on a clean [`Handle::unmount`]), so it then holds exactly what a
//! disk would after the cut, ready to be mounted again.
//!
//! Simple rather than fast: one request at a time, whole files in memory.

use std::collections::{BTreeMap, HashMap};
use std::ffi::{OsStr, OsString};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use fuser::{
    FileAttr, FileType, Filesystem, MountOption, ReplyAttr, ReplyCreate, ReplyData, ReplyDirectory,
    ReplyEmpty, ReplyEntry, ReplyOpen, ReplyStatfs, ReplyWrite, Request, TimeOrNow,
};

/// An error the disk answers: only these two are injected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Errno {
    /// An I/O error (a bad sector, a failing device).
    Eio,
    /// The device is full.
    Enospc,
}

impl Errno {
    fn raw(self) -> i32 {
        match self {
            Errno::Eio => libc::EIO,
            Errno::Enospc => libc::ENOSPC,
        }
    }
}

/// What a power cut did to the writes that were not yet durable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CutReport {
    /// `plain`, `torn` or `reordered`.
    pub kind: &'static str,
    /// Unsynced data writes (and truncates) that were pending at the cut.
    pub pending: usize,
    /// How many of them reached the disk anyway (reordered: a random subset; torn: the torn one).
    pub applied: usize,
    /// Unsynced creates, renames and unlinks at the cut, and how many of them reached the disk.
    pub pending_metadata: usize,
    pub applied_metadata: usize,
    /// Torn: the file, the write's offset, its length and the bytes of it that were kept.
    pub torn: Option<(PathBuf, u64, usize, usize)>,
}

/// The mount's control handle. Dropping it without a cut or [`Handle::unmount`] is a plain
/// power cut. The mount is detached at once; processes with files still open there get EIO.
pub struct Handle {
    state: Arc<Mutex<State>>,
    session: Option<fuser::BackgroundSession>,
    mountpoint: PathBuf,
}

/// The filesystem. See the crate documentation.
pub struct FaultFs {
    state: Arc<Mutex<State>>,
}

#[derive(Clone)]
enum DataOp {
    Write { offset: u64, data: Vec<u8> },
    Truncate(u64),
}

impl DataOp {
    fn apply(&self, to: &mut Vec<u8>) {
        match self {
            DataOp::Write { offset, data } => write_at(to, *offset, data),
            DataOp::Truncate(size) => to.resize(*size as usize, 0),
        }
    }
}

fn write_at(to: &mut Vec<u8>, offset: u64, data: &[u8]) {
    let start = offset as usize;
    let end = start + data.len();
    if to.len() < end {
        to.resize(end, 0);
    }
    to[start..end].copy_from_slice(data);
}

#[derive(Clone)]
enum MetaOp {
    Link {
        parent: u64,
        name: OsString,
        ino: u64,
    },
    Unlink {
        parent: u64,
        name: OsString,
    },
    Rename {
        parent: u64,
        name: OsString,
        new_parent: u64,
        new_name: OsString,
    },
}

struct Node {
    dir: bool,
    perm: u16,
    mtime: SystemTime,
    /// What readers see (the page cache).
    data: Vec<u8>,
    /// What the disk holds.
    durable: Vec<u8>,
    /// Writes since the last fsync, in order.
    pending: Vec<DataOp>,
    /// Directories: the entries readers see, and the durable ones.
    children: BTreeMap<OsString, u64>,
    durable_children: BTreeMap<OsString, u64>,
}

impl Node {
    fn new(dir: bool, perm: u16) -> Node {
        Node {
            dir,
            perm,
            mtime: SystemTime::now(),
            data: Vec::new(),
            durable: Vec::new(),
            pending: Vec::new(),
            children: BTreeMap::new(),
            durable_children: BTreeMap::new(),
        }
    }
}

#[derive(Default)]
struct Faults {
    next_write: Option<Errno>,
    next_fsync: Option<Errno>,
    writes: Option<Errno>,
}

struct State {
    nodes: HashMap<u64, Node>,
    next_ino: u64,
    journal: Vec<MetaOp>,
    faults: Faults,
    /// Set by a power cut: every request then fails with EIO.
    dead: bool,
    backing: PathBuf,
}

const ROOT: u64 = 1;
const TTL: Duration = Duration::from_secs(1);

/// A small deterministic generator (xorshift64*), so a seed replays a cut exactly.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15 | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next() % n
        }
    }
}

impl State {
    fn load(backing: &Path) -> io::Result<State> {
        let mut state = State {
            nodes: HashMap::new(),
            next_ino: ROOT + 1,
            journal: Vec::new(),
            faults: Faults::default(),
            dead: false,
            backing: backing.to_path_buf(),
        };
        let perm = std::fs::metadata(backing)?.permissions().mode() as u16 & 0o7777;
        state.nodes.insert(ROOT, Node::new(true, perm));
        state.load_dir(ROOT, backing)?;
        Ok(state)
    }

    fn load_dir(&mut self, ino: u64, path: &Path) -> io::Result<()> {
        for entry in std::fs::read_dir(path)? {
            let entry = entry?;
            let meta = entry.metadata()?;
            let perm = meta.permissions().mode() as u16 & 0o7777;
            let child = self.next_ino;
            self.next_ino += 1;
            let mut node = Node::new(meta.is_dir(), perm);
            if !meta.is_dir() {
                node.data = std::fs::read(entry.path())?;
                node.durable = node.data.clone();
            }
            self.nodes.insert(child, node);
            let dir = self.nodes.get_mut(&ino).expect("the parent was loaded");
            dir.children.insert(entry.file_name(), child);
            dir.durable_children.insert(entry.file_name(), child);
            if meta.is_dir() {
                self.load_dir(child, &entry.path())?;
            }
        }
        Ok(())
    }

    fn attr(&self, ino: u64) -> Option<FileAttr> {
        let n = self.nodes.get(&ino)?;
        let size = if n.dir { 4096 } else { n.data.len() as u64 };
        // SAFETY: getuid and getgid cannot fail.
        let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
        Some(FileAttr {
            ino,
            size,
            blocks: size.div_ceil(512),
            atime: n.mtime,
            mtime: n.mtime,
            ctime: n.mtime,
            crtime: n.mtime,
            kind: if n.dir {
                FileType::Directory
            } else {
                FileType::RegularFile
            },
            perm: n.perm,
            nlink: if n.dir { 2 } else { 1 },
            uid,
            gid,
            rdev: 0,
            blksize: 4096,
            flags: 0,
        })
    }

    fn child(&self, parent: u64, name: &OsStr) -> Result<u64, i32> {
        let p = self.nodes.get(&parent).ok_or(libc::ENOENT)?;
        if !p.dir {
            return Err(libc::ENOTDIR);
        }
        p.children.get(name).copied().ok_or(libc::ENOENT)
    }

    fn make(&mut self, parent: u64, name: &OsStr, dir: bool, perm: u16) -> Result<u64, i32> {
        match self.child(parent, name) {
            Ok(_) => return Err(libc::EEXIST),
            Err(libc::ENOENT) => {}
            Err(e) => return Err(e),
        }
        let ino = self.next_ino;
        self.next_ino += 1;
        self.nodes.insert(ino, Node::new(dir, perm));
        let p = self.nodes.get_mut(&parent).expect("checked above");
        p.children.insert(name.to_owned(), ino);
        p.mtime = SystemTime::now();
        self.journal.push(MetaOp::Link {
            parent,
            name: name.to_owned(),
            ino,
        });
        Ok(ino)
    }

    fn remove(&mut self, parent: u64, name: &OsStr, dir: bool) -> Result<(), i32> {
        let ino = self.child(parent, name)?;
        let n = &self.nodes[&ino];
        if n.dir != dir {
            return Err(if dir { libc::ENOTDIR } else { libc::EISDIR });
        }
        if dir && !n.children.is_empty() {
            return Err(libc::ENOTEMPTY);
        }
        let p = self.nodes.get_mut(&parent).expect("checked above");
        p.children.remove(name);
        p.mtime = SystemTime::now();
        self.journal.push(MetaOp::Unlink {
            parent,
            name: name.to_owned(),
        });
        Ok(())
    }

    fn rename(
        &mut self,
        parent: u64,
        name: &OsStr,
        new_parent: u64,
        new_name: &OsStr,
        flags: u32,
    ) -> Result<(), i32> {
        let ino = self.child(parent, name)?;
        if flags & !libc::RENAME_NOREPLACE != 0 {
            return Err(libc::EINVAL);
        }
        match self.child(new_parent, new_name) {
            Ok(_) if flags & libc::RENAME_NOREPLACE != 0 => return Err(libc::EEXIST),
            Ok(target) if target == ino => return Ok(()),
            Ok(target) => {
                let (t, s) = (&self.nodes[&target], &self.nodes[&ino]);
                if t.dir && !s.dir {
                    return Err(libc::EISDIR);
                }
                if !t.dir && s.dir {
                    return Err(libc::ENOTDIR);
                }
                if t.dir && !t.children.is_empty() {
                    return Err(libc::ENOTEMPTY);
                }
            }
            Err(libc::ENOENT) => {}
            Err(e) => return Err(e),
        }
        self.nodes
            .get_mut(&parent)
            .expect("checked above")
            .children
            .remove(name);
        let np = self.nodes.get_mut(&new_parent).ok_or(libc::ENOENT)?;
        np.children.insert(new_name.to_owned(), ino);
        np.mtime = SystemTime::now();
        self.journal.push(MetaOp::Rename {
            parent,
            name: name.to_owned(),
            new_parent,
            new_name: new_name.to_owned(),
        });
        Ok(())
    }

    fn data_op(&mut self, ino: u64, op: DataOp) -> Result<(), i32> {
        let n = self.nodes.get_mut(&ino).ok_or(libc::ENOENT)?;
        if n.dir {
            return Err(libc::EISDIR);
        }
        op.apply(&mut n.data);
        n.pending.push(op);
        n.mtime = SystemTime::now();
        Ok(())
    }

    fn apply_meta(&mut self, op: &MetaOp) {
        match op {
            MetaOp::Link { parent, name, ino } => {
                if let Some(p) = self.nodes.get_mut(parent) {
                    p.durable_children.insert(name.clone(), *ino);
                }
            }
            MetaOp::Unlink { parent, name } => {
                if let Some(p) = self.nodes.get_mut(parent) {
                    p.durable_children.remove(name);
                }
            }
            MetaOp::Rename {
                parent,
                name,
                new_parent,
                new_name,
            } => {
                let moved = self
                    .nodes
                    .get_mut(parent)
                    .and_then(|p| p.durable_children.remove(name));
                if let (Some(ino), Some(np)) = (moved, self.nodes.get_mut(new_parent)) {
                    np.durable_children.insert(new_name.clone(), ino);
                }
            }
        }
    }

    /// The metadata journal commits as a whole, in order.
    fn commit_journal(&mut self) {
        for op in std::mem::take(&mut self.journal) {
            self.apply_meta(&op);
        }
    }

    fn fsync(&mut self, ino: u64) -> Result<(), i32> {
        if let Some(e) = self.faults.next_fsync.take() {
            // A failed fsync loses the pages it was writing while the page cache still shows
            // them (the "fsyncgate" behaviour of Linux): a retry reports success for nothing.
            if let Some(n) = self.nodes.get_mut(&ino) {
                n.pending.clear();
            }
            return Err(e.raw());
        }
        let n = self.nodes.get_mut(&ino).ok_or(libc::ENOENT)?;
        for op in std::mem::take(&mut n.pending) {
            op.apply(&mut n.durable);
        }
        self.commit_journal();
        Ok(())
    }

    /// The path of `ino` as readers see it (for reports).
    fn path_of(&self, ino: u64) -> PathBuf {
        fn find(s: &State, dir: u64, ino: u64, at: &Path) -> Option<PathBuf> {
            for (name, child) in &s.nodes[&dir].children {
                let p = at.join(name);
                if *child == ino {
                    return Some(p);
                }
                if s.nodes[child].dir {
                    if let Some(found) = find(s, *child, ino, &p) {
                        return Some(found);
                    }
                }
            }
            None
        }
        find(self, ROOT, ino, Path::new("")).unwrap_or_else(|| PathBuf::from("(unlinked)"))
    }

    /// Power off: decides what of the unsynced state reached the disk, writes the disk's state
    /// to the backing directory and fails every later request.
    fn cut(&mut self, kind: &'static str, seed: u64) -> io::Result<CutReport> {
        let mut rng = Rng::new(seed);
        let mut inos: Vec<u64> = self.nodes.keys().copied().collect();
        inos.sort_unstable();
        let pending: usize = self.nodes.values().map(|n| n.pending.len()).sum();
        let mut report = CutReport {
            kind,
            pending,
            applied: 0,
            pending_metadata: self.journal.len(),
            applied_metadata: 0,
            torn: None,
        };
        match kind {
            "torn" => {
                let candidates: Vec<u64> = inos
                    .iter()
                    .copied()
                    .filter(|i| {
                        matches!(self.nodes[i].pending.last(), Some(DataOp::Write { data, .. }) if !data.is_empty())
                    })
                    .collect();
                if !candidates.is_empty() {
                    let ino = candidates[rng.below(candidates.len() as u64) as usize];
                    let path = self.path_of(ino);
                    let n = self.nodes.get_mut(&ino).expect("a candidate");
                    if let Some(DataOp::Write { offset, data }) = n.pending.last() {
                        // At least one byte kept and at least one lost, when the write allows.
                        let kept = if data.len() > 1 {
                            1 + rng.below(data.len() as u64 - 1) as usize
                        } else {
                            data.len()
                        };
                        write_at(&mut n.durable, *offset, &data[..kept]);
                        report.applied = 1;
                        report.torn = Some((path, *offset, data.len(), kept));
                    }
                }
            }
            "reordered" => {
                // The journal reaches the disk in order (a prefix); data pages in any order.
                let prefix = rng.below(self.journal.len() as u64 + 1) as usize;
                let journal = std::mem::take(&mut self.journal);
                for op in &journal[..prefix] {
                    self.apply_meta(op);
                }
                report.applied_metadata = prefix;
                for ino in &inos {
                    let n = self.nodes.get_mut(ino).expect("listed");
                    for op in std::mem::take(&mut n.pending) {
                        if rng.below(2) == 1 {
                            op.apply(&mut n.durable);
                            report.applied += 1;
                        }
                    }
                }
            }
            _ => {}
        }
        self.journal.clear();
        for n in self.nodes.values_mut() {
            n.pending.clear();
        }
        self.dead = true;
        self.write_backing()?;
        Ok(report)
    }

    /// Rewrites the backing directory to hold exactly the durable tree.
    fn write_backing(&self) -> io::Result<()> {
        for entry in std::fs::read_dir(&self.backing)? {
            let entry = entry?;
            if entry.file_type()?.is_dir() {
                std::fs::remove_dir_all(entry.path())?;
            } else {
                std::fs::remove_file(entry.path())?;
            }
        }
        self.write_dir(ROOT, &self.backing)
    }

    fn write_dir(&self, ino: u64, path: &Path) -> io::Result<()> {
        for (name, child) in &self.nodes[&ino].durable_children {
            let n = &self.nodes[child];
            let p = path.join(name);
            if n.dir {
                std::fs::create_dir(&p)?;
                self.write_dir(*child, &p)?;
            } else {
                std::fs::write(&p, &n.durable)?;
            }
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(n.perm as u32))?;
        }
        Ok(())
    }
}

impl FaultFs {
    /// Serves `backing` at `mountpoint` until the handle is dropped or power is cut. As root the
    /// kernel mounts it directly; otherwise `fusermount3` (package fuse3) must be installed.
    pub fn mount(backing: &Path, mountpoint: &Path) -> io::Result<Handle> {
        let state = Arc::new(Mutex::new(State::load(backing)?));
        let fs = FaultFs {
            state: state.clone(),
        };
        let session = fuser::spawn_mount2(
            fs,
            mountpoint,
            &[
                MountOption::FSName("faultfs".into()),
                MountOption::DefaultPermissions,
            ],
        )?;
        Ok(Handle {
            state,
            session: Some(session),
            mountpoint: mountpoint.to_path_buf(),
        })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Handle {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn cut(&mut self, kind: &'static str, seed: u64) -> io::Result<CutReport> {
        let report = self.state().cut(kind, seed)?;
        self.detach();
        Ok(report)
    }

    /// Power loss: every write and every create, rename or unlink not yet fsynced is gone.
    pub fn power_cut(&mut self) -> io::Result<CutReport> {
        self.cut("plain", 0)
    }

    /// Power loss during a write: as [`Handle::power_cut`], but the last unsynced write of one
    /// file (chosen by `seed`) reached the disk up to a random byte.
    pub fn power_cut_torn(&mut self, seed: u64) -> io::Result<CutReport> {
        self.cut("torn", seed)
    }

    /// Power loss with the disk's own write order: a random subset of the unsynced writes (and
    /// a prefix of the unsynced creates, renames and unlinks) reached the disk.
    pub fn power_cut_reordered(&mut self, seed: u64) -> io::Result<CutReport> {
        self.cut("reordered", seed)
    }

    /// The next write fails with `errno` (and changes nothing).
    pub fn fail_next_write(&self, errno: Errno) {
        self.state().faults.next_write = Some(errno);
    }

    /// The next fsync fails with `errno`; the file's unsynced writes are lost with it.
    pub fn fail_next_fsync(&self, errno: Errno) {
        self.state().faults.next_fsync = Some(errno);
    }

    /// Every write fails with `errno` until called with `None`.
    pub fn fail_writes(&self, errno: Option<Errno>) {
        self.state().faults.writes = errno;
    }

    /// A clean shutdown: everything is synced, written to the backing directory, unmounted.
    pub fn unmount(self) -> io::Result<()> {
        {
            let mut s = self.state();
            if !s.dead {
                let inos: Vec<u64> = s.nodes.keys().copied().collect();
                for ino in inos {
                    let n = s.nodes.get_mut(&ino).expect("listed");
                    for op in std::mem::take(&mut n.pending) {
                        op.apply(&mut n.durable);
                    }
                }
                s.commit_journal();
                s.dead = true;
                s.write_backing()?;
            }
        }
        self.detach();
        Ok(())
    }

    /// Detaches the mount lazily: processes with open files there keep failing with EIO.
    fn detach(&self) {
        let Ok(path) = std::ffi::CString::new(self.mountpoint.as_os_str().as_bytes()) else {
            return;
        };
        // SAFETY: a valid C string; umount2 only reads it.
        unsafe {
            libc::umount2(path.as_ptr(), libc::MNT_DETACH);
        }
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        {
            let mut s = self.state();
            if !s.dead {
                let _ = s.cut("plain", 0);
            }
        }
        self.detach();
        // Not joined: the serving thread ends once the last file open on the mount is closed,
        // which may be later in this very thread.
        drop(self.session.take());
    }
}

fn time(t: TimeOrNow) -> SystemTime {
    match t {
        TimeOrNow::SpecificTime(t) => t,
        TimeOrNow::Now => SystemTime::now(),
    }
}

macro_rules! alive {
    ($s:expr, $reply:expr) => {
        if $s.dead {
            $reply.error(libc::EIO);
            return;
        }
    };
}

impl Filesystem for FaultFs {
    fn lookup(&mut self, _req: &Request<'_>, parent: u64, name: &OsStr, reply: ReplyEntry) {
        let s = self.state();
        alive!(s, reply);
        match s.child(parent, name) {
            Ok(ino) => reply.entry(&TTL, &s.attr(ino).expect("a child exists"), 0),
            Err(e) => reply.error(e),
        }
    }

    fn getattr(&mut self, _req: &Request<'_>, ino: u64, _fh: Option<u64>, reply: ReplyAttr) {
        let s = self.state();
        alive!(s, reply);
        match s.attr(ino) {
            Some(a) => reply.attr(&TTL, &a),
            None => reply.error(libc::ENOENT),
        }
    }

    fn setattr(
        &mut self,
        _req: &Request<'_>,
        ino: u64,
        mode: Option<u32>,
        _uid: Option<u32>,
        _gid: Option<u32>,
        size: Option<u64>,
        _atime: Option<TimeOrNow>,
        mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        _fh: Option<u64>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<u32>,
        reply: ReplyAttr,
    ) {
        let mut s = self.state();
        alive!(s, reply);
        if let Some(size) = size {
            if let Err(e) = s.data_op(ino, DataOp::Truncate(size)) {
                return reply.error(e);
            }
        }
        let Some(n) = s.nodes.get_mut(&ino) else {
            return reply.error(libc::ENOENT);
        };
        if let Some(mode) = mode {
            n.perm = mode as u16 & 0o7777;
        }
        if let Some(t) = mtime {
            n.mtime = time(t);
        }
        reply.attr(&TTL, &s.attr(ino).expect("exists"));
    }

    fn mknod(
        &mut self,
        _req: &Request<'_>,
        parent: u64,
        name: &OsStr,
        mode: u32,
        umask: u32,
        _rdev: u32,
        reply: ReplyEntry,
    ) {
        let mut s = self.state();
        alive!(s, reply);
        if mode & libc::S_IFMT != libc::S_IFREG {
            return reply.error(libc::EPERM);
        }
        match s.make(parent, name, false, (mode & !umask & 0o7777) as u16) {
            Ok(ino) => reply.entry(&TTL, &s.attr(ino).expect("made"), 0),
            Err(e) => reply.error(e),
        }
    }

    fn mkdir(
        &mut self,
        _req: &Request<'_>,
        parent: u64,
        name: &OsStr,
        mode: u32,
        umask: u32,
        reply: ReplyEntry,
    ) {
        let mut s = self.state();
        alive!(s, reply);
        match s.make(parent, name, true, (mode & !umask & 0o7777) as u16) {
            Ok(ino) => reply.entry(&TTL, &s.attr(ino).expect("made"), 0),
            Err(e) => reply.error(e),
        }
    }

    fn unlink(&mut self, _req: &Request<'_>, parent: u64, name: &OsStr, reply: ReplyEmpty) {
        let mut s = self.state();
        alive!(s, reply);
        match s.remove(parent, name, false) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn rmdir(&mut self, _req: &Request<'_>, parent: u64, name: &OsStr, reply: ReplyEmpty) {
        let mut s = self.state();
        alive!(s, reply);
        match s.remove(parent, name, true) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn rename(
        &mut self,
        _req: &Request<'_>,
        parent: u64,
        name: &OsStr,
        newparent: u64,
        newname: &OsStr,
        flags: u32,
        reply: ReplyEmpty,
    ) {
        let mut s = self.state();
        alive!(s, reply);
        match s.rename(parent, name, newparent, newname, flags) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn open(&mut self, _req: &Request<'_>, ino: u64, _flags: i32, reply: ReplyOpen) {
        let s = self.state();
        alive!(s, reply);
        if s.nodes.contains_key(&ino) {
            reply.opened(0, 0);
        } else {
            reply.error(libc::ENOENT);
        }
    }

    fn read(
        &mut self,
        _req: &Request<'_>,
        ino: u64,
        _fh: u64,
        offset: i64,
        size: u32,
        _flags: i32,
        _lock_owner: Option<u64>,
        reply: ReplyData,
    ) {
        let s = self.state();
        alive!(s, reply);
        let Some(n) = s.nodes.get(&ino) else {
            return reply.error(libc::ENOENT);
        };
        let start = (offset.max(0) as usize).min(n.data.len());
        let end = (start + size as usize).min(n.data.len());
        reply.data(&n.data[start..end]);
    }

    fn write(
        &mut self,
        _req: &Request<'_>,
        ino: u64,
        _fh: u64,
        offset: i64,
        data: &[u8],
        _write_flags: u32,
        _flags: i32,
        _lock_owner: Option<u64>,
        reply: ReplyWrite,
    ) {
        let mut s = self.state();
        alive!(s, reply);
        if let Some(e) = s.faults.next_write.take().or(s.faults.writes) {
            return reply.error(e.raw());
        }
        let op = DataOp::Write {
            offset: offset.max(0) as u64,
            data: data.to_vec(),
        };
        match s.data_op(ino, op) {
            Ok(()) => reply.written(data.len() as u32),
            Err(e) => reply.error(e),
        }
    }

    fn flush(&mut self, _req: &Request<'_>, _ino: u64, _fh: u64, _owner: u64, reply: ReplyEmpty) {
        reply.ok();
    }

    fn fsync(
        &mut self,
        _req: &Request<'_>,
        ino: u64,
        _fh: u64,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        let mut s = self.state();
        alive!(s, reply);
        match s.fsync(ino) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn fsyncdir(
        &mut self,
        _req: &Request<'_>,
        ino: u64,
        _fh: u64,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        let mut s = self.state();
        alive!(s, reply);
        match s.fsync(ino) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn readdir(
        &mut self,
        _req: &Request<'_>,
        ino: u64,
        _fh: u64,
        offset: i64,
        mut reply: ReplyDirectory,
    ) {
        let s = self.state();
        alive!(s, reply);
        let Some(n) = s.nodes.get(&ino) else {
            return reply.error(libc::ENOENT);
        };
        let mut entries: Vec<(u64, FileType, OsString)> = vec![
            (ino, FileType::Directory, ".".into()),
            (ino, FileType::Directory, "..".into()),
        ];
        for (name, child) in &n.children {
            let kind = if s.nodes[child].dir {
                FileType::Directory
            } else {
                FileType::RegularFile
            };
            entries.push((*child, kind, name.clone()));
        }
        for (i, (child, kind, name)) in entries.into_iter().enumerate().skip(offset as usize) {
            if reply.add(child, i as i64 + 1, kind, name) {
                break;
            }
        }
        reply.ok();
    }

    fn statfs(&mut self, _req: &Request<'_>, _ino: u64, reply: ReplyStatfs) {
        let s = self.state();
        alive!(s, reply);
        let free = if s.faults.writes == Some(Errno::Enospc) {
            0
        } else {
            1 << 24
        };
        reply.statfs(1 << 24, free, free, 1 << 20, 1 << 20, 4096, 255, 4096);
    }

    fn create(
        &mut self,
        _req: &Request<'_>,
        parent: u64,
        name: &OsStr,
        mode: u32,
        umask: u32,
        _flags: i32,
        reply: ReplyCreate,
    ) {
        let mut s = self.state();
        alive!(s, reply);
        match s.make(parent, name, false, (mode & !umask & 0o7777) as u16) {
            Ok(ino) => reply.created(&TTL, &s.attr(ino).expect("made"), 0, 0, 0),
            Err(e) => reply.error(e),
        }
    }

    fn access(&mut self, _req: &Request<'_>, _ino: u64, _mask: i32, reply: ReplyEmpty) {
        reply.ok();
    }
}

#[cfg(test)]
mod tests;

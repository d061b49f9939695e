//! A small tmpfs mounted for one test, to give the module a disk that really
//! fills up (ENOSPC), which no amount of writing to the host's disk can do
//! safely. Needs root (CAP_SYS_ADMIN); without it the test is skipped with a
//! visible message, or fails when `CI` is set, so CI never passes by skipping.

use std::ffi::CString;
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use tempfile::TempDir;

use crate::paths::notice;

/// A mounted tmpfs; unmounted (lazily, so a straggling process cannot make
/// the unmount fail) and its mount point removed on drop. Drop it after the
/// nginx that uses it: declare it first.
pub struct Tmpfs {
    dir: TempDir,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` (tmpfs syntax: `512k`) on a fresh directory,
    /// or returns None after saying why the test is skipped. Under `CI`,
    /// not being able to mount is a failure.
    pub fn mount(size: &str, test: &str) -> Option<Tmpfs> {
        let skip = |why: String| {
            let msg = format!("{test}: needs a tmpfs of {size} mounted ({why})");
            if std::env::var_os("CI").is_some() {
                panic!("{msg}; CI is set, so this is a failure, not a skip");
            }
            notice(&format!("SKIPPED {msg}"));
            None
        };
        // SAFETY: geteuid has no preconditions and cannot fail.
        if unsafe { libc::geteuid() } != 0 {
            return skip("mounting needs root; run the tests as root".into());
        }
        let dir = tempfile::Builder::new()
            .prefix("ifrs-tmpfs-")
            .tempdir()
            .expect("create a mount point");
        let target = CString::new(dir.path().as_os_str().as_bytes()).expect("no NUL in path");
        // The root of the file system is 0755 like the rest of the prefix,
        // so workers running as another user could still traverse it.
        let options = CString::new(format!("size={size},mode=0755")).expect("no NUL");
        // SAFETY: every pointer is a valid NUL-terminated string for the call.
        let rc = unsafe {
            libc::mount(
                c"tmpfs".as_ptr(),
                target.as_ptr(),
                c"tmpfs".as_ptr(),
                0,
                options.as_ptr().cast(),
            )
        };
        if rc != 0 {
            let err = io::Error::last_os_error();
            return skip(format!("mount -t tmpfs failed: {err}"));
        }
        Some(Tmpfs { dir })
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes zeros to `name` on the tmpfs until it is full, and returns the
    /// file's path and size. Panics if the file system never says ENOSPC.
    pub fn fill(&self, name: &str) -> (PathBuf, u64) {
        let path = self.path().join(name);
        let mut file = OpenOptions::new()
            .create_new(true)
            .write(true)
            .open(&path)
            .unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
        let block = vec![0u8; 4096];
        let mut written = 0u64;
        loop {
            match file.write(&block) {
                Ok(0) => panic!("write returned 0 while filling {}", path.display()),
                Ok(n) => written += n as u64,
                Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => break,
                Err(e) => panic!("filling {}: {e}", path.display()),
            }
            assert!(
                written < 1 << 30,
                "{} never filled up: not a small tmpfs?",
                self.path().display()
            );
        }
        (path, written)
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        if let Ok(target) = CString::new(self.dir.path().as_os_str().as_bytes()) {
            // SAFETY: a valid path string; MNT_DETACH only detaches.
            unsafe {
                libc::umount2(target.as_ptr(), libc::MNT_DETACH);
            }
        }
        // The TempDir then removes the (now empty) mount point. Leftovers on
        // a failed unmount would be in tmpfs memory, gone with the mount.
        let _ = fs::remove_dir(self.dir.path());
    }
}

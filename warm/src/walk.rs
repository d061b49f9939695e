//! The originals to warm: every regular file under `--root DIR`, or the
//! relative paths read from stdin with `--root -`, as relative paths in
//! bytes (file names need not be UTF-8; they are percent-encoded later).
//!
//! A symlink is followed only when it resolves inside the root, because
//! nginx maps URLs below the root and a link out of it would make the
//! warmer request (and nginx render) files the site does not publish.
//! Directories are visited once by their canonical path, so a link to an
//! ancestor cannot loop.

use std::collections::HashSet;
use std::fs;
use std::io::{self, BufRead};
use std::path::{Path, PathBuf};

/// What the walk found.
#[derive(Debug, Default)]
pub struct Walk {
    /// Relative paths, sorted bytewise.
    pub files: Vec<Vec<u8>>,
    /// Symlinks skipped because they lead out of the root or nowhere.
    pub skipped_links: usize,
    /// Subdirectories that could not be read, with the reason.
    pub unreadable: Vec<String>,
}

/// Lists the regular files under `root`, recursively; an unreadable root is
/// an error, an unreadable subdirectory is reported and skipped.
pub fn walk(root: &Path) -> io::Result<Walk> {
    let canon_root = root.canonicalize()?;
    if !canon_root.is_dir() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} is not a directory", root.display()),
        ));
    }
    let mut w = Walk::default();
    let mut visited = HashSet::new();
    visited.insert(canon_root.clone());
    // Read the root itself strictly: a typo in --root must not warm nothing
    // and exit 0.
    fs::read_dir(&canon_root)?;
    visit(
        &canon_root,
        &canon_root,
        PathBuf::new(),
        &mut visited,
        &mut w,
    );
    w.files.sort();
    Ok(w)
}

fn visit(root: &Path, dir: &Path, rel: PathBuf, visited: &mut HashSet<PathBuf>, w: &mut Walk) {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            w.unreadable.push(format!("{}: {e}", dir.display()));
            return;
        }
    };
    for entry in entries {
        let entry = match entry {
            Ok(e) => e,
            Err(e) => {
                w.unreadable.push(format!("{}: {e}", dir.display()));
                continue;
            }
        };
        let path = entry.path();
        let child_rel = rel.join(entry.file_name());
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_file() {
            w.files.push(path_bytes(&child_rel));
        } else if kind.is_dir() {
            if let Ok(canon) = path.canonicalize() {
                enter(root, canon, child_rel, visited, w);
            }
        } else if kind.is_symlink() {
            let target = match path.canonicalize() {
                Ok(t) if t.starts_with(root) => t,
                _ => {
                    w.skipped_links += 1;
                    continue;
                }
            };
            match fs::metadata(&target) {
                Ok(m) if m.is_file() => w.files.push(path_bytes(&child_rel)),
                Ok(m) if m.is_dir() => enter(root, target, child_rel, visited, w),
                _ => {}
            }
        }
        // Sockets, FIFOs and devices are not originals.
    }
}

/// Visits a directory (by its canonical path) unless it was seen already.
fn enter(root: &Path, dir: PathBuf, rel: PathBuf, visited: &mut HashSet<PathBuf>, w: &mut Walk) {
    if !visited.contains(&dir) {
        visited.insert(dir.clone());
        visit(root, &dir, rel, visited, w);
    }
}

#[cfg(unix)]
fn path_bytes(p: &Path) -> Vec<u8> {
    use std::os::unix::ffi::OsStrExt;
    p.as_os_str().as_bytes().to_vec()
}

#[cfg(not(unix))]
fn path_bytes(p: &Path) -> Vec<u8> {
    p.to_string_lossy().replace('\\', "/").into_bytes()
}

/// Reads relative paths, one a line, for `--root -`. Empty lines are
/// skipped, a trailing CR and a leading `./` dropped (what `find . -type f`
/// prints). Absolute paths and `..` are refused, since they would not name
/// a file below the location's root.
pub fn read_list(input: impl BufRead) -> Result<Vec<Vec<u8>>, String> {
    let mut out = Vec::new();
    for (n, line) in input.split(b'\n').enumerate() {
        let mut line = line.map_err(|e| format!("reading stdin: {e}"))?;
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        let mut rel: &[u8] = &line;
        while let Some(rest) = rel.strip_prefix(b"./") {
            rel = rest;
        }
        if rel.is_empty() {
            continue;
        }
        let show = || String::from_utf8_lossy(&line).into_owned();
        if rel[0] == b'/' {
            return Err(format!(
                "stdin line {}: {:?} is absolute; give paths relative to the prefix",
                n + 1,
                show()
            ));
        }
        if rel.split(|&b| b == b'/').any(|c| c == b"..") {
            return Err(format!(
                "stdin line {}: {:?} leaves the prefix with ..",
                n + 1,
                show()
            ));
        }
        out.push(rel.to_vec());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    /// A fresh directory under the system's temporary directory.
    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("ifrs-warm-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn names(w: &Walk) -> Vec<String> {
        w.files
            .iter()
            .map(|f| String::from_utf8_lossy(f).into_owned())
            .collect()
    }

    #[test]
    fn lists_regular_files_sorted_recursively() {
        let d = scratch("sorted");
        fs::create_dir_all(d.join("b/c")).unwrap();
        fs::create_dir_all(d.join("empty")).unwrap();
        for f in ["z.jpg", "a.jpg", "b/c/x.png", "b/a b.jpg", "B.jpg"] {
            fs::write(d.join(f), b"x").unwrap();
        }
        let w = walk(&d).unwrap();
        assert_eq!(
            names(&w),
            ["B.jpg", "a.jpg", "b/a b.jpg", "b/c/x.png", "z.jpg"]
        );
        assert_eq!(w.skipped_links, 0);
        fs::remove_dir_all(&d).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn follows_symlinks_inside_the_root_only() {
        use std::os::unix::fs::symlink;
        let d = scratch("links");
        let root = d.join("root");
        let outside = d.join("outside");
        fs::create_dir_all(root.join("sub")).unwrap();
        fs::create_dir_all(&outside).unwrap();
        fs::write(root.join("sub/a.jpg"), b"x").unwrap();
        fs::write(outside.join("secret.jpg"), b"x").unwrap();
        symlink(root.join("sub/a.jpg"), root.join("inside-link.jpg")).unwrap();
        symlink(root.join("sub"), root.join("sub-link")).unwrap();
        symlink(&outside, root.join("out-dir")).unwrap();
        symlink(outside.join("secret.jpg"), root.join("out-file.jpg")).unwrap();
        symlink(root.join("missing"), root.join("dangling.jpg")).unwrap();
        // A link to the root itself must not loop.
        symlink(&root, root.join("sub/loop")).unwrap();
        let w = walk(&root).unwrap();
        // sub is visited once, under whichever name came first.
        let got = names(&w);
        assert!(got.contains(&"inside-link.jpg".to_string()), "{got:?}");
        assert!(!got.iter().any(|n| n.contains("secret")), "{got:?}");
        assert_eq!(
            got.iter().filter(|n| n.ends_with("/a.jpg")).count(),
            1,
            "{got:?}"
        );
        assert_eq!(w.skipped_links, 3, "{got:?}");
        let mut sorted = got.clone();
        sorted.sort();
        assert_eq!(got, sorted);
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_missing_root_is_an_error() {
        assert!(walk(Path::new("/nonexistent/ifrs-warm")).is_err());
        let d = scratch("file-root");
        fs::write(d.join("f"), b"x").unwrap();
        assert!(walk(&d.join("f")).is_err());
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn reads_a_list_from_stdin() {
        let list = read_list(Cursor::new(&b"a.jpg\r\n\n./b/c d.jpg\nx\xff.jpg"[..])).unwrap();
        assert_eq!(list, [&b"a.jpg"[..], b"b/c d.jpg", b"x\xff.jpg"]);
        assert!(read_list(Cursor::new("ok.jpg\n/etc/passwd\n"))
            .unwrap_err()
            .contains("line 2"));
        assert!(read_list(Cursor::new("a/../../b.jpg\n")).is_err());
        assert!(read_list(Cursor::new("a/..b.jpg\n")).is_ok());
    }
}

//! Looking into an image_filter_rs cache directory from outside: listing
//! its files and checking each sits where the `levels=` layout says, so that
//! stray temporary files or a wrong layout are caught.

use std::fs;
use std::path::{Path, PathBuf};

/// Every regular file below `dir`, as paths relative to `dir`, sorted.
/// A missing directory yields an empty list (nothing was cached yet).
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    walk(dir, Path::new(""), &mut out);
    out.sort();
    out
}

fn walk(base: &Path, rel: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(base.join(rel)) else {
        return;
    };
    for entry in entries.flatten() {
        let rel_child = rel.join(entry.file_name());
        match entry.file_type() {
            Ok(t) if t.is_dir() => walk(base, &rel_child, out),
            Ok(t) if t.is_file() => out.push(rel_child),
            _ => {}
        }
    }
}

/// The directory under the cache path that holds files being written.
pub const TEMP_DIR: &str = ".tmp";

/// Cache files proper (not in-progress temporaries) below `dir`, each with
/// its size, as paths relative to `dir`. A file removed between listing and
/// stat is left out: it is gone, which is what a size sample should see.
pub fn cache_entries(dir: &Path) -> Vec<(PathBuf, u64)> {
    files_under(dir)
        .into_iter()
        .filter(|rel| !rel.starts_with(TEMP_DIR))
        .filter_map(|rel| {
            let len = fs::metadata(dir.join(&rel)).ok()?.len();
            Some((rel, len))
        })
        .collect()
}

/// The bytes on disk of the cache files below `dir` (temporaries excluded),
/// which is what `max_size` bounds.
pub fn cache_bytes(dir: &Path) -> u64 {
    cache_entries(dir).iter().map(|(_, len)| len).sum()
}

/// Files in the cache path's temporary directory, relative to it.
pub fn temp_files(dir: &Path) -> Vec<PathBuf> {
    files_under(&dir.join(TEMP_DIR))
}

/// Checks that `rel` (relative to the cache path) is `<l1>/<l2>/…/<name>`
/// where `name` is 32 lowercase hex digits and the directory names have the
/// lengths in `levels` and are taken from the end of the name.
///
/// nginx's proxy_cache_path puts the *last* character first (levels=1:2 →
/// `c/ab/…abc`); the module's brief writes `a/bc/…abc`. Both keep the
/// directories as the name's tail, so both are accepted; the returned
/// string says which was seen.
pub fn check_layout(rel: &Path, levels: &[usize]) -> Result<&'static str, String> {
    let parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    let show = rel.display();
    if parts.len() != levels.len() + 1 {
        return Err(format!(
            "{show}: expected {} directory levels then a file",
            levels.len()
        ));
    }
    let name = &parts[levels.len()];
    if name.len() != 32
        || !name
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(format!(
            "{show}: file name {name:?} is not 32 lowercase hex digits \
             (a temporary file left behind?)"
        ));
    }
    for (dir, &len) in parts.iter().zip(levels) {
        if dir.len() != len {
            return Err(format!(
                "{show}: directory {dir:?} should be {len} characters long"
            ));
        }
    }
    // nginx order: each level takes the characters just before the previous.
    let mut end = name.len();
    let nginx_order = parts.iter().zip(levels).all(|(dir, &len)| {
        let ok = &name[end - len..end] == dir;
        end -= len;
        ok
    });
    if nginx_order {
        return Ok("nginx order (levels taken from the end, last character first)");
    }
    // Brief's order: the directories, concatenated, are the name's tail.
    let joined: String = parts[..levels.len()].concat();
    if name.ends_with(&joined) {
        return Ok("prefix order (directories concatenated are the name's tail)");
    }
    Err(format!(
        "{show}: directories do not come from the end of the file name"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAME: &str = "b7f54b2df7773722d382f4809d65029c";

    #[test]
    fn accepts_nginx_layout() {
        let p = PathBuf::from(format!("c/29/{NAME}"));
        assert!(check_layout(&p, &[1, 2]).is_ok());
    }

    #[test]
    fn accepts_brief_layout() {
        let p = PathBuf::from(format!("2/9c/{NAME}"));
        assert!(check_layout(&p, &[1, 2]).is_ok());
    }

    #[test]
    fn rejects_temp_names_and_wrong_levels() {
        assert!(check_layout(Path::new("c/29/tmp.12345"), &[1, 2]).is_err());
        assert!(check_layout(&PathBuf::from(format!("c/{NAME}")), &[1, 2]).is_err());
        assert!(check_layout(&PathBuf::from(format!("x/29/{NAME}")), &[1, 2]).is_err());
        let upper = NAME.to_uppercase();
        assert!(check_layout(&PathBuf::from(format!("C/29/{upper}")), &[1, 2]).is_err());
    }
}

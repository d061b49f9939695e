//! Cache files on disk: the header that makes each file self-describing, and
//! the atomic write that makes a file either complete or absent.
//!
//! A cache file is `header || body`. The header carries the key, the
//! original's validators and the content type, so the module can check
//! freshness with one small read and a cache loader can rebuild an index from
//! the files alone; the body is sent from `header_len` with sendfile, as
//! nginx's `proxy_cache` does. Files are written under [`TEMP_DIR`] of the
//! cache root (the same file system) and renamed into place, so a reader
//! never sees half a file, and a crash leaves at most a `*.tmp` file in one
//! known directory that a sweep can remove without walking the whole cache.

use crate::cache::key::CacheKey;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Version 2 added the original's path; a file of version 1 reads as not
/// ours, which the loader removes and a request makes again.
const MAGIC: [u8; 8] = *b"IFRSCF\x00\x02";

/// The longest original path a header keeps (Linux's PATH_MAX); a longer
/// one is stored empty, which only means the cache manager cannot tell
/// when its original is deleted.
pub const PATH_MAX: usize = 4096;

/// Room for the fixed fields, the longest content type and the longest
/// path; reading this many bytes is always enough to parse a header.
pub const HEADER_MAX: usize = FIXED_LEN + 255 + 2 + PATH_MAX;

/// Suffix of in-progress files; anything carrying it is garbage once no
/// writer is alive.
pub const TEMP_SUFFIX: &str = ".tmp";

/// Directory under the cache root that holds in-progress files.
pub const TEMP_DIR: &str = ".tmp";

/// What identifies one version of an original: a replaced or edited file
/// changes at least one of these.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Validators {
    pub dev: u64,
    pub ino: u64,
    pub mtime_sec: i64,
    pub mtime_nsec: u32,
    pub size: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CacheHeader {
    pub key: CacheKey,
    pub original: Validators,
    /// Unix seconds when the thumbnail was made.
    pub created: u64,
    pub body_len: u64,
    pub content_type: String,
    /// The original's path, as the module mapped it: what the cache manager
    /// checks to remove renditions of deleted originals.
    pub original_path: Vec<u8>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum HeaderError {
    /// Not one of our files, or an older layout.
    BadMagic,
    /// Shorter than its own header says: cut off or damaged.
    Truncated,
    /// Fields that cannot be right (a content type that is not ASCII, a
    /// header length out of range).
    Corrupt,
}

impl CacheHeader {
    pub fn encode(&self) -> Vec<u8> {
        let content_type = self.content_type.as_bytes();
        let mut out = Vec::with_capacity(HEADER_MAX);
        out.extend_from_slice(&MAGIC);
        // Header length, patched below once known.
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&self.key.0);
        out.extend_from_slice(&self.original.dev.to_le_bytes());
        out.extend_from_slice(&self.original.ino.to_le_bytes());
        out.extend_from_slice(&self.original.mtime_sec.to_le_bytes());
        out.extend_from_slice(&self.original.mtime_nsec.to_le_bytes());
        out.extend_from_slice(&self.original.size.to_le_bytes());
        out.extend_from_slice(&self.created.to_le_bytes());
        out.extend_from_slice(&self.body_len.to_le_bytes());
        let type_len = content_type.len().min(255);
        out.push(type_len as u8);
        out.extend_from_slice(&content_type[..type_len]);
        let path: &[u8] = if self.original_path.len() <= PATH_MAX {
            &self.original_path
        } else {
            &[]
        };
        out.extend_from_slice(&(path.len() as u16).to_le_bytes());
        out.extend_from_slice(path);
        let len = out.len() as u32;
        out[8..12].copy_from_slice(&len.to_le_bytes());
        out
    }

    /// Parses the start of a cache file; returns the header and the offset
    /// where the body starts. `file_size`, when known, catches truncation.
    pub fn decode(bytes: &[u8], file_size: Option<u64>) -> Result<(CacheHeader, u64), HeaderError> {
        if bytes.len() < FIXED_LEN {
            return Err(if bytes.starts_with(&MAGIC) || bytes.len() < MAGIC.len() {
                HeaderError::Truncated
            } else {
                HeaderError::BadMagic
            });
        }
        if bytes[..8] != MAGIC {
            return Err(HeaderError::BadMagic);
        }
        let mut fields = Fields { bytes, at: 8 };
        let header_len = u64::from(fields.u32());
        let mut key = [0u8; 16];
        key.copy_from_slice(fields.take(16));
        let original = Validators {
            dev: fields.u64(),
            ino: fields.u64(),
            mtime_sec: fields.u64() as i64,
            mtime_nsec: fields.u32(),
            size: fields.u64(),
        };
        let created = fields.u64();
        let body_len = fields.u64();
        let type_len = usize::from(fields.take(1)[0]);
        if bytes.len() < FIXED_LEN + type_len + 2 {
            return Err(HeaderError::Truncated);
        }
        let type_bytes = fields.take(type_len);
        if !type_bytes.iter().all(|b| b.is_ascii_graphic()) {
            return Err(HeaderError::Corrupt);
        }
        let path_len = usize::from(u16::from_le_bytes(
            fields.take(2).try_into().expect("2 bytes"),
        ));
        if path_len > PATH_MAX || header_len != (FIXED_LEN + type_len + 2 + path_len) as u64 {
            return Err(HeaderError::Corrupt);
        }
        if bytes.len() < FIXED_LEN + type_len + 2 + path_len {
            return Err(HeaderError::Truncated);
        }
        let original_path = fields.take(path_len).to_vec();
        if let Some(size) = file_size {
            if size != header_len + body_len {
                return Err(HeaderError::Truncated);
            }
        }
        let header = CacheHeader {
            key: CacheKey(key),
            original,
            created,
            body_len,
            content_type: String::from_utf8_lossy(type_bytes).into_owned(),
            original_path,
        };
        Ok((header, header_len))
    }
}

/// magic + header_len + key + dev + ino + mtime + nsec + size + created +
/// body_len + content-type length byte.
const FIXED_LEN: usize = 8 + 4 + 16 + 8 + 8 + 8 + 4 + 8 + 8 + 8 + 1;

/// A cursor over bytes already checked to be long enough.
struct Fields<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Fields<'a> {
    fn take(&mut self, n: usize) -> &'a [u8] {
        let out = &self.bytes[self.at..self.at + n];
        self.at += n;
        out
    }
    fn u32(&mut self) -> u32 {
        u32::from_le_bytes(self.take(4).try_into().expect("4 bytes"))
    }
    fn u64(&mut self) -> u64 {
        u64::from_le_bytes(self.take(8).try_into().expect("8 bytes"))
    }
}

/// Writes `header || body` to `root/relative` through a temporary file in
/// `root/.tmp`, creating the level directories on the way. Returns the file's
/// full size. On any error the temporary file is removed and nothing is left
/// at the final name that was not there before.
pub fn write_atomically(
    root: &Path,
    relative: &str,
    header: &CacheHeader,
    body: &[u8],
    sync: bool,
) -> io::Result<u64> {
    let target = root.join(relative);
    let dir = target.parent().unwrap_or(root);
    let temp_dir = root.join(TEMP_DIR);
    for dir in [dir, temp_dir.as_path()] {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
    }
    let temp = temp_name(&temp_dir, &target);
    let result = write_file(&temp, header, body, sync).and_then(|size| {
        fs::rename(&temp, &target)?;
        Ok(size)
    });
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result
}

fn write_file(path: &Path, header: &CacheHeader, body: &[u8], sync: bool) -> io::Result<u64> {
    let encoded = header.encode();
    let mut file: File = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(&encoded)?;
    file.write_all(body)?;
    if sync {
        file.sync_data()?;
    }
    Ok((encoded.len() + body.len()) as u64)
}

/// `<temp_dir>/<key>.<pid>.<n>.tmp`: unique among this process's writers by
/// the counter and among processes by the pid, so concurrent writers of one
/// key never share a temporary file, and a sweep can tell from the pid
/// whether the writer is still alive.
fn temp_name(temp_dir: &Path, target: &Path) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut name = target.file_name().unwrap_or_default().to_owned();
    name.push(format!(".{}.{n}{TEMP_SUFFIX}", std::process::id()));
    temp_dir.join(name)
}

/// The pid of the writer of a temporary file, from its name.
pub fn temp_file_writer(name: &str) -> Option<u32> {
    let stem = name.strip_suffix(TEMP_SUFFIX)?;
    let mut parts = stem.rsplitn(3, '.');
    let _counter = parts.next()?;
    parts.next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_header(body_len: u64) -> CacheHeader {
        CacheHeader {
            key: CacheKey::derive(b"/m/a.jpg", "350x350"),
            original: Validators {
                dev: 2049,
                ino: 1234567,
                mtime_sec: 1_700_000_000,
                mtime_nsec: 123_456_789,
                size: 1_520_114,
            },
            created: 1_700_000_100,
            body_len,
            content_type: "image/jpeg".into(),
            original_path: b"/srv/media/photos/a.jpg".to_vec(),
        }
    }

    #[test]
    fn the_original_path_round_trips_and_an_overlong_one_is_left_out() {
        let mut header = sample_header(0);
        header.original_path = vec![b'x'; PATH_MAX];
        let encoded = header.encode();
        assert!(encoded.len() <= HEADER_MAX);
        assert_eq!(CacheHeader::decode(&encoded, None).unwrap().0, header);
        header.original_path.push(b'y');
        let (decoded, _) = CacheHeader::decode(&header.encode(), None).unwrap();
        assert!(decoded.original_path.is_empty());
        // A version 1 file is not ours any more.
        let mut old = sample_header(0).encode();
        old[7] = 1;
        assert_eq!(CacheHeader::decode(&old, None), Err(HeaderError::BadMagic));
    }

    #[test]
    fn header_round_trips_and_states_where_the_body_starts() {
        let header = sample_header(5);
        let encoded = header.encode();
        let (decoded, offset) =
            CacheHeader::decode(&encoded, Some(encoded.len() as u64 + 5)).unwrap();
        assert_eq!(decoded, header);
        assert_eq!(offset, encoded.len() as u64);
        assert!(encoded.len() <= HEADER_MAX);
    }

    #[test]
    fn damaged_headers_are_refused() {
        let encoded = sample_header(5).encode();
        assert_eq!(
            CacheHeader::decode(&encoded[..20], None),
            Err(HeaderError::Truncated)
        );
        assert_eq!(
            CacheHeader::decode(b"\xff\xd8\xff\xe0 a jpeg, not ours.................................................................", None),
            Err(HeaderError::BadMagic)
        );
        // A file cut inside the body is caught by its size.
        assert_eq!(
            CacheHeader::decode(&encoded, Some(encoded.len() as u64 + 2)),
            Err(HeaderError::Truncated)
        );
        let mut corrupt = encoded.clone();
        corrupt[8] ^= 0x40;
        assert_eq!(
            CacheHeader::decode(&corrupt, None),
            Err(HeaderError::Corrupt)
        );
    }

    #[test]
    fn atomic_write_leaves_one_complete_file_and_no_temporaries() {
        let root = tempfile::tempdir().unwrap();
        let header = sample_header(4);
        let relative = header.key.relative_path(&[1, 2]);
        let size = write_atomically(root.path(), &relative, &header, b"body", false).unwrap();
        let written = fs::read(root.path().join(&relative)).unwrap();
        assert_eq!(written.len() as u64, size);
        let (decoded, offset) = CacheHeader::decode(&written, Some(size)).unwrap();
        assert_eq!(decoded, header);
        assert_eq!(&written[offset as usize..], b"body");
        let leftovers: Vec<_> = fs::read_dir(root.path().join(TEMP_DIR))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
    }

    #[test]
    fn failed_write_leaves_nothing_behind() {
        let root = tempfile::tempdir().unwrap();
        let header = sample_header(4);
        // A directory squatting on the final name makes the rename fail.
        let relative = header.key.relative_path(&[1]);
        fs::create_dir_all(root.path().join(&relative).join("occupied")).unwrap();
        assert!(write_atomically(root.path(), &relative, &header, b"body", false).is_err());
        let parent = root.path().join(&relative);
        let names: Vec<_> = fs::read_dir(parent.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, vec![header.key.to_hex()]);
        assert_eq!(fs::read_dir(root.path().join(TEMP_DIR)).unwrap().count(), 0);
    }

    #[test]
    fn temporary_names_carry_the_writer_pid() {
        let name = temp_name(Path::new("/c/.tmp"), Path::new("/c/a/bc/abc"));
        let file = name.file_name().unwrap().to_str().unwrap();
        assert!(file.starts_with("abc."), "{file}");
        assert_eq!(temp_file_writer(file), Some(std::process::id()));
        assert_eq!(temp_file_writer("abc"), None);
        assert_eq!(temp_file_writer("abc.x.1.tmp"), None);
    }
}

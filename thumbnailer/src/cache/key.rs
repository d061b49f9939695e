//! The cache key: one fixed-size digest of everything that decides a
//! thumbnail's bytes, and the file path it maps to under the cache root.
//!
//! Two requests that mean the same thing must land on one entry and two that
//! differ must never share one, so the key hashes the original's path, the
//! canonical job text and [`PIPELINE_VERSION`] with a cryptographic hash:
//! request parameters come from clients, and a weak hash would let one of them
//! aim a collision at somebody else's thumbnail.

use sha2::{Digest, Sha256};
use std::fmt;

/// Bumped whenever the pipeline's output for the same input and job changes
/// (a new resampler, a colour fix), so old cache files stop matching instead of
/// being served forever.
pub const PIPELINE_VERSION: u32 = 1;

/// 128 bits of SHA-256, written as 32 lowercase hex digits like nginx's
/// `proxy_cache` keys.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CacheKey(pub [u8; 16]);

impl CacheKey {
    /// `original` is the original's file path as the module mapped it;
    /// `canonical_job` is [`crate::Job::canonical`].
    pub fn derive(original: &[u8], canonical_job: &str) -> CacheKey {
        let mut hash = Sha256::new();
        // Length prefixes keep ("ab", "c") and ("a", "bc") apart.
        hash.update(PIPELINE_VERSION.to_le_bytes());
        hash.update((original.len() as u64).to_le_bytes());
        hash.update(original);
        hash.update((canonical_job.len() as u64).to_le_bytes());
        hash.update(canonical_job.as_bytes());
        let digest = hash.finalize();
        let mut key = [0u8; 16];
        key.copy_from_slice(&digest[..16]);
        CacheKey(key)
    }

    /// The 32 hex digits. By table, not `fmt`: it runs twice on every
    /// cache hit (the ETag and the file path).
    pub fn to_hex(&self) -> String {
        String::from_utf8(self.hex_digits().to_vec()).expect("hex digits are ASCII")
    }

    fn hex_digits(&self) -> [u8; 32] {
        let mut out = [0u8; 32];
        for (pair, byte) in out.chunks_exact_mut(2).zip(self.0) {
            pair.copy_from_slice(&hex_pair(byte));
        }
        out
    }

    /// Parses 32 hex digits, as found in a cache file name.
    pub fn from_hex(hex: &str) -> Option<CacheKey> {
        let bytes = hex.as_bytes();
        if bytes.len() != 32 {
            return None;
        }
        let mut key = [0u8; 16];
        for (i, pair) in bytes.chunks(2).enumerate() {
            let high = (pair[0] as char).to_digit(16)?;
            let low = (pair[1] as char).to_digit(16)?;
            key[i] = (high * 16 + low) as u8;
        }
        Some(CacheKey(key))
    }

    /// The file's path relative to the cache root, with nginx's `levels`
    /// layout: each level takes its digits from the end of the hex key, so
    /// `levels=1:2` puts key `…c29b` at `b/29/…c29b`.
    pub fn relative_path(&self, levels: &[u8]) -> String {
        let hex = self.to_hex();
        let mut path = String::with_capacity(hex.len() + levels.len() * 3);
        let mut end = hex.len();
        for &width in levels {
            let width = usize::from(width);
            path.push_str(&hex[end - width..end]);
            path.push('/');
            end -= width;
        }
        path.push_str(&hex);
        path
    }
}

/// A byte's two lowercase hex digits.
pub(crate) fn hex_pair(byte: u8) -> [u8; 2] {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    [
        DIGITS[usize::from(byte >> 4)],
        DIGITS[usize::from(byte & 0x0f)],
    ]
}

impl fmt::Display for CacheKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(core::str::from_utf8(&self.hex_digits()).map_err(|_| fmt::Error)?)
    }
}

impl fmt::Debug for CacheKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CacheKey({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_inputs_same_key_and_any_change_moves_it() {
        let a = CacheKey::derive(b"/srv/media/a.jpg", "350x350 fit");
        assert_eq!(a, CacheKey::derive(b"/srv/media/a.jpg", "350x350 fit"));
        assert_ne!(a, CacheKey::derive(b"/srv/media/b.jpg", "350x350 fit"));
        assert_ne!(a, CacheKey::derive(b"/srv/media/a.jpg", "350x350 crop"));
        // The length prefixes keep a shifted boundary from colliding.
        assert_ne!(CacheKey::derive(b"ab", "c"), CacheKey::derive(b"a", "bc"),);
    }

    #[test]
    fn hex_round_trips() {
        let key = CacheKey::derive(b"x", "y");
        let hex = key.to_hex();
        assert_eq!(hex.len(), 32);
        assert!(hex
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        assert_eq!(CacheKey::from_hex(&hex), Some(key));
        assert_eq!(CacheKey::from_hex("zz"), None);
        assert_eq!(CacheKey::from_hex(&"g".repeat(32)), None);
    }

    #[test]
    fn levels_take_digits_from_the_end_like_nginx() {
        let key = CacheKey::from_hex("b7f54b2df7773722d382f4809d65029c").unwrap();
        assert_eq!(key.relative_path(&[]), "b7f54b2df7773722d382f4809d65029c");
        assert_eq!(
            key.relative_path(&[1, 2]),
            "c/29/b7f54b2df7773722d382f4809d65029c"
        );
        assert_eq!(
            key.relative_path(&[2, 2, 2]),
            "9c/02/65/b7f54b2df7773722d382f4809d65029c"
        );
    }
}

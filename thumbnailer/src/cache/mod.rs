//! The thumbnail cache's key and on-disk file format, and the in-memory cache
//! of decoded originals that sibling sizes share.

pub mod decode_cache;
pub mod key;
pub mod store;

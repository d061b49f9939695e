//! Pure image thumbnailing for the nginx module: bytes in, encoded thumbnail
//! out. No nginx types, no globals, no unsafe code of its own.
#![forbid(unsafe_code)]

mod animation;
mod bitmap;
pub mod cache;
pub mod error;
pub mod format;
pub mod job;
mod limits;
mod memory;
mod pipeline;
pub mod probe;
mod processing;
#[cfg(test)]
mod test_data;
pub mod url;

// The paths the module, the tests and the benchmarks used before the crate
// was grouped by format and job.
pub use cache::{decode_cache, key, store};
pub use format::sniff;
pub use job as operation;
pub use job::adjustments as adjust;
pub use url::{accept, names, query, signature};

pub use error::{Error, ErrorClass};
pub use job::*;
pub use memory::estimate_peak_memory;
pub use pipeline::{make_thumbnail, OutputType, Thumbnail};
pub use probe::{probe, ImageInfo};
pub use sniff::ImageFormat;

//! Pure image thumbnailing for the nginx module: bytes in, encoded thumbnail
//! out. No nginx types, no globals, no unsafe code of its own.
#![forbid(unsafe_code)]

pub mod adjust;
mod bitmap;
mod colour;
mod decode;
pub mod decode_cache;
mod encode;
mod enlarge;
pub mod error;
mod filters;
mod geometry;
pub mod key;
mod limits;
mod memory;
pub mod names;
pub mod operation;
mod orient;
mod pipeline;
mod place;
mod placeholder;
pub mod probe;
pub mod query;
mod resize;
pub mod signature;
pub mod sniff;
pub mod store;
#[cfg(test)]
mod test_data;
mod tiff_ifd;

pub use error::{Error, ErrorClass};
pub use memory::estimate_peak_memory;
pub use operation::*;
pub use pipeline::{make_thumbnail, OutputType, Thumbnail};
pub use probe::{probe, ImageInfo};
pub use sniff::ImageFormat;

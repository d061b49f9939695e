//! Pure image thumbnailing for the nginx module: bytes in, encoded thumbnail
//! out. No nginx types, no globals, no unsafe code of its own.
#![forbid(unsafe_code)]

mod bitmap;
mod colour;
mod decode;
mod encode;
pub mod error;
mod geometry;
pub mod key;
mod limits;
pub mod operation;
mod orient;
mod pipeline;
mod resize;
pub mod sniff;
pub mod store;
mod tiff_ifd;

pub use error::{Error, ErrorClass};
pub use operation::*;
pub use pipeline::{make_thumbnail, Thumbnail};
pub use sniff::ImageFormat;

//! One entry per image format, each holding its header reading, decoding and
//! encoding, and the dispatch over them: sniffing, a cheap header read that
//! the limits are checked against, then the bounded pixel decode.

pub(crate) mod avif;
pub(crate) mod encode;
pub(crate) mod gif;
pub(crate) mod heic;
mod image_rs;
pub(crate) mod jpeg;
pub(crate) mod jxl;
mod palette;
pub(crate) mod png;
pub mod sniff;
pub(crate) mod tiff;
pub(crate) mod webp;

pub use sniff::ImageFormat;

use crate::bitmap::Bitmap;
use crate::error::Error;
use crate::job::Limits;
use crate::processing::orient::Orientation;

/// What a header declares, read without decoding pixels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Header {
    pub width: u32,
    pub height: u32,
    /// Frames that would be decoded (we only ever decode the first).
    pub frames: u32,
    pub orientation: Orientation,
}

/// How the decoded samples should be read before colour management.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SourceColour {
    Gray,
    Rgb,
    /// Four channels stored in an `Rgba`-layout bitmap as C, M, Y, K.
    /// `inverted` is the Adobe convention (0 = full ink).
    Cmyk {
        inverted: bool,
    },
}

/// Decoded pixels plus what the colour and encode steps need to know.
#[derive(Debug)]
pub(crate) struct Decoded {
    pub bitmap: Bitmap,
    pub colour: SourceColour,
    pub icc: Option<Vec<u8>>,
    /// The source stored palette indices, so a small palette output suits it.
    pub from_palette: bool,
}

pub(crate) fn read_header(data: &[u8], format: ImageFormat) -> Result<Header, Error> {
    match format {
        ImageFormat::Jpeg => jpeg::read_header(data),
        ImageFormat::Png => png::read_header(data),
        ImageFormat::Gif => gif::read_header(data),
        ImageFormat::Webp => webp::read_header(data),
        ImageFormat::Tiff => tiff::read_header(data),
        ImageFormat::Jxl => jxl::read_header(data),
        ImageFormat::Avif => avif::read_header(data),
        ImageFormat::Heic => heic::read_header(data),
    }
}

/// Decodes the first frame. `shrink` (1, 2, 4, 8) is a permitted reduction the
/// decoder may apply for free; decoders that cannot scale ignore it.
pub(crate) fn decode(
    data: &[u8],
    format: ImageFormat,
    header: &Header,
    shrink: u32,
    limits: &Limits,
) -> Result<Decoded, Error> {
    match format {
        ImageFormat::Jpeg => jpeg::decode(data, shrink),
        ImageFormat::Png => png::decode(data, header, limits),
        ImageFormat::Gif => gif::decode(data, header, limits),
        ImageFormat::Webp => webp::decode(data, header, limits),
        ImageFormat::Tiff => tiff::decode(data, header, limits),
        ImageFormat::Jxl => jxl::decode(data, header, limits),
        ImageFormat::Avif => avif::decode(data, header, limits),
        ImageFormat::Heic => heic::decode(data, header, limits),
    }
}

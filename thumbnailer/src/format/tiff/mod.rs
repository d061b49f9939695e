//! TIFF: the first IFD is read by hand for size and orientation; the `tiff`
//! crate, through `image`, decodes the first page within memory limits.

pub(crate) mod ifd;

use std::io::Cursor;

use image::codecs::tiff::TiffDecoder;
use image::ImageDecoder;

use self::ifd::{read_ifd0, Ifd0};
use crate::error::Error;
use crate::format::{image_rs, Decoded, Header};
use crate::job::Limits;
use crate::processing::orient::Orientation;

/// Size and orientation from our own IFD0 read, so a bomb is refused before
/// the `tiff` crate sizes any buffer; BigTIFF falls back to the decoder.
pub(crate) fn read_header(data: &[u8]) -> Result<Header, Error> {
    let (width, height, orientation) = match read_ifd0(data) {
        Some(Ifd0 {
            width: Some(w),
            height: Some(h),
            orientation,
        }) => (w, h, Orientation::from_exif_value(orientation.unwrap_or(1))),
        _ => {
            let mut decoder =
                TiffDecoder::new(Cursor::new(data)).map_err(image_rs::decode_error)?;
            let (w, h) = decoder.dimensions();
            (w, h, image_rs::orientation(&mut decoder))
        }
    };
    Ok(Header {
        width,
        height,
        frames: 1,
        orientation,
    })
}

pub(crate) fn decode(data: &[u8], header: &Header, limits: &Limits) -> Result<Decoded, Error> {
    let decoder = TiffDecoder::new(Cursor::new(data)).map_err(image_rs::decode_error)?;
    image_rs::decode_first_frame(decoder, header, limits)
}

//! `image_filter_rs easy_thumbnails;` and `image_filter_rs versatileimagefield;`:
//! the glue between nginx's mapped path and the thumbnailer's name readers
//! (`thumbnailer::names`). The rendition's path is split at the location's
//! root, the part after it read with the library's rules, and the original's
//! path rebuilt under the same root; the name's job then replaces the
//! location's size, fit, quality and format.

use ngx::ffi::{ngx_http_request_t, ngx_str_t};
use thumbnailer::names::{Library, Named};
use thumbnailer::{ErrorClass, Geometry, Job};

use crate::errors::{Class, Refusal};
use crate::response;

/// The original's path (NUL-terminated, in the request pool, as nginx's own
/// mapped paths are) and what the rendition's name asks for. `root_len` is
/// the length of the root or alias at the start of `path`.
pub fn derive(
    r: &mut ngx_http_request_t,
    library: Library,
    path: &ngx_str_t,
    root_len: usize,
) -> Result<(ngx_str_t, Named), Refusal> {
    let bytes = path.as_bytes();
    let (root, relative) = bytes.split_at(root_len.min(bytes.len()));
    let named = library.parse(relative).map_err(Refusal::from)?;
    let original = response::pool_concat(r, &[root, &named.original], true)
        .ok_or_else(|| Refusal::new(Class::Image(ErrorClass::Internal), "out of memory"))?;
    Ok((original, named))
}

/// Puts the name's job over the location's: size, fit, placement and
/// enlarging from the name, the location's turn and flip kept; the name's
/// quality, padding colour and greyscale where it has them; its format
/// always (the library decided it, so `image_filter_rs_format` and `Accept`
/// do not apply).
pub fn apply(job: &mut Job, named: &Named) {
    job.geometry = Geometry {
        rotate: job.geometry.rotate,
        flip: job.geometry.flip,
        ..named.geometry
    };
    if let Some(quality) = named.quality {
        job.encode.jpeg_quality = quality;
        job.encode.webp_quality = quality;
        job.encode.avif_quality = quality;
    }
    if let Some(background) = named.background {
        job.encode.background = background;
    }
    if named.grayscale {
        job.adjust.grayscale = true;
    }
    job.encode.format = named.format;
}

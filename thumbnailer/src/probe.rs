//! What an original is, from its headers alone: format, upright size and
//! frame count, for nginx's `image_filter size` (answer the size as JSON)
//! and `image_filter test` (answer the original if it is an image we take).
//!
//! No pixel is decoded: JPEG, PNG, WebP and TIFF are read as far as the
//! decoders' own header walks go, and a GIF's frames are counted by hopping
//! over its blocks by their length prefixes without LZW-decoding them (one
//! step per 255 bytes of image data). The same limits as a thumbnail's are
//! checked, counting every frame, since the original is what `test` sends
//! on.

use crate::error::Error;
use crate::format::ImageFormat;
use crate::format::{self, gif, png, webp};
use crate::job::Limits;
use crate::limits;

/// What [`probe`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImageInfo {
    pub format: ImageFormat,
    /// The size as shown, after EXIF orientation: a 300x200 JPEG stored
    /// with orientation 6 (turn 90° clockwise) is 200 wide, 300 high. For a
    /// GIF, the larger of the screen and its first frame, as the pipeline
    /// sees it.
    pub width: u32,
    pub height: u32,
    /// GIF frames, animated WebP frames (`ANMF` chunks), an animated PNG's
    /// images (its `acTL` count, plus the default image when that is not
    /// the first frame); 1 otherwise (a TIFF's later pages and an MPO's second
    /// picture are not counted: nothing but the first is ever used).
    pub frames: u32,
}

/// The JSON `image_filter size` answers when the original is not an image it
/// can read (a wrong type, damaged, truncated, over a limit), CRLF included.
pub const FAILURE_JSON: &str = "{}\r\n";

impl ImageInfo {
    /// `image_filter size`'s answer, CRLF included, spaced as nginx spaces
    /// it: `{ "img" : { "width": 100, "height": 120, "type": "jpeg" } }`.
    /// `"frames": N` is added after the type when there is more than one
    /// frame (nginx never writes it). The type is [`ImageFormat::name`].
    pub fn json(&self) -> String {
        let frames = if self.frames > 1 {
            format!(", \"frames\": {}", self.frames)
        } else {
            String::new()
        };
        format!(
            "{{ \"img\" : {{ \"width\": {}, \"height\": {}, \"type\": \"{}\"{frames} }} }}\r\n",
            self.width,
            self.height,
            self.format.name()
        )
    }
}

/// Sniffs, reads the headers and checks `limits`, decoding no pixel data.
///
/// Errors are the pipeline's classes: `TooLarge` over `max_source_size` or
/// `max_pixels` (here counting every frame: width x height x frames);
/// `Unsupported` for what is not a supported image, including AVIF (which
/// the pipeline cannot decode), a damaged header, a zero-sized image, and a
/// truncated one: a PNG cut before its first IDAT, a JPEG cut before its
/// first scan, a GIF without one complete frame, a WebP whose image (or
/// every frame) chunk runs past the end. nginx's `image_filter` tests expect
/// such files to give `{}` for `size` and 415 otherwise. TIFFs are checked
/// as far as their first directory.
pub fn probe(bytes: &[u8], limits: &Limits) -> Result<ImageInfo, Error> {
    limits::check_source_size(bytes.len() as u64, limits)?;
    let format =
        ImageFormat::sniff(bytes).ok_or_else(|| Error::unsupported("unsupported image format"))?;
    let header = format::read_header(bytes, format)?;
    let (mut width, mut height) = (header.width, header.height);
    let frames = match format {
        ImageFormat::Gif => {
            let walk = gif::walk_frames(bytes)?;
            // A later frame larger than the first is what a viewer allocates.
            (width, height) = walk.largest;
            walk.frames
        }
        ImageFormat::Webp => webp::count_frames(bytes)?,
        ImageFormat::Png => png::frames_before_image_data(bytes)
            .ok_or_else(|| Error::unsupported("truncated png: no image data"))?,
        _ => 1,
    };
    limits::check_pixels(width, height, frames, limits)?;
    if format == ImageFormat::Gif {
        // Report the size the pipeline works with, not a later frame's.
        (width, height) = (header.width, header.height);
    }
    let (width, height) = header.orientation.upright_size(width, height);
    Ok(ImageInfo {
        format,
        width,
        height,
        frames,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bitmap::{Bitmap, Layout};
    use crate::error::ErrorClass;
    use crate::job::EncodeOptions;

    fn jpeg(width: u32, height: u32) -> Vec<u8> {
        let bitmap = Bitmap::new(
            width,
            height,
            Layout::Rgb,
            vec![128; (width * height * 3) as usize],
        )
        .unwrap();
        crate::format::encode::encode(bitmap, ImageFormat::Jpeg, &EncodeOptions::default()).unwrap()
    }

    /// `jpeg` with an APP1 EXIF segment giving `orientation`, after SOI.
    fn jpeg_oriented(width: u32, height: u32, orientation: u16) -> Vec<u8> {
        let mut exif = b"Exif\0\0MM\0*\0\0\0\x08\0\x01\x01\x12\0\x03\0\0\0\x01".to_vec();
        exif.extend(orientation.to_be_bytes());
        exif.extend([0, 0, 0, 0, 0, 0]);
        let plain = jpeg(width, height);
        let mut out = plain[..2].to_vec();
        out.extend([0xFF, 0xE1]);
        out.extend(((exif.len() + 2) as u16).to_be_bytes());
        out.extend(exif);
        out.extend(&plain[2..]);
        out
    }

    fn png(width: u32, height: u32) -> Vec<u8> {
        let bitmap = Bitmap::new(
            width,
            height,
            Layout::Rgba,
            vec![9; (width * height * 4) as usize],
        )
        .unwrap();
        crate::format::encode::encode(bitmap, ImageFormat::Png, &EncodeOptions::default()).unwrap()
    }

    /// A GIF of `frames` frames of `width` x `height`, each one a complete
    /// (tiny) LZW stream, with a trailer.
    fn gif(width: u16, height: u16, frames: u32) -> Vec<u8> {
        let mut g = b"GIF89a".to_vec();
        g.extend(width.to_le_bytes());
        g.extend(height.to_le_bytes());
        g.extend([0x80, 0, 0]); // 2-entry global palette
        g.extend([0, 0, 0, 255, 255, 255]);
        g.extend([0x21, 0xFF, 11]); // NETSCAPE2.0 loop extension
        g.extend(b"NETSCAPE2.0");
        g.extend([3, 1, 0, 0, 0]);
        for _ in 0..frames {
            g.extend([0x21, 0xF9, 4, 0, 10, 0, 0, 0]); // graphic control
            g.push(0x2C);
            g.extend([0, 0, 0, 0]);
            g.extend(width.to_le_bytes());
            g.extend(height.to_le_bytes());
            g.push(0); // no local palette
            g.extend([2, 2, 0x4C, 0x01, 0]); // code size 2, one sub-block
        }
        g.push(0x3B);
        g
    }

    // The WebP files of nginx-tests' image_filter_webp.t, byte for byte:
    // 1x1 lossy, lossless and extended (with alpha), one with a bad chunk
    // name, and the lossy one cut to 29 bytes.
    fn words(be: &[u32]) -> Vec<u8> {
        be.iter().flat_map(|w| w.to_be_bytes()).collect()
    }

    fn riff(len: u32, kind: &[u8; 8], body: &[u8]) -> Vec<u8> {
        let mut v = b"RIFF".to_vec();
        v.extend(len.to_le_bytes());
        v.extend(kind);
        v.extend(body);
        v
    }

    fn nginx_webp() -> Vec<u8> {
        let mut body = words(&[0x16000000, 0x3001009d, 0x012a0100, 0x01000ec0]);
        body.extend(words(&[0xfe25a400, 0x03700000]));
        body.extend([0, 0]);
        riff(0x22, b"WEBPVP8 ", &body)
    }

    fn nginx_webpl() -> Vec<u8> {
        let mut body = words(&[0x0d000000, 0x2f000000, 0x10071011, 0x118888fe]);
        body.extend([0x07, 0x00]);
        riff(0x1a, b"WEBPVP8L", &body)
    }

    fn nginx_webpx() -> Vec<u8> {
        let mut body = words(&[
            0x0a000000, 0x10000000, 0x00000000, 0x0000414c, 0x50480c00, 0x00001107, 0x1011fd0f,
            0x4444ff03, 0x00005650, 0x38201800, 0x00001401, 0x009d012a, 0x01000100, 0x0000fe00,
            0x000dc000, 0xfee6b500,
        ]);
        body.extend([0, 0]);
        riff(0x4a, b"WEBPVP8X", &body)
    }

    fn nginx_webperr() -> Vec<u8> {
        let mut v = nginx_webp();
        v[12..16].copy_from_slice(b"ERR ");
        v
    }

    #[test]
    fn formats_sizes_and_frames() {
        let limits = Limits::default();
        let table: Vec<(Vec<u8>, ImageInfo)> = vec![
            (jpeg(300, 200), info(ImageFormat::Jpeg, 300, 200, 1)),
            (png(7, 5), info(ImageFormat::Png, 7, 5, 1)),
            (gif(100, 120, 1), info(ImageFormat::Gif, 100, 120, 1)),
            (gif(10, 12, 3), info(ImageFormat::Gif, 10, 12, 3)),
            (nginx_webp(), info(ImageFormat::Webp, 1, 1, 1)),
            (nginx_webpl(), info(ImageFormat::Webp, 1, 1, 1)),
            (nginx_webpx(), info(ImageFormat::Webp, 1, 1, 1)),
        ];
        for (bytes, want) in table {
            assert_eq!(probe(&bytes, &limits).unwrap(), want);
        }
    }

    fn info(format: ImageFormat, width: u32, height: u32, frames: u32) -> ImageInfo {
        ImageInfo {
            format,
            width,
            height,
            frames,
        }
    }

    #[test]
    fn size_is_after_exif_orientation() {
        let limits = Limits::default();
        for (orientation, want) in [
            (1, (300, 200)),
            (3, (300, 200)),
            (6, (200, 300)),
            (8, (200, 300)),
        ] {
            let got = probe(&jpeg_oriented(300, 200, orientation), &limits).unwrap();
            assert_eq!((got.width, got.height), want, "orientation {orientation}");
        }
    }

    #[test]
    fn animated_webp_counts_its_frames() {
        // VP8X with the animation flag, ANIM, then three ANMF chunks.
        let mut body = b"VP8X".to_vec();
        body.extend(10u32.to_le_bytes());
        body.extend([0x02, 0, 0, 0, 9, 0, 0, 4, 0, 0]); // 10x5 canvas
        body.extend(b"ANIM");
        body.extend(6u32.to_le_bytes());
        body.extend([0; 6]);
        for _ in 0..3 {
            body.extend(b"ANMF");
            body.extend(17u32.to_le_bytes());
            body.extend([0; 17]);
            body.push(0); // padding to an even length
        }
        let mut webp = b"RIFF".to_vec();
        webp.extend(((body.len() + 4) as u32).to_le_bytes());
        webp.extend(b"WEBP");
        webp.extend(&body);
        let got = probe(&webp, &Limits::default()).unwrap();
        assert_eq!(got, info(ImageFormat::Webp, 10, 5, 3));
        // Cut inside the last frame: two complete ones remain.
        let got = probe(&webp[..webp.len() - 5], &Limits::default()).unwrap();
        assert_eq!(got.frames, 2);
    }

    #[test]
    fn limits_count_every_frame() {
        let mut limits = Limits {
            max_pixels: 10 * 12 * 3,
            ..Limits::default()
        };
        assert!(probe(&gif(10, 12, 3), &limits).is_ok());
        limits.max_pixels -= 1;
        let err = probe(&gif(10, 12, 3), &limits).unwrap_err();
        assert_eq!(err.class(), ErrorClass::TooLarge);
        let bytes = png(7, 5);
        limits.max_source_size = bytes.len() as u64 - 1;
        let err = probe(&bytes, &limits).unwrap_err();
        assert_eq!(err.class(), ErrorClass::TooLarge);
    }

    #[test]
    fn bogus_and_truncated_files_are_unsupported() {
        let limits = Limits::default();
        let full_png = png(7, 5);
        let full_gif = gif(10, 12, 1);
        let full_jpeg = jpeg(30, 20);
        let webp = nginx_webp();
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("text", b"SEE-THIS".to_vec()),
            ("empty", Vec::new()),
            // image_filter.t's "size truncated": the PNG's first 16 bytes.
            ("png/16", full_png[..16].to_vec()),
            ("png cut before IDAT", full_png[..33].to_vec()),
            ("gif header only", full_gif[..13].to_vec()),
            (
                "gif cut in its frame",
                full_gif[..full_gif.len() - 3].to_vec(),
            ),
            ("jpeg header only", full_jpeg[..20].to_vec()),
            ("webperr", nginx_webperr()),
            ("webptrunc", webp[..29].to_vec()),
            ("webp cut in its image", webp[..webp.len() - 4].to_vec()),
            ("avif", b"\0\0\0\x1cftypavif\0\0\0\0avifmif1".to_vec()),
            ("zero-sized gif", gif(0, 12, 1)),
        ];
        for (name, bytes) in cases {
            let err = probe(&bytes, &limits).expect_err(name);
            assert_eq!(err.class(), ErrorClass::Unsupported, "{name}: {err}");
        }
    }

    #[test]
    fn a_gif_is_walked_without_its_lzw_data() {
        // A frame whose sub-blocks hold garbage rather than LZW codes: the
        // walk only follows the length prefixes, so it still counts.
        let mut g = gif(4, 4, 1);
        let at = g.len() - 6; // the "2, 0x4C, 0x01, 0" of the frame data
        g.splice(at..g.len() - 1, [2, 3, 0xFF, 0xFF, 0xFF, 0]);
        assert_eq!(probe(&g, &Limits::default()).unwrap().frames, 1);
    }

    #[test]
    fn json_as_image_filter_writes_it() {
        let one = info(ImageFormat::Jpeg, 100, 120, 1);
        assert_eq!(
            one.json(),
            "{ \"img\" : { \"width\": 100, \"height\": 120, \"type\": \"jpeg\" } }\r\n"
        );
        let many = info(ImageFormat::Gif, 10, 12, 3);
        assert_eq!(
            many.json(),
            "{ \"img\" : { \"width\": 10, \"height\": 12, \"type\": \"gif\", \"frames\": 3 } }\r\n"
        );
        assert_eq!(FAILURE_JSON, "{}\r\n");
    }
}

#[cfg(test)]
mod corpus_tests {
    use super::*;
    use crate::test_data::corpus_dir;

    /// Every valid corpus file Pillow opened: probe agrees with Pillow's
    /// frame count, and with its size up to a quarter turn (EXIF).
    #[test]
    fn agrees_with_pillow_on_the_corpus() {
        let Some(dir) = corpus_dir() else {
            return;
        };
        let manifest = std::fs::read_to_string(dir.join("MANIFEST.tsv")).unwrap();
        let mut checked = 0;
        let mut disagreements = Vec::new();
        for line in manifest.lines().skip(1) {
            let fields: Vec<&str> = line.split('\t').collect();
            let (path, pillow) = (fields[0], fields[7]);
            let Some(rest) = pillow.strip_prefix("OK ") else {
                continue;
            };
            // Multi-page TIFFs and MPOs count as one frame by design.
            let one_frame_by_design = path.ends_with(".mpo") || path.contains("/tiff/");
            if !path.starts_with("valid/") || path.contains("/avif/") || one_frame_by_design {
                continue;
            }
            let words: Vec<&str> = rest.split(' ').collect();
            let (w, h) = words[1].split_once('x').unwrap();
            let (w, h): (u32, u32) = (w.parse().unwrap(), h.parse().unwrap());
            let frames: u32 = words[3].strip_prefix("frames=").unwrap().parse().unwrap();
            let bytes = std::fs::read(dir.join(path)).unwrap();
            let limits = Limits {
                max_pixels: u64::MAX,
                max_source_size: u64::MAX,
                ..Limits::default()
            };
            checked += 1;
            match probe(&bytes, &limits) {
                Ok(got) => {
                    let same_size =
                        (got.width, got.height) == (w, h) || (got.height, got.width) == (w, h);
                    if got.frames != frames || !same_size {
                        disagreements.push(format!("{path}: {got:?} vs {rest}"));
                    }
                }
                Err(e) => disagreements.push(format!("{path}: {e} vs {rest}")),
            }
        }
        assert!(checked > 0);
        assert!(disagreements.is_empty(), "{}", disagreements.join("\n"));
    }
}

//! JPEG: our own bounded marker walk for the header facts (size, EXIF
//! orientation, ICC, Adobe CMYK inversion), libjpeg-turbo for the pixels,
//! decoded at 1/2, 1/4 or 1/8 scale when the output is small enough.

pub(crate) mod encode;

use std::borrow::Cow;

use turbojpeg::{Colorspace, Decompressor, Image, PixelFormat, ScalingFactor};

mod scans;

use self::scans::{Frame, FrameComponent};
use crate::bitmap::{Bitmap, Layout};
use crate::error::Error;
use crate::format::{Decoded, Header, SourceColour};
use crate::processing::orient::{exif_orientation, Orientation};

/// Progressive files need one pass over all coefficients per scan; normal
/// encoders write about 10 scans, so anything past this is a CPU bomb.
const MAX_SCANS: u32 = 100;

/// ICC profiles are split over at most 255 APP2 segments of < 64 KiB each;
/// real profiles are well under this.
const MAX_ICC_BYTES: usize = 4 << 20;

/// Header facts gathered by walking the segments before the first scan.
#[derive(Debug, Default)]
pub(crate) struct JpegInfo {
    pub width: u32,
    pub height: u32,
    pub components: u8,
    pub precision: u8,
    pub orientation: Option<Orientation>,
    pub icc: Option<Vec<u8>>,
    /// The Adobe APP14 segment was present: Photoshop-style CMYK is stored
    /// inverted.
    pub adobe: bool,
    /// The frame is progressive with Huffman coding (SOF2).
    progressive_huffman: bool,
    /// The frame's components and their sampling factors.
    frame_components: Vec<FrameComponent>,
    /// Byte ranges of the header segments the decoder needs (tables, frame,
    /// restart interval, JFIF/Adobe), in order.
    keep: Vec<(usize, usize)>,
    /// Where the first SOS marker starts; everything from here on is kept.
    scan_start: usize,
    /// Something was left out (metadata, garbage between segments).
    dropped: bool,
}

/// Walks marker segments up to the first SOS. Never reads past the slice and
/// never allocates more than the ICC chunks it copies.
pub(crate) fn scan_markers(data: &[u8]) -> Result<JpegInfo, Error> {
    let truncated = || Error::unsupported("truncated jpeg header");
    let mut info = JpegInfo::default();
    let mut icc_chunks: Vec<(u8, &[u8])> = Vec::new();
    let mut icc_bytes = 0usize;
    let mut seen_sof = false;
    let mut pos = 2; // after SOI
    loop {
        // Like libjpeg, skip garbage up to the next marker (a damaged length
        // in a metadata segment is common and harmless).
        if *data.get(pos).ok_or_else(truncated)? != 0xFF {
            info.dropped = true;
            while data.get(pos).ok_or_else(truncated)? != &0xFF {
                pos += 1;
            }
        }
        let segment_start = pos;
        // Markers may be preceded by any number of 0xFF fill bytes.
        while data.get(pos) == Some(&0xFF) {
            pos += 1;
        }
        let marker = *data.get(pos).ok_or_else(truncated)?;
        pos += 1;
        match marker {
            0xD8 | 0x01 | 0xD0..=0xD7 => continue, // stand-alone markers
            0xD9 => return Err(Error::unsupported("jpeg has no image data")),
            _ => {}
        }
        let len_bytes = data.get(pos..pos + 2).ok_or_else(truncated)?;
        let len = usize::from(u16::from_be_bytes([len_bytes[0], len_bytes[1]]));
        if len < 2 {
            return Err(Error::unsupported("corrupt jpeg: bad segment length"));
        }
        let payload = data.get(pos + 2..pos + len).ok_or_else(truncated)?;
        pos += len;
        // Metadata never reaches the decoder: we read what we need here, and
        // libjpeg-turbo would otherwise fail the whole image over a bad ICC
        // or EXIF segment.
        let is_metadata = matches!(marker, 0xE1..=0xED | 0xEF | 0xFE);
        if is_metadata {
            info.dropped = true;
        } else if marker != 0xDA {
            info.keep.push((segment_start, pos));
        }
        match marker {
            0xC0..=0xC3 | 0xC5..=0xC7 | 0xC9..=0xCB | 0xCD..=0xCF => {
                if seen_sof {
                    continue;
                }
                if payload.len() < 6 {
                    return Err(truncated());
                }
                info.precision = payload[0];
                info.height = u32::from(u16::from_be_bytes([payload[1], payload[2]]));
                info.width = u32::from(u16::from_be_bytes([payload[3], payload[4]]));
                info.components = payload[5];
                info.progressive_huffman = marker == 0xC2;
                info.components_from(&payload[6..]);
                seen_sof = true;
            }
            0xE1 if info.orientation.is_none() => {
                if let Some(tiff) = payload.strip_prefix(b"Exif\0\0") {
                    info.orientation = exif_orientation(tiff);
                }
            }
            0xE2 => {
                if let Some(rest) = payload.strip_prefix(b"ICC_PROFILE\0") {
                    if rest.len() >= 2 && icc_bytes + rest.len() <= MAX_ICC_BYTES {
                        icc_bytes += rest.len() - 2;
                        icc_chunks.push((rest[0], &rest[2..]));
                    }
                }
            }
            0xEE if payload.starts_with(b"Adobe") => info.adobe = true,
            0xDA => {
                info.scan_start = segment_start;
                break;
            }
            _ => {}
        }
    }
    if !seen_sof {
        return Err(Error::unsupported("jpeg has no frame header"));
    }
    if !icc_chunks.is_empty() {
        icc_chunks.sort_by_key(|&(seq, _)| seq);
        info.icc = Some(
            icc_chunks
                .iter()
                .flat_map(|&(_, c)| c.iter().copied())
                .collect(),
        );
    }
    Ok(info)
}

impl JpegInfo {
    /// Reads the component specifications of a frame header; a short list
    /// leaves the components empty, which only turns off the AC-scan rewrite
    /// (the decoder judges the header itself).
    fn components_from(&mut self, specs: &[u8]) {
        let count = usize::from(self.components);
        if specs.len() < 3 * count {
            return;
        }
        self.frame_components = specs
            .chunks_exact(3)
            .take(count)
            .map(|s| FrameComponent {
                id: s[0],
                h: s[1] >> 4,
                v: s[1] & 0x0F,
            })
            .collect();
    }
}

/// The stream the decoder sees: SOI, the kept header segments, then the scans
/// untouched. Borrowed when nothing was left out.
/// A missing EOI gets one appended: libjpeg reports its absence with the same
/// warning as real truncation, and we refuse that one.
fn decoder_stream<'a>(data: &'a [u8], info: &JpegInfo) -> Cow<'a, [u8]> {
    let needs_eoi = !data.ends_with(&[0xFF, 0xD9]);
    if !info.dropped && !needs_eoi {
        return Cow::Borrowed(data);
    }
    if !info.dropped {
        let mut out = Vec::with_capacity(data.len() + 2);
        out.extend_from_slice(data);
        out.extend_from_slice(&[0xFF, 0xD9]);
        return Cow::Owned(out);
    }
    let kept: usize = info.keep.iter().map(|(a, b)| b - a).sum();
    let mut out = Vec::with_capacity(2 + kept + data.len() - info.scan_start);
    out.extend_from_slice(&data[..2]);
    for &(a, b) in &info.keep {
        out.extend_from_slice(&data[a..b]);
    }
    out.extend_from_slice(&data[info.scan_start..]);
    if needs_eoi {
        out.extend_from_slice(&[0xFF, 0xD9]);
    }
    Cow::Owned(out)
}

pub(crate) fn read_header(data: &[u8]) -> Result<Header, Error> {
    let info = scan_markers(data)?;
    Ok(Header {
        width: info.width,
        height: info.height,
        frames: 1,
        orientation: info.orientation.unwrap_or(Orientation::Normal),
    })
}

fn turbo_error(e: turbojpeg::Error) -> Error {
    Error::unsupported(format!("jpeg decode failed: {}", lower_message(&e)))
}

fn lower_message(e: &turbojpeg::Error) -> String {
    match e {
        turbojpeg::Error::TurboJpegError(m) => m.to_lowercase(),
        other => other.to_string().to_lowercase(),
    }
}

/// libjpeg reports some harmless oddities as warnings, which TurboJPEG turns
/// into a failed call even though every pixel was written. Only these are
/// forgiven; truncation and corrupt entropy data are not, so a half-grey
/// picture is never cached.
fn is_harmless_warning(e: &turbojpeg::Error) -> bool {
    let m = lower_message(e);
    [
        "extraneous bytes before marker",
        "unknown jfif revision",
        "invalid sos parameters for sequential jpeg",
    ]
    .iter()
    .any(|w| m.contains(w))
}

/// The decoder stream of a progressive Huffman file without the AC scans a
/// 1/8 decode never reads; `None` when it is not one or has none to leave
/// out. A truncated file (`appended_eoi` is its only EOI) is not rewritten,
/// so it keeps its refusal.
fn without_unread_scans(stream: &[u8], appended_eoi: bool, info: &JpegInfo) -> Option<Vec<u8>> {
    if !info.progressive_huffman {
        return None;
    }
    let frame = Frame {
        width: info.width,
        height: info.height,
        components: &info.frame_components,
    };
    scans::without_unused_ac_scans(stream, appended_eoi, &frame, MAX_SCANS)
}

/// Decodes at `1/shrink` scale (shrink is 1, 2, 4 or 8).
pub(crate) fn decode(data: &[u8], shrink: u32) -> Result<Decoded, Error> {
    decode_at(data, shrink, true)
}

/// `skip_unread_scans` is off only for tests comparing against the decode of
/// the whole stream.
fn decode_at(data: &[u8], shrink: u32, skip_unread_scans: bool) -> Result<Decoded, Error> {
    let info = scan_markers(data)?;
    let appended_eoi = !data.ends_with(&[0xFF, 0xD9]);
    let stream = decoder_stream(data, &info);
    let data: &[u8] = &stream;
    let mut decompressor =
        Decompressor::new().map_err(|e| Error::internal(format!("jpeg init: {e}")))?;
    decompressor
        .set_scan_limit(MAX_SCANS)
        .map_err(turbo_error)?;
    let header = decompressor.read_header(data).map_err(turbo_error)?;
    // Lossless JPEG cannot be scaled in the DCT domain.
    let shrink = if header.is_lossless {
        1
    } else {
        shrink.clamp(1, 8)
    };
    // At 1/8 the AC scans of a progressive file are mostly dead weight.
    let trimmed = (skip_unread_scans && shrink == 8)
        .then(|| without_unread_scans(data, appended_eoi, &info))
        .flatten();
    let data: &[u8] = trimmed.as_deref().unwrap_or(data);
    let factor = ScalingFactor::new(1, shrink as usize);
    decompressor
        .set_scaling_factor(factor)
        .map_err(turbo_error)?;
    let scaled = header.scaled(factor);
    let (format, layout, colour) = match header.colorspace {
        Colorspace::Gray => (PixelFormat::GRAY, Layout::Gray, SourceColour::Gray),
        Colorspace::CMYK | Colorspace::YCCK => (
            PixelFormat::CMYK,
            Layout::Rgba,
            SourceColour::Cmyk {
                inverted: info.adobe,
            },
        ),
        _ => (PixelFormat::RGB, Layout::Rgb, SourceColour::Rgb),
    };
    let (width, height) = (scaled.width, scaled.height);
    let pitch = width * format.size();
    let mut pixels = vec![0u8; pitch * height];
    let image = Image {
        pixels: pixels.as_mut_slice(),
        width,
        pitch,
        height,
        format,
    };
    if let Err(e) = decompressor.decompress(data, image) {
        if !is_harmless_warning(&e) {
            return Err(turbo_error(e));
        }
    }
    let bitmap = Bitmap::new(width as u32, height as u32, layout, pixels)?;
    Ok(Decoded {
        bitmap,
        colour,
        icc: info.icc,
        from_palette: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_data::corpus_dir;
    use turbojpeg::{Compressor, Subsamp};

    /// A progressive JPEG of a detailed RGB pattern.
    fn progressive(width: usize, height: usize, subsamp: Subsamp, gray: bool) -> Vec<u8> {
        let pixels: Vec<u8> = (0..width * height)
            .flat_map(|i| {
                let (x, y) = (i % width, i / width);
                [
                    (x * 7 + y * 3) as u8,
                    ((x ^ y) * 5) as u8,
                    ((x * y) / 3 + (y % 11) * 20) as u8,
                ]
            })
            .collect();
        let mut compressor = Compressor::new().unwrap();
        compressor.set_progressive(true).unwrap();
        compressor.set_quality(92).unwrap();
        compressor
            .set_subsamp(if gray { Subsamp::Gray } else { subsamp })
            .unwrap();
        let image = Image {
            pixels: pixels.as_slice(),
            width,
            pitch: width * 3,
            height,
            format: PixelFormat::RGB,
        };
        compressor.compress_to_vec(image).unwrap()
    }

    /// Whether a 1/8 decode of `data` leaves scans out.
    fn skips_scans(data: &[u8]) -> bool {
        let Ok(info) = scan_markers(data) else {
            return false;
        };
        let stream = decoder_stream(data, &info);
        let appended_eoi = !data.ends_with(&[0xFF, 0xD9]);
        without_unread_scans(&stream, appended_eoi, &info).is_some()
    }

    fn same_pixels(data: &[u8], what: &str) -> bool {
        let fast = decode_at(data, 8, true);
        let whole = decode_at(data, 8, false);
        match (fast, whole) {
            (Ok(fast), Ok(whole)) => {
                assert_eq!(fast.bitmap, whole.bitmap, "{what}: pixels differ");
                true
            }
            (Err(fast), Err(whole)) => {
                assert_eq!(fast.to_string(), whole.to_string(), "{what}");
                false
            }
            (fast, whole) => panic!("{what}: {:?} against {:?}", fast.err(), whole.err()),
        }
    }

    #[test]
    fn eighth_scale_progressive_decode_skips_luma_ac_with_identical_pixels() {
        for (subsamp, gray) in [
            (Subsamp::Sub2x2, false),
            (Subsamp::Sub2x1, false),
            (Subsamp::Sub1x2, false),
            (Subsamp::None, false),
            (Subsamp::None, true),
        ] {
            let mut data = progressive(203, 157, subsamp, gray);
            assert!(skips_scans(&data), "{subsamp:?}");
            assert!(same_pixels(&data, &format!("{subsamp:?} gray={gray}")));
            // Bytes after the end (a camera's appended video, say) change
            // nothing.
            data.extend_from_slice(b"appended");
            assert!(skips_scans(&data), "{subsamp:?} with a trailer");
            assert!(same_pixels(
                &data,
                &format!("{subsamp:?} gray={gray} trailer")
            ));
        }
    }

    /// Every JPEG of the shared corpus, valid or hostile, and of the shared
    /// photos decodes at 1/8 to the same pixels, or fails the same way, with
    /// and without the skip.
    #[test]
    fn corpus_jpegs_decode_alike_with_and_without_skipped_scans() {
        let Some(dir) = corpus_dir() else { return };
        let (mut checked, mut skipping) = (0, 0);
        let mut dirs = vec![dir.join("../photos"), dir];
        while let Some(dir) = dirs.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                    continue;
                }
                let data = std::fs::read(&path).unwrap();
                // Bombs are for the limits, which come before any decode.
                let plausible = read_header(&data)
                    .is_ok_and(|h| u64::from(h.width) * u64::from(h.height) < 50_000_000);
                if data.starts_with(&[0xFF, 0xD8]) && plausible {
                    let decoded = same_pixels(&data, &path.display().to_string());
                    checked += 1;
                    skipping += usize::from(decoded && skips_scans(&data));
                }
            }
        }
        assert!(checked > 20, "only {checked} corpus JPEGs found");
        assert!(skipping >= 4, "only {skipping} decoded with scans left out");
        eprintln!("{checked} corpus JPEGs alike, {skipping} of them with scans left out");
    }

    fn segment(marker: u8, payload: &[u8]) -> Vec<u8> {
        let mut v = vec![0xFF, marker];
        v.extend_from_slice(&((payload.len() + 2) as u16).to_be_bytes());
        v.extend_from_slice(payload);
        v
    }

    fn sof(width: u16, height: u16) -> Vec<u8> {
        let mut p = vec![8];
        p.extend_from_slice(&height.to_be_bytes());
        p.extend_from_slice(&width.to_be_bytes());
        p.extend_from_slice(&[1, 1, 0x11, 0]);
        segment(0xC0, &p)
    }

    #[test]
    fn marker_walk_finds_size_icc_and_adobe() {
        let mut f = vec![0xFF, 0xD8];
        f.extend(segment(0xE2, b"ICC_PROFILE\0\x02\x02world"));
        f.extend(segment(0xE2, b"ICC_PROFILE\0\x01\x02hello "));
        f.extend(segment(0xEE, b"Adobe\0\x64\0\0\0\0\x02"));
        f.extend([0xFF, 0xFF]); // fill bytes
        f.extend(sof(640, 480));
        f.extend(segment(0xDA, &[1, 1, 0, 0, 63, 0]));
        let info = scan_markers(&f).unwrap();
        assert_eq!((info.width, info.height, info.components), (640, 480, 1));
        assert_eq!(info.icc.as_deref(), Some(&b"hello world"[..]));
        assert!(info.adobe);
        assert_eq!(info.orientation, None);
        // ICC segments are left out of the decoder's stream, tables kept.
        let stream = decoder_stream(&f, &info);
        assert!(!stream.windows(11).any(|w| w == b"ICC_PROFILE"));
        assert!(stream.windows(5).any(|w| w == b"Adobe"));
        assert_eq!(
            &stream[stream.len() - 12..stream.len() - 2],
            &f[f.len() - 10..]
        );
        assert!(stream.ends_with(&[0xFF, 0xD9]), "missing EOI is supplied");
    }

    #[test]
    fn garbage_between_segments_is_skipped() {
        let mut f = vec![0xFF, 0xD8];
        f.extend(segment(0xED, b"Photoshop 3.0\0"));
        f.extend([0x04, 0x06, 0x00, 0x00]); // a bad length left these behind
        f.extend(sof(8, 8));
        f.extend(segment(0xDA, &[1, 1, 0, 0, 63, 0]));
        let info = scan_markers(&f).unwrap();
        assert_eq!((info.width, info.height), (8, 8));
        let stream = decoder_stream(&f, &info);
        assert_eq!(stream.len(), 2 + sof(8, 8).len() + 10 + 2);
    }

    #[test]
    fn marker_walk_rejects_truncation_everywhere_without_panicking() {
        let mut f = vec![0xFF, 0xD8];
        f.extend(segment(0xE1, b"Exif\0\0MM\0*\0\0\0\x08"));
        f.extend(sof(10, 10));
        f.extend(segment(0xDA, &[1, 1, 0, 0, 63, 0]));
        assert!(scan_markers(&f).is_ok());
        for cut in 2..f.len() - 8 {
            let e = scan_markers(&f[..cut]).unwrap_err();
            assert_eq!(e.class(), crate::ErrorClass::Unsupported, "cut at {cut}");
        }
    }

    #[test]
    fn header_without_frame_is_refused() {
        let mut f = vec![0xFF, 0xD8];
        f.extend(segment(0xDA, &[1, 1, 0, 0, 63, 0]));
        assert_eq!(
            scan_markers(&f).unwrap_err().to_string(),
            "jpeg has no frame header"
        );
        assert_eq!(
            scan_markers(&[0xFF, 0xD8, 0xFF, 0xD9])
                .unwrap_err()
                .to_string(),
            "jpeg has no image data"
        );
    }
}

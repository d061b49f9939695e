//! Chooses the output format and hands the final bitmap to that format's
//! encoder (`jpeg`, `png`, `webp`, `gif`, `avif`).
//! Only pixels are written: no EXIF, XMP, comments, ICC or trailing bytes of
//! the source can reach the output. The tests here go through this dispatch.

use crate::bitmap::{Bitmap, Layout};
use crate::error::Error;
use crate::format::ImageFormat;
use crate::job::{EncodeOptions, OutputFormat};

use crate::format::avif::encode_avif;
use crate::format::gif::encode::encode_gif;
use crate::format::jpeg::encode::encode_jpeg;
use crate::format::png::encode::{encode_png, encode_png_indexed};
use crate::format::webp::encode::encode_webp;

/// The format to write for a `pixels`-pixel thumbnail: the requested one
/// (a negotiated AVIF gives way to its fallback above its pixel count), or
/// for `Original` the input's own where we keep it, else PNG for
/// transparent images and JPEG otherwise.
pub(crate) fn choose_format(
    options: &EncodeOptions,
    input: ImageFormat,
    has_alpha: bool,
    pixels: u64,
) -> ImageFormat {
    let requested = match (options.format, options.avif_fallback) {
        (OutputFormat::Avif, Some(fallback)) if pixels > fallback.max_pixels => {
            fallback.to.output()
        }
        (format, _) => format,
    };
    match requested {
        OutputFormat::Jpeg => ImageFormat::Jpeg,
        OutputFormat::Png => ImageFormat::Png,
        OutputFormat::Webp => ImageFormat::Webp,
        OutputFormat::Gif => ImageFormat::Gif,
        OutputFormat::Avif => ImageFormat::Avif,
        // Only an LQIP reaches the image encoders; text placeholders are
        // written by `placeholder`.
        OutputFormat::Placeholder(_) => ImageFormat::Webp,
        OutputFormat::Original => match input {
            ImageFormat::Jpeg | ImageFormat::Png | ImageFormat::Webp | ImageFormat::Gif => input,
            ImageFormat::Tiff | ImageFormat::Avif | ImageFormat::Jxl | ImageFormat::Heic => {
                if has_alpha {
                    ImageFormat::Png
                } else {
                    ImageFormat::Jpeg
                }
            }
        },
    }
}

/// [`encode_with_source`] for a source that was not palette-based.
#[cfg(test)]
pub(crate) fn encode(
    bitmap: Bitmap,
    format: ImageFormat,
    options: &EncodeOptions,
) -> Result<Vec<u8>, Error> {
    encode_with_source(bitmap, format, options, false)
}

/// Encodes the thumbnail, told whether the source stored palette indices
/// (`Decoded::from_palette`). A PNG thumbnail of such a source is written
/// indexed, in at most 256 colours, which its author evidently found enough:
/// two to seven times smaller than truecolour on the corpus's palette images,
/// at the price of some banding where resampling made gradients. Only the
/// indexed file is made, never both to keep the smaller: that would double
/// the cost. Tiny thumbnails of full palettes can come out larger, as the
/// palette alone takes up to 1 KiB.
pub(crate) fn encode_with_source(
    bitmap: Bitmap,
    format: ImageFormat,
    options: &EncodeOptions,
    from_palette: bool,
) -> Result<Vec<u8>, Error> {
    match format {
        ImageFormat::Jpeg => encode_jpeg(bitmap.flatten(options.background), options),
        // Grey is already one byte a pixel: indexing it would only add a PLTE.
        ImageFormat::Png if from_palette && bitmap.layout != Layout::Gray => {
            encode_png_indexed(&bitmap)
        }
        ImageFormat::Png => encode_png(bitmap.drop_opaque_alpha()),
        ImageFormat::Webp => encode_webp(bitmap.drop_opaque_alpha().into_rgb_or_rgba(), options),
        ImageFormat::Gif => encode_gif(bitmap, options),
        ImageFormat::Avif => encode_avif(bitmap, options),
        other => Err(Error::internal(format!(
            "no encoder for {}",
            other.mime_type()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::palette;
    use crate::test_data::corpus_file;
    use turbojpeg::Subsamp;

    #[test]
    fn original_format_table() {
        let table = [
            (ImageFormat::Jpeg, false, ImageFormat::Jpeg),
            (ImageFormat::Png, true, ImageFormat::Png),
            (ImageFormat::Png, false, ImageFormat::Png),
            (ImageFormat::Webp, true, ImageFormat::Webp),
            // GIF sources have kept their format since GIF output came.
            (ImageFormat::Gif, true, ImageFormat::Gif),
            (ImageFormat::Gif, false, ImageFormat::Gif),
            (ImageFormat::Tiff, false, ImageFormat::Jpeg),
            (ImageFormat::Tiff, true, ImageFormat::Png),
            (ImageFormat::Avif, true, ImageFormat::Png),
        ];
        let choose = |format, input, alpha| {
            let options = EncodeOptions {
                format,
                ..EncodeOptions::default()
            };
            choose_format(&options, input, alpha, 1000)
        };
        for (input, alpha, want) in table {
            assert_eq!(
                choose(OutputFormat::Original, input, alpha),
                want,
                "{input:?}"
            );
        }
        for (requested, input, want) in [
            (OutputFormat::Webp, ImageFormat::Jpeg, ImageFormat::Webp),
            (OutputFormat::Jpeg, ImageFormat::Png, ImageFormat::Jpeg),
            (OutputFormat::Png, ImageFormat::Jpeg, ImageFormat::Png),
            (OutputFormat::Gif, ImageFormat::Jpeg, ImageFormat::Gif),
            (OutputFormat::Avif, ImageFormat::Png, ImageFormat::Avif),
        ] {
            assert_eq!(choose(requested, input, true), want, "{requested:?}");
        }
    }

    #[test]
    fn a_negotiated_avif_gives_way_above_its_pixel_count() {
        use crate::job::{AvifFallback, FallbackFormat};
        let options = |to| EncodeOptions {
            format: OutputFormat::Avif,
            avif_fallback: Some(AvifFallback {
                max_pixels: 1000,
                to,
            }),
            ..EncodeOptions::default()
        };
        let webp = options(FallbackFormat::Webp);
        assert_eq!(
            choose_format(&webp, ImageFormat::Png, true, 1000),
            ImageFormat::Avif
        );
        assert_eq!(
            choose_format(&webp, ImageFormat::Png, true, 1001),
            ImageFormat::Webp
        );
        let original = options(FallbackFormat::Original);
        assert_eq!(
            choose_format(&original, ImageFormat::Gif, true, 1001),
            ImageFormat::Gif
        );
        assert_eq!(
            choose_format(&original, ImageFormat::Avif, false, 1001),
            ImageFormat::Jpeg
        );
        // Asked for by name, AVIF has no pixel limit of this kind.
        let named = EncodeOptions {
            format: OutputFormat::Avif,
            ..EncodeOptions::default()
        };
        assert_eq!(
            choose_format(&named, ImageFormat::Png, true, 1 << 40),
            ImageFormat::Avif
        );
    }

    fn gradient(layout: Layout) -> Bitmap {
        let (w, h) = (64u32, 48u32);
        let mut data = Vec::new();
        for y in 0..h {
            for x in 0..w {
                let px = [(x * 4) as u8, (y * 5) as u8, 128, 200];
                data.extend_from_slice(&px[..layout.channels()]);
            }
        }
        Bitmap::new(w, h, layout, data).unwrap()
    }

    #[test]
    fn every_encoder_writes_its_magic_bytes() {
        let opts = EncodeOptions::default();
        for layout in [Layout::Gray, Layout::Rgb, Layout::Rgba] {
            for format in [
                ImageFormat::Jpeg,
                ImageFormat::Png,
                ImageFormat::Webp,
                ImageFormat::Gif,
                ImageFormat::Avif,
            ] {
                let bytes = encode(gradient(layout), format, &opts).unwrap();
                assert_eq!(
                    ImageFormat::sniff(&bytes),
                    Some(format),
                    "{layout:?} {format:?}"
                );
            }
        }
    }

    #[test]
    fn jpeg_quality_and_progressive_change_the_bytes() {
        let mut opts = EncodeOptions::default();
        let q82 = encode(gradient(Layout::Rgb), ImageFormat::Jpeg, &opts).unwrap();
        opts.jpeg_quality = 30;
        let q30 = encode(gradient(Layout::Rgb), ImageFormat::Jpeg, &opts).unwrap();
        assert!(q30.len() < q82.len(), "{} !< {}", q30.len(), q82.len());
        opts.interlace = true;
        let progressive = encode(gradient(Layout::Rgb), ImageFormat::Jpeg, &opts).unwrap();
        let header = turbojpeg::read_header(&progressive).unwrap();
        assert!(header.is_progressive);
        assert_eq!(header.subsamp, Subsamp::Sub2x2);
    }

    /// The colour type, bit depth and RGBA pixels of an encoded PNG.
    fn decode_png(bytes: &[u8]) -> (png::ColorType, png::BitDepth, image::RgbaImage) {
        let reader = png::Decoder::new(std::io::Cursor::new(bytes))
            .read_info()
            .unwrap();
        let (colour, depth) = (reader.info().color_type, reader.info().bit_depth);
        let pixels = image::load_from_memory(bytes).unwrap().to_rgba8();
        (colour, depth, pixels)
    }

    /// RGBA samples with every fully transparent pixel as 0, 0, 0, 0: what
    /// lies under alpha 0 is invisible, and the encoder need not keep it.
    fn visible(rgba: &[u8]) -> Vec<u8> {
        rgba.chunks_exact(4)
            .flat_map(|p| {
                if p[3] == 0 {
                    [0; 4]
                } else {
                    [p[0], p[1], p[2], p[3]]
                }
            })
            .collect()
    }

    fn rgba_of(bitmap: &Bitmap) -> Vec<u8> {
        match bitmap.layout {
            Layout::Rgba => visible(&bitmap.data),
            _ => bitmap
                .clone()
                .into_rgb_or_rgba()
                .data
                .chunks_exact(3)
                .flat_map(|p| [p[0], p[1], p[2], 255])
                .collect(),
        }
    }

    /// Mean absolute difference per channel, over R, G, B and A.
    fn mean_abs_error(a: &[u8], b: &[u8]) -> f64 {
        assert_eq!(a.len(), b.len());
        let sum: u64 = a
            .iter()
            .zip(b)
            .map(|(&x, &y)| u64::from(x.abs_diff(y)))
            .sum();
        sum as f64 / a.len() as f64
    }

    /// Smooth gradients in all four channels: tens of thousands of colours,
    /// like a resampled thumbnail, with a fully transparent band on the left
    /// and a fully opaque one on the right.
    fn gradients(w: u32, h: u32) -> Bitmap {
        let mut data = Vec::new();
        for y in 0..h {
            for x in 0..w {
                let alpha = match x * 4 / w {
                    0 => 0,
                    3 => 255,
                    _ => (64 + y * 191 / h) as u8,
                };
                data.extend_from_slice(&[
                    (x * 255 / w) as u8,
                    (y * 255 / h) as u8,
                    ((x + y) * 255 / (w + h)) as u8,
                    alpha,
                ]);
            }
        }
        Bitmap::new(w, h, Layout::Rgba, data).unwrap()
    }

    /// Flat regions in six colours, a logo-like palette image.
    fn flat_shapes(w: u32, h: u32) -> Bitmap {
        let colours = [
            [250, 250, 245],
            [200, 30, 40],
            [20, 90, 200],
            [30, 160, 80],
            [250, 200, 0],
            [40, 40, 40],
        ];
        let mut data = Vec::new();
        for y in 0..h {
            for x in 0..w {
                let (dx, dy) = (x as i32 - 60, y as i32 - 50);
                let c = if dx * dx + dy * dy < 900 {
                    1
                } else if x > 120 && y < 40 {
                    2
                } else if (x / 10 + y / 10) % 7 == 0 {
                    3
                } else if y > 80 {
                    4 + (x / 25 % 2) as usize
                } else {
                    0
                };
                data.extend_from_slice(&colours[c]);
            }
        }
        Bitmap::new(w, h, Layout::Rgb, data).unwrap()
    }

    #[test]
    fn palette_source_png_is_indexed_and_close() {
        let bitmap = gradients(160, 120);
        let opts = EncodeOptions::default();
        let bytes = encode_with_source(bitmap.clone(), ImageFormat::Png, &opts, true).unwrap();
        let (colour, depth, out) = decode_png(&bytes);
        assert_eq!(colour, png::ColorType::Indexed);
        assert_eq!(depth, png::BitDepth::Eight);
        assert_eq!(out.dimensions(), (160, 120));
        let error = mean_abs_error(&rgba_of(&bitmap), &visible(out.as_raw()));
        assert!(error < 6.0, "mean abs error {error:.2}");
    }

    #[test]
    fn quantising_keeps_clear_pixels_clear_and_opaque_ones_opaque() {
        let bitmap = gradients(160, 120);
        let bytes = encode_with_source(
            bitmap.clone(),
            ImageFormat::Png,
            &EncodeOptions::default(),
            true,
        )
        .unwrap();
        let (_, _, out) = decode_png(&bytes);
        for (i, (want, got)) in bitmap
            .data
            .chunks_exact(4)
            .zip(out.as_raw().chunks_exact(4))
            .enumerate()
        {
            if want[3] == 0 || want[3] == 255 {
                assert_eq!(got[3], want[3], "pixel {i}: {want:?} became {got:?}");
            }
        }
    }

    #[test]
    fn few_colours_are_exact_and_smaller_than_truecolour() {
        let bitmap = flat_shapes(160, 120);
        let opts = EncodeOptions::default();
        let indexed = encode_with_source(bitmap.clone(), ImageFormat::Png, &opts, true).unwrap();
        let truecolour = encode(bitmap.clone(), ImageFormat::Png, &opts).unwrap();
        let (colour, depth, out) = decode_png(&indexed);
        assert_eq!(colour, png::ColorType::Indexed);
        // Six colours fit four bits an index.
        assert_eq!(depth, png::BitDepth::Four);
        assert_eq!(out.as_raw(), &rgba_of(&bitmap));
        assert!(
            indexed.len() * 2 < truecolour.len(),
            "indexed {} vs truecolour {}",
            indexed.len(),
            truecolour.len()
        );
    }

    #[test]
    fn small_palettes_pack_rows_into_fewer_bits() {
        // An odd width, so rows end inside a byte.
        let (w, h) = (13u32, 5u32);
        for (colours, want) in [
            (2, png::BitDepth::One),
            (3, png::BitDepth::Two),
            (16, png::BitDepth::Four),
            (17, png::BitDepth::Eight),
        ] {
            let data: Vec<u8> = (0..w * h)
                .flat_map(|i| {
                    let v = (i * 7 % colours) as u8;
                    [v * 15, 255 - v * 15, v, 255]
                })
                .collect();
            let bitmap = Bitmap::new(w, h, Layout::Rgba, data.clone()).unwrap();
            let bytes =
                encode_with_source(bitmap, ImageFormat::Png, &EncodeOptions::default(), true)
                    .unwrap();
            let (colour, depth, out) = decode_png(&bytes);
            assert_eq!(
                (colour, depth),
                (png::ColorType::Indexed, want),
                "{colours}"
            );
            assert_eq!(out.as_raw(), &data, "{colours} colours");
        }
    }

    #[test]
    fn not_from_palette_or_grey_stays_truecolour() {
        let opts = EncodeOptions::default();
        let rgb = encode_with_source(flat_shapes(40, 30), ImageFormat::Png, &opts, false).unwrap();
        assert_eq!(decode_png(&rgb).0, png::ColorType::Rgb);
        let grey =
            encode_with_source(gradient(Layout::Gray), ImageFormat::Png, &opts, true).unwrap();
        assert_eq!(decode_png(&grey).0, png::ColorType::Grayscale);
        let jpeg = encode_with_source(flat_shapes(40, 30), ImageFormat::Jpeg, &opts, true).unwrap();
        assert_eq!(ImageFormat::sniff(&jpeg), Some(ImageFormat::Jpeg));
    }

    /// The first frame of a corpus palette file, as the decoder hands it on.
    fn decode_palette_source(bytes: &[u8]) -> Bitmap {
        let format = ImageFormat::sniff(bytes).unwrap();
        let header = crate::format::read_header(bytes, format).unwrap();
        let limits = crate::job::Limits::default();
        let decoded = crate::format::decode(bytes, format, &header, 1, &limits).unwrap();
        assert!(decoded.from_palette);
        decoded.bitmap
    }

    /// Lanczos3 to `width`, keeping the aspect ratio: a resampled thumbnail
    /// with new colours between the source's.
    fn shrink(bitmap: &Bitmap, width: u32) -> Bitmap {
        use image::imageops::{resize, FilterType};
        let height = (bitmap.height * width / bitmap.width).max(1);
        let rgba = image::RgbaImage::from_raw(bitmap.width, bitmap.height, rgba_of(bitmap));
        let out = resize(&rgba.unwrap(), width, height, FilterType::Lanczos3);
        Bitmap::new(width, height, Layout::Rgba, out.into_raw()).unwrap()
    }

    #[test]
    fn pngsuite_palette_files_round_trip() {
        let opts = EncodeOptions::default();
        for name in ["basn3p08", "tbbn3p08", "basn3p02"] {
            let Some(bytes) = corpus_file(&format!("valid/png/pngsuite/{name}.png")) else {
                return;
            };
            let bitmap = decode_palette_source(&bytes);
            let out = encode_with_source(bitmap.clone(), ImageFormat::Png, &opts, true).unwrap();
            let (colour, _, pixels) = decode_png(&out);
            assert_eq!(colour, png::ColorType::Indexed, "{name}");
            assert_eq!((pixels.width(), pixels.height()), (32, 32), "{name}");
            // At most 256 colours in, so exactly the same pixels out.
            assert_eq!(visible(pixels.as_raw()), rgba_of(&bitmap), "{name}");
        }
    }

    #[test]
    fn resampled_gif_thumbnail_is_close_and_smaller() {
        let Some(bytes) = corpus_file("valid/gif/test.colors.gif") else {
            return;
        };
        let thumb = shrink(&decode_palette_source(&bytes), 350);
        let opts = EncodeOptions::default();
        let indexed = encode_with_source(thumb.clone(), ImageFormat::Png, &opts, true).unwrap();
        let truecolour = encode(thumb.clone(), ImageFormat::Png, &opts).unwrap();
        let (colour, _, pixels) = decode_png(&indexed);
        assert_eq!(colour, png::ColorType::Indexed);
        let error = mean_abs_error(&visible(pixels.as_raw()), &rgba_of(&thumb));
        assert!(error < 6.0, "mean abs error {error:.2}");
        assert!(
            indexed.len() < truecolour.len(),
            "indexed {} vs truecolour {}",
            indexed.len(),
            truecolour.len()
        );
    }

    /// RGBA pixels and the transparent index of an encoded GIF.
    fn decode_gif(bytes: &[u8]) -> (Option<u8>, bool, image::RgbaImage) {
        let mut options = gif::DecodeOptions::new();
        options.set_color_output(gif::ColorOutput::Indexed);
        let mut decoder = options.read_info(bytes).unwrap();
        let transparent = decoder.read_next_frame().unwrap().unwrap().transparent;
        // The decoder hands frames back de-interlaced, flag cleared: read the
        // image descriptor's flag, after the palette and one control block.
        let palette = 3 << ((bytes[10] & 7) + 1);
        let descriptor = 13 + palette + 8;
        assert_eq!(bytes[descriptor], 0x2C);
        let interlaced = bytes[descriptor + 9] & 0x40 != 0;
        let pixels = image::load_from_memory(bytes).unwrap().to_rgba8();
        (transparent, interlaced, pixels)
    }

    #[test]
    fn gif_of_few_colours_is_exact() {
        let bitmap = flat_shapes(160, 120);
        let bytes = encode(bitmap.clone(), ImageFormat::Gif, &EncodeOptions::default()).unwrap();
        assert_eq!(&bytes[..6], b"GIF89a");
        let (transparent, interlaced, pixels) = decode_gif(&bytes);
        assert_eq!((transparent, interlaced), (None, false));
        assert_eq!(pixels.dimensions(), (160, 120));
        assert_eq!(pixels.as_raw(), &rgba_of(&bitmap));
    }

    #[test]
    fn gif_interlaced_rows_come_back_in_place() {
        let bitmap = flat_shapes(37, 29);
        let opts = EncodeOptions {
            interlace: true,
            ..EncodeOptions::default()
        };
        let bytes = encode(bitmap.clone(), ImageFormat::Gif, &opts).unwrap();
        let (_, interlaced, pixels) = decode_gif(&bytes);
        assert!(interlaced);
        assert_eq!(pixels.as_raw(), &rgba_of(&bitmap));
    }

    #[test]
    fn gif_keeps_transparency_as_one_index() {
        // Alpha 0, 100 (below half: transparent), 128 and 255 (opaque).
        let data = vec![
            10, 20, 30, 0, 40, 50, 60, 100, 70, 80, 90, 128, 200, 100, 0, 255,
        ];
        let bitmap = Bitmap::new(2, 2, Layout::Rgba, data).unwrap();
        let bytes = encode(bitmap, ImageFormat::Gif, &EncodeOptions::default()).unwrap();
        let (transparent, _, pixels) = decode_gif(&bytes);
        assert_eq!(transparent, Some(0));
        let alphas: Vec<u8> = pixels.pixels().map(|p| p.0[3]).collect();
        assert_eq!(alphas, [0, 0, 255, 255]);
        // Kept pixels keep their own colour, not one blended on white.
        assert_eq!(pixels.get_pixel(0, 1).0, [70, 80, 90, 255]);
        assert_eq!(pixels.get_pixel(1, 1).0, [200, 100, 0, 255]);
    }

    #[test]
    fn gif_of_a_photo_like_image_is_close() {
        let bitmap = gradients(160, 120);
        let bytes = encode(bitmap.clone(), ImageFormat::Gif, &EncodeOptions::default()).unwrap();
        let (transparent, _, pixels) = decode_gif(&bytes);
        assert_eq!(transparent, Some(0));
        // Compare the opaque band only: the rest had partial alpha.
        let (mut sum, mut n) = (0u64, 0u64);
        for (want, got) in bitmap
            .data
            .chunks_exact(4)
            .zip(pixels.as_raw().chunks_exact(4))
        {
            if want[3] == 255 {
                sum += (0..3)
                    .map(|c| u64::from(want[c].abs_diff(got[c])))
                    .sum::<u64>();
                n += 3;
            }
        }
        let error = sum as f64 / n as f64;
        assert!(error < 6.0, "mean abs error {error:.2}");
    }

    /// Timings and sizes for palette output, printed rather than asserted:
    /// `cargo test --release -p thumbnailer palette_timing -- --ignored --nocapture`
    #[test]
    #[ignore]
    fn palette_timing() {
        fn best_of<T>(runs: u32, mut f: impl FnMut() -> T) -> (std::time::Duration, T) {
            let mut best = std::time::Duration::MAX;
            let mut out = None;
            for _ in 0..runs {
                let start = std::time::Instant::now();
                out = Some(f());
                best = best.min(start.elapsed());
            }
            (best, out.unwrap())
        }
        let opts = EncodeOptions::default();
        let mut cases = vec![("synthetic gradients".to_string(), gradients(350, 350))];
        for (rel, width) in [
            ("valid/gif/test.colors.gif", 350),
            ("valid/gif/interlaced.gif", 350),
            ("valid/gif/transparent.gif", 200),
            ("valid/gif/hopper.gif", 128),
            ("valid/png/misc/sbit_indexed.png", 200),
            ("valid/png/pngsuite/basn3p08.png", 32),
            ("valid/png/pngsuite/tbbn3p08.png", 32),
        ] {
            let Some(bytes) = corpus_file(rel) else {
                break;
            };
            let source = decode_palette_source(&bytes);
            let thumb = if source.width == width {
                source
            } else {
                shrink(&source, width)
            };
            cases.push((rel.to_string(), thumb));
        }
        for (name, thumb) in cases {
            let (quantise, indexed) = best_of(20, || palette::quantise(&thumb));
            let (palette_total, palette_png) = best_of(20, || {
                encode_with_source(thumb.clone(), ImageFormat::Png, &opts, true).unwrap()
            });
            let (truecolour_total, truecolour_png) = best_of(20, || {
                encode(thumb.clone(), ImageFormat::Png, &opts).unwrap()
            });
            let (_, _, pixels) = decode_png(&palette_png);
            eprintln!(
                "{name} {}x{}: {} colours, quantise {:.2} ms; indexed {} B in {:.2} ms, \
                 truecolour {} B in {:.2} ms; mean abs error {:.2}",
                thumb.width,
                thumb.height,
                indexed.palette.len(),
                quantise.as_secs_f64() * 1e3,
                palette_png.len(),
                palette_total.as_secs_f64() * 1e3,
                truecolour_png.len(),
                truecolour_total.as_secs_f64() * 1e3,
                mean_abs_error(&visible(pixels.as_raw()), &rgba_of(&thumb)),
            );
        }
    }
}

//! The whole job in one readable function: every step, in order. The steps
//! up to an upright sRGB bitmap (`decode_upright`) are split from the steps
//! after it (`finish`) so that several sizes can be made from one decode
//! (see `decode_cache`).

use crate::animation;
use crate::bitmap::Bitmap;
use crate::error::Error;
use crate::format::encode;
use crate::format::ImageFormat;
use crate::format::{self, Header};
use crate::job::{EncodeOptions, Geometry, Job, Limits, OutputFormat, Transparency};
use crate::limits;
use crate::processing::adjust;
use crate::processing::colour;
use crate::processing::geometry::{self, Plan};
use crate::processing::orient::{self, Orientation};
use crate::processing::place;
use crate::processing::placeholder;
use crate::processing::resize;

/// An encoded thumbnail and what it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Thumbnail {
    pub bytes: Vec<u8>,
    pub format: OutputType,
    /// The thumbnail's size (for a text placeholder, of the thumbnail it
    /// stands for).
    pub width: u32,
    pub height: u32,
}

/// What a thumbnail's bytes are: an image, or a text placeholder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputType {
    Image(ImageFormat),
    /// A ThumbHash, BlurHash or `#rrggbb` colour, one line of ASCII.
    Text,
}

impl OutputType {
    pub fn mime_type(self) -> &'static str {
        match self {
            OutputType::Image(format) => format.mime_type(),
            OutputType::Text => "text/plain; charset=utf-8",
        }
    }
}

impl PartialEq<ImageFormat> for OutputType {
    fn eq(&self, other: &ImageFormat) -> bool {
        *self == OutputType::Image(*other)
    }
}

/// The whole pipeline: sniff -> limits from header -> decode -> colour ->
/// orient -> (smart crop placement) -> resize -> blur -> adjust -> sharpen
/// -> pad -> rotate and flip -> (flatten) -> encode.
/// Runs on any thread, owns nothing global.
pub fn make_thumbnail(input: &[u8], job: &Job) -> Result<Thumbnail, Error> {
    let source = Source::inspect(input, job)?;
    let plan = source.plan(&job.geometry, &job.limits)?;
    if source.header.frames > 1 {
        return animation::make(input, &source, plan, job);
    }
    let upright = decode_upright(input, &source, plan.shrink_on_load(), &job.limits)?;
    finish(&upright, plan, job)
}

/// What the header says about an original, after the limits that need no
/// pixels were checked.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Source {
    pub format: ImageFormat,
    pub header: Header,
}

impl Source {
    /// Sniff, the byte limit, the header, the frames kept, the pixel limit.
    pub fn inspect(input: &[u8], job: &Job) -> Result<Source, Error> {
        Self::inspect_head(input, input.len() as u64, job)
    }

    /// [`Source::inspect`] from the first bytes of an original of
    /// `source_len` bytes; an error when the header lies beyond them.
    /// `header.frames` is the number of frames the job keeps: more than one
    /// only for an animation made animated (see `animation`), whose every
    /// frame then counts in the pixel limit.
    pub fn inspect_head(head: &[u8], source_len: u64, job: &Job) -> Result<Source, Error> {
        let limits = &job.limits;
        limits::check_source_size(source_len, limits)?;
        let format = ImageFormat::sniff(head)
            .ok_or_else(|| Error::unsupported("unsupported image format"))?;
        let mut header = format::read_header(head, format)?;
        // One frame first: a canvas over the limit is refused as too large
        // before the frames are walked, where a hostile file can fail for
        // another reason first.
        limits::check_pixels(header.width, header.height, header.frames, limits)?;
        header.frames = animation::frames_to_keep(head, source_len, format, job)?;
        if header.frames > 1 {
            limits::check_pixels(header.width, header.height, header.frames, limits)?;
        }
        Ok(Source { format, header })
    }

    /// The geometry plan for the upright image, its canvas checked.
    pub fn plan(&self, geometry: &Geometry, limits: &Limits) -> Result<Plan, Error> {
        let (upright_w, upright_h) = self
            .header
            .orientation
            .upright_size(self.header.width, self.header.height);
        let plan = geometry::plan(upright_w, upright_h, geometry);
        place::check_canvas(&plan, limits)?;
        Ok(plan)
    }
}

/// A decoded original, upright and in sRGB, at some shrink-on-load scale:
/// what every size of that original starts from.
#[derive(Debug)]
pub(crate) struct Upright {
    pub bitmap: Bitmap,
    pub source_format: ImageFormat,
    /// The JPEG DCT reduction it was decoded at (1 for other formats, which
    /// always decode whole): usable for any plan allowing this much or more.
    pub shrink: u32,
    pub from_palette: bool,
}

impl Upright {
    pub fn bytes(&self) -> usize {
        self.bitmap.data.len()
    }
}

/// Decode -> colour -> orient. `shrink` is the reduction the decoder may
/// apply; only JPEG uses it.
pub(crate) fn decode_upright(
    input: &[u8],
    source: &Source,
    shrink: u32,
    limits: &Limits,
) -> Result<Upright, Error> {
    let decoded = format::decode(input, source.format, &source.header, shrink, limits)?;
    let from_palette = decoded.from_palette;
    let bitmap = colour::to_srgb(decoded)?;
    let bitmap = orient::apply(bitmap, source.header.orientation);
    Ok(Upright {
        bitmap,
        source_format: source.format,
        shrink: if source.format == ImageFormat::Jpeg {
            shrink
        } else {
            1
        },
        from_palette,
    })
}

/// (Smart crop placement) -> resize -> blur -> adjust -> sharpen -> pad ->
/// rotate and flip -> (flatten) -> encode, reading the upright bitmap without
/// consuming it.
pub(crate) fn finish(upright: &Upright, plan: Plan, job: &Job) -> Result<Thumbnail, Error> {
    let plan = place::refine_smart(plan, &upright.bitmap);
    let bitmap = render(&upright.bitmap, &plan, job)?;
    let (width, height) = (bitmap.width, bitmap.height);
    let bitmap = match job.encode.format {
        OutputFormat::Placeholder(kind) if kind.is_text() => {
            let text = placeholder::text(&bitmap, kind, job.encode.background)?;
            return Ok(Thumbnail {
                bytes: text.into_bytes(),
                format: OutputType::Text,
                width,
                height,
            });
        }
        OutputFormat::Placeholder(_) => placeholder::lqip(&bitmap)?,
        _ => bitmap,
    };

    let (width, height) = (bitmap.width, bitmap.height);
    let out_format = encode::choose_format(
        &job.encode,
        upright.source_format,
        bitmap.has_transparency(),
        u64::from(width) * u64::from(height),
    );
    let options = match job.encode.format {
        OutputFormat::Placeholder(_) => EncodeOptions {
            webp_quality: placeholder::LQIP_QUALITY,
            ..job.encode
        },
        _ => job.encode,
    };
    let bytes = encode::encode_with_source(bitmap, out_format, &options, upright.from_palette)?;
    Ok(Thumbnail {
        bytes,
        format: OutputType::Image(out_format),
        width,
        height,
    })
}

/// Resize -> blur -> adjust -> sharpen -> pad -> rotate and flip ->
/// (flatten): the steps between the upright bitmap and the encoder, for a
/// still and for each frame of an animation alike.
pub(crate) fn render(upright: &Bitmap, plan: &Plan, job: &Job) -> Result<Bitmap, Error> {
    let bitmap = resize::apply(upright, plan)?;
    // Blur, the colour adjustments and libgd's sharpen, in that order, all
    // before padding so the padding stays exactly the background. (nginx
    // sharpens its final image; the kernel treats every direction alike, so
    // the turn and flip after it change nothing.)
    let bitmap = adjust::apply(bitmap, &job.adjust);
    let bitmap = place::pad(bitmap, plan, job.encode.background)?;
    // The plan was made for the image before the turn (see `Geometry`).
    let turn = Orientation::of_turn(job.geometry.rotate, job.geometry.flip);
    let bitmap = orient::apply(bitmap, turn);
    Ok(match job.encode.transparency {
        Transparency::Keep => bitmap,
        Transparency::Flatten => bitmap.flatten(job.encode.background),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::{Fit, Flip, OutputFormat, Rgb, Rotation};

    /// A `width` x `height` RGB PNG, red on the left half, blue on the right.
    fn halves_png(width: u32, height: u32) -> Vec<u8> {
        let mut data = Vec::new();
        for _ in 0..height {
            for x in 0..width {
                data.extend(if x < width / 2 {
                    [255, 0, 0]
                } else {
                    [0, 0, 255]
                });
            }
        }
        let mut out = Vec::new();
        image::ImageEncoder::write_image(
            image::codecs::png::PngEncoder::new(&mut out),
            &data,
            width,
            height,
            image::ExtendedColorType::Rgb8,
        )
        .unwrap();
        out
    }

    /// A `width` x `height` GIF: black on the left half, the transparent
    /// white index on the right (the image nginx-tests draws, roughly).
    fn halves_gif(width: u16, height: u16) -> Vec<u8> {
        let pixels: Vec<u8> = (0..height)
            .flat_map(|_| (0..width).map(move |x| u8::from(x >= width / 2)))
            .collect();
        let mut out = Vec::new();
        {
            let palette = [0, 0, 0, 255, 255, 255];
            let mut encoder = gif::Encoder::new(&mut out, width, height, &palette).unwrap();
            let frame = gif::Frame::from_indexed_pixels(width, height, pixels, Some(1));
            encoder.write_frame(&frame).unwrap();
        }
        out
    }

    fn rgba(thumb: &Thumbnail) -> image::RgbaImage {
        image::load_from_memory(&thumb.bytes).unwrap().to_rgba8()
    }

    fn turned(mut job: Job, rotate: Rotation, flip: Flip) -> Job {
        job.geometry.rotate = rotate;
        job.geometry.flip = flip;
        job
    }

    #[test]
    fn rotation_is_counter_clockwise_and_flips_come_after() {
        let png = halves_png(40, 20);
        let base = Job::sized(None, None, Fit::Fit, OutputFormat::Png);
        // A quarter turn counter-clockwise brings the right (blue) half up.
        let t = make_thumbnail(&png, &turned(base, Rotation::Ccw90, Flip::None)).unwrap();
        assert_eq!((t.width, t.height), (20, 40));
        let px = rgba(&t);
        assert_eq!(px.get_pixel(10, 5).0, [0, 0, 255, 255]);
        assert_eq!(px.get_pixel(10, 35).0, [255, 0, 0, 255]);
        // Clockwise brings it down.
        let t = make_thumbnail(&png, &turned(base, Rotation::Ccw270, Flip::None)).unwrap();
        assert_eq!(rgba(&t).get_pixel(10, 5).0, [255, 0, 0, 255]);
        // Flipped left to right.
        let t = make_thumbnail(&png, &turned(base, Rotation::None, Flip::Horizontal)).unwrap();
        assert_eq!((t.width, t.height), (40, 20));
        assert_eq!(rgba(&t).get_pixel(5, 10).0, [0, 0, 255, 255]);
        // Turned, then flipped top to bottom: blue ends at the bottom.
        let t = make_thumbnail(&png, &turned(base, Rotation::Ccw90, Flip::Vertical)).unwrap();
        assert_eq!(rgba(&t).get_pixel(10, 35).0, [0, 0, 255, 255]);
        // A half turn and a vertical flip are a horizontal flip.
        let a = make_thumbnail(&png, &turned(base, Rotation::Ccw180, Flip::Vertical)).unwrap();
        let b = make_thumbnail(&png, &turned(base, Rotation::None, Flip::Horizontal)).unwrap();
        assert_eq!(a.bytes, b.bytes);
    }

    #[test]
    fn sizes_match_image_filter_tests() {
        // nginx-tests image_filter.t, on a 100x120 GIF.
        let gif = halves_gif(100, 120);
        let size = |w: u32, h: u32, fit: Fit, rotate: Rotation| {
            let job = turned(
                Job::sized(Some(w), Some(h), fit, OutputFormat::Original),
                rotate,
                Flip::None,
            );
            let t = make_thumbnail(&gif, &job).unwrap();
            assert_eq!(t.format, ImageFormat::Gif);
            assert_eq!(&t.bytes[..6], b"GIF89a");
            (t.width, t.height)
        };
        assert_eq!(size(10, 12, Fit::Fit, Rotation::None), (10, 12));
        assert_eq!(size(60, 80, Fit::Crop, Rotation::None), (60, 80));
        // "rotate before crop"
        assert_eq!(size(5, 6, Fit::Crop, Rotation::Ccw90), (5, 5));
        // "rotate after resize"
        assert_eq!(size(5, 6, Fit::Fit, Rotation::Ccw90), (6, 5));
        // "rotate", "rotate var": rotate 90/180/270 of the whole image.
        assert_eq!(size(1000, 1000, Fit::Fit, Rotation::Ccw90), (120, 100));
        assert_eq!(size(1000, 1000, Fit::Fit, Rotation::Ccw180), (100, 120));
        assert_eq!(size(1000, 1000, Fit::Fit, Rotation::Ccw270), (120, 100));
    }

    #[test]
    fn gif_transparency_is_kept_or_flattened() {
        let gif = halves_gif(100, 120);
        let mut job = Job::sized(Some(50), Some(60), Fit::Fit, OutputFormat::Original);
        let kept = make_thumbnail(&gif, &job).unwrap();
        assert_eq!(kept.format, ImageFormat::Gif);
        let px = rgba(&kept);
        assert_eq!(px.get_pixel(5, 30).0, [0, 0, 0, 255]);
        assert_eq!(px.get_pixel(45, 30).0[3], 0);
        job.encode.transparency = Transparency::Flatten;
        job.encode.background = Rgb(0, 200, 0);
        let flat = make_thumbnail(&gif, &job).unwrap();
        assert_eq!(flat.format, ImageFormat::Gif);
        let px = rgba(&flat);
        assert_eq!(px.get_pixel(5, 30).0, [0, 0, 0, 255]);
        assert_eq!(px.get_pixel(45, 30).0, [0, 200, 0, 255]);
        // Nothing left transparent: no transparent index written.
        let mut options = gif::DecodeOptions::new();
        options.set_color_output(gif::ColorOutput::Indexed);
        let mut decoder = options.read_info(&flat.bytes[..]).unwrap();
        assert_eq!(
            decoder.read_next_frame().unwrap().unwrap().transparent,
            None
        );
    }

    #[test]
    fn flattening_takes_alpha_out_of_png_and_webp() {
        let mut out = Vec::new();
        let data = [0u8, 0, 0, 0, 255, 0, 0, 255].repeat(8);
        image::ImageEncoder::write_image(
            image::codecs::png::PngEncoder::new(&mut out),
            &data,
            4,
            4,
            image::ExtendedColorType::Rgba8,
        )
        .unwrap();
        for format in [
            OutputFormat::Png,
            OutputFormat::Webp,
            OutputFormat::Original,
        ] {
            let mut job = Job::sized(None, None, Fit::Fit, format);
            let kept = make_thumbnail(&out, &job).unwrap();
            assert!(image::load_from_memory(&kept.bytes)
                .unwrap()
                .color()
                .has_alpha());
            job.encode.transparency = Transparency::Flatten;
            job.encode.background = Rgb(0, 0, 255);
            job.encode.webp_quality = 100;
            let flat = make_thumbnail(&out, &job).unwrap();
            let decoded = image::load_from_memory(&flat.bytes).unwrap();
            assert!(!decoded.color().has_alpha(), "{format:?}");
            let px = decoded.to_rgb8();
            assert_eq!(px.get_pixel(0, 0).0, [0, 0, 255], "{format:?}");
            assert_eq!(px.get_pixel(1, 0).0, [255, 0, 0], "{format:?}");
        }
    }

    #[test]
    fn sharpen_and_blur_change_the_pixels_not_the_size() {
        // Shrinking the halves gives a soft edge for both to work on.
        let png = halves_png(200, 100);
        let base = Job::sized(Some(40), Some(20), Fit::Fit, OutputFormat::Png);
        let plain = make_thumbnail(&png, &base).unwrap();
        let row = |t: &Thumbnail| -> Vec<u8> {
            let px = rgba(t);
            (0..40).map(|x| px.get_pixel(x, 10).0[0]).collect()
        };
        let mut sharp = base;
        sharp.adjust.sharpen = 100;
        let sharp = make_thumbnail(&png, &sharp).unwrap();
        let mut soft = base;
        soft.adjust.blur = Some(20);
        let soft = make_thumbnail(&png, &soft).unwrap();
        for t in [&sharp, &soft] {
            assert_eq!((t.width, t.height), (40, 20));
        }
        // Red falls from 255 to 0 around x = 20: the blur widens the ramp,
        // the sharpen keeps the flat parts and steepens nothing outward.
        let ramp = |r: &[u8]| r.iter().filter(|&&v| v > 5 && v < 250).count();
        let (plain_row, sharp_row, soft_row) = (row(&plain), row(&sharp), row(&soft));
        assert!(
            ramp(&soft_row) > ramp(&plain_row),
            "{soft_row:?} vs {plain_row:?}"
        );
        assert!(
            ramp(&sharp_row) <= ramp(&plain_row),
            "{sharp_row:?} vs {plain_row:?}"
        );
        assert_eq!((sharp_row[0], sharp_row[39]), (255, 0));
        assert_ne!(sharp_row, plain_row);
    }
}

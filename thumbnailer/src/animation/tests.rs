//! The animation job end to end: which frames are kept, what comes out,
//! and that frames, delays, loop and size survive.

use super::*;
use crate::error::ErrorClass;
use crate::job::{AvifFallback, FallbackFormat, Fit, Limits, DEFAULT_MAX_FRAMES};
use crate::make_thumbnail;
use crate::test_data::corpus_file;

use image::codecs::gif::GifDecoder;
use image::codecs::webp::WebPDecoder;
use image::metadata::LoopCount;
use image::AnimationDecoder;

/// A `width` x `height` GIF of `frames` frames, frame i filled with palette
/// colour i (a distinct grey each), 10 x (i + 1) ms each... in hundredths:
/// delay i + 2; `repeat` as written.
fn gif(width: u16, height: u16, frames: u8, repeat: Option<::gif::Repeat>) -> Vec<u8> {
    let palette: Vec<u8> = (0..=255u8).flat_map(|v| [v, 255 - v, v / 2]).collect();
    let mut out = Vec::new();
    {
        let mut e = ::gif::Encoder::new(&mut out, width, height, &palette).unwrap();
        if let Some(repeat) = repeat {
            e.set_repeat(repeat).unwrap();
        }
        for i in 0..frames {
            let pixels = vec![i * 40; usize::from(width) * usize::from(height)];
            let mut f = ::gif::Frame::from_indexed_pixels(width, height, pixels, None);
            f.delay = u16::from(i) + 2;
            e.write_frame(&f).unwrap();
        }
    }
    out
}

fn job(width: u32, format: OutputFormat) -> Job {
    Job::sized(Some(width), None, Fit::Fit, format)
}

/// What a decoder of the `image` crate sees in an animation.
struct Seen {
    sizes: Vec<(u32, u32)>,
    delays_ms: Vec<u32>,
    first_pixels: Vec<[u8; 4]>,
    /// Plays, `None` for ever.
    looping: Option<u32>,
}

fn seen<'a>(decoder: impl AnimationDecoder<'a>) -> Seen {
    let looping = match decoder.loop_count() {
        LoopCount::Infinite => None,
        LoopCount::Finite(n) => Some(n.get()),
    };
    let frames = decoder.into_frames().collect_frames().unwrap();
    Seen {
        sizes: frames.iter().map(|f| f.buffer().dimensions()).collect(),
        delays_ms: frames
            .iter()
            .map(|f| {
                let (n, d) = f.delay().numer_denom_ms();
                n / d
            })
            .collect(),
        first_pixels: frames
            .iter()
            .map(|f| f.buffer().get_pixel(0, 0).0)
            .collect(),
        looping,
    }
}

fn seen_gif(bytes: &[u8]) -> Seen {
    seen(GifDecoder::new(std::io::Cursor::new(bytes)).unwrap())
}

fn seen_webp(bytes: &[u8]) -> Seen {
    let mut decoder = WebPDecoder::new(std::io::Cursor::new(bytes)).unwrap();
    // Cleared to transparent on disposal, as browsers do.
    decoder
        .set_background_color(image::Rgba([0, 0, 0, 0]))
        .unwrap();
    seen(decoder)
}

fn expected_colour(i: u8) -> [u8; 3] {
    let v = i * 40;
    [v, 255 - v, v / 2]
}

fn close(got: [u8; 4], want: [u8; 3], tolerance: u8) -> bool {
    got[3] == 255 && (0..3).all(|c| got[c].abs_diff(want[c]) <= tolerance)
}

#[test]
fn gif_stays_an_animated_gif_with_its_frames_delays_and_loop() {
    let source = gif(80, 40, 4, Some(::gif::Repeat::Finite(3)));
    let t = make_thumbnail(&source, &job(40, OutputFormat::Original)).unwrap();
    assert_eq!(t.format, ImageFormat::Gif);
    assert_eq!((t.width, t.height), (40, 20));
    let s = seen_gif(&t.bytes);
    assert_eq!(s.sizes, vec![(40, 20); 4]);
    assert_eq!(s.delays_ms, [20, 30, 40, 50]);
    assert_eq!(s.looping, Some(3));
    for (i, px) in s.first_pixels.iter().enumerate() {
        assert!(close(*px, expected_colour(i as u8), 0), "frame {i}: {px:?}");
    }
}

#[test]
fn gif_becomes_animated_webp_with_the_same_timing() {
    for (repeat, plays) in [
        (Some(::gif::Repeat::Infinite), None),
        // Two repeats after the first play: three plays in WebP's terms.
        (Some(::gif::Repeat::Finite(2)), Some(3)),
        (None, Some(1)),
    ] {
        let source = gif(80, 40, 3, repeat);
        let t = make_thumbnail(&source, &job(40, OutputFormat::Webp)).unwrap();
        assert_eq!(t.format, ImageFormat::Webp);
        let s = seen_webp(&t.bytes);
        assert_eq!(s.sizes, vec![(40, 20); 3]);
        assert_eq!(s.delays_ms, [20, 30, 40]);
        assert_eq!(s.looping, plays, "{repeat:?}");
        for (i, px) in s.first_pixels.iter().enumerate() {
            assert!(
                close(*px, expected_colour(i as u8), 10),
                "frame {i}: {px:?}"
            );
        }
        // And WebP in, WebP out, keeps it all again.
        let again = make_thumbnail(&t.bytes, &job(20, OutputFormat::Original)).unwrap();
        assert_eq!(again.format, ImageFormat::Webp);
        let s = seen_webp(&again.bytes);
        assert_eq!(s.sizes, vec![(20, 10); 3]);
        assert_eq!(s.delays_ms, [20, 30, 40]);
        assert_eq!(s.looping, plays);
    }
}

#[test]
fn still_formats_placeholders_and_frame_zero_give_the_first_frame() {
    let source = gif(80, 40, 3, Some(::gif::Repeat::Infinite));
    let t = make_thumbnail(&source, &job(40, OutputFormat::Png)).unwrap();
    assert_eq!(t.format, ImageFormat::Png);
    let px = image::load_from_memory(&t.bytes).unwrap().to_rgba8();
    assert!(close(px.get_pixel(3, 3).0, expected_colour(0), 0));
    let mut still = job(40, OutputFormat::Original);
    still.limits.max_frames = 1;
    let t = make_thumbnail(&source, &still).unwrap();
    assert_eq!(t.format, ImageFormat::Gif);
    assert_eq!(seen_gif(&t.bytes).sizes.len(), 1);
}

#[test]
fn frame_limit_gives_a_still_or_refuses_when_strict() {
    let source = gif(20, 10, 5, None);
    let mut j = job(10, OutputFormat::Original);
    j.limits.max_frames = 5;
    assert_eq!(
        seen_gif(&make_thumbnail(&source, &j).unwrap().bytes)
            .sizes
            .len(),
        5
    );
    j.limits.max_frames = 4;
    assert_eq!(
        seen_gif(&make_thumbnail(&source, &j).unwrap().bytes)
            .sizes
            .len(),
        1
    );
    j.limits.frames_strict = true;
    let e = make_thumbnail(&source, &j).unwrap_err();
    assert_eq!(e.class(), ErrorClass::TooLarge);
    assert_eq!(
        e.to_string(),
        "animation has 5 frames, over the 4-frame limit"
    );
    // A still asked for is never refused for its frames.
    j.limits.max_frames = 1;
    j.limits.frames_strict = false;
    assert!(make_thumbnail(&source, &j).is_ok());
}

#[test]
fn every_kept_frame_counts_in_the_pixel_limit() {
    let source = gif(20, 10, 5, None);
    let mut j = job(10, OutputFormat::Original);
    j.limits.max_pixels = 20 * 10 * 4;
    let e = make_thumbnail(&source, &j).unwrap_err();
    assert_eq!(e.class(), ErrorClass::TooLarge);
    assert_eq!(
        e.to_string(),
        "image is 20x10 x 5 frames, over the 800-pixel limit"
    );
    // A still of it is one frame's pixels.
    j.limits.max_frames = 1;
    assert!(make_thumbnail(&source, &j).is_ok());
    j.limits.max_frames = DEFAULT_MAX_FRAMES;
    j.encode.format = OutputFormat::Jpeg;
    assert!(make_thumbnail(&source, &j).is_ok());
}

#[test]
fn the_frame_count_needs_the_whole_original_unless_over_the_limit() {
    let source = gif(20, 10, 5, None);
    let len = source.len() as u64;
    let j = job(10, OutputFormat::Original);
    let whole = frames_to_keep(&source, len, ImageFormat::Gif, &j).unwrap();
    assert_eq!(whole, 5);
    // Cut after the third frame: those three are known, the rest not.
    let head = &source[..source.len() - 20];
    assert!(frames_to_keep(head, len, ImageFormat::Gif, &j).is_err());
    let mut small = j;
    small.limits.max_frames = 2;
    assert_eq!(
        frames_to_keep(head, len, ImageFormat::Gif, &small).unwrap(),
        1
    );
    // Formats that are never animated need no count.
    assert_eq!(frames_to_keep(b"", 10, ImageFormat::Png, &j).unwrap(), 1);
}

#[test]
fn memory_estimate_counts_the_frames() {
    let few = gif(200, 100, 2, None);
    let many = gif(200, 100, 60, None);
    let j = job(100, OutputFormat::Original);
    let estimate = |bytes: &[u8], j: &Job| {
        crate::estimate_peak_memory(bytes, bytes.len() as u64, j, &[]).unwrap()
    };
    let (few_bytes, many_bytes) = (estimate(&few, &j), estimate(&many, &j));
    // Two bytes an output pixel for each of the 58 more frames, at least.
    assert!(
        many_bytes >= few_bytes + 58 * 100 * 50 * 2,
        "{many_bytes} vs {few_bytes}"
    );
    let mut still = j;
    still.limits.max_frames = 1;
    assert!(estimate(&many, &still) < many_bytes);
}

#[test]
fn canonical_text_has_the_frame_limit_only_when_set() {
    let j = job(10, OutputFormat::Original);
    assert!(!j.canonical().contains(":mf="));
    let mut still = j;
    still.limits.max_frames = 1;
    assert!(
        still.canonical().ends_with(":mf=1"),
        "{}",
        still.canonical()
    );
    // Strict or not decides between a still and a refusal over the limit:
    // a strict location must not be answered from the other's still.
    let mut strict = j;
    strict.limits.frames_strict = true;
    assert!(
        strict.canonical().ends_with(":mf=100s"),
        "{}",
        strict.canonical()
    );
    strict.limits.max_frames = 3;
    assert!(strict.canonical().ends_with(":mf=3s"));
    let mut three = j;
    three.limits.max_frames = 3;
    assert!(three.canonical().ends_with(":mf=3"));
    assert_ne!(three.canonical(), strict.canonical());
}

#[test]
fn output_format_table() {
    use OutputFormat as O;
    let table = [
        (O::Original, ImageFormat::Gif, Some(ImageFormat::Gif)),
        (O::Original, ImageFormat::Webp, Some(ImageFormat::Webp)),
        (O::Gif, ImageFormat::Webp, Some(ImageFormat::Gif)),
        (O::Webp, ImageFormat::Gif, Some(ImageFormat::Webp)),
        (O::Jpeg, ImageFormat::Gif, None),
        (O::Png, ImageFormat::Webp, None),
        (O::Avif, ImageFormat::Gif, None),
    ];
    for (requested, source, want) in table {
        let encode = EncodeOptions {
            format: requested,
            ..EncodeOptions::default()
        };
        assert_eq!(
            animated_output(&encode, source),
            want,
            "{requested:?} {source:?}"
        );
    }
    // A negotiated AVIF animates in its fallback.
    for (to, source, want) in [
        (FallbackFormat::Webp, ImageFormat::Gif, ImageFormat::Webp),
        (FallbackFormat::Original, ImageFormat::Gif, ImageFormat::Gif),
        (
            FallbackFormat::Original,
            ImageFormat::Webp,
            ImageFormat::Webp,
        ),
    ] {
        let encode = EncodeOptions {
            format: O::Avif,
            avif_fallback: Some(AvifFallback {
                max_pixels: 1_500_000,
                to,
            }),
            ..EncodeOptions::default()
        };
        assert_eq!(animated_output(&encode, source), Some(want), "{to:?}");
    }
    let limits = Limits::default();
    assert_eq!(limits.max_frames, 100);
    assert!(!limits.frames_strict);
}

/// The corpus's animated GIFs: frame for frame the same canvases as
/// `image`'s own compositor, and as many frames and delays through the
/// whole job.
#[test]
fn corpus_gifs_compose_like_image_rs_and_keep_their_frames() {
    let names = [
        "valid/gif/chi.gif",
        "valid/gif/iss634.gif",
        "valid/gif/moon_impact.gif",
        "valid/gif/dispose_bgnd.gif",
        "valid/gif/dispose_none.gif",
        "valid/gif/dispose_prev.gif",
        "valid/gif/anim_mixed-disposal.gif",
        "valid/gif/anim_any-disposal.gif",
        "valid/gif/anim_border_touching_layers.gif",
        "valid/gif/transparent_dispose.gif",
        "valid/gif/anim-gr.gif",
    ];
    for name in names {
        let Some(data) = corpus_file(name) else {
            return;
        };
        let reference = GifDecoder::new(std::io::Cursor::new(&data[..]))
            .unwrap()
            .into_frames()
            .collect_frames()
            .unwrap();
        let header = crate::format::read_header(&data, ImageFormat::Gif).unwrap();
        let ours: Vec<Frame> = GifFrames::open(&data, header.width, header.height, 1000)
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(ours.len(), reference.len(), "{name}");
        for (i, (a, b)) in ours.iter().zip(&reference).enumerate() {
            assert_eq!(a.canvas.data, b.buffer().as_raw()[..], "{name} frame {i}");
            let (n, d) = b.delay().numer_denom_ms();
            assert_eq!(a.delay_ms, n / d, "{name} frame {i}");
        }
        let t = make_thumbnail(&data, &job(64, OutputFormat::Webp)).unwrap();
        let s = seen_webp(&t.bytes);
        assert!(
            s.sizes.iter().all(|&size| size == (t.width, t.height)),
            "{name}"
        );
        // libwebp merges frames that do not change into the one before;
        // the time on screen adds up the same.
        assert!(s.sizes.len() <= ours.len(), "{name}");
        let total = |d: &[u32]| d.iter().sum::<u32>();
        let ours_delays: Vec<u32> = ours.iter().map(|f| f.delay_ms).collect();
        assert_eq!(total(&s.delays_ms), total(&ours_delays), "{name}");
        let t = make_thumbnail(&data, &job(64, OutputFormat::Original)).unwrap();
        let s = seen_gif(&t.bytes);
        assert_eq!(s.sizes.len(), ours.len(), "{name}");
        let rounded: Vec<u32> = ours_delays.iter().map(|d| d / 10 * 10).collect();
        assert_eq!(s.delays_ms, rounded, "{name}");
    }
}

/// A screen over the pixel limit is too large whatever is asked for, even
/// when walking its frames would fail first (these two are cut short).
#[test]
fn a_canvas_over_the_limit_is_too_large_before_its_frames_are_walked() {
    for name in [
        "invalid/gif/issue-101-infinite-empty-loop.gif",
        "invalid/gif/issue-96-small-codesize-2.gif",
    ] {
        let Some(data) = corpus_file(name) else {
            return;
        };
        for format in [
            OutputFormat::Original,
            OutputFormat::Webp,
            OutputFormat::Jpeg,
        ] {
            let job = Job::sized(Some(64), Some(64), Fit::Fit, format);
            let refused = make_thumbnail(&data, &job).unwrap_err();
            assert_eq!(refused.class(), ErrorClass::TooLarge, "{name} {format:?}");
        }
    }
}

//! Animations kept: an animated GIF comes out an animated GIF (format
//! `original` or `gif`) or an animated WebP (`webp`), every frame resized
//! with its delay and the loop count kept; an animated WebP in stays
//! animated. Past `image_filter_rs_max_frames` the answer is a still of the
//! first frame, or 413 with `strict`; `frame=0` (query or preset) and the
//! still formats give the first frame. Under `auto` the animation follows
//! the negotiated format (an AVIF is written as its WebP fallback), each
//! answer in its own cache file; `image_filter_rs_max_pixels` counts every
//! frame kept. The originals are made here, five flat frames of different
//! colours, so every frame can be told apart.

use std::io::Cursor;
use std::time::Duration;

use image::codecs::webp::WebPDecoder;
use image::{AnimationDecoder, Rgba};
use image_filter_rs_tests::cache::files_under;
use image_filter_rs_tests::images::decode;
use image_filter_rs_tests::{wait_until, Nginx, Request, Response};

const CACHE_HTTP: &str = "image_filter_rs_cache_path @PREFIX@/cache keys_zone=t:1m;";

/// The frames of the original: colour and delay in hundredths.
const FRAMES: [([u8; 3], u16); 5] = [
    ([220, 30, 30], 10),
    ([30, 200, 40], 20),
    ([40, 60, 220], 30),
    ([230, 220, 40], 40),
    ([250, 250, 250], 50),
];
/// Plays four times: once, then three more.
const REPEATS: u16 = 3;

/// A 200x100 animated GIF of [`FRAMES`].
fn animated_gif() -> Vec<u8> {
    let (w, h) = (200u16, 100u16);
    let mut out = Vec::new();
    {
        let mut encoder = gif::Encoder::new(&mut out, w, h, &[]).expect("gif encoder");
        encoder
            .set_repeat(gif::Repeat::Finite(REPEATS))
            .expect("repeat");
        for (rgb, delay) in FRAMES {
            let mut rgba: Vec<u8> = (0..usize::from(w) * usize::from(h))
                .flat_map(|_| [rgb[0], rgb[1], rgb[2], 255])
                .collect();
            let mut frame = gif::Frame::from_rgba_speed(w, h, &mut rgba, 10);
            frame.delay = delay;
            encoder.write_frame(&frame).expect("gif frame");
        }
    }
    out
}

/// A GIF's frames as composed RGBA, their delays in hundredths, its
/// repeat, and its size.
struct GifAnswer {
    frames: Vec<(image::RgbaImage, u16)>,
    repeat: gif::Repeat,
    size: (u32, u32),
}

fn read_gif(bytes: &[u8]) -> GifAnswer {
    let mut options = gif::DecodeOptions::new();
    options.set_color_output(gif::ColorOutput::RGBA);
    let mut decoder = options.read_info(Cursor::new(bytes)).expect("a GIF");
    let size = (u32::from(decoder.width()), u32::from(decoder.height()));
    // Every frame the module writes covers the whole canvas or draws on the
    // previous one; compose the simple way.
    let mut canvas = image::RgbaImage::new(size.0, size.1);
    let mut frames = Vec::new();
    while let Some(frame) = decoder.read_next_frame().expect("a GIF frame") {
        let patch = image::RgbaImage::from_raw(
            u32::from(frame.width),
            u32::from(frame.height),
            frame.buffer.to_vec(),
        )
        .expect("frame buffer");
        for (x, y, p) in patch.enumerate_pixels() {
            if p[3] > 0 {
                canvas.put_pixel(u32::from(frame.left) + x, u32::from(frame.top) + y, *p);
            }
        }
        frames.push((canvas.clone(), frame.delay));
    }
    let repeat = decoder.repeat();
    GifAnswer {
        frames,
        repeat,
        size,
    }
}

/// An animated WebP's frames and delays in milliseconds, and the loop
/// count of its ANIM chunk (0 = forever).
fn read_webp(bytes: &[u8]) -> (Vec<(image::RgbaImage, u32)>, u16) {
    let anim = bytes
        .windows(4)
        .position(|w| w == b"ANIM")
        .expect("an animated WebP has an ANIM chunk");
    // fourcc, size (4), background colour (4), loop count (2, LE).
    let loops = u16::from_le_bytes([bytes[anim + 12], bytes[anim + 13]]);
    let decoder = WebPDecoder::new(Cursor::new(bytes)).expect("a WebP");
    let frames = decoder
        .into_frames()
        .collect_frames()
        .expect("WebP frames")
        .into_iter()
        .map(|f| {
            let (num, den) = f.delay().numer_denom_ms();
            (f.into_buffer(), num / den.max(1))
        })
        .collect();
    (frames, loops)
}

fn assert_colour(what: &str, got: &Rgba<u8>, want: [u8; 3]) {
    for c in 0..3 {
        assert!(
            got[c].abs_diff(want[c]) <= 12,
            "{what}: pixel {got:?}, want about {want:?}"
        );
    }
    assert_eq!(got[3], 255, "{what}: opaque");
}

/// A 100x50 animated GIF answer holding every frame of [`FRAMES`], with
/// their colours and delays and the loop count.
fn assert_animated_gif(what: &str, body: &[u8]) {
    let gif = read_gif(body);
    assert_eq!(gif.size, (100, 50), "{what}");
    assert_eq!(gif.frames.len(), FRAMES.len(), "{what}: frame count");
    assert_eq!(gif.repeat, gif::Repeat::Finite(REPEATS), "{what}: loop");
    for (i, ((canvas, delay), (rgb, want_delay))) in gif.frames.iter().zip(FRAMES).enumerate() {
        assert_eq!(*delay, want_delay, "{what}: delay of frame {i}");
        for (x, y) in [(0, 0), (50, 25), (99, 49)] {
            assert_colour(
                &format!("{what} frame {i} ({x},{y})"),
                canvas.get_pixel(x, y),
                rgb,
            );
        }
    }
}

/// The same for an animated WebP answer, whose delays are milliseconds.
fn assert_animated_webp(what: &str, body: &[u8]) {
    let (frames, loops) = read_webp(body);
    assert_eq!(frames.len(), FRAMES.len(), "{what}: frame count");
    assert_eq!(loops, REPEATS + 1, "{what}: WebP counts every play");
    for (i, ((canvas, delay), (rgb, want_cs))) in frames.iter().zip(FRAMES).enumerate() {
        assert_eq!(canvas.dimensions(), (100, 50), "{what}: frame {i}");
        assert_eq!(
            *delay,
            u32::from(want_cs) * 10,
            "{what}: delay of frame {i} in ms"
        );
        assert_colour(&format!("{what} frame {i}"), canvas.get_pixel(50, 25), rgb);
    }
}

fn location(path: &str, settings: &str) -> String {
    format!(
        "location {path} {{ alias @MEDIA@/; image_filter_rs_cache t; {settings} \
         add_header X-Cache-Status $image_filter_rs_cache_status; }}"
    )
}

fn start() -> Nginx {
    Nginx::builder()
        .http(CACHE_HTTP)
        .http("image_filter_rs_preset still 100x50 frame=0;")
        .server(&location("/orig/", "image_filter_rs 100x100;"))
        .server(&location(
            "/gif/",
            "image_filter_rs 100x100; image_filter_rs_format gif;",
        ))
        .server(&location(
            "/webp/",
            "image_filter_rs 100x100; image_filter_rs_format webp;",
        ))
        .server(&location(
            "/jpeg/",
            "image_filter_rs 100x100; image_filter_rs_format jpeg;",
        ))
        .server(&location(
            "/three/",
            "image_filter_rs 100x100; image_filter_rs_max_frames 3;",
        ))
        .server(&location(
            "/strict/",
            "image_filter_rs 100x100; image_filter_rs_max_frames 3 strict;",
        ))
        .server(&location(
            "/q/",
            "image_filter_rs query; image_filter_rs_sizes 100x50;",
        ))
        .server(&location(
            "/qstrict/",
            "image_filter_rs query; image_filter_rs_sizes 100x50; \
             image_filter_rs_max_frames 3 strict;",
        ))
        .server(&location(
            "/auto/",
            "image_filter_rs 100x100; image_filter_rs_format auto;",
        ))
        // 200x100 is 20,000 pixels a frame: one frame fits in 30k, all five
        // do not; 100k holds the five exactly.
        .server(&location(
            "/tight/",
            "image_filter_rs query; image_filter_rs_sizes 100x50; \
             image_filter_rs_max_pixels 30000;",
        ))
        .server(&location(
            "/roomy/",
            "image_filter_rs 100x100; image_filter_rs_max_pixels 100k;",
        ))
        .file("media/anim.gif", animated_gif())
        .start()
}

#[test]
fn animated_gif_keeps_frames_delays_and_loop() {
    let nginx = start();
    for path in ["/orig/anim.gif", "/gif/anim.gif", "/q/anim.gif?w=100&h=50"] {
        let resp = nginx.get(path);
        resp.assert_status(200);
        assert_eq!(resp.headers_named("Content-Type"), ["image/gif"], "{path}");
        assert_animated_gif(path, &resp.body);
    }
}

#[test]
fn animated_webp_out_and_in() {
    let nginx = start();
    let resp = nginx.get("/webp/anim.gif");
    resp.assert_status(200);
    assert_eq!(resp.headers_named("Content-Type"), ["image/webp"]);
    assert_animated_webp("/webp/anim.gif", &resp.body);
    // That WebP as an original: animated WebP in, animated WebP out.
    std::fs::write(nginx.media_dir().join("anim.webp"), &resp.body).expect("write webp");
    for path in ["/orig/anim.webp", "/webp/anim.webp"] {
        let again = nginx.get(path);
        again.assert_status(200);
        assert_eq!(
            again.headers_named("Content-Type"),
            ["image/webp"],
            "{path}"
        );
        assert_animated_webp(path, &again.body);
    }
}

/// A still: one frame, the first one's colour.
fn assert_still_gif(what: &str, body: &[u8]) {
    let gif = read_gif(body);
    assert_eq!(gif.frames.len(), 1, "{what}: a still");
    assert_colour(what, gif.frames[0].0.get_pixel(50, 25), FRAMES[0].0);
}

#[test]
fn frame_limit_still_or_413_and_frame_zero() {
    let nginx = start();
    let three = nginx.get("/three/anim.gif");
    three.assert_status(200);
    assert_eq!(three.headers_named("Content-Type"), ["image/gif"]);
    assert_still_gif("five frames over a limit of three", &three.body);

    let strict = nginx.get("/strict/anim.gif");
    strict.assert_status(413);
    let lines = nginx.error_log_lines_with(&["over the 3-frame limit"]);
    assert_eq!(lines.len(), 1, "one error-log line:\n{}", nginx.error_log());

    // A still asked for is within a strict limit too, by query or preset.
    for path in [
        "/q/anim.gif?w=100&h=50&frame=0",
        "/q/anim.gif?p=still",
        "/qstrict/anim.gif?w=100&h=50&frame=0",
        "/qstrict/anim.gif?p=still",
    ] {
        let still = nginx.get(path);
        still.assert_status(200);
        assert_still_gif(path, &still.body);
    }
    assert_eq!(nginx.get("/qstrict/anim.gif?w=100&h=50").status, 413);
    // The still has its own cache entry: the animation is still there.
    let animated = nginx.get("/q/anim.gif?w=100&h=50");
    animated.assert_status(200);
    assert_eq!(read_gif(&animated.body).frames.len(), FRAMES.len());
    assert_eq!(nginx.get("/q/anim.gif?w=100&h=50&frame=1").status, 400);

    // A still format: the first frame.
    let jpeg = nginx.get("/jpeg/anim.gif");
    jpeg.assert_status(200);
    let decoded = decode(&jpeg.body);
    assert_eq!(decoded.dims(), (100, 50));
    assert_colour(
        "JPEG of an animation",
        &decoded.image.to_rgba8().get_pixel(50, 25).clone(),
        FRAMES[0].0,
    );
}

fn get_accepting(nginx: &Nginx, path: &str, accept: Option<&str>) -> Response {
    let resp = nginx.request(&Request::get(path).optional_header("Accept", accept));
    assert_eq!(resp.status, 200, "{path} {accept:?}\n{}", resp.describe());
    resp
}

#[test]
fn auto_keeps_the_animation_in_each_negotiated_format_cached_apart() {
    let nginx = start();
    let path = "/auto/anim.gif";
    // AVIF sequences are not written, so the client that prefers AVIF gets
    // the WebP fallback, animated, under a key of its own.
    let cases = [
        (Some("image/webp"), "image/webp"),
        (Some("image/avif,image/webp"), "image/webp"),
        (None, "image/gif"),
    ];
    let mut original = None;
    for (accept, want) in cases {
        let miss = get_accepting(&nginx, path, accept);
        let hit = get_accepting(&nginx, path, accept);
        for (resp, status) in [(&miss, "MISS"), (&hit, "HIT")] {
            let what = format!("{accept:?}, {status}");
            assert_eq!(resp.headers_named("X-Cache-Status"), [status], "{what}");
            assert_eq!(resp.headers_named("Content-Type"), [want], "{what}");
            assert_eq!(resp.headers_named("Vary"), ["Accept"], "{what}");
        }
        assert!(
            hit.body == miss.body,
            "{accept:?}: the hit ({} bytes) is not the file the miss wrote ({} bytes)",
            hit.body.len(),
            miss.body.len()
        );
        let what = format!("{path} {accept:?}");
        if want == "image/webp" {
            assert_animated_webp(&what, &miss.body);
        } else {
            assert_animated_gif(&what, &miss.body);
            original = Some(miss.body);
        }
    }
    // Every client sends `*/*`, so it earns no format: the original's
    // answer, from the file the Accept-less request wrote.
    let any = get_accepting(&nginx, path, Some("*/*"));
    assert_eq!(any.headers_named("X-Cache-Status"), ["HIT"]);
    assert_eq!(any.headers_named("Content-Type"), ["image/gif"]);
    assert_eq!(any.headers_named("Vary"), ["Accept"]);
    assert!(Some(&any.body) == original.as_ref(), "*/* shares the GIF");
    let files = files_under(&nginx.path("cache"));
    assert_eq!(files.len(), 3, "WebP, AVIF's fallback, GIF: {files:?}");
    nginx.stop_and_check();
}

#[test]
fn pixel_limit_counts_every_kept_frame() {
    let nginx = start();
    // A GIF and an animated WebP keep all five frames; both are refused.
    for refused in [
        "/tight/anim.gif?w=100&h=50",
        "/tight/anim.gif?w=100&h=50&fm=webp",
    ] {
        nginx.get(refused).assert_status(413);
        let request = format!("request: \"GET {refused} HTTP/1.1\"");
        let lines = wait_until(
            "the refusal's error-log line",
            Duration::from_secs(10),
            || {
                let lines = nginx.error_log_lines_with(&[&request]);
                (!lines.is_empty()).then_some(lines)
            },
        );
        assert_eq!(lines.len(), 1, "one line for {refused}: {lines:#?}");
        assert!(
            lines[0].contains("image is 200x100 x 5 frames, over the 30000-pixel limit"),
            "{refused}: {}",
            lines[0]
        );
    }
    // A still keeps one frame, which fits.
    for still in [
        "/tight/anim.gif?w=100&h=50&frame=0",
        "/tight/anim.gif?p=still",
    ] {
        let resp = nginx.get(still);
        resp.assert_status(200);
        assert_eq!(resp.headers_named("Content-Type"), ["image/gif"], "{still}");
        assert_still_gif(still, &resp.body);
    }
    let jpeg = nginx.get("/tight/anim.gif?w=100&h=50&fm=jpeg");
    jpeg.assert_status(200);
    let decoded = decode(&jpeg.body);
    assert_eq!(decoded.dims(), (100, 50));
    assert_colour(
        "JPEG under the tight limit",
        decoded.image.to_rgba8().get_pixel(50, 25),
        FRAMES[0].0,
    );
    // The stills were not refused on the way.
    let refusals = nginx.error_log_lines_with(&["-pixel limit"]);
    assert_eq!(refusals.len(), 2, "{refusals:#?}");

    // All five frames at exactly the limit: the limit is inclusive.
    let roomy = nginx.get("/roomy/anim.gif");
    roomy.assert_status(200);
    assert_eq!(roomy.headers_named("Content-Type"), ["image/gif"]);
    assert_animated_gif("/roomy/anim.gif", &roomy.body);
    nginx.stop_and_check();
}

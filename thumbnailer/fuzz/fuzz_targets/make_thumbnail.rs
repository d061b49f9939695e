//! Fuzzes the whole pipeline on arbitrary bytes. The last input byte also
//! picks the job (box, fit, output format, a still of an animation), so one
//! corpus covers every path and unmodified image files work as seeds (bytes
//! after an image's end are ignored by every format). Any panic, hang or
//! out-of-memory is a finding; typed errors are the expected outcome for
//! most inputs.
#![no_main]

use libfuzzer_sys::fuzz_target;
use thumbnailer::{make_thumbnail, Fit, Job, Limits, OutputFormat};

fuzz_target!(|data: &[u8]| {
    let Some(&selector) = data.last() else {
        return;
    };
    let image = data;
    let sizes = [
        (Some(64), Some(64)),
        (Some(1), None),
        (None, Some(33)),
        (Some(350), Some(7)),
    ];
    let (width, height) = sizes[usize::from(selector & 3)];
    let fit = if selector & 4 == 0 {
        Fit::Fit
    } else {
        Fit::Crop
    };
    // Bit 6 swaps in the GIF and AVIF writers for the same two bits.
    let format = match ((selector >> 3) & 3, selector & 0x40 != 0) {
        (0, false) => OutputFormat::Original,
        (1, false) => OutputFormat::Jpeg,
        (2, false) => OutputFormat::Png,
        (_, false) => OutputFormat::Webp,
        (0 | 2, true) => OutputFormat::Gif,
        (_, true) => OutputFormat::Avif,
    };
    let mut job = Job::sized(width, height, fit, format);
    job.encode.interlace = selector & 0x20 != 0;
    // Small enough that a fuzzer's RSS limit is never the finding.
    job.limits = Limits {
        max_pixels: 4_000_000,
        max_source_size: 1 << 20,
        // Animated GIF and WebP originals are walked frame by frame unless
        // a still is asked for.
        max_frames: if selector & 0x80 != 0 { 1 } else { 100 },
        ..Limits::default()
    };
    let _ = make_thumbnail(image, &job);
});

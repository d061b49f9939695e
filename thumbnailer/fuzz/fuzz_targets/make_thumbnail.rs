//! Fuzzes the whole pipeline on arbitrary bytes. The last input byte also
//! picks the job (box, fit, output format), so one corpus covers every path
//! and unmodified image files work as seeds (bytes after an image's end are
//! ignored by every format). Any panic, hang or out-of-memory is a finding; typed
//! errors are the expected outcome for most inputs.
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
    let format = match (selector >> 3) & 3 {
        0 => OutputFormat::Original,
        1 => OutputFormat::Jpeg,
        2 => OutputFormat::Png,
        _ => OutputFormat::Webp,
    };
    let mut job = Job::sized(width, height, fit, format);
    job.encode.interlace = selector & 0x20 != 0;
    // Small enough that a fuzzer's RSS limit is never the finding.
    job.limits = Limits {
        max_pixels: 4_000_000,
        max_source_size: 1 << 20,
        ..Limits::default()
    };
    let _ = make_thumbnail(image, &job);
});

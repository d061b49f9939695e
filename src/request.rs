//! From a request to the one job it asks for: the location's fixed size, a
//! size built from variables, the query parameters (with a preset, a
//! signature, the sizes allow-list, the dpr and output caps) or a Django
//! library's rendition name (read by the handler, see `crate::names`), and
//! the output format, negotiated from `Accept` when it is `auto`.
//!
//! Everything a client can put in the request is checked here, before any
//! file is touched, and every refusal is a 400 or 403 with a short reason.

use ngx::ffi::ngx_http_request_t;
use thumbnailer::accept;
use thumbnailer::names::Named;
use thumbnailer::query::{parse_query, QueryParams};
use thumbnailer::signature;
use thumbnailer::{
    AvifFallback, ErrorClass, Flip, Geometry, Job, OutputFormat, Rotation, DEFAULT_AVIF_MAX_PIXELS,
};

use crate::conf::{Filter, FormatChoice, LocationConf, Preset, SizeRule};
use crate::errors::{Class, Refusal};
use crate::values::{evaluate, printable};

/// The job, and whether its format was chosen from `Accept` (so the
/// response must say `Vary: Accept`).
pub struct Resolved {
    pub job: Job,
    pub negotiated: bool,
    pub mode: Mode,
}

/// What the location answers with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Thumbnail,
    /// `image_filter_rs size`: the original's size and type as JSON.
    Size,
    /// `image_filter_rs test`: the original itself, if it is an image.
    Test,
}

/// `named` is what the rendition's name says, in the library-name modes.
pub fn resolve(
    r: &mut ngx_http_request_t,
    lcf: &LocationConf,
    named: Option<&Named>,
) -> Result<Resolved, Refusal> {
    let mut job = Job {
        encode: lcf.encode_options(),
        limits: lcf.limits(),
        ..Job::default()
    };
    resolve_location_values(r, lcf, &mut job)?;
    let mut format = lcf.format_choice(r)?;
    match lcf.filter {
        Some(Filter::Size) => {
            // Only the header is read: the pixel limit, which guards
            // decoding, has nothing to guard.
            job.limits.max_pixels = u64::MAX;
            return Ok(Resolved {
                job,
                negotiated: false,
                mode: Mode::Size,
            });
        }
        Some(Filter::Test) => {
            return Ok(Resolved {
                job,
                negotiated: false,
                mode: Mode::Test,
            })
        }
        _ => {}
    }
    let from_request = match lcf.filter {
        Some(Filter::Resize(geometry)) => {
            // The location's turn and flip, resolved above, stay.
            job.geometry = Geometry {
                rotate: job.geometry.rotate,
                flip: job.geometry.flip,
                ..geometry
            };
            false
        }
        Some(Filter::Preset(preset)) => {
            apply_preset(&mut job, &mut format, preset);
            false
        }
        Some(Filter::Variable(ref variable)) => {
            let text = evaluate(r, variable.size)?;
            let (width, height) = Geometry::parse_size(&text)
                .map_err(|_| bad_request(format!("invalid size \"{}\"", printable(&text))))?;
            job.geometry.width = width;
            job.geometry.height = height;
            job.geometry.fit = variable.fit;
            true
        }
        Some(Filter::Query) => {
            let args = r.args.as_bytes().to_vec();
            let params = parse_query(&args).map_err(Refusal::from)?;
            check_signature(r, lcf, &args, &params)?;
            if params.info {
                // `image_filter size` by query: the original's size, which
                // needs no allowed size of its own.
                job.limits.max_pixels = u64::MAX;
                return Ok(Resolved {
                    job,
                    negotiated: false,
                    mode: Mode::Size,
                });
            }
            apply_query(&mut job, &mut format, lcf, &params)?;
            true
        }
        Some(Filter::Names(_)) => {
            let named = named.ok_or_else(|| {
                Refusal::new(Class::Image(ErrorClass::Internal), "no rendition name")
            })?;
            crate::names::apply(&mut job, named);
            true
        }
        _ => {
            return Err(Refusal::new(
                Class::Image(ErrorClass::Internal),
                "no filter",
            ))
        }
    };
    if from_request {
        // A library's name must be served at the size it says, so `snap`
        // does not apply: a size not listed is refused.
        let exact = named.is_some();
        check_size(&mut job, lcf, exact)?;
    }
    if named.is_some() {
        // The name's format, set by `names::apply`, stands.
        return Ok(Resolved {
            job,
            negotiated: false,
            mode: Mode::Thumbnail,
        });
    }
    let negotiated = format == FormatChoice::Auto;
    job.encode.format = match format {
        FormatChoice::Auto => {
            let (format, fallback) = negotiate(r, lcf);
            job.encode.avif_fallback = fallback;
            format
        }
        other => output_format(other),
    };
    Ok(Resolved {
        job,
        negotiated,
        mode: Mode::Thumbnail,
    })
}

fn apply_preset(job: &mut Job, format: &mut FormatChoice, preset: &Preset) {
    // The location's turn, flip and sharpening stand unless the preset
    // says otherwise.
    let (rotate, flip, sharpen) = (job.geometry.rotate, job.geometry.flip, job.adjust.sharpen);
    job.geometry = preset.geometry;
    job.adjust = preset.adjust;
    if job.geometry.rotate == Rotation::None {
        job.geometry.rotate = rotate;
    }
    if job.geometry.flip == Flip::None {
        job.geometry.flip = flip;
    }
    if job.adjust.sharpen == 0 {
        job.adjust.sharpen = sharpen;
    }
    if let Some(quality) = preset.quality {
        job.encode.jpeg_quality = quality;
        job.encode.webp_quality = quality;
        job.encode.avif_quality = quality;
    }
    if let Some(preset_format) = preset.format {
        *format = preset_format;
    }
    if preset.still {
        job.limits.ask_still();
    }
}

fn apply_query(
    job: &mut Job,
    format: &mut FormatChoice,
    lcf: &LocationConf,
    params: &QueryParams,
) -> Result<(), Refusal> {
    if let Some(name) = &params.preset {
        let preset = lcf
            .preset_named(name)
            .ok_or_else(|| bad_request(format!("unknown preset \"{}\"", printable(name))))?;
        apply_preset(job, format, preset);
    }
    if params.width.is_some() || params.height.is_some() {
        job.geometry.width = params.width;
        job.geometry.height = params.height;
    }
    if let Some(fit) = params.fit {
        job.geometry.fit = fit;
    }
    if let Some(gravity) = params.gravity {
        job.geometry.gravity = gravity;
    }
    if params.focal.is_some() {
        job.geometry.focal = params.focal;
    }
    if let Some(quality) = params.quality {
        job.encode.jpeg_quality = quality;
        job.encode.webp_quality = quality;
        job.encode.avif_quality = quality;
    }
    if let Some(rotate) = params.rotate {
        job.geometry.rotate = rotate;
    }
    if params.still {
        job.limits.ask_still();
    }
    if let Some(flip) = params.flip {
        job.geometry.flip = flip;
    }
    if let Some(sharpen) = params.sharpen {
        job.adjust.sharpen = sharpen;
    }
    if params.blur.is_some() {
        job.adjust.blur = params.blur;
    }
    if let Some(requested) = params.format {
        *format = FormatChoice::from_param(requested)
            .ok_or_else(|| bad_request("this server cannot write that output format"))?;
    }
    if let Some(dpr) = params.dpr {
        if u32::from(dpr) > lcf.max_dpr() {
            return Err(bad_request(format!(
                "dpr is over the {} limit",
                f64::from(lcf.max_dpr()) / 100.0
            )));
        }
        let scale = |side: Option<u32>| side.map(|s| (u64::from(s) * u64::from(dpr)).div_ceil(100));
        job.geometry.width = scale(job.geometry.width).map(|s| s.min(u64::from(u32::MAX)) as u32);
        job.geometry.height = scale(job.geometry.height).map(|s| s.min(u64::from(u32::MAX)) as u32);
    }
    if job.geometry.width.is_none() && job.geometry.height.is_none() {
        return Err(bad_request("no size: give w, h or p"));
    }
    Ok(())
}

/// The output cap, then the allow-list: either exact, or snapped to the
/// smallest allowed size that is at least as large.
fn check_size(job: &mut Job, lcf: &LocationConf, exact: bool) -> Result<(), Refusal> {
    let max = lcf.max_output();
    let (w, h) = (job.geometry.width, job.geometry.height);
    if w.is_some_and(|w| w > max) || h.is_some_and(|h| h > max) {
        return Err(bad_request(format!(
            "requested size is over the {max}-pixel image_filter_rs_max_output"
        )));
    }
    let Some(rule) = lcf.sizes() else {
        return Ok(());
    };
    if rule.sizes.iter().any(|&(aw, ah)| aw == w && ah == h) {
        return Ok(());
    }
    if !rule.snap || exact {
        return Err(bad_request("size not allowed here"));
    }
    match snap(rule, w, h) {
        Some((sw, sh)) => {
            job.geometry.width = sw;
            job.geometry.height = sh;
            Ok(())
        }
        None => Err(bad_request("no allowed size is that large")),
    }
}

/// The smallest allowed size covering the request on every side it names.
pub fn snap(rule: &SizeRule, w: Option<u32>, h: Option<u32>) -> Option<(Option<u32>, Option<u32>)> {
    let covers = |allowed: Option<u32>, wanted: Option<u32>| match (allowed, wanted) {
        (_, None) => true,
        (None, Some(_)) => true,
        (Some(a), Some(b)) => a >= b,
    };
    rule.sizes
        .iter()
        .copied()
        .filter(|&(aw, ah)| covers(aw, w) && covers(ah, h))
        .min_by_key(|&(aw, ah)| {
            u64::from(aw.unwrap_or(u32::MAX)) * u64::from(ah.unwrap_or(u32::MAX))
        })
}

fn check_signature(
    r: &ngx_http_request_t,
    lcf: &LocationConf,
    args: &[u8],
    params: &QueryParams,
) -> Result<(), Refusal> {
    let keys = lcf.secrets();
    if keys.is_empty() {
        return Ok(());
    }
    let Some(signature) = &params.signature else {
        return Err(Refusal::new(Class::Forbidden, "missing signature"));
    };
    // The path as the client sent it (percent-encoded), which is what a
    // signer has in hand; nginx's decoded `uri` would differ for any name
    // with spaces or non-ASCII characters.
    let raw = r.unparsed_uri.as_bytes();
    let path = raw.split(|&b| b == b'?').next().unwrap_or(raw);
    if signature::verify(keys, path, args, signature) {
        Ok(())
    } else {
        Err(Refusal::new(Class::Forbidden, "bad signature"))
    }
}

/// The best format `Accept` allows: AVIF (up to the location's pixel
/// count), else WebP, else the original's.
fn negotiate(r: &ngx_http_request_t, lcf: &LocationConf) -> (OutputFormat, Option<AvifFallback>) {
    // SAFETY: `accept` is null or a header element of this request.
    let accept = unsafe { r.headers_in.accept.as_ref() }
        .map(|h| h.value.as_bytes())
        .unwrap_or_default();
    let max_pixels = lcf.avif_max_pixels.unwrap_or(DEFAULT_AVIF_MAX_PIXELS);
    accept::negotiate(accept, max_pixels)
}

fn output_format(format: FormatChoice) -> OutputFormat {
    match format {
        FormatChoice::Jpeg => OutputFormat::Jpeg,
        FormatChoice::Png => OutputFormat::Png,
        FormatChoice::Webp => OutputFormat::Webp,
        FormatChoice::Gif => OutputFormat::Gif,
        FormatChoice::Avif => OutputFormat::Avif,
        FormatChoice::Original | FormatChoice::Auto => OutputFormat::Original,
        FormatChoice::Placeholder(kind) => OutputFormat::Placeholder(kind),
    }
}

fn bad_request(message: impl Into<String>) -> Refusal {
    Refusal::new(Class::Image(ErrorClass::BadRequest), message)
}

/// The location's settings that may come from variables, for this request.
/// A preset or query parameter applied afterwards may still refine them.
fn resolve_location_values(
    r: &mut ngx_http_request_t,
    lcf: &LocationConf,
    job: &mut Job,
) -> Result<(), Refusal> {
    use crate::conf::{parse_quality, parse_rotation, parse_sharpen};
    if let Some(quality) = lcf.jpeg_quality {
        if let Some(q) = quality.resolve(r, "image_filter_rs_jpeg_quality", parse_quality)? {
            job.encode.jpeg_quality = q;
        }
    }
    if let Some(quality) = lcf.webp_quality {
        if let Some(q) = quality.resolve(r, "image_filter_rs_webp_quality", parse_quality)? {
            job.encode.webp_quality = q;
        }
    }
    if let Some(rotate) = lcf.rotate {
        if let Some(degrees) = rotate.resolve(r, "image_filter_rs_rotate", parse_rotation)? {
            job.geometry.rotate = degrees;
        }
    }
    if let Some(sharpen) = lcf.sharpen {
        if let Some(percent) = sharpen.resolve(r, "image_filter_rs_sharpen", parse_sharpen)? {
            job.adjust.sharpen = percent;
        }
    }
    if let Some(flip) = lcf.flip {
        job.geometry.flip = flip;
    }
    Ok(())
}

//! From a request to the one job it asks for: the location's fixed size, a
//! size built from variables, or the query parameters (with a preset, a
//! signature, the sizes allow-list, the dpr and output caps), and the output
//! format, negotiated from `Accept` when it is `auto`.
//!
//! Everything a client can put in the request is checked here, before any
//! file is touched, and every refusal is a 400 or 403 with a short reason.

use ngx::ffi::{ngx_http_complex_value, ngx_http_request_t, ngx_str_t, NGX_OK};
use thumbnailer::query::{parse_query, QueryParams};
use thumbnailer::signature;
use thumbnailer::{ErrorClass, Geometry, Job, OutputFormat};

use crate::conf::{Filter, FormatChoice, LocationConf, Preset, SizeRule};
use crate::errors::{Class, Refusal};

/// The job, and whether its format was chosen from `Accept` (so the
/// response must say `Vary: Accept`).
pub struct Resolved {
    pub job: Job,
    pub negotiated: bool,
}

pub fn resolve(r: &mut ngx_http_request_t, lcf: &LocationConf) -> Result<Resolved, Refusal> {
    let mut job = Job {
        encode: lcf.encode_options(),
        limits: lcf.limits(),
        ..Job::default()
    };
    let mut format = lcf.format_choice();
    let from_request = match lcf.filter {
        Some(Filter::Resize(geometry)) => {
            job.geometry = geometry;
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
            apply_query(&mut job, &mut format, lcf, &params)?;
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
        check_size(&mut job, lcf)?;
    }
    let negotiated = format == FormatChoice::Auto;
    job.encode.format = match format {
        FormatChoice::Auto => negotiate(r),
        other => output_format(other),
    };
    Ok(Resolved { job, negotiated })
}

fn apply_preset(job: &mut Job, format: &mut FormatChoice, preset: &Preset) {
    job.geometry = preset.geometry;
    job.adjust = preset.adjust;
    if let Some(quality) = preset.quality {
        job.encode.jpeg_quality = quality;
        job.encode.webp_quality = quality;
    }
    if let Some(preset_format) = preset.format {
        *format = preset_format;
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
    }
    if let Some(requested) = params.format {
        *format = requested.into();
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
fn check_size(job: &mut Job, lcf: &LocationConf) -> Result<(), Refusal> {
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
    if !rule.snap {
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

/// The best format `Accept` allows: WebP, else the original's.
fn negotiate(r: &ngx_http_request_t) -> OutputFormat {
    // SAFETY: `accept` is null or a header element of this request.
    let accept = unsafe { r.headers_in.accept.as_ref() }
        .map(|h| h.value.as_bytes())
        .unwrap_or_default();
    if accepts(accept, b"image/webp") {
        OutputFormat::Webp
    } else {
        OutputFormat::Original
    }
}

/// Whether an Accept header lists `mime` with a non-zero quality.
pub fn accepts(accept: &[u8], mime: &[u8]) -> bool {
    accept.split(|&b| b == b',').any(|item| {
        let mut parts = item.split(|&b| b == b';');
        let media = parts.next().unwrap_or_default().trim_ascii();
        if !media.eq_ignore_ascii_case(mime) {
            return false;
        }
        !parts.any(|p| {
            let p = p.trim_ascii();
            p.len() >= 2
                && p[..2].eq_ignore_ascii_case(b"q=")
                && p[2..].iter().all(|&b| b == b'0' || b == b'.')
        })
    })
}

fn output_format(format: FormatChoice) -> OutputFormat {
    match format {
        FormatChoice::Jpeg => OutputFormat::Jpeg,
        FormatChoice::Png => OutputFormat::Png,
        FormatChoice::Webp => OutputFormat::Webp,
        FormatChoice::Original | FormatChoice::Auto => OutputFormat::Original,
    }
}

fn evaluate(
    r: &mut ngx_http_request_t,
    value: *mut ngx::ffi::ngx_http_complex_value_t,
) -> Result<String, Refusal> {
    let mut out = ngx_str_t::empty();
    // SAFETY: `value` was compiled at configuration time and lives in the
    // configuration pool; nginx allocates the result in the request pool.
    let rc = unsafe { ngx_http_complex_value(r, value, &mut out) };
    if rc != NGX_OK as isize {
        return Err(Refusal::new(
            Class::Image(ErrorClass::Internal),
            "evaluating the size failed",
        ));
    }
    Ok(String::from_utf8_lossy(out.as_bytes()).into_owned())
}

fn bad_request(message: impl Into<String>) -> Refusal {
    Refusal::new(Class::Image(ErrorClass::BadRequest), message)
}

/// Client text for a log line or reason: printable ASCII only, bounded.
fn printable(text: &str) -> String {
    text.chars()
        .take(64)
        .map(|c| if c.is_ascii_graphic() { c } else { '?' })
        .collect()
}

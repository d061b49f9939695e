//! The handlers of the directives that set one value each: the cache,
//! thread pool and timing settings, the encoders' qualities and efforts,
//! the format, the limits. Each parses its arguments into the location's
//! or the http block's configuration; a second occurrence is a duplicate.

use super::*;

directive_handler!(
    pub(crate) cmd_cache_path,
    MainConf,
    |d, mcf| || match CachePath::configure(&mut d, &mcf.caches) {
        Ok(cache) => {
            mcf.caches.push(cache);
            let cache: &mut CachePath = mcf.caches.last_mut().expect("just pushed");
            match cache.register(d.cf) {
                Ok(()) => NGX_CONF_OK,
                Err(rv) => rv,
            }
        }
        Err(rv) => rv,
    }
);

directive_handler!(pub(crate) cmd_cache, LocationConf, |d, lcf| || {
    if !matches!(lcf.cache, CacheSetting::Unset) {
        return DUPLICATE;
    }
    let value = d.args[0];
    lcf.cache = if value.as_bytes() == b"off" {
        CacheSetting::Off
    } else {
        // Resolved in the merge: the zone may be declared further down
        // the http block.
        CacheSetting::Named(value)
    };
    NGX_CONF_OK
});

directive_handler!(pub(crate) cmd_thread_pool, LocationConf, |d, lcf| || {
    if !matches!(lcf.thread_pool, ThreadPoolSetting::Unset) {
        return DUPLICATE;
    }
    let value = d.args[0];
    lcf.thread_pool = if value.as_bytes() == b"off" {
        ThreadPoolSetting::Off
    } else {
        ThreadPoolSetting::Named(value)
    };
    NGX_CONF_OK
});

directive_handler!(pub(crate) cmd_lock_timeout, LocationConf, |d, lcf| || set_msec(
    &mut d,
    &mut lcf.lock_timeout
));

// Makes every generation in the location pause first, so tests can catch
// one in flight (a worker crash, a client leaving, a full queue). Not for
// production; documented as such.
directive_handler!(pub(crate) cmd_debug_delay, LocationConf, |d, lcf| || set_msec(
    &mut d,
    &mut lcf.debug_delay
));

/// Declares a directive whose one argument `parse` turns into a setting of
/// the `$conf` block (`LocationConf` or `MainConf`); anything `parse`
/// refuses is an invalid value, and a second occurrence a duplicate.
macro_rules! value_directive {
    ($name:ident, $conf:ident, $field:ident, $parse:expr) => {
        directive_handler!(pub(crate) $name, $conf, |d, conf| || {
            if conf.$field.is_some() {
                return DUPLICATE;
            }
            let value = d.args[0];
            let parse: fn(&[u8]) -> Option<_> = $parse;
            match parse(value.as_bytes()) {
                Some(parsed) => {
                    conf.$field = Some(parsed);
                    NGX_CONF_OK
                }
                None => d.invalid(&value),
            }
        });
    };
}

directive_handler!(pub(crate) cmd_jpeg_quality, LocationConf, |d, lcf| || set_valued(
    &mut d,
    &mut lcf.jpeg_quality,
    parse_quality
));
directive_handler!(pub(crate) cmd_webp_quality, LocationConf, |d, lcf| || set_valued(
    &mut d,
    &mut lcf.webp_quality,
    parse_quality
));
directive_handler!(pub(crate) cmd_rotate, LocationConf, |d, lcf| || set_valued(
    &mut d,
    &mut lcf.rotate,
    parse_rotation
));
directive_handler!(pub(crate) cmd_sharpen, LocationConf, |d, lcf| || set_valued(
    &mut d,
    &mut lcf.sharpen,
    parse_sharpen
));
value_directive!(cmd_flip, LocationConf, flip, parse_flip);
value_directive!(cmd_transparency, LocationConf, transparency, parse_on_off);

value_directive!(cmd_interlace, LocationConf, interlace, parse_on_off);
value_directive!(cmd_webp_effort, LocationConf, webp_effort, |v| {
    parse_decimal(v).filter(|&e| e <= 6).map(|e| e as u8)
});
value_directive!(cmd_avif_quality, LocationConf, avif_quality, parse_quality);
value_directive!(cmd_avif_speed, LocationConf, avif_speed, |v| {
    parse_decimal(v).filter(|&s| s <= 10).map(|s| s as u8)
});
value_directive!(cmd_avif_max_pixels, LocationConf, avif_max_pixels, |v| {
    match v {
        b"off" => Some(0),
        count => parse_count(count),
    }
});
value_directive!(cmd_background, LocationConf, background, parse_colour);
directive_handler!(pub(crate) cmd_format, LocationConf, |d, lcf| || set_valued(
    &mut d,
    &mut lcf.format,
    parse_format
));
value_directive!(cmd_max_output, LocationConf, max_output, |v| {
    parse_decimal(v).filter(|n| (1..=65535).contains(n))
});

value_directive!(cmd_memory, MainConf, memory_limit, parse_bytes);
// `off` is stored as 0 for both.
value_directive!(cmd_decode_cache, MainConf, decode_cache, |v| match v {
    b"off" => Some(0),
    size => parse_bytes(size),
});
value_directive!(cmd_concurrency, MainConf, concurrency, |v| match v {
    b"off" => Some(0),
    count => parse_decimal(count).filter(|&n| n > 0),
});

value_directive!(cmd_max_pixels, LocationConf, max_pixels, parse_count);
value_directive!(
    cmd_max_source_size,
    LocationConf,
    max_source_size,
    parse_bytes
);

directive_handler!(pub(crate) cmd_memory_timeout, MainConf, |d, mcf| || set_msec(
    &mut d,
    &mut mcf.memory_timeout
));

directive_handler!(pub(crate) cmd_max_frames, LocationConf, |d, lcf| || set_max_frames(
    &mut d,
    &mut lcf.max_frames
));

/// `image_filter_rs_max_frames N [strict]`: N from 1 (always a still) to
/// 100000.
fn set_max_frames(d: &mut Directive<'_>, slot: &mut Option<(u32, bool)>) -> *mut c_char {
    if slot.is_some() {
        return DUPLICATE;
    }
    let Some(count) = parse_decimal(d.args[0].as_bytes()).filter(|n| (1..=100_000).contains(n))
    else {
        return d.invalid(&d.args[0]);
    };
    let strict = match d.args.get(1) {
        None => false,
        Some(word) if word.as_bytes() == b"strict" => true,
        Some(word) => return d.invalid(word),
    };
    *slot = Some((count, strict));
    NGX_CONF_OK
}

/// A time argument in nginx's syntax (`5s`, `500ms`), as milliseconds.
pub(crate) fn set_msec(d: &mut Directive<'_>, slot: &mut Option<ngx_msec_t>) -> *mut c_char {
    if slot.is_some() {
        return DUPLICATE;
    }
    let mut value = d.args[0];
    // SAFETY: ngx_parse_time reads `len` bytes of the argument.
    let ms = unsafe { ngx_parse_time(&mut value, 0) };
    if ms < 0 {
        return d.invalid(&d.args[0]);
    }
    *slot = Some(ms as ngx_msec_t);
    NGX_CONF_OK
}

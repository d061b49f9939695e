//! The merge of a location's configuration with the one it inherits from
//! (http → server → location), and the checks only a whole location can
//! make: a thread pool resolved by name, one content handler.

use super::*;

/// Inherits unset values from the enclosing block, resolves the cache zone
/// by name and installs the content handler where thumbnails are on.
pub fn merge_location(
    cf: &mut ngx_conf_t,
    prev: &LocationConf,
    conf: &mut LocationConf,
) -> *mut c_char {
    guarded(|| {
        // Written in this block, as opposed to inherited from above.
        let filter_here = conf.filter.is_some_and(|f| f.is_on());
        // As with image_filter, whose `rotate` is part of the filter: a
        // block with an `image_filter_rs` of its own starts unturned.
        if conf.filter.is_none() {
            conf.rotate = conf.rotate.or(prev.rotate);
        }
        if conf.filter.is_none() {
            conf.filter = prev.filter;
        }
        if conf.jpeg_quality.is_none() {
            conf.jpeg_quality = prev.jpeg_quality;
        }
        if matches!(conf.cache, CacheSetting::Unset) {
            conf.cache = prev.cache;
        }
        if conf.lock_timeout.is_none() {
            conf.lock_timeout = prev.lock_timeout;
        }
        if conf.debug_delay.is_none() {
            conf.debug_delay = prev.debug_delay;
        }
        conf.webp_quality = conf.webp_quality.or(prev.webp_quality);
        conf.flip = conf.flip.or(prev.flip);
        conf.sharpen = conf.sharpen.or(prev.sharpen);
        conf.transparency = conf.transparency.or(prev.transparency);
        conf.interlace = conf.interlace.or(prev.interlace);
        conf.webp_effort = conf.webp_effort.or(prev.webp_effort);
        conf.avif_quality = conf.avif_quality.or(prev.avif_quality);
        conf.avif_speed = conf.avif_speed.or(prev.avif_speed);
        conf.avif_max_pixels = conf.avif_max_pixels.or(prev.avif_max_pixels);
        conf.background = conf.background.or(prev.background);
        conf.format = conf.format.or(prev.format);
        conf.max_pixels = conf.max_pixels.or(prev.max_pixels);
        conf.max_source_size = conf.max_source_size.or(prev.max_source_size);
        conf.max_frames = conf.max_frames.or(prev.max_frames);
        conf.max_output = conf.max_output.or(prev.max_output);
        if conf.sizes.is_none() {
            conf.sizes = prev.sizes.clone();
        }
        if conf.secrets.is_none() {
            conf.secrets = prev.secrets.clone();
        }
        let Some(mcf) = ImageFilterRsModule::main_conf(cf) else {
            return NGX_CONF_ERROR;
        };
        // SAFETY: the presets live in the main configuration, which lives as
        // long as the cycle; no preset is added after the http block.
        conf.presets = Some(unsafe { &*ptr::from_ref(&mcf.presets[..]) });
        if let Some(Filter::PresetName(name)) = conf.filter {
            match conf.preset_named(&String::from_utf8_lossy(name.as_bytes())) {
                Some(preset) => conf.filter = Some(Filter::Preset(preset)),
                None => {
                    ngx_conf_log_error!(
                        NGX_LOG_EMERG,
                        cf,
                        "unknown image_filter_rs preset \"{}\"",
                        name
                    );
                    return NGX_CONF_ERROR;
                }
            }
        }
        // A library's names carry no signature: only an allow-list bounds
        // the sizes a client can make by writing names.
        if let (Some(Filter::Names(library)), None) = (conf.filter, &conf.sizes) {
            ngx_conf_log_error!(
                NGX_LOG_EMERG,
                cf,
                "\"image_filter_rs {}\" takes the size from the file name, so \"image_filter_rs_sizes\" must be set too",
                library.name()
            );
            return NGX_CONF_ERROR;
        }
        if conf.filter.is_some_and(|f| f.sized_by_request())
            && conf.sizes.is_none()
            && conf.secrets.is_none()
        {
            ngx_conf_log_error!(
                NGX_LOG_EMERG,
                cf,
                "\"image_filter_rs\" takes the size from the request here, so \"image_filter_rs_sizes\" or \"image_filter_rs_secret\" must be set too"
            );
            return NGX_CONF_ERROR;
        }
        if matches!(conf.thread_pool, ThreadPoolSetting::Unset) {
            conf.thread_pool = prev.thread_pool;
        }
        if let Err(message) = crate::source::merge(prev, conf) {
            ngx_conf_log_error!(NGX_LOG_EMERG, cf, "{}", message);
            return NGX_CONF_ERROR;
        }
        if let CacheSetting::Named(name) = conf.cache {
            let Some(mcf) = ImageFilterRsModule::main_conf(cf) else {
                return NGX_CONF_ERROR;
            };
            match mcf
                .caches
                .iter()
                .find(|c| c.zone_name.as_bytes() == name.as_bytes())
            {
                Some(cache) => {
                    // SAFETY: the caches live in the main configuration, which
                    // lives as long as the cycle that uses this location.
                    let cache: &'static CachePath = unsafe { &*ptr::from_ref(cache.as_ref()) };
                    conf.cache = CacheSetting::Zone(cache);
                }
                None => {
                    ngx_conf_log_error!(
                        NGX_LOG_EMERG,
                        cf,
                        "\"image_filter_rs_cache\" zone \"{}\" is unknown",
                        name
                    );
                    return NGX_CONF_ERROR;
                }
            }
        }
        if conf.purge {
            if let Err(rv) = resolve_thread_pool(cf, conf) {
                return rv;
            }
        }
        if conf.filter.is_some_and(|f| f.is_on()) {
            if let Err(rv) = resolve_thread_pool(cf, conf) {
                return rv;
            }
            // The merge runs with `cf` pointing at this block's context, so
            // the core location conf here is the one being merged.
            if let Some(clcf) = NgxHttpCoreModule::location_conf_mut(cf) {
                let ours: unsafe extern "C" fn(*mut ngx_http_request_t) -> ngx_int_t =
                    crate::handler::content_handler;
                match clcf.handler {
                    None => clcf.handler = Some(ours),
                    // Compared by address: a merge that runs twice over the
                    // same block finds its own handler there.
                    Some(handler) if handler as usize == ours as usize => {}
                    // Written beside proxy_pass, fastcgi_pass, return...:
                    // nginx would run the other handler and silently never
                    // make a thumbnail, so say so at `nginx -t`.
                    Some(_) if filter_here => {
                        let location = clcf.name;
                        ngx_conf_log_error!(
                            NGX_LOG_EMERG,
                            cf,
                            "\"image_filter_rs\" cannot be used in a location that has another content handler (such as \"proxy_pass\"): location \"{}\" would serve the original unchanged",
                            location
                        );
                        return NGX_CONF_ERROR;
                    }
                    // Inherited into a location with its own content
                    // handler: that handler keeps the location.
                    Some(_) => {}
                }
            }
        }
        NGX_CONF_OK
    })
}

/// Looks up (or, for `default`, creates) the thread pool of a location that
/// makes thumbnails. Pools are only asked for where they are used, so a
/// configuration without thumbnails starts no threads.
fn resolve_thread_pool(cf: &mut ngx_conf_t, conf: &mut LocationConf) -> Result<(), *mut c_char> {
    let mut name = match conf.thread_pool {
        ThreadPoolSetting::Off | ThreadPoolSetting::Pool(_) => return Ok(()),
        ThreadPoolSetting::Unset => ngx_string!("default"),
        ThreadPoolSetting::Named(name) => name,
    };
    // SAFETY: `cf` is the configuration being merged; nginx keeps `name`'s
    // bytes, which live in the configuration pool or are static.
    let pool = unsafe { ngx_thread_pool_add(cf, &mut name) };
    match NonNull::new(pool) {
        Some(pool) => {
            conf.thread_pool = ThreadPoolSetting::Pool(pool);
            Ok(())
        }
        None => Err(NGX_CONF_ERROR),
    }
}

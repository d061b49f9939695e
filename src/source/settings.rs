//! The settings of `image_filter_rs_source`: its three directives, the
//! configuration merge, and the evaluation of the source URI per request.

use core::ffi::{c_char, c_void};
use core::ptr::NonNull;

use ngx::core::NGX_CONF_OK;
use ngx::ffi::{
    ngx_command_t, ngx_conf_t, ngx_http_complex_value_t, ngx_http_request_t, ngx_msec_t,
};
use thumbnailer::ErrorClass;

use crate::conf::{directive_handler, guarded, Directive, Filter, LocationConf, DUPLICATE};
use crate::errors::{Class, Refusal};

/// `image_filter_rs_source` of a location.
#[derive(Clone, Copy, Debug)]
pub enum SourceSetting {
    /// `off`: originals are files again, below an inherited setting.
    Off,
    Uri(NonNull<ngx_http_complex_value_t>),
}

/// How long a fetched original's validators are trusted without asking
/// the upstream, unless `image_filter_rs_source_valid` says otherwise.
pub const DEFAULT_VALID_MS: ngx_msec_t = 60_000;

directive_handler!(pub(crate) cmd_source, LocationConf, |d, lcf| || {
    if lcf.source.is_some() {
        return DUPLICATE;
    }
    let value = d.args[0];
    if value.as_bytes() == b"off" {
        lcf.source = Some(SourceSetting::Off);
        return NGX_CONF_OK;
    }
    // A URI of this server: a host or scheme here would be a fetch the
    // module makes on its own, which it never does.
    if value.as_bytes().first() != Some(&b'/') && value.as_bytes().first() != Some(&b'$') {
        return d.invalid(&value);
    }
    match crate::conf::compile_complex_value(&mut d, value).and_then(NonNull::new) {
        Some(cv) => {
            lcf.source = Some(SourceSetting::Uri(cv));
            NGX_CONF_OK
        }
        None => ngx::core::NGX_CONF_ERROR,
    }
});

directive_handler!(pub(crate) cmd_source_valid, LocationConf, |d, lcf| || {
    crate::conf::set_msec(&mut d, &mut lcf.source_valid)
});

directive_handler!(pub(crate) cmd_source_stale, LocationConf, |d, lcf| || {
    if lcf.source_stale.is_some() {
        return DUPLICATE;
    }
    let value = d.args[0];
    match crate::conf::parse_on_off(value.as_bytes()) {
        Some(on) => {
            lcf.source_stale = Some(on);
            NGX_CONF_OK
        }
        None => d.invalid(&value),
    }
});

/// The source URI of this request, when the location fetches originals:
/// evaluated, and refused when it does not name a path of this server.
pub fn evaluate_uri(
    r: &mut ngx_http_request_t,
    lcf: &LocationConf,
) -> Result<Option<Vec<u8>>, Refusal> {
    let Some(SourceSetting::Uri(cv)) = lcf.source else {
        return Ok(None);
    };
    let uri = crate::values::evaluate(r, cv.as_ptr())?.into_bytes();
    let path = uri.split(|&b| b == b'?').next().unwrap_or(&[]);
    let bad = path.first() != Some(&b'/')
        || path.windows(4).any(|w| w == b"/../")
        || path.ends_with(b"/..")
        || uri.iter().any(|&b| b < 0x20 || b == 0x7f);
    if bad {
        return Err(Refusal::new(
            Class::Image(ErrorClass::BadRequest),
            format!(
                "image_filter_rs_source evaluated to \"{}\", not a path of this server",
                crate::values::printable(&String::from_utf8_lossy(&uri))
            ),
        ));
    }
    Ok(Some(uri))
}

/// What the location says about fetching, for one request.
#[derive(Clone, Copy)]
pub struct SourcePolicy {
    pub valid_ms: u64,
    pub stale: bool,
}

impl SourcePolicy {
    pub fn of(lcf: &LocationConf) -> Self {
        SourcePolicy {
            valid_ms: lcf.source_valid.unwrap_or(DEFAULT_VALID_MS) as u64,
            stale: lcf.source_stale.unwrap_or(false),
        }
    }
}

/// For the configuration merge: the location's source fetch settings come
/// from above unless set here.
/// An error for `nginx -t` when the location cannot fetch its originals.
pub fn merge(prev: &LocationConf, conf: &mut LocationConf) -> Result<(), &'static str> {
    conf.source = conf.source.or(prev.source);
    conf.source_valid = conf.source_valid.or(prev.source_valid);
    conf.source_stale = conf.source_stale.or(prev.source_stale);
    // A library's rendition name is mapped to its original's file, which a
    // source URI made from the request's URI would not follow.
    if matches!(conf.source, Some(SourceSetting::Uri(_)))
        && matches!(conf.filter, Some(Filter::Names(_)))
    {
        return Err("\"image_filter_rs_source\" cannot be used with the easy_thumbnails or versatileimagefield modes");
    }
    Ok(())
}

//! Directive values that may hold variables, as nginx's image_filter allows
//! (`image_filter_jpeg_quality $arg_q;`): fixed when the configuration is
//! read, or evaluated and checked for each request.
//!
//! A fixed value is checked by `nginx -t`; a variable one can only be
//! checked per request, where a bad value is the client's doing and gets a
//! 400 with the reason, and an empty one means the directive's default.

use ngx::core::NGX_CONF_OK;
use ngx::ffi::NGX_OK;
use ngx::ffi::{ngx_http_complex_value, ngx_http_complex_value_t, ngx_http_request_t, ngx_str_t};
use thumbnailer::ErrorClass;

use core::ffi::c_char;

use crate::conf::{Directive, DUPLICATE};
use crate::errors::{Class, Refusal};

/// A directive's value: fixed, or a complex value evaluated per request.
#[derive(Clone, Copy, Debug)]
pub enum Valued<T> {
    Fixed(T),
    Variable(*mut ngx_http_complex_value_t),
}

impl<T: Copy> Valued<T> {
    /// The value for this request: `Ok(None)` when a variable came out
    /// empty (the default applies), a 400 refusal naming the directive when
    /// it came out as something `parse` refuses.
    pub fn resolve(
        &self,
        r: &mut ngx_http_request_t,
        directive: &str,
        parse: fn(&[u8]) -> Option<T>,
    ) -> Result<Option<T>, Refusal> {
        match *self {
            Valued::Fixed(value) => Ok(Some(value)),
            Valued::Variable(cv) => {
                let text = evaluate(r, cv)?;
                if text.is_empty() {
                    return Ok(None);
                }
                parse(text.as_bytes()).map(Some).ok_or_else(|| {
                    Refusal::new(
                        Class::Image(ErrorClass::BadRequest),
                        format!("invalid {directive} value \"{}\"", printable(&text)),
                    )
                })
            }
        }
    }
}

/// Parses a directive's one argument into `slot`: compiled as a complex
/// value when it holds a `$`, else parsed now (an invalid value fails
/// `nginx -t`).
pub fn set_valued<T>(
    d: &mut Directive<'_>,
    slot: &mut Option<Valued<T>>,
    parse: fn(&[u8]) -> Option<T>,
) -> *mut c_char {
    if slot.is_some() {
        return DUPLICATE;
    }
    let value = d.args[0];
    if value.as_bytes().contains(&b'$') {
        return match crate::conf::compile_complex_value(d, value) {
            Some(cv) => {
                *slot = Some(Valued::Variable(cv));
                NGX_CONF_OK
            }
            None => ngx::core::NGX_CONF_ERROR,
        };
    }
    match parse(value.as_bytes()) {
        Some(parsed) => {
            *slot = Some(Valued::Fixed(parsed));
            NGX_CONF_OK
        }
        None => d.invalid(&value),
    }
}

/// Evaluates a complex value compiled at configuration time.
pub fn evaluate(
    r: &mut ngx_http_request_t,
    value: *mut ngx_http_complex_value_t,
) -> Result<String, Refusal> {
    let mut out = ngx_str_t::empty();
    // SAFETY: `value` was compiled at configuration time and lives in the
    // configuration pool; nginx allocates the result in the request pool.
    let rc = unsafe { ngx_http_complex_value(r, value, &mut out) };
    if rc != NGX_OK as isize {
        return Err(Refusal::new(
            Class::Image(ErrorClass::Internal),
            "evaluating a variable failed",
        ));
    }
    Ok(String::from_utf8_lossy(out.as_bytes()).into_owned())
}

/// Client text for a log line or reason: printable ASCII only, bounded.
pub fn printable(text: &str) -> String {
    text.chars()
        .take(64)
        .map(|c| if c.is_ascii_graphic() { c } else { '?' })
        .collect()
}

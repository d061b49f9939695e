//! One place that decides, for every way a thumbnail request can fail, the
//! HTTP status it gets and the level it is logged at.
//!
//! Each refusal is logged once, by the handler, with the message built here,
//! so the error log has one clear line per failed request.

use std::fmt;
use std::io;

use ngx::ffi::{
    ngx_uint_t, NGX_HTTP_BAD_REQUEST, NGX_HTTP_FORBIDDEN, NGX_HTTP_INTERNAL_SERVER_ERROR,
    NGX_HTTP_NOT_FOUND, NGX_HTTP_REQUEST_ENTITY_TOO_LARGE, NGX_HTTP_UNSUPPORTED_MEDIA_TYPE,
    NGX_LOG_CRIT, NGX_LOG_ERR,
};
use thumbnailer::ErrorClass;

/// A request the module refuses or cannot complete.
#[derive(Debug)]
pub struct Refusal {
    pub class: Class,
    pub message: String,
}

/// The module's classes of failure: the pipeline's, plus what only the file
/// system can say.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    Image(ErrorClass),
    Forbidden,
}

impl Refusal {
    pub fn new(class: Class, message: impl Into<String>) -> Refusal {
        Refusal {
            class,
            message: message.into(),
        }
    }

    /// Reading the original failed.
    pub fn from_io(err: &io::Error, what: &str) -> Refusal {
        let class = match err.kind() {
            io::ErrorKind::NotFound => Class::Image(ErrorClass::NotFound),
            io::ErrorKind::PermissionDenied => Class::Forbidden,
            _ => Class::Image(ErrorClass::Internal),
        };
        Refusal::new(class, format!("{what} failed ({err})"))
    }

    pub fn http_status(&self) -> ngx_uint_t {
        (match self.class {
            Class::Forbidden => NGX_HTTP_FORBIDDEN,
            Class::Image(ErrorClass::BadRequest) => NGX_HTTP_BAD_REQUEST,
            Class::Image(ErrorClass::NotFound) => NGX_HTTP_NOT_FOUND,
            Class::Image(ErrorClass::TooLarge) => NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
            Class::Image(ErrorClass::Unsupported) => NGX_HTTP_UNSUPPORTED_MEDIA_TYPE,
            Class::Image(ErrorClass::Internal) => NGX_HTTP_INTERNAL_SERVER_ERROR,
        }) as ngx_uint_t
    }

    /// Client-caused refusals are errors of the request, not of the server;
    /// only what should never happen is critical.
    pub fn log_level(&self) -> ngx_uint_t {
        (match self.class {
            Class::Image(ErrorClass::Internal) => NGX_LOG_CRIT,
            _ => NGX_LOG_ERR,
        }) as ngx_uint_t
    }
}

impl From<thumbnailer::Error> for Refusal {
    fn from(err: thumbnailer::Error) -> Refusal {
        Refusal::new(Class::Image(err.class()), err.to_string())
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

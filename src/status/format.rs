//! Which format the status page answers in: the `format` query parameter
//! when given, else the client's `Accept` preferences; JSON by default.
//!
//! Prometheus asks with `Accept: application/openmetrics-text;...;q=0.5,
//! text/plain;version=0.0.4;q=0.3,*/*;q=0.2` (older versions with just
//! `text/plain;version=0.0.4`), browsers and curl with `*/*` among others.
//! The page answers Prometheus's text format only when the client prefers
//! `text/plain` or `application/openmetrics-text` strictly over
//! `application/json`, so a tie (`*/*`, no header) stays JSON, as before.
//! OpenMetrics itself is not produced: a scraper that asks for it also
//! takes the text format, which the `Content-Type` names.

use thumbnailer::accept::quality;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Json,
    Prometheus,
}

impl Format {
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Json => "application/json",
            Format::Prometheus => "text/plain; version=0.0.4; charset=utf-8",
        }
    }
}

/// The format, and whether `Accept` chose it (the answer then varies with
/// `Accept`, and says so).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Choice {
    pub format: Format,
    pub by_accept: bool,
}

/// The format for a request with the query string `args` and `Accept`
/// header `accept`; Err with the value of a `format` parameter that names
/// no format.
pub fn choose(args: &[u8], accept: Option<&[u8]>) -> Result<Choice, Vec<u8>> {
    let parameter = args
        .split(|&b| b == b'&')
        .filter_map(|pair| pair.strip_prefix(b"format="))
        .next_back();
    if let Some(value) = parameter {
        let format = match value {
            b"json" => Format::Json,
            b"prometheus" => Format::Prometheus,
            other => return Err(other.to_vec()),
        };
        return Ok(Choice {
            format,
            by_accept: false,
        });
    }
    let format = match accept {
        Some(accept) => {
            let text = quality(accept, b"text", b"plain").max(quality(
                accept,
                b"application",
                b"openmetrics-text",
            ));
            if text > quality(accept, b"application", b"json") {
                Format::Prometheus
            } else {
                Format::Json
            }
        }
        None => Format::Json,
    };
    Ok(Choice {
        format,
        by_accept: true,
    })
}

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

/// The quality `accept` gives `kind/subtype`, in thousandths: that of the
/// most specific range matching it (exact, `kind/*`, `*/*`), the highest
/// when several ranges of that specificity match (Prometheus lists
/// `application/openmetrics-text` once per version); 0 when none does.
/// Media type parameters other than `q` do not take part in matching.
fn quality(accept: &[u8], kind: &[u8], subtype: &[u8]) -> u32 {
    let mut best: Option<(u8, u32)> = None;
    for item in accept.split(|&b| b == b',') {
        let mut parts = item.split(|&b| b == b';');
        let range = trim(parts.next().unwrap_or_default());
        let Some(slash) = range.iter().position(|&b| b == b'/') else {
            continue;
        };
        let (range_kind, range_subtype) = (&range[..slash], &range[slash + 1..]);
        let specificity = if range_kind == b"*" && range_subtype == b"*" {
            0
        } else if range_kind.eq_ignore_ascii_case(kind) && range_subtype == b"*" {
            1
        } else if range_kind.eq_ignore_ascii_case(kind)
            && range_subtype.eq_ignore_ascii_case(subtype)
        {
            2
        } else {
            continue;
        };
        let q = parts
            .filter_map(|p| {
                let p = trim(p);
                p.strip_prefix(b"q=").or_else(|| p.strip_prefix(b"Q="))
            })
            .next()
            .map_or(1000, parse_quality);
        best = match best {
            Some((s, _)) if s > specificity => best,
            Some((s, bq)) if s == specificity => Some((s, bq.max(q))),
            _ => Some((specificity, q)),
        };
    }
    best.map_or(0, |(_, q)| q)
}

/// `q=` values are 0..1 with at most three decimals (RFC 9110 12.4.2);
/// anything unreadable counts as 0, which only makes the range unwanted.
fn parse_quality(text: &[u8]) -> u32 {
    let text = std::str::from_utf8(text).unwrap_or("");
    match text.parse::<f64>() {
        Ok(q) if (0.0..=1.0).contains(&q) => (q * 1000.0).round() as u32,
        _ => 0,
    }
}

fn trim(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |e| e + 1);
    &bytes[start..end]
}

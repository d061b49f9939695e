//! What a client's `Accept` header allows (RFC 9110 12.5.1): the quality it
//! gives a media type, and from that the image format `auto` writes.
//!
//! Only ranges that name an image type exactly choose a modern format.
//! Browsers list `image/avif` and `image/webp` when they decode them, while
//! `image/*` and `*/*` are sent by clients of every age (curl, old
//! browsers, crawlers), so a wildcard never earns an AVIF or WebP answer.

use crate::job::{AvifFallback, FallbackFormat, OutputFormat};

/// The quality `accept` gives `kind/subtype`, in thousandths: that of the
/// most specific range matching it (exact, `kind/*`, `*/*`), the highest
/// when several ranges of that specificity match; 0 when none does.
/// Media type parameters other than `q` do not take part in matching.
pub fn quality(accept: &[u8], kind: &[u8], subtype: &[u8]) -> u32 {
    best_range(accept, kind, subtype, 0)
}

/// Like [`quality`], counting only ranges that name `kind/subtype` itself.
pub fn explicit_quality(accept: &[u8], kind: &[u8], subtype: &[u8]) -> u32 {
    best_range(accept, kind, subtype, 2)
}

/// The format `auto` writes for `accept`: AVIF when the client lists it
/// with a quality at least WebP's, else WebP when listed, else the
/// original's format. A negotiated AVIF falls back, above
/// `avif_max_pixels` output pixels, to the best of the other two; with
/// `avif_max_pixels` of 0 AVIF is never chosen.
pub fn negotiate(accept: &[u8], avif_max_pixels: u64) -> (OutputFormat, Option<AvifFallback>) {
    let avif = if avif_max_pixels == 0 {
        0
    } else {
        explicit_quality(accept, b"image", b"avif")
    };
    let webp = explicit_quality(accept, b"image", b"webp");
    if avif > 0 && avif >= webp {
        let to = if webp > 0 {
            FallbackFormat::Webp
        } else {
            FallbackFormat::Original
        };
        let fallback = AvifFallback {
            max_pixels: avif_max_pixels,
            to,
        };
        (OutputFormat::Avif, Some(fallback))
    } else if webp > 0 {
        (OutputFormat::Webp, None)
    } else {
        (OutputFormat::Original, None)
    }
}

/// The quality of the most specific range, at least `min_specificity`
/// (0 `*/*`, 1 `kind/*`, 2 exact), that matches.
fn best_range(accept: &[u8], kind: &[u8], subtype: &[u8], min_specificity: u8) -> u32 {
    let mut best: Option<(u8, u32)> = None;
    for item in accept.split(|&b| b == b',') {
        let mut parts = item.split(|&b| b == b';');
        let range = parts.next().unwrap_or_default().trim_ascii();
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
        if specificity < min_specificity {
            continue;
        }
        let q = parts
            .filter_map(|p| {
                let p = p.trim_ascii();
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

#[cfg(test)]
mod tests {
    use super::*;

    const CHROME: &[u8] = b"image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8";
    const SAFARI_15: &[u8] =
        b"image/webp,image/png,image/svg+xml,image/*;q=0.8,video/*;q=0.8,*/*;q=0.5";

    fn webp_fallback(max_pixels: u64) -> Option<AvifFallback> {
        Some(AvifFallback {
            max_pixels,
            to: FallbackFormat::Webp,
        })
    }

    #[test]
    fn browsers_and_other_clients() {
        let n = 1_500_000;
        assert_eq!(negotiate(CHROME, n), (OutputFormat::Avif, webp_fallback(n)));
        assert_eq!(negotiate(SAFARI_15, n), (OutputFormat::Webp, None));
        for plain in [
            &b""[..],
            b"*/*",
            b"image/*",
            b"image/jpeg,image/png",
            b"text/html",
        ] {
            assert_eq!(
                negotiate(plain, n),
                (OutputFormat::Original, None),
                "{plain:?}"
            );
        }
        let avif_only = negotiate(b"image/avif", n);
        assert_eq!(
            avif_only,
            (
                OutputFormat::Avif,
                Some(AvifFallback {
                    max_pixels: n,
                    to: FallbackFormat::Original
                })
            )
        );
    }

    #[test]
    fn quality_values_are_honoured() {
        let n = 1000;
        for (accept, want) in [
            (
                &b"image/avif;q=0.5,image/webp;q=0.9"[..],
                OutputFormat::Webp,
            ),
            (b"image/avif;q=0.9,image/webp;q=0.5", OutputFormat::Avif),
            (b"image/avif;q=0.8, image/webp;q=0.8", OutputFormat::Avif),
            (b"image/avif;q=0,image/webp", OutputFormat::Webp),
            (b"IMAGE/AVIF ; Q=0.1", OutputFormat::Avif),
            (b"image/avif;q=0.000,image/webp;q=0", OutputFormat::Original),
            (b"image/webp;q=2", OutputFormat::Original),
            (b"image/webp;q=abc", OutputFormat::Original),
        ] {
            assert_eq!(
                negotiate(accept, n).0,
                want,
                "{}",
                String::from_utf8_lossy(accept)
            );
        }
        // The fallback is WebP only when WebP is wanted at all.
        assert_eq!(
            negotiate(b"image/avif,image/webp;q=0", n).1.map(|f| f.to),
            Some(FallbackFormat::Original)
        );
    }

    #[test]
    fn avif_can_be_left_out_of_auto() {
        assert_eq!(negotiate(CHROME, 0), (OutputFormat::Webp, None));
    }

    #[test]
    fn quality_takes_the_most_specific_range() {
        let accept = b"text/*;q=0.3, text/plain;q=0.7, */*;q=0.1, text/plain;q=0.5";
        assert_eq!(quality(accept, b"text", b"plain"), 700);
        assert_eq!(quality(accept, b"text", b"html"), 300);
        assert_eq!(quality(accept, b"application", b"json"), 100);
        assert_eq!(explicit_quality(accept, b"text", b"html"), 0);
        assert_eq!(quality(b"", b"text", b"plain"), 0);
    }
}

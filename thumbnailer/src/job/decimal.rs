//! The one spelling of a number in a URL or a directive: a plain decimal,
//! shared by the query parser and the adjustment parsers.

/// A plain non-negative decimal with at most `max_fraction` fraction digits,
/// scaled by 10^`max_fraction` ("1.25" with 2 -> 125). The integer part is
/// "0" or starts with 1-9; a '.' must have digits on both sides. `None` for
/// anything else or on overflow.
pub(crate) fn parse_decimal(s: &[u8], max_fraction: u32) -> Option<u32> {
    let (int, frac) = match s.iter().position(|&b| b == b'.') {
        Some(at) => (&s[..at], Some(&s[at + 1..])),
        None => (s, None),
    };
    let digits = |d: &[u8]| !d.is_empty() && d.iter().all(u8::is_ascii_digit);
    if !digits(int) || (int.len() > 1 && int[0] == b'0') {
        return None;
    }
    let frac = frac.unwrap_or(b"");
    if s.len() > int.len() && (!digits(frac) || frac.len() > max_fraction as usize) {
        return None;
    }
    let mut value: u32 = 0;
    for &b in int.iter().chain(frac) {
        value = value.checked_mul(10)?.checked_add(u32::from(b - b'0'))?;
    }
    value.checked_mul(10u32.checked_pow(max_fraction - frac.len() as u32)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_decimal_table() {
        let table: &[(&str, u32, Option<u32>)] = &[
            ("0", 0, Some(0)),
            ("7", 0, Some(7)),
            ("7.5", 0, None),
            ("1", 2, Some(100)),
            ("1.5", 2, Some(150)),
            ("1.05", 2, Some(105)),
            ("1.050", 2, None),
            ("0.001", 3, Some(1)),
            ("10", 3, Some(10000)),
            ("", 3, None),
            (".", 3, None),
            ("1.", 3, None),
            (".5", 3, None),
            ("00", 3, None),
            ("00.5", 3, None),
            ("0.5.5", 3, None),
            ("4294967295", 0, Some(u32::MAX)),
            ("4294967296", 0, None),
            ("4294968", 3, None),
        ];
        for &(text, frac, want) in table {
            assert_eq!(
                parse_decimal(text.as_bytes(), frac),
                want,
                "{text:?} {frac}"
            );
        }
    }
}

//! Signed URLs: an HMAC-SHA256 over the request path and its parameters, so a
//! server can refuse thumbnail sizes nobody authorised (each new size costs a
//! decode and a cache entry, which is what an attacker would aim at).
//!
//! The signed text ("payload") is the path, `?`, then every parameter except
//! `s` sorted by name then value and joined with `&`, each exactly as written
//! in the URL (no percent-decoding). Sorting makes the signature independent
//! of parameter order; not decoding means the signer and the verifier never
//! disagree about what a byte meant. A parameter spelled `%73=` is therefore
//! *not* `s` here: it is signed like any other parameter, so such a URL can
//! only fail verification, never pass it with an unsigned value.
//!
//! `path` must be the raw path of the request line without its query (it then
//! cannot contain `?`, which keeps the payload unambiguous).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// The text that is signed: `path?` + the sorted non-`s` parameters.
/// Empty segments (`a&&b`, a trailing `&`) are skipped, as the query parser
/// skips them, so they cannot be used to make two spellings of one request.
pub fn signing_payload(path: &[u8], args: &[u8]) -> Vec<u8> {
    let mut params: Vec<(&[u8], &[u8], &[u8])> = args
        .split(|&b| b == b'&')
        .filter(|segment| !segment.is_empty())
        .map(|segment| {
            let (name, value) = match segment.iter().position(|&b| b == b'=') {
                Some(at) => (&segment[..at], &segment[at + 1..]),
                None => (segment, &segment[segment.len()..]),
            };
            (name, value, segment)
        })
        .filter(|(name, _, _)| *name != b"s")
        .collect();
    // The whole segment breaks the one tie left ("w" vs "w="), so the order
    // is total and the payload deterministic.
    params.sort_unstable();
    let mut payload = Vec::with_capacity(path.len() + 1 + args.len());
    payload.extend_from_slice(path);
    payload.push(b'?');
    for (i, (_, _, segment)) in params.iter().enumerate() {
        if i > 0 {
            payload.push(b'&');
        }
        payload.extend_from_slice(segment);
    }
    payload
}

fn mac(key: &[u8], path: &[u8], args: &[u8]) -> HmacSha256 {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(&signing_payload(path, args));
    mac
}

/// base64url (no padding) of HMAC-SHA256(key, payload): 43 characters.
pub fn sign(key: &[u8], path: &[u8], args: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(mac(key, path, args).finalize().into_bytes())
}

/// True when `signature` is the signature of this request under any of
/// `keys` (several keys allow rotation: sign with the new one while URLs
/// signed with the old one still work). The comparison is constant-time, and
/// every key is tried even after a match so timing does not tell which key
/// matched. A signature that is not canonical unpadded base64url never matches.
pub fn verify(keys: &[Vec<u8>], path: &[u8], args: &[u8], signature: &str) -> bool {
    let Ok(given) = URL_SAFE_NO_PAD.decode(signature) else {
        return false;
    };
    let mut matched = false;
    for key in keys {
        matched |= mac(key, path, args).verify_slice(&given).is_ok();
    }
    matched
}

#[cfg(test)]
mod tests {
    #![allow(clippy::type_complexity)] // the tables read better inline
    use super::*;

    // Computed independently with Python:
    //   base64.urlsafe_b64encode(hmac.new(key, payload, hashlib.sha256)
    //       .digest()).rstrip(b'=')
    #[test]
    fn text_that_is_not_base64url_is_a_bad_signature() {
        let keys = [b"secret-key-1".to_vec()];
        for given in ["garbage!!", "ab+c", "abc=", "", "%%"] {
            assert!(
                !verify(&keys, b"/thumb/a.jpg", b"w=1&s=x", given),
                "{given:?}"
            );
        }
    }

    const KNOWN_ANSWERS: &[(&[u8], &[u8], &[u8], &str)] = &[
        (
            b"secret-key-1",
            b"/thumb/a.jpg",
            b"w=350&h=350",
            "2V5jY2MWHlOSN1sHKCQTekX0IZqjuSGD5vQS5NVFklc",
        ),
        (
            b"secret-key-1",
            b"/thumb/a.jpg",
            b"w=300&h=200&fit=crop&g=ne&fp=0.25,0.75&s=ignored",
            "jJPJ2eRObzdExSqV-vNJGd2hJJPC7GxnEWX09ISoWII",
        ),
        (
            b"",
            b"/x",
            b"",
            "fl2LgAjR-14tUCFalKWKOvmAlxDkZSgQMqxjXehh5PU",
        ),
    ];

    #[test]
    fn known_answer_vectors() {
        for &(key, path, args, want) in KNOWN_ANSWERS {
            assert_eq!(sign(key, path, args), want, "{args:?}");
            assert!(verify(&[key.to_vec()], path, args, want));
        }
    }

    #[test]
    fn payload_table() {
        let table: &[(&[u8], &[u8])] = &[
            (b"", b"/p?"),
            (b"w=350&h=350", b"/p?h=350&w=350"),
            (b"h=350&w=350", b"/p?h=350&w=350"),
            (b"s=abc&w=1", b"/p?w=1"),
            (b"w=1&s=abc", b"/p?w=1"),
            (b"w=1&&h=2&", b"/p?h=2&w=1"),
            // sorted by name first, then value
            (b"a=2&a=10&b=1", b"/p?a=10&a=2&b=1"),
            // no decoding: %73 is not "s", and %33 stays as written
            (b"%73=x&w=%33", b"/p?%73=x&w=%33"),
            (b"w&w=", b"/p?w&w="),
            (b"w=&w", b"/p?w&w="),
            // "ss" and "s=" inside a value are ordinary
            (b"ss=1&p=s=2", b"/p?p=s=2&ss=1"),
        ];
        for &(args, want) in table {
            assert_eq!(
                signing_payload(b"/p", args),
                want,
                "{:?}",
                String::from_utf8_lossy(args)
            );
        }
    }

    #[test]
    fn reordering_and_the_signature_itself_do_not_change_it() {
        let key = b"k".to_vec();
        let a = sign(&key, b"/t/a.jpg", b"w=350&h=350&fit=crop");
        assert_eq!(a, sign(&key, b"/t/a.jpg", b"fit=crop&h=350&w=350"));
        assert_eq!(a, sign(&key, b"/t/a.jpg", b"fit=crop&s=zzz&h=350&w=350"));
        assert!(verify(&[key], b"/t/a.jpg", b"h=350&fit=crop&w=350", &a));
    }

    #[test]
    fn tampering_fails() {
        let key = b"k".to_vec();
        let keys = [key.clone()];
        let good = sign(&key, b"/t/a.jpg", b"w=350&h=350");
        assert!(verify(&keys, b"/t/a.jpg", b"w=350&h=350", &good));
        let tampered: &[(&[u8], &[u8])] = &[
            (b"/t/b.jpg", b"w=350&h=350"),
            (b"/t/a.jpg", b"w=351&h=350"),
            (b"/t/a.jpg", b"w=350"),
            (b"/t/a.jpg", b"w=350&h=350&q=10"),
            (b"/t/a.jpg", b"w=350&h=%33%35%30"),
            (b"/t/a.jpg", b"w=350&h=350&%73=x"),
            (b"/t/a.jpg?w=350", b"h=350"),
        ];
        for &(path, args) in tampered {
            assert!(
                !verify(&keys, path, args, &good),
                "{:?}",
                String::from_utf8_lossy(args)
            );
        }
        // Damaged signatures: a flipped character, truncated, padded, empty,
        // non-base64url, and a non-canonical final character (same bits).
        let mut flipped = good.clone().into_bytes();
        flipped[0] = if flipped[0] == b'A' { b'B' } else { b'A' };
        let flipped = String::from_utf8(flipped).unwrap();
        // 32 bytes fill 43 characters with 2 bits to spare; flipping a spare
        // bit gives another spelling of the same bytes, which must not pass.
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let last = ALPHABET
            .iter()
            .position(|&c| c == good.as_bytes()[42])
            .unwrap();
        let non_canonical = format!("{}{}", &good[..42], ALPHABET[last ^ 1] as char);
        for bad in [
            flipped,
            non_canonical,
            good[..42].to_owned(),
            format!("{good}="),
            String::new(),
            good.replace(['-', '_'], "+"),
            format!("{good}A"),
        ] {
            if bad == good {
                continue;
            }
            assert!(!verify(&keys, b"/t/a.jpg", b"w=350&h=350", &bad), "{bad}");
        }
    }

    #[test]
    fn any_configured_key_verifies_for_rotation() {
        let old = b"old-key".to_vec();
        let new = b"new-key".to_vec();
        let by_old = sign(&old, b"/a.jpg", b"w=1");
        let by_new = sign(&new, b"/a.jpg", b"w=1");
        assert_ne!(by_old, by_new);
        let both = [new.clone(), old.clone()];
        assert!(verify(&both, b"/a.jpg", b"w=1", &by_old));
        assert!(verify(&both, b"/a.jpg", b"w=1", &by_new));
        // After the old key is retired its URLs stop working.
        assert!(!verify(&[new], b"/a.jpg", b"w=1", &by_old));
        assert!(!verify(&[], b"/a.jpg", b"w=1", &by_new));
    }
}

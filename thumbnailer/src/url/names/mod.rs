//! The file names that Django's two thumbnail libraries give their
//! renditions, read back into the original's path and the job they ask for,
//! so nginx can serve the URLs a site already has.
//!
//! - the module [`easy_thumbnails`]: the default namer's
//!   `photos/a.jpg.350x350_q85_crop.jpg`;
//! - the module [`versatileimagefield`]: `__sized__/photos/a-thumbnail-350x350-70.jpg`
//!   and `__sized__/photos/a-crop-c0-25__0-75-350x350-70.jpg`.
//!
//! The input is the part of the mapped file path after the location's root
//! or alias, as bytes (file names need not be UTF-8). The derived original is
//! returned in the same form, for the caller to join to the same root.
//! A name is refused (a 400) when it is not one the library writes, or asks
//! for something this module cannot make as the library would: serving a
//! different picture under the library's name would be worse than none.

pub mod easy_thumbnails;
pub mod versatileimagefield;

use crate::error::Error;
use crate::job::{Geometry, OutputFormat, Rgb};

/// Which library's names a location reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Library {
    EasyThumbnails,
    VersatileImageField,
}

impl Library {
    /// The word in `image_filter_rs easy_thumbnails;`.
    pub fn name(self) -> &'static str {
        match self {
            Library::EasyThumbnails => "easy_thumbnails",
            Library::VersatileImageField => "versatileimagefield",
        }
    }

    /// Reads `relative` with this library's rules.
    pub fn parse(self, relative: &[u8]) -> Result<Named, Error> {
        match self {
            Library::EasyThumbnails => easy_thumbnails::parse(relative),
            Library::VersatileImageField => versatileimagefield::parse(relative),
        }
    }
}

/// What a rendition's name says: where its original is and how it was made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Named {
    /// The original's path, relative as the input was (a leading `/` kept).
    pub original: Vec<u8>,
    /// Size, fit, gravity or focal point, and whether it may enlarge.
    pub geometry: Geometry,
    /// JPEG and WebP quality, where the name carries one.
    pub quality: Option<u8>,
    /// The output format the library would write.
    pub format: OutputFormat,
    /// The colour of padding (easy-thumbnails' `background`).
    pub background: Option<Rgb>,
    /// easy-thumbnails' `bw`.
    pub grayscale: bool,
}

impl Named {
    /// A name of `original` with everything else at the plain defaults.
    fn new(original: Vec<u8>, format: OutputFormat) -> Named {
        Named {
            original,
            geometry: Geometry::default(),
            quality: None,
            format,
            background: None,
            grayscale: false,
        }
    }
}

/// A refusal naming the library, for the error log.
fn refuse(library: Library, reason: impl std::fmt::Display) -> Error {
    Error::bad_request(format!("not a {} name: {reason}", library.name()))
}

/// Splits `path` into its directory part (with its trailing `/`, possibly
/// empty) and its last component, refusing what no library writes and what
/// could leave the root: empty components (`a//b`), `.` and `..`, NUL.
fn split_checked(library: Library, path: &[u8]) -> Result<(&[u8], &[u8]), Error> {
    if path.contains(&0) {
        return Err(refuse(library, "NUL in the path"));
    }
    // One leading `/` is how nginx joins the alias; any other empty
    // component is not a storage name.
    let body = path.strip_prefix(b"/").unwrap_or(path);
    for component in body.split(|&b| b == b'/') {
        match component {
            b"" => return Err(refuse(library, "empty path component")),
            b"." | b".." => return Err(refuse(library, "\".\" or \"..\" in the path")),
            _ => {}
        }
    }
    let at = path.iter().rposition(|&b| b == b'/').map_or(0, |i| i + 1);
    Ok(path.split_at(at))
}

/// A plain decimal as the libraries print integers: digits only, no sign, no
/// leading zero (but `0` itself), at most `max`. `None` otherwise, also for
/// numbers too long to be anything but hostile.
fn decimal(text: &[u8], max: u32) -> Option<u32> {
    if text.is_empty() || text.len() > 10 || (text.len() > 1 && text[0] == b'0') {
        return None;
    }
    let mut value: u64 = 0;
    for &b in text {
        if !b.is_ascii_digit() {
            return None;
        }
        value = value * 10 + u64::from(b - b'0');
    }
    u32::try_from(value).ok().filter(|&v| v <= max)
}

/// Text of a name part for an error message: escaped and cut short.
fn shown(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(40)]);
    let more = if bytes.len() > 40 { "..." } else { "" };
    format!("\"{}{more}\"", text.escape_debug())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_table() {
        let table: &[(&str, u32, Option<u32>)] = &[
            ("0", 10, Some(0)),
            ("350", 65535, Some(350)),
            ("65535", 65535, Some(65535)),
            ("65536", 65535, None),
            ("0350", 65535, None),
            ("", 10, None),
            ("-1", 10, None),
            ("+1", 10, None),
            ("1e3", 10000, None),
            ("4294967295", u32::MAX, Some(u32::MAX)),
            ("4294967296", u32::MAX, None),
            ("99999999999999999999", u32::MAX, None),
        ];
        for &(text, max, want) in table {
            assert_eq!(decimal(text.as_bytes(), max), want, "{text:?}");
        }
    }

    #[test]
    fn paths_that_could_leave_the_root_are_refused() {
        let lib = Library::EasyThumbnails;
        for bad in [
            "a//b.jpg",
            "/a/../b.jpg",
            "../b.jpg",
            "./b.jpg",
            "a/./b.jpg",
            "a/..",
            "//b.jpg",
            "a/b/",
            "",
            "a\0b.jpg",
        ] {
            let err = split_checked(lib, bad.as_bytes()).unwrap_err();
            assert_eq!(err.class(), crate::ErrorClass::BadRequest, "{bad:?}");
        }
        let ok: &[(&str, (&str, &str))] = &[
            ("b.jpg", ("", "b.jpg")),
            ("/b.jpg", ("/", "b.jpg")),
            ("/a/b.jpg", ("/a/", "b.jpg")),
            ("a/...jpg", ("a/", "...jpg")),
        ];
        for &(path, (dir, file)) in ok {
            let (d, f) = split_checked(lib, path.as_bytes()).unwrap();
            assert_eq!((d, f), (dir.as_bytes(), file.as_bytes()), "{path:?}");
        }
    }

    #[test]
    fn arbitrary_names_never_panic() {
        // Names built from the characters the parsers split on, plus a few
        // others, by a fixed pseudo-random sequence: every one is read or
        // refused as a bad request, none panics or overflows.
        const ALPHABET: &[u8] = b"./_-x0123456789qcsabjpgn,#_ ";
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..20_000 {
            let len = (next() % 48) as usize;
            let name: Vec<u8> = (0..len)
                .map(|_| ALPHABET[(next() % ALPHABET.len() as u64) as usize])
                .collect();
            for library in [Library::EasyThumbnails, Library::VersatileImageField] {
                if let Err(e) = library.parse(&name) {
                    assert_eq!(e.class(), crate::ErrorClass::BadRequest);
                }
            }
        }
        // And the real suffixes with every byte of a name replaced in turn.
        for base in [
            &b"photos/a.jpg.350x350_q85_crop_target-10,20_upscale.jpg"[..],
            &b"__sized__/photos/a-crop-c0-25__0-75-350x350-70.jpg"[..],
        ] {
            for at in 0..base.len() {
                for byte in [b'0', b'9', b'-', b'_', b'.', b'/', b'x', 0, 0xff] {
                    let mut name = base.to_vec();
                    name[at] = byte;
                    for library in [Library::EasyThumbnails, Library::VersatileImageField] {
                        let _ = library.parse(&name);
                    }
                }
            }
        }
    }

    #[test]
    fn error_text_is_escaped_and_short() {
        assert_eq!(shown(b"a\"\n"), "\"a\\\"\\n\"");
        assert!(shown(&[b'x'; 1000]).len() < 50);
    }
}

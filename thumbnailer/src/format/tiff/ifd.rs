//! Reads the few IFD0 tags we need (size, orientation) from any
//! TIFF-structured blob: EXIF payloads in JPEG/PNG/WebP, and TIFF files
//! themselves, so limits can be checked before a decoder is built.

/// The IFD0 tags we care about; absent or malformed tags are `None`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Ifd0 {
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub orientation: Option<u32>,
}

const TAG_IMAGE_WIDTH: u16 = 0x0100;
const TAG_IMAGE_LENGTH: u16 = 0x0101;
const TAG_ORIENTATION: u16 = 0x0112;
const TYPE_SHORT: u16 = 3;
const TYPE_LONG: u16 = 4;

/// Parses a classic (32-bit offset) TIFF header and its first directory.
/// Every read is bounds-checked; `None` if the header itself is unusable.
pub(crate) fn read_ifd0(tiff: &[u8]) -> Option<Ifd0> {
    let big_endian = match tiff.get(0..2)? {
        b"II" => false,
        b"MM" => true,
        _ => return None,
    };
    let u16_at = |at: usize| -> Option<u16> {
        let b = tiff.get(at..at.checked_add(2)?)?;
        Some(if big_endian {
            u16::from_be_bytes([b[0], b[1]])
        } else {
            u16::from_le_bytes([b[0], b[1]])
        })
    };
    let u32_at = |at: usize| -> Option<u32> {
        let b = tiff.get(at..at.checked_add(4)?)?;
        Some(if big_endian {
            u32::from_be_bytes([b[0], b[1], b[2], b[3]])
        } else {
            u32::from_le_bytes([b[0], b[1], b[2], b[3]])
        })
    };
    if u16_at(2)? != 42 {
        return None;
    }
    let ifd = u32_at(4)? as usize;
    let entries = usize::from(u16_at(ifd)?);
    let mut out = Ifd0::default();
    for i in 0..entries {
        let entry = ifd.checked_add(2 + i * 12)?;
        let Some(tag) = u16_at(entry) else { break };
        // Single-valued SHORT or LONG, stored inline in the value field.
        let value = match u16_at(entry + 2) {
            Some(TYPE_SHORT) => u16_at(entry + 8).map(u32::from),
            Some(TYPE_LONG) => u32_at(entry + 8),
            _ => None,
        };
        match tag {
            TAG_IMAGE_WIDTH => out.width = value,
            TAG_IMAGE_LENGTH => out.height = value,
            TAG_ORIENTATION => out.orientation = value,
            _ => {}
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_size_and_orientation_in_both_byte_orders() {
        // II, width SHORT 10, height LONG 70000, orientation SHORT 6.
        let mut le = b"II*\0\x08\0\0\0\x03\0".to_vec();
        le.extend([0x00, 0x01, 3, 0, 1, 0, 0, 0, 10, 0, 0, 0]);
        le.extend([0x01, 0x01, 4, 0, 1, 0, 0, 0, 0x70, 0x11, 0x01, 0]);
        le.extend([0x12, 0x01, 3, 0, 1, 0, 0, 0, 6, 0, 0, 0]);
        let ifd = read_ifd0(&le).unwrap();
        assert_eq!(
            ifd,
            Ifd0 {
                width: Some(10),
                height: Some(70000),
                orientation: Some(6)
            }
        );

        let mut be = b"MM\0*\0\0\0\x08\0\x01".to_vec();
        be.extend([0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 8, 0, 0]);
        assert_eq!(read_ifd0(&be).unwrap().orientation, Some(8));
    }

    #[test]
    fn malformed_input_never_panics() {
        let mut le = b"II*\0\x08\0\0\0\x02\0".to_vec();
        le.extend([0x00, 0x01, 3, 0, 1, 0, 0, 0, 10, 0, 0, 0]);
        le.extend([0x01, 0x01, 3, 0, 1, 0, 0, 0, 20, 0, 0, 0]);
        for cut in 0..le.len() {
            let _ = read_ifd0(&le[..cut]);
        }
        assert_eq!(read_ifd0(b"XX*\0"), None);
        let mut far = le.clone();
        far[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(read_ifd0(&far), None);
    }
}

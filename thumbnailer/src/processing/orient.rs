//! EXIF orientation: reading the tag from a TIFF-structured EXIF blob, and
//! turning stored pixels upright before any geometry is applied.

use crate::bitmap::Bitmap;
use crate::format::tiff::ifd::read_ifd0;
use crate::job::{Flip, Rotation};

/// The eight EXIF orientations; the value is what the camera stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Orientation {
    Normal = 1,
    FlipHorizontal = 2,
    Rotate180 = 3,
    FlipVertical = 4,
    Transpose = 5,
    Rotate90 = 6,
    Transverse = 7,
    Rotate270 = 8,
}

impl Orientation {
    /// Values outside 1..=8 (0, 9, 65535 are seen in the wild) are ignored:
    /// the image is shown as stored rather than refused.
    pub fn from_exif_value(value: u32) -> Orientation {
        match value {
            2 => Orientation::FlipHorizontal,
            3 => Orientation::Rotate180,
            4 => Orientation::FlipVertical,
            5 => Orientation::Transpose,
            6 => Orientation::Rotate90,
            7 => Orientation::Transverse,
            8 => Orientation::Rotate270,
            _ => Orientation::Normal,
        }
    }

    fn swaps_sides(self) -> bool {
        matches!(
            self,
            Orientation::Transpose
                | Orientation::Rotate90
                | Orientation::Transverse
                | Orientation::Rotate270
        )
    }

    /// Size of the upright image for a stored `width` x `height`.
    pub fn upright_size(self, width: u32, height: u32) -> (u32, u32) {
        if self.swaps_sides() {
            (height, width)
        } else {
            (width, height)
        }
    }
}

/// Reads the Orientation tag from a TIFF-structured EXIF payload (after
/// "Exif\0\0"). `None` when there is no readable tag, which callers treat as
/// "as stored".
pub(crate) fn exif_orientation(tiff: &[u8]) -> Option<Orientation> {
    read_ifd0(tiff)?
        .orientation
        .map(Orientation::from_exif_value)
}

impl Orientation {
    /// A counter-clockwise `rotate` then a `flip`, as the one orientation
    /// whose [`apply`] does both in a single copy.
    pub fn of_turn(rotate: Rotation, flip: Flip) -> Orientation {
        use Orientation as O;
        match (rotate, flip) {
            (Rotation::None, Flip::None) => O::Normal,
            (Rotation::None, Flip::Horizontal) => O::FlipHorizontal,
            (Rotation::None, Flip::Vertical) => O::FlipVertical,
            (Rotation::Ccw90, Flip::None) => O::Rotate270,
            (Rotation::Ccw90, Flip::Horizontal) => O::Transverse,
            (Rotation::Ccw90, Flip::Vertical) => O::Transpose,
            (Rotation::Ccw180, Flip::None) => O::Rotate180,
            (Rotation::Ccw180, Flip::Horizontal) => O::FlipVertical,
            (Rotation::Ccw180, Flip::Vertical) => O::FlipHorizontal,
            (Rotation::Ccw270, Flip::None) => O::Rotate90,
            (Rotation::Ccw270, Flip::Horizontal) => O::Transpose,
            (Rotation::Ccw270, Flip::Vertical) => O::Transverse,
        }
    }
}

/// Returns the pixels turned upright.
pub(crate) fn apply(bitmap: Bitmap, orientation: Orientation) -> Bitmap {
    if orientation == Orientation::Normal {
        return bitmap;
    }
    match bitmap.layout.channels() {
        1 => transform::<1>(&bitmap, orientation),
        3 => transform::<3>(&bitmap, orientation),
        _ => transform::<4>(&bitmap, orientation),
    }
}

fn transform<const N: usize>(src: &Bitmap, orientation: Orientation) -> Bitmap {
    let (w, h) = (src.width as usize, src.height as usize);
    let (dw, dh) = orientation.upright_size(src.width, src.height);
    let (dw, dh) = (dw as usize, dh as usize);
    let mut out = vec![0u8; src.data.len()];
    for (y, row) in out.chunks_exact_mut(dw * N).enumerate() {
        for (x, px) in row.chunks_exact_mut(N).enumerate() {
            let (sx, sy) = match orientation {
                Orientation::Normal => (x, y),
                Orientation::FlipHorizontal => (w - 1 - x, y),
                Orientation::Rotate180 => (w - 1 - x, h - 1 - y),
                Orientation::FlipVertical => (x, h - 1 - y),
                Orientation::Transpose => (y, x),
                Orientation::Rotate90 => (y, h - 1 - x),
                Orientation::Transverse => (w - 1 - y, h - 1 - x),
                Orientation::Rotate270 => (w - 1 - y, x),
            };
            let at = (sy * w + sx) * N;
            px.copy_from_slice(&src.data[at..at + N]);
        }
    }
    debug_assert_eq!(out.len(), dw * dh * N);
    Bitmap {
        width: dw as u32,
        height: dh as u32,
        layout: src.layout,
        data: out,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bitmap::Layout;

    /// A 3x2 grey image whose values name their stored position:
    /// 1 2 3
    /// 4 5 6
    fn sample() -> Bitmap {
        Bitmap::new(3, 2, Layout::Gray, vec![1, 2, 3, 4, 5, 6]).unwrap()
    }

    #[test]
    fn every_orientation_table() {
        let table: &[(Orientation, (u32, u32), &[u8])] = &[
            (Orientation::Normal, (3, 2), &[1, 2, 3, 4, 5, 6]),
            (Orientation::FlipHorizontal, (3, 2), &[3, 2, 1, 6, 5, 4]),
            (Orientation::Rotate180, (3, 2), &[6, 5, 4, 3, 2, 1]),
            (Orientation::FlipVertical, (3, 2), &[4, 5, 6, 1, 2, 3]),
            (Orientation::Transpose, (2, 3), &[1, 4, 2, 5, 3, 6]),
            (Orientation::Rotate90, (2, 3), &[4, 1, 5, 2, 6, 3]),
            (Orientation::Transverse, (2, 3), &[6, 3, 5, 2, 4, 1]),
            (Orientation::Rotate270, (2, 3), &[3, 6, 2, 5, 1, 4]),
        ];
        for &(o, (w, h), want) in table {
            let out = apply(sample(), o);
            assert_eq!((out.width, out.height), (w, h), "{o:?}");
            assert_eq!(out.data, want, "{o:?}");
            assert_eq!(o.upright_size(3, 2), (w, h));
        }
    }

    #[test]
    #[allow(clippy::type_complexity)] // the table reads better inline
    fn turns_are_counter_clockwise_then_flipped() {
        // 1 2 3        3 6
        // 4 5 6  ->    2 5   (90° counter-clockwise)
        //              1 4
        let table: &[(Rotation, Flip, (u32, u32), &[u8])] = &[
            (Rotation::None, Flip::None, (3, 2), &[1, 2, 3, 4, 5, 6]),
            (Rotation::Ccw90, Flip::None, (2, 3), &[3, 6, 2, 5, 1, 4]),
            (Rotation::Ccw180, Flip::None, (3, 2), &[6, 5, 4, 3, 2, 1]),
            (Rotation::Ccw270, Flip::None, (2, 3), &[4, 1, 5, 2, 6, 3]),
            (
                Rotation::None,
                Flip::Horizontal,
                (3, 2),
                &[3, 2, 1, 6, 5, 4],
            ),
            (Rotation::None, Flip::Vertical, (3, 2), &[4, 5, 6, 1, 2, 3]),
            (
                Rotation::Ccw90,
                Flip::Horizontal,
                (2, 3),
                &[6, 3, 5, 2, 4, 1],
            ),
            (Rotation::Ccw90, Flip::Vertical, (2, 3), &[1, 4, 2, 5, 3, 6]),
        ];
        for &(rotate, flip, (w, h), want) in table {
            let out = apply(sample(), Orientation::of_turn(rotate, flip));
            assert_eq!((out.width, out.height), (w, h), "{rotate:?} {flip:?}");
            assert_eq!(out.data, want, "{rotate:?} {flip:?}");
        }
        // Every pair is the turn, then the flip, done one after the other.
        for rotate in [
            Rotation::None,
            Rotation::Ccw90,
            Rotation::Ccw180,
            Rotation::Ccw270,
        ] {
            for flip in [Flip::None, Flip::Horizontal, Flip::Vertical] {
                let turned = apply(sample(), Orientation::of_turn(rotate, Flip::None));
                let both = apply(turned, Orientation::of_turn(Rotation::None, flip));
                let once = apply(sample(), Orientation::of_turn(rotate, flip));
                assert_eq!(once, both, "{rotate:?} {flip:?}");
            }
        }
    }

    #[test]
    fn multi_channel_pixels_move_whole() {
        let b = Bitmap::new(2, 1, Layout::Rgb, vec![1, 2, 3, 4, 5, 6]).unwrap();
        assert_eq!(
            apply(b, Orientation::FlipHorizontal).data,
            vec![4, 5, 6, 1, 2, 3]
        );
    }

    fn exif(big_endian: bool, field_type: u16, value: u32) -> Vec<u8> {
        let mut v = Vec::new();
        let w16 = |v: &mut Vec<u8>, x: u16| {
            v.extend_from_slice(&if big_endian {
                x.to_be_bytes()
            } else {
                x.to_le_bytes()
            })
        };
        let w32 = |v: &mut Vec<u8>, x: u32| {
            v.extend_from_slice(&if big_endian {
                x.to_be_bytes()
            } else {
                x.to_le_bytes()
            })
        };
        v.extend_from_slice(if big_endian { b"MM" } else { b"II" });
        w16(&mut v, 42);
        w32(&mut v, 8);
        w16(&mut v, 2);
        // An unrelated tag first, to prove we scan the directory.
        w16(&mut v, 0x010F);
        w16(&mut v, 2);
        w32(&mut v, 1);
        w32(&mut v, 0);
        w16(&mut v, 0x0112);
        w16(&mut v, field_type);
        w32(&mut v, 1);
        if field_type == 3 {
            w16(&mut v, value as u16);
            w16(&mut v, 0);
        } else {
            w32(&mut v, value);
        }
        w32(&mut v, 0);
        v
    }

    #[test]
    fn exif_parsing_table() {
        assert_eq!(
            exif_orientation(&exif(false, 3, 6)),
            Some(Orientation::Rotate90)
        );
        assert_eq!(
            exif_orientation(&exif(true, 3, 8)),
            Some(Orientation::Rotate270)
        );
        assert_eq!(
            exif_orientation(&exif(true, 4, 3)),
            Some(Orientation::Rotate180)
        );
        // Invalid values are ignored, not errors.
        for bad in [0, 9, 65535] {
            assert_eq!(
                exif_orientation(&exif(false, 3, bad)),
                Some(Orientation::Normal)
            );
        }
        assert_eq!(exif_orientation(&exif(false, 7, 6)), None); // wrong field type
                                                                // Truncation anywhere must not panic.
        let full = exif(false, 3, 6);
        for cut in 0..full.len() - 4 {
            let _ = exif_orientation(&full[..cut]);
        }
        assert_eq!(exif_orientation(b"XX*\0"), None);
        // An IFD offset pointing far outside the blob.
        let mut far = exif(false, 3, 6);
        far[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(exif_orientation(&far), None);
    }
}

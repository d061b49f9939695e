//! The decoded pixel buffer passed between pipeline steps: 8-bit sRGB-ish
//! samples, tightly packed, in one of three layouts.

use crate::error::Error;
use crate::job::Rgb;

/// Channel layout of a [`Bitmap`]. Alpha, when present, is straight (not
/// premultiplied); the resizer premultiplies internally.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Layout {
    Gray,
    Rgb,
    Rgba,
}

impl Layout {
    pub fn channels(self) -> usize {
        match self {
            Layout::Gray => 1,
            Layout::Rgb => 3,
            Layout::Rgba => 4,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Bitmap {
    pub width: u32,
    pub height: u32,
    pub layout: Layout,
    pub data: Vec<u8>,
}

impl Bitmap {
    /// Wraps `data`, refusing a length that does not match the dimensions so
    /// later steps can index without re-checking.
    pub fn new(width: u32, height: u32, layout: Layout, data: Vec<u8>) -> Result<Self, Error> {
        let want = (width as usize)
            .checked_mul(height as usize)
            .and_then(|p| p.checked_mul(layout.channels()));
        if want != Some(data.len()) || width == 0 || height == 0 {
            return Err(Error::internal(format!(
                "pixel buffer of {} bytes does not match {width}x{height} {layout:?}",
                data.len()
            )));
        }
        Ok(Bitmap {
            width,
            height,
            layout,
            data,
        })
    }

    pub fn row_bytes(&self) -> usize {
        self.width as usize * self.layout.channels()
    }

    /// True when there is an alpha channel and some pixel is not fully opaque.
    pub fn has_transparency(&self) -> bool {
        self.layout == Layout::Rgba && self.data.chunks_exact(4).any(|p| p[3] != 255)
    }

    /// Composites onto an opaque background; the result has no alpha channel.
    pub fn flatten(self, background: Rgb) -> Bitmap {
        if self.layout != Layout::Rgba {
            return self;
        }
        let bg = [background.0, background.1, background.2];
        let mut out = Vec::with_capacity(self.data.len() / 4 * 3);
        for p in self.data.chunks_exact(4) {
            let a = u32::from(p[3]);
            for c in 0..3 {
                let v = (u32::from(p[c]) * a + u32::from(bg[c]) * (255 - a) + 127) / 255;
                out.push(v as u8);
            }
        }
        Bitmap {
            width: self.width,
            height: self.height,
            layout: Layout::Rgb,
            data: out,
        }
    }

    /// Drops an alpha channel that is fully opaque, so encoders write smaller files.
    pub fn drop_opaque_alpha(self) -> Bitmap {
        if self.layout == Layout::Rgba && !self.has_transparency() {
            return self.flatten(Rgb(0, 0, 0));
        }
        self
    }

    /// The samples as RGBA, four bytes a pixel, opaque where there was no
    /// alpha, for encoders that take nothing else.
    pub fn into_rgba_data(self) -> Vec<u8> {
        match self.layout {
            Layout::Rgba => self.data,
            Layout::Rgb => self
                .data
                .chunks_exact(3)
                .flat_map(|p| [p[0], p[1], p[2], 255])
                .collect(),
            Layout::Gray => self.data.iter().flat_map(|&v| [v, v, v, 255]).collect(),
        }
    }

    /// Widens to RGB or RGBA for encoders that have no grey mode.
    pub fn into_rgb_or_rgba(self) -> Bitmap {
        if self.layout != Layout::Gray {
            return self;
        }
        let data = self.data.iter().flat_map(|&v| [v, v, v]).collect();
        Bitmap {
            width: self.width,
            height: self.height,
            layout: Layout::Rgb,
            data,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_checks_the_length() {
        assert!(Bitmap::new(2, 2, Layout::Rgb, vec![0; 12]).is_ok());
        assert!(Bitmap::new(2, 2, Layout::Rgb, vec![0; 11]).is_err());
        assert!(Bitmap::new(0, 2, Layout::Rgb, vec![]).is_err());
    }

    #[test]
    fn flatten_blends_on_the_background() {
        let b = Bitmap::new(
            3,
            1,
            Layout::Rgba,
            vec![0, 0, 0, 0, 0, 0, 0, 255, 200, 100, 0, 128],
        )
        .unwrap();
        assert!(b.has_transparency());
        let f = b.flatten(Rgb(255, 255, 255));
        assert_eq!(f.layout, Layout::Rgb);
        assert_eq!(f.data, vec![255, 255, 255, 0, 0, 0, 227, 177, 127]);
    }

    #[test]
    fn opaque_alpha_is_dropped_and_real_alpha_kept() {
        let opaque = Bitmap::new(1, 1, Layout::Rgba, vec![1, 2, 3, 255]).unwrap();
        assert_eq!(opaque.drop_opaque_alpha().data, vec![1, 2, 3]);
        let clear = Bitmap::new(1, 1, Layout::Rgba, vec![1, 2, 3, 4]).unwrap();
        assert_eq!(clear.drop_opaque_alpha().layout, Layout::Rgba);
    }

    #[test]
    fn gray_widens_to_rgb() {
        let g = Bitmap::new(2, 1, Layout::Gray, vec![7, 9]).unwrap();
        assert_eq!(g.into_rgb_or_rgba().data, vec![7, 7, 7, 9, 9, 9]);
    }
}

//! Progressive JPEGs decoded at 1/8 scale: the stream handed to libjpeg-turbo
//! without the AC scans that such a decode never reads.
//!
//! At 1/8 scale libjpeg-turbo turns each block of a full-resolution component
//! into one pixel from its DC coefficient alone (`jpeg_idct_1x1`). For a
//! progressive file it still entropy-decodes every AC scan first, and those
//! scans are most of the bytes and nearly all the time: 90 % of the CPU of a
//! large photo. Subsampled chroma is scaled up by a larger IDCT that does read
//! AC coefficients, so its scans stay.
//!
//! Each dropped component gets one synthetic AC scan instead, which codes
//! every block as empty with a few end-of-band runs. Without it libjpeg-turbo
//! would see AC data missing and smooth the DC values as it does for a
//! partial preview; with it, the pixels are exactly those of decoding the
//! whole file at 1/8.
//!
//! Anything unusual returns `None` and the caller decodes the stream as it is,
//! so this can only change speed, never which files decode.

/// A frame component as the frame header declares it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FrameComponent {
    pub id: u8,
    pub h: u8,
    pub v: u8,
}

/// The frame a stream declares, as far as the rewrite needs it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Frame<'a> {
    pub width: u32,
    pub height: u32,
    pub components: &'a [FrameComponent],
}

/// The largest end-of-band run one code can carry (EOB14 plus 14 bits).
const MAX_EOB_RUN: u32 = (1 << 15) - 1;

/// The stream without the AC scans a 1/8-scale decode ignores, ending in one
/// synthetic empty AC scan per affected component. `None` when there is
/// nothing to drop, the file was truncated (its only EOI is the one the caller
/// appended, `appended_eoi`), it has more than `max_scans` scans, or its
/// structure is anything but plain.
pub(crate) fn without_unused_ac_scans(
    stream: &[u8],
    appended_eoi: bool,
    frame: &Frame<'_>,
    max_scans: u32,
) -> Option<Vec<u8>> {
    let max_h = frame.components.iter().map(|c| c.h).max()?;
    let max_v = frame.components.iter().map(|c| c.v).max()?;
    if frame.width == 0
        || frame.height == 0
        || frame.components.iter().any(|c| c.h == 0 || c.v == 0)
    {
        return None;
    }
    let unread_ac = |c: &FrameComponent| reads_dc_only(c, max_h, max_v);
    let mut out = Vec::with_capacity(stream.len() / 4);
    out.extend_from_slice(stream.get(..2)?);
    let mut dropped = vec![false; frame.components.len()];
    let mut scans = 0u32;
    let mut seen_scan = false;
    let mut pos = 2;
    loop {
        let segment_start = pos;
        if *stream.get(pos)? != 0xFF {
            return None;
        }
        while stream.get(pos) == Some(&0xFF) {
            pos += 1;
        }
        let marker = *stream.get(pos)?;
        pos += 1;
        if marker == 0xD9 {
            if appended_eoi && pos == stream.len() {
                return None;
            }
            break;
        }
        // Stand-alone markers outside entropy data, a second frame or a DNL
        // are legal oddities the rewrite does not need to understand.
        if matches!(marker, 0x00 | 0x01 | 0xD0..=0xD8 | 0xDC)
            || (seen_scan && is_frame_marker(marker))
        {
            return None;
        }
        let len_bytes = stream.get(pos..pos + 2)?;
        let len = usize::from(u16::from_be_bytes([len_bytes[0], len_bytes[1]]));
        if len < 2 {
            return None;
        }
        let payload = stream.get(pos + 2..pos + len)?;
        pos += len;
        if marker != 0xDA {
            out.extend_from_slice(&stream[segment_start..pos]);
            continue;
        }
        seen_scan = true;
        scans += 1;
        if scans > max_scans {
            return None;
        }
        let scan = ScanHeader::parse(payload)?;
        pos = entropy_end(stream, pos)?;
        let only = match scan.single_component {
            Some(id) if scan.spectral_start > 0 => frame.components.iter().position(|c| c.id == id),
            _ => None,
        };
        match only {
            Some(index) if unread_ac(&frame.components[index]) => dropped[index] = true,
            _ => out.extend_from_slice(&stream[segment_start..pos]),
        }
    }
    if !dropped.contains(&true) {
        return None;
    }
    // Restart markers would be needed in the synthetic scans if the file's
    // restart interval still applied; a DRI of 0 turns it off for them.
    out.extend_from_slice(&[0xFF, 0xDD, 0x00, 0x04, 0x00, 0x00]);
    out.extend_from_slice(&EMPTY_AC_TABLE);
    for (component, _) in frame.components.iter().zip(&dropped).filter(|(_, d)| **d) {
        let blocks = blocks_across(frame.width, component.h, max_h)
            * blocks_across(frame.height, component.v, max_v);
        // One component, DC table 0 / AC table 0, band 1..=63, no
        // successive approximation.
        out.extend_from_slice(&[
            0xFF,
            0xDA,
            0x00,
            0x08,
            0x01,
            component.id,
            0x00,
            1,
            63,
            0x00,
        ]);
        empty_band_scan(blocks, &mut out);
    }
    out.extend_from_slice(&[0xFF, 0xD9]);
    Some(out)
}

/// libjpeg-turbo's choice of IDCT size for a component at 1/8 scale
/// (`jpeg_calc_output_dimensions`): chroma subsampled by two in both
/// directions is scaled up by a 2x2 IDCT, which reads AC coefficients;
/// everything else gets the 1x1 IDCT, which reads only DC.
fn reads_dc_only(c: &FrameComponent, max_h: u8, max_v: u8) -> bool {
    let doubles = max_h.is_multiple_of(c.h * 2) && max_v.is_multiple_of(c.v * 2);
    !doubles
}

fn is_frame_marker(marker: u8) -> bool {
    matches!(marker, 0xC0..=0xC3 | 0xC5..=0xC7 | 0xC9..=0xCB | 0xCD..=0xCF)
}

/// Blocks of a component along one axis, as libjpeg counts them for a
/// non-interleaved scan.
fn blocks_across(pixels: u32, factor: u8, max_factor: u8) -> u32 {
    (pixels * u32::from(factor)).div_ceil(u32::from(max_factor) * 8)
}

struct ScanHeader {
    /// The component of a single-component scan, the only kind that can be
    /// dropped.
    single_component: Option<u8>,
    spectral_start: u8,
}

impl ScanHeader {
    fn parse(payload: &[u8]) -> Option<Self> {
        let count = usize::from(*payload.first()?);
        if count == 0 || payload.len() != 1 + 2 * count + 3 {
            return None;
        }
        Some(Self {
            single_component: (count == 1).then(|| payload[1]),
            spectral_start: payload[1 + 2 * count],
        })
    }
}

/// Where the entropy-coded data starting at `pos` ends: at the next marker
/// that is neither a stuffed zero nor a restart. `None` when the data runs to
/// the end of the stream.
fn entropy_end(stream: &[u8], mut pos: usize) -> Option<usize> {
    loop {
        pos += memchr::memchr(0xFF, stream.get(pos..)?)?;
        match *stream.get(pos + 1)? {
            0x00 | 0xD0..=0xD7 => pos += 2,
            _ => return Some(pos),
        }
    }
}

/// DHT for AC table 0: the fifteen end-of-band symbols EOB0..EOB14, all with
/// four-bit codes, so EOBr is coded as r.
const EMPTY_AC_TABLE: [u8; 36] = [
    0xFF, 0xC4, 0x00, 0x22, 0x10, // length 34, class AC, id 0
    0, 0, 0, 15, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // 15 codes of length 4
    0x00, 0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0x80, 0x90, 0xA0, 0xB0, 0xC0, 0xD0, 0xE0,
];

/// Entropy data marking `blocks` blocks as having no AC coefficients.
fn empty_band_scan(mut blocks: u32, out: &mut Vec<u8>) {
    let mut bits = BitWriter::new(out);
    while blocks > 0 {
        let run = blocks.min(MAX_EOB_RUN);
        let r = run.ilog2();
        bits.put(r, 4);
        bits.put(run - (1 << r), r);
        blocks -= run;
    }
    bits.finish();
}

/// Big-endian bit packing with JPEG byte stuffing.
struct BitWriter<'a> {
    out: &'a mut Vec<u8>,
    acc: u32,
    count: u32,
}

impl<'a> BitWriter<'a> {
    fn new(out: &'a mut Vec<u8>) -> Self {
        Self {
            out,
            acc: 0,
            count: 0,
        }
    }

    /// Appends the low `n` bits of `value` (n ≤ 16).
    fn put(&mut self, value: u32, n: u32) {
        self.acc = (self.acc << n) | (value & ((1 << n) - 1));
        self.count += n;
        while self.count >= 8 {
            self.count -= 8;
            let byte = (self.acc >> self.count) as u8;
            self.out.push(byte);
            if byte == 0xFF {
                self.out.push(0x00);
            }
        }
        self.acc &= (1 << self.count) - 1;
    }

    /// Pads the last byte with one bits, as the standard asks.
    fn finish(mut self) {
        if self.count > 0 {
            let pad = 8 - self.count;
            self.put((1 << pad) - 1, pad);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eob_runs_cover_exactly_the_blocks() {
        // Decode the runs back: code r, then r bits.
        for blocks in [1u32, 2, 3, 255, 32767, 32768, 100_000, 280_000] {
            let mut out = Vec::new();
            empty_band_scan(blocks, &mut out);
            let unstuffed: Vec<u8> = out
                .iter()
                .enumerate()
                .filter(|&(i, &b)| !(b == 0 && i > 0 && out[i - 1] == 0xFF))
                .map(|(_, &b)| b)
                .collect();
            let bit = |i: usize| (unstuffed[i / 8] >> (7 - i % 8)) & 1;
            let (mut i, mut total) = (0usize, 0u32);
            while total < blocks {
                let r = (0..4).fold(0u32, |a, k| (a << 1) | u32::from(bit(i + k)));
                i += 4;
                let extra = (0..r as usize).fold(0u32, |a, k| (a << 1) | u32::from(bit(i + k)));
                i += r as usize;
                total += (1 << r) + extra;
            }
            assert_eq!(total, blocks);
            assert!(unstuffed.len() * 8 - i < 8, "only padding is left");
            assert!(
                (i..unstuffed.len() * 8).all(|k| bit(k) == 1),
                "padded with ones"
            );
        }
    }

    #[test]
    fn stuffing_follows_every_ff() {
        let mut out = Vec::new();
        let mut bits = BitWriter::new(&mut out);
        bits.put(0xFF, 8);
        bits.put(0x3, 2);
        bits.finish();
        assert_eq!(out, [0xFF, 0x00, 0xFF, 0x00]);
    }

    #[test]
    fn idct_choice_follows_libjpeg() {
        let c = |h, v| FrameComponent { id: 1, h, v };
        // 4:2:0: luma 1x1 (DC only), chroma 2x2 (needs AC).
        assert!(reads_dc_only(&c(2, 2), 2, 2));
        assert!(!reads_dc_only(&c(1, 1), 2, 2));
        // 4:2:2: chroma is only halved across, so it too gets the 1x1 IDCT.
        assert!(reads_dc_only(&c(1, 1), 2, 1));
        // 4:4:4 and grey.
        assert!(reads_dc_only(&c(1, 1), 1, 1));
    }

    #[test]
    fn streams_the_rewrite_does_not_understand_are_left_alone() {
        let components = [FrameComponent { id: 1, h: 1, v: 1 }];
        let frame = Frame {
            width: 8,
            height: 8,
            components: &components,
        };
        // No EOI: truncated.
        let truncated = [
            0xFF, 0xD8, 0xFF, 0xDA, 0x00, 0x08, 1, 1, 0x00, 1, 63, 0, 0x12, 0x34,
        ];
        assert!(without_unused_ac_scans(&truncated, false, &frame, 100).is_none());
        // Nothing to drop: a DC scan only.
        let dc_only = [
            0xFF, 0xD8, 0xFF, 0xDA, 0x00, 0x08, 1, 1, 0x00, 0, 0, 0, 0x12, 0xFF, 0xD9,
        ];
        assert!(without_unused_ac_scans(&dc_only, false, &frame, 100).is_none());
        // An AC scan is dropped and replaced.
        let with_ac = [
            0xFF, 0xD8, 0xFF, 0xDA, 0x00, 0x08, 1, 1, 0x00, 0, 0, 0, 0x12, 0xFF, 0xDA, 0x00, 0x08,
            1, 1, 0x00, 1, 63, 0, 0x34, 0xFF, 0x00, 0xFF, 0xD9,
        ];
        let out = without_unused_ac_scans(&with_ac, false, &frame, 100).unwrap();
        assert!(out.starts_with(&with_ac[..13]), "the DC scan is kept");
        assert!(
            !out.windows(2).any(|w| w == [0x34, 0xFF]),
            "the AC data is gone"
        );
        assert!(
            without_unused_ac_scans(&with_ac, false, &frame, 1).is_none(),
            "scan limit"
        );
        // The same stream whose EOI the caller appended: truncated.
        assert!(without_unused_ac_scans(&with_ac, true, &frame, 100).is_none());
        // Its own EOI followed by trailing bytes is complete.
        let mut trailing = with_ac.to_vec();
        trailing.extend_from_slice(b"trailer\xFF\xD9");
        assert!(without_unused_ac_scans(&trailing, true, &frame, 100).is_some());
    }
}

//! Reduces a thumbnail to at most 256 RGBA colours for an indexed PNG. A
//! thumbnail that has that few distinct colours keeps them exactly. Otherwise
//! NeuQuant (`color_quant`) learns a palette from a sample of the pixels, one
//! k-means step moves each entry to the mean of the pixels that took it, and
//! every pixel takes its nearest entry. Fully transparent pixels stay fully
//! transparent and opaque pixels stay opaque, whatever the palette looks like.

use color_quant::NeuQuant;

use crate::bitmap::{Bitmap, Layout};

/// The most entries an indexed PNG can hold.
const MAX_COLOURS: usize = 256;

/// Entries NeuQuant learns. The last slot is kept for fully transparent
/// pixels, whose colour is invisible and not worth learning.
const LEARNED_COLOURS: usize = MAX_COLOURS - 1;

/// Every fully transparent pixel becomes this one colour.
const CLEAR: [u8; 4] = [0, 0, 0, 0];

/// Learned alphas from here up become 255. Translucent edge pixels pull the
/// neighbouring entries a few steps below opaque; left there, those entries
/// would be out of reach for opaque pixels, which only take opaque entries.
const SNAP_TO_OPAQUE: u8 = 251;

/// Pixels NeuQuant learns from. Its time grows with these, about 1 µs each
/// for 255 entries, not with the image. The k-means step afterwards does more
/// for less: on a smooth 350x350 gradient, 1000 samples and the step came to
/// a mean error of 4.0 per channel in about 2.5 ms, 12 000 samples alone to
/// 4.2 in 10 ms.
const LEARNING_SAMPLES: usize = 1000;

/// NeuQuant's largest sampling factor. It learns from every `factor`th of
/// the pixels it is given and, the higher the factor, lowers its learning
/// rate more slowly, which suits a short run: so it is given a strided
/// subset of `LEARNING_SAMPLES * MAX_SAMPLE_FACTOR` pixels at most.
const MAX_SAMPLE_FACTOR: usize = 30;

/// A thumbnail as palette indices.
pub(crate) struct Indexed {
    /// RGBA entries, each used by some pixel, the ones with alpha below 255
    /// first so the tRNS chunk can stop after the last of them.
    pub palette: Vec<[u8; 4]>,
    /// One index into `palette` per pixel, row by row.
    pub indices: Vec<u8>,
}

impl Indexed {
    /// The PLTE chunk's body: R, G, B per entry.
    pub fn plte(&self) -> Vec<u8> {
        self.palette
            .iter()
            .flat_map(|c| [c[0], c[1], c[2]])
            .collect()
    }

    /// The tRNS chunk's body: the alpha of every entry up to the last one that
    /// is not opaque. Empty when all are opaque, and then no tRNS is written.
    pub fn trns(&self) -> Vec<u8> {
        self.palette
            .iter()
            .map(|c| c[3])
            .take_while(|&a| a != 255)
            .collect()
    }
}

pub(crate) fn quantise(bitmap: &Bitmap) -> Indexed {
    let pixels = rgba_pixels(bitmap);
    let (palette, indices) = exact_palette(&pixels).unwrap_or_else(|| learned_palette(&pixels));
    trim_and_order(&palette, indices)
}

fn rgba_pixels(bitmap: &Bitmap) -> Vec<[u8; 4]> {
    match bitmap.layout {
        Layout::Gray => bitmap.data.iter().map(|&v| [v, v, v, 255]).collect(),
        Layout::Rgb => bitmap
            .data
            .chunks_exact(3)
            .map(|p| [p[0], p[1], p[2], 255])
            .collect(),
        // What lies under alpha 0 is invisible, so it must not count as colours.
        Layout::Rgba => bitmap
            .data
            .chunks_exact(4)
            .map(|p| {
                if p[3] == 0 {
                    CLEAR
                } else {
                    [p[0], p[1], p[2], p[3]]
                }
            })
            .collect(),
    }
}

/// The image's own colours and indices, or `None` once a 257th colour shows
/// up. Flat logos and icons often pass even after resampling; photographs
/// give up within their first rows.
fn exact_palette(pixels: &[[u8; 4]]) -> Option<(Vec<[u8; 4]>, Vec<u8>)> {
    let mut table = ColourTable::new();
    let mut palette = Vec::new();
    let mut indices = Vec::with_capacity(pixels.len());
    // Runs of one colour are the common case in the images that pass.
    let mut last = None;
    for &colour in pixels {
        let index = match last {
            Some((c, i)) if c == colour => i,
            _ => {
                let i = table.index_of(colour, &mut palette)?;
                last = Some((colour, i));
                i
            }
        };
        indices.push(index);
    }
    Some((palette, indices))
}

/// Slots of [`ColourTable`]: a power of two, four per colour it may hold, so
/// probe chains stay short.
const TABLE_SLOTS: usize = 4 * MAX_COLOURS;

/// Colour to palette index, open-addressed: a hundred thousand lookups need
/// no more than a multiply each, where a `HashMap` would hash with SipHash.
struct ColourTable {
    keys: Vec<u32>,
    /// Palette index + 1; 0 marks an empty slot.
    slots: Vec<u16>,
}

impl ColourTable {
    fn new() -> Self {
        ColourTable {
            keys: vec![0; TABLE_SLOTS],
            slots: vec![0; TABLE_SLOTS],
        }
    }

    /// The index of `colour`, appending it to `palette` when new; `None` when
    /// it is new and the palette is full.
    fn index_of(&mut self, colour: [u8; 4], palette: &mut Vec<[u8; 4]>) -> Option<u8> {
        let key = u32::from_le_bytes(colour);
        // Fibonacci hashing: the top bits of the product mix all four channels.
        let shift = 32 - TABLE_SLOTS.trailing_zeros();
        let mut slot = (key.wrapping_mul(0x9E37_79B1) >> shift) as usize;
        loop {
            match self.slots[slot] {
                0 => {
                    if palette.len() == MAX_COLOURS {
                        return None;
                    }
                    palette.push(colour);
                    self.keys[slot] = key;
                    self.slots[slot] = palette.len() as u16;
                    return Some((palette.len() - 1) as u8);
                }
                n if self.keys[slot] == key => return Some((n - 1) as u8),
                _ => slot = (slot + 1) % TABLE_SLOTS,
            }
        }
    }
}

/// A palette for an image with more than 256 colours, and every pixel's
/// nearest entry in it.
fn learned_palette(pixels: &[[u8; 4]]) -> (Vec<[u8; 4]>, Vec<u8>) {
    let learned = learn(pixels);
    let first = map_pixels(pixels, &learned);
    let refined = centroids(pixels, &first, &learned);
    let indices = map_pixels(pixels, &refined);
    let mut palette = refined;
    palette.push(CLEAR);
    (palette, indices)
}

/// NeuQuant's palette of the visible pixels, with alphas fixed up so that
/// opaque pixels have opaque entries to take.
fn learn(pixels: &[[u8; 4]]) -> Vec<[u8; 4]> {
    let visible = pixels.iter().filter(|p| p[3] != 0);
    let stride = (visible.clone().count() / (LEARNING_SAMPLES * MAX_SAMPLE_FACTOR)).max(1);
    let subset: Vec<u8> = visible.step_by(stride).flatten().copied().collect();
    let factor = (subset.len() / 4 / LEARNING_SAMPLES).clamp(1, MAX_SAMPLE_FACTOR);
    let quant = NeuQuant::new(factor as i32, LEARNED_COLOURS, &subset);

    let translucent = pixels.iter().any(|p| p[3] != 0 && p[3] != 255);
    let mut palette: Vec<[u8; 4]> = quant
        .color_map_rgba()
        .chunks_exact(4)
        .map(|c| {
            // Without translucent pixels, any alpha below 255 is left over
            // from NeuQuant's starting network, not learned.
            let opaque = !translucent || c[3] >= SNAP_TO_OPAQUE;
            [c[0], c[1], c[2], if opaque { 255 } else { c[3] }]
        })
        .collect();
    let has_opaque = pixels.iter().any(|p| p[3] == 255);
    if has_opaque && !palette.iter().any(|c| c[3] == 255) {
        if let Some(most) = palette.iter_mut().max_by_key(|c| c[3]) {
            most[3] = 255;
        }
    }
    palette
}

/// Every pixel's nearest entry of `palette`, or `palette.len()` (the entry
/// for [`CLEAR`] that the caller appends) for fully transparent ones.
fn map_pixels(pixels: &[[u8; 4]], palette: &[[u8; 4]]) -> Vec<u8> {
    let mut nearest = CellCache::new(Nearest::new(palette));
    let clear = palette.len() as u8;
    pixels
        .iter()
        .map(|&colour| {
            if colour[3] == 0 {
                clear
            } else {
                nearest.index_of(colour)
            }
        })
        .collect()
}

/// One k-means step: each entry moved to the mean of the pixels that took
/// it (unused ones stay). Opaque entries stay opaque, however many
/// translucent pixels took them, so opaque pixels keep somewhere to go.
fn centroids(pixels: &[[u8; 4]], indices: &[u8], palette: &[[u8; 4]]) -> Vec<[u8; 4]> {
    let mut sums = vec![[0u64; 5]; palette.len() + 1];
    for (colour, &index) in pixels.iter().zip(indices) {
        let sum = &mut sums[usize::from(index)];
        for (total, &c) in sum.iter_mut().zip(colour) {
            *total += u64::from(c);
        }
        sum[4] += 1;
    }
    palette
        .iter()
        .zip(&sums)
        .map(|(&entry, sum)| {
            let n = sum[4];
            if n == 0 {
                return entry;
            }
            let mean = |k: usize| ((sum[k] + n / 2) / n) as u8;
            let alpha = if entry[3] == 255 { 255 } else { mean(3) };
            [mean(0), mean(1), mean(2), alpha]
        })
        .collect()
}

/// Width in levels (as a power of two), per channel, of the colour cells
/// [`CellCache`] shares one answer across. The answer is the entry nearest
/// the cell's centre, which is within 4 of every pixel in a cell of 4 levels,
/// so a pixel may get an entry up to 8 further away than its own nearest; on
/// a smooth gradient the mean error grew by 0.07. Cells of 8 levels made the
/// mapping three times faster but tripled the error on a resized photograph.
const CELL_BITS: u32 = 2;

/// Slots of [`CellCache`], a power of two. Two cells in one slot only cost
/// repeated searches.
const CACHE_SLOTS: usize = 1 << 14;

/// Nearest entries remembered per colour cell, direct-mapped. Resampled
/// thumbnails have tens of thousands of colours but far fewer cells, and a
/// search costs a hundred times a lookup.
struct CellCache {
    nearest: Nearest,
    /// The last answer, a good first guess for the next search.
    last: u8,
    /// The cell of each slot (channels' top bits, plus the opaque flag), or
    /// `u32::MAX`, which no cell is, for an empty slot.
    keys: Vec<u32>,
    indices: Vec<u8>,
}

impl CellCache {
    fn new(nearest: Nearest) -> Self {
        CellCache {
            nearest,
            last: 0,
            keys: vec![u32::MAX; CACHE_SLOTS],
            indices: vec![0; CACHE_SLOTS],
        }
    }

    fn index_of(&mut self, colour: [u8; 4]) -> u8 {
        let opaque = colour[3] == 255;
        // Opaque pixels get a cell of their own: their answer is restricted
        // to opaque entries, so they must not share one with alpha 252..254.
        let key = colour.iter().fold(u32::from(opaque), |key, &c| {
            key << (8 - CELL_BITS) | u32::from(c >> CELL_BITS)
        });
        let slot = (key.wrapping_mul(0x9E37_79B1) >> (32 - CACHE_SLOTS.trailing_zeros())) as usize;
        if self.keys[slot] != key {
            let centre = |c: u8| (c >> CELL_BITS << CELL_BITS) | (1 << (CELL_BITS - 1));
            let alpha = if opaque { 255 } else { centre(colour[3]) };
            let probe = [
                centre(colour[0]),
                centre(colour[1]),
                centre(colour[2]),
                alpha,
            ];
            self.keys[slot] = key;
            self.indices[slot] = self.nearest.index_of(probe, self.last);
        }
        self.last = self.indices[slot];
        self.last
    }
}

/// A palette entry for the nearest-colour search.
#[derive(Clone, Copy)]
struct Entry {
    colour: [u8; 4],
    index: u8,
}

/// Nearest palette entry by squared RGBA distance. Our own rather than
/// `NeuQuant::index_of`, which ends its two-way search as soon as either
/// direction runs out, never reaches entry 0 walking down, and would let an
/// opaque pixel take a translucent entry.
struct Nearest {
    /// The palette, by index.
    palette: Vec<[u8; 4]>,
    /// Opaque entries, sorted by green: the only ones opaque pixels may take.
    opaque: Vec<Entry>,
    /// All entries, sorted by green, for translucent pixels.
    all: Vec<Entry>,
}

impl Nearest {
    fn new(palette: &[[u8; 4]]) -> Self {
        let mut all: Vec<Entry> = palette
            .iter()
            .enumerate()
            .map(|(i, &colour)| Entry {
                colour,
                index: i as u8,
            })
            .collect();
        all.sort_by_key(|e| e.colour[1]);
        let opaque = all.iter().copied().filter(|e| e.colour[3] == 255).collect();
        Nearest {
            palette: palette.to_vec(),
            opaque,
            all,
        }
    }

    /// The nearest entry to `colour`. `guess`, an entry likely to be near
    /// (the answer for the previous pixel), only makes the search shorter.
    fn index_of(&self, colour: [u8; 4], guess: u8) -> u8 {
        let only_opaque = colour[3] == 255 && !self.opaque.is_empty();
        let entries = if only_opaque { &self.opaque } else { &self.all };
        let mut best = (u32::MAX, 0);
        if let Some(&near) = self.palette.get(usize::from(guess)) {
            if !only_opaque || near[3] == 255 {
                best = (distance(near, colour), guess);
            }
        }
        // Start at the entries of the same green and walk outwards both ways;
        // a direction ends once green alone is as far as the best so far.
        let start = entries.partition_point(|e| e.colour[1] < colour[1]);
        for e in &entries[start..] {
            if !consider(e, colour, &mut best) {
                break;
            }
        }
        for e in entries[..start].iter().rev() {
            if !consider(e, colour, &mut best) {
                break;
            }
        }
        best.1
    }
}

/// Keeps `e` in `best` if it is nearer; false once `e`'s green alone is too
/// far for it or anything beyond it (further from `colour` in green) to win.
fn consider(e: &Entry, colour: [u8; 4], best: &mut (u32, u8)) -> bool {
    let green = i32::from(e.colour[1]) - i32::from(colour[1]);
    if (green * green) as u32 >= best.0 {
        return false;
    }
    let d = distance(e.colour, colour);
    if d < best.0 {
        *best = (d, e.index);
    }
    true
}

/// Squared distance over R, G, B and A.
fn distance(a: [u8; 4], b: [u8; 4]) -> u32 {
    a.iter()
        .zip(&b)
        .map(|(&x, &y)| {
            let d = i32::from(x) - i32::from(y);
            (d * d) as u32
        })
        .sum()
}

/// Drops unused and duplicate entries, so the PLTE is no longer than needed
/// and small palettes can be written with fewer bits per pixel, and moves the
/// entries with alpha below 255 to the front for the tRNS chunk.
fn trim_and_order(palette: &[[u8; 4]], mut indices: Vec<u8>) -> Indexed {
    let mut used = [false; MAX_COLOURS];
    for &i in &indices {
        used[usize::from(i)] = true;
    }
    let mut kept: Vec<[u8; 4]> = Vec::new();
    let mut remap = [0u8; MAX_COLOURS];
    // Translucent entries first, opaque after; each keeps its relative order.
    for pass_opaque in [false, true] {
        for (old, &colour) in palette.iter().enumerate() {
            if !used[old] || (colour[3] == 255) != pass_opaque {
                continue;
            }
            let new = match kept.iter().position(|&k| k == colour) {
                Some(existing) => existing,
                None => {
                    kept.push(colour);
                    kept.len() - 1
                }
            };
            remap[old] = new as u8;
        }
    }
    for i in &mut indices {
        *i = remap[usize::from(*i)];
    }
    Indexed {
        palette: kept,
        indices,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn brute_force_nearest(palette: &[[u8; 4]], colour: [u8; 4]) -> u32 {
        palette
            .iter()
            .filter(|c| colour[3] != 255 || c[3] == 255)
            .map(|&c| distance(c, colour))
            .min()
            .unwrap()
    }

    /// A small deterministic generator, so the test needs no `rand`.
    fn xorshift(state: &mut u32) -> u32 {
        *state ^= *state << 13;
        *state ^= *state >> 17;
        *state ^= *state << 5;
        *state
    }

    #[test]
    fn nearest_matches_a_brute_force_search() {
        let mut state = 0x1234_5678;
        let palette: Vec<[u8; 4]> = (0..200)
            .map(|i| {
                let c = xorshift(&mut state).to_le_bytes();
                [c[0], c[1], c[2], if i % 3 == 0 { c[3] } else { 255 }]
            })
            .collect();
        let nearest = Nearest::new(&palette);
        for _ in 0..5000 {
            let mut colour = xorshift(&mut state).to_le_bytes();
            if colour[3] > 128 {
                colour[3] = 255;
            }
            // Any guess, near or far, allowed or not, gives the same answer.
            let guess = xorshift(&mut state) as u8;
            let got = palette[usize::from(nearest.index_of(colour, guess))];
            assert_eq!(
                distance(got, colour),
                brute_force_nearest(&palette, colour),
                "{colour:?}"
            );
            if colour[3] == 255 {
                assert_eq!(got[3], 255);
            }
        }
    }

    #[test]
    fn few_colours_are_kept_exactly_with_translucent_entries_first() {
        let colours = [
            [255, 0, 0, 255],
            [0, 0, 255, 128],
            [9, 9, 9, 0],
            [0, 255, 0, 255],
        ];
        let data: Vec<u8> = (0..40).flat_map(|i| colours[i % 4]).collect();
        let bitmap = Bitmap::new(8, 5, Layout::Rgba, data).unwrap();
        let indexed = quantise(&bitmap);
        assert_eq!(
            indexed.palette,
            vec![[0, 0, 255, 128], CLEAR, [255, 0, 0, 255], [0, 255, 0, 255]]
        );
        assert_eq!(indexed.trns(), vec![128, 0]);
        assert_eq!(indexed.plte().len(), 12);
        let back: Vec<[u8; 4]> = indexed
            .indices
            .iter()
            .map(|&i| indexed.palette[usize::from(i)])
            .collect();
        let want: Vec<[u8; 4]> = (0..40)
            .map(|i| if i % 4 == 2 { CLEAR } else { colours[i % 4] })
            .collect();
        assert_eq!(back, want);
    }

    #[test]
    fn the_table_gives_up_at_the_257th_colour() {
        let exactly: Vec<[u8; 4]> = (0..=255u8).map(|v| [v, 255 - v, v / 2, 255]).collect();
        let (palette, indices) = exact_palette(&exactly).unwrap();
        assert_eq!(palette.len(), 256);
        assert_eq!(indices, (0..=255u8).collect::<Vec<_>>());
        let mut one_more = exactly.clone();
        one_more.push([1, 2, 3, 4]);
        assert!(exact_palette(&one_more).is_none());
    }
}

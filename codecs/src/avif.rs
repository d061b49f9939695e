//! AVIF through libavif (dav1d to decode, libaom to encode): the container
//! header read before any pixel is decoded, the first image decoded to 8-bit
//! RGB(A), and 8-bit RGB(A) encoded at a quality and speed.
//!
//! libavif keeps raw pointers into the caller's bytes and owns the decoded
//! planes; the types below tie those lifetimes to Rust borrows and free every
//! libavif object on drop, so no pointer escapes this file.

mod sys;
#[cfg(test)]
mod tests;

use std::ffi::CStr;
use std::fmt;
use std::marker::PhantomData;
use std::ptr::NonNull;

/// Why an AVIF operation failed, so the caller can pick a status code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AvifErrorKind {
    /// The bytes are not an AVIF libavif can read (corrupt, truncated, or
    /// using a feature it does not implement).
    Invalid,
    /// The image declares more pixels (or frames) than the caller allows.
    TooLarge,
    /// The caller's pixels or settings are wrong, or libavif failed in a way
    /// the input does not explain (no codec, out of memory).
    Internal,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AvifError {
    pub kind: AvifErrorKind,
    pub message: String,
}

impl AvifError {
    fn new(kind: AvifErrorKind, message: impl Into<String>) -> Self {
        AvifError {
            kind,
            message: message.into(),
        }
    }

    /// Classifies a libavif result: what a file can cause is `Invalid`, what
    /// only the library's state or build can cause is `Internal`.
    fn from_result(result: sys::avifResult, during: &str, diagnostics: Option<&str>) -> Self {
        let detail = diagnostics.unwrap_or("");
        let kind = match result {
            // libavif's ceiling on declared dimensions, hit while parsing
            // (the only parse failure whose text says so).
            sys::AVIF_RESULT_BMFF_PARSE_FAILED if detail.contains("dimensions are too large") => {
                AvifErrorKind::TooLarge
            }
            sys::AVIF_RESULT_NO_CODEC_AVAILABLE
            | sys::AVIF_RESULT_OUT_OF_MEMORY
            | sys::AVIF_RESULT_INVALID_ARGUMENT
            | sys::AVIF_RESULT_IO_NOT_SET
            | sys::AVIF_RESULT_CANNOT_CHANGE_SETTING => AvifErrorKind::Internal,
            _ => AvifErrorKind::Invalid,
        };
        let mut message = format!("avif {during}: {}", result_text(result));
        if !detail.is_empty() {
            message.push_str(" (");
            message.push_str(detail);
            message.push(')');
        }
        AvifError { kind, message }
    }
}

impl fmt::Display for AvifError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for AvifError {}

fn result_text(result: sys::avifResult) -> String {
    // SAFETY: avifResultToString accepts any value (unknown ones map to
    // "Unknown Error") and returns a pointer to a static NUL-terminated
    // string that is never freed.
    let text = unsafe { CStr::from_ptr(sys::avifResultToString(result)) };
    text.to_string_lossy().into_owned()
}

/// The colour description an AVIF carries when it has no ICC profile
/// (ITU-T H.273 code points), for the caller's colour management.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cicp {
    pub primaries: u16,
    pub transfer: u16,
    pub matrix: u16,
}

impl Cicp {
    /// True when the samples can be taken as sRGB without conversion:
    /// BT.709 primaries (or unspecified), and an sRGB-like transfer.
    pub fn is_srgb_like(&self) -> bool {
        let primaries_ok = self.primaries <= 2;
        // 1 (BT.709), 6 (BT.601) and 13 (sRGB) differ only slightly near
        // black; 2 is "unspecified", which decoders treat as sRGB.
        let transfer_ok = matches!(self.transfer, 0 | 1 | 2 | 6 | 13);
        primaries_ok && transfer_ok
    }
}

/// What the container says, read without decoding any AV1 data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AvifHeader {
    pub width: u32,
    pub height: u32,
    /// Bits per sample of the coded image: 8, 10 or 12.
    pub depth: u32,
    pub has_alpha: bool,
    /// Frames of an image sequence (`avis`); 1 for a still image.
    pub frame_count: u32,
    pub icc: Option<Vec<u8>>,
    pub cicp: Cicp,
    /// The `irot`/`imir` transforms as the EXIF orientation value (1..=8)
    /// that asks for the same display, so one code path applies both.
    pub exif_orientation: u8,
}

/// Bounds checked against the container before the AV1 decoder runs, and
/// passed to libavif so its own allocations stay inside them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecodeLimits {
    pub max_pixels: u64,
    /// Threads libavif may give the AV1 decoder; 1 keeps the work on the
    /// calling thread (the module's thread pool is the parallelism).
    pub threads: u32,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        DecodeLimits {
            max_pixels: u64::from(sys::AVIF_DEFAULT_IMAGE_SIZE_LIMIT),
            threads: 1,
        }
    }
}

/// The first image of an AVIF as 8-bit samples, rows tightly packed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodedAvif {
    pub width: u32,
    pub height: u32,
    /// RGBA (straight alpha) when the file has alpha, else RGB.
    pub has_alpha: bool,
    pub pixels: Vec<u8>,
    pub header: AvifHeader,
}

/// The sample layout handed to [`encode`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PixelLayout {
    Rgb,
    Rgba,
}

impl PixelLayout {
    fn channels(self) -> usize {
        match self {
            PixelLayout::Rgb => 3,
            PixelLayout::Rgba => 4,
        }
    }
}

/// Encoder settings. `quality` runs 0..=100 like libavif 1.x's own quality
/// (mapped onto its 0..=63 quantizer the same way); `speed` is libaom's
/// 0 (slowest, smallest) ..= 10 (fastest).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EncodeSettings {
    pub quality: u8,
    pub speed: u8,
    pub threads: u32,
}

/// Reads the container: size, depth, alpha, frames, ICC and transforms.
/// No AV1 data is decoded, so this costs microseconds whatever the size.
pub fn read_header(data: &[u8]) -> Result<AvifHeader, AvifError> {
    let decoder = Decoder::parse(data, &DecodeLimits::default())?;
    Ok(decoder.header())
}

/// Decodes the first image (the first frame of a sequence, the whole canvas
/// of a grid) to 8-bit RGB or RGBA. The declared size is checked against
/// `limits` before the AV1 decoder allocates anything.
pub fn decode(data: &[u8], limits: &DecodeLimits) -> Result<DecodedAvif, AvifError> {
    let mut decoder = Decoder::parse(data, limits)?;
    let header = decoder.header();
    check_pixels(header.width, header.height, limits)?;
    let image = decoder.next_image()?;
    // A file may declare one size in its container and code another; the
    // planes are what will be read, so they are what must fit.
    check_pixels(image.width, image.height, limits)?;
    let (width, height) = (image.width, image.height);
    let has_alpha = !image.alphaPlane.is_null();
    let layout = if has_alpha {
        PixelLayout::Rgba
    } else {
        PixelLayout::Rgb
    };
    let row_bytes = (width as usize)
        .checked_mul(layout.channels())
        .filter(|&r| u32::try_from(r).is_ok())
        .ok_or_else(|| AvifError::new(AvifErrorKind::TooLarge, "avif row too long"))?;
    let len = row_bytes
        .checked_mul(height as usize)
        .ok_or_else(|| AvifError::new(AvifErrorKind::TooLarge, "avif image too large"))?;
    let mut pixels = vec![0u8; len];
    let mut rgb = rgb_image_for(image, layout);
    rgb.pixels = pixels.as_mut_ptr();
    rgb.rowBytes = row_bytes as u32;
    // SAFETY: `image` is the decoder's current image, valid while `decoder`
    // lives (it does, for this whole function) and not advanced meanwhile;
    // `rgb` describes `pixels`, a buffer of exactly rowBytes x height bytes
    // that outlives the call, with width/height/depth/format matching what
    // the conversion writes (8-bit, `layout.channels()` per pixel).
    let result = unsafe { sys::avifImageYUVToRGB(image, &mut rgb) };
    if result != sys::AVIF_RESULT_OK {
        return Err(AvifError::from_result(result, "colour conversion", None));
    }
    Ok(DecodedAvif {
        width,
        height,
        has_alpha,
        pixels,
        header,
    })
}

fn check_pixels(width: u32, height: u32, limits: &DecodeLimits) -> Result<(), AvifError> {
    let pixels = u64::from(width) * u64::from(height);
    if pixels > limits.max_pixels {
        return Err(AvifError::new(
            AvifErrorKind::TooLarge,
            format!(
                "avif image is {width}x{height}, over the {}-pixel limit",
                limits.max_pixels
            ),
        ));
    }
    if pixels == 0 {
        return Err(AvifError::new(
            AvifErrorKind::Invalid,
            format!("avif image is {width}x{height}, which has no pixels"),
        ));
    }
    Ok(())
}

/// An `avifRGBImage` set to libavif's defaults for `image`, then to 8-bit
/// samples in `layout`, with no buffer yet.
fn rgb_image_for(image: &sys::avifImage, layout: PixelLayout) -> sys::avifRGBImage {
    // SAFETY: avifRGBImage is plain data (integers and a pointer); all-zero
    // is a valid value of each field, and avifRGBImageSetDefaults then
    // writes every field from `image`, which is a valid avifImage.
    let mut rgb: sys::avifRGBImage = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers come from live references for the whole call.
    unsafe { sys::avifRGBImageSetDefaults(&mut rgb, image) };
    rgb.depth = 8;
    rgb.format = match layout {
        PixelLayout::Rgb => sys::AVIF_RGB_FORMAT_RGB,
        PixelLayout::Rgba => sys::AVIF_RGB_FORMAT_RGBA,
    };
    rgb
}

/// An `avifDecoder` reading from borrowed bytes: libavif does not copy the
/// input, so the borrow keeps `data` alive and unmoved until drop.
struct Decoder<'data> {
    raw: NonNull<sys::avifDecoder>,
    _data: PhantomData<&'data [u8]>,
}

impl<'data> Decoder<'data> {
    /// Creates the decoder, applies the limits and parses the container.
    fn parse(data: &'data [u8], limits: &DecodeLimits) -> Result<Self, AvifError> {
        // SAFETY: avifDecoderCreate has no preconditions; it returns a new
        // decoder or NULL when allocation fails.
        let raw = NonNull::new(unsafe { sys::avifDecoderCreate() })
            .ok_or_else(|| AvifError::new(AvifErrorKind::Internal, "avif decoder: no memory"))?;
        let decoder = Decoder {
            raw,
            _data: PhantomData,
        };
        {
            // SAFETY: `raw` is a live decoder owned by `decoder` and not
            // shared; nothing else holds a reference to it.
            let d = unsafe { &mut *decoder.raw.as_ptr() };
            d.maxThreads = i32::try_from(limits.threads.max(1)).unwrap_or(i32::MAX);
            // libavif refuses a limit of 0 or above its default (16384²).
            d.imageSizeLimit = u32::try_from(limits.max_pixels)
                .unwrap_or(u32::MAX)
                .clamp(1, sys::AVIF_DEFAULT_IMAGE_SIZE_LIMIT);
            // Sides are bounded by the pixel count alone, as for the other
            // formats; 0 switches off libavif's separate side limit.
            d.imageDimensionLimit = 0;
            // Only the first frame is ever decoded; the count limit guards
            // the sample tables a sequence declares.
            d.imageCountLimit = sys::AVIF_DEFAULT_IMAGE_COUNT_LIMIT;
            // Browsers display files that miss `pixi` or an alpha `ispe`
            // (older encoders wrote them); so do we. Sizes stay checked.
            d.strictFlags = sys::AVIF_STRICT_DISABLED;
            d.ignoreExif = 1;
            d.ignoreXMP = 1;
        }
        // SAFETY: the decoder is live; `data` is borrowed for 'data, which
        // the PhantomData ties to the decoder, so the memory libavif keeps a
        // pointer to outlives every later call and the final destroy.
        let result =
            unsafe { sys::avifDecoderSetIOMemory(decoder.raw.as_ptr(), data.as_ptr(), data.len()) };
        if result != sys::AVIF_RESULT_OK {
            return Err(AvifError::from_result(result, "input", None));
        }
        // SAFETY: the decoder is live and has its IO set just above.
        let result = unsafe { sys::avifDecoderParse(decoder.raw.as_ptr()) };
        if result != sys::AVIF_RESULT_OK {
            return Err(AvifError::from_result(
                result,
                "header",
                Some(&decoder.diagnostics()),
            ));
        }
        Ok(decoder)
    }

    fn state(&self) -> &sys::avifDecoder {
        // SAFETY: `raw` stays a live decoder until drop; the shared borrow of
        // `self` keeps `next_image` (the only mutation) from running meanwhile.
        unsafe { self.raw.as_ref() }
    }

    fn diagnostics(&self) -> String {
        diagnostics_text(&self.state().diag)
    }

    /// The header as `avifDecoderParse` filled it in.
    fn header(&self) -> AvifHeader {
        let d = self.state();
        // SAFETY: after a successful parse `image` points to the decoder's
        // own avifImage, valid while the decoder lives; only its metadata is
        // read here, no planes.
        let image = unsafe { &*d.image };
        let icc = if image.icc.size > 0 && !image.icc.data.is_null() {
            // SAFETY: libavif owns `icc.data`, `icc.size` bytes long, for as
            // long as the image; the bytes are copied out before returning.
            Some(unsafe { std::slice::from_raw_parts(image.icc.data, image.icc.size) }.to_vec())
        } else {
            None
        };
        let flags = image.transformFlags;
        let rotation = if flags & sys::AVIF_TRANSFORM_IROT != 0 {
            image.irot.angle & 3
        } else {
            0
        };
        let mirror = (flags & sys::AVIF_TRANSFORM_IMIR != 0).then_some(image.imir.mode);
        AvifHeader {
            width: image.width,
            height: image.height,
            depth: image.depth,
            has_alpha: d.alphaPresent != 0,
            frame_count: u32::try_from(d.imageCount).unwrap_or(0).max(1),
            icc,
            cicp: Cicp {
                primaries: image.colorPrimaries,
                transfer: image.transferCharacteristics,
                matrix: image.matrixCoefficients,
            },
            exif_orientation: exif_orientation(rotation, mirror),
        }
    }

    /// Decodes the next image; the reference is valid until the next call
    /// or the decoder's drop, which the borrow of `self` enforces.
    fn next_image(&mut self) -> Result<&sys::avifImage, AvifError> {
        // SAFETY: the decoder is live and parsed; exclusive access through
        // `&mut self`, so no reference into its image exists during the call.
        let result = unsafe { sys::avifDecoderNextImage(self.raw.as_ptr()) };
        if result != sys::AVIF_RESULT_OK {
            return Err(AvifError::from_result(
                result,
                "decode",
                Some(&self.diagnostics()),
            ));
        }
        let d = self.state();
        // SAFETY: after a successful avifDecoderNextImage `image` points to
        // the decoder's image with its planes decoded; it stays valid while
        // `self` is borrowed.
        let image = unsafe { &*d.image };
        if image.yuvPlanes[0].is_null() {
            return Err(AvifError::new(
                AvifErrorKind::Invalid,
                "avif decode: no image planes",
            ));
        }
        Ok(image)
    }
}

impl Drop for Decoder<'_> {
    fn drop(&mut self) {
        // SAFETY: `raw` came from avifDecoderCreate and is destroyed once,
        // here; no reference into it outlives `self`.
        unsafe { sys::avifDecoderDestroy(self.raw.as_ptr()) };
    }
}

/// libavif's detailed error text for its last failure, if any. libavif
/// NUL-terminates the fixed buffer; reading stops there and never goes past
/// the array even if it did not.
fn diagnostics_text(diag: &sys::avifDiagnostics) -> String {
    let bytes: Vec<u8> = diag
        .error
        .iter()
        .map(|&c| c as u8)
        .take_while(|&b| b != 0)
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// The EXIF orientation (1..=8) equal to rotating by `rotation` quarter
/// turns anti-clockwise (`irot`) and then mirroring (`imir`: mode 0 flips top
/// and bottom, mode 1 left and right), the order HEIF applies them in.
pub fn exif_orientation(rotation: u8, mirror: Option<u8>) -> u8 {
    // Rows: quarter turns anti-clockwise. Columns: no mirror, top-bottom
    // flip, left-right flip. A turn of 90 anti-clockwise is EXIF 8; turning
    // then flipping is a transpose (5) or transverse (7).
    const TABLE: [[u8; 3]; 4] = [[1, 4, 2], [8, 5, 7], [3, 2, 4], [6, 7, 5]];
    let column = match mirror {
        None => 0,
        Some(0) => 1,
        Some(_) => 2,
    };
    TABLE[usize::from(rotation & 3)][column]
}

/// An `avifImage` this file created, destroyed on drop.
struct OwnedImage(NonNull<sys::avifImage>);

impl Drop for OwnedImage {
    fn drop(&mut self) {
        // SAFETY: the pointer came from avifImageCreate and is destroyed
        // once, here; the planes it owns go with it.
        unsafe { sys::avifImageDestroy(self.0.as_ptr()) };
    }
}

/// An `avifEncoder`, destroyed on drop.
struct OwnedEncoder(NonNull<sys::avifEncoder>);

impl Drop for OwnedEncoder {
    fn drop(&mut self) {
        // SAFETY: the pointer came from avifEncoderCreate and is destroyed
        // once, here.
        unsafe { sys::avifEncoderDestroy(self.0.as_ptr()) };
    }
}

/// libavif's 0..=63 quantizer for a 0..=100 quality, as libavif 1.x maps
/// its own `quality` setting (100 is lossless-grade, 0 the coarsest).
pub fn quantizer_for_quality(quality: u8) -> i32 {
    let quality = i32::from(quality.min(100));
    ((100 - quality) * 63 + 50) / 100
}

/// Encodes 8-bit sRGB pixels (rows tightly packed) as a still AVIF, 4:2:0,
/// tagged sRGB by CICP. Alpha is kept when `layout` has it and some pixel is
/// not opaque; libavif drops an all-opaque alpha plane itself.
pub fn encode(
    pixels: &[u8],
    layout: PixelLayout,
    width: u32,
    height: u32,
    settings: &EncodeSettings,
) -> Result<Vec<u8>, AvifError> {
    let row_bytes = (width as usize)
        .checked_mul(layout.channels())
        .filter(|&r| u32::try_from(r).is_ok());
    let expected = row_bytes.and_then(|r| r.checked_mul(height as usize));
    if width == 0 || height == 0 || expected != Some(pixels.len()) {
        return Err(AvifError::new(
            AvifErrorKind::Internal,
            format!(
                "avif encode: {} bytes do not hold {width}x{height} {layout:?}",
                pixels.len()
            ),
        ));
    }
    let row_bytes = row_bytes.unwrap_or(0) as u32;
    // SAFETY: avifImageCreate only records the arguments (sizes checked
    // non-zero above) and returns a new image or NULL on allocation failure.
    let image = NonNull::new(unsafe {
        sys::avifImageCreate(width, height, 8, sys::AVIF_PIXEL_FORMAT_YUV420)
    })
    .map(OwnedImage)
    .ok_or_else(|| AvifError::new(AvifErrorKind::Internal, "avif encode: no memory"))?;
    {
        // SAFETY: the image is live, owned here and not shared.
        let img = unsafe { &mut *image.0.as_ptr() };
        img.yuvRange = sys::AVIF_RANGE_FULL;
        img.colorPrimaries = sys::AVIF_COLOR_PRIMARIES_BT709 as u16;
        img.transferCharacteristics = sys::AVIF_TRANSFER_CHARACTERISTICS_SRGB as u16;
        img.matrixCoefficients = sys::AVIF_MATRIX_COEFFICIENTS_BT601 as u16;
    }
    // SAFETY: the image is live; only its header fields are read.
    let mut rgb = rgb_image_for(unsafe { image.0.as_ref() }, layout);
    // libavif reads through this pointer (avifImageRGBToYUV takes the RGB
    // image as const) and never writes.
    rgb.pixels = pixels.as_ptr().cast_mut();
    rgb.rowBytes = row_bytes;
    // SAFETY: `rgb` describes `pixels`, checked above to be exactly
    // rowBytes x height bytes and borrowed for the whole call; the image is
    // live and its planes are allocated by the call itself.
    let result = unsafe { sys::avifImageRGBToYUV(image.0.as_ptr(), &rgb) };
    if result != sys::AVIF_RESULT_OK {
        return Err(AvifError::from_result(result, "colour conversion", None));
    }

    // SAFETY: avifEncoderCreate has no preconditions; NULL on failure.
    let encoder = NonNull::new(unsafe { sys::avifEncoderCreate() })
        .map(OwnedEncoder)
        .ok_or_else(|| AvifError::new(AvifErrorKind::Internal, "avif encode: no memory"))?;
    {
        // SAFETY: the encoder is live, owned here and not shared.
        let enc = unsafe { &mut *encoder.0.as_ptr() };
        // libaom by name: the speed scale and the calibration of the default
        // quality are libaom's; another AV1 encoder would need its own.
        enc.codecChoice = sys::AVIF_CODEC_CHOICE_AOM;
        enc.maxThreads = i32::try_from(settings.threads.max(1)).unwrap_or(i32::MAX);
        enc.speed = i32::from(settings.speed.min(sys::AVIF_SPEED_FASTEST as u8));
        let quantizer = quantizer_for_quality(settings.quality);
        enc.minQuantizer = quantizer;
        enc.maxQuantizer = quantizer;
        enc.minQuantizerAlpha = quantizer;
        enc.maxQuantizerAlpha = quantizer;
    }
    let mut output = sys::avifRWData {
        data: std::ptr::null_mut(),
        size: 0,
    };
    // SAFETY: encoder and image are live and owned here; `output` is an
    // empty avifRWData that libavif fills with memory it allocates.
    let result =
        unsafe { sys::avifEncoderWrite(encoder.0.as_ptr(), image.0.as_ptr(), &mut output) };
    let bytes = if result == sys::AVIF_RESULT_OK && !output.data.is_null() {
        // SAFETY: on success `output.data` holds `output.size` bytes that
        // libavif allocated; they are copied before being freed below.
        Ok(unsafe { std::slice::from_raw_parts(output.data, output.size) }.to_vec())
    } else {
        // SAFETY: the encoder is live and no longer used mutably.
        let detail = diagnostics_text(unsafe { &encoder.0.as_ref().diag });
        Err(AvifError::from_result(result, "encode", Some(&detail)))
    };
    // SAFETY: `output` is either still empty or filled by avifEncoderWrite;
    // avifRWDataFree accepts both and is called once.
    unsafe { sys::avifRWDataFree(&mut output) };
    bytes
}

//! Animated WebP encoding through libwebp's own animation encoder
//! (WebPAnimEncoder, the libwebpmux part that `libwebp-sys` compiles in).
//!
//! The `webp` crate's wrapper is not used because it rewrites the last
//! frame's duration; here every frame keeps the duration it was given,
//! the last one included, by closing the stream with an explicit end
//! timestamp. Frames are added one at a time so a caller can resize a
//! frame, hand it over and drop it, instead of holding them all.

use std::ffi::CStr;
use std::ptr::NonNull;

use libwebp_sys as sys;

/// Longest single frame duration the container can say (24-bit field).
pub const MAX_FRAME_DURATION_MS: u32 = (1 << 24) - 1;

/// How the animation is encoded.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AnimOptions {
    /// Lossy quality 0..=100 (libwebp's scale).
    pub quality: f32,
    /// Effort 0 (fast) ..= 6 (small).
    pub method: u8,
    /// Times the animation plays; 0 loops forever (the GIF convention).
    pub loop_count: u16,
}

impl Default for AnimOptions {
    fn default() -> Self {
        Self {
            quality: 75.0,
            method: 4,
            loop_count: 0,
        }
    }
}

/// Why an animation could not be encoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnimError {
    /// Canvas side is 0 or past WebP's 16383 limit.
    BadCanvas { width: u32, height: u32 },
    /// A frame's buffer is not width x height x 4 bytes.
    BadFrame {
        index: usize,
        len: usize,
        expected: usize,
    },
    /// Quality or method out of range.
    BadOptions,
    /// The durations add up past what libwebp's millisecond clock holds.
    TooLong,
    /// `finish` without any frame.
    NoFrames,
    /// libwebp refused; its own message.
    Libwebp(String),
}

impl std::fmt::Display for AnimError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::BadCanvas { width, height } => {
                write!(
                    f,
                    "animated WebP canvas {width}x{height} is not 1..16383 on each side"
                )
            }
            Self::BadFrame {
                index,
                len,
                expected,
            } => write!(
                f,
                "animated WebP frame {index} has {len} bytes, expected {expected}"
            ),
            Self::BadOptions => write!(f, "animated WebP quality or method out of range"),
            Self::TooLong => write!(f, "animation longer than libwebp's millisecond clock"),
            Self::NoFrames => write!(f, "animation has no frames"),
            Self::Libwebp(message) => write!(f, "libwebp animation encoder: {message}"),
        }
    }
}

impl std::error::Error for AnimError {}

/// WebP's largest side (14-bit dimension fields).
const MAX_SIDE: u32 = 16383;

/// An animation being built: `new`, `add_frame` per frame, `finish`.
pub struct AnimEncoder {
    encoder: NonNull<sys::WebPAnimEncoder>,
    config: sys::WebPConfig,
    width: u32,
    height: u32,
    /// Start of the next frame, in ms from the first.
    timestamp_ms: i32,
    frames: usize,
}

impl AnimEncoder {
    /// An encoder for frames of `width` x `height` RGBA.
    pub fn new(width: u32, height: u32, options: &AnimOptions) -> Result<Self, AnimError> {
        if width == 0 || height == 0 || width > MAX_SIDE || height > MAX_SIDE {
            return Err(AnimError::BadCanvas { width, height });
        }
        if !(0.0..=100.0).contains(&options.quality) || options.method > 6 {
            return Err(AnimError::BadOptions);
        }
        let mut config = std::mem::MaybeUninit::<sys::WebPConfig>::uninit();
        // SAFETY: WebPConfigInitInternal only writes the struct it is given,
        // a valid MaybeUninit of the right type; the ABI version is the one
        // the bindings were generated from.
        let config_ok = unsafe {
            sys::WebPConfigInitInternal(
                config.as_mut_ptr(),
                sys::WebPPreset::WEBP_PRESET_DEFAULT,
                options.quality,
                sys::WEBP_ENCODER_ABI_VERSION as i32,
            )
        };
        if config_ok == 0 {
            return Err(AnimError::Libwebp("encoder ABI mismatch".into()));
        }
        // SAFETY: a non-zero return means libwebp filled every field.
        let mut config = unsafe { config.assume_init() };
        config.method = i32::from(options.method);
        // SAFETY: WebPValidateConfig only reads the struct.
        if unsafe { sys::WebPValidateConfig(&config) } == 0 {
            return Err(AnimError::BadOptions);
        }

        let mut anim_options = std::mem::MaybeUninit::<sys::WebPAnimEncoderOptions>::uninit();
        // SAFETY: as for the config above: the function only writes the
        // struct it is given, and reports an ABI mismatch by returning 0.
        let options_ok = unsafe {
            sys::WebPAnimEncoderOptionsInitInternal(
                anim_options.as_mut_ptr(),
                sys::WEBP_MUX_ABI_VERSION as i32,
            )
        };
        if options_ok == 0 {
            return Err(AnimError::Libwebp("mux ABI mismatch".into()));
        }
        // SAFETY: a non-zero return means every field was set.
        let mut anim_options = unsafe { anim_options.assume_init() };
        anim_options.anim_params.loop_count = i32::from(options.loop_count);
        // Transparent background: the frames are full canvases already, so
        // nothing shows through but their own alpha.
        anim_options.anim_params.bgcolor = 0;

        // SAFETY: the sizes were checked above (positive, within WebP's
        // limit); the options struct is initialised and outlives the call,
        // which copies it. A null return is handled.
        let encoder = unsafe {
            sys::WebPAnimEncoderNewInternal(
                width as i32,
                height as i32,
                &anim_options,
                sys::WEBP_MUX_ABI_VERSION as i32,
            )
        };
        let encoder = NonNull::new(encoder)
            .ok_or_else(|| AnimError::Libwebp("out of memory creating the encoder".into()))?;
        Ok(Self {
            encoder,
            config,
            width,
            height,
            timestamp_ms: 0,
            frames: 0,
        })
    }

    /// Frames added so far.
    pub fn frames(&self) -> usize {
        self.frames
    }

    /// Adds one full-canvas RGBA frame shown for `duration_ms`.
    pub fn add_frame(&mut self, rgba: &[u8], duration_ms: u32) -> Result<(), AnimError> {
        let expected = self.width as usize * self.height as usize * 4;
        if rgba.len() != expected {
            return Err(AnimError::BadFrame {
                index: self.frames,
                len: rgba.len(),
                expected,
            });
        }
        let duration = i32::try_from(duration_ms.min(MAX_FRAME_DURATION_MS))
            .map_err(|_| AnimError::TooLong)?;
        let end = self
            .timestamp_ms
            .checked_add(duration)
            .ok_or(AnimError::TooLong)?;

        let mut picture = std::mem::MaybeUninit::<sys::WebPPicture>::uninit();
        // SAFETY: WebPPictureInitInternal only writes the struct it is given.
        let picture_ok = unsafe {
            sys::WebPPictureInitInternal(picture.as_mut_ptr(), sys::WEBP_ENCODER_ABI_VERSION as i32)
        };
        if picture_ok == 0 {
            return Err(AnimError::Libwebp("encoder ABI mismatch".into()));
        }
        // SAFETY: a non-zero return means every field was set.
        let mut picture = unsafe { picture.assume_init() };
        picture.use_argb = 1;
        picture.width = self.width as i32;
        picture.height = self.height as i32;
        let mut picture = OwnedPicture(picture);
        // SAFETY: the picture was initialised with this frame's size;
        // `rgba` holds exactly width x height x 4 bytes (checked above) with
        // rows of width x 4 bytes. libwebp copies them into the picture's own
        // buffer, which OwnedPicture frees.
        let imported = unsafe {
            sys::WebPPictureImportRGBA(&mut picture.0, rgba.as_ptr(), self.width as i32 * 4)
        };
        if imported == 0 {
            return Err(AnimError::Libwebp("out of memory importing a frame".into()));
        }
        // SAFETY: the encoder is live (owned by self), the picture is
        // initialised with the canvas size and the config was validated. The
        // encoder copies the pixels it keeps before returning.
        let added = unsafe {
            sys::WebPAnimEncoderAdd(
                self.encoder.as_ptr(),
                &mut picture.0,
                self.timestamp_ms,
                &self.config,
            )
        };
        if added == 0 {
            return Err(self.libwebp_error());
        }
        self.timestamp_ms = end;
        self.frames += 1;
        Ok(())
    }

    /// Closes the animation at the end of the last frame's duration and
    /// returns the file.
    pub fn finish(self) -> Result<Vec<u8>, AnimError> {
        if self.frames == 0 {
            return Err(AnimError::NoFrames);
        }
        // SAFETY: the encoder is live; a null frame is libwebp's documented
        // "end of stream at this timestamp", which sets the last frame's
        // duration instead of letting the assembler guess an average.
        let closed = unsafe {
            sys::WebPAnimEncoderAdd(
                self.encoder.as_ptr(),
                std::ptr::null_mut(),
                self.timestamp_ms,
                std::ptr::null(),
            )
        };
        if closed == 0 {
            return Err(self.libwebp_error());
        }
        let mut data = sys::WebPData::default();
        // SAFETY: the encoder is live and `data` is an empty WebPData that
        // libwebp fills with a buffer it allocates.
        let assembled = unsafe { sys::WebPAnimEncoderAssemble(self.encoder.as_ptr(), &mut data) };
        if assembled == 0 {
            return Err(self.libwebp_error());
        }
        let bytes = if data.bytes.is_null() {
            Vec::new()
        } else {
            // SAFETY: on success `data` points at `size` bytes libwebp
            // allocated; they are copied out before being freed below.
            unsafe { std::slice::from_raw_parts(data.bytes, data.size) }.to_vec()
        };
        // SAFETY: the buffer came from libwebp's allocator (WebPMalloc) and
        // is freed exactly once, by libwebp's own free.
        unsafe { sys::WebPDataClear(&mut data) };
        Ok(bytes)
    }

    fn libwebp_error(&self) -> AnimError {
        // SAFETY: the encoder is live; the returned string is owned by it,
        // NUL-terminated, and copied before the encoder can change it.
        let message = unsafe {
            let message = sys::WebPAnimEncoderGetError(self.encoder.as_ptr());
            if message.is_null() {
                String::from("unknown error")
            } else {
                CStr::from_ptr(message).to_string_lossy().into_owned()
            }
        };
        AnimError::Libwebp(message)
    }
}

impl Drop for AnimEncoder {
    fn drop(&mut self) {
        // SAFETY: the pointer came from WebPAnimEncoderNewInternal, is owned
        // by this value alone, and is deleted once, here.
        unsafe { sys::WebPAnimEncoderDelete(self.encoder.as_ptr()) };
    }
}

// SAFETY: the encoder holds no thread-bound state (no thread locals, no
// callbacks); moving it to another thread with its owner is fine. It is not
// Sync: `&self` methods read its error string.
unsafe impl Send for AnimEncoder {}

/// A WebPPicture whose pixel buffer libwebp allocated; freed on drop.
struct OwnedPicture(sys::WebPPicture);

impl Drop for OwnedPicture {
    fn drop(&mut self) {
        // SAFETY: the picture was initialised by WebPPictureInitInternal;
        // WebPPictureFree releases only buffers libwebp allocated for it
        // and is safe on a picture that never got one.
        unsafe { sys::WebPPictureFree(&mut self.0) };
    }
}

/// Encodes whole frames in one call: `(rgba, duration_ms)` each.
pub fn encode<'a>(
    width: u32,
    height: u32,
    frames: impl IntoIterator<Item = (&'a [u8], u32)>,
    options: &AnimOptions,
) -> Result<Vec<u8>, AnimError> {
    let mut encoder = AnimEncoder::new(width, height, options)?;
    for (rgba, duration_ms) in frames {
        encoder.add_frame(rgba, duration_ms)?;
    }
    encoder.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::codecs::webp::WebPDecoder;
    use image::AnimationDecoder;

    /// A frame whose colour and a moving bar differ per index, so libwebp
    /// cannot merge two frames into one.
    fn frame(width: u32, height: u32, index: u32) -> Vec<u8> {
        let mut rgba = Vec::with_capacity((width * height * 4) as usize);
        for y in 0..height {
            for x in 0..width {
                let bar = (x + index * 7) % width < 6;
                let shade = ((index * 40) % 256) as u8;
                let pixel = if bar {
                    [255, 255, 255, 255]
                } else {
                    [shade, (y * 255 / height) as u8, 255 - shade, 255]
                };
                rgba.extend_from_slice(&pixel);
            }
        }
        rgba
    }

    struct Decoded {
        durations_ms: Vec<u32>,
        sizes: Vec<(u32, u32)>,
        first_pixel: [u8; 4],
    }

    fn decode(bytes: &[u8]) -> Decoded {
        let decoder = WebPDecoder::new(std::io::Cursor::new(bytes)).expect("a WebP header");
        assert!(decoder.has_animation(), "the file is animated");
        let frames = decoder
            .into_frames()
            .collect_frames()
            .expect("frames decode");
        let first_pixel = frames[0].buffer().get_pixel(0, 0).0;
        Decoded {
            durations_ms: frames
                .iter()
                .map(|f| {
                    let (numer, denom) = f.delay().numer_denom_ms();
                    numer / denom
                })
                .collect(),
            sizes: frames.iter().map(|f| f.buffer().dimensions()).collect(),
            first_pixel,
        }
    }

    /// The loop count from the ANIM chunk (bytes 4..6 of its payload).
    fn loop_count(bytes: &[u8]) -> u16 {
        let at = bytes
            .windows(4)
            .position(|w| w == b"ANIM")
            .expect("an ANIM chunk");
        u16::from_le_bytes([bytes[at + 8 + 4], bytes[at + 8 + 5]])
    }

    #[test]
    fn frames_and_durations_survive_with_a_long_last_frame() {
        let (width, height) = (48, 32);
        let durations = [40, 70, 10, 250, 100_000];
        let frames: Vec<Vec<u8>> = (0..durations.len() as u32)
            .map(|i| frame(width, height, i))
            .collect();
        let options = AnimOptions {
            loop_count: 3,
            ..AnimOptions::default()
        };
        let bytes = encode(
            width,
            height,
            frames.iter().map(Vec::as_slice).zip(durations),
            &options,
        )
        .expect("encodes");
        let decoded = decode(&bytes);
        assert_eq!(decoded.durations_ms, durations);
        assert!(decoded.sizes.iter().all(|&s| s == (width, height)));
        assert_eq!(loop_count(&bytes), 3);
        // Lossy, so within a tolerance of the first frame's first pixel.
        let expected = &frames[0][..4];
        for (got, want) in decoded.first_pixel.iter().zip(expected) {
            assert!(
                got.abs_diff(*want) <= 12,
                "{:?} vs {expected:?}",
                decoded.first_pixel
            );
        }
    }

    #[test]
    fn loop_forever_is_zero_and_even_durations_are_exact() {
        let (width, height) = (16, 16);
        let frames: Vec<Vec<u8>> = (0..3).map(|i| frame(width, height, i)).collect();
        let bytes = encode(
            width,
            height,
            frames.iter().map(Vec::as_slice).zip([100, 100, 100]),
            &AnimOptions::default(),
        )
        .expect("encodes");
        assert_eq!(loop_count(&bytes), 0);
        let decoded = decode(&bytes);
        assert_eq!(decoded.durations_ms, [100, 100, 100]);
    }

    #[test]
    fn identical_frames_merge_but_keep_the_total_time() {
        let (width, height) = (16, 16);
        let still = frame(width, height, 0);
        let other = frame(width, height, 1);
        let bytes = encode(
            width,
            height,
            [(&still[..], 50), (&still[..], 70), (&other[..], 30)],
            &AnimOptions::default(),
        )
        .expect("encodes");
        let decoded = decode(&bytes);
        assert_eq!(decoded.durations_ms.iter().sum::<u32>(), 150);
        assert_eq!(decoded.durations_ms.last(), Some(&30));
    }

    #[test]
    fn transparency_is_kept() {
        let (width, height) = (8, 8);
        let clear = vec![0u8; (width * height * 4) as usize];
        let solid = frame(width, height, 2);
        let bytes = encode(
            width,
            height,
            [(&clear[..], 20), (&solid[..], 20)],
            &AnimOptions::default(),
        )
        .expect("encodes");
        assert_eq!(decode(&bytes).first_pixel[3], 0);
    }

    #[test]
    fn bad_input_is_refused_with_its_reason() {
        assert_eq!(
            AnimEncoder::new(0, 10, &AnimOptions::default()).err(),
            Some(AnimError::BadCanvas {
                width: 0,
                height: 10
            })
        );
        let bad_quality = AnimOptions {
            quality: 101.0,
            ..AnimOptions::default()
        };
        assert_eq!(
            AnimEncoder::new(4, 4, &bad_quality).err(),
            Some(AnimError::BadOptions)
        );
        let mut encoder = AnimEncoder::new(4, 4, &AnimOptions::default()).unwrap();
        assert_eq!(
            encoder.add_frame(&[0; 10], 10),
            Err(AnimError::BadFrame {
                index: 0,
                len: 10,
                expected: 64
            })
        );
        assert_eq!(encoder.finish(), Err(AnimError::NoFrames));
    }
}

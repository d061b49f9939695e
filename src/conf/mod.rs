//! Directives: their table, their parsers and the merge of location
//! configuration down the http → server → location tree.
//!
//! Errors are reported the way nginx's own modules word them
//! (`invalid value "12q" in "image_filter_rs" directive`), through
//! `ngx_conf_log_error`, so `nginx -t` names the file and line.

mod merge;
mod parse;
mod settings;

pub use merge::merge_location;
pub use parse::*;
pub(crate) use settings::*;

use core::ffi::{c_char, c_void};
use core::ptr::{self, NonNull};

use ngx::core::{NGX_CONF_ERROR, NGX_CONF_OK};
use ngx::ffi::{
    ngx_command_t, ngx_conf_t, ngx_http_complex_value_t, ngx_http_request_t, ngx_int_t, ngx_msec_t,
    ngx_parse_time, ngx_str_t, ngx_thread_pool_add, ngx_thread_pool_t, NGX_LOG_EMERG,
};
use ngx::http::{HttpModuleLocationConf, HttpModuleMainConf, NgxHttpCoreModule};
use ngx::{ngx_conf_log_error, ngx_string};
use std::rc::Rc;

use thumbnailer::names::Library;
use thumbnailer::{EncodeOptions, Fit, Flip, Geometry, Limits, Rgb, Rotation, Transparency};

pub use crate::presets::{Preset, SizeRule};
use crate::values::{set_valued, Valued};

use crate::cache::CachePath;
use crate::errors::Refusal;
use crate::memory::MemoryBudget;
use crate::ImageFilterRsModule;

pub const DUPLICATE: *mut c_char = c"is duplicate".as_ptr().cast_mut();

/// http-level configuration: the declared caches. Boxed so that locations can
/// keep references to them while more are declared.
// Boxed: shared zones and locations keep pointers to these while more are
// declared, so their addresses must not move when the vectors grow.
#[allow(clippy::vec_box)]
#[derive(Default)]
pub struct MainConf {
    pub caches: Vec<Box<CachePath>>,
    pub presets: Vec<Box<Preset>>,
    pub memory_limit: Option<u64>,
    pub memory_timeout: Option<ngx_msec_t>,
    pub budget: Option<Box<MemoryBudget>>,
    /// `image_filter_rs_decode_cache`: bytes; 0 is `off`.
    pub decode_cache: Option<u64>,
    /// `image_filter_rs_concurrency`: generation slots; 0 is `off`.
    pub concurrency: Option<u32>,
}

/// Decoded originals each worker keeps for sibling sizes.
pub const DEFAULT_DECODE_CACHE: u64 = 32 * 1024 * 1024;

impl MainConf {
    /// Bytes of retained decodes per worker; None when sharing is off.
    pub fn decode_cache(&self) -> Option<usize> {
        match self.decode_cache.unwrap_or(DEFAULT_DECODE_CACHE) {
            0 => None,
            bytes => Some(usize::try_from(bytes).unwrap_or(usize::MAX)),
        }
    }

    pub fn memory_timeout(&self) -> u64 {
        self.memory_timeout
            .map_or(crate::memory::DEFAULT_TIMEOUT_MS, |t| t as u64)
    }
}

/// Creates the shared memory budget once the http block is read.
pub fn init_main(cf: &mut ngx_conf_t, mcf: &mut MainConf) -> *mut c_char {
    guarded(|| {
        let limit = mcf.memory_limit.unwrap_or(crate::memory::DEFAULT_BUDGET);
        match MemoryBudget::configure(cf, limit, mcf.concurrency.unwrap_or(0)) {
            Ok(budget) => {
                mcf.budget = Some(budget);
                NGX_CONF_OK
            }
            Err(rv) => rv,
        }
    })
}

/// What `image_filter_rs` says for a location.
#[derive(Clone, Copy, Debug)]
pub enum Filter {
    Off,
    /// A fixed size.
    Resize(Geometry),
    /// A size built from variables, checked per request.
    Variable(VariableSize),
    /// Everything from the query parameters.
    Query,
    /// `size`: the original's size and type as JSON, as image_filter's.
    Size,
    /// `test`: the original unchanged if it is an image we can read.
    Test,
    /// A preset by name, until the merge finds it.
    PresetName(ngx_str_t),
    Preset(&'static Preset),
    /// `easy_thumbnails` or `versatileimagefield`: the original and the job
    /// from the rendition's file name, as that library wrote it.
    Names(Library),
}

impl Filter {
    pub fn is_on(&self) -> bool {
        !matches!(self, Filter::Off)
    }

    /// Whether the size comes from the request, which needs an allow-list
    /// or signatures to be safe.
    pub fn sized_by_request(&self) -> bool {
        matches!(self, Filter::Variable(_) | Filter::Query | Filter::Names(_))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VariableSize {
    pub size: *mut ngx_http_complex_value_t,
    pub fit: Fit,
}

/// What `image_filter_rs_cache` says, before and after the merge resolves
/// the zone name against the declared caches.
#[derive(Clone, Copy, Default)]
pub enum CacheSetting {
    #[default]
    Unset,
    Off,
    Named(ngx_str_t),
    Zone(&'static CachePath),
}

/// What `image_filter_rs_thread_pool` says, before and after the merge looks
/// the pool up.
#[derive(Clone, Copy, Default)]
pub enum ThreadPoolSetting {
    #[default]
    Unset,
    Off,
    Named(ngx_str_t),
    Pool(NonNull<ngx_thread_pool_t>),
}

#[derive(Default)]
pub struct LocationConf {
    pub filter: Option<Filter>,
    pub cache: CacheSetting,
    pub jpeg_quality: Option<Valued<u8>>,
    pub thread_pool: ThreadPoolSetting,
    pub lock_timeout: Option<ngx_msec_t>,
    /// Testing only: how long generation pauses before it starts.
    pub debug_delay: Option<ngx_msec_t>,
    pub webp_quality: Option<Valued<u8>>,
    /// `image_filter_rs_webp_effort`: libwebp's method, 0..=6.
    pub webp_effort: Option<u8>,
    /// `image_filter_rs_avif_quality`: 1..=100 on libavif's scale.
    pub avif_quality: Option<u8>,
    /// `image_filter_rs_avif_speed`: libaom's speed, 0..=10.
    pub avif_speed: Option<u8>,
    /// `image_filter_rs_avif_max_pixels`: output pixels above which `auto`
    /// writes WebP (or the original's format) instead; 0 for `off`.
    pub avif_max_pixels: Option<u64>,
    /// `image_filter_rs_rotate`: degrees counter-clockwise.
    pub rotate: Option<Valued<Rotation>>,
    pub flip: Option<Flip>,
    /// `image_filter_rs_sharpen`: image_filter's percent.
    pub sharpen: Option<Valued<u16>>,
    /// `image_filter_rs_transparency`: off flattens transparent sources.
    pub transparency: Option<bool>,
    pub interlace: Option<bool>,
    pub background: Option<Rgb>,
    /// `image_filter_rs_format`: fixed, or from variables per request.
    pub format: Option<Valued<FormatChoice>>,
    pub max_pixels: Option<u64>,
    pub max_source_size: Option<u64>,
    /// `image_filter_rs_max_frames N [strict]`: the frames an animation may
    /// keep, and whether more is refused rather than made a still.
    pub max_frames: Option<(u32, bool)>,
    pub sizes: Option<Rc<SizeRule>>,
    pub secrets: Option<Rc<Vec<Vec<u8>>>>,
    pub max_output: Option<u32>,
    /// The http block's presets, for `p=` in query mode.
    pub presets: Option<&'static [Box<Preset>]>,
    /// `image_filter_rs_purge` is here: a directory purge reads cache file
    /// headers in the location's thread pool.
    pub purge: bool,
    /// `image_filter_rs_source`, `_source_valid`, `_source_stale`: originals
    /// fetched by a subrequest (see source.rs).
    pub source: Option<crate::source::SourceSetting>,
    pub source_valid: Option<ngx_msec_t>,
    pub source_stale: Option<bool>,
}

pub const DEFAULT_JPEG_QUALITY: u8 = 82;
pub const DEFAULT_LOCK_TIMEOUT: ngx_msec_t = 5000;
pub const DEFAULT_MAX_OUTPUT: u32 = 4096;

impl LocationConf {
    pub fn cache(&self) -> Option<&'static CachePath> {
        match self.cache {
            CacheSetting::Zone(cache) => Some(cache),
            _ => None,
        }
    }

    /// The fixed JPEG quality; a variable one is resolved per request.
    pub fn jpeg_quality(&self) -> u8 {
        match self.jpeg_quality {
            Some(Valued::Fixed(q)) => q,
            _ => DEFAULT_JPEG_QUALITY,
        }
    }

    /// The pool generation runs in; None runs it on the event loop.
    pub fn thread_pool(&self) -> Option<NonNull<ngx_thread_pool_t>> {
        match self.thread_pool {
            ThreadPoolSetting::Pool(pool) => Some(pool),
            _ => None,
        }
    }

    pub fn lock_timeout(&self) -> ngx_msec_t {
        self.lock_timeout.unwrap_or(DEFAULT_LOCK_TIMEOUT)
    }

    pub fn debug_delay(&self) -> ngx_msec_t {
        self.debug_delay.unwrap_or(0)
    }

    /// Everything but the geometry of a job in this location; the format is
    /// settled per request (see `format_choice`).
    pub fn encode_options(&self) -> EncodeOptions {
        let defaults = EncodeOptions::default();
        EncodeOptions {
            format: defaults.format,
            jpeg_quality: self.jpeg_quality(),
            webp_quality: match self.webp_quality {
                Some(Valued::Fixed(q)) => q,
                _ => defaults.webp_quality,
            },
            webp_effort: self.webp_effort.unwrap_or(defaults.webp_effort),
            avif_quality: self.avif_quality.unwrap_or(defaults.avif_quality),
            avif_speed: self.avif_speed.unwrap_or(defaults.avif_speed),
            // Set per request by negotiation.
            avif_fallback: None,
            interlace: self.interlace.unwrap_or(defaults.interlace),
            background: self.background.unwrap_or(defaults.background),
            transparency: match self.transparency {
                Some(false) => Transparency::Flatten,
                _ => Transparency::Keep,
            },
        }
    }

    /// The location's format for this request: `original` unless set; a
    /// variable that comes out empty means `original` too.
    pub fn format_choice(&self, r: &mut ngx_http_request_t) -> Result<FormatChoice, Refusal> {
        Ok(match self.format {
            None => FormatChoice::Original,
            Some(valued) => valued
                .resolve(r, "image_filter_rs_format", parse_format)?
                .unwrap_or(FormatChoice::Original),
        })
    }

    pub fn sizes(&self) -> Option<&SizeRule> {
        self.sizes.as_deref()
    }

    pub fn secrets(&self) -> &[Vec<u8>] {
        self.secrets.as_deref().map_or(&[], |s| &s[..])
    }

    pub fn max_output(&self) -> u32 {
        self.max_output.unwrap_or(DEFAULT_MAX_OUTPUT)
    }

    /// dpr in hundredths: the query parser accepts 1 to 4.
    pub fn max_dpr(&self) -> u32 {
        400
    }

    pub fn preset_named(&self, name: &str) -> Option<&'static Preset> {
        self.presets?.iter().find(|p| p.name == name).map(|p| &**p)
    }

    pub fn limits(&self) -> Limits {
        let defaults = Limits::default();
        let (max_frames, frames_strict) = self
            .max_frames
            .unwrap_or((defaults.max_frames, defaults.frames_strict));
        Limits {
            max_pixels: self.max_pixels.unwrap_or(defaults.max_pixels),
            max_source_size: self.max_source_size.unwrap_or(defaults.max_source_size),
            max_frames,
            frames_strict,
        }
    }
}

/// The arguments of the directive being parsed, without its name, and the
/// name for messages.
pub struct Directive<'a> {
    pub cf: &'a mut ngx_conf_t,
    pub name: &'a str,
    pub args: &'a [ngx_str_t],
}

impl<'a> Directive<'a> {
    /// # Safety
    /// `cf` and `cmd` must be the pointers nginx passes to a directive's set
    /// handler.
    pub unsafe fn from_raw(cf: *mut ngx_conf_t, cmd: *mut ngx_command_t) -> Directive<'a> {
        // SAFETY: per the caller, both are valid for the handler's duration;
        // `cf.args` holds the directive name followed by its arguments.
        unsafe {
            let cf = &mut *cf;
            let all: &[ngx_str_t] = (*cf.args).as_slice();
            let name = core::str::from_utf8((*cmd).name.as_bytes()).unwrap_or("image_filter_rs");
            Directive {
                cf,
                name,
                args: &all[1..],
            }
        }
    }

    /// `invalid value "X" in "NAME" directive`, with the file and line.
    pub fn invalid(&mut self, value: &ngx_str_t) -> *mut c_char {
        let name = self.name;
        self.error(format_args!(
            "invalid value \"{value}\" in \"{name}\" directive"
        ))
    }

    pub fn error(&mut self, message: core::fmt::Arguments<'_>) -> *mut c_char {
        ngx_conf_log_error!(NGX_LOG_EMERG, self.cf, "{}", message);
        NGX_CONF_ERROR
    }
}

/// Wraps a directive parser so that no panic unwinds into nginx.
pub fn guarded(parse: impl FnOnce() -> *mut c_char) -> *mut c_char {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(parse)).unwrap_or(NGX_CONF_ERROR)
}

/// The `extern "C"` set handler nginx calls for a directive: turns its
/// pointers into a `Directive` and the typed configuration the directive's
/// `conf` offset selects, and runs the safe parser so no panic unwinds into
/// nginx.
macro_rules! directive_handler {
    ($vis:vis $name:ident, $conf:ty, |$d:ident, $c:ident| $parse:expr) => {
        $vis extern "C" fn $name(
            cf: *mut ngx_conf_t,
            cmd: *mut ngx_command_t,
            conf: *mut c_void,
        ) -> *mut c_char {
            // SAFETY: nginx calls set handlers with a valid `cf`, the
            // command, and the structure its `conf` offset selects, which
            // the command table declares as `$conf` for this directive.
            #[allow(unused_mut)]
            let (mut $d, $c) =
                unsafe { (Directive::from_raw(cf, cmd), &mut *conf.cast::<$conf>()) };
            guarded($parse)
        }
    };
}
pub(crate) use directive_handler;

directive_handler!(pub(crate) cmd_image_filter_rs, LocationConf, |d, lcf| || set_filter(
    &mut d, lcf
));

fn set_filter(d: &mut Directive<'_>, lcf: &mut LocationConf) -> *mut c_char {
    if lcf.filter.is_some() {
        return DUPLICATE;
    }
    let args = d.args;
    let first = args[0];
    let second = args.get(1).copied();
    let one_word = |d: &mut Directive<'_>, filter: Filter, lcf: &mut LocationConf| match second {
        Some(extra) => d.invalid(&extra),
        None => {
            lcf.filter = Some(filter);
            NGX_CONF_OK
        }
    };
    match first.as_bytes() {
        b"off" => return one_word(d, Filter::Off, lcf),
        b"query" => return one_word(d, Filter::Query, lcf),
        b"size" => return one_word(d, Filter::Size, lcf),
        b"test" => return one_word(d, Filter::Test, lcf),
        b"easy_thumbnails" => return one_word(d, Filter::Names(Library::EasyThumbnails), lcf),
        b"versatileimagefield" => {
            return one_word(d, Filter::Names(Library::VersatileImageField), lcf)
        }
        _ => {}
    }
    let fit = match second {
        None => Fit::Fit,
        Some(mode) => match parse_fit(mode.as_bytes()) {
            Some(fit) => fit,
            None => return d.invalid(&mode),
        },
    };
    if first.as_bytes().contains(&b'$') {
        return match compile_complex_value(d, first) {
            Some(size) => {
                lcf.filter = Some(Filter::Variable(VariableSize { size, fit }));
                NGX_CONF_OK
            }
            None => NGX_CONF_ERROR,
        };
    }
    // `-x-`: the original's own size, for a location that only turns,
    // flips or sharpens (image_filter's `rotate` on its own).
    if first.as_bytes() == b"-x-" {
        lcf.filter = Some(Filter::Resize(geometry(None, None, fit)));
        return NGX_CONF_OK;
    }
    if let Some((width, height)) = first
        .to_str()
        .ok()
        .and_then(|s| Geometry::parse_size(s).ok())
    {
        lcf.filter = Some(Filter::Resize(geometry(width, height, fit)));
        return NGX_CONF_OK;
    }
    if second.is_none() && crate::presets::valid_name(first.as_bytes()) {
        lcf.filter = Some(Filter::PresetName(first));
        return NGX_CONF_OK;
    }
    d.invalid(&first)
}

/// A geometry with the default gravity and no focal point.
pub fn geometry(width: Option<u32>, height: Option<u32>, fit: Fit) -> Geometry {
    Geometry {
        width,
        height,
        fit,
        ..Geometry::default()
    }
}

pub fn compile_complex_value(
    d: &mut Directive<'_>,
    mut value: ngx_str_t,
) -> Option<*mut ngx_http_complex_value_t> {
    // SAFETY: the configuration pool outlives the configuration; the
    // compile structure is zeroed and then filled as nginx expects.
    unsafe {
        let cv = ngx::ffi::ngx_pcalloc(d.cf.pool, core::mem::size_of::<ngx_http_complex_value_t>())
            .cast::<ngx_http_complex_value_t>();
        if cv.is_null() {
            return None;
        }
        let mut ccv: ngx::ffi::ngx_http_compile_complex_value_t = core::mem::zeroed();
        ccv.cf = d.cf;
        ccv.value = &mut value;
        ccv.complex_value = cv;
        (ngx::ffi::ngx_http_compile_complex_value(&mut ccv) == ngx::ffi::NGX_OK as isize)
            .then_some(cv)
    }
}

pub(crate) extern "C" fn cmd_purge(
    cf: *mut ngx_conf_t,
    _cmd: *mut ngx_command_t,
    conf: *mut c_void,
) -> *mut c_char {
    // SAFETY: `conf` is this module's location configuration being parsed.
    if let Some(lcf) = unsafe { conf.cast::<LocationConf>().as_mut() } {
        lcf.purge = true;
    }
    set_content_handler(cf, crate::purge::purge_handler)
}

pub(crate) extern "C" fn cmd_status(
    cf: *mut ngx_conf_t,
    _cmd: *mut ngx_command_t,
    _conf: *mut c_void,
) -> *mut c_char {
    set_content_handler(cf, crate::status::status_handler)
}

/// Makes the location being parsed answer with `handler`, as a directive
/// such as `stub_status` does.
fn set_content_handler(
    cf: *mut ngx_conf_t,
    handler: unsafe extern "C" fn(*mut ngx_http_request_t) -> ngx_int_t,
) -> *mut c_char {
    // SAFETY: nginx passes set handlers a valid `cf` whose context is the
    // location being parsed.
    let cf = unsafe { &mut *cf };
    guarded(|| match NgxHttpCoreModule::location_conf_mut(cf) {
        Some(clcf) => {
            clcf.handler = Some(handler);
            NGX_CONF_OK
        }
        None => NGX_CONF_ERROR,
    })
}

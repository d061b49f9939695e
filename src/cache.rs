//! The thumbnail cache: `image_filter_rs_cache_path` parsing, its shared
//! zone, and finding or storing one thumbnail on disk.
//!
//! A cached thumbnail is a self-describing file (see `thumbnailer::store`):
//! its header holds the key and the original's validators, so a lookup is an
//! `open` and one small read, and freshness is decided from the file itself.
//! The shared zone holds counters that every worker updates; the full index
//! with eviction and generation locks is built on this zone later.

use core::ffi::{c_char, c_void};
use core::ptr::{self, NonNull};
use core::sync::atomic::{AtomicU64, Ordering};
use std::path::PathBuf;
use std::time::Duration;

use ngx::core::{Status, NGX_CONF_ERROR};
use ngx::ffi::{
    ngx_add_path, ngx_conf_full_name, ngx_int_t, ngx_parse_offset, ngx_parse_size, ngx_parse_time, ngx_path_t,
    ngx_pcalloc, ngx_shared_memory_add, ngx_shm_zone_t, ngx_slab_alloc, ngx_slab_pool_t,
    ngx_str_t, NGX_ERROR,
};
use ngx::http::HttpModule;
use thumbnailer::key::CacheKey;
use thumbnailer::store::{CacheHeader, Validators};

use crate::conf::Directive;
use crate::ImageFilterRsModule;

/// One `image_filter_rs_cache_path`.
pub struct CachePath {
    pub zone_name: String,
    pub root: PathBuf,
    pub levels: Vec<u8>,
    /// Parsed and kept for the eviction that enforces them; see README.
    pub max_size: Option<u64>,
    pub inactive: Duration,
    zone: *mut ngx_shm_zone_t,
}

/// What lives in the shared zone: figures every worker adds to, readable by
/// tests and by a future status page.
#[repr(C)]
pub struct SharedState {
    magic: u64,
    pub generated: AtomicU64,
    pub hits: AtomicU64,
    pub store_failures: AtomicU64,
}

const STATE_MAGIC: u64 = u64::from_le_bytes(*b"IFRSZON1");

const DEFAULT_INACTIVE: Duration = Duration::from_secs(10 * 60);

impl CachePath {
    /// Parses `PATH keys_zone=NAME:SIZE [levels=1:2] [max_size=SIZE]
    /// [inactive=TIME]`, the grammar of `proxy_cache_path`.
    pub fn configure(
        d: &mut Directive<'_>,
        existing: &[Box<CachePath>],
    ) -> Result<Box<CachePath>, *mut c_char> {
        let args = d.args;
        let mut path = args[0];
        // SAFETY: `d.cf.cycle` is the cycle being configured; nginx rewrites
        // `path` in place to a pool-allocated absolute path.
        if unsafe { ngx_conf_full_name(d.cf.cycle, &mut path, 0) } != Status::NGX_OK.0 {
            return Err(NGX_CONF_ERROR);
        }
        let root = path
            .to_str()
            .map(|p| PathBuf::from(p.trim_end_matches('/')))
            .map_err(|_| d.invalid(&args[0]))?;

        let mut zone: Option<(String, usize)> = None;
        let mut levels = Vec::new();
        let mut max_size = None;
        let mut inactive = DEFAULT_INACTIVE;
        for arg in &args[1..] {
            let text = arg.to_str().map_err(|_| d.invalid(arg))?;
            if let Some(value) = text.strip_prefix("keys_zone=") {
                let (name, size) = value.split_once(':').ok_or_else(|| d.invalid(arg))?;
                let size = parse_size(size).ok_or_else(|| d.invalid(arg))?;
                if name.is_empty() {
                    return Err(d.invalid(arg));
                }
                // The slab allocator needs a few pages for itself.
                // SAFETY: ngx_pagesize is set once at startup, before
                // configuration is read.
                let min = 8 * unsafe { ngx::ffi::ngx_pagesize };
                if size < min {
                    return Err(d.error(format_args!(
                        "cache \"{name}\" keys zone is too small, at least {min} bytes are needed"
                    )));
                }
                zone = Some((name.to_owned(), size));
            } else if let Some(value) = text.strip_prefix("levels=") {
                levels = parse_levels(value).ok_or_else(|| d.invalid(arg))?;
            } else if let Some(value) = text.strip_prefix("max_size=") {
                max_size = Some(parse_offset(value).ok_or_else(|| d.invalid(arg))?);
            } else if let Some(value) = text.strip_prefix("inactive=") {
                inactive = parse_time(value).ok_or_else(|| d.invalid(arg))?;
            } else {
                return Err(d.invalid(arg));
            }
        }
        let Some((zone_name, size)) = zone else {
            let name = d.name;
            return Err(d.error(format_args!(
                "\"{name}\" must have \"keys_zone\" parameter"
            )));
        };
        if existing.iter().any(|c| c.zone_name == zone_name) {
            return Err(d.error(format_args!("duplicate zone \"{zone_name}\"")));
        }
        if existing.iter().any(|c| c.root == root) {
            return Err(d.error(format_args!(
                "the same cache path \"{}\" is used twice",
                root.display()
            )));
        }
        let mut cache = Box::new(CachePath {
            zone_name,
            root,
            levels,
            max_size,
            inactive,
            zone: ptr::null_mut(),
        });
        cache.zone = cache.add_zone(d, size)?;
        Ok(cache)
    }

    fn add_zone(&mut self, d: &mut Directive<'_>, size: usize) -> Result<*mut ngx_shm_zone_t, *mut c_char> {
        let mut name = pool_str(d, self.zone_name.as_bytes())?;
        let tag = ptr::from_ref(ImageFilterRsModule::module()).cast_mut().cast();
        // SAFETY: `cf` is valid during configuration; nginx copies nothing
        // but keeps `name`, which lives in the configuration pool.
        let zone = unsafe { ngx_shared_memory_add(d.cf, &mut name, size, tag) };
        // SAFETY: a non-null zone is nginx's, valid for the cycle.
        let Some(zone_ref) = (unsafe { zone.as_mut() }) else {
            return Err(NGX_CONF_ERROR);
        };
        if !zone_ref.data.is_null() {
            return Err(d.error(format_args!("duplicate zone \"{}\"", self.zone_name)));
        }
        zone_ref.init = Some(init_zone);
        zone_ref.data = ptr::from_mut(self).cast();
        Ok(zone)
    }

    /// Registers the directory with nginx, which creates it at startup with
    /// the workers' user as owner, and checks that no other cache path uses
    /// it with other levels.
    pub fn register(&mut self, cf: &mut ngx::ffi::ngx_conf_t) -> Result<(), *mut c_char> {
        let root = self.root.to_string_lossy().into_owned();
        // SAFETY: `cf.pool` is the configuration pool; ngx_path_t is plain
        // data that nginx expects zeroed apart from what is set below.
        unsafe {
            let path = ngx_pcalloc(cf.pool, core::mem::size_of::<ngx_path_t>()).cast::<ngx_path_t>();
            let Some(path_ref) = path.as_mut() else {
                return Err(NGX_CONF_ERROR);
            };
            let Some(name) = ngx_str_t::from_bytes(cf.pool, root.as_bytes()) else {
                return Err(NGX_CONF_ERROR);
            };
            path_ref.name = name;
            for (slot, &width) in path_ref.level.iter_mut().zip(&self.levels) {
                *slot = usize::from(width);
            }
            path_ref.len = self.levels.iter().map(|&w| usize::from(w) + 1).sum();
            path_ref.conf_file = (*cf.conf_file).file.name.data;
            path_ref.line = (*cf.conf_file).line;
            let mut slot = path;
            if ngx_add_path(cf, &mut slot) != Status::NGX_OK.0 {
                return Err(NGX_CONF_ERROR);
            }
        }
        Ok(())
    }

    /// The zone's shared figures, once nginx has mapped it.
    pub fn shared(&self) -> Option<&SharedState> {
        // SAFETY: `zone` was returned by ngx_shared_memory_add and lives as
        // long as the cycle; `shm.addr` is null before init and then points
        // to the slab pool whose `data` init_zone set to a SharedState.
        unsafe {
            let zone = self.zone.as_ref()?;
            let pool = zone.shm.addr.cast::<ngx_slab_pool_t>().as_ref()?;
            pool.data.cast::<SharedState>().as_ref()
        }
    }

    pub fn file_path(&self, key: &CacheKey) -> PathBuf {
        self.root.join(key.relative_path(&self.levels))
    }

    pub fn relative_path(&self, key: &CacheKey) -> String {
        key.relative_path(&self.levels)
    }
}

/// Lays out the shared state in a new zone, or adopts the one a reload
/// inherits, so counters survive `nginx -s reload`.
extern "C" fn init_zone(zone: *mut ngx_shm_zone_t, previous: *mut c_void) -> ngx_int_t {
    // SAFETY: nginx calls init with its zone, whose shm is mapped and starts
    // with an initialised slab pool.
    let result = std::panic::catch_unwind(|| unsafe {
        let zone = &mut *zone;
        let pool = zone.shm.addr.cast::<ngx_slab_pool_t>();
        if !previous.is_null() || zone.shm.exists != 0 {
            // Reload with the same zone: the state is already in place.
            return (*pool).data.cast::<SharedState>().as_ref().map(|s| s.magic) == Some(STATE_MAGIC);
        }
        let state = ngx_slab_alloc(pool, core::mem::size_of::<SharedState>()).cast::<SharedState>();
        let Some(state) = NonNull::new(state) else {
            return false;
        };
        state.as_ptr().write(SharedState {
            magic: STATE_MAGIC,
            generated: AtomicU64::new(0),
            hits: AtomicU64::new(0),
            store_failures: AtomicU64::new(0),
        });
        (*pool).data = state.as_ptr().cast();
        true
    });
    match result {
        Ok(true) => Status::NGX_OK.into(),
        _ => NGX_ERROR as ngx_int_t,
    }
}

impl SharedState {
    pub fn count(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// The original's validators as nginx's open-file info reports them.
pub fn validators(info: &ngx::ffi::ngx_open_file_info_t) -> Validators {
    Validators {
        dev: 0,
        ino: info.uniq as u64,
        mtime_sec: info.mtime as i64,
        mtime_nsec: 0,
        size: info.size as u64,
    }
}

/// Whether a cache file's header describes this key and this version of the
/// original.
pub fn is_fresh(header: &CacheHeader, key: &CacheKey, original: &Validators) -> bool {
    header.key == *key && header.original == *original
}

fn pool_str(d: &mut Directive<'_>, bytes: &[u8]) -> Result<ngx_str_t, *mut c_char> {
    // SAFETY: the configuration pool outlives the configuration.
    unsafe { ngx_str_t::from_bytes(d.cf.pool, bytes) }.ok_or(NGX_CONF_ERROR)
}

/// `1:2`-style levels: one to three levels of one or two hex digits.
fn parse_levels(value: &str) -> Option<Vec<u8>> {
    let levels: Vec<u8> = value
        .split(':')
        .map(|l| match l {
            "1" => Some(1),
            "2" => Some(2),
            _ => None,
        })
        .collect::<Option<_>>()?;
    (1..=3).contains(&levels.len()).then_some(levels)
}

/// nginx's size syntax (`10m`, `1g`, `512k`, `4096`).
fn parse_size(value: &str) -> Option<usize> {
    let mut s = ngx_str_t {
        len: value.len(),
        data: value.as_ptr().cast_mut(),
    };
    // SAFETY: ngx_parse_size only reads `len` bytes of `data`.
    let size = unsafe { ngx_parse_size(&mut s) };
    (size > 0).then_some(size as usize)
}

/// nginx's offset syntax, which unlike sizes also takes `g` (`1g`, `500m`).
fn parse_offset(value: &str) -> Option<u64> {
    let mut s = ngx_str_t {
        len: value.len(),
        data: value.as_ptr().cast_mut(),
    };
    // SAFETY: ngx_parse_offset only reads `len` bytes of `data`.
    let size = unsafe { ngx_parse_offset(&mut s) };
    (size > 0).then_some(size as u64)
}

/// nginx's time syntax (`10m`, `1h30m`, `60s`).
fn parse_time(value: &str) -> Option<Duration> {
    let mut s = ngx_str_t {
        len: value.len(),
        data: value.as_ptr().cast_mut(),
    };
    // SAFETY: ngx_parse_time only reads `len` bytes of `data`.
    let seconds = unsafe { ngx_parse_time(&mut s, 1) };
    (seconds >= 0).then(|| Duration::from_secs(seconds as u64))
}

//! The thumbnail cache: `image_filter_rs_cache_path` parsing, its shared
//! zone and index, the cache manager's work (loading the index from disk,
//! `inactive`, `max_size`, `min_free`, orphaned temporary files), and reading
//! one cache file's header.
//!
//! A cached thumbnail is a self-describing file (see `thumbnailer::store`), so
//! the index can always be rebuilt from the directory, and a file the index
//! does not know yet (after a restart) is still found and served.

use core::ffi::{c_char, c_void};
use core::ptr::{self, NonNull};
use std::path::PathBuf;
use std::time::Duration;

use ngx::core::{Status, NGX_CONF_ERROR};
use ngx::ffi::{
    ngx_add_path, ngx_conf_full_name, ngx_int_t, ngx_parse_offset, ngx_parse_size, ngx_parse_time,
    ngx_path_t, ngx_pcalloc, ngx_shared_memory_add, ngx_shm_zone_t, ngx_slab_pool_t, ngx_str_t,
    NGX_ERROR, NGX_LOG_EMERG, NGX_LOG_NOTICE,
};
use ngx::http::HttpModule;
use std::os::unix::ffi::OsStrExt;
use std::sync::atomic::{AtomicUsize, Ordering};

use thumbnailer::key::CacheKey;
use thumbnailer::store::{self, CacheHeader, Validators};

use crate::index::{content_type_code, Found, Index, ReadyEntry, Slot};

use crate::conf::Directive;
use crate::ImageFilterRsModule;

/// One `image_filter_rs_cache_path`.
pub struct CachePath {
    pub zone_name: String,
    pub root: PathBuf,
    pub levels: Vec<u8>,
    pub max_size: Option<u64>,
    pub min_free: Option<u64>,
    pub inactive: Duration,
    /// Every entry's original is looked at once per this long; entries
    /// whose original is gone are removed.
    pub originals_check: Duration,
    /// Where the cache manager's look at originals goes on from: the
    /// manager process is the only one that moves it.
    check_cursor: AtomicUsize,
    zone: *mut ngx_shm_zone_t,
}

const DEFAULT_INACTIVE: Duration = Duration::from_secs(10 * 60);
const DEFAULT_ORIGINALS_CHECK: Duration = Duration::from_secs(10 * 60);
/// How often nginx calls the cache manager for each cache.
const MANAGER_PERIOD_MS: u64 = 1000;

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
        let mut min_free = None;
        let mut inactive = DEFAULT_INACTIVE;
        let mut originals_check = DEFAULT_ORIGINALS_CHECK;
        for arg in &args[1..] {
            let text = arg.to_str().map_err(|_| d.invalid(arg))?;
            if let Some(value) = text.strip_prefix("keys_zone=") {
                let (name, size) = value.split_once(':').ok_or_else(|| d.invalid(arg))?;
                let size = parse_size(size).ok_or_else(|| d.invalid(arg))?;
                if name.is_empty() {
                    return Err(d.invalid(arg));
                }
                // The slab allocator needs a few pages for itself, the
                // index the rest.
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
            } else if let Some(value) = text.strip_prefix("min_free=") {
                min_free = Some(parse_offset(value).ok_or_else(|| d.invalid(arg))?);
            } else if let Some(value) = text.strip_prefix("inactive=") {
                inactive = parse_time(value).ok_or_else(|| d.invalid(arg))?;
            } else if let Some(value) = text.strip_prefix("originals_check=") {
                originals_check = parse_time(value)
                    .filter(|t| !t.is_zero())
                    .ok_or_else(|| d.invalid(arg))?;
            } else {
                return Err(d.invalid(arg));
            }
        }
        let Some((zone_name, size)) = zone else {
            let name = d.name;
            return Err(d.error(format_args!("\"{name}\" must have \"keys_zone\" parameter")));
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
            min_free,
            inactive,
            originals_check,
            check_cursor: AtomicUsize::new(0),
            zone: ptr::null_mut(),
        });
        cache.zone = cache.add_zone(d, size)?;
        Ok(cache)
    }

    fn add_zone(
        &mut self,
        d: &mut Directive<'_>,
        size: usize,
    ) -> Result<*mut ngx_shm_zone_t, *mut c_char> {
        let mut name = pool_str(d, self.zone_name.as_bytes())?;
        let tag = ptr::from_ref(ImageFilterRsModule::module())
            .cast_mut()
            .cast();
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
    /// the workers' user as owner and checks that no other cache path uses it
    /// with other levels, and makes nginx start its cache manager process,
    /// which calls `manage` for this cache.
    pub fn register(&mut self, cf: &mut ngx::ffi::ngx_conf_t) -> Result<(), *mut c_char> {
        let root = self.root.to_string_lossy().into_owned();
        // SAFETY: `cf.pool` is the configuration pool; ngx_path_t is plain
        // data that nginx expects zeroed apart from what is set below.
        unsafe {
            let path =
                ngx_pcalloc(cf.pool, core::mem::size_of::<ngx_path_t>()).cast::<ngx_path_t>();
            let Some(path_ref) = path.as_mut() else {
                return Err(NGX_CONF_ERROR);
            };
            // nginx creates the directory from `name.data` as a C string,
            // so the copy must end in a NUL that `len` does not count;
            // without it, nginx read on into the pool and created
            // `/var/lib/nginx/thumbsserver` for `.../thumbs`.
            let mut terminated = root.into_bytes();
            terminated.push(0);
            let Some(mut name) = ngx_str_t::from_bytes(cf.pool, &terminated) else {
                return Err(NGX_CONF_ERROR);
            };
            name.len -= 1;
            path_ref.name = name;
            for (slot, &width) in path_ref.level.iter_mut().zip(&self.levels) {
                *slot = usize::from(width);
            }
            path_ref.len = self.levels.iter().map(|&w| usize::from(w) + 1).sum();
            path_ref.manager = Some(manage);
            path_ref.data = ptr::from_mut(self).cast();
            path_ref.conf_file = (*cf.conf_file).file.name.data;
            path_ref.line = (*cf.conf_file).line;
            let mut slot = path;
            if ngx_add_path(cf, &mut slot) != Status::NGX_OK.0 {
                return Err(NGX_CONF_ERROR);
            }
        }
        Ok(())
    }

    /// The zone's index, once nginx has mapped and initialised it.
    pub fn index(&self) -> Option<Index> {
        // SAFETY: `zone` was returned by ngx_shared_memory_add and lives as
        // long as the cycle; `shm.addr` is null before the zone is mapped and
        // then points to a slab pool that init_zone set up with an index.
        unsafe {
            let zone = self.zone.as_ref()?;
            let pool = NonNull::new(zone.shm.addr.cast::<ngx_slab_pool_t>())?;
            Index::attach(pool)
        }
    }

    pub fn file_path(&self, key: &CacheKey) -> PathBuf {
        self.root.join(key.relative_path(&self.levels))
    }

    pub fn relative_path(&self, key: &CacheKey) -> String {
        key.relative_path(&self.levels)
    }
}

/// Lays out the index in a new zone, or adopts the one a reload inherits,
/// so a reload keeps every entry.
extern "C" fn init_zone(zone: *mut ngx_shm_zone_t, _previous: *mut c_void) -> ngx_int_t {
    let result = std::panic::catch_unwind(|| {
        // SAFETY: nginx calls init with its zone, whose shm is mapped and
        // starts with an initialised slab pool.
        unsafe {
            let zone = &mut *zone;
            let pool = NonNull::new(zone.shm.addr.cast::<ngx_slab_pool_t>()).ok_or("not mapped")?;
            Index::init(pool).map(|_| ()).map_err(|e| e.0)
        }
    });
    match result {
        Ok(Ok(())) => Status::NGX_OK.into(),
        Ok(Err(message)) => {
            log_cycle(NGX_LOG_EMERG, &format!("image_filter_rs: {message}"));
            NGX_ERROR as ngx_int_t
        }
        Err(_) => NGX_ERROR as ngx_int_t,
    }
}

/// The cache manager's periodic work for one cache, in nginx's cache manager
/// process: never in a worker, so it may walk directories and unlink files.
/// Returns the milliseconds until the next call.
extern "C" fn manage(data: *mut c_void) -> ngx::ffi::ngx_msec_t {
    // SAFETY: `data` is the CachePath that `register` stored in the path; the
    // configuration that owns it lives as long as this process's cycle.
    let cache = unsafe { &*data.cast::<CachePath>() };
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| cache.manage())).unwrap_or(10_000)
}

/// Files removed per lock: keeps the lock short when much expires at once.
const SWEEP_BATCH: usize = 256;

impl CachePath {
    fn manage(&self) -> ngx::ffi::ngx_msec_t {
        let Some(index) = self.index() else {
            return 1000;
        };
        if !index.lock().loaded() {
            self.load(&index);
            index.lock().set_loaded();
        }
        self.sweep_temporaries();
        let now = wall_clock_ms() / 1000;
        let cutoff = now.saturating_sub(self.inactive.as_secs());
        loop {
            let mut removed = Vec::new();
            index
                .lock()
                .remove_inactive(cutoff, SWEEP_BATCH, &mut removed);
            self.remove_files(&removed);
            if removed.len() < SWEEP_BATCH {
                break;
            }
        }
        self.check_originals(&index);
        if let Some(max_size) = self.max_size {
            let mut victims = Vec::new();
            index.lock().evict_to_fit(max_size, None, &mut victims);
            self.remove_files(&victims);
        }
        if let Some(min_free) = self.min_free {
            while free_space(&self.root).is_some_and(|free| free < min_free) {
                let victim = index.lock().evict_victim(None);
                match victim {
                    Some(victim) => self.remove_files(&[victim]),
                    None => break,
                }
            }
        }
        MANAGER_PERIOD_MS as ngx::ffi::ngx_msec_t
    }

    /// Looks at the originals of the next share of the index, so that every
    /// entry's is looked at once per `originals_check`, and removes the
    /// entries (and files) whose original is gone: deleted, or no longer a
    /// regular file. An original deleted by `rm`, a storage backend or a
    /// Django signal ends the same way as one purged. Each entry costs a
    /// read of its cache file's header (for the original's path) and a
    /// `stat` of the original, here in the cache manager, never in a
    /// worker. A replaced original is left alone: its renditions are made
    /// again when asked for.
    fn check_originals(&self, index: &Index) {
        let capacity = index.lock().capacity() as usize;
        if capacity == 0 {
            return;
        }
        let period_ms = u64::try_from(self.originals_check.as_millis()).unwrap_or(u64::MAX);
        let share = (capacity as u64 * MANAGER_PERIOD_MS).div_ceil(period_ms.max(1));
        let share = usize::try_from(share)
            .unwrap_or(capacity)
            .clamp(1, capacity);
        let from = self.check_cursor.load(Ordering::Relaxed) % capacity;
        self.check_cursor
            .store((from + share) % capacity, Ordering::Relaxed);
        let mut keys = Vec::new();
        index.lock().ready_keys(from, share, &mut keys);
        let mut gone = Vec::new();
        for key in keys {
            let Some((header, _, _)) = read_header(&self.file_path(&key)) else {
                continue;
            };
            // An original fetched from an upstream has no file to look at:
            // it is revalidated by the requests themselves (source.rs).
            if header.original_path.is_empty() || crate::source::is_upstream(&header.original) {
                continue;
            }
            let path = std::path::Path::new(std::ffi::OsStr::from_bytes(&header.original_path));
            let exists = match std::fs::metadata(path) {
                Ok(meta) => meta.is_file(),
                Err(e) => !matches!(
                    e.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
                ),
            };
            if !exists {
                gone.push((key, header.original));
            }
        }
        let mut locked = index.lock();
        locked.counters().originals_checked += share as u64;
        let mut removed = Vec::new();
        for (key, original) in gone {
            // Only the entry made from the file that is gone: one made from
            // a new file at the same path meanwhile stays.
            if let Found::Ready(slot) = locked.find(&key) {
                if slot.original == original.into() {
                    locked.remove(&key);
                    locked.counters().originals_gone += 1;
                    removed.push(slot);
                }
            }
        }
        drop(locked);
        self.remove_files(&removed);
    }

    /// Indexes the files an earlier run left, so that `max_size` counts them
    /// and `inactive` can expire them; removes damaged ones. Workers do not
    /// wait for this: a file not indexed yet is found on disk when asked for.
    fn load(&self, index: &Index) {
        let mut damaged = 0;
        let mut loaded = 0;
        let mut dirs = vec![(self.root.clone(), 0usize)];
        while let Some((dir, depth)) = dirs.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let name = entry.file_name();
                let Some(name) = name.to_str() else {
                    continue;
                };
                let Ok(kind) = entry.file_type() else {
                    continue;
                };
                if kind.is_dir() {
                    if depth < self.levels.len() && name != store::TEMP_DIR {
                        dirs.push((entry.path(), depth + 1));
                    }
                    continue;
                }
                let Some(key) = CacheKey::from_hex(name) else {
                    continue;
                };
                if !kind.is_file() || depth != self.levels.len() {
                    continue;
                }
                match read_header(&entry.path()) {
                    Some((header, offset, size)) if header.key == key => {
                        let modified = entry
                            .metadata()
                            .ok()
                            .and_then(|m| m.modified().ok())
                            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                            .map_or(0, |d| d.as_secs());
                        let mut victims = Vec::new();
                        let mut locked = index.lock();
                        if matches!(locked.find(&key), Found::Absent) {
                            locked.complete(
                                &key,
                                ReadyEntry {
                                    file_size: size,
                                    body_offset: offset,
                                    original: header.original.into(),
                                    origin: 0,
                                    content_type: content_type_code(&header.content_type),
                                },
                                modified,
                                &mut victims,
                            );
                            locked.counters().loaded_files += 1;
                            loaded += 1;
                        }
                        drop(locked);
                        self.remove_files(&victims);
                    }
                    _ => {
                        let _ = std::fs::remove_file(entry.path());
                        damaged += 1;
                    }
                }
            }
        }
        index.lock().counters().damaged_files += damaged;
        log_cycle(
            NGX_LOG_NOTICE,
            &format!(
                "image_filter_rs: cache \"{}\" loaded {loaded} files, removed {damaged} damaged",
                self.zone_name
            ),
        );
    }

    /// Removes temporary files whose writer has died: a worker killed while
    /// writing leaves one behind.
    fn sweep_temporaries(&self) {
        let Ok(entries) = std::fs::read_dir(self.root.join(store::TEMP_DIR)) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let writer = name.to_str().and_then(store::temp_file_writer);
            if writer.is_none_or(|pid| !process_alive(pid as i32)) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }

    /// Removes the files of entries dropped from the index. A file renamed
    /// into place since is removed too; the index no longer knows it, so
    /// that costs one regeneration, never a wrong answer.
    pub fn remove_file(&self, key: &CacheKey) {
        let _ = std::fs::remove_file(self.file_path(key));
    }

    pub fn remove_files(&self, slots: &[Slot]) {
        for slot in slots {
            let _ = std::fs::remove_file(self.file_path(&CacheKey(slot.key)));
        }
    }
}

/// The original's validators as nginx's open-file info reports them.
pub fn validators(info: &ngx::ffi::ngx_open_file_info_t) -> Validators {
    Validators {
        dev: 0,
        ino: info.uniq,
        mtime_sec: info.mtime,
        mtime_nsec: 0,
        size: info.size as u64,
    }
}

/// Indexes a cache file found on disk but not in the index (made before a
/// restart, or by a worker whose entry was evicted): true when this call
/// added it, false when another worker claimed or indexed the key first.
pub fn adopt(
    cache: &CachePath,
    key: &CacheKey,
    header: CacheHeader,
    offset: u64,
    size: u64,
    origin: u64,
) -> bool {
    let Some(index) = cache.index() else {
        return false;
    };
    let ready = ReadyEntry {
        file_size: size,
        body_offset: offset,
        original: header.original.into(),
        origin,
        content_type: content_type_code(&header.content_type),
    };
    let mut victims = Vec::new();
    {
        let mut locked = index.lock();
        if !matches!(locked.find(key), Found::Absent) {
            return false;
        }
        locked.complete(key, ready, wall_clock_ms() / 1000, &mut victims);
        if let Some(max_size) = cache.max_size {
            locked.evict_to_fit(max_size, Some(key), &mut victims);
        }
    }
    cache.remove_files(&victims);
    true
}

/// Reads and checks a cache file's header: the header, the body offset and
/// the file size, or None when the file is not one of ours or is damaged.
pub fn read_header(path: &std::path::Path) -> Option<(CacheHeader, u64, u64)> {
    use std::io::Read;
    let mut file = std::fs::File::open(path).ok()?;
    let size = file.metadata().ok()?.len();
    let mut head = [0u8; store::HEADER_MAX];
    let mut filled = 0;
    while filled < head.len() {
        match file.read(&mut head[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(_) => return None,
        }
    }
    let (header, offset) = CacheHeader::decode(&head[..filled], Some(size)).ok()?;
    Some((header, offset, size))
}

/// Whether a process (a worker that claimed a generation) still exists.
pub fn process_alive(pid: i32) -> bool {
    if pid <= 0 {
        return false;
    }
    // SAFETY: signal 0 only checks for existence and permission.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// Milliseconds since the epoch, from nginx's cached time: cheap, and the
/// same clock in every process.
pub fn wall_clock_ms() -> u64 {
    let tp = ngx::ffi::ngx_timeofday();
    tp.sec as u64 * 1000 + tp.msec as u64
}

fn free_space(path: &std::path::Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let mut c_path = path.as_os_str().as_bytes().to_vec();
    c_path.push(0);
    // SAFETY: statvfs reads a NUL-terminated path and fills the zeroed
    // structure we own.
    unsafe {
        let mut stat: libc::statvfs = core::mem::zeroed();
        if libc::statvfs(c_path.as_ptr().cast(), &mut stat) != 0 {
            return None;
        }
        Some(stat.f_bavail as u64 * stat.f_frsize as u64)
    }
}

fn log_cycle(level: u32, message: &str) {
    let log = ngx::log::ngx_cycle_log();
    // SAFETY: the cycle's log is valid for the life of the process.
    unsafe {
        if level as usize <= (*log.as_ptr()).log_level {
            ngx::log::log_error(level as usize, log.as_ptr(), 0, message.as_bytes());
        }
    }
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
pub fn parse_offset(value: &str) -> Option<u64> {
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

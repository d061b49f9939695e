//! `image_filter_rs_purge`: a `PURGE` or `DELETE` of an original's URI
//! removes every rendition of it (each size, preset, format and dpr, in
//! every cache zone) from the index and the disk, and answers
//! `{"purged": N}`. The URI is mapped to the original's path with the
//! location's `root`/`alias`, as the thumbnail locations map theirs, so the
//! same layout as `/media/` works. Who may purge is nginx's `allow`/`deny`.
//!
//! A URI ending in `/` purges every original under that directory. Which
//! renditions those are is written only in their cache files' headers, so
//! a pool thread reads the headers, the index is changed on the event loop,
//! and a pool thread removes the files before the answer.

use ngx::ffi::{
    ngx_http_discard_request_body, ngx_http_request_t, ngx_int_t, NGX_HTTP_DELETE,
    NGX_HTTP_INTERNAL_SERVER_ERROR, NGX_HTTP_NOT_ALLOWED, NGX_HTTP_OK, NGX_LOG_ALERT, NGX_LOG_INFO,
    NGX_OK,
};
use ngx::http::HttpModuleMainConf;

use core::ptr::{self, NonNull};

use ngx::ffi::{ngx_thread_pool_t, NGX_DONE};
use ngx::http::HttpModuleLocationConf;
use thumbnailer::key::CacheKey;
use thumbnailer::store::Validators;

use crate::cache::{read_header, CachePath};
use crate::files::map_uri_to_path;
use crate::handler::{connection_log, log_line, origin_of};
use crate::index::{Found, Slot};
use crate::response;
use crate::task::{self, PoolWork};
use crate::ImageFilterRsModule;

const SERVER_ERROR: ngx_int_t = NGX_HTTP_INTERNAL_SERVER_ERROR as ngx_int_t;

/// The content handler of `image_filter_rs_purge`.
pub extern "C" fn purge_handler(r: *mut ngx_http_request_t) -> ngx_int_t {
    // SAFETY: nginx calls content handlers with the current, valid request.
    let r = unsafe { &mut *r };
    let log = connection_log(r);
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| purge(r))).unwrap_or_else(|_| {
        log_line(
            log,
            NGX_LOG_ALERT,
            0,
            "image_filter_rs: internal error (panic) in a purge",
        );
        SERVER_ERROR
    })
}

fn purge(r: &mut ngx_http_request_t) -> ngx_int_t {
    let purge_method = r.method & NGX_HTTP_DELETE as usize != 0
        || r.method_name.as_bytes().eq_ignore_ascii_case(b"PURGE");
    if !purge_method {
        return NGX_HTTP_NOT_ALLOWED as ngx_int_t;
    }
    // SAFETY: `r` is the request being handled.
    let rc = unsafe { ngx_http_discard_request_body(r) };
    if rc != NGX_OK as ngx_int_t {
        return rc;
    }
    // Renditions of an upstream original are keyed by its source URI.
    let source = match ImageFilterRsModule::location_conf(r) {
        Some(lcf) => match crate::source::evaluate_uri(r, lcf) {
            Ok(source) => source,
            Err(refusal) => return refusal.http_status() as ngx_int_t,
        },
        None => None,
    };
    let path = match source {
        Some(uri) => uri,
        None => match map_uri_to_path(r) {
            Some(path) => path.as_bytes().to_vec(),
            None => return SERVER_ERROR,
        },
    };
    if path.last() == Some(&b'/') {
        return purge_directory(r, path);
    }
    let origin = origin_of(&path);
    let caches = ImageFilterRsModule::main_conf(r).map_or(&[][..], |m| &m.caches[..]);
    let mut purged = 0u64;
    for cache in caches {
        let Some(index) = cache.index() else {
            continue;
        };
        let mut removed = Vec::new();
        {
            let mut locked = index.lock();
            locked.remove_origin(origin, &mut removed);
            let counters = locked.counters();
            counters.purges += 1;
            counters.purged_files += removed.len() as u64;
        }
        cache.remove_files(&removed);
        purged += removed.len() as u64;
    }
    log_line(
        connection_log(r),
        NGX_LOG_INFO,
        0,
        &format!(
            "image_filter_rs: purged {purged} renditions of \"{}\"",
            String::from_utf8_lossy(&path)
        ),
    );
    let body = format!("{{\"purged\": {purged}}}\n");
    response::send_small(r, NGX_HTTP_OK as usize, "application/json", &body)
}

/// A purge of everything under a directory, across its three steps.
struct DirectoryPurge {
    /// The directory's path, ending in `/`.
    prefix: Vec<u8>,
    zones: Vec<ZoneScan>,
    step: Step,
    thread_pool: Option<NonNull<ngx_thread_pool_t>>,
}

struct ZoneScan {
    cache: &'static CachePath,
    /// The zone's ready entries when the purge began.
    keys: Vec<CacheKey>,
    /// Those whose header names an original under the directory, and the
    /// original's validators then.
    matched: Vec<(CacheKey, Validators)>,
    /// The entries taken out of the index, whose files go next.
    removed: Vec<Slot>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Step {
    ReadHeaders,
    RemoveFiles,
}

fn purge_directory(r: &mut ngx_http_request_t, prefix: Vec<u8>) -> ngx_int_t {
    let caches = ImageFilterRsModule::main_conf(r).map_or(&[][..], |m| &m.caches[..]);
    let mut zones = Vec::new();
    for cache in caches {
        // SAFETY: the caches live in the main configuration, which outlives
        // every request of its cycle.
        let cache: &'static CachePath = unsafe { &*ptr::from_ref(cache.as_ref()) };
        let Some(index) = cache.index() else {
            continue;
        };
        let mut keys = Vec::new();
        {
            let mut locked = index.lock();
            // Generations in flight may be of originals under the directory
            // and would store renditions of bytes the purge is meant to
            // drop: they discard their results instead.
            locked.remove_claims();
            let capacity = locked.capacity() as usize;
            locked.ready_keys(0, capacity, &mut keys);
            locked.counters().purges += 1;
        }
        zones.push(ZoneScan {
            cache,
            keys,
            matched: Vec::new(),
            removed: Vec::new(),
        });
    }
    let thread_pool = ImageFilterRsModule::location_conf(r).and_then(|lcf| lcf.thread_pool());
    let mut work = Box::new(DirectoryPurge {
        prefix,
        zones,
        step: Step::ReadHeaders,
        thread_pool,
    });
    match thread_pool {
        Some(pool) => {
            if task::post(r, pool, work).is_err() {
                // Nothing was changed yet: the client may try again.
                return response::service_unavailable(r);
            }
            // The request stays open until the work's last step answers.
            // SAFETY: `r.main` is the valid main request.
            unsafe { (*r.main).set_count((*r.main).count() + 1) };
            NGX_DONE as ngx_int_t
        }
        None => {
            work.read_headers();
            work.remove_from_index();
            work.remove_files();
            work.answer(r)
        }
    }
}

impl DirectoryPurge {
    fn read_headers(&mut self) {
        for zone in &mut self.zones {
            for key in &zone.keys {
                let Some((header, _, _)) = read_header(&zone.cache.file_path(key)) else {
                    continue;
                };
                if header.original_path.starts_with(&self.prefix) {
                    zone.matched.push((*key, header.original));
                }
            }
        }
    }

    fn remove_from_index(&mut self) {
        for zone in &mut self.zones {
            let Some(index) = zone.cache.index() else {
                continue;
            };
            let mut locked = index.lock();
            for (key, original) in &zone.matched {
                // Only the entry made from what the header names: one made
                // meanwhile from a new file at the same path is newer than
                // the purge.
                if let Found::Ready(slot) = locked.find(key) {
                    if slot.original == (*original).into() {
                        locked.remove(key);
                        zone.removed.push(slot);
                    }
                }
            }
            locked.counters().purged_files += zone.removed.len() as u64;
        }
    }

    fn remove_files(&mut self) {
        for zone in &self.zones {
            zone.cache.remove_files(&zone.removed);
        }
    }

    fn answer(&self, r: &mut ngx_http_request_t) -> ngx_int_t {
        let purged: u64 = self.zones.iter().map(|z| z.removed.len() as u64).sum();
        log_line(
            connection_log(r),
            NGX_LOG_INFO,
            0,
            &format!(
                "image_filter_rs: purged {purged} renditions under \"{}\"",
                String::from_utf8_lossy(&self.prefix)
            ),
        );
        let body = format!("{{\"purged\": {purged}}}\n");
        response::send_small(r, NGX_HTTP_OK as usize, "application/json", &body)
    }
}

impl PoolWork for DirectoryPurge {
    fn run(&mut self) {
        match self.step {
            Step::ReadHeaders => self.read_headers(),
            Step::RemoveFiles => self.remove_files(),
        }
    }

    fn finish(mut self: Box<Self>, r: &mut ngx_http_request_t) -> Option<ngx_int_t> {
        if self.step == Step::RemoveFiles {
            return Some(self.answer(r));
        }
        self.remove_from_index();
        self.step = Step::RemoveFiles;
        let nothing_to_remove = self.zones.iter().all(|z| z.removed.is_empty());
        match self.thread_pool {
            Some(pool) if !nothing_to_remove => match task::post(r, pool, self) {
                Ok(()) => None,
                // The index no longer has the entries; their files must
                // still go, so on the event loop if the pool is full.
                Err(mut work) => {
                    work.remove_files();
                    Some(work.answer(r))
                }
            },
            _ => {
                self.remove_files();
                Some(self.answer(r))
            }
        }
    }
}

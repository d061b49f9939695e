//! One decode for several sizes of the same original.
//!
//! A page with `srcset` asks for four to six widths of one photo at once, and
//! entropy-decoding the JPEG is most of each thumbnail's cost. This cache
//! makes such a burst cost about one decode:
//!
//! - *Single flight*: while one thread decodes an original, others wanting
//!   the same original at the same or a smaller scale wait for that decode
//!   instead of starting their own, then resize from it.
//! - *Sibling scale*: the decoding thread decodes at the scale the largest
//!   sibling size needs (the location's allow-list), not only its own, so the
//!   larger requests of the burst can use it too, down to half scale.
//!   Decoding a JPEG at 1/2 instead of 1/8 costs about 10 % more, as the
//!   entropy decoding is the same; the whole image costs about 50 % more.
//! - *Retention*: finished decodes stay in a small LRU bounded in bytes, for
//!   requests of the burst that arrive a little later.
//!
//! Originals are identified by the caller's [`OriginalId`] (path and file
//! identity, modification time, size), so a replaced original never reuses
//! an old decode. Everything here is plain `std` synchronisation; the waiting
//! happens in worker threads, never on an event loop.

use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use crate::error::Error;
use crate::job::{Geometry, Job};
use crate::pipeline::{decode_upright, finish, Source, Thumbnail, Upright};

/// Identifies one version of one original file.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct OriginalId {
    pub path: Vec<u8>,
    pub dev: u64,
    pub ino: u64,
    pub mtime_sec: i64,
    pub mtime_nsec: u32,
    pub size: u64,
}

/// How a thumbnail got its decoded pixels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeReuse {
    /// This call decoded the original.
    Decoded,
    /// Another call's concurrent decode was shared.
    Joined,
    /// A retained decode was used.
    Retained,
}

/// Counters for tests and the status page.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DecodeCacheStats {
    pub decodes: u64,
    pub joined: u64,
    pub retained_hits: u64,
    pub retained_bytes: u64,
}

/// The sizes other requests for the same original may ask for, so one
/// decode can serve them all: the location's allowed sizes.
pub type SiblingSizes<'a> = &'a [(Option<u32>, Option<u32>)];

pub struct DecodeCache {
    capacity: usize,
    state: Mutex<State>,
    finished: Condvar,
}

#[derive(Default)]
struct State {
    /// Most recently used last.
    retained: Vec<(OriginalId, Arc<Upright>)>,
    retained_bytes: usize,
    flights: Vec<Flight>,
    next_flight: u64,
    stats: DecodeCacheStats,
}

/// A decode under way, and its outcome once there is one, kept until every
/// thread that joined it has taken it.
struct Flight {
    id: u64,
    original: OriginalId,
    shrink: u32,
    joined: usize,
    outcome: Option<Result<Arc<Upright>, Error>>,
}

impl DecodeCache {
    /// `capacity` bounds the retained decodes in bytes; 0 retains nothing
    /// but still shares concurrent decodes.
    pub fn new(capacity: usize) -> Self {
        DecodeCache {
            capacity,
            state: Mutex::new(State::default()),
            finished: Condvar::new(),
        }
    }

    pub fn stats(&self) -> DecodeCacheStats {
        let state = self.lock();
        DecodeCacheStats {
            retained_bytes: state.retained_bytes as u64,
            ..state.stats
        }
    }

    /// `make_thumbnail`, sharing the decode with other calls for the same
    /// original. The result is the same as `make_thumbnail(input, job)`'s
    /// up to resampling from a larger decode.
    pub fn make_thumbnail(
        &self,
        original: &OriginalId,
        input: &[u8],
        job: &Job,
        siblings: SiblingSizes<'_>,
    ) -> Result<(Thumbnail, DecodeReuse), Error> {
        let source = Source::inspect(input, job)?;
        let plan = source.plan(&job.geometry, &job.limits)?;
        // Animations are made frame by frame, never held decoded.
        if source.header.frames > 1 {
            let thumbnail = crate::animation::make(input, &source, plan, job)?;
            return Ok((thumbnail, DecodeReuse::Decoded));
        }
        let needed = plan.shrink_on_load();
        let shrink = decode_shrink(&source, job, siblings).min(needed);
        let (upright, reuse) = match self.find_or_join(original, needed, shrink) {
            Found::Ready(upright, reuse) => (upright, reuse),
            Found::Lead(flight) => {
                let mut landing = Landing {
                    cache: self,
                    flight,
                    outcome: None,
                };
                let outcome = decode_upright(input, &source, shrink, &job.limits).map(Arc::new);
                landing.outcome = Some(outcome.clone());
                drop(landing);
                (outcome?, DecodeReuse::Decoded)
            }
        };
        Ok((finish(&upright, plan, job)?, reuse))
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves plain data behind; carry on.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A usable decode (retained, or a concurrent one waited for), or a new
    /// flight at `shrink` this caller must land.
    fn find_or_join(&self, original: &OriginalId, needed: u32, shrink: u32) -> Found {
        let mut state = self.lock();
        loop {
            if let Some(at) = state
                .retained
                .iter()
                .position(|(id, u)| id == original && u.shrink <= needed)
            {
                let entry = state.retained.remove(at);
                let upright = Arc::clone(&entry.1);
                state.retained.push(entry);
                state.stats.retained_hits += 1;
                return Found::Ready(upright, DecodeReuse::Retained);
            }
            let Some(at) = state
                .flights
                .iter()
                .position(|f| &f.original == original && f.shrink <= needed)
            else {
                break;
            };
            let id = state.flights[at].id;
            state.flights[at].joined += 1;
            state = self.wait_for(state, id);
            let at = state
                .flights
                .iter()
                .position(|f| f.id == id)
                .expect("a joined flight stays until its joiners leave");
            let flight = &mut state.flights[at];
            flight.joined -= 1;
            let outcome = flight.outcome.clone().expect("waited until landed");
            if flight.joined == 0 {
                state.flights.remove(at);
            }
            match outcome {
                Ok(upright) if upright.shrink <= needed => {
                    state.stats.joined += 1;
                    return Found::Ready(upright, DecodeReuse::Joined);
                }
                // Landed coarser than it promised (cannot happen) or failed:
                // the loop looks again and, failing all else, decodes.
                Ok(_) => continue,
                Err(_) => break,
            }
        }
        let id = state.next_flight;
        state.next_flight += 1;
        state.stats.decodes += 1;
        state.flights.push(Flight {
            id,
            original: original.clone(),
            shrink,
            joined: 0,
            outcome: None,
        });
        Found::Lead(id)
    }

    fn wait_for<'a>(&self, mut state: MutexGuard<'a, State>, id: u64) -> MutexGuard<'a, State> {
        while state
            .flights
            .iter()
            .any(|f| f.id == id && f.outcome.is_none())
        {
            state = self.finished.wait(state).unwrap_or_else(|e| e.into_inner());
        }
        state
    }

    fn land(&self, id: u64, outcome: Result<Arc<Upright>, Error>) {
        let mut state = self.lock();
        let Some(at) = state.flights.iter().position(|f| f.id == id) else {
            return;
        };
        if let Ok(upright) = &outcome {
            let original = state.flights[at].original.clone();
            self.retain(&mut state, original, Arc::clone(upright));
        }
        if state.flights[at].joined == 0 {
            state.flights.remove(at);
        } else {
            state.flights[at].outcome = Some(outcome);
        }
        drop(state);
        self.finished.notify_all();
    }

    /// Keeps the decode, replacing a coarser one of the same original and
    /// evicting the least recently used beyond the capacity.
    fn retain(&self, state: &mut State, original: OriginalId, upright: Arc<Upright>) {
        let bytes = upright.bytes();
        if bytes > self.capacity {
            return;
        }
        if state
            .retained
            .iter()
            .any(|(id, kept)| id == &original && kept.shrink <= upright.shrink)
        {
            return;
        }
        let mut at = 0;
        while at < state.retained.len() {
            let (id, kept) = &state.retained[at];
            // Another version of the file, or a coarser decode of this one.
            if id.path == original.path {
                state.retained_bytes -= kept.bytes();
                state.retained.remove(at);
            } else {
                at += 1;
            }
        }
        while state.retained_bytes + bytes > self.capacity && !state.retained.is_empty() {
            let (_, evicted) = state.retained.remove(0);
            state.retained_bytes -= evicted.bytes();
        }
        state.retained_bytes += bytes;
        state.retained.push((original, upright));
    }
}

enum Found {
    Ready(Arc<Upright>, DecodeReuse),
    Lead(u64),
}

/// Lands a flight when dropped, also when the decode panicked, so joined
/// threads never wait for ever.
struct Landing<'a> {
    cache: &'a DecodeCache,
    flight: u64,
    outcome: Option<Result<Arc<Upright>, Error>>,
}

impl Drop for Landing<'_> {
    fn drop(&mut self) {
        let outcome = self
            .outcome
            .take()
            .unwrap_or_else(|| Err(Error::internal("the shared decode did not finish")));
        self.cache.land(self.flight, outcome);
    }
}

/// The reduction to decode at so that the sibling sizes can use the decode
/// too, but never finer than half scale: a whole-image JPEG decode costs
/// half as much again as a reduced one, which a lone small thumbnail should
/// not pay for a sibling that may never be asked for. (The caller takes the
/// minimum with the job's own need, so a job needing the whole image still
/// decodes it.)
pub(crate) fn decode_shrink(source: &Source, job: &Job, siblings: SiblingSizes<'_>) -> u32 {
    siblings
        .iter()
        .filter_map(|&(width, height)| {
            let geometry = Geometry {
                width,
                height,
                ..job.geometry
            };
            source.plan(&geometry, &job.limits).ok()
        })
        .map(|plan| plan.shrink_on_load())
        .min()
        .unwrap_or(8)
        .max(2)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::{EncodeOptions, Fit, OutputFormat};
    use std::sync::Barrier;

    /// A 1024x768 baseline JPEG with detail, made by our own encoder.
    fn photo() -> Vec<u8> {
        let (w, h) = (1024u32, 768u32);
        let mut data = Vec::with_capacity((w * h * 3) as usize);
        for y in 0..h {
            for x in 0..w {
                data.extend_from_slice(&[(x % 256) as u8, (y % 256) as u8, ((x ^ y) % 256) as u8]);
            }
        }
        let bitmap = crate::bitmap::Bitmap::new(w, h, crate::bitmap::Layout::Rgb, data).unwrap();
        crate::format::encode::encode(
            bitmap,
            crate::format::ImageFormat::Jpeg,
            &EncodeOptions::default(),
        )
        .unwrap()
    }

    fn job(width: u32) -> Job {
        Job::sized(Some(width), None, Fit::Fit, OutputFormat::Png)
    }

    fn id(mtime: i64) -> OriginalId {
        OriginalId {
            path: b"/media/photo.jpg".to_vec(),
            dev: 1,
            ino: 2,
            mtime_sec: mtime,
            mtime_nsec: 0,
            size: 3,
        }
    }

    const SRCSET: [(Option<u32>, Option<u32>); 4] = [
        (Some(32), None),
        (Some(64), None),
        (Some(128), None),
        (Some(200), None),
    ];

    #[test]
    fn a_burst_of_sizes_decodes_once() {
        let input = photo();
        let cache = DecodeCache::new(0);
        let barrier = Barrier::new(SRCSET.len());
        std::thread::scope(|scope| {
            for &(width, _) in &SRCSET {
                let (cache, input, barrier) = (&cache, &input, &barrier);
                scope.spawn(move || {
                    barrier.wait();
                    let (thumb, _) = cache
                        .make_thumbnail(&id(1), input, &job(width.unwrap()), &SRCSET)
                        .unwrap();
                    assert_eq!(thumb.width, width.unwrap());
                });
            }
        });
        let stats = cache.stats();
        // How many joined depends on timing (a request arriving after the
        // decode landed decodes again, as nothing is retained); each got
        // its pixels one way.
        assert_eq!(stats.decodes + stats.joined + stats.retained_hits, 4);
        assert!(stats.decodes >= 1);
        assert_eq!(stats.retained_bytes, 0, "capacity 0 retains nothing");
    }

    #[test]
    fn a_request_during_a_decode_joins_it() {
        let cache = DecodeCache::new(0);
        let Found::Lead(flight) = cache.find_or_join(&id(1), 4, 2) else {
            panic!("the first request leads");
        };
        std::thread::scope(|scope| {
            let joiner = scope.spawn(|| match cache.find_or_join(&id(1), 8, 8) {
                Found::Ready(upright, reuse) => (upright.shrink, reuse),
                Found::Lead(_) => panic!("a finer decode is under way"),
            });
            // Land only once the joiner is waiting, so the join is certain.
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
            while cache.lock().flights[0].joined == 0 {
                assert!(std::time::Instant::now() < deadline, "joiner never waited");
                std::thread::yield_now();
            }
            let bitmap =
                crate::bitmap::Bitmap::new(2, 2, crate::bitmap::Layout::Gray, vec![0; 4]).unwrap();
            cache.land(
                flight,
                Ok(Arc::new(Upright {
                    bitmap,
                    source_format: crate::format::ImageFormat::Jpeg,
                    shrink: 2,
                    from_palette: false,
                })),
            );
            assert_eq!(joiner.join().unwrap(), (2, DecodeReuse::Joined));
        });
        // A request needing a finer scale than the flight's does not join.
        assert!(matches!(cache.find_or_join(&id(1), 1, 1), Found::Lead(_)));
        assert!(cache.lock().flights.len() == 1, "the landed flight is gone");
    }

    #[test]
    fn a_panicking_decode_releases_its_joiners() {
        let cache = DecodeCache::new(0);
        let Found::Lead(flight) = cache.find_or_join(&id(1), 4, 4) else {
            panic!("the first request leads");
        };
        drop(Landing {
            cache: &cache,
            flight,
            outcome: None,
        });
        assert!(cache.lock().flights.is_empty());
    }

    #[test]
    fn sequential_sizes_reuse_the_retained_decode() {
        let input = photo();
        let cache = DecodeCache::new(64 << 20);
        for &(width, _) in &SRCSET {
            let (thumb, _) = cache
                .make_thumbnail(&id(1), &input, &job(width.unwrap()), &SRCSET)
                .unwrap();
            assert_eq!(thumb.width, width.unwrap());
        }
        let stats = cache.stats();
        assert_eq!((stats.decodes, stats.retained_hits), (1, 3), "{stats:?}");
        // Decoded at the scale the 200-wide sibling needs: 1/4 of 1024
        // (256 still covers 200).
        assert_eq!(stats.retained_bytes, 256 * 192 * 3);
    }

    #[test]
    fn output_matches_the_unshared_pipeline() {
        let input = photo();
        let cache = DecodeCache::new(64 << 20);
        for width in [200, 32] {
            let (shared, _) = cache
                .make_thumbnail(&id(1), &input, &job(width), &SRCSET)
                .unwrap();
            let alone = crate::make_thumbnail(&input, &job(width)).unwrap();
            assert_eq!((shared.width, shared.height), (alone.width, alone.height));
            let a = image::load_from_memory(&shared.bytes).unwrap().to_rgb8();
            let b = image::load_from_memory(&alone.bytes).unwrap().to_rgb8();
            let mean_diff = a
                .as_raw()
                .iter()
                .zip(b.as_raw())
                .map(|(x, y)| u64::from(x.abs_diff(*y)))
                .sum::<u64>() as f64
                / a.as_raw().len() as f64;
            assert!(
                mean_diff < 4.0,
                "width {width}: mean difference {mean_diff}"
            );
        }
    }

    #[test]
    fn a_changed_original_is_decoded_again() {
        let input = photo();
        let cache = DecodeCache::new(64 << 20);
        cache
            .make_thumbnail(&id(1), &input, &job(100), &[])
            .unwrap();
        let (_, reuse) = cache
            .make_thumbnail(&id(2), &input, &job(100), &[])
            .unwrap();
        assert_eq!(reuse, DecodeReuse::Decoded);
        let stats = cache.stats();
        assert_eq!(stats.decodes, 2);
        // The old version's decode was dropped for the new one (1/8 of
        // 1024 covers 100).
        assert_eq!(stats.retained_bytes, 128 * 96 * 3);
    }

    #[test]
    fn siblings_never_make_a_small_job_decode_the_whole_image() {
        let input = photo();
        let cache = DecodeCache::new(64 << 20);
        let huge_sibling = [(Some(1000), None)];
        cache
            .make_thumbnail(&id(1), &input, &job(32), &huge_sibling)
            .unwrap();
        assert_eq!(cache.stats().retained_bytes, 512 * 384 * 3, "half scale");
    }

    #[test]
    fn a_coarser_decode_is_not_used_for_a_larger_size() {
        let input = photo();
        let cache = DecodeCache::new(64 << 20);
        cache.make_thumbnail(&id(1), &input, &job(64), &[]).unwrap();
        let (thumb, reuse) = cache
            .make_thumbnail(&id(1), &input, &job(400), &[])
            .unwrap();
        assert_eq!(reuse, DecodeReuse::Decoded);
        assert_eq!(thumb.width, 400);
        // The finer decode replaced the coarser one, and serves both now.
        let (_, reuse) = cache.make_thumbnail(&id(1), &input, &job(64), &[]).unwrap();
        assert_eq!(reuse, DecodeReuse::Retained);
        // 1/2 of 1024 covers 400.
        assert_eq!(cache.stats().retained_bytes, 512 * 384 * 3);
    }

    #[test]
    fn errors_are_not_retained() {
        let cache = DecodeCache::new(64 << 20);
        let mut broken = photo();
        broken.truncate(600);
        assert!(cache
            .make_thumbnail(&id(1), &broken, &job(100), &[])
            .is_err());
        assert_eq!(cache.stats().retained_bytes, 0);
        assert!(cache.lock().flights.is_empty());
    }
}

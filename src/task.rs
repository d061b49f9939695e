//! The generation task: read the original, make the thumbnail, store it.
//!
//! It works on owned data only (paths, settings, bytes) and touches no
//! nginx structure, pool or log, so it can run on the event loop today and in
//! a pool thread without change; the handler applies its result.

use std::fs::File;
use std::io::{self, Read};
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use thumbnailer::key::CacheKey;
use thumbnailer::store::{self, CacheHeader, Validators};
use thumbnailer::{make_thumbnail, Job, Thumbnail};

use thumbnailer::ErrorClass;

use crate::errors::{Class, Refusal};

/// Where and under which identity a finished thumbnail is stored.
pub struct StoreTarget {
    pub root: PathBuf,
    pub relative: String,
    pub key: CacheKey,
    pub original: Validators,
}

pub struct GenerateTask {
    pub original: PathBuf,
    pub job: Job,
    pub store: Option<StoreTarget>,
}

pub struct Generated {
    pub thumbnail: Thumbnail,
    /// None when no cache is configured; an error when storing failed, in
    /// which case the thumbnail is still served, uncached.
    pub stored: Option<io::Result<u64>>,
}

impl GenerateTask {
    pub fn run(&self) -> Result<Generated, Refusal> {
        let input = read_bounded(&self.original, self.job.limits.max_source_size)?;
        let thumbnail = make_thumbnail(&input, &self.job)?;
        let stored = self.store.as_ref().map(|target| {
            let header = CacheHeader {
                key: target.key,
                original: target.original,
                created: SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs()),
                body_len: thumbnail.bytes.len() as u64,
                content_type: thumbnail.format.mime_type().to_owned(),
            };
            store::write_atomically(
                &target.root,
                &target.relative,
                &header,
                &thumbnail.bytes,
                false,
            )
        });
        Ok(Generated { thumbnail, stored })
    }
}

/// Reads the whole original, refusing one that grew past the limit since it
/// was checked: the limit holds for what is read, not for what stat said.
fn read_bounded(path: &PathBuf, limit: u64) -> Result<Vec<u8>, Refusal> {
    let file = File::open(path).map_err(|e| Refusal::from_io(&e, "open()"))?;
    let mut input = Vec::new();
    file.take(limit.saturating_add(1))
        .read_to_end(&mut input)
        .map_err(|e| Refusal::from_io(&e, "read()"))?;
    if input.len() as u64 > limit {
        return Err(Refusal::new(
            Class::Image(ErrorClass::TooLarge),
            format!("original is over the {limit}-byte source size limit"),
        ));
    }
    Ok(input)
}

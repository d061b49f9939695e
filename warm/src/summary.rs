//! What each request came to, and the totals printed at the end.
//!
//! The module's `$image_filter_rs_cache_status`, sent by the location as
//! `X-Image-Filter-Cache`, tells a rendition made now (MISS, EXPIRED) from
//! one already in the cache (HIT, UPDATING: another request was making it).
//! Without the header only the status code is known: 2xx counts as "ok".

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

/// The response header the location adds:
/// `add_header X-Image-Filter-Cache $image_filter_rs_cache_status;`.
pub const CACHE_HEADER: &str = "X-Image-Filter-Cache";

/// One request's result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// 2xx and MISS or EXPIRED.
    Made,
    /// 2xx and HIT or UPDATING.
    Cached,
    /// 2xx without a cache status the warmer knows (no header, BYPASS).
    Ok,
    /// Any other status.
    Status(u16),
    /// No response: refused, reset, timed out, malformed.
    Error(String),
}

impl Outcome {
    /// Classifies a response from its status and the cache header's value.
    pub fn of(status: u16, cache: Option<&str>) -> Outcome {
        if !(200..300).contains(&status) {
            return Outcome::Status(status);
        }
        match cache.map(|v| v.trim().to_ascii_uppercase()).as_deref() {
            Some("MISS" | "EXPIRED") => Outcome::Made,
            Some("HIT" | "UPDATING") => Outcome::Cached,
            _ => Outcome::Ok,
        }
    }

    pub fn failed(&self) -> bool {
        matches!(self, Outcome::Status(_) | Outcome::Error(_))
    }
}

/// Running totals.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    pub made: u64,
    pub cached: u64,
    pub ok: u64,
    /// Failures by status code.
    pub statuses: BTreeMap<u16, u64>,
    pub errors: u64,
}

impl Tally {
    pub fn add(&mut self, o: &Outcome) {
        match o {
            Outcome::Made => self.made += 1,
            Outcome::Cached => self.cached += 1,
            Outcome::Ok => self.ok += 1,
            Outcome::Status(s) => *self.statuses.entry(*s).or_default() += 1,
            Outcome::Error(_) => self.errors += 1,
        }
    }

    pub fn failed(&self) -> u64 {
        self.statuses.values().sum::<u64>() + self.errors
    }

    pub fn done(&self) -> u64 {
        self.made + self.cached + self.ok + self.failed()
    }

    /// `404: 1, 415: 2, connection: 1`, or empty.
    pub fn failure_breakdown(&self) -> String {
        let mut parts: Vec<String> = self
            .statuses
            .iter()
            .map(|(s, n)| format!("{s}: {n}"))
            .collect();
        if self.errors > 0 {
            parts.push(format!("connection: {}", self.errors));
        }
        parts.join(", ")
    }

    /// The summary, one figure a line so that scripts can pick lines out.
    pub fn report(&self, files: usize, prefixes: usize, elapsed: Duration) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "requests: {} ({files} files x {prefixes} prefixes) in {:.1} s",
            self.done(),
            elapsed.as_secs_f64()
        );
        let _ = writeln!(out, "made: {}", self.made);
        let _ = writeln!(out, "already cached: {}", self.cached);
        let _ = writeln!(out, "ok, cache status unknown: {}", self.ok);
        let _ = write!(out, "failed: {}", self.failed());
        if self.failed() > 0 {
            let _ = write!(out, " ({})", self.failure_breakdown());
        }
        out.push('\n');
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_cache_status() {
        assert_eq!(Outcome::of(200, Some("MISS")), Outcome::Made);
        assert_eq!(Outcome::of(200, Some("EXPIRED")), Outcome::Made);
        assert_eq!(Outcome::of(200, Some("HIT")), Outcome::Cached);
        assert_eq!(Outcome::of(200, Some(" updating ")), Outcome::Cached);
        assert_eq!(Outcome::of(200, Some("BYPASS")), Outcome::Ok);
        assert_eq!(Outcome::of(200, Some("")), Outcome::Ok);
        assert_eq!(Outcome::of(204, None), Outcome::Ok);
        // A status outside 2xx fails whatever the header says.
        assert_eq!(Outcome::of(404, Some("MISS")), Outcome::Status(404));
        assert_eq!(Outcome::of(304, None), Outcome::Status(304));
        assert!(Outcome::of(503, None).failed());
        assert!(Outcome::Error("refused".into()).failed());
        assert!(!Outcome::Made.failed());
    }

    #[test]
    fn adds_up() {
        let mut t = Tally::default();
        for o in [
            Outcome::Made,
            Outcome::Made,
            Outcome::Cached,
            Outcome::Ok,
            Outcome::Status(415),
            Outcome::Status(404),
            Outcome::Status(404),
            Outcome::Error("x".into()),
        ] {
            t.add(&o);
        }
        assert_eq!((t.made, t.cached, t.ok, t.errors), (2, 1, 1, 1));
        assert_eq!(t.failed(), 4);
        assert_eq!(t.done(), 8);
        assert_eq!(t.failure_breakdown(), "404: 2, 415: 1, connection: 1");
        assert_eq!(
            t.report(4, 2, Duration::from_millis(1300)),
            "requests: 8 (4 files x 2 prefixes) in 1.3 s\nmade: 2\nalready cached: 1\n\
             ok, cache status unknown: 1\nfailed: 4 (404: 2, 415: 1, connection: 1)\n"
        );
        let empty = Tally::default();
        assert_eq!(empty.failed(), 0);
        assert!(empty.report(0, 1, Duration::ZERO).ends_with("failed: 0\n"));
    }
}

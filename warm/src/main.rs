//! `image-filter-rs`, the project's command-line tool. Its one command,
//! `warm`, fills image_filter_rs caches ahead of traffic: for every original
//! under a directory and every URL prefix it sends `HEAD PREFIX<path>`,
//! which makes and stores a cold rendition as GET would, without moving the
//! thumbnail over the network.
//!
//! ```text
//! image-filter-rs warm --root /srv/app/media \
//!     http://127.0.0.1:8080/thumb/ 'http://127.0.0.1:8080/t/?w=320&h=240'
//! ```
//!
//! Exit status: 0 when every request got a 2xx, 1 when any failed (another
//! status or no answer), 2 for a usage error.

#![forbid(unsafe_code)]

mod http;
mod progress;
mod summary;
mod url;
mod walk;

use std::io::{self, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use summary::{Outcome, Tally, CACHE_HEADER};
use url::Prefix;

const USAGE: &str = "\
usage: image-filter-rs warm --root DIR [options] PREFIX...

Sends HEAD PREFIX<path> for every regular file under DIR (its path relative
to DIR, percent-encoded) and every PREFIX, so that image_filter_rs makes and
caches each rendition before visitors ask for it.

  PREFIX              an http:// URL: http://127.0.0.1:8080/thumb/
                      A query stays at the end: with http://h/t/?w=320&h=240
                      a/b.jpg is requested as /t/a/b.jpg?w=320&h=240.
                      The path is appended as is: end the prefix with /.
  --root DIR          the originals' directory (what the location's alias or
                      root maps the prefix to); symlinks are followed only
                      inside it. --root - reads relative paths from stdin,
                      one a line.
  --concurrency N     requests in flight at once (default: the number of
                      cores, which is what nginx's thread pool can use).
  --timeout SECS      how long to wait for a response (default 60); the
                      connect timeout is 5 s.
  --header 'N: V'     an extra request header, repeatable (for example
                      'Accept: image/webp' to warm WebP renditions of a
                      location with image_filter_rs_format auto).

The location should add the cache status:
  add_header X-Image-Filter-Cache $image_filter_rs_cache_status;
so that the summary can tell renditions made now (MISS, EXPIRED) from those
already cached (HIT, UPDATING); without it, 2xx counts as ok.
The summary goes to stdout, failures and the progress bar to stderr.
Exit status: 0 all 2xx, 1 some request failed, 2 usage error.
";

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The parsed command line of `warm`.
#[derive(Debug)]
struct Options {
    /// `None` for `--root -`.
    root: Option<PathBuf>,
    concurrency: usize,
    timeout: Duration,
    headers: Vec<String>,
    prefixes: Vec<Prefix>,
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("warm") => {}
        Some("-h" | "--help" | "help") => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Some("-V" | "--version") => {
            println!("image-filter-rs {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Some(other) => return usage_error(&format!("unknown command {other:?}")),
        None => return usage_error("a command is needed"),
    }
    let options = match parse_options(&args[1..]) {
        Ok(Some(o)) => o,
        Ok(None) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => return usage_error(&e),
    };
    warm(options)
}

fn usage_error(why: &str) -> ExitCode {
    eprintln!("image-filter-rs: {why}\n\n{USAGE}");
    ExitCode::from(2)
}

/// Parses `warm`'s arguments; `Ok(None)` for `--help`.
fn parse_options(args: &[String]) -> Result<Option<Options>, String> {
    let mut root = None;
    let mut concurrency = None;
    let mut timeout = Duration::from_secs(60);
    let mut headers = Vec::new();
    let mut prefixes = Vec::new();
    let mut it = args.iter();
    let mut only_prefixes = false;
    while let Some(arg) = it.next() {
        if only_prefixes || !arg.starts_with("--") {
            if arg == "-h" {
                return Ok(None);
            }
            prefixes.push(Prefix::parse(arg).map_err(|e| e.to_string())?);
            continue;
        }
        if arg == "--" {
            only_prefixes = true;
            continue;
        }
        if arg == "--help" {
            return Ok(None);
        }
        // `--name value` or `--name=value`.
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (arg.as_str(), None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| it.next().cloned())
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match name {
            "--root" => root = Some(value()?),
            "--concurrency" => {
                let v = value()?;
                let n = v
                    .parse::<usize>()
                    .ok()
                    .filter(|&n| (1..=1024).contains(&n))
                    .ok_or_else(|| format!("--concurrency {v:?}: a number from 1 to 1024"))?;
                concurrency = Some(n);
            }
            "--timeout" => {
                let v = value()?;
                let secs = v
                    .parse::<f64>()
                    .ok()
                    .filter(|s| s.is_finite() && *s > 0.0 && *s <= 86_400.0)
                    .ok_or_else(|| format!("--timeout {v:?}: seconds, more than 0"))?;
                timeout = Duration::from_secs_f64(secs);
            }
            "--header" => {
                let v = value()?;
                let ok = v
                    .split_once(':')
                    .is_some_and(|(n, _)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_graphic()))
                    && !v.bytes().any(|b| b == b'\r' || b == b'\n');
                if !ok {
                    return Err(format!("--header {v:?}: expected 'Name: value'"));
                }
                let lower = v.to_ascii_lowercase();
                if lower.starts_with("host:") || lower.starts_with("connection:") {
                    return Err(format!("--header {v:?}: set by the warmer itself"));
                }
                headers.push(v);
            }
            _ => return Err(format!("unknown option {name}")),
        }
    }
    let root = root.ok_or("--root DIR (or --root -) is required")?;
    if prefixes.is_empty() {
        return Err("at least one PREFIX is required".into());
    }
    let concurrency = concurrency.unwrap_or_else(|| {
        thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    });
    Ok(Some(Options {
        root: (root != "-").then(|| PathBuf::from(root)),
        concurrency,
        timeout,
        headers,
        prefixes,
    }))
}

/// Shared by the workers: the work list and the next job's index.
struct Work {
    /// Percent-encoded relative paths.
    files: Vec<String>,
    prefixes: Vec<Prefix>,
    next: AtomicUsize,
}

impl Work {
    fn total(&self) -> usize {
        self.files.len() * self.prefixes.len()
    }

    /// Job `i`: file-major, so that the sizes of one original are asked for
    /// together and the module's decode cache can share one decode.
    fn job(&self, i: usize) -> (&Prefix, &str) {
        let p = self.prefixes.len();
        (&self.prefixes[i % p], &self.files[i / p])
    }
}

fn warm(o: Options) -> ExitCode {
    let files = match &o.root {
        Some(dir) => match walk::walk(dir) {
            Ok(w) => {
                for u in &w.unreadable {
                    eprintln!("image-filter-rs: skipped unreadable {u}");
                }
                if w.skipped_links > 0 {
                    eprintln!(
                        "image-filter-rs: skipped {} symlink(s) leading out of {} or nowhere",
                        w.skipped_links,
                        dir.display()
                    );
                }
                w.files
            }
            Err(e) => {
                eprintln!("image-filter-rs: --root {}: {e}", dir.display());
                return ExitCode::from(2);
            }
        },
        None => match walk::read_list(io::stdin().lock()) {
            Ok(list) => list,
            Err(e) => {
                eprintln!("image-filter-rs: {e}");
                return ExitCode::from(2);
            }
        },
    };
    let work = Arc::new(Work {
        files: files.iter().map(|f| url::encode_path(f)).collect(),
        prefixes: o.prefixes,
        next: AtomicUsize::new(0),
    });
    let total = work.total();
    let started = Instant::now();
    let (tx, rx) = mpsc::channel::<(usize, Outcome)>();
    let workers: Vec<_> = (0..o.concurrency.min(total))
        .map(|_| {
            let work = Arc::clone(&work);
            let tx = tx.clone();
            let headers = o.headers.clone();
            let timeout = o.timeout;
            thread::spawn(move || {
                let mut client = http::Client::new(CONNECT_TIMEOUT, timeout, headers);
                loop {
                    let i = work.next.fetch_add(1, Ordering::Relaxed);
                    if i >= total {
                        break;
                    }
                    let (prefix, rel) = work.job(i);
                    let outcome = match client.head(prefix, &prefix.target(rel)) {
                        Ok(h) => Outcome::of(h.status, h.header(CACHE_HEADER)),
                        Err(e) => Outcome::Error(e),
                    };
                    if tx.send((i, outcome)).is_err() {
                        break;
                    }
                }
            })
        })
        .collect();
    // Only the workers hold senders now, so the loop ends when they do.
    drop(tx);

    let tty = io::stderr().is_terminal();
    let mut tally = Tally::default();
    let mut drawn = Instant::now() - Duration::from_secs(1);
    let mut err = io::stderr().lock();
    for (i, outcome) in rx {
        tally.add(&outcome);
        if outcome.failed() {
            let (prefix, rel) = work.job(i);
            // `failed: STATUS URL`, the reason after, for grep and cut.
            let (what, why) = match &outcome {
                Outcome::Status(s) => (s.to_string(), String::new()),
                Outcome::Error(e) => ("connection".to_string(), format!(" ({e})")),
                _ => unreachable!("only failures are printed"),
            };
            let clear = if tty { progress::CLEAR } else { "" };
            let _ = writeln!(err, "{clear}failed: {what} {}{why}", prefix.url(rel));
        }
        // Redraw at most ten times a second: a fast HIT run would otherwise
        // spend its time writing to the terminal.
        if tty && (drawn.elapsed() >= Duration::from_millis(100) || tally.done() == total as u64) {
            let line = progress::render(&tally, total as u64, started.elapsed());
            let _ = write!(err, "\r{line}\x1b[K");
            let _ = err.flush();
            drawn = Instant::now();
        }
    }
    for w in workers {
        // A worker that panicked has lost its job's result: count it failed.
        if w.join().is_err() {
            tally.add(&Outcome::Error("a worker thread panicked".into()));
        }
    }
    if tty && total > 0 {
        let _ = writeln!(err);
    }
    drop(err);
    if total == 0 {
        eprintln!("image-filter-rs: no files to warm");
    }
    print!(
        "{}",
        tally.report(work.files.len(), work.prefixes.len(), started.elapsed())
    );
    let _ = io::stdout().flush();
    if tally.failed() > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parses_options() {
        let o = parse_options(&args(&[
            "--root",
            "media",
            "--concurrency=3",
            "--timeout",
            "2.5",
            "--header",
            "Accept: image/webp",
            "http://127.0.0.1:8080/thumb/",
            "http://127.0.0.1:8080/t/?w=320&h=240",
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(o.root, Some(PathBuf::from("media")));
        assert_eq!((o.concurrency, o.timeout), (3, Duration::from_millis(2500)));
        assert_eq!(o.headers, ["Accept: image/webp"]);
        assert_eq!(o.prefixes.len(), 2);
        let o = parse_options(&args(&["--root", "-", "http://h/"]))
            .unwrap()
            .unwrap();
        assert_eq!(o.root, None);
        assert!(o.concurrency >= 1);
    }

    #[test]
    fn refuses_bad_options() {
        for bad in [
            &["http://h/"][..],
            &["--root", "d"],
            &["--root", "d", "https://h/"],
            &["--root", "d", "--concurrency", "0", "http://h/"],
            &["--root", "d", "--timeout", "-1", "http://h/"],
            &["--root", "d", "--header", "nocolon", "http://h/"],
            &["--root", "d", "--header", "Host: x", "http://h/"],
            &["--root", "d", "--bogus", "http://h/"],
            &["--root"],
        ] {
            assert!(parse_options(&args(bad)).is_err(), "{bad:?}");
        }
        assert!(parse_options(&args(&["--help"])).unwrap().is_none());
    }

    #[test]
    fn jobs_are_file_major() {
        let w = Work {
            files: vec!["a.jpg".into(), "b.jpg".into()],
            prefixes: vec![
                Prefix::parse("http://h/x/").unwrap(),
                Prefix::parse("http://h/y/?w=1").unwrap(),
            ],
            next: AtomicUsize::new(0),
        };
        let urls: Vec<String> = (0..w.total())
            .map(|i| {
                let (p, f) = w.job(i);
                p.target(f)
            })
            .collect();
        assert_eq!(
            urls,
            ["/x/a.jpg", "/y/a.jpg?w=1", "/x/b.jpg", "/y/b.jpg?w=1"]
        );
    }
}

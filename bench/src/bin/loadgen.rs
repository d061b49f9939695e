//! loadgen: the small HTTP/1.1 load generator behind `make bench-hit` and
//! `make bench-load`. It only ever talks to 127.0.0.1, every run is bounded
//! in time and in request count, and it keeps every latency sample, so the
//! percentiles it prints are exact (nearest rank), not histogram buckets.
//!
//! Subcommands:
//!   free-port                       print a port nobody listens on now
//!   wait-port PORT TIMEOUT_MS       poll connect() until it succeeds (exit 0)
//!                                   or the deadline passes (exit 1)
//!   run --port P --connections C --duration SECS [--rate R] [--max-requests N]
//!       [--expect-header 'Name: value'] [--label L] [--order O] PATH...
//!                                   C keep-alive connections, one thread each,
//!                                   each cycling through the PATHs
//!                                   (--order per-connection, the default), or
//!                                   all taking the next PATH of one shared
//!                                   list (--order shared: with --max-requests
//!                                   equal to the number of PATHs, every PATH
//!                                   is asked exactly once)
//!   burst --port P PATH...          one connection per PATH, all sent at the
//!                                   same instant; per-request and total time;
//!                                   refused= counts non-2xx answers
//!
//! The result is one line of NAME=value fields: requests (answers received),
//! errors (transport failures), unexpected (answers that are not 2xx or lack
//! the expected header), refused (503s), rps and ok_rps (answers and good
//! answers per second), latency percentiles in ms, bytes.
//!
//! Without --rate a connection sends its next request as soon as the previous
//! answer is in (closed loop: measures throughput). With --rate R each
//! connection sends on a fixed schedule of R requests/s and a latency is
//! counted from the *scheduled* send time, so a server that stalls is charged
//! for every request that should have gone out meanwhile (the coordinated
//! omission correction wrk2 makes); that is the mode for latency probes.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

/// The only host this tool talks to.
const HOST: Ipv4Addr = Ipv4Addr::LOCALHOST;
/// Upper bounds that keep a mistyped command from running away.
const MAX_DURATION_S: f64 = 600.0;
const MAX_CONNECTIONS: usize = 256;
const DEFAULT_MAX_REQUESTS: u64 = 20_000_000;
/// A single answer slower than this counts as an error and drops the
/// connection; cold thumbnails of 20 MP photos on a busy machine stay far
/// below it.
const IO_TIMEOUT: Duration = Duration::from_secs(60);

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("free-port") => free_port(),
        Some("wait-port") => wait_port(&args[1..]),
        Some("run") => run(&args[1..]),
        Some("burst") => burst(&args[1..]),
        _ => Err(
            "usage: loadgen free-port | wait-port PORT TIMEOUT_MS | run ... | burst ...\n\
                  (see the comment at the top of bench/src/bin/loadgen.rs)"
                .to_owned(),
        ),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("loadgen: {e}");
            ExitCode::FAILURE
        }
    }
}

fn free_port() -> Result<(), String> {
    // Bind port 0 and let the kernel choose; the port is free the moment we
    // close it, which is as good as any check can be.
    let l = TcpListener::bind((HOST, 0)).map_err(|e| format!("bind: {e}"))?;
    let port = l
        .local_addr()
        .map_err(|e| format!("local_addr: {e}"))?
        .port();
    println!("{port}");
    Ok(())
}

fn wait_port(args: &[String]) -> Result<(), String> {
    let [port, timeout_ms] = args else {
        return Err("wait-port PORT TIMEOUT_MS".to_owned());
    };
    let port: u16 = port.parse().map_err(|_| format!("bad port {port:?}"))?;
    let timeout_ms: u64 = timeout_ms
        .parse()
        .map_err(|_| format!("bad timeout {timeout_ms:?}"))?;
    let deadline = Instant::now() + Duration::from_millis(timeout_ms.min(120_000));
    let addr = SocketAddr::from((HOST, port));
    loop {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(format!("nothing accepted on {addr} within {timeout_ms} ms"));
        }
        // Poll step of a deadline-bounded readiness check.
        std::thread::sleep(Duration::from_millis(10));
    }
}

struct RunConfig {
    port: u16,
    connections: usize,
    duration: Duration,
    rate: Option<f64>,
    max_requests: u64,
    expect_header: Option<(String, String)>,
    label: String,
    /// One cursor over the paths for all connections, instead of one each.
    shared_order: bool,
    paths: Vec<String>,
}

fn parse_run(args: &[String]) -> Result<RunConfig, String> {
    let mut c = RunConfig {
        port: 0,
        connections: 1,
        duration: Duration::from_secs(5),
        rate: None,
        max_requests: DEFAULT_MAX_REQUESTS,
        expect_header: None,
        label: "run".to_owned(),
        shared_order: false,
        paths: Vec::new(),
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if !a.starts_with("--") {
            c.paths.push(a.clone());
            continue;
        }
        let v = it.next().ok_or_else(|| format!("{a} needs a value"))?;
        let bad = || format!("bad value {v:?} for {a}");
        match a.as_str() {
            "--port" => c.port = v.parse().map_err(|_| bad())?,
            "--connections" => c.connections = v.parse().map_err(|_| bad())?,
            "--duration" => {
                let s: f64 = v.parse().map_err(|_| bad())?;
                if !(s > 0.0 && s <= MAX_DURATION_S) {
                    return Err(format!("--duration must be in (0, {MAX_DURATION_S}]"));
                }
                c.duration = Duration::from_secs_f64(s);
            }
            "--rate" => {
                let r: f64 = v.parse().map_err(|_| bad())?;
                if !(r > 0.0 && r <= 1e6) {
                    return Err(bad());
                }
                c.rate = Some(r);
            }
            "--max-requests" => c.max_requests = v.parse().map_err(|_| bad())?,
            "--expect-header" => {
                let (name, value) = v.split_once(':').ok_or_else(bad)?;
                c.expect_header = Some((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
            }
            "--label" => c.label = v.clone(),
            "--order" => {
                c.shared_order = match v.as_str() {
                    "shared" => true,
                    "per-connection" => false,
                    _ => return Err(bad()),
                }
            }
            _ => return Err(format!("unknown option {a}")),
        }
    }
    if c.port == 0 {
        return Err("--port is required".to_owned());
    }
    if c.paths.is_empty() {
        return Err("give at least one PATH".to_owned());
    }
    if !(1..=MAX_CONNECTIONS).contains(&c.connections) {
        return Err(format!("--connections must be 1..={MAX_CONNECTIONS}"));
    }
    c.max_requests = c.max_requests.min(DEFAULT_MAX_REQUESTS);
    Ok(c)
}

/// What one connection saw.
#[derive(Default)]
struct Tally {
    /// From the scheduled send time (equal to the send time without --rate).
    latencies_ns: Vec<u64>,
    /// From the moment the request was written: the server's answer time
    /// alone, without the wait of a paced client that fell behind.
    service_ns: Vec<u64>,
    errors: u64,
    unexpected: u64,
    /// 503 answers: the module's load shedding (memory budget, pool queue),
    /// reported apart because it is a designed answer, not a failure.
    refused: u64,
    bytes: u64,
    first_error: Option<String>,
}

fn run(args: &[String]) -> Result<(), String> {
    let cfg = Arc::new(parse_run(args)?);
    let issued = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let deadline = start + cfg.duration;
    let workers: Vec<_> = (0..cfg.connections)
        .map(|i| {
            let cfg = Arc::clone(&cfg);
            let issued = Arc::clone(&issued);
            std::thread::spawn(move || connection_loop(&cfg, i, start, deadline, &issued))
        })
        .collect();
    let mut all = Tally::default();
    for w in workers {
        let t = w
            .join()
            .map_err(|_| "a connection thread panicked".to_owned())?;
        all.latencies_ns.extend(t.latencies_ns);
        all.service_ns.extend(t.service_ns);
        all.errors += t.errors;
        all.unexpected += t.unexpected;
        all.refused += t.refused;
        all.bytes += t.bytes;
        if all.first_error.is_none() {
            all.first_error = t.first_error;
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    all.latencies_ns.sort_unstable();
    all.service_ns.sort_unstable();
    let lat = &all.latencies_ns;
    let sent_ms = |q: f64| percentile(&all.service_ns, q) as f64 / 1e6;
    let ok = lat.len() as u64;
    let ms = |q: f64| percentile(lat, q) as f64 / 1e6;
    let mean = if lat.is_empty() {
        0.0
    } else {
        lat.iter().map(|&n| n as f64).sum::<f64>() / lat.len() as f64 / 1e6
    };
    println!(
        "label={} requests={} errors={} unexpected={} refused={} seconds={:.3} rps={:.1} ok_rps={:.1} \
         p50_ms={:.3} p90_ms={:.3} p99_ms={:.3} p999_ms={:.3} max_ms={:.3} mean_ms={:.3} \
         p50_sent_ms={:.3} p99_sent_ms={:.3} bytes={}",
        cfg.label,
        ok,
        all.errors,
        all.unexpected,
        all.refused,
        elapsed,
        ok as f64 / elapsed,
        (ok - all.unexpected - all.refused) as f64 / elapsed,
        ms(0.50),
        ms(0.90),
        ms(0.99),
        ms(0.999),
        ms(1.0),
        mean,
        sent_ms(0.50),
        sent_ms(0.99),
        all.bytes
    );
    if let Some(e) = all.first_error {
        eprintln!("loadgen[{}]: first error: {e}", cfg.label);
    }
    Ok(())
}

/// Nearest-rank percentile of sorted samples.
fn percentile(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn connection_loop(
    cfg: &RunConfig,
    index: usize,
    start: Instant,
    deadline: Instant,
    issued: &AtomicU64,
) -> Tally {
    let mut tally = Tally::default();
    let mut conn: Option<Conn> = None;
    // Connections start on different paths so a list of photos is spread
    // over the connections from the first request on.
    let mut next_path = index;
    let interval = cfg.rate.map(|r| Duration::from_secs_f64(1.0 / r));
    // Paced connections are staggered over one interval, not in lock step.
    let mut next_send =
        interval.map(|iv| start + iv.mul_f64(index as f64 / cfg.connections as f64));
    loop {
        let scheduled = match (interval, next_send) {
            (Some(iv), Some(at)) => {
                let now = Instant::now();
                if at > now {
                    // The pacing schedule itself, not a readiness guess.
                    std::thread::sleep(at - now);
                }
                next_send = Some(at + iv);
                at
            }
            _ => Instant::now(),
        };
        if scheduled >= deadline {
            break;
        }
        let ticket = issued.fetch_add(1, Ordering::Relaxed);
        if ticket >= cfg.max_requests {
            break;
        }
        let path = if cfg.shared_order {
            // The ticket is this request's place in the whole run.
            &cfg.paths[(ticket % cfg.paths.len() as u64) as usize]
        } else {
            &cfg.paths[next_path % cfg.paths.len()]
        };
        next_path += 1;
        let sent = Instant::now();
        match exchange(&mut conn, cfg.port, path) {
            Ok(resp) => {
                tally
                    .latencies_ns
                    .push(scheduled.elapsed().as_nanos() as u64);
                tally.service_ns.push(sent.elapsed().as_nanos() as u64);
                tally.bytes += resp.body_len;
                let header_ok = match &cfg.expect_header {
                    None => true,
                    Some((name, value)) => resp
                        .headers
                        .iter()
                        .any(|(n, v)| n.eq_ignore_ascii_case(name) && v == value),
                };
                let expected = (200..300).contains(&resp.status) && header_ok;
                if resp.status == 503 {
                    tally.refused += 1;
                } else if !expected {
                    tally.unexpected += 1;
                    if tally.first_error.is_none() {
                        tally.first_error = Some(format!(
                            "{path}: status {} without the expected answer",
                            resp.status
                        ));
                    }
                }
            }
            Err(e) => {
                tally.errors += 1;
                conn = None;
                if tally.first_error.is_none() {
                    tally.first_error = Some(format!("{path}: {e}"));
                }
                // A refused connection fails in microseconds; pause one
                // millisecond so a dead server cannot spin this loop.
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }
    tally
}

struct Conn {
    reader: BufReader<TcpStream>,
}

impl Conn {
    fn open(port: u16) -> std::io::Result<Conn> {
        let stream = TcpStream::connect_timeout(&SocketAddr::from((HOST, port)), IO_TIMEOUT)?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(IO_TIMEOUT))?;
        stream.set_write_timeout(Some(IO_TIMEOUT))?;
        Ok(Conn {
            reader: BufReader::with_capacity(64 * 1024, stream),
        })
    }
}

struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body_len: u64,
}

/// One request on the connection (opened if there is none), the answer
/// read completely; the connection is dropped when the server closes it.
fn exchange(conn: &mut Option<Conn>, port: u16, path: &str) -> Result<Response, String> {
    if conn.is_none() {
        *conn = Some(Conn::open(port).map_err(|e| format!("connect: {e}"))?);
    }
    let c = conn.as_mut().expect("just opened");
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: image-filter-rs-bench\r\n\r\n"
    );
    c.reader
        .get_mut()
        .write_all(request.as_bytes())
        .map_err(|e| format!("write: {e}"))?;
    let resp = read_response(&mut c.reader)?;
    if resp.0 {
        *conn = None;
    }
    Ok(resp.1)
}

/// Reads one HTTP/1.1 response; returns whether the server will close.
fn read_response(r: &mut BufReader<TcpStream>) -> Result<(bool, Response), String> {
    let mut line = String::new();
    read_line(r, &mut line)?;
    let status: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line {:?}", line.trim_end()))?;
    let mut headers = Vec::new();
    let mut content_length: Option<u64> = None;
    let mut chunked = false;
    let mut close = false;
    loop {
        line.clear();
        read_line(r, &mut line)?;
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        let Some((name, value)) = l.split_once(':') else {
            return Err(format!("bad header line {l:?}"));
        };
        let (name, value) = (name.trim().to_ascii_lowercase(), value.trim().to_owned());
        match name.as_str() {
            "content-length" => content_length = value.parse().ok(),
            "transfer-encoding" => chunked = value.eq_ignore_ascii_case("chunked"),
            "connection" => close = value.eq_ignore_ascii_case("close"),
            _ => {}
        }
        headers.push((name, value));
    }
    let body_len = if status == 304 || status == 204 {
        0
    } else if chunked {
        read_chunked(r, &mut line)?
    } else if let Some(n) = content_length {
        discard(r, n)?
    } else {
        // No length: the body runs to the end of the connection.
        close = true;
        std::io::copy(r, &mut std::io::sink()).map_err(|e| format!("body: {e}"))?
    };
    Ok((
        close,
        Response {
            status,
            headers,
            body_len,
        },
    ))
}

fn read_line(r: &mut BufReader<TcpStream>, line: &mut String) -> Result<(), String> {
    match r.read_line(line) {
        Ok(0) => Err("connection closed by the server".to_owned()),
        Ok(_) => Ok(()),
        Err(e) => Err(format!("read: {e}")),
    }
}

fn discard(r: &mut BufReader<TcpStream>, n: u64) -> Result<u64, String> {
    let got =
        std::io::copy(&mut r.take(n), &mut std::io::sink()).map_err(|e| format!("body: {e}"))?;
    if got != n {
        return Err(format!("body cut short: {got} of {n} bytes"));
    }
    Ok(n)
}

fn read_chunked(r: &mut BufReader<TcpStream>, line: &mut String) -> Result<u64, String> {
    let mut total = 0;
    loop {
        line.clear();
        read_line(r, line)?;
        let size_text = line.trim_end().split(';').next().unwrap_or("");
        let size = u64::from_str_radix(size_text.trim(), 16)
            .map_err(|_| format!("bad chunk size {size_text:?}"))?;
        if size == 0 {
            // Trailers, then the empty line.
            loop {
                line.clear();
                read_line(r, line)?;
                if line.trim_end().is_empty() {
                    return Ok(total);
                }
            }
        }
        total += discard(r, size)?;
        line.clear();
        read_line(r, line)?;
    }
}

fn burst(args: &[String]) -> Result<(), String> {
    let mut port: Option<u16> = None;
    let mut paths = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--port" {
            let v = it.next().ok_or("--port needs a value")?;
            port = Some(v.parse().map_err(|_| format!("bad port {v:?}"))?);
        } else {
            paths.push(a.clone());
        }
    }
    let port = port.ok_or("--port is required")?;
    if paths.is_empty() || paths.len() > MAX_CONNECTIONS {
        return Err(format!("give 1..={MAX_CONNECTIONS} paths"));
    }
    // Connect everything first, so the burst measures the server's work and
    // not the handshakes; then release all requests at once.
    let barrier = Arc::new(Barrier::new(paths.len() + 1));
    let workers: Vec<_> = paths
        .iter()
        .cloned()
        .map(|path| {
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                let conn = Conn::open(port).map_err(|e| format!("connect: {e}"));
                barrier.wait();
                let start = Instant::now();
                let mut conn = Some(conn?);
                let resp = exchange(&mut conn, port, &path)?;
                Ok::<_, String>((path, start, Instant::now(), resp))
            })
        })
        .collect();
    barrier.wait();
    let t0 = Instant::now();
    let mut last = t0;
    let mut failed = false;
    let mut refused = 0;
    for w in workers {
        match w.join().map_err(|_| "a burst thread panicked".to_owned())? {
            Ok((path, start, end, resp)) => {
                last = last.max(end);
                println!(
                    "request path={path} status={} bytes={} ms={:.1}",
                    resp.status,
                    resp.body_len,
                    (end - start).as_secs_f64() * 1e3
                );
                // A refusal (413 over the memory budget, 503 load shed)
                // is the module's answer, reported rather than fatal; only
                // a request that got no answer fails the burst.
                if !(200..300).contains(&resp.status) {
                    refused += 1;
                }
            }
            Err(e) => {
                println!("request error={e:?}");
                failed = true;
            }
        }
    }
    println!(
        "burst requests={} total_ms={:.1} refused={} failed={}",
        paths.len(),
        (last - t0).as_secs_f64() * 1e3,
        refused,
        failed
    );
    Ok(())
}

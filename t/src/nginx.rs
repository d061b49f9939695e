//! Running the real nginx with the real module: a fresh temporary prefix per
//! test, a generated configuration, a free port on 127.0.0.1, readiness by
//! condition, shutdown by PID, and a verdict on the error log.
//!
//! Each test gets its own prefix and port, so tests run in parallel threads.
//! nginx runs with `daemon off` as a child of the test, in its own process
//! group, so the master's PID also names the group and a single signal
//! reaches every worker if the master has to be killed.

use std::fs;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use tempfile::TempDir;

use crate::http::{Request, Response};
use crate::paths;
use crate::procfs;
use crate::wait::try_wait_until;

/// How long nginx may take to become ready (bind, fork workers).
pub const START_DEADLINE: Duration = Duration::from_secs(30);
/// How long a graceful stop (SIGQUIT) may take before SIGKILL. In-flight
/// thumbnails must finish, hence generous; a worker that outlives it is a bug.
pub const STOP_DEADLINE: Duration = Duration::from_secs(30);
/// How long `nginx -t` may take.
pub const CHECK_DEADLINE: Duration = Duration::from_secs(30);
/// Attempts at finding a port nobody else grabbed in the meantime.
const PORT_ATTEMPTS: usize = 8;

/// Substrings of error-log lines that fail any test: nginx reserves
/// `[alert]` and `[crit]` for broken invariants, and a worker killed by a
/// signal (SIGSEGV, SIGABRT from a panic across FFI) is a crash.
pub const FATAL_LOG_MARKERS: &[&str] = &["[alert]", "[crit]", "exited on signal"];

/// The values substituted for placeholders in configuration text, both in
/// the snippets the tests pass and in the example configs of `nginx-conf/`.
#[derive(Clone, Debug)]
pub struct Placeholders {
    /// `@PREFIX@`: the temporary prefix (absolute, no trailing slash).
    pub prefix: PathBuf,
    /// `@PORT@`: the port nginx listens on, on 127.0.0.1.
    pub port: u16,
    /// `@MODULE@`: the absolute path of the module's `.so`.
    pub module: PathBuf,
    /// `@MEDIA@`: `<prefix>/media`, holding the media the test staged.
    pub media: PathBuf,
    // `@DEMO@` is always the repository's `demo/`, the page of `make run`.
}

impl Placeholders {
    pub fn apply(&self, text: &str) -> String {
        text.replace("@PREFIX@", &self.prefix.to_string_lossy())
            .replace("@PORT@", &self.port.to_string())
            .replace("@MODULE@", &self.module.to_string_lossy())
            .replace("@MEDIA@", &self.media.to_string_lossy())
            .replace(
                "@DEMO@",
                &crate::paths::repo_root().join("demo").to_string_lossy(),
            )
    }
}

/// Something to put into the prefix before nginx starts.
#[derive(Clone, Debug)]
enum Staged {
    Copy { src: PathBuf, dest: String },
    Bytes { dest: String, bytes: Vec<u8> },
    Dir(String),
}

/// Describes an nginx to start (or a configuration to test with `nginx -t`).
///
/// Snippets may use the placeholders of [`Placeholders`]. The generated
/// configuration loads the module, logs at `info` to `<prefix>/logs/error.log`,
/// keeps every temporary path inside the prefix, and has one server on
/// `127.0.0.1:@PORT@` holding the server snippet.
#[derive(Clone, Debug)]
pub struct Builder {
    main: String,
    http: String,
    server: String,
    workers: usize,
    log_level: String,
    staged: Vec<Staged>,
}

impl Default for Builder {
    fn default() -> Self {
        Builder {
            main: String::new(),
            http: String::new(),
            server: String::new(),
            workers: 1,
            log_level: "info".to_string(),
            staged: Vec::new(),
        }
    }
}

impl Builder {
    /// Directives for the main (top-level) context, e.g. `thread_pool`.
    pub fn main(mut self, snippet: &str) -> Self {
        self.main.push_str(snippet);
        self.main.push('\n');
        self
    }

    /// Directives for the `http` block, e.g. `image_filter_rs_cache_path`.
    pub fn http(mut self, snippet: &str) -> Self {
        self.http.push_str(snippet);
        self.http.push('\n');
        self
    }

    /// Directives for the test's `server` block, typically locations.
    pub fn server(mut self, snippet: &str) -> Self {
        self.server.push_str(snippet);
        self.server.push('\n');
        self
    }

    /// `worker_processes` (default 1).
    pub fn worker_processes(mut self, n: usize) -> Self {
        assert!(n >= 1, "worker_processes must be at least 1");
        self.workers = n;
        self
    }

    /// The `error_log` level (default `info`).
    pub fn log_level(mut self, level: &str) -> Self {
        self.log_level = level.to_string();
        self
    }

    /// Copies committed sample media (`sample-media/<name>`) into
    /// `<prefix>/media/<name>`.
    pub fn sample_media(mut self, names: &[&str]) -> Self {
        for name in names {
            self.staged.push(Staged::Copy {
                src: paths::sample_media(name),
                dest: format!("media/{name}"),
            });
        }
        self
    }

    /// Copies any file into the prefix, at `dest` relative to it.
    pub fn copy_file(mut self, src: impl AsRef<Path>, dest: &str) -> Self {
        self.staged.push(Staged::Copy {
            src: src.as_ref().to_path_buf(),
            dest: dest.to_string(),
        });
        self
    }

    /// Writes `bytes` into the prefix, at `dest` relative to it.
    pub fn file(mut self, dest: &str, bytes: impl Into<Vec<u8>>) -> Self {
        self.staged.push(Staged::Bytes {
            dest: dest.to_string(),
            bytes: bytes.into(),
        });
        self
    }

    /// Creates a directory (mode 0755) in the prefix.
    pub fn dir(mut self, rel: &str) -> Self {
        self.staged.push(Staged::Dir(rel.to_string()));
        self
    }

    /// The full configuration text, placeholders not yet substituted.
    pub fn config_template(&self) -> String {
        // Workers must read files the test (running as root in containers)
        // created; without `user`, a root master drops workers to nobody.
        // SAFETY: geteuid has no preconditions and cannot fail.
        let user = if unsafe { libc::geteuid() } == 0 {
            "user root;\n"
        } else {
            ""
        };
        format!(
            "# Written by the image_filter_rs test harness (t/src/nginx.rs).\n\
             load_module @MODULE@;\n\
             {user}\
             worker_processes {workers};\n\
             daemon off;\n\
             master_process on;\n\
             error_log @PREFIX@/logs/error.log {level};\n\
             pid @PREFIX@/logs/nginx.pid;\n\
             {main}\
             events {{\n    worker_connections 256;\n}}\n\
             \n\
             http {{\n\
             \x20   access_log @PREFIX@/logs/access.log;\n\
             \x20   client_body_temp_path @PREFIX@/tmp/client_body;\n\
             \x20   proxy_temp_path @PREFIX@/tmp/proxy;\n\
             \x20   fastcgi_temp_path @PREFIX@/tmp/fastcgi;\n\
             \x20   uwsgi_temp_path @PREFIX@/tmp/uwsgi;\n\
             \x20   scgi_temp_path @PREFIX@/tmp/scgi;\n\
             \x20   default_type application/octet-stream;\n\
             \x20   types {{\n\
             \x20       image/jpeg jpg jpeg;\n\
             \x20       image/png png;\n\
             \x20       image/gif gif;\n\
             \x20       image/webp webp;\n\
             \x20       image/avif avif;\n\
             \x20       image/tiff tif tiff;\n\
             \x20       text/plain txt;\n\
             \x20   }}\n\
             {http}\
             \x20   server {{\n\
             \x20       listen 127.0.0.1:@PORT@;\n\
             \x20       server_name localhost;\n\
             {server}\
             \x20   }}\n\
             }}\n",
            workers = self.workers,
            level = self.log_level,
            main = self.main,
            http = indent(&self.http, 4),
            server = indent(&self.server, 8),
        )
    }

    /// Starts nginx and waits until it accepts connections and its workers
    /// are up. Panics, showing the error log, if it cannot start.
    pub fn start(self) -> Nginx {
        let template = self.config_template();
        let (workers, level) = (self.workers, self.log_level.clone());
        self.launch(&template, &[], workers, &level)
    }

    /// Starts nginx on a complete configuration `text` of someone else's
    /// (an example config), with this builder's staged files. The text must
    /// write its pid to `@PREFIX@/logs/nginx.pid` and listen on
    /// `127.0.0.1:@PORT@`, so the harness can tell it is ready. `daemon off`
    /// (and `user root` when running as root) are added with `-g` unless the
    /// text sets them itself. At least one worker is awaited.
    pub fn start_config_text(self, text: &str) -> Nginx {
        let mut globals = Vec::new();
        if !has_directive(text, "daemon") {
            globals.push("daemon off;");
        }
        // SAFETY: geteuid has no preconditions and cannot fail.
        if unsafe { libc::geteuid() } == 0 && !has_directive(text, "user") {
            globals.push("user root;");
        }
        self.launch(text, &globals, 1, "notice")
    }

    fn launch(self, template: &str, globals: &[&str], workers: usize, level: &str) -> Nginx {
        let binary = paths::nginx_binary();
        let module = paths::module_path();
        let mut prefix = make_prefix(&self.staged);
        let mut last = String::new();
        for _ in 0..PORT_ATTEMPTS {
            let port = free_port();
            let ph = placeholders(prefix.path(), port, &module);
            let conf_path = prefix.path().join("conf/nginx.conf");
            write(&conf_path, ph.apply(template).as_bytes());
            let error_log = prefix.path().join("logs/error.log");
            // A fresh log per attempt, so bind errors of a previous attempt
            // neither count as failures nor hide this attempt's outcome.
            let _ = fs::remove_file(&error_log);
            let _ = fs::remove_file(prefix.path().join("logs/nginx.pid"));
            let stderr = prefix.path().join("logs/stderr.log");
            let child = spawn_nginx(
                &binary,
                prefix.path(),
                &conf_path,
                &error_log,
                &stderr,
                &globals.join(" "),
            );
            let pid = child.id() as libc::pid_t;
            let mut nginx = Nginx {
                prefix: Some(prefix),
                port,
                child,
                pid,
                conf_path,
                binary: binary.clone(),
                stop_result: None,
                checked: false,
                workers,
                globals: globals.join(" "),
                level: level.to_string(),
                expected_crashes: Mutex::new(Vec::new()),
            };
            match nginx.wait_ready(0) {
                Readiness::Ready => return nginx,
                Readiness::PortTaken => {
                    // Not a test failure: someone took the port between our
                    // probe and nginx's bind. Stop quietly and try another.
                    let _ = nginx.stop();
                    nginx.checked = true;
                    last = format!("port {port} was taken");
                    prefix = nginx.take_prefix();
                }
                Readiness::Failed(why) => {
                    let _ = nginx.stop();
                    nginx.checked = true;
                    let report = nginx.report();
                    panic!("nginx did not start: {why}\n{report}");
                }
            }
        }
        panic!("nginx did not start after {PORT_ATTEMPTS} port attempts ({last})");
    }

    /// Writes the configuration into a fresh prefix and runs `nginx -t` on it.
    pub fn check(self) -> ConfigCheck {
        let template = self.config_template();
        self.check_config_text(&template)
    }

    /// Runs `nginx -t` on a complete configuration `text` (placeholders are
    /// substituted), in a fresh prefix holding this builder's staged files.
    pub fn check_config_text(self, text: &str) -> ConfigCheck {
        let binary = paths::nginx_binary();
        let module = paths::module_path();
        let prefix = make_prefix(&self.staged);
        let ph = placeholders(prefix.path(), free_port(), &module);
        let conf_text = ph.apply(text);
        let conf_path = prefix.path().join("conf/nginx.conf");
        write(&conf_path, conf_text.as_bytes());
        let out_path = prefix.path().join("logs/nginx-t.out");
        let out = fs::File::create(&out_path).expect("create nginx -t output file");
        let mut cmd = Command::new(&binary);
        cmd.arg("-t")
            .arg("-p")
            .arg(prefix.path())
            .arg("-e")
            .arg(prefix.path().join("logs/error.log"))
            .arg("-c")
            .arg(&conf_path)
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("dup output file"))
            .stderr(out);
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", binary.display()));
        let status = try_wait_until(CHECK_DEADLINE, || child.try_wait().ok().flatten());
        let status = match status {
            Some(s) => s,
            None => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("nginx -t did not finish within {CHECK_DEADLINE:?}");
            }
        };
        let output = fs::read_to_string(&out_path).unwrap_or_default();
        ConfigCheck {
            success: status.success(),
            status,
            output,
            conf_path,
            conf_text,
            placeholders: ph,
            _prefix: prefix,
        }
    }
}

/// A running nginx. Stopped (SIGQUIT, then SIGKILL after a deadline) on
/// drop; the drop then fails the test if the error log holds an
/// `[alert]`, a `[crit]` or a worker that exited on a signal, and prints the
/// error log if the test is already failing.
pub struct Nginx {
    /// Always `Some` except while a failed start attempt hands it back.
    prefix: Option<TempDir>,
    port: u16,
    child: Child,
    pid: libc::pid_t,
    conf_path: PathBuf,
    binary: PathBuf,
    stop_result: Option<Result<(), String>>,
    checked: bool,
    /// The worker processes awaited at start and after a reload.
    workers: usize,
    /// The `-g` directives nginx was started with, for a restart.
    globals: String,
    /// The error-log level, which says whether start-up notices are visible.
    level: String,
    /// Workers the test killed on purpose: their "exited on signal 9" is
    /// not a crash (see [`Nginx::expect_worker_crash`]).
    expected_crashes: Mutex<Vec<libc::pid_t>>,
}

enum Readiness {
    Ready,
    PortTaken,
    Failed(String),
}

impl Nginx {
    /// Starts nginx with an `http` snippet and a `server` snippet.
    pub fn start(http_snippet: &str, server_snippet: &str) -> Nginx {
        Builder::default()
            .http(http_snippet)
            .server(server_snippet)
            .start()
    }

    /// A builder for more control (media, workers, main-context directives).
    pub fn builder() -> Builder {
        Builder::default()
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The master's PID, which is also its process group.
    pub fn pid(&self) -> i32 {
        self.pid
    }

    pub fn prefix(&self) -> &Path {
        self.prefix
            .as_ref()
            .expect("the prefix exists while nginx does")
            .path()
    }

    /// A path inside the prefix.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.prefix().join(rel)
    }

    /// `<prefix>/media`, what `@MEDIA@` stands for.
    pub fn media_dir(&self) -> PathBuf {
        self.path("media")
    }

    pub fn conf_path(&self) -> &Path {
        &self.conf_path
    }

    pub fn error_log_path(&self) -> PathBuf {
        self.path("logs/error.log")
    }

    /// The error log as it is now.
    pub fn error_log(&self) -> String {
        read_lossy(&self.error_log_path())
    }

    /// Error-log lines that contain every one of `needles`.
    pub fn error_log_lines_with(&self, needles: &[&str]) -> Vec<String> {
        self.error_log()
            .lines()
            .filter(|l| needles.iter().all(|n| l.contains(n)))
            .map(str::to_string)
            .collect()
    }

    /// Sends a request to this nginx.
    pub fn request(&self, req: &Request) -> Response {
        req.send(self.port)
    }

    /// GET `path`.
    pub fn get(&self, path: &str) -> Response {
        Request::get(path).send(self.port)
    }

    /// HEAD `path`.
    pub fn head(&self, path: &str) -> Response {
        Request::head(path).send(self.port)
    }

    /// Reloads the configuration (SIGHUP to the master) and waits until the
    /// new workers have started and the old ones have exited, so the next
    /// request meets the new generation. Needs notices in the error log
    /// (the default level, `info`, shows them).
    pub fn reload(&self) {
        let started = |log: &str| log.matches("start worker process").count();
        let exited = |log: &str| {
            log.lines()
                .filter(|l| l.contains(" worker process ") && l.contains("exited with code"))
                .count()
        };
        let before = self.error_log();
        let (started_before, exited_before) = (started(&before), exited(&before));
        signal(self.pid, libc::SIGHUP);
        let done = try_wait_until(START_DEADLINE, || {
            let log = self.error_log();
            (started(&log) >= started_before + self.workers
                && exited(&log) >= exited_before + self.workers)
                .then_some(())
        });
        if done.is_none() {
            panic!(
                "reload did not complete within {START_DEADLINE:?}\n{}",
                self.report()
            );
        }
    }

    /// The PIDs of the worker processes alive now (children of the master
    /// titled `nginx: worker process`), sorted. During a reload both the old
    /// and the new generation are listed.
    pub fn worker_pids(&self) -> Vec<i32> {
        procfs::children_titled(self.pid, "worker process")
    }

    /// Declares that the test kills worker `pid` with SIGKILL on purpose.
    /// The log line nginx writes for it (`worker process PID exited on
    /// signal 9`) then no longer fails the test; every other alert, crit or
    /// crash still does, including another worker's, or this worker dying
    /// of another signal.
    pub fn expect_worker_crash(&self, pid: i32) {
        self.expected_crashes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(pid);
    }

    /// Stops every process of this nginx but the master (workers, cache
    /// manager) with SIGSTOP and returns once each of their threads has
    /// stopped; they continue when the guard is dropped. While frozen,
    /// nothing changes on disk or in shared memory, so a test can take an
    /// exact snapshot of a cache that is being written at full speed.
    pub fn freeze(&self) -> Frozen<'_> {
        let pids = procfs::children_titled(self.pid, "");
        for &pid in &pids {
            signal(pid, libc::SIGSTOP);
        }
        // The guard exists before the wait, so a timeout still resumes them.
        let frozen = Frozen { _nginx: self, pids };
        let stopped = try_wait_until(Duration::from_secs(10), || {
            frozen
                .pids
                .iter()
                .all(|&pid| procfs::all_threads_stopped(pid))
                .then_some(())
        });
        if stopped.is_none() {
            panic!(
                "nginx's processes {:?} did not stop within 10 s",
                frozen.pids
            );
        }
        frozen
    }

    /// Stops nginx gracefully (SIGQUIT; it must exit cleanly) and starts it
    /// again with the same prefix, configuration, port and files, as an
    /// operator's `stop` then `start` would: shared memory starts empty, the
    /// cache directory is kept. The error log is kept too (the verdict
    /// covers both runs); readiness is judged on what the new run logs.
    pub fn restart(&mut self) {
        self.stop_for_now();
        self.start_again();
    }

    /// The first half of [`Nginx::restart`]: stops nginx gracefully (it
    /// must exit cleanly) and keeps its prefix, configuration and port, so
    /// a test can see what happens while it is away (a cluster node taken
    /// out) before [`Nginx::start_again`].
    pub fn stop_for_now(&mut self) {
        if let Err(why) = self.stop() {
            panic!(
                "the stop before the restart was not clean: {why}
{}",
                self.report()
            );
        }
    }

    /// The second half of [`Nginx::restart`]: starts a stopped nginx again
    /// on the same prefix, configuration and port.
    pub fn start_again(&mut self) {
        let log_from = fs::metadata(self.error_log_path()).map_or(0, |m| m.len() as usize);
        let _ = fs::remove_file(self.path("logs/nginx.pid"));
        let child = spawn_nginx(
            &self.binary,
            self.prefix(),
            &self.conf_path,
            &self.error_log_path(),
            &self.path("logs/stderr.log"),
            &self.globals,
        );
        self.pid = child.id() as libc::pid_t;
        self.child = child;
        self.stop_result = None;
        match self.wait_ready(log_from) {
            Readiness::Ready => {}
            Readiness::PortTaken => {
                let _ = self.stop();
                self.checked = true;
                panic!(
                    "restart: port {} was taken by another process while nginx was down
{}",
                    self.port,
                    self.report()
                );
            }
            Readiness::Failed(why) => {
                let _ = self.stop();
                self.checked = true;
                panic!(
                    "nginx did not restart: {why}
{}",
                    self.report()
                );
            }
        }
    }

    /// Stops nginx now and fails (panics) if the stop was not clean or the
    /// error log holds an alert, a crit or a crashed worker.
    pub fn stop_and_check(mut self) {
        self.checked = true;
        let stop = self.stop();
        if let Err(report) = self.verdict(stop) {
            panic!("{report}");
        }
    }

    /// Waits for the nginx just spawned to be ready, judging only the error
    /// log from byte `log_from` on (a restart keeps the earlier run's log).
    fn wait_ready(&mut self, log_from: usize) -> Readiness {
        let pid_file = self.path("logs/nginx.pid");
        let bind_failed = format!("bind() to 127.0.0.1:{} failed", self.port);
        // Worker start-up is logged at notice; only count it when visible.
        let count_workers = matches!(self.level.as_str(), "debug" | "info" | "notice");
        let workers = self.workers;
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        let log_path = self.error_log_path();
        let verdict = try_wait_until(START_DEADLINE, || {
            let raw = fs::read(&log_path).unwrap_or_default();
            let log = String::from_utf8_lossy(raw.get(log_from..).unwrap_or_default());
            if log.contains(&bind_failed) && log.contains("Address already in use") {
                return Some(Readiness::PortTaken);
            }
            if master_exited(self.pid) {
                return Some(Readiness::Failed(
                    "the master exited during start-up".into(),
                ));
            }
            // The pid file is written after the listening sockets are bound,
            // so a matching pid file means the port is ours, not a stranger's.
            let pid_ok = fs::read_to_string(&pid_file)
                .ok()
                .and_then(|s| s.trim().parse::<libc::pid_t>().ok())
                == Some(self.pid);
            if !pid_ok {
                return None;
            }
            if count_workers && log.matches("start worker process").count() < workers {
                return None;
            }
            // A worker takes its title (`nginx: worker process`) a moment
            // after the master logs its start; wait for it, so that
            // `worker_pids` sees every worker as soon as nginx is ready.
            if count_workers && self.worker_pids().len() < workers {
                return None;
            }
            TcpStream::connect_timeout(&addr, Duration::from_millis(500))
                .ok()
                .map(|_| Readiness::Ready)
        });
        verdict.unwrap_or_else(|| Readiness::Failed(format!("not ready within {START_DEADLINE:?}")))
    }

    /// Stops nginx once: SIGQUIT to the master, wait for it to exit, SIGKILL
    /// the whole group after the deadline. Returns what went wrong, if
    /// anything, with the stop.
    fn stop(&mut self) -> Result<(), String> {
        if let Some(r) = &self.stop_result {
            return r.clone();
        }
        let result = if master_exited(self.pid) {
            Err("the nginx master exited on its own before the test stopped it".to_string())
        } else {
            signal(self.pid, libc::SIGQUIT);
            if try_wait_until(STOP_DEADLINE, || master_exited(self.pid).then_some(())).is_some() {
                Ok(())
            } else {
                signal(-self.pid, libc::SIGKILL);
                Err(format!(
                    "nginx did not exit within {STOP_DEADLINE:?} of SIGQUIT (graceful \
                     shutdown hung); it was killed"
                ))
            }
        };
        // The master is a zombie now, not yet reaped, so its PID (and the
        // group's) cannot have been reused: killing the group is safe and
        // makes sure no worker or cache process outlives the test.
        signal(-self.pid, libc::SIGKILL);
        let status = self.child.wait();
        let result = result.and_then(|()| match status {
            Ok(s) if s.success() => Ok(()),
            Ok(s) => Err(format!("the nginx master exited with {s}")),
            Err(e) => Err(format!("could not reap the nginx master: {e}")),
        });
        self.stop_result = Some(result.clone());
        result
    }

    /// Judges a stopped nginx: the stop itself and the error log.
    fn verdict(&self, stop: Result<(), String>) -> Result<(), String> {
        let log = self.error_log();
        let excused: Vec<String> = self
            .expected_crashes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|pid| format!(" worker process {pid} exited on signal 9"))
            .collect();
        let fatal: Vec<&str> = log
            .lines()
            .filter(|l| FATAL_LOG_MARKERS.iter().any(|m| l.contains(m)))
            .filter(|l| !excused.iter().any(|e| l.ends_with(e.as_str())))
            .collect();
        let mut problems = Vec::new();
        if let Err(e) = stop {
            problems.push(e);
        }
        if !fatal.is_empty() {
            problems.push(format!(
                "the error log holds {} line(s) with [alert], [crit] or a worker that \
                 exited on a signal:\n  {}",
                fatal.len(),
                fatal.join("\n  ")
            ));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(format!("{}\n{}", problems.join("\n"), self.report()))
        }
    }

    /// The error log (its tail, if long), nginx's stderr and where the
    /// configuration is, for failure messages.
    pub fn report(&self) -> String {
        const MAX_LINES: usize = 300;
        let log = self.error_log();
        let lines: Vec<&str> = log.lines().collect();
        let skipped = lines.len().saturating_sub(MAX_LINES);
        let mut out = format!(
            "--- {} (nginx {}, port {}, config {}) ---\n",
            self.error_log_path().display(),
            self.binary.display(),
            self.port,
            self.conf_path.display()
        );
        if skipped > 0 {
            out.push_str(&format!("[... {skipped} earlier lines ...]\n"));
        }
        for l in &lines[skipped..] {
            out.push_str(l);
            out.push('\n');
        }
        let stderr = read_lossy(&self.path("logs/stderr.log"));
        if !stderr.trim().is_empty() {
            out.push_str("--- nginx stderr ---\n");
            out.push_str(&stderr);
        }
        out.push_str("--- end ---");
        out
    }

    /// Gives the prefix back to reuse it for another start attempt.
    fn take_prefix(&mut self) -> TempDir {
        self.prefix.take().expect("the prefix is taken only once")
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let stop = self.stop();
        if self.checked {
            return;
        }
        self.checked = true;
        if std::thread::panicking() {
            // The test failed already: show what nginx said, and say if the
            // log also holds a crash, but do not panic again (that aborts).
            match self.verdict(stop) {
                Ok(()) => eprintln!("{}", self.report()),
                Err(report) => eprintln!("{report}"),
            }
            return;
        }
        if let Err(report) = self.verdict(stop) {
            panic!("{report}");
        }
    }
}

/// nginx's workers and cache manager, stopped; see [`Nginx::freeze`].
pub struct Frozen<'a> {
    _nginx: &'a Nginx,
    pids: Vec<libc::pid_t>,
}

impl Drop for Frozen<'_> {
    fn drop(&mut self) {
        for &pid in &self.pids {
            signal(pid, libc::SIGCONT);
        }
    }
}

/// The result of `nginx -t`.
pub struct ConfigCheck {
    pub success: bool,
    pub status: ExitStatus,
    /// stdout and stderr of `nginx -t`, combined.
    pub output: String,
    pub conf_path: PathBuf,
    /// The configuration as written (placeholders substituted).
    pub conf_text: String,
    pub placeholders: Placeholders,
    _prefix: TempDir,
}

impl ConfigCheck {
    /// The 1-based line number of the only configuration line containing
    /// `needle`.
    pub fn line_of(&self, needle: &str) -> usize {
        let hits: Vec<usize> = self
            .conf_text
            .lines()
            .enumerate()
            .filter(|(_, l)| l.contains(needle))
            .map(|(i, _)| i + 1)
            .collect();
        assert_eq!(
            hits.len(),
            1,
            "expected exactly one config line containing {needle:?}, found {hits:?}"
        );
        hits[0]
    }

    /// `in <conf path>:<line>` as nginx appends to configuration errors.
    pub fn location_of(&self, needle: &str) -> String {
        format!("in {}:{}", self.conf_path.display(), self.line_of(needle))
    }

    /// The exit status, output and numbered configuration, for messages.
    pub fn describe(&self) -> String {
        let numbered: String = self
            .conf_text
            .lines()
            .enumerate()
            .map(|(i, l)| format!("{:4} {l}\n", i + 1))
            .collect();
        format!(
            "nginx -t exited with {}; output:\n{}\n--- config {} ---\n{numbered}",
            self.status,
            self.output.trim_end(),
            self.conf_path.display()
        )
    }

    /// Panics unless `nginx -t` accepted the configuration.
    pub fn assert_ok(&self) {
        assert!(
            self.success
                && self.output.contains("syntax is ok")
                && self.output.contains("test is successful"),
            "expected the configuration to pass nginx -t\n{}",
            self.describe()
        );
    }

    /// Panics unless `nginx -t` rejected the configuration with output
    /// containing each of `needles`.
    pub fn assert_fails_with(&self, needles: &[&str]) {
        assert!(
            !self.success,
            "expected nginx -t to fail\n{}",
            self.describe()
        );
        assert!(
            self.output.contains("test failed"),
            "nginx -t failed without saying 'test failed'\n{}",
            self.describe()
        );
        for n in needles {
            assert!(
                self.output.contains(n),
                "nginx -t output lacks {n:?}\n{}",
                self.describe()
            );
        }
    }
}

fn placeholders(prefix: &Path, port: u16, module: &Path) -> Placeholders {
    Placeholders {
        prefix: prefix.to_path_buf(),
        port,
        module: module.to_path_buf(),
        media: prefix.join("media"),
    }
}

/// A fresh prefix with `conf`, `logs`, `tmp` and `media`, all 0755 so that
/// workers running as another user can traverse it, plus the staged files.
fn make_prefix(staged: &[Staged]) -> TempDir {
    let prefix = tempfile::Builder::new()
        .prefix("ifrs-t-")
        .tempdir()
        .expect("create a temporary prefix");
    make_dir(prefix.path());
    for d in ["conf", "logs", "tmp", "media"] {
        make_dir(&prefix.path().join(d));
    }
    for item in staged {
        match item {
            Staged::Copy { src, dest } => {
                let dest = prefix.path().join(dest);
                make_parent(&dest);
                fs::copy(src, &dest).unwrap_or_else(|e| {
                    panic!("copy {} to {}: {e}", src.display(), dest.display())
                });
            }
            Staged::Bytes { dest, bytes } => {
                let dest = prefix.path().join(dest);
                make_parent(&dest);
                write(&dest, bytes);
            }
            Staged::Dir(rel) => make_dir(&prefix.path().join(rel)),
        }
    }
    prefix
}

fn make_dir(dir: &Path) {
    fs::create_dir_all(dir).unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
    fs::set_permissions(dir, fs::Permissions::from_mode(0o755))
        .unwrap_or_else(|e| panic!("chmod {}: {e}", dir.display()));
}

fn make_parent(path: &Path) {
    if let Some(parent) = path.parent() {
        make_dir(parent);
    }
}

fn write(path: &Path, bytes: &[u8]) {
    fs::write(path, bytes).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

fn read_lossy(path: &Path) -> String {
    fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

/// Whether a configuration sets a directive at the start of some line
/// (outside comments); crude, but enough to avoid duplicating it with `-g`.
fn has_directive(text: &str, name: &str) -> bool {
    text.lines()
        .map(|l| l.split('#').next().unwrap_or_default().trim_start())
        .any(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with([' ', '\t', ';']))
        })
}

fn indent(text: &str, by: usize) -> String {
    let pad = " ".repeat(by);
    text.lines()
        .map(|l| {
            if l.trim().is_empty() {
                "\n".to_string()
            } else {
                format!("{pad}{l}\n")
            }
        })
        .collect()
}

/// A port that was free a moment ago. Another process may take it before
/// nginx binds; [`Builder::start`] notices and retries.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local_addr").port()
}

fn spawn_nginx(
    binary: &Path,
    prefix: &Path,
    conf: &Path,
    error_log: &Path,
    stderr: &Path,
    globals: &str,
) -> Child {
    let out = fs::File::create(stderr).expect("create stderr log");
    let mut cmd = Command::new(binary);
    if !globals.is_empty() {
        cmd.arg("-g").arg(globals);
    }
    cmd.arg("-p")
        .arg(prefix)
        .arg("-e")
        .arg(error_log)
        .arg("-c")
        .arg(conf)
        .stdin(Stdio::null())
        .stdout(out.try_clone().expect("dup stderr log"))
        .stderr(out)
        // Own group: the master's PID names the group, for one SIGKILL.
        .process_group(0);
    // SAFETY: prctl is async-signal-safe and touches only the new process.
    // It makes the kernel send SIGTERM to nginx if the test thread that
    // spawned it dies (an aborted test run), so no server outlives the run.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) == -1 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()))
}

/// Whether the master (our child) has exited, without reaping it: a zombie
/// keeps its PID, so the process group cannot be reused while we look.
fn master_exited(pid: libc::pid_t) -> bool {
    // SAFETY: an all-zero siginfo_t is a valid value for waitid to fill in.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: `info` is a valid, writable siginfo_t; `pid` is our child.
    let rc = unsafe {
        libc::waitid(
            libc::P_PID,
            pid as libc::id_t,
            &mut info,
            libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
        )
    };
    if rc == -1 {
        // ECHILD: already reaped, so certainly gone.
        return true;
    }
    // SAFETY: waitid succeeded, so the pid field is initialised (0 if the
    // child has not changed state yet).
    unsafe { info.si_pid() != 0 }
}

fn signal(pid: libc::pid_t, sig: libc::c_int) {
    // SAFETY: kill has no memory-safety preconditions; ESRCH is harmless.
    unsafe {
        libc::kill(pid, sig);
    }
}

//! A headless Chromium driven over the DevTools protocol, for tests that
//! look at a page as people do.
//!
//! The protocol goes over `--remote-debugging-pipe` (NUL-separated JSON on
//! the browser's descriptors 3 and 4), which needs no WebSocket client: a
//! shell gives the browser our stdin as its fd 3 and our stdout as its fd 4.
//! No traffic may leave the machine: every proxied request goes to a closed
//! local port and every host name but 127.0.0.1 fails to resolve.
//!
//! Environment: `IFRS_CHROMIUM` names the browser binary (default: Debian's
//! `/usr/lib/chromium/chromium`, else `chromium` on the `PATH`).

use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use crate::status::{parse_json, Json};

/// The browser binary, if one is installed.
pub fn chromium_binary() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("IFRS_CHROMIUM") {
        return Some(PathBuf::from(path));
    }
    let debian = PathBuf::from("/usr/lib/chromium/chromium");
    if debian.is_file() {
        return Some(debian);
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("chromium"))
            .find(|p| p.is_file())
    })
}

/// A running browser and the messages it has sent.
pub struct Browser {
    child: Child,
    to_browser: ChildStdin,
    from_browser: Receiver<Json>,
    next_id: u64,
    /// Events received so far, oldest first, with their session.
    pub events: Vec<Json>,
    _profile: tempfile::TempDir,
}

impl Browser {
    pub fn launch(binary: &PathBuf) -> Browser {
        let profile = tempfile::tempdir().expect("browser profile directory");
        // A port nothing listens on: the proxy every non-local request
        // would have to go through.
        let closed_port = crate::nginx::free_port();
        let mut child = Command::new("sh")
            .arg("-c")
            .arg("exec \"$0\" \"$@\" 3<&0 4>&1 0</dev/null 1>/dev/null")
            .arg(binary)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--remote-debugging-pipe",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-extensions",
                "--disable-default-apps",
                "--hide-scrollbars",
                "--mute-audio",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg(format!("--proxy-server=http://127.0.0.1:{closed_port}"))
            .arg("--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1")
            .arg("about:blank")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", binary.display()));
        let to_browser = child.stdin.take().expect("browser's fd 3");
        let stdout = child.stdout.take().expect("browser's fd 4");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            loop {
                let mut message = Vec::new();
                match reader.read_until(0, &mut message) {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
                if message.last() == Some(&0) {
                    message.pop();
                }
                let text = String::from_utf8_lossy(&message);
                match parse_json(&text) {
                    Ok(json) => {
                        if tx.send(json).is_err() {
                            return;
                        }
                    }
                    Err(e) => panic!("the browser sent bad JSON ({e}): {text}"),
                }
            }
        });
        Browser {
            child,
            to_browser,
            from_browser: rx,
            next_id: 1,
            events: Vec::new(),
            _profile: profile,
        }
    }

    /// Sends a command (to `session`, or to the browser) and waits for its
    /// result; events that arrive meanwhile are kept in `events`.
    pub fn call(&mut self, session: Option<&str>, method: &str, params: &str) -> Json {
        let id = self.next_id;
        self.next_id += 1;
        let session = session.map_or(String::new(), |s| format!(",\"sessionId\":\"{s}\""));
        let message =
            format!("{{\"id\":{id},\"method\":\"{method}\",\"params\":{params}{session}}}\0");
        self.to_browser
            .write_all(message.as_bytes())
            .and_then(|()| self.to_browser.flush())
            .unwrap_or_else(|e| panic!("send {method}: {e}"));
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let json = self.receive(deadline, method);
            match json.get("id") {
                Some(Json::Number(n)) if *n == id.to_string() => {
                    if let Some(error) = json.get("error") {
                        panic!("{method} failed: {error:?}");
                    }
                    return json.get("result").cloned().unwrap_or(Json::Null);
                }
                Some(_) => {}
                None => self.events.push(json),
            }
        }
    }

    /// Waits until an event named `method` has arrived.
    pub fn wait_for_event(&mut self, method: &str, within: Duration) -> Json {
        let deadline = Instant::now() + within;
        if let Some(found) = self.events.iter().find(|e| is_event(e, method)) {
            return found.clone();
        }
        loop {
            let json = self.receive(deadline, method);
            let found = is_event(&json, method);
            self.events.push(json.clone());
            if found {
                return json;
            }
        }
    }

    /// Events named `method` received so far.
    pub fn events_named(&self, method: &str) -> Vec<&Json> {
        self.events.iter().filter(|e| is_event(e, method)).collect()
    }

    fn receive(&mut self, deadline: Instant, waiting_for: &str) -> Json {
        let left = deadline.saturating_duration_since(Instant::now());
        match self.from_browser.recv_timeout(left) {
            Ok(json) => json,
            Err(RecvTimeoutError::Timeout) => panic!("no answer to {waiting_for} in time"),
            Err(RecvTimeoutError::Disconnected) => {
                let status = self.child.try_wait();
                panic!("the browser went away while waiting for {waiting_for}: {status:?}")
            }
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(mut out) = self.child.stdout.take() {
            let _ = out.read_to_end(&mut Vec::new());
        }
    }
}

fn is_event(json: &Json, method: &str) -> bool {
    matches!(json.get("method"), Some(Json::String(m)) if m == method)
}

/// A JSON string literal of `text`, for command parameters.
pub fn json_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

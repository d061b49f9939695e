//! The built `image-filter-rs` binary end to end against a scripted
//! std-only HTTP server: exit codes, the summary on stdout, failure lines on
//! stderr, usage errors. (Against the real nginx and module, see
//! `t/tests/warm.rs`.) Having an integration test here also makes
//! `cargo test --workspace` build the binary, which `t/tests/warm.rs` runs.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::{Command, Output, Stdio};
use std::thread;

const BIN: &str = env!("CARGO_BIN_EXE_image-filter-rs");

fn run(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// Answers `n` HEAD requests (on however many connections) with `answer`
/// chosen by request line; returns the port and the request lines.
fn server(n: usize, answer: fn(&str) -> String) -> (u16, thread::JoinHandle<Vec<String>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = thread::spawn(move || {
        let mut seen = Vec::new();
        while seen.len() < n {
            let (mut s, _) = listener.accept().unwrap();
            let mut buf = Vec::new();
            let mut b = [0u8; 1];
            while seen.len() < n {
                if s.read(&mut b).unwrap_or(0) == 0 {
                    break;
                }
                buf.push(b[0]);
                if buf.ends_with(b"\r\n\r\n") {
                    let text = String::from_utf8_lossy(&buf).into_owned();
                    let line = text.lines().next().unwrap().to_string();
                    s.write_all(answer(&line).as_bytes()).unwrap();
                    seen.push(line);
                    buf.clear();
                }
            }
        }
        seen.sort();
        seen
    });
    (port, handle)
}

#[test]
fn warms_from_stdin_and_reports() {
    let (port, srv) = server(4, |line| {
        let status = if line.contains("missing") {
            "404 Not Found"
        } else {
            "200 OK"
        };
        format!("HTTP/1.1 {status}\r\nContent-Length: 10\r\nX-Image-Filter-Cache: MISS\r\n\r\n")
    });
    let prefix = format!("http://127.0.0.1:{port}/t/?w=1");
    let out = run(
        &["warm", "--root", "-", "--concurrency", "2", &prefix],
        "a b.jpg\n./sub/c.jpg\nmissing.jpg\n\nx%.jpg\n",
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(stdout.contains("\nmade: 3\n"), "{stdout}");
    assert!(stdout.contains("\nfailed: 1 (404: 1)\n"), "{stdout}");
    assert!(
        stderr.contains(&format!(
            "failed: 404 http://127.0.0.1:{port}/t/missing.jpg?w=1"
        )),
        "{stderr}"
    );
    assert_eq!(
        srv.join().unwrap(),
        [
            "HEAD /t/a%20b.jpg?w=1 HTTP/1.1",
            "HEAD /t/missing.jpg?w=1 HTTP/1.1",
            "HEAD /t/sub/c.jpg?w=1 HTTP/1.1",
            "HEAD /t/x%25.jpg?w=1 HTTP/1.1",
        ]
    );
}

#[test]
fn usage_errors_exit_2() {
    let out = run(&["warm", "--root", ".", "https://example.com/t/"], "");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("https is not supported"));
    let out = run(
        &["warm", "--root", "does/not/exist", "http://127.0.0.1:9/"],
        "",
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("does/not/exist"));
    assert_eq!(run(&["frobnicate"], "").status.code(), Some(2));
    assert_eq!(run(&["warm"], "").status.code(), Some(2));
    let help = run(&["--help"], "");
    assert_eq!(help.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&help.stdout).contains("--root DIR"));
}

#[test]
fn a_refused_connection_fails_and_nothing_to_do_succeeds() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let out = run(
        &["warm", "--root", "-", &format!("http://127.0.0.1:{port}/")],
        "a.jpg\n",
    );
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("failed: 1 (connection: 1)"), "{stdout}");
    let out = run(&["warm", "--root", "-", "http://127.0.0.1:9/"], "\n");
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("requests: 0"));
}

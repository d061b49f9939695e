//! Looking at nginx's processes and sockets through `/proc`, so tests can
//! act on exact states instead of timing: which worker holds a given client
//! connection (to kill precisely that one), and whether nginx has already
//! read a request off a connection (so the request is known to be in the
//! handler before the test does its next step).
//!
//! Linux only, as is the module's thread-pool and cache-manager machinery
//! under test.

use std::fs;
use std::net::Ipv4Addr;

/// One IPv4 TCP socket as the kernel lists it in `/proc/net/tcp`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TcpSocket {
    pub local: (Ipv4Addr, u16),
    pub remote: (Ipv4Addr, u16),
    /// The kernel's state code: 0x01 established, 0x0A listening, ...
    pub state: u8,
    /// Bytes received but not yet read by the process that owns the socket.
    pub rx_queue: u64,
    /// The socket's inode; 0 while a connection still waits in the accept
    /// queue, because no process has a file for it yet.
    pub inode: u64,
}

/// Every IPv4 TCP socket of this network namespace.
pub fn tcp_sockets() -> Vec<TcpSocket> {
    let text = fs::read_to_string("/proc/net/tcp").unwrap_or_default();
    text.lines().skip(1).filter_map(parse_tcp_line).collect()
}

fn parse_tcp_line(line: &str) -> Option<TcpSocket> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    if fields.len() < 10 {
        return None;
    }
    let (_tx, rx) = fields[4].split_once(':')?;
    Some(TcpSocket {
        local: parse_endpoint(fields[1])?,
        remote: parse_endpoint(fields[2])?,
        state: u8::from_str_radix(fields[3], 16).ok()?,
        rx_queue: u64::from_str_radix(rx, 16).ok()?,
        inode: fields[9].parse().ok()?,
    })
}

/// `0100007F:1F90`: the address as the kernel's in-memory (network order)
/// word printed in host order, then the port in hex.
fn parse_endpoint(text: &str) -> Option<(Ipv4Addr, u16)> {
    let (addr, port) = text.split_once(':')?;
    let word = u32::from_str_radix(addr, 16).ok()?;
    let port = u16::from_str_radix(port, 16).ok()?;
    Some((Ipv4Addr::from(word.to_ne_bytes()), port))
}

/// nginx's end of the connection from the client at 127.0.0.1:`client_port`
/// to 127.0.0.1:`server_port`, if it exists.
pub fn server_end(server_port: u16, client_port: u16) -> Option<TcpSocket> {
    tcp_sockets().into_iter().find(|s| {
        s.local == (Ipv4Addr::LOCALHOST, server_port)
            && s.remote == (Ipv4Addr::LOCALHOST, client_port)
    })
}

/// Whether nginx has accepted the connection from `client_port` and read
/// everything the client sent on it. Call it after the client's write has
/// returned: on loopback the bytes are in nginx's receive queue by then, so
/// an empty queue on an accepted socket means a worker read them (and, as
/// nginx parses and handles a request in the same event-loop turn that
/// reads it, has run the content handler on them).
pub fn request_read(server_port: u16, client_port: u16) -> bool {
    server_end(server_port, client_port).is_some_and(|s| s.inode != 0 && s.rx_queue == 0)
}

/// The first of `pids` that has the socket with this inode open.
pub fn owner_of_socket(pids: &[i32], inode: u64) -> Option<i32> {
    let wanted = format!("socket:[{inode}]");
    pids.iter().copied().find(|pid| {
        let Ok(fds) = fs::read_dir(format!("/proc/{pid}/fd")) else {
            return false;
        };
        fds.flatten().any(|fd| {
            fs::read_link(fd.path()).is_ok_and(|target| target.as_os_str() == wanted.as_str())
        })
    })
}

/// Live children of `parent` whose command line (which nginx rewrites to
/// its process title, e.g. `nginx: worker process`) contains `title`.
pub fn children_titled(parent: i32, title: &str) -> Vec<i32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut out: Vec<i32> = entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| parent_of(pid) == Some(parent))
        .filter(|&pid| {
            fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains(title))
        })
        .collect();
    out.sort_unstable();
    out
}

/// Whether every thread of `pid` is stopped (or gone): a SIGSTOP is
/// delivered asynchronously, and each thread stops on its own way back from
/// the kernel, so "kill returned" is not "stopped".
pub fn all_threads_stopped(pid: i32) -> bool {
    let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) else {
        return true;
    };
    tasks.flatten().all(|task| {
        let Ok(stat) = fs::read_to_string(task.path().join("stat")) else {
            return true;
        };
        let state = stat
            .rfind(')')
            .and_then(|at| stat[at + 1..].split_whitespace().next());
        // T: stopped by a signal; t: traced; Z/X: exited.
        matches!(state, None | Some("T" | "t" | "Z" | "X"))
    })
}

/// The parent PID from `/proc/<pid>/stat`. The command name in parentheses
/// may hold spaces, so fields are counted from the last `)`.
fn parent_of(pid: i32) -> Option<i32> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let _state = fields.next()?;
    fields.next()?.parse().ok()
}

/// The nice value of every thread of `pid`, by thread id.
pub fn thread_niceness(pid: i32) -> Vec<(i32, i32)> {
    let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    tasks
        .flatten()
        .filter_map(|task| {
            let tid: i32 = task.file_name().to_str()?.parse().ok()?;
            let stat = fs::read_to_string(task.path().join("stat")).ok()?;
            // Fields after the parenthesised command name; nice is field 19
            // of the whole line, the 17th after the name.
            let after_name = &stat[stat.rfind(')')? + 2..];
            let nice = after_name.split(' ').nth(16)?.parse().ok()?;
            Some((tid, nice))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_proc_net_tcp_line() {
        let line = "   3: 0100007F:1F90 0100007F:D431 01 00000000:0000001A 00:00000000 \
                    00000000     0        0 123456 1 0000000000000000 20 4 30 10 -1";
        let s = parse_tcp_line(line).unwrap();
        if cfg!(target_endian = "little") {
            assert_eq!(s.local, (Ipv4Addr::LOCALHOST, 8080));
            assert_eq!(s.remote, (Ipv4Addr::LOCALHOST, 54321));
        }
        assert_eq!(s.state, 1);
        assert_eq!(s.rx_queue, 26);
        assert_eq!(s.inode, 123456);
    }

    #[test]
    fn finds_our_own_connection_and_its_owner() {
        use std::io::Write;
        let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut client = std::net::TcpStream::connect((Ipv4Addr::LOCALHOST, port)).unwrap();
        let client_port = client.local_addr().unwrap().port();
        client.write_all(b"hello").unwrap();
        // Not accepted yet: no inode, so not "read".
        assert!(!request_read(port, client_port));
        let (mut server, _) = listener.accept().unwrap();
        let end = server_end(port, client_port).expect("the accepted socket is listed");
        assert_ne!(end.inode, 0);
        let me = std::process::id() as i32;
        assert_eq!(owner_of_socket(&[me], end.inode), Some(me));
        let mut buf = [0u8; 5];
        std::io::Read::read_exact(&mut server, &mut buf).unwrap();
        assert!(request_read(port, client_port));
    }
}

//! A peer that is not loopback: a network namespace joined to this host by a
//! veth pair with addresses in a private /30 under 10.213.0.0/16
//! (`ip netns add`, `ip link add … type veth`). The server binds the host side
//! address; the client runs inside the namespace (a thread that `setns`es into
//! it before it opens its socket), so the server sees a foreign peer. Traffic
//! stays on this machine: only the two ends of the pair are ever addressed.
//! Removed on drop. Needs root (CAP_NET_ADMIN); [`NetNs::create`] says why not
//! otherwise, and the caller skips with that reason.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

static NEXT: AtomicU32 = AtomicU32::new(0);

/// A namespace with one veth pair; the host end is `host_ip`, the namespace end `ns_ip`.
pub struct NetNs {
    name: String,
    host_if: String,
    /// The host side address (bind servers here).
    pub host_ip: Ipv4Addr,
    /// The namespace side address (the peer the server sees).
    pub ns_ip: Ipv4Addr,
}

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("`ip` not runnable: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`ip {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

impl NetNs {
    /// Creates the namespace and the pair, both ends up. `Err` names why
    /// namespaces cannot be made here (not root, no `ip`, no veth support).
    pub fn create() -> Result<NetNs, String> {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let pid = std::process::id();
        // /30 blocks: 10.213.<pid mod 256>.<4k> with k from the per-process counter.
        let third = (pid % 256) as u8;
        let base = ((n % 63) * 4) as u8;
        let ns = NetNs {
            name: format!("sbt-{pid}-{n}"),
            host_if: format!("sbh{}x{n}", pid % 100_000),
            host_ip: Ipv4Addr::new(10, 213, third, base + 1),
            ns_ip: Ipv4Addr::new(10, 213, third, base + 2),
        };
        let peer_if = format!("sbn{}x{n}", pid % 100_000);
        ip(&["netns", "add", &ns.name])?;
        // From here on, Drop cleans up whatever was made.
        let host_cidr = format!("{}/30", ns.host_ip);
        let ns_cidr = format!("{}/30", ns.ns_ip);
        ip(&[
            "link",
            "add",
            &ns.host_if,
            "type",
            "veth",
            "peer",
            "name",
            &peer_if,
        ])?;
        ip(&["link", "set", &peer_if, "netns", &ns.name])?;
        ip(&["addr", "add", &host_cidr, "dev", &ns.host_if])?;
        ip(&["link", "set", &ns.host_if, "up"])?;
        ip(&[
            "netns", "exec", &ns.name, "ip", "addr", "add", &ns_cidr, "dev", &peer_if,
        ])?;
        ip(&[
            "netns", "exec", &ns.name, "ip", "link", "set", &peer_if, "up",
        ])?;
        ip(&["netns", "exec", &ns.name, "ip", "link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// Runs `f` on a thread inside the namespace (sockets it opens live
    /// there) without blocking the caller's runtime (a server under test may
    /// have actors on it).
    pub async fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> T {
        let path = format!("/run/netns/{}", self.name);
        let (tx, rx) = tokio::sync::oneshot::channel();
        std::thread::spawn(move || {
            let file = std::fs::File::open(&path).expect("open the namespace");
            // SAFETY: setns(2) on a valid namespace fd; it changes only this
            // thread's network namespace, and the thread ends after `f`.
            let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
            assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
            let _ = tx.send(f());
        });
        rx.await.expect("namespace thread panicked")
    }
}

/// `GET path` to `server` over a fresh connection; the response status.
pub fn status_of(server: SocketAddr, path: &str, upgrade: bool) -> u16 {
    let mut stream =
        TcpStream::connect_timeout(&server, Duration::from_secs(5)).expect("connect to the server");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let extra = if upgrade {
        "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    } else {
        "Connection: close\r\n"
    };
    let head = format!("GET {path} HTTP/1.1\r\nHost: {server}\r\n{extra}\r\n");
    stream.write_all(head.as_bytes()).expect("write request");
    let mut got = Vec::new();
    let mut byte = [0u8; 1];
    while !got.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => got.push(byte[0]),
            _ => break,
        }
    }
    let text = String::from_utf8_lossy(&got);
    text.split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line from {server}{path}: {text:?}"))
}

impl NetNs {
    /// The host side address with `port`.
    pub fn host_addr(&self, port: u16) -> SocketAddr {
        SocketAddr::new(IpAddr::V4(self.host_ip), port)
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        let _ = ip(&["link", "del", &self.host_if]);
        let _ = ip(&["netns", "del", &self.name]);
    }
}

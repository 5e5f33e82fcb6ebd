//! Raw blocking TCP clients for tests that need what awc cannot do: a chosen
//! source address (127.0.0.x, for per-address limits), a WebSocket peer that
//! stops reading, and a real TCP RST (SO_LINGER 0 then close).
//!
//! Blocking: call these from `spawn_blocking` (or accept a blocked test thread
//! where the server runs on its own workers).

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::time::Duration;

use socket2::{Domain, Socket, Type};

/// A TCP connection to `server` from `source` (port chosen by the kernel).
pub fn connect_from(source: IpAddr, server: SocketAddr) -> TcpStream {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
    socket
        .bind(&SocketAddr::new(source, 0).into())
        .expect("bind source address");
    socket.connect(&server.into()).expect("connect");
    let stream: TcpStream = socket.into();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    stream
}

/// A parsed HTTP/1.1 response head and body.
#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawResponse {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One HTTP/1.1 request from `source` (`Connection: close`); `headers` are
/// `Name: value` lines without CRLF.
pub fn http(
    source: IpAddr,
    server: SocketAddr,
    method: &str,
    path: &str,
    headers: &[String],
    body: &[u8],
) -> RawResponse {
    let mut stream = connect_from(source, server);
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {server}\r\nConnection: close\r\n");
    for h in headers {
        head.push_str(h);
        head.push_str("\r\n");
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    stream.write_all(head.as_bytes()).expect("write head");
    stream.write_all(body).expect("write body");
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    parse_response(&raw)
}

fn parse_response(raw: &[u8]) -> RawResponse {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no response head in {:?}", String::from_utf8_lossy(raw)));
    let head = String::from_utf8_lossy(&raw[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .expect("status line");
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    RawResponse {
        status,
        headers,
        body: raw[end + 4..].to_vec(),
    }
}

/// A client-side WebSocket over a plain `TcpStream`, after a manual handshake.
/// It writes masked frames and reads only when asked, so it can stop reading.
pub struct RawWs {
    pub stream: TcpStream,
}

impl RawWs {
    /// Connects from 127.0.0.1 and upgrades `path`; panics unless the answer is 101.
    pub fn connect(server: SocketAddr, path: &str) -> RawWs {
        let mut stream = connect_from("127.0.0.1".parse().expect("ip"), server);
        let head = format!(
            "GET {path} HTTP/1.1\r\nHost: {server}\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
             Sec-WebSocket-Version: 13\r\n\r\n"
        );
        stream.write_all(head.as_bytes()).expect("handshake");
        let mut got = Vec::new();
        let mut byte = [0u8; 1];
        while !got.ends_with(b"\r\n\r\n") {
            stream.read_exact(&mut byte).expect("handshake answer");
            got.push(byte[0]);
        }
        let answer = String::from_utf8_lossy(&got);
        assert!(answer.starts_with("HTTP/1.1 101"), "{answer}");
        RawWs { stream }
    }

    /// Writes one masked frame (`opcode` 1 text, 2 binary, 8 close).
    pub fn send_frame(&mut self, opcode: u8, payload: &[u8]) -> std::io::Result<()> {
        let mask = [0x1f, 0x2e, 0x3d, 0x4c];
        let mut frame = Vec::with_capacity(payload.len() + 14);
        frame.push(0x80 | opcode);
        match payload.len() {
            n if n < 126 => frame.push(0x80 | n as u8),
            n if n <= 0xffff => {
                frame.push(0x80 | 126);
                frame.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                frame.push(0x80 | 127);
                frame.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        frame.extend_from_slice(&mask);
        frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        self.stream.write_all(&frame)
    }

    /// Writes a text frame.
    pub fn send_text(&mut self, text: &str) -> std::io::Result<()> {
        self.send_frame(1, text.as_bytes())
    }

    /// Ends the connection with a TCP RST: SO_LINGER 0, then close.
    pub fn reset(self) {
        let socket = Socket::from(self.stream);
        socket
            .set_linger(Some(Duration::ZERO))
            .expect("SO_LINGER 0");
        drop(socket);
    }
}

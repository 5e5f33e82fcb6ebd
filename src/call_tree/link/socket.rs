//! The realtime model's WebSocket as a value that can change threads: a
//! `ws://` or `wss://` client connection ([`ModelSocket`]) over a TCP stream
//! that can be re-registered with another arbiter's reactor ([`ModelIo::rehome`]).
//!
//! A call pre-warmed at its voice webhook opens its model session on the
//! webhook's worker thread, but the carrier's media stream is accepted by any
//! worker. Handing the open socket to the stream's worker keeps every frame of
//! the call on one thread (no cross-thread wake per 20 ms frame). awc's
//! sockets cannot move (they hold its connection pool's `Rc`), so the link
//! opens its own: TCP (`TCP_NODELAY`), TLS through the process's OpenSSL
//! connector (SNI and hostname checked), and the RFC 6455 §4.1 opening
//! handshake written with actix-http's HTTP/1.1 client codec, then framed with
//! the same WebSocket codec awc uses.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_codec::{AsyncRead, AsyncWrite, Framed, ReadBuf};
use actix_http::body::BodySize;
use actix_http::h1::{ClientCodec, Message as H1Message};
use actix_http::header::{self, HeaderValue};
use actix_http::ws::{hash_key, Codec};
use actix_http::{ConnectionType, Method, RequestHead, RequestHeadType, StatusCode, Version};
use base64::Engine as _;
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_openssl::SslStream;

/// An open model WebSocket (client side): frames in, messages out.
pub type ModelSocket = Framed<ModelIo, Codec>;

/// Why a model WebSocket could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum SocketError {
    #[error("bad model URL {0:?}: expected ws://host[:port]/path or wss://…")]
    Url(String),
    #[error("TCP connect: {0}")]
    Tcp(io::Error),
    #[error("TLS: {0}")]
    Tls(String),
    #[error("handshake: {0}")]
    Handshake(String),
    #[error("server answered {0} instead of 101 Switching Protocols")]
    Status(StatusCode),
    #[error("timed out after {0} ms")]
    Timeout(u128),
}

/// Opens `url` (`ws://` or `wss://`) with `Authorization: Bearer {api_key}` when
/// given, accepting server frames up to `max_frame` bytes; the whole opening
/// (DNS, TCP, TLS, upgrade) must finish within `timeout`. `tls` is the
/// process's connector (one `SSL_CTX` shared by every link); without one a
/// `wss://` URL gets a default connector (system trust store) of its own.
///
/// Errors: [`SocketError`] — a bad URL, a refused or failed connection, a TLS
/// failure (including an untrusted certificate), an answer other than 101, or
/// an upgrade answer that fails RFC 6455 §4.1's checks.
pub async fn open(
    url: &str,
    api_key: Option<&str>,
    tls: Option<&openssl::ssl::SslConnector>,
    max_frame: usize,
    timeout: Duration,
) -> Result<ModelSocket, SocketError> {
    match tokio::time::timeout(timeout, open_now(url, api_key, tls, max_frame)).await {
        Ok(res) => res,
        Err(_) => Err(SocketError::Timeout(timeout.as_millis())),
    }
}

async fn open_now(
    url: &str,
    api_key: Option<&str>,
    tls: Option<&openssl::ssl::SslConnector>,
    max_frame: usize,
) -> Result<ModelSocket, SocketError> {
    let bad_url = || SocketError::Url(url.to_string());
    let parsed = url::Url::parse(url).map_err(|_| bad_url())?;
    let secure = match parsed.scheme() {
        "ws" | "http" => false,
        "wss" | "https" => true,
        _ => return Err(bad_url()),
    };
    let host = parsed.host_str().ok_or_else(bad_url)?.to_string();
    let port = parsed.port_or_known_default().ok_or_else(bad_url)?;
    let dial_host = host.trim_start_matches('[').trim_end_matches(']');
    let tcp = TcpStream::connect((dial_host, port))
        .await
        .map_err(SocketError::Tcp)?;
    // Realtime audio: small frames must not wait for Nagle's algorithm.
    tcp.set_nodelay(true).map_err(SocketError::Tcp)?;
    let tcp = MovableTcp(Some(tcp));
    let io = if secure {
        let connector = match tls {
            Some(connector) => connector.clone(),
            None => openssl::ssl::SslConnector::builder(openssl::ssl::SslMethod::tls())
                .map_err(|e| SocketError::Tls(e.to_string()))?
                .build(),
        };
        let ssl = connector
            .configure()
            .and_then(|c| c.into_ssl(dial_host))
            .map_err(|e| SocketError::Tls(e.to_string()))?;
        let mut stream = SslStream::new(ssl, tcp).map_err(|e| SocketError::Tls(e.to_string()))?;
        Pin::new(&mut stream)
            .connect()
            .await
            .map_err(|e| SocketError::Tls(e.to_string()))?;
        ModelIo::Tls(Box::new(stream))
    } else {
        ModelIo::Plain(tcp)
    };

    let mut path = parsed.path().to_string();
    if let Some(query) = parsed.query() {
        path.push('?');
        path.push_str(query);
    }
    let authority = match parsed.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.clone(),
    };
    let key = base64::engine::general_purpose::STANDARD.encode(rand::random::<[u8; 16]>());
    let mut head = RequestHead::default();
    head.method = Method::GET;
    head.version = Version::HTTP_11;
    head.uri = path.parse().map_err(|_| bad_url())?;
    head.set_connection_type(ConnectionType::Upgrade);
    let headers = &mut head.headers;
    let value = |v: &str| HeaderValue::from_str(v).map_err(|_| bad_url());
    headers.insert(header::HOST, value(&authority)?);
    headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    headers.insert(
        header::SEC_WEBSOCKET_VERSION,
        HeaderValue::from_static("13"),
    );
    headers.insert(header::SEC_WEBSOCKET_KEY, value(&key)?);
    if let Some(api_key) = api_key {
        let bearer = HeaderValue::from_str(&format!("Bearer {api_key}")).map_err(|_| {
            SocketError::Handshake("the API key is not a valid header value".into())
        })?;
        headers.insert(header::AUTHORIZATION, bearer);
    }

    let mut framed = Framed::new(io, ClientCodec::default());
    framed
        .send(H1Message::Item((
            RequestHeadType::Owned(head),
            BodySize::None,
        )))
        .await
        .map_err(|e| SocketError::Handshake(e.to_string()))?;
    let answer = framed
        .next()
        .await
        .ok_or_else(|| SocketError::Handshake("closed before answering".into()))?
        .map_err(|e| SocketError::Handshake(e.to_string()))?;
    check_upgrade(&answer, &key)?;
    Ok(framed.into_map_codec(|_| Codec::new().max_size(max_frame).client_mode()))
}

/// RFC 6455 §4.1: 101, `Upgrade: websocket`, `Connection: Upgrade`, and
/// `Sec-WebSocket-Accept` derived from our key.
fn check_upgrade(answer: &actix_http::ResponseHead, key: &str) -> Result<(), SocketError> {
    if answer.status != StatusCode::SWITCHING_PROTOCOLS {
        return Err(SocketError::Status(answer.status));
    }
    let has_token = |name: header::HeaderName, token: &str| {
        answer.headers.get_all(name).any(|v| {
            v.to_str()
                .is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
        })
    };
    if !has_token(header::UPGRADE, "websocket") {
        return Err(SocketError::Handshake("no `Upgrade: websocket`".into()));
    }
    if !has_token(header::CONNECTION, "upgrade") {
        return Err(SocketError::Handshake("no `Connection: Upgrade`".into()));
    }
    let expected = hash_key(key.as_bytes());
    match answer.headers.get(header::SEC_WEBSOCKET_ACCEPT) {
        Some(accept) if accept.as_bytes() == expected => Ok(()),
        Some(_) => Err(SocketError::Handshake("wrong Sec-WebSocket-Accept".into())),
        None => Err(SocketError::Handshake("no Sec-WebSocket-Accept".into())),
    }
}

/// The model connection's byte stream: plain TCP or TLS over TCP. `Send`, so an
/// open socket can be handed to another thread, which then calls
/// [`ModelIo::rehome`].
pub enum ModelIo {
    Plain(MovableTcp),
    Tls(Box<SslStream<MovableTcp>>),
}

impl ModelIo {
    /// Re-registers the TCP stream with the calling thread's reactor (it must run
    /// inside that thread's runtime), so its readiness wakes this thread. The
    /// TLS state and any bytes already buffered are untouched.
    ///
    /// Errors: the socket could not be re-registered; it is then closed.
    pub fn rehome(&mut self) -> io::Result<()> {
        match self {
            ModelIo::Plain(tcp) => tcp.rehome(),
            ModelIo::Tls(tls) => tls.get_mut().rehome(),
        }
    }
}

/// A tokio TCP stream that can leave one runtime's reactor for another's.
/// `None` only after a failed [`MovableTcp::rehome`].
pub struct MovableTcp(Option<TcpStream>);

impl MovableTcp {
    fn rehome(&mut self) -> io::Result<()> {
        let tcp = self.0.take().ok_or_else(lost)?;
        let std = tcp.into_std()?;
        self.0 = Some(TcpStream::from_std(std)?);
        Ok(())
    }

    fn get(self: Pin<&mut Self>) -> io::Result<Pin<&mut TcpStream>> {
        match &mut self.get_mut().0 {
            Some(tcp) => Ok(Pin::new(tcp)),
            None => Err(lost()),
        }
    }
}

fn lost() -> io::Error {
    io::Error::new(
        io::ErrorKind::NotConnected,
        "model socket lost while moving threads",
    )
}

impl AsyncRead for MovableTcp {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get() {
            Ok(tcp) => tcp.poll_read(cx, buf),
            Err(e) => Poll::Ready(Err(e)),
        }
    }
}

impl AsyncWrite for MovableTcp {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get() {
            Ok(tcp) => tcp.poll_write(cx, buf),
            Err(e) => Poll::Ready(Err(e)),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get() {
            Ok(tcp) => tcp.poll_flush(cx),
            Err(e) => Poll::Ready(Err(e)),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get() {
            Ok(tcp) => tcp.poll_shutdown(cx),
            Err(e) => Poll::Ready(Err(e)),
        }
    }
}

impl AsyncRead for ModelIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ModelIo::Plain(tcp) => Pin::new(tcp).poll_read(cx, buf),
            ModelIo::Tls(tls) => Pin::new(tls.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for ModelIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            ModelIo::Plain(tcp) => Pin::new(tcp).poll_write(cx, buf),
            ModelIo::Tls(tls) => Pin::new(tls.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ModelIo::Plain(tcp) => Pin::new(tcp).poll_flush(cx),
            ModelIo::Tls(tls) => Pin::new(tls.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ModelIo::Plain(tcp) => Pin::new(tcp).poll_shutdown(cx),
            ModelIo::Tls(tls) => Pin::new(tls.as_mut()).poll_shutdown(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use actix_http::ws::{Frame, Message};
    use openssl::asn1::Asn1Time;
    use openssl::hash::MessageDigest;
    use openssl::pkey::{PKey, Private};
    use openssl::rsa::Rsa;
    use openssl::ssl::{SslAcceptor, SslConnector, SslMethod};
    use openssl::x509::extension::SubjectAlternativeName;
    use openssl::x509::{X509NameBuilder, X509};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    const SECOND: Duration = Duration::from_secs(5);

    /// The server half of RFC 6455 §4.2.2 on a raw stream: reads the request
    /// head, answers `status` with the accept key (`tamper` spoils it), then
    /// echoes text frames until the client closes.
    async fn serve<S: AsyncRead + AsyncWrite + Unpin>(mut io: S, status: u16, tamper: bool) {
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            if io.read(&mut byte).await.unwrap_or(0) == 0 {
                return;
            }
            head.push(byte[0]);
        }
        let head = String::from_utf8_lossy(&head).to_string();
        let key = head
            .lines()
            .find_map(|l| l.strip_prefix("sec-websocket-key: "))
            .or_else(|| {
                head.lines()
                    .find_map(|l| l.strip_prefix("Sec-WebSocket-Key: "))
            })
            .unwrap_or("")
            .trim()
            .to_string();
        let mut accept = String::from_utf8_lossy(&hash_key(key.as_bytes())).to_string();
        if tamper {
            accept = accept.replace(|c: char| c.is_ascii_alphabetic(), "A");
        }
        let answer = format!(
            "HTTP/1.1 {status} Switching Protocols\r\nupgrade: websocket\r\nconnection: upgrade\r\nsec-websocket-accept: {accept}\r\n\r\n"
        );
        if io.write_all(answer.as_bytes()).await.is_err() || status != 101 {
            return;
        }
        let mut framed = Framed::new(io, Codec::new());
        while let Some(Ok(frame)) = framed.next().await {
            match frame {
                Frame::Text(text) => {
                    let text = String::from_utf8_lossy(&text).to_string();
                    let _ = framed.send(Message::Text(text.into())).await;
                }
                Frame::Close(_) => return,
                _ => {}
            }
        }
    }

    async fn plain_server(status: u16, tamper: bool) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        actix_rt::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                actix_rt::spawn(serve(tcp, status, tamper));
            }
        });
        format!("ws://{addr}/v1/realtime?model=m")
    }

    /// A self-signed certificate for `localhost`.
    fn certificate() -> (X509, PKey<Private>) {
        let key = PKey::from_rsa(Rsa::generate(2048).expect("rsa")).expect("key");
        let mut name = X509NameBuilder::new().expect("name");
        name.append_entry_by_text("CN", "localhost").expect("cn");
        let name = name.build();
        let mut cert = X509::builder().expect("x509");
        cert.set_version(2).expect("version");
        cert.set_subject_name(&name).expect("subject");
        cert.set_issuer_name(&name).expect("issuer");
        cert.set_pubkey(&key).expect("pubkey");
        cert.set_not_before(&Asn1Time::days_from_now(0).expect("now"))
            .expect("not before");
        cert.set_not_after(&Asn1Time::days_from_now(1).expect("later"))
            .expect("not after");
        let san = SubjectAlternativeName::new()
            .dns("localhost")
            .build(&cert.x509v3_context(None, None))
            .expect("san");
        cert.append_extension(san).expect("extension");
        cert.sign(&key, MessageDigest::sha256()).expect("sign");
        (cert.build(), key)
    }

    async fn tls_server(cert: &X509, key: &PKey<Private>) -> String {
        let mut acceptor =
            SslAcceptor::mozilla_intermediate_v5(SslMethod::tls()).expect("acceptor");
        acceptor.set_certificate(cert).expect("cert");
        acceptor.set_private_key(key).expect("key");
        let acceptor = acceptor.build();
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        actix_rt::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let ssl = openssl::ssl::Ssl::new(acceptor.context()).expect("ssl");
                let mut tls = SslStream::new(ssl, tcp).expect("stream");
                actix_rt::spawn(async move {
                    if Pin::new(&mut tls).accept().await.is_ok() {
                        serve(tls, 101, false).await;
                    }
                });
            }
        });
        format!("wss://localhost:{port}/v1/realtime")
    }

    fn trusting(cert: &X509) -> SslConnector {
        let mut builder = SslConnector::builder(SslMethod::tls()).expect("connector");
        builder
            .cert_store_mut()
            .add_cert(cert.clone())
            .expect("trust");
        builder.build()
    }

    async fn echo(socket: &mut ModelSocket, text: &str) -> String {
        socket
            .send(Message::Text(text.to_string().into()))
            .await
            .expect("send");
        match tokio::time::timeout(SECOND, socket.next()).await {
            Ok(Some(Ok(Frame::Text(bytes)))) => String::from_utf8_lossy(&bytes).to_string(),
            other => panic!("no echo: {other:?}"),
        }
    }

    /// An arbiter's runtime (a current-thread tokio runtime with a local task
    /// set, which actix-http's client codec needs).
    fn runtime() -> actix_rt::Runtime {
        actix_rt::Runtime::new().expect("runtime")
    }

    /// A test server on its own thread for the rest of the test: its URL.
    fn server_thread(secure: bool, status: u16, tamper: bool) -> (String, X509) {
        let (cert, key) = certificate();
        let (tx, rx) = std::sync::mpsc::channel();
        let served = cert.clone();
        std::thread::spawn(move || {
            runtime().block_on(async move {
                let url = if secure {
                    tls_server(&served, &key).await
                } else {
                    plain_server(status, tamper).await
                };
                let _ = tx.send(url);
                std::future::pending::<()>().await;
            })
        });
        (rx.recv_timeout(SECOND).expect("server up"), cert)
    }

    /// Opens and uses a socket on a thread whose runtime is then shut down.
    fn opened_on_a_finished_thread(url: &str, connector: SslConnector) -> ModelSocket {
        let url = url.to_string();
        std::thread::spawn(move || {
            runtime().block_on(async move {
                let mut socket = open(&url, Some("sk-test"), Some(&connector), 1 << 20, SECOND)
                    .await
                    .expect("open");
                assert_eq!(echo(&mut socket, "first thread").await, "first thread");
                socket
            })
        })
        .join()
        .expect("first thread")
    }

    /// The socket, moved to a second thread and re-registered there, keeps
    /// working after the runtime that opened it is gone (TLS state included).
    fn survives_moving_threads(secure: bool) {
        let (url, cert) = server_thread(secure, 101, false);
        let mut socket = opened_on_a_finished_thread(&url, trusting(&cert));
        std::thread::spawn(move || {
            runtime().block_on(async move {
                socket.io_mut().rehome().expect("rehome");
                assert_eq!(echo(&mut socket, "second thread").await, "second thread");
            })
        })
        .join()
        .expect("second thread");
    }

    #[test]
    fn a_plain_socket_keeps_working_after_moving_threads() {
        survives_moving_threads(false);
    }

    #[test]
    fn a_tls_socket_keeps_working_after_moving_threads() {
        survives_moving_threads(true);
    }

    /// What `rehome` is for: a socket moved without it still belongs to the
    /// finished runtime's reactor and cannot be used.
    #[test]
    fn without_rehome_a_moved_socket_is_dead() {
        let (url, cert) = server_thread(false, 101, false);
        let mut socket = opened_on_a_finished_thread(&url, trusting(&cert));
        let used = std::thread::spawn(move || {
            runtime().block_on(async move {
                let sent = socket.send(Message::Text("second thread".into())).await;
                let echoed = tokio::time::timeout(Duration::from_secs(1), socket.next()).await;
                sent.is_ok() && matches!(echoed, Ok(Some(Ok(Frame::Text(_)))))
            })
        })
        .join()
        .expect("second thread");
        assert!(
            !used,
            "a socket of a finished runtime worked without rehome"
        );
    }

    #[test]
    fn an_untrusted_certificate_is_refused() {
        let (url, _) = server_thread(true, 101, false);
        runtime().block_on(async move {
            let default = SslConnector::builder(SslMethod::tls())
                .expect("connector")
                .build();
            match open(&url, None, Some(&default), 1 << 20, SECOND).await {
                Err(SocketError::Tls(detail)) => {
                    assert!(detail.contains("certificate"), "{detail}")
                }
                Err(e) => panic!("wrong error: {e}"),
                Ok(_) => panic!("an untrusted certificate was accepted"),
            }
        });
    }

    #[test]
    fn a_refused_upgrade_and_a_wrong_accept_key_are_errors() {
        let (refusing, _) = server_thread(false, 403, false);
        let (tampering, _) = server_thread(false, 101, true);
        runtime().block_on(async move {
            match open(&refusing, None, None, 1 << 20, SECOND).await {
                Err(SocketError::Status(status)) => assert_eq!(status.as_u16(), 403),
                Err(e) => panic!("wrong error: {e}"),
                Ok(_) => panic!("a 403 was taken for an upgrade"),
            }
            match open(&tampering, None, None, 1 << 20, SECOND).await {
                Err(SocketError::Handshake(detail)) => {
                    assert!(detail.contains("Sec-WebSocket-Accept"), "{detail}")
                }
                Err(e) => panic!("wrong error: {e}"),
                Ok(_) => panic!("a wrong accept key was taken"),
            }
            match open("ftp://example.com/", None, None, 1 << 20, SECOND).await {
                Err(SocketError::Url(_)) => {}
                other => panic!("wrong answer to a bad URL: {:?}", other.err()),
            }
        });
    }
}

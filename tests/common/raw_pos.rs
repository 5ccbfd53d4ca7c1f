//! A tiny scripted HTTP/1.1 server for POS misbehaviour that wiremock cannot
//! produce: answers that never come, resets, lying `Content-Length`s and
//! endless bodies. It binds 127.0.0.1:0, serves each connection in its own
//! task, answers one request per connection and then closes it.
//!
//! Every loop here is bounded: the accept loop by a connection count, each
//! connection by a wall-clock limit, each read or write by a timeout, and an
//! endless body by a byte count, so a test that forgets the server never
//! leaves it running.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;
use tokio::time::{Instant, timeout};

/// Connections accepted before the server stops accepting.
const MAX_CONNECTIONS: usize = 1000;
/// The longest any one connection is served, whatever it does.
const CONNECTION_LIMIT: Duration = Duration::from_secs(30);
/// The longest one read or one write may wait.
const IO_TIMEOUT: Duration = Duration::from_secs(5);
const MAX_HEAD_BYTES: usize = 64 * 1024;
const MAX_BODY_BYTES: usize = 1024 * 1024;
/// An endless body stops after this many bytes even if the client keeps reading.
const MAX_STREAM_BYTES: u64 = 3 * 1024 * 1024 * 1024;
const STREAM_CHUNK: usize = 64 * 1024;

/// One request as the server read it.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

/// What the server does with one request.
#[derive(Debug, Clone)]
pub enum Reply {
    /// A well-formed response with its true `Content-Length`, then close.
    Full {
        status: u16,
        content_type: String,
        body: Vec<u8>,
    },
    /// Exactly these bytes, then close: truncated or malformed answers.
    Raw(Vec<u8>),
    /// Never answer; keep the connection open until the client hangs up.
    Hang,
    /// Close at once with a TCP reset (zero linger).
    Reset,
    /// A 200 head, then filler bytes until the client hangs up: with
    /// `Content-Length: announced` when given, chunked otherwise.
    Endless {
        content_type: String,
        announced: Option<u64>,
    },
    /// A 200 head with the body's true length, then the body one byte per
    /// `every` (a POS sending an image at a byte a second): every read gets
    /// data well within a read timeout, yet the whole takes ages.
    Drip {
        content_type: String,
        body: Vec<u8>,
        every: Duration,
    },
}

impl Reply {
    pub fn json(body: &serde_json::Value) -> Reply {
        Reply::Full {
            status: 200,
            content_type: "application/json".into(),
            body: serde_json::to_vec(body).expect("JSON serialises"),
        }
    }

    pub fn bytes(content_type: &str, body: Vec<u8>) -> Reply {
        Reply::Full {
            status: 200,
            content_type: content_type.into(),
            body,
        }
    }

    pub fn not_found() -> Reply {
        Reply::Full {
            status: 404,
            content_type: "text/plain".into(),
            body: b"not found".to_vec(),
        }
    }
}

type Handler = dyn Fn(&Request) -> Reply + Send + Sync;

/// What the server saw and did, for assertions.
#[derive(Debug, Default)]
pub struct Stats {
    pub connections: AtomicUsize,
    /// Connections still being served.
    pub active: AtomicUsize,
    /// Filler bytes of endless bodies that the client's socket accepted.
    pub streamed: AtomicU64,
    pub requests: std::sync::Mutex<Vec<(String, String)>>,
}

pub struct RawPos {
    addr: std::net::SocketAddr,
    stats: Arc<Stats>,
    accept: AbortHandle,
}

impl RawPos {
    /// Starts serving on 127.0.0.1:0; `handler` decides each reply.
    pub async fn start(handler: impl Fn(&Request) -> Reply + Send + Sync + 'static) -> RawPos {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("bound address");
        let stats = Arc::new(Stats::default());
        let handler: Arc<Handler> = Arc::new(handler);
        let accept = tokio::spawn({
            let stats = stats.clone();
            async move {
                for _ in 0..MAX_CONNECTIONS {
                    let Ok((stream, _)) = listener.accept().await else {
                        break;
                    };
                    stats.connections.fetch_add(1, Ordering::SeqCst);
                    stats.active.fetch_add(1, Ordering::SeqCst);
                    let stats = stats.clone();
                    let handler = handler.clone();
                    tokio::spawn(async move {
                        let _ = timeout(CONNECTION_LIMIT, serve(stream, &*handler, &stats)).await;
                        stats.active.fetch_sub(1, Ordering::SeqCst);
                    });
                }
            }
        })
        .abort_handle();
        RawPos {
            addr,
            stats,
            accept,
        }
    }

    pub fn uri(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    pub fn streamed_bytes(&self) -> u64 {
        self.stats.streamed.load(Ordering::SeqCst)
    }

    /// `(method, path)` of every request read so far.
    pub fn requests(&self) -> Vec<(String, String)> {
        self.stats.requests.lock().unwrap().clone()
    }

    /// Waits up to `limit` until no connection is being served; true if none is.
    pub async fn wait_idle(&self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if self.stats.active.load(Ordering::SeqCst) == 0 {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.stats.active.load(Ordering::SeqCst) == 0
    }
}

impl Drop for RawPos {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

async fn serve(mut stream: TcpStream, handler: &Handler, stats: &Stats) {
    let Some(request) = read_request(&mut stream).await else {
        return;
    };
    stats
        .requests
        .lock()
        .unwrap()
        .push((request.method.clone(), request.path.clone()));
    match handler(&request) {
        Reply::Full {
            status,
            content_type,
            body,
        } => {
            let head = format!(
                "HTTP/1.1 {status} {}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                reason(status),
                body.len()
            );
            let mut bytes = head.into_bytes();
            bytes.extend_from_slice(&body);
            write_and_close(stream, &bytes).await;
        }
        Reply::Raw(bytes) => write_and_close(stream, &bytes).await,
        Reply::Hang => {
            // Read (and drop) whatever comes until the client hangs up.
            let mut buf = [0u8; 1024];
            while let Ok(Ok(n)) = timeout(CONNECTION_LIMIT, stream.read(&mut buf)).await {
                if n == 0 {
                    break;
                }
            }
        }
        Reply::Reset => {
            let _ = stream.set_zero_linger();
            drop(stream);
        }
        Reply::Endless {
            content_type,
            announced,
        } => endless(stream, &content_type, announced, stats).await,
        Reply::Drip {
            content_type,
            body,
            every,
        } => drip(stream, &content_type, &body, every).await,
    }
}

/// Sends the head, then one byte per `every` until the body is out, the
/// client hangs up, or the connection's wall-clock limit ends it.
async fn drip(mut stream: TcpStream, content_type: &str, body: &[u8], every: Duration) {
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    if !matches!(
        timeout(IO_TIMEOUT, stream.write_all(head.as_bytes())).await,
        Ok(Ok(()))
    ) {
        return;
    }
    for byte in body {
        if !matches!(
            timeout(IO_TIMEOUT, stream.write_all(&[*byte])).await,
            Ok(Ok(()))
        ) {
            return;
        }
        tokio::time::sleep(every).await;
    }
}

async fn write_and_close(mut stream: TcpStream, bytes: &[u8]) {
    if let Ok(Ok(())) = timeout(IO_TIMEOUT, stream.write_all(bytes)).await {
        let _ = timeout(IO_TIMEOUT, stream.shutdown()).await;
    }
}

/// Streams filler until a write fails (the client hung up), a write stalls,
/// or [`MAX_STREAM_BYTES`] went out.
async fn endless(mut stream: TcpStream, content_type: &str, announced: Option<u64>, stats: &Stats) {
    let length = match announced {
        Some(length) => format!("Content-Length: {length}"),
        None => "Transfer-Encoding: chunked".to_string(),
    };
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\n{length}\r\nConnection: close\r\n\r\n"
    );
    if !matches!(
        timeout(IO_TIMEOUT, stream.write_all(head.as_bytes())).await,
        Ok(Ok(()))
    ) {
        return;
    }
    let filler = vec![b'0'; STREAM_CHUNK];
    let mut chunk = Vec::with_capacity(STREAM_CHUNK + 16);
    if announced.is_none() {
        chunk.extend_from_slice(format!("{STREAM_CHUNK:x}\r\n").as_bytes());
        chunk.extend_from_slice(&filler);
        chunk.extend_from_slice(b"\r\n");
    } else {
        chunk.extend_from_slice(&filler);
    }
    let limit = announced.unwrap_or(MAX_STREAM_BYTES).min(MAX_STREAM_BYTES);
    let mut sent = 0u64;
    while sent < limit {
        let piece = if announced.is_some() {
            &chunk[..(limit - sent).min(STREAM_CHUNK as u64) as usize]
        } else {
            &chunk[..]
        };
        match timeout(IO_TIMEOUT, stream.write_all(piece)).await {
            Ok(Ok(())) => {
                sent += piece.len() as u64;
                stats
                    .streamed
                    .fetch_add(piece.len() as u64, Ordering::SeqCst);
            }
            // The client hung up, or stopped reading: stop writing.
            _ => return,
        }
    }
}

/// Reads one request head and its `Content-Length` body; None if the client went away.
async fn read_request(stream: &mut TcpStream) -> Option<Request> {
    let mut buf = Vec::with_capacity(4096);
    let head_end = loop {
        if let Some(end) = find(&buf, b"\r\n\r\n") {
            break end;
        }
        if buf.len() > MAX_HEAD_BYTES {
            return None;
        }
        read_more(stream, &mut buf).await?;
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next()?.split(' ');
    let method = request_line.next()?.to_string();
    let path = request_line.next()?.to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(key, value)| (key.trim().to_string(), value.trim().to_string()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, value)| value.parse().ok())
        .unwrap_or(0);
    if length > MAX_BODY_BYTES {
        return None;
    }
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < length {
        read_more(stream, &mut body).await?;
    }
    body.truncate(length);
    Some(Request {
        method,
        path,
        headers,
        body,
    })
}

/// Appends what the client sends next to `buf`; None if it went away or stayed silent.
async fn read_more(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Option<()> {
    let mut piece = [0u8; 4096];
    let n = timeout(IO_TIMEOUT, stream.read(&mut piece))
        .await
        .ok()?
        .ok()?;
    if n == 0 {
        return None;
    }
    buf.extend_from_slice(&piece[..n]);
    Some(())
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        302 => "Found",
        404 => "Not Found",
        500 => "Internal Server Error",
        _ => "Status",
    }
}

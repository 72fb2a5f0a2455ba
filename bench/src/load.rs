//! A lean HTTP/1.1 load generator, in the spirit of wrk: N keep-alive connections, each sending
//! a request built fresh for every operation (a new signature, a new MsgId), reading the
//! answer by its Content-Length, and timing it. No client library in the way: on a machine
//! whose cores the server shares, the generator's own cost must stay small and equal for
//! wxgate and the bare baseline.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Builds the bytes of one request (the whole HTTP/1.1 message).
pub type Make = Arc<dyn Fn() -> Vec<u8> + Send + Sync>;
/// Checks one answer (status, body); `Err` says what is wrong with it.
pub type Check = Arc<dyn Fn(u16, &[u8]) -> Result<(), String> + Send + Sync>;

/// A GET, with extra header lines (each ending in `\r\n`).
pub fn get(host: &str, path: &str, headers: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nhost: {host}\r\n{headers}\r\n").into_bytes()
}

/// A POST of `body`.
pub fn post(host: &str, path: &str, content_type: &str, body: &str) -> Vec<u8> {
    format!(
        "POST {path} HTTP/1.1\r\nhost: {host}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

pub struct Outcome {
    pub errors: u64,
    pub first_error: Option<String>,
    pub elapsed: Duration,
    /// Operations answered as expected.
    pub ops: u64,
    /// Their median and 99th percentile latency, in milliseconds.
    pub p50_ms: f64,
    pub p99_ms: f64,
}

impl Outcome {
    /// From every operation's latency, in microseconds.
    pub fn from_latencies(
        mut latencies: Vec<u64>,
        elapsed: Duration,
        errors: u64,
        first_error: Option<String>,
    ) -> Outcome {
        latencies.sort_unstable();
        let percentile_ms = |p: f64| match latencies.len() {
            0 => 0.0,
            n => latencies[((n - 1) as f64 * p).round() as usize] as f64 / 1000.0,
        };
        Outcome {
            errors,
            first_error,
            elapsed,
            ops: latencies.len() as u64,
            p50_ms: percentile_ms(0.50),
            p99_ms: percentile_ms(0.99),
        }
    }

    pub fn per_sec(&self) -> f64 {
        self.ops as f64 / self.elapsed.as_secs_f64()
    }
}

/// One response: its status, its body, and whether the server closes the connection after it.
struct Response {
    status: u16,
    body: Vec<u8>,
    close: bool,
}

/// Reads one response.
async fn read_response(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Result<Response, String> {
    let head_end = loop {
        if let Some(i) = find(buf, b"\r\n\r\n") {
            break i + 4;
        }
        let mut chunk = [0u8; 16 * 1024];
        let n = stream.read(&mut chunk).await.map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("connection closed".into());
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = std::str::from_utf8(&buf[..head_end]).map_err(|e| e.to_string())?;
    let status: u16 = head
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line: {:.40}", head))?;
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())
                .flatten()
        })
        .ok_or("no content-length")?;
    // nginx ends a keep-alive connection after `keepalive_requests` (1000 by default), saying so.
    let close = head.lines().any(|l| {
        l.split_once(':').is_some_and(|(k, v)| {
            k.eq_ignore_ascii_case("connection") && v.trim().eq_ignore_ascii_case("close")
        })
    });
    while buf.len() < head_end + length {
        let mut chunk = [0u8; 16 * 1024];
        let n = stream.read(&mut chunk).await.map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("connection closed mid-body".into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let body = buf[head_end..head_end + length].to_vec();
    buf.drain(..head_end + length);
    Ok(Response {
        status,
        body,
        close,
    })
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Drives `connections` connections to `addr` for `duration`.
pub async fn drive(
    addr: SocketAddr,
    connections: usize,
    duration: Duration,
    make: Make,
    check: Check,
) -> Outcome {
    let start = Instant::now();
    let until = start + duration;
    let workers: Vec<_> = (0..connections)
        .map(|_| {
            let (make, check) = (make.clone(), check.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut errors = 0u64;
                let mut first_error = None;
                let mut stream: Option<TcpStream> = None;
                let mut buf = Vec::with_capacity(32 * 1024);
                while Instant::now() < until {
                    if stream.is_none() {
                        match TcpStream::connect(addr).await {
                            Ok(s) => {
                                let _ = s.set_nodelay(true);
                                stream = Some(s);
                                buf.clear();
                            }
                            Err(e) => {
                                errors += 1;
                                first_error.get_or_insert(e.to_string());
                                tokio::time::sleep(Duration::from_millis(10)).await;
                                continue;
                            }
                        }
                    }
                    let s = stream.as_mut().expect("connected above");
                    let request = make();
                    let began = Instant::now();
                    let answer = match s.write_all(&request).await {
                        Ok(()) => read_response(s, &mut buf).await,
                        Err(e) => Err(e.to_string()),
                    };
                    let close = answer.as_ref().is_ok_and(|r| r.close);
                    match answer.and_then(|r| check(r.status, &r.body)) {
                        Ok(()) => {
                            latencies.push(began.elapsed().as_micros() as u64);
                            if close {
                                stream = None;
                            }
                        }
                        Err(e) => {
                            errors += 1;
                            first_error.get_or_insert(e);
                            stream = None;
                        }
                    }
                }
                (latencies, errors, first_error)
            })
        })
        .collect();
    let mut all = Vec::new();
    let (mut errors, mut first) = (0, None);
    for w in workers {
        if let Ok((latencies, e, first_error)) = w.await {
            all.extend(latencies);
            errors += e;
            first = first.or(first_error);
        }
    }
    Outcome::from_latencies(all, start.elapsed(), errors, first)
}

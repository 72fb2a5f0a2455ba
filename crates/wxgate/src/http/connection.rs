//! What a connection may cost: how long a request body may take to arrive, how long a response
//! may take to be written, and how many connections may be open at once
//! (`WXGATE_MAX_CONNECTIONS`). The accept loop in [`crate::startup`] applies them.
//!
//! The two time limits start their clock only when the peer makes the server wait: a body
//! already in the buffer, a response the kernel takes at once, cost no timer (a timer is a
//! lock and a wheel entry, per request, on the hottest path).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::time::Sleep;

/// How long a response may take to be written once the client stops taking it: a client that
/// pipelines requests and never reads the answers is disconnected after this.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// A stream whose writes must drain within [`WRITE_TIMEOUT`]: the clock starts when a write or
/// flush finds the client's window full and stops only when a flush completes (a response
/// fully handed to the kernel), so a client reading a byte now and then does not reset it.
pub struct TimedWrite<S> {
    inner: S,
    timeout: Duration,
    stalled: Option<Pin<Box<Sleep>>>,
}

impl<S> TimedWrite<S> {
    pub fn new(inner: S, timeout: Duration) -> Self {
        TimedWrite {
            inner,
            timeout,
            stalled: None,
        }
    }

    /// `Pending` while the deadline is ahead; an error once it has passed.
    fn check_stall(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let timeout = self.timeout;
        let stalled = self
            .stalled
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
        match stalled.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client did not read the response in time",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for TimedWrite<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for TimedWrite<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.inner).poll_write(cx, buf) {
            Poll::Pending => self.check_stall(cx).map(|r| r.map(|()| 0)),
            ready => ready,
        }
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.inner).poll_write_vectored(cx, bufs) {
            Poll::Pending => self.check_stall(cx).map(|r| r.map(|()| 0)),
            ready => ready,
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match Pin::new(&mut self.inner).poll_flush(cx) {
            Poll::Pending => self.check_stall(cx),
            Poll::Ready(Ok(())) => {
                self.stalled = None;
                Poll::Ready(Ok(()))
            }
            error => error,
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match Pin::new(&mut self.inner).poll_shutdown(cx) {
            Poll::Pending => self.check_stall(cx),
            ready => ready,
        }
    }
}

/// How long a request body may keep the server waiting, in total.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(10);

/// A request body that must arrive within a time limit, counted from the first time a read
/// finds nothing there (so a body that is already buffered, the usual case, never arms a
/// timer) and not reset by a byte now and then. Past it, the read fails with `TimedOut`, which
/// the handler reading the body answers with a 4xx.
pub struct SlowBodyLimit<B> {
    inner: B,
    timeout: Duration,
    stalled: Option<Pin<Box<Sleep>>>,
}

impl<B> SlowBodyLimit<B> {
    pub fn new(inner: B, timeout: Duration) -> Self {
        SlowBodyLimit {
            inner,
            timeout,
            stalled: None,
        }
    }
}

impl<B> hyper::body::Body for SlowBodyLimit<B>
where
    B: hyper::body::Body + Unpin,
    B::Error: Into<axum::BoxError>,
{
    type Data = B::Data;
    type Error = axum::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(frame) => Poll::Ready(frame.map(|f| f.map_err(Into::into))),
            Poll::Pending => {
                let timeout = self.timeout;
                let stalled = self
                    .stalled
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
                match stalled.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Some(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!("the request body did not arrive within {timeout:?}"),
                    )
                    .into()))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

/// The answer to a connection past `WXGATE_MAX_CONNECTIONS`: a 503 that says so, then the
/// connection is closed. Written without reading the request, within a second, or dropped.
pub async fn refuse_over_capacity(mut stream: tokio::net::TcpStream) {
    const BODY: &str = "too many connections: try again in a moment\n";
    let response = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain; charset=utf-8\r\n\
         retry-after: 1\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{BODY}",
        BODY.len()
    );
    let write = async {
        stream.write_all(response.as_bytes()).await?;
        stream.shutdown().await
    };
    let _ = tokio::time::timeout(Duration::from_secs(1), write).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    #[tokio::test]
    async fn a_reader_that_stops_reading_fails_the_write_after_the_timeout() {
        let (client, server) = tokio::io::duplex(64);
        let mut server = TimedWrite::new(server, Duration::from_millis(100));
        let started = std::time::Instant::now();
        let big = vec![b'x'; 4096];
        let e = server.write_all(&big).await.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
        assert!(started.elapsed() >= Duration::from_millis(100));
        drop(client);
    }

    #[tokio::test]
    async fn a_body_that_stops_arriving_fails_after_the_timeout() {
        use futures::StreamExt;
        // A first piece, then nothing more, and the body is never finished.
        let stream = futures::stream::once(async {
            Ok::<_, io::Error>(bytes::Bytes::from_static(b"<xml>"))
        })
        .chain(futures::stream::pending());
        let body = axum::body::Body::from_stream(stream);
        let started = std::time::Instant::now();
        let limited = SlowBodyLimit::new(body, Duration::from_millis(100));
        let e = axum::body::to_bytes(axum::body::Body::new(limited), usize::MAX)
            .await
            .unwrap_err();
        assert!(e.to_string().contains("did not arrive"), "{e}");
        assert!(started.elapsed() >= Duration::from_millis(100));
        assert!(started.elapsed() < Duration::from_secs(2));
    }

    #[tokio::test]
    async fn a_body_that_arrives_is_read_whole() {
        let body = axum::body::Body::from("<xml>whole</xml>");
        let limited = SlowBodyLimit::new(body, Duration::from_millis(100));
        let got = axum::body::to_bytes(axum::body::Body::new(limited), usize::MAX)
            .await
            .unwrap();
        assert_eq!(&got[..], b"<xml>whole</xml>");
    }

    #[tokio::test]
    async fn a_reader_that_keeps_up_is_never_cut() {
        let (mut client, server) = tokio::io::duplex(64);
        let mut server = TimedWrite::new(server, Duration::from_millis(100));
        let reader = tokio::spawn(async move {
            let mut got = Vec::new();
            client.read_to_end(&mut got).await.unwrap();
            got.len()
        });
        for _ in 0..20 {
            server.write_all(&[b'y'; 1024]).await.unwrap();
            server.flush().await.unwrap();
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        server.shutdown().await.unwrap();
        drop(server);
        assert_eq!(reader.await.unwrap(), 20 * 1024);
    }
}

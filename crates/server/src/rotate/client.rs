//! The HTTP client of the rotation's read-back: plain HTTP/1.1 GETs to the
//! server's own API, through hyper, so that framing (content length, chunked
//! encoding) is parsed by a real HTTP implementation and a malformed answer is
//! an error rather than a misread body.

use std::time::Duration;

use http_body_util::{BodyExt as _, Empty};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};

/// Upper bound for one HTTP exchange with the local server: connect, request
/// and the whole answer. The server is local, so an answer that takes longer
/// means it is stuck, and the caller polls again.
pub const HTTP_TIMEOUT: Duration = Duration::from_secs(2);

/// An answer: its status and its whole body.
#[derive(Debug, PartialEq, Eq)]
pub struct Answer {
    /// The HTTP status.
    pub status: u16,
    /// The body, with any transfer encoding removed.
    pub body: Vec<u8>,
}

/// GETs `path` from the server at `base` (an `http://` URL) with `headers`.
///
/// # Errors
/// A text saying what failed: a bad URL, the connection, the timeout, or a
/// malformed answer.
pub async fn get(base: &str, path: &str, headers: &[(&str, &str)]) -> Result<Answer, String> {
    let url = url::Url::parse(base).map_err(|e| format!("bad --api-url: {e}"))?;
    let host = url
        .host_str()
        .ok_or("the --api-url has no host")?
        .to_owned();
    let port = url.port_or_known_default().unwrap_or(80);
    let exchange = async {
        let stream = tokio::net::TcpStream::connect((host.as_str(), port))
            .await
            .map_err(|e| format!("cannot connect to {host}:{port}: {e}"))?;
        get_over(stream, &format!("{host}:{port}"), path, headers).await
    };
    tokio::time::timeout(HTTP_TIMEOUT, exchange)
        .await
        .map_err(|_| format!("no answer from {base} within {HTTP_TIMEOUT:?}"))?
}

/// One GET over an open connection; the connection is closed afterwards.
async fn get_over<S>(
    stream: S,
    authority: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> Result<Answer, String>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("HTTP handshake failed: {e}"))?;
    let mut request = hyper::Request::get(path)
        .header(hyper::header::HOST, authority)
        .header(hyper::header::CONNECTION, "close");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request
        .body(Empty::<Bytes>::new())
        .map_err(|e| format!("bad request: {e}"))?;
    // Moving the sender in lets the connection end once the answer is read.
    let exchange = async move {
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| format!("the request failed: {e}"))?;
        let status = response.status().as_u16();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("malformed HTTP answer: {e}"))?
            .to_bytes()
            .to_vec();
        Ok::<_, String>(Answer { status, body })
    };
    // The connection future does the I/O; it runs here, next to the exchange,
    // and ends with it.
    let (answer, closed) = tokio::join!(exchange, connection);
    let answer = answer?;
    closed.map_err(|e| format!("malformed HTTP answer: {e}"))?;
    Ok(answer)
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    use super::*;

    /// Answers one request on an in-memory connection with `raw`.
    async fn answer_with(raw: &'static [u8]) -> Result<Answer, String> {
        let (client, mut server) = tokio::io::duplex(64 * 1024);
        let serve = async move {
            let mut request = Vec::new();
            let mut buf = [0u8; 1024];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = server.read(&mut buf).await.unwrap_or(0);
                if n == 0 {
                    return;
                }
                request.extend_from_slice(&buf[..n]);
            }
            let _ = server.write_all(raw).await;
            let _ = server.shutdown().await;
        };
        let (answer, ()) = tokio::join!(
            get_over(client, "127.0.0.1:1", "/x", &[("x-test", "1")]),
            serve
        );
        answer
    }

    #[tokio::test]
    async fn a_chunked_body_is_decoded() {
        let answer = answer_with(
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
        )
        .await;
        assert_eq!(
            answer,
            Ok(Answer {
                status: 200,
                body: b"hello world".to_vec()
            })
        );
    }

    #[tokio::test]
    async fn a_malformed_chunk_size_is_an_error_not_an_empty_body() {
        let answer = answer_with(
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
        )
        .await;
        assert!(answer.is_err(), "{answer:?}");
    }

    #[tokio::test]
    async fn a_body_cut_short_is_an_error() {
        let answer = answer_with(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nhello").await;
        assert!(answer.is_err(), "{answer:?}");
    }

    #[tokio::test]
    async fn a_plain_body_and_status_come_through() {
        let answer = answer_with(b"HTTP/1.1 401 Unauthorized\r\ncontent-length: 2\r\n\r\nno").await;
        assert_eq!(
            answer,
            Ok(Answer {
                status: 401,
                body: b"no".to_vec()
            })
        );
    }
}

//! Guest agent protocol handling against a scripted peer on an in-memory
//! pipe. The peer stands in for `qemu-ga` behind QEMU's virtio-serial
//! chardev, a boundary users never see. It checks the 0xFF resync on connect
//! and after timeouts, and the file commands.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, DuplexStream};

use super::*;

/// The agent side of the pipe.
struct ScriptedPeer {
    stream: BufReader<DuplexStream>,
}

impl ScriptedPeer {
    async fn send(&mut self, bytes: &[u8]) {
        self.stream.get_mut().write_all(bytes).await.unwrap();
    }

    async fn reply(&mut self, value: Value) {
        self.send(format!("{}\n", json!({ "return": value })).as_bytes())
            .await;
    }

    /// Reads one request; a leading 0xFF (before a sync) is dropped.
    async fn receive(&mut self) -> Value {
        let mut line = Vec::new();
        self.stream.read_until(b'\n', &mut line).await.unwrap();
        let json = line.strip_prefix(&[0xFF]).unwrap_or(&line);
        serde_json::from_slice(json).unwrap_or_else(|error| panic!("bad request {line:?}: {error}"))
    }

    async fn expect(&mut self, command: &str) -> Value {
        let request = self.receive().await;
        assert_eq!(request["execute"], command, "unexpected request {request}");
        request["arguments"].clone()
    }

    /// Reads a sync request, which must start with the 0xFF byte, and
    /// returns its id.
    async fn expect_sync(&mut self) -> i64 {
        let first = self.stream.read_u8().await.unwrap();
        assert_eq!(first, 0xFF, "a sync must start with the 0xFF byte");
        let arguments = self.expect("guest-sync-delimited").await;
        arguments["id"].as_i64().unwrap()
    }

    /// Answers a sync the way qemu-ga does: sentinel, then the echoed id.
    async fn answer_sync(&mut self, id: i64) {
        self.send(&[0xFF]).await;
        self.send(format!("{}\n", json!({ "return": id })).as_bytes())
            .await;
    }

    async fn sync(&mut self) -> i64 {
        let id = self.expect_sync().await;
        self.answer_sync(id).await;
        id
    }
}

fn pipe() -> (DuplexStream, ScriptedPeer) {
    let (ours, theirs) = tokio::io::duplex(4096);
    (
        ours,
        ScriptedPeer {
            stream: BufReader::new(theirs),
        },
    )
}

async fn connected() -> (QgaClient<DuplexStream>, ScriptedPeer) {
    let (stream, mut peer) = pipe();
    let (client, _) = tokio::join!(QgaClient::handshake(stream, QGA_SYNC_TIMEOUT), peer.sync());
    (client.unwrap(), peer)
}

#[tokio::test]
async fn connecting_skips_stale_output_up_to_the_sentinel_against_scripted_peer() {
    let (stream, mut peer) = pipe();
    let peer_script = async {
        let id = peer.expect_sync().await;
        // Left over from a previous client: a reply, half a line, and an
        // older sync answer with its own sentinel.
        peer.send(b"{\"return\": {}}\n{\"return\": {\"pid\"").await;
        peer.send(b"\xff{\"return\": 12345}\n").await;
        peer.answer_sync(id).await;
        let arguments = peer.expect("guest-ping").await;
        assert_eq!(arguments, Value::Null);
        peer.reply(json!({})).await;
    };
    let client_script = async {
        let mut client = QgaClient::handshake(stream, QGA_SYNC_TIMEOUT)
            .await
            .unwrap();
        client.ping().await.unwrap();
    };
    tokio::join!(client_script, peer_script);
}

#[tokio::test]
async fn sync_ids_are_random_and_non_negative_against_scripted_peer() {
    let (mut client, mut peer) = connected().await;
    let (result, second) = tokio::join!(client.sync(QGA_SYNC_TIMEOUT), peer.sync());
    result.unwrap();
    let (result, third) = tokio::join!(client.sync(QGA_SYNC_TIMEOUT), peer.sync());
    result.unwrap();
    assert_ne!(second, third);
    assert!(second >= 0 && third >= 0);
}

#[tokio::test(start_paused = true)]
async fn a_silent_agent_fails_the_sync_in_time_against_scripted_peer() {
    let (stream, _peer) = pipe();
    let error = QgaClient::handshake(stream, Duration::from_secs(5))
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "the guest agent did not answer guest-sync-delimited within 5s"
    );
}

#[tokio::test(start_paused = true)]
async fn after_a_timeout_the_channel_is_resynced_and_the_late_reply_dropped_against_scripted_peer()
{
    let (mut client, mut peer) = connected().await;
    let (result, _) = tokio::join!(
        client.execute_with_timeout("guest-info", None, Duration::from_secs(2)),
        peer.expect("guest-info")
    );
    let error = result.unwrap_err();
    assert_eq!(
        error.to_string(),
        "the guest agent did not answer `guest-info` within 2s"
    );

    // The agent answers guest-info late. Before guest-get-time goes out, the
    // client must resync, so that late answer is not taken for the time.
    let peer_script = async {
        peer.reply(json!({"version": "7.2.22", "supported-commands": []}))
            .await;
        let id = peer.expect_sync().await;
        peer.answer_sync(id).await;
        peer.expect("guest-get-time").await;
        peer.reply(json!(1_795_945_979_000_000_000_i64)).await;
    };
    let (time, ()) = tokio::join!(client.get_time(), peer_script);
    assert_eq!(time.unwrap(), 1_795_945_979_000_000_000);
}

#[tokio::test(start_paused = true)]
async fn a_failed_resync_is_reported_with_the_command_against_scripted_peer() {
    let (mut client, mut peer) = connected().await;
    let (result, _) = tokio::join!(
        client.execute_with_timeout("guest-ping", None, Duration::from_secs(1)),
        peer.expect("guest-ping")
    );
    assert!(matches!(result, Err(QgaCommandError::Timeout { .. })));
    // The agent stays silent: the resync before the next command fails.
    let error = client.ping().await.unwrap_err();
    assert_eq!(
        error.to_string(),
        "could not resynchronise with the guest agent before `guest-ping`"
    );
    assert!(matches!(
        error,
        QgaCommandError::Resync {
            source: QgaSyncError::Timeout { .. },
            ..
        }
    ));
}

#[tokio::test]
async fn clock_and_info_commands_against_scripted_peer() {
    let (mut client, mut peer) = connected().await;
    let peer_script = async {
        assert_eq!(
            peer.expect("guest-set-time").await,
            json!({"time": 1_795_949_579_000_000_000_i64})
        );
        peer.reply(json!({})).await;
        assert_eq!(peer.expect("guest-set-time").await, Value::Null);
        peer.reply(json!({})).await;
        peer.expect("guest-info").await;
        peer.reply(json!({
            "version": "7.2.22",
            "supported-commands": [
                {"name": "guest-exec", "enabled": true, "success-response": true},
                {"name": "guest-shutdown", "enabled": true, "success-response": false}
            ]
        }))
        .await;
    };
    let client_script = async {
        client
            .set_time(Some(1_795_949_579_000_000_000))
            .await
            .unwrap();
        client.set_time(None).await.unwrap();
        let info = client.info().await.unwrap();
        assert_eq!(info.version, "7.2.22");
        assert_eq!(
            info.supported_commands[1],
            GuestCommandInfo {
                name: "guest-shutdown".into(),
                enabled: true,
                success_response: false
            }
        );
    };
    tokio::join!(client_script, peer_script);
}

#[tokio::test]
async fn shutdown_does_not_wait_for_a_reply_and_resyncs_next_time_against_scripted_peer() {
    let (mut client, mut peer) = connected().await;
    let (result, arguments) = tokio::join!(
        client.shutdown(ShutdownMode::Powerdown),
        peer.expect("guest-shutdown")
    );
    result.unwrap();
    assert_eq!(arguments, json!({"mode": "powerdown"}));
    let peer_script = async {
        // An error reply to the shutdown, which the resync skips.
        peer.send(b"{\"error\": {\"class\": \"GenericError\", \"desc\": \"no shutdown\"}}\n")
            .await;
        peer.sync().await;
        peer.expect("guest-ping").await;
        peer.reply(json!({})).await;
    };
    let (result, ()) = tokio::join!(client.ping(), peer_script);
    result.unwrap();
}

#[tokio::test]
async fn replies_of_unknown_shape_are_malformed_against_scripted_peer() {
    let (mut client, mut peer) = connected().await;
    let peer_script = async {
        peer.expect("guest-ping").await;
        peer.send(b"{\"greeting\": 1}\n").await;
    };
    let (result, ()) = tokio::join!(client.ping(), peer_script);
    let error = result.unwrap_err();
    assert_eq!(
        error.to_string(),
        "the guest agent sent a malformed reply to `guest-ping`"
    );
}

#[tokio::test]
async fn file_commands_send_base64_and_check_counts_against_scripted_peer() {
    let (mut client, mut peer) = connected().await;
    let peer_script = async {
        assert_eq!(
            peer.expect("guest-file-open").await,
            json!({"path": "/run/x/inbox", "mode": "r+"})
        );
        peer.reply(json!(7)).await;
        assert_eq!(
            peer.expect("guest-file-write").await,
            json!({"handle": 7, "buf-b64": BASE64.encode(b"{\"id\":1}\n")})
        );
        peer.reply(json!({"count": 9, "eof": false})).await;
        assert_eq!(
            peer.expect("guest-file-read").await,
            json!({"handle": 7, "count": 4096})
        );
        peer.reply(json!({"count": 0, "eof": true})).await;
        peer.expect("guest-file-read").await;
        peer.reply(json!({"count": 3, "buf-b64": BASE64.encode(b"ok\n"), "eof": true}))
            .await;
        // An agent that claims more bytes than it sent.
        peer.expect("guest-file-read").await;
        peer.reply(json!({"count": 5, "buf-b64": BASE64.encode(b"ok"), "eof": true}))
            .await;
        // A short write.
        peer.expect("guest-file-write").await;
        peer.reply(json!({"count": 1, "eof": false})).await;
        assert_eq!(peer.expect("guest-file-close").await, json!({"handle": 7}));
        peer.reply(json!({})).await;
        // A refusal is a complete reply: the next command needs no resync.
        peer.expect("guest-file-open").await;
        peer.send(
            format!(
                "{}\n",
                json!({"error": {"class": "GenericError", "desc": "failed to open file '/run/x/gone' (mode: 'r+'): No such file or directory"}})
            )
            .as_bytes(),
        )
        .await;
        peer.expect("guest-ping").await;
        peer.reply(json!({})).await;
    };
    let client_script = async {
        let file = client.file_open("/run/x/inbox", "r+").await.unwrap();
        client.file_write(file, b"{\"id\":1}\n").await.unwrap();
        let empty = client.file_read(file, 4096).await.unwrap();
        assert_eq!(
            empty,
            FileChunk {
                data: Vec::new(),
                eof: true
            }
        );
        let chunk = client.file_read(file, 4096).await.unwrap();
        assert_eq!(chunk.data, b"ok\n");
        let err = client.file_read(file, 4096).await.unwrap_err();
        assert!(err.to_string().contains("guest-file-read"), "{err}");
        let err = client.file_write(file, b"abc").await.unwrap_err();
        assert!(format!("{err:#}").contains("guest-file-write"), "{err:#}");
        client.file_close(file).await.unwrap();
        let err = client.file_open("/run/x/gone", "r+").await.unwrap_err();
        assert!(
            matches!(&err, QgaCommandError::Rejected { desc, .. } if desc.contains("No such file")),
            "{err:?}"
        );
        client.ping().await.unwrap();
    };
    tokio::join!(client_script, peer_script);
}

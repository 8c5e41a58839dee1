//! QMP protocol handling against a scripted peer on an in-memory pipe. The
//! peer stands in for QEMU at the socket boundary, which users never see;
//! the integration tests run the same client against real QEMU.

use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, DuplexStream};

use super::*;

const GREETING: &str = r#"{"QMP": {"version": {"qemu": {"micro": 2, "minor": 0, "major": 10}, "package": "Debian 1:10.0.2+ds-2+deb13u1~bpo12+1"}, "capabilities": ["oob"]}}"#;

/// The QEMU side of the pipe: reads commands, writes scripted lines.
struct ScriptedPeer {
    stream: BufReader<DuplexStream>,
}

impl ScriptedPeer {
    async fn send(&mut self, line: &str) {
        self.stream
            .get_mut()
            .write_all(format!("{line}\n").as_bytes())
            .await
            .unwrap();
    }

    async fn receive(&mut self) -> Value {
        let mut line = String::new();
        self.stream.read_line(&mut line).await.unwrap();
        serde_json::from_str(&line).unwrap_or_else(|error| panic!("bad command {line:?}: {error}"))
    }

    /// Reads one command, checks its name, and returns its id and arguments.
    async fn expect(&mut self, command: &str) -> (Value, Value) {
        let request = self.receive().await;
        assert_eq!(request["execute"], command, "unexpected request {request}");
        (request["id"].clone(), request["arguments"].clone())
    }

    async fn reply(&mut self, id: &Value, value: Value) {
        self.send(&json!({ "return": value, "id": id }).to_string())
            .await;
    }

    /// Greets and accepts `qmp_capabilities`.
    async fn greet(&mut self) {
        self.send(GREETING).await;
        let (id, arguments) = self.expect("qmp_capabilities").await;
        assert_eq!(arguments, Value::Null, "no capabilities are enabled");
        self.reply(&id, json!({})).await;
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

async fn connected() -> (QmpClient<DuplexStream>, ScriptedPeer) {
    let (stream, mut peer) = pipe();
    let (client, ()) = tokio::join!(QmpClient::handshake(stream), peer.greet());
    (client.unwrap(), peer)
}

#[tokio::test]
async fn handshake_reads_greeting_and_negotiates_against_scripted_peer() {
    let (client, _peer) = connected().await;
    let version = &client.greeting().version;
    assert_eq!((version.major, version.minor, version.micro), (10, 0, 2));
    assert_eq!(client.greeting().capabilities, vec!["oob".to_owned()]);
}

#[tokio::test]
async fn replies_are_matched_by_id_and_events_are_buffered_against_scripted_peer() {
    let (mut client, mut peer) = connected().await;
    let peer_script = async {
        let (id, arguments) = peer.expect("human-monitor-command").await;
        assert_eq!(arguments, json!({"command-line": "info version"}));
        peer.send(r#"{"timestamp": {"seconds": 1, "microseconds": 2}, "event": "STOP"}"#)
            .await;
        // A late reply to some earlier command must not be taken for ours.
        peer.send(r#"{"return": "stale", "id": 999}"#).await;
        peer.send(r#"{"return": "no id"}"#).await;
        peer.reply(&id, json!("10.0.2")).await;
    };
    let (result, ()) = tokio::join!(
        client.execute(
            "human-monitor-command",
            Some(json!({"command-line": "info version"}))
        ),
        peer_script
    );
    assert_eq!(result.unwrap(), json!("10.0.2"));
    // The STOP event arrived during the command and is waiting in the buffer:
    // no read is needed (the peer sends nothing more).
    let event = client
        .wait_event("STOP", Duration::from_millis(1))
        .await
        .unwrap();
    assert_eq!(
        event.timestamp,
        Some(EventTimestamp {
            seconds: 1,
            microseconds: 2
        })
    );
    assert!(client.take_events().is_empty());
}

#[tokio::test]
async fn ids_increase_with_every_command_against_scripted_peer() {
    let (mut client, mut peer) = connected().await;
    let peer_script = async {
        let (first, _) = peer.expect("stop").await;
        peer.reply(&first, json!({})).await;
        let (second, _) = peer.expect("cont").await;
        peer.reply(&second, json!({})).await;
        (first, second)
    };
    let client_script = async {
        client.stop().await.unwrap();
        client.cont().await.unwrap();
    };
    let ((), (first, second)) = tokio::join!(client_script, peer_script);
    assert!(second.as_u64().unwrap() > first.as_u64().unwrap());
}

#[tokio::test]
async fn rejected_commands_carry_class_and_desc_against_scripted_peer() {
    let (mut client, mut peer) = connected().await;
    let peer_script = async {
        let (id, arguments) = peer.expect("migrate").await;
        assert_eq!(arguments, json!({"uri": "file:/tmp/neg.bin"}));
        peer.send(
            &json!({"id": id, "error": {"class": "GenericError", "desc": "Migration requires multi-channel URIs (e.g. tcp)"}})
                .to_string(),
        )
        .await;
    };
    let uri = MigrationUri::file(Path::new("/tmp/neg.bin")).unwrap();
    let (result, ()) = tokio::join!(client.migrate(&uri), peer_script);
    let error = result.unwrap_err();
    assert_eq!(
        error.to_string(),
        "QMP command `migrate` failed: GenericError: Migration requires multi-channel URIs (e.g. tcp)"
    );
    assert!(
        matches!(error, QmpCommandError::Rejected { ref class, .. } if class == "GenericError")
    );
}

#[tokio::test(start_paused = true)]
async fn a_command_without_reply_times_out_and_its_late_reply_is_dropped_against_scripted_peer() {
    let (mut client, mut peer) = connected().await;
    let (result, (late_id, _)) = tokio::join!(
        client.execute_with_timeout("query-status", None, Duration::from_secs(2)),
        peer.expect("query-status")
    );
    let error = result.unwrap_err();
    assert_eq!(
        error.to_string(),
        "QEMU did not answer QMP command `query-status` within 2s"
    );

    // QEMU answers the timed-out command late; the next command must get its
    // own answer, not that one.
    let peer_script = async {
        peer.reply(&late_id, json!({"status": "paused", "running": false}))
            .await;
        let (id, _) = peer.expect("query-status").await;
        peer.reply(&id, json!({"status": "running", "running": true}))
            .await;
    };
    let (status, ()) = tokio::join!(client.query_status(), peer_script);
    assert_eq!(
        status.unwrap(),
        VmStatus {
            status: RunState::Running,
            running: true
        }
    );
}

#[tokio::test(start_paused = true)]
async fn waiting_for_an_event_that_never_comes_times_out_against_scripted_peer() {
    let (mut client, mut peer) = connected().await;
    peer.send(r#"{"event": "RESUME", "timestamp": {"seconds": 5, "microseconds": 0}}"#)
        .await;
    let error = client
        .wait_event("SHUTDOWN", Duration::from_secs(3))
        .await
        .unwrap_err();
    assert_eq!(error.to_string(), "QEMU sent no `SHUTDOWN` event within 3s");
    // The RESUME read meanwhile was kept.
    let events = client.take_events();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].name, "RESUME");
}

#[tokio::test(start_paused = true)]
async fn a_silent_peer_fails_the_greeting_in_time_against_scripted_peer() {
    let (stream, _peer) = pipe();
    let error = QmpClient::handshake(stream).await.unwrap_err();
    assert_eq!(
        error.to_string(),
        format!("QEMU sent no QMP greeting within {QMP_GREETING_TIMEOUT:?}")
    );
}

#[tokio::test]
async fn a_first_message_that_is_not_a_greeting_is_refused_against_scripted_peer() {
    let (stream, mut peer) = pipe();
    peer.send(r#"{"event": "STOP"}"#).await;
    let error = QmpClient::handshake(stream).await.unwrap_err();
    assert_eq!(
        error.to_string(),
        "QEMU's first QMP message is an event, not the greeting"
    );
}

#[tokio::test]
async fn a_refused_capability_negotiation_is_reported_against_scripted_peer() {
    let (stream, mut peer) = pipe();
    let peer_script = async {
        peer.send(GREETING).await;
        let (id, _) = peer.expect("qmp_capabilities").await;
        peer.send(
            &json!({"id": id, "error": {"class": "CommandNotFound", "desc": "Capabilities negotiation is already complete, command ignored"}})
                .to_string(),
        )
        .await;
    };
    let (result, ()) = tokio::join!(QmpClient::handshake(stream), peer_script);
    let error = result.unwrap_err();
    assert_eq!(error.to_string(), "QMP capability negotiation failed");
    let QmpHandshakeError::Capabilities { source } = error else {
        panic!("wrong variant: {error:?}");
    };
    assert!(
        matches!(source, QmpCommandError::Rejected { ref class, .. } if class == "CommandNotFound")
    );
}

#[tokio::test]
async fn a_closed_connection_fails_the_command_against_scripted_peer() {
    let (mut client, mut peer) = connected().await;
    let peer_script = async {
        peer.expect("stop").await;
        drop(peer);
    };
    let (result, ()) = tokio::join!(client.stop(), peer_script);
    let error = result.unwrap_err();
    assert_eq!(
        error.to_string(),
        "QEMU closed the QMP connection before answering `stop`"
    );
}

#[tokio::test]
async fn quit_takes_a_closed_connection_as_success_against_scripted_peer() {
    let (mut client, mut peer) = connected().await;
    let peer_script = async {
        peer.expect("quit").await;
        peer.send(r#"{"event": "SHUTDOWN", "data": {"guest": false, "reason": "host-qmp-quit"}}"#)
            .await;
        drop(peer);
    };
    let (result, ()) = tokio::join!(client.quit(), peer_script);
    result.unwrap();
    let event = client
        .wait_event("SHUTDOWN", Duration::from_millis(1))
        .await
        .unwrap();
    assert_eq!(event.data["reason"], "host-qmp-quit");
}

#[tokio::test]
async fn a_malformed_line_is_reported_with_the_command_against_scripted_peer() {
    let (mut client, mut peer) = connected().await;
    let peer_script = async {
        peer.expect("cont").await;
        peer.send("{oops").await;
    };
    let (result, ()) = tokio::join!(client.cont(), peer_script);
    let error = result.unwrap_err();
    assert_eq!(
        error.to_string(),
        "QEMU sent a malformed QMP message during `cont`"
    );
    let QmpCommandError::Malformed { source, .. } = error else {
        panic!("wrong variant: {error:?}");
    };
    assert!(
        source.to_string().starts_with("line is not JSON: {oops"),
        "{source}"
    );
}

#[tokio::test(start_paused = true)]
async fn an_interrupted_write_makes_the_connection_unusable_against_scripted_peer() {
    let (stream, theirs) = tokio::io::duplex(256);
    let mut peer = ScriptedPeer {
        stream: BufReader::new(theirs),
    };
    let (client, ()) = tokio::join!(QmpClient::handshake(stream), peer.greet());
    let mut client = client.unwrap();
    // The peer stops reading, so a command larger than the pipe's buffer
    // cannot be written completely before the timeout.
    let big = json!({"command-line": "x".repeat(4096)});
    let error = client
        .execute_with_timeout("human-monitor-command", Some(big), Duration::from_secs(1))
        .await
        .unwrap_err();
    assert!(
        matches!(error, QmpCommandError::Timeout { .. }),
        "{error:?}"
    );
    let error = client.query_status().await.unwrap_err();
    assert_eq!(
        error.to_string(),
        "the QMP connection is unusable after an interrupted write; reconnect before sending `query-status`"
    );
}

#[tokio::test]
async fn typed_queries_decode_qemu_10_returns_against_scripted_peer() {
    let (mut client, mut peer) = connected().await;
    let peer_script = async {
        let (id, _) = peer.expect("query-version").await;
        peer.reply(
            &id,
            json!({"qemu": {"micro": 2, "minor": 0, "major": 10}, "package": "Debian 1:10.0.2+ds-2+deb13u1~bpo12+1"}),
        )
        .await;
        let (id, _) = peer.expect("query-kvm").await;
        peer.reply(&id, json!({"enabled": false, "present": true}))
            .await;
        let (id, _) = peer.expect("query-migrate").await;
        peer.reply(&id, json!({})).await;
        let (id, _) = peer.expect("query-migrate").await;
        peer.reply(
            &id,
            json!({"status": "completed", "total-time": 270, "ram": {"transferred": 404_000_000, "total": 1_073_741_824}}),
        )
        .await;
        let (id, _) = peer.expect("query-migrate").await;
        peer.reply(
            &id,
            json!({"status": "failed", "error-desc": "Cannot use compression with mapped-ram"}),
        )
        .await;
        let (id, _) = peer.expect("query-status").await;
        peer.reply(&id, json!({"status": "prelaunch", "running": false}))
            .await;
    };
    let client_script = async {
        let version = client.query_version().await.unwrap();
        assert_eq!(
            version.to_string(),
            "10.0.2 (Debian 1:10.0.2+ds-2+deb13u1~bpo12+1)"
        );
        assert_eq!(
            client.query_kvm().await.unwrap(),
            KvmInfo {
                enabled: false,
                present: true
            }
        );
        assert_eq!(
            client.query_migrate().await.unwrap().status,
            MigrationStatus::None
        );
        assert_eq!(
            client.query_migrate().await.unwrap(),
            MigrationInfo {
                status: MigrationStatus::Completed,
                total_time_ms: Some(270),
                ram_transferred_bytes: Some(404_000_000),
                error_desc: None,
            }
        );
        let failed = client.query_migrate().await.unwrap();
        assert_eq!(failed.status, MigrationStatus::Failed);
        assert_eq!(
            failed.error_desc.as_deref(),
            Some("Cannot use compression with mapped-ram")
        );
        assert_eq!(
            client.query_status().await.unwrap().status,
            RunState::Prelaunch
        );
    };
    tokio::join!(client_script, peer_script);
}

#[tokio::test]
async fn a_return_of_the_wrong_shape_names_the_command_against_scripted_peer() {
    let (mut client, mut peer) = connected().await;
    let peer_script = async {
        let (id, _) = peer.expect("query-status").await;
        peer.reply(&id, json!("running")).await;
    };
    let (result, ()) = tokio::join!(client.query_status(), peer_script);
    let error = result.unwrap_err();
    assert_eq!(
        error.to_string(),
        "QMP command `query-status` returned a value of an unexpected shape"
    );
}

#[tokio::test]
async fn migration_helpers_send_the_measured_qemu_10_arguments_against_scripted_peer() {
    let (mut client, mut peer) = connected().await;
    let peer_script = async {
        let (id, arguments) = peer.expect("migrate-set-capabilities").await;
        assert_eq!(
            arguments,
            json!({"capabilities": [
                {"capability": "mapped-ram", "state": true},
                {"capability": "multifd", "state": true},
                {"capability": "x-ignore-shared", "state": false}
            ]})
        );
        peer.reply(&id, json!({})).await;
        let (id, arguments) = peer.expect("migrate-set-parameters").await;
        assert_eq!(
            arguments,
            json!({"max-bandwidth": 68_719_476_736_u64, "multifd-channels": 2})
        );
        peer.reply(&id, json!({})).await;
        let (id, arguments) = peer.expect("migrate-incoming").await;
        assert_eq!(arguments, json!({"uri": "file:/snap/state.bin"}));
        peer.reply(&id, json!({})).await;
        let (id, arguments) = peer.expect("system_powerdown").await;
        assert_eq!(arguments, Value::Null);
        peer.reply(&id, json!({})).await;
    };
    let client_script = async {
        client
            .migrate_set_capabilities(&[
                (MigrationCapability::MappedRam, true),
                (MigrationCapability::Multifd, true),
                (MigrationCapability::XIgnoreShared, false),
            ])
            .await
            .unwrap();
        client
            .migrate_set_parameters(&MigrationParameters {
                max_bandwidth: Some(68_719_476_736),
                multifd_channels: Some(2),
                ..MigrationParameters::default()
            })
            .await
            .unwrap();
        client
            .migrate_incoming(&MigrationUri::file(Path::new("/snap/state.bin")).unwrap())
            .await
            .unwrap();
        client.system_powerdown().await.unwrap();
    };
    tokio::join!(client_script, peer_script);
}

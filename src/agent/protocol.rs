//! The pin protocol: versioned JSON messages between a pin agent (`pinsetter pin --join`) and the
//! control plane's WebSocket (`/pins/join`). Documented with one example each in
//! `docs/protocol.md`.
//!
//! Every frame is one JSON object with a `version` (this is version [`VERSION`]) and a `type`.
//! Decoding never panics: an unknown version, an unknown type or a malformed body is a
//! [`ProtocolError`], which the receiver answers with an `error` frame and a log line.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// The protocol version this build speaks. Version 2 added the node secret (`nodeSecret` in
/// `registered` and `register`): version 1 agents could not keep their names, so they are
/// refused with a clear error rather than half-supported.
pub const VERSION: u64 = 2;

pub use crate::cluster::agents::protocol::{Capacity, PodPhase, PodRef};

/// One container of a bound pod: what the agent must run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerSpec {
    pub name: String,
    pub image: String,
}

/// Messages from an agent to the control plane.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum AgentMessage {
    /// The first frame on a connection: who I am, what I offer, what I am already running (so a
    /// rejoining pin drops what was deleted while it was away).
    Register {
        node: String,
        capacity: Capacity,
        #[serde(default)]
        labels: BTreeMap<String, String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        token: Option<String>,
        #[serde(default)]
        pods: Vec<PodRef>,
        /// The agent's own socket address, shown when the server cannot see the peer's.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        address: Option<String>,
        /// The node secret from an earlier `registered`: without it, a name an agent already
        /// holds cannot be joined again.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        node_secret: Option<String>,
    },
    /// I am alive: renew my Lease.
    Heartbeat { seq: u64 },
    /// A pod's containers changed state.
    PodStatus {
        pod: PodRef,
        phase: PodPhase,
        #[serde(default, rename = "podIP", skip_serializing_if = "Option::is_none")]
        pod_ip: Option<String>,
    },
    /// A pod's containers have stopped (after `deletePod`): the pod may go.
    PodDeleted { pod: PodRef },
    /// I am shutting down: cordon me and evict my pods.
    Drain {},
    /// My pods are gone: remove my Node.
    Leave {},
}

/// Messages from the control plane to an agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum ServerMessage {
    /// Registration accepted: heartbeat this often; start and stop containers with these delays.
    /// `node_secret` comes with a first join only: the agent presents it to rejoin.
    Registered {
        node: String,
        session: u64,
        heartbeat_ms: u64,
        startup_ms: u64,
        termination_ms: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        node_secret: Option<String>,
    },
    /// A heartbeat reached the store (the agent measures the round trip).
    HeartbeatAck { seq: u64 },
    /// Run this pod.
    BindPod { pod: PodRef, containers: Vec<ContainerSpec> },
    /// Stop this pod's containers, then say `podDeleted`.
    DeletePod { pod: PodRef },
    /// The pin was knocked over in the game: go silent (stay up) until `resume`.
    StopHeartbeats { reason: String },
    /// The pinsetter stood the pin again: heartbeat and report as before.
    Resume {},
    /// Something was wrong; `fatal` means the connection closes and retrying will not help.
    Error { message: String, fatal: bool },
}

/// Why a frame could not be decoded.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ProtocolError {
    /// Not a JSON object at all.
    #[error("malformed frame: {0}")]
    Malformed(String),
    /// A `version` this build does not speak (or none).
    #[error("unsupported protocol version {found} (this build speaks version {VERSION})")]
    Version { found: String },
    /// A JSON object, the right version, but not a message we know.
    #[error("invalid message: {0}")]
    Invalid(String),
    /// A binary frame: the protocol is text only.
    #[error("binary frames are not part of the pin protocol (send JSON text)")]
    Binary,
}

/// Encodes a message with its `version`.
pub fn encode<M: Serialize>(message: &M) -> String {
    let mut value = serde_json::to_value(message).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut value {
        map.insert("version".into(), Value::from(VERSION));
    }
    value.to_string()
}

/// Decodes one text frame: checks the version, then the message.
pub fn decode<M: for<'de> Deserialize<'de>>(text: &str) -> Result<M, ProtocolError> {
    let mut value: Value = serde_json::from_str(text).map_err(|e| ProtocolError::Malformed(e.to_string()))?;
    let Value::Object(map) = &mut value else {
        return Err(ProtocolError::Malformed("a frame must be a JSON object".into()));
    };
    match map.remove("version") {
        Some(v) if v.as_u64() == Some(VERSION) => {}
        Some(v) => return Err(ProtocolError::Version { found: v.to_string() }),
        None => return Err(ProtocolError::Version { found: "none".into() }),
    }
    serde_json::from_value(value).map_err(|e| ProtocolError::Invalid(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_with_their_version() {
        let heartbeat = AgentMessage::Heartbeat { seq: 7 };
        let text = encode(&heartbeat);
        assert_eq!(text, r#"{"seq":7,"type":"heartbeat","version":2}"#);
        assert_eq!(decode::<AgentMessage>(&text), Ok(heartbeat));
        let status = AgentMessage::PodStatus {
            pod: PodRef { namespace: "default".into(), name: "web-1".into(), uid: "u1".into() },
            phase: PodPhase::Running,
            pod_ip: Some("10.245.0.2".into()),
        };
        assert!(encode(&status).contains(r#""podIP":"10.245.0.2""#));
        assert_eq!(decode::<AgentMessage>(&encode(&status)), Ok(status));
        let registered = ServerMessage::Registered {
            node: "a".into(),
            session: 1,
            heartbeat_ms: 500,
            startup_ms: 400,
            termination_ms: 300,
            node_secret: Some("c2VjcmV0".into()),
        };
        assert!(encode(&registered).contains(r#""heartbeatMs":500"#));
        assert!(encode(&registered).contains(r#""nodeSecret":"c2VjcmV0""#));
        assert_eq!(decode::<ServerMessage>(&encode(&registered)), Ok(registered));
    }

    #[test]
    fn unknown_versions_and_garbage_are_errors_not_panics() {
        assert!(matches!(
            decode::<AgentMessage>(r#"{"version":3,"type":"heartbeat","seq":1}"#),
            Err(ProtocolError::Version { .. })
        ));
        // Version 1 agents (no node secret) are told to upgrade, not half-served.
        let old = decode::<AgentMessage>(
            r#"{"version":1,"type":"register","node":"a","capacity":{"cpu":"1","memory":"1Gi","pods":1}}"#,
        );
        assert!(
            matches!(&old, Err(e @ ProtocolError::Version { .. }) if e.to_string().contains("this build speaks version 2"))
        );
        assert!(matches!(
            decode::<AgentMessage>(r#"{"type":"heartbeat","seq":1}"#),
            Err(ProtocolError::Version { .. })
        ));
        assert!(matches!(decode::<AgentMessage>("not json"), Err(ProtocolError::Malformed(_))));
        assert!(matches!(decode::<AgentMessage>("[1,2]"), Err(ProtocolError::Malformed(_))));
        assert!(matches!(decode::<AgentMessage>(r#"{"version":2,"type":"explode"}"#), Err(ProtocolError::Invalid(_))));
        assert!(matches!(
            decode::<AgentMessage>(r#"{"version":2,"type":"heartbeat"}"#),
            Err(ProtocolError::Invalid(_))
        ));
    }
}

//! `limit`/`continue` list pagination, as kube-apiserver does it: the continue token is opaque
//! to clients (base64url of upstream's `{"v","rv","start"}` JSON) and pins every page to the
//! resourceVersion the first page was served at, so the pages together are one consistent list.

use super::status::ApiError;
use crate::cluster::store::ObjectKey;
use axum::http::StatusCode;
use base64::Engine;
use serde::{Deserialize, Serialize};

/// The only token version this server writes or reads (upstream's).
const TOKEN_VERSION: &str = "meta.k8s.io/v1";

/// Where the next page starts: after `after`, as of resourceVersion `resource_version`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContinueToken {
    pub resource_version: u64,
    pub after: ObjectKey,
}

/// Upstream's token body (`storage.continueToken`).
#[derive(Serialize, Deserialize)]
struct Encoded {
    #[serde(rename = "v")]
    version: String,
    #[serde(rename = "rv")]
    resource_version: u64,
    /// The last key served, `namespace/name`, with upstream's trailing NUL ("the next key after").
    start: String,
}

impl ContinueToken {
    pub fn encode(&self) -> String {
        let encoded = Encoded {
            version: TOKEN_VERSION.into(),
            resource_version: self.resource_version,
            start: format!("{}/{}\0", self.after.namespace, self.after.name),
        };
        let json = serde_json::to_vec(&encoded).unwrap_or_default();
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
    }

    /// Decodes a client's token; a garbled one is a 400 worded as kube-apiserver's.
    pub fn decode(token: &str) -> Result<ContinueToken, ApiError> {
        let invalid =
            |why: String| ApiError::bad_request(format!("invalid continue token: continue key is not valid: {why}"));
        let bytes =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(token).map_err(|e| invalid(e.to_string()))?;
        let encoded: Encoded = serde_json::from_slice(&bytes).map_err(|e| invalid(e.to_string()))?;
        if encoded.version != TOKEN_VERSION {
            return Err(ApiError::bad_request(
                "invalid continue token: continue key is not valid: server does not recognize this encoded version",
            ));
        }
        if encoded.resource_version == 0 {
            return Err(invalid(format!("incorrect encoded start resourceVersion (version {TOKEN_VERSION})")));
        }
        let start = encoded.start.strip_suffix('\0').unwrap_or(&encoded.start);
        // Names hold no '/': the last one ends the namespace (a custom object's starts with its resource).
        let Some((namespace, name)) = start.rsplit_once('/').filter(|(_, name)| !name.is_empty()) else {
            return Err(invalid(format!("encoded start key empty (version {TOKEN_VERSION})")));
        };
        Ok(ContinueToken { resource_version: encoded.resource_version, after: ObjectKey::new(namespace, name) })
    }
}

/// 410 for a token older than the read view's window, as upstream answers one older than the
/// last compaction.
pub fn expired() -> ApiError {
    ApiError::new(
        StatusCode::GONE,
        "Expired",
        "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_garbled_ones_are_refused_as_upstream() {
        let token = ContinueToken { resource_version: 42, after: ObjectKey::new("default", "web-1") };
        assert_eq!(ContinueToken::decode(&token.encode()).unwrap(), token);
        let cluster = ContinueToken { resource_version: 7, after: ObjectKey::cluster("pin-3") };
        assert_eq!(ContinueToken::decode(&cluster.encode()).unwrap(), cluster);
        for (garbled, says) in [
            ("!!!", "continue key is not valid"),
            ("bm90IGpzb24", "continue key is not valid"),
            (
                &base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(r#"{"v":"x/v9","rv":3,"start":"a/b"}"#),
                "encoded version",
            ),
            (
                &base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .encode(r#"{"v":"meta.k8s.io/v1","rv":0,"start":"a/b"}"#),
                "resourceVersion",
            ),
            (
                &base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(r#"{"v":"meta.k8s.io/v1","rv":3,"start":""}"#),
                "start key empty",
            ),
        ] {
            let err = ContinueToken::decode(garbled).unwrap_err();
            assert_eq!(err.code, StatusCode::BAD_REQUEST, "{garbled}");
            assert!(
                err.message.starts_with("invalid continue token: ") && err.message.contains(says),
                "{}",
                err.message
            );
        }
    }
}

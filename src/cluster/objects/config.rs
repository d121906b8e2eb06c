//! `core/v1` ConfigMap and Secret: configuration a pod reads, plain and secret. Shapes, defaults,
//! validation and `kubectl get` cells as kube-apiserver has them (`pkg/apis/core/validation`,
//! `pkg/printers/internalversion`).

use super::meta::{FieldError, ObjectMeta};
use super::print::age;
use base64::Engine;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use compact_str::CompactString;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Value, json};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigMap {
    #[serde(default)]
    pub api_version: CompactString,
    #[serde(default)]
    pub kind: CompactString,
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// Once true, `data` and `binaryData` can never change (nor can this go back to false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub immutable: Option<bool>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub data: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub binary_data: BTreeMap<String, Bytes>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Secret {
    #[serde(default)]
    pub api_version: CompactString,
    #[serde(default)]
    pub kind: CompactString,
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub immutable: Option<bool>,
    /// Values are bytes, base64 in JSON.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub data: BTreeMap<String, Bytes>,
    /// Write-only: merged into `data` when decoded (see [`Secret::merge_string_data`]), never stored
    /// or returned.
    #[serde(default, skip_serializing)]
    pub string_data: BTreeMap<String, String>,
    /// `Opaque` unless a request names another (`kubernetes.io/tls`, ...).
    #[serde(default, rename = "type", skip_serializing_if = "String::is_empty")]
    pub type_: String,
}

impl Secret {
    pub const OPAQUE: &str = "Opaque";

    /// What upstream's decoder does to a v1 Secret: `stringData` entries overwrite `data`'s (as
    /// bytes), and `type` defaults to `Opaque`.
    pub fn merge_string_data(&mut self) {
        for (key, value) in std::mem::take(&mut self.string_data) {
            self.data.insert(key, Bytes(value.into_bytes()));
        }
        if self.type_.is_empty() {
            self.type_ = Secret::OPAQUE.into();
        }
    }
}

/// Bytes, written as base64 in JSON as Go's `[]byte` is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Bytes(pub Vec<u8>);

/// Go's `base64.StdEncoding` as `encoding/json` uses it: padding required, stray trailing bits
/// allowed.
const GO_BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::RequireCanonical)
        .with_decode_allow_trailing_bits(true),
);

impl Bytes {
    /// Decodes base64 as Go does, with Go's error text (`illegal base64 data at input byte 4`).
    pub fn from_base64(text: &str) -> Result<Bytes, String> {
        // Go skips line breaks inside base64.
        let text: String = text.chars().filter(|c| !matches!(c, '\r' | '\n')).collect();
        GO_BASE64.decode(&text).map(Bytes).map_err(|e| {
            let at = match e {
                base64::DecodeError::InvalidByte(at, _) | base64::DecodeError::InvalidLastSymbol(at, _) => at,
                // A short last quantum: Go reports where that quantum starts.
                base64::DecodeError::InvalidLength(len) => len - len % 4,
                base64::DecodeError::InvalidPadding => text.find('=').unwrap_or(text.len()),
            };
            format!("illegal base64 data at input byte {at}")
        })
    }
}

impl Serialize for Bytes {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&GO_BASE64.encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Bytes, D::Error> {
        let text = String::deserialize(deserializer)?;
        Bytes::from_base64(&text).map_err(serde::de::Error::custom)
    }
}

/// Upstream's `MaxSecretSize`: a ConfigMap's or Secret's values together, 1 MiB.
pub const MAX_DATA_BYTES: usize = 1024 * 1024;

const IMMUTABLE: &str = "Forbidden: field is immutable when `immutable` is set";

/// Upstream's `IsConfigMapKey`: the rule for ConfigMap and Secret keys (they become file names).
fn validate_key(field: &str, key: &str, errors: &mut Vec<FieldError>) {
    let mut invalid = |message: &str| {
        errors.push(FieldError::new(format!("{field}[{key}]"), format!("Invalid value: {key:?}: {message}")));
    };
    if key.len() > 253 {
        invalid("must be no more than 253 characters");
    }
    if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')) {
        invalid(
            "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')",
        );
    }
    match key {
        "." => invalid("must not be '.'"),
        ".." => invalid("must not be '..'"),
        _ if key.starts_with("..") => invalid("must not start with '..'"),
        _ => {}
    }
}

fn too_long(field: &str, total: usize, errors: &mut Vec<FieldError>) {
    if total > MAX_DATA_BYTES {
        errors.push(FieldError::new(field, format!("Too long: may not be more than {MAX_DATA_BYTES} bytes")));
    }
}

fn is_immutable(immutable: Option<bool>) -> bool {
    immutable == Some(true)
}

pub fn validate_config_map(cm: &ConfigMap, errors: &mut Vec<FieldError>) {
    for key in cm.data.keys() {
        validate_key("data", key, errors);
        if cm.binary_data.contains_key(key) {
            errors.push(FieldError::new(
                format!("data[{key}]"),
                format!("Invalid value: {key:?}: duplicate of key present in binaryData"),
            ));
        }
    }
    for key in cm.binary_data.keys() {
        validate_key("binaryData", key, errors);
    }
    let total =
        cm.data.values().map(String::len).sum::<usize>() + cm.binary_data.values().map(|b| b.0.len()).sum::<usize>();
    too_long("", total, errors);
}

pub fn validate_config_map_update(new: &ConfigMap, old: &ConfigMap, errors: &mut Vec<FieldError>) {
    if is_immutable(old.immutable) {
        if !is_immutable(new.immutable) {
            errors.push(FieldError::new("immutable", IMMUTABLE));
        }
        if new.data != old.data {
            errors.push(FieldError::new("data", IMMUTABLE));
        }
        if new.binary_data != old.binary_data {
            errors.push(FieldError::new("binaryData", IMMUTABLE));
        }
    }
}

pub fn validate_secret(secret: &Secret, errors: &mut Vec<FieldError>) {
    for key in secret.data.keys() {
        validate_key("data", key, errors);
    }
    too_long("data", secret.data.values().map(|b| b.0.len()).sum(), errors);
    // The well-known types' required keys.
    let required = |key: &str, errors: &mut Vec<FieldError>| {
        if !secret.data.contains_key(key) {
            errors.push(FieldError::new(format!("data[{key}]"), "Required value"));
        }
    };
    match secret.type_.as_str() {
        "kubernetes.io/tls" => {
            required("tls.crt", errors);
            required("tls.key", errors);
        }
        "kubernetes.io/ssh-auth" => required("ssh-privatekey", errors),
        "kubernetes.io/dockerconfigjson" => required(".dockerconfigjson", errors),
        "kubernetes.io/dockercfg" => required(".dockercfg", errors),
        "kubernetes.io/basic-auth"
            if !secret.data.contains_key("username") && !secret.data.contains_key("password") =>
        {
            required("username", errors);
            required("password", errors);
        }
        _ => {}
    }
}

pub fn validate_secret_update(new: &Secret, old: &Secret, errors: &mut Vec<FieldError>) {
    if new.type_ != old.type_ {
        errors.push(FieldError::new("type", format!("Invalid value: {:?}: field is immutable", new.type_)));
    }
    if is_immutable(old.immutable) {
        if !is_immutable(new.immutable) {
            errors.push(FieldError::new("immutable", IMMUTABLE));
        }
        if new.data != old.data {
            errors.push(FieldError::new("data", IMMUTABLE));
        }
    }
}

/// `kubectl get configmaps`: NAME, DATA (keys in `data` and `binaryData`), AGE.
pub fn config_map_cells(cm: &ConfigMap, now: crate::clock::Reading) -> Vec<Value> {
    vec![
        json!(cm.metadata.name),
        json!(cm.data.len() + cm.binary_data.len()),
        json!(age(cm.metadata.creation_timestamp.as_deref(), now)),
    ]
}

/// `kubectl get secrets`: NAME, TYPE, DATA, AGE.
pub fn secret_cells(secret: &Secret, now: crate::clock::Reading) -> Vec<Value> {
    vec![
        json!(secret.metadata.name),
        json!(secret.type_),
        json!(secret.data.len()),
        json!(age(secret.metadata.creation_timestamp.as_deref(), now)),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_decodes_as_go_does_and_fails_with_gos_message() {
        assert_eq!(Bytes::from_base64("YWJj").unwrap(), Bytes(b"abc".to_vec()));
        assert_eq!(Bytes::from_base64("YQ==").unwrap(), Bytes(b"a".to_vec()));
        assert_eq!(Bytes::from_base64("YW\nJj").unwrap(), Bytes(b"abc".to_vec()));
        assert_eq!(Bytes::from_base64("YWJ!").unwrap_err(), "illegal base64 data at input byte 3");
        assert_eq!(Bytes::from_base64("YWJjZ").unwrap_err(), "illegal base64 data at input byte 4");
        assert_eq!(serde_json::to_value(Bytes(b"abc".to_vec())).unwrap(), json!("YWJj"));
    }

    #[test]
    fn string_data_merges_into_data_and_type_defaults_to_opaque() {
        let mut secret: Secret =
            serde_json::from_value(json!({"data": {"a": "b2xk", "b": "Yg=="}, "stringData": {"a": "new"}})).unwrap();
        secret.merge_string_data();
        assert_eq!(secret.data["a"], Bytes(b"new".to_vec()));
        assert_eq!(secret.data["b"], Bytes(b"b".to_vec()));
        assert!(secret.string_data.is_empty());
        assert_eq!(secret.type_, "Opaque");
        let written = serde_json::to_value(&secret).unwrap();
        assert_eq!(
            written,
            json!({"apiVersion": "", "kind": "", "metadata": {}, "data": {"a": "bmV3", "b": "Yg=="}, "type": "Opaque"})
        );
    }

    #[test]
    fn an_immutable_config_map_keeps_its_data_but_not_its_labels() {
        use crate::cluster::store::{ObjectKey, Store, StoreError};
        let mut store = Store::new(1);
        let frozen = ConfigMap {
            metadata: ObjectMeta::named("frozen"),
            data: [("a".to_string(), "b".to_string())].into(),
            immutable: Some(true),
            ..ConfigMap::default()
        };
        store.create(frozen, crate::clock::Millis(0)).unwrap();
        let key = ObjectKey::new("default", "frozen");
        let err = store.modify::<ConfigMap>(&key, |cm| drop(cm.data.insert("a".into(), "c".into()))).unwrap_err();
        assert!(matches!(err, StoreError::Invalid { .. }));
        assert_eq!(
            err.to_string(),
            "ConfigMap \"frozen\" is invalid: data: Forbidden: field is immutable when `immutable` is set"
        );
        let err = store.modify::<ConfigMap>(&key, |cm| cm.immutable = Some(false)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "ConfigMap \"frozen\" is invalid: immutable: Forbidden: field is immutable when `immutable` is set"
        );
        assert_eq!(store.get::<ConfigMap>(&key).unwrap().data["a"], "b");
        let labelled =
            store.modify::<ConfigMap>(&key, |cm| drop(cm.metadata.labels.insert("x".into(), "y".into()))).unwrap();
        assert_eq!(labelled.metadata.labels["x"], "y");
    }

    #[test]
    fn a_secrets_type_cannot_change_and_immutable_data_stays() {
        use crate::cluster::store::{ObjectKey, Store};
        let mut store = Store::new(1);
        let mut secret = Secret {
            metadata: ObjectMeta::named("s"),
            data: [("a".to_string(), Bytes(b"1".to_vec()))].into(),
            immutable: Some(true),
            ..Secret::default()
        };
        secret.merge_string_data();
        store.create(secret, crate::clock::Millis(0)).unwrap();
        let key = ObjectKey::new("default", "s");
        let err = store
            .modify::<Secret>(&key, |s| {
                s.type_ = "kubernetes.io/tls".into();
                s.data.clear();
            })
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "Secret \"s\" is invalid: type: Invalid value: \"kubernetes.io/tls\": field is immutable, data: Forbidden: field is immutable when `immutable` is set, data[tls.crt]: Required value, data[tls.key]: Required value"
        );
    }

    #[test]
    fn keys_follow_upstreams_config_key_rule() {
        let mut errors = Vec::new();
        let cm = ConfigMap {
            data: [("ok.key_1-x", ""), ("bad key", ""), ("..x", ""), ("dup", "")]
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .into(),
            binary_data: [("dup".to_string(), Bytes::default())].into(),
            ..ConfigMap::default()
        };
        validate_config_map(&cm, &mut errors);
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["data[..x]", "data[bad key]", "data[dup]"]);
        assert_eq!(errors[0].message, "Invalid value: \"..x\": must not start with '..'");
        assert!(errors[1].message.contains("a valid config key must consist of alphanumeric characters"));
        assert_eq!(errors[2].message, "Invalid value: \"dup\": duplicate of key present in binaryData");
    }
}

//! `core/v1` ServiceAccount: the identity a workload (or a script holding one of its tokens)
//! acts as. Tokens are not stored: the TokenRequest API (`src/api/auth.rs`) signs them on demand.

use super::event::ObjectReference;
use super::meta::ObjectMeta;
use super::print::age;
use compact_str::CompactString;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceAccount {
    #[serde(default)]
    pub api_version: CompactString,
    #[serde(default)]
    pub kind: CompactString,
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// Legacy token Secrets; kept for round trips (nothing here creates them any more, as
    /// upstream stopped doing in 1.24).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<ObjectReference>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub image_pull_secrets: Vec<LocalObjectReference>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub automount_service_account_token: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LocalObjectReference {
    #[serde(default)]
    pub name: String,
}

impl ServiceAccount {
    /// The account every namespace gets (upstream's serviceaccounts-controller makes it).
    pub const DEFAULT: &str = "default";

    /// The user name its tokens authenticate as: `system:serviceaccount:NS:NAME`.
    pub fn username(namespace: &str, name: &str) -> String {
        format!("system:serviceaccount:{namespace}:{name}")
    }
}

/// `kubectl get serviceaccounts`: NAME, SECRETS, AGE.
pub fn service_account_cells(sa: &ServiceAccount, now: crate::clock::Reading) -> Vec<Value> {
    vec![json!(sa.metadata.name), json!(sa.secrets.len()), json!(age(sa.metadata.creation_timestamp.as_deref(), now))]
}

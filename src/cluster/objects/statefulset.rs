//! `apps/v1` StatefulSet: pods with stable names (`db-0`, `db-1`) and a claim each from
//! `volumeClaimTemplates`, started and stopped in order. Shapes and `kubectl get` cells as
//! upstream's; fields Pinsetter does not model are kept whole (`extra`).

use super::meta::{FieldError, LabelSelector, ObjectMeta};
use super::pod::PodTemplateSpec;
use super::print::age;
use super::storage::{PersistentVolumeClaim, Unmodeled};
use crate::clock::Reading;
use compact_str::CompactString;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatefulSet {
    #[serde(default)]
    pub api_version: CompactString,
    #[serde(default)]
    pub kind: CompactString,
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: StatefulSetSpec,
    #[serde(default)]
    pub status: StatefulSetStatus,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatefulSetSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    #[serde(default)]
    pub selector: LabelSelector,
    #[serde(default)]
    pub template: PodTemplateSpec,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub service_name: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volume_claim_templates: Vec<PersistentVolumeClaim>,
    /// `OrderedReady` (upstream's default) or `Parallel`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_management_policy: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_strategy: Option<StatefulSetUpdateStrategy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision_history_limit: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_ready_seconds: Option<i32>,
    /// persistentVolumeClaimRetentionPolicy, ordinals, ... kept whole.
    #[serde(flatten)]
    pub extra: Unmodeled,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatefulSetUpdateStrategy {
    /// `RollingUpdate` (upstream's default) or `OnDelete`.
    #[serde(default, rename = "type", skip_serializing_if = "String::is_empty")]
    pub type_: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rolling_update: Option<Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatefulSetStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    #[serde(default)]
    pub replicas: i32,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub ready_replicas: i32,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub current_replicas: i32,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub updated_replicas: i32,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub available_replicas: i32,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub current_revision: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub update_revision: String,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub collision_count: i32,
}

fn is_zero(n: &i32) -> bool {
    *n == 0
}

impl StatefulSet {
    pub const ORDERED_READY: &str = "OrderedReady";
    pub const PARALLEL: &str = "Parallel";
    pub const ON_DELETE: &str = "OnDelete";
    pub const ROLLING_UPDATE: &str = "RollingUpdate";
    /// The label upstream puts on each pod: its name, so a Service can pick one pod.
    pub const POD_NAME_LABEL: &str = "statefulset.kubernetes.io/pod-name";
    /// The label upstream puts on each pod (and the pod's revision hash).
    pub const REVISION_LABEL: &str = "controller-revision-hash";
    /// The ordinal label (apps.kubernetes.io/pod-index), as upstream since 1.28.
    pub const POD_INDEX_LABEL: &str = "apps.kubernetes.io/pod-index";

    pub fn parallel(&self) -> bool {
        self.spec.pod_management_policy.as_deref() == Some(StatefulSet::PARALLEL)
    }

    pub fn on_delete(&self) -> bool {
        self.spec.update_strategy.as_ref().is_some_and(|s| s.type_ == StatefulSet::ON_DELETE)
    }

    /// `db-0`: the pod of this ordinal.
    pub fn pod_name(&self, ordinal: usize) -> String {
        format!("{}-{ordinal}", self.metadata.name)
    }

    /// `data-db-0`: the claim of template `template` for the pod of this ordinal.
    pub fn claim_name(&self, template: &str, ordinal: usize) -> String {
        format!("{template}-{}-{ordinal}", self.metadata.name)
    }

    /// The ordinal of one of this set's pods by its name, if it is one.
    pub fn ordinal_of(&self, pod_name: &str) -> Option<usize> {
        let suffix = pod_name.strip_prefix(self.metadata.name.as_str())?.strip_prefix('-')?;
        if suffix.is_empty() || (suffix.len() > 1 && suffix.starts_with('0')) {
            return None;
        }
        suffix.parse().ok()
    }

    /// Upstream's defaults: OrderedReady, RollingUpdate, revisionHistoryLimit 10, one replica.
    pub fn set_defaults(&mut self) {
        self.spec.replicas.get_or_insert(1);
        self.spec.pod_management_policy.get_or_insert_with(|| StatefulSet::ORDERED_READY.into());
        let strategy = self.spec.update_strategy.get_or_insert_with(Default::default);
        if strategy.type_.is_empty() {
            strategy.type_ = StatefulSet::ROLLING_UPDATE.into();
        }
        if strategy.type_ == StatefulSet::ROLLING_UPDATE && strategy.rolling_update.is_none() {
            strategy.rolling_update = Some(json!({"partition": 0}));
        }
        self.spec.revision_history_limit.get_or_insert(10);
        for template in &mut self.spec.volume_claim_templates {
            // As kube-apiserver returns them: each template typed as the claim it becomes.
            template.api_version = "v1".into();
            template.kind = "PersistentVolumeClaim".into();
            template.spec.volume_mode.get_or_insert_with(|| "Filesystem".into());
        }
    }
}

pub fn validate(sts: &StatefulSet, errors: &mut Vec<FieldError>) {
    super::validate_workload(sts.spec.replicas, &sts.spec.selector, &sts.spec.template, errors);
    if let Some(policy) = sts.spec.pod_management_policy.as_deref()
        && ![StatefulSet::ORDERED_READY, StatefulSet::PARALLEL].contains(&policy)
    {
        errors.push(FieldError::new(
            "spec.podManagementPolicy",
            format!("Unsupported value: {policy:?}: supported values: \"OrderedReady\", \"Parallel\""),
        ));
    }
    if let Some(strategy) = &sts.spec.update_strategy
        && ![StatefulSet::ROLLING_UPDATE, StatefulSet::ON_DELETE].contains(&strategy.type_.as_str())
    {
        errors.push(FieldError::new(
            "spec.updateStrategy.type",
            format!("Unsupported value: {:?}: supported values: \"OnDelete\", \"RollingUpdate\"", strategy.type_),
        ));
    }
    for (i, template) in sts.spec.volume_claim_templates.iter().enumerate() {
        if template.metadata.name.is_empty() {
            errors.push(FieldError::new(format!("spec.volumeClaimTemplates[{i}].metadata.name"), "Required value"));
        }
        let mut inner = Vec::new();
        super::storage::validate_persistent_volume_claim(template, &mut inner);
        errors.extend(
            inner
                .into_iter()
                .map(|e| FieldError::new(format!("spec.volumeClaimTemplates[{i}].{}", e.field), e.message)),
        );
    }
}

/// Upstream forbids changing anything but replicas, template, updateStrategy, ordinals,
/// minReadySeconds and the claim retention policy.
pub fn validate_update(sts: &StatefulSet, old: &StatefulSet, errors: &mut Vec<FieldError>) {
    let fixed = sts.spec.selector != old.spec.selector
        || sts.spec.service_name != old.spec.service_name
        || sts.spec.volume_claim_templates != old.spec.volume_claim_templates
        || sts.spec.pod_management_policy != old.spec.pod_management_policy;
    if fixed {
        errors.push(FieldError::new(
            "spec",
            "Forbidden: updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden",
        ));
    }
}

pub fn cells(sts: &StatefulSet, now: Reading) -> Vec<Value> {
    let containers = &sts.spec.template.spec.containers;
    vec![
        json!(sts.metadata.name),
        json!(format!("{}/{}", sts.status.ready_replicas, sts.spec.replicas.unwrap_or(1))),
        json!(age(sts.metadata.creation_timestamp.as_deref(), now)),
        json!(containers.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(",")),
        json!(containers.iter().map(|c| c.image.as_str()).collect::<Vec<_>>().join(",")),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinals_are_read_back_only_from_this_set_s_pod_names() {
        let sts = StatefulSet { metadata: ObjectMeta::named("db"), ..Default::default() };
        assert_eq!(sts.pod_name(2), "db-2");
        assert_eq!(sts.claim_name("data", 2), "data-db-2");
        assert_eq!(sts.ordinal_of("db-2"), Some(2));
        assert_eq!(sts.ordinal_of("db-10"), Some(10));
        assert_eq!(sts.ordinal_of("db-01"), None);
        assert_eq!(sts.ordinal_of("dbx-1"), None);
        assert_eq!(sts.ordinal_of("db-"), None);
        assert_eq!(sts.ordinal_of("db-web-1"), None);
    }
}

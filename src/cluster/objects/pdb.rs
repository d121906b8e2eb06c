//! `policy/v1` PodDisruptionBudget: how many of a set of pods must stay up through voluntary
//! disruptions (evictions). Shape, validation and `kubectl get` cells as kube-apiserver has them
//! (`pkg/apis/policy/validation`, `pkg/printers/internalversion`); the status is the disruption
//! controller's (`controllers/disruption.rs`), and the Eviction API reads and decrements it.

use super::meta::{FieldError, LabelSelector, ObjectMeta};
use super::print::age;
use super::service::IntOrString;
use compact_str::CompactString;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodDisruptionBudget {
    #[serde(default)]
    pub api_version: CompactString,
    #[serde(default)]
    pub kind: CompactString,
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: PodDisruptionBudgetSpec,
    #[serde(default)]
    pub status: PodDisruptionBudgetStatus,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodDisruptionBudgetSpec {
    /// An eviction is allowed if at least this many (or this share of the expected) pods stay
    /// available after it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_available: Option<IntOrString>,
    /// The pods it covers. Absent covers none; `{}` covers every pod in the namespace (policy/v1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<LabelSelector>,
    /// An eviction is allowed if at most this many (or this share) are unavailable after it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_unavailable: Option<IntOrString>,
    /// `IfHealthyBudget` (the default) or `AlwaysAllow`: when a not-Ready pod may be evicted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unhealthy_pod_eviction_policy: Option<String>,
    /// Fields this version does not model, returned as sent.
    #[serde(flatten)]
    pub unknown: BTreeMap<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodDisruptionBudgetStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Pods the Eviction API is deleting, by name → when it said so (RFC 3339): not counted as
    /// healthy until they are gone or the controller's timeout expires.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub disrupted_pods: BTreeMap<String, String>,
    #[serde(default)]
    pub disruptions_allowed: i32,
    #[serde(default)]
    pub current_healthy: i32,
    #[serde(default)]
    pub desired_healthy: i32,
    #[serde(default)]
    pub expected_pods: i32,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}

/// `metav1.Condition` (the newer condition shape: `message` and `lastTransitionTime` required).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    #[serde(rename = "type")]
    pub type_: String,
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    #[serde(default)]
    pub last_transition_time: String,
    #[serde(default)]
    pub reason: String,
    #[serde(default)]
    pub message: String,
}

/// Upstream's `policy.UnhealthyPodEvictionPolicyType` values.
pub const IF_HEALTHY_BUDGET: &str = "IfHealthyBudget";
pub const ALWAYS_ALLOW: &str = "AlwaysAllow";
/// The condition the controller keeps, and its reasons.
pub const DISRUPTION_ALLOWED: &str = "DisruptionAllowed";
pub const SUFFICIENT_PODS: &str = "SufficientPods";
pub const INSUFFICIENT_PODS: &str = "InsufficientPods";
pub const SYNC_FAILED: &str = "SyncFailed";

impl PodDisruptionBudget {
    /// Whether this budget covers a pod with `labels` (in its namespace): an absent selector
    /// covers nothing, an empty one everything, as policy/v1 defines.
    pub fn covers(&self, labels: &BTreeMap<String, String>) -> bool {
        self.spec.selector.as_ref().is_some_and(|s| s.matches(labels))
    }

    /// Upstream's `UpdateDisruptionAllowedCondition`: `DisruptionAllowed` follows
    /// `disruptionsAllowed`, its transition time moving only when its status does.
    pub fn set_disruption_allowed_condition(&mut self, now: &str) {
        let (status, reason) =
            if self.status.disruptions_allowed > 0 { ("True", SUFFICIENT_PODS) } else { ("False", INSUFFICIENT_PODS) };
        self.set_condition(status, reason, "", now);
    }

    /// `apimeta.SetStatusCondition` for `DisruptionAllowed`.
    pub fn set_condition(&mut self, status: &str, reason: &str, message: &str, now: &str) {
        let observed_generation = self.status.observed_generation;
        match self.status.conditions.iter_mut().find(|c| c.type_ == DISRUPTION_ALLOWED) {
            Some(c) => {
                if c.status != status {
                    c.status = status.into();
                    c.last_transition_time = now.into();
                }
                c.reason = reason.into();
                c.message = message.into();
                c.observed_generation = observed_generation;
            }
            None => self.status.conditions.push(Condition {
                type_: DISRUPTION_ALLOWED.into(),
                status: status.into(),
                observed_generation,
                last_transition_time: now.into(),
                reason: reason.into(),
                message: message.into(),
            }),
        }
    }

    /// Upstream's `ConditionsAreUpToDate`.
    pub fn conditions_are_up_to_date(&self) -> bool {
        let Some(c) = self.status.conditions.iter().find(|c| c.type_ == DISRUPTION_ALLOWED) else { return false };
        if self.status.observed_generation != self.metadata.generation {
            return false;
        }
        if self.status.disruptions_allowed > 0 {
            c.status == "True" && c.reason == SUFFICIENT_PODS
        } else {
            c.status == "False" && c.reason == INSUFFICIENT_PODS
        }
    }
}

/// `intstr.GetScaledValueFromIntOrPercent`: an int as is, a percentage of `total` rounded up
/// (`round_up`) or down. `None` for a string that is not a percentage (validation refuses it).
pub fn scaled_value(value: &IntOrString, total: i32, round_up: bool) -> Option<i32> {
    match value {
        IntOrString::Int(n) => Some(*n),
        IntOrString::String(s) => {
            let percent: i64 = s.strip_suffix('%')?.parse().ok()?;
            let scaled = percent * i64::from(total);
            let value = if round_up { (scaled + 99).div_euclid(100) } else { scaled.div_euclid(100) };
            i32::try_from(value).ok()
        }
    }
}

/// How kubectl and the printers show an IntOrString.
fn int_or_string_text(value: &IntOrString) -> String {
    match value {
        IntOrString::Int(n) => n.to_string(),
        IntOrString::String(s) => s.clone(),
    }
}

/// Go's `%#v` of an `intstr.IntOrString` value, as upstream's field errors print it.
fn go_int_or_string(value: &IntOrString) -> String {
    match value {
        IntOrString::Int(n) => format!("intstr.IntOrString{{Type:0, IntVal:{n}, StrVal:\"\"}}"),
        IntOrString::String(s) => format!("intstr.IntOrString{{Type:1, IntVal:0, StrVal:{s:?}}}"),
    }
}

/// Go's `%#v` of the internal spec, as upstream's "both set" error prints it. Upstream's shows
/// the pointers' addresses, which differ on every request; these are fixed placeholders.
fn go_spec(spec: &PodDisruptionBudgetSpec) -> String {
    let pointer = |set: bool, ty: &str, address: &str| {
        if set { format!("(*{ty})({address})") } else { format!("(*{ty})(nil)") }
    };
    format!(
        "policy.PodDisruptionBudgetSpec{{MinAvailable:{}, Selector:{}, MaxUnavailable:{}, UnhealthyPodEvictionPolicy:{}}}",
        pointer(spec.min_available.is_some(), "intstr.IntOrString", "0xc000010000"),
        pointer(spec.selector.is_some(), "v1.LabelSelector", "0xc000010020"),
        pointer(spec.max_unavailable.is_some(), "intstr.IntOrString", "0xc000010040"),
        pointer(spec.unhealthy_pod_eviction_policy.is_some(), "policy.UnhealthyPodEvictionPolicyType", "0xc000010060"),
    )
}

/// `ValidatePositiveIntOrPercent` and `IsNotMoreThan100Percent`.
fn validate_int_or_percent(field: &str, value: &IntOrString, errors: &mut Vec<FieldError>) {
    match value {
        IntOrString::Int(n) if *n < 0 => {
            errors.push(FieldError::new(field, format!("Invalid value: {n}: must be greater than or equal to 0")))
        }
        IntOrString::Int(_) => {}
        IntOrString::String(s) => {
            let percent = s.strip_suffix('%').filter(|d| !d.is_empty() && d.chars().all(|c| c.is_ascii_digit()));
            match percent {
                None => errors.push(FieldError::new(
                    field,
                    format!(
                        "Invalid value: {}: a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')",
                        go_int_or_string(value)
                    ),
                )),
                Some(digits) if digits.parse::<u64>().map_or(true, |p| p > 100) => errors.push(FieldError::new(
                    field,
                    format!("Invalid value: {}: must not be greater than 100%", go_int_or_string(value)),
                )),
                Some(_) => {}
            }
        }
    }
}

/// `ValidateLabelSelector`'s operator rules (what a selector must hold to select anything).
fn validate_selector(field: &str, selector: &LabelSelector, errors: &mut Vec<FieldError>) {
    for (i, req) in selector.match_expressions.iter().enumerate() {
        let at = format!("{field}.matchExpressions[{i}]");
        match req.operator.as_str() {
            "In" | "NotIn" if req.values.is_empty() => errors.push(FieldError::new(
                format!("{at}.values"),
                "Required value: must be specified when `operator` is 'In' or 'NotIn'",
            )),
            "Exists" | "DoesNotExist" if !req.values.is_empty() => errors.push(FieldError::new(
                format!("{at}.values"),
                "Forbidden: may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
            )),
            "In" | "NotIn" | "Exists" | "DoesNotExist" => {}
            other => errors.push(FieldError::new(
                format!("{at}.operator"),
                format!("Invalid value: {other:?}: not a valid selector operator"),
            )),
        }
    }
    super::meta::validate_labels(&format!("{field}.matchLabels"), &selector.match_labels, errors);
}

/// Upstream's `ValidatePodDisruptionBudgetSpec`.
pub fn validate(pdb: &PodDisruptionBudget, errors: &mut Vec<FieldError>) {
    let spec = &pdb.spec;
    if spec.min_available.is_some() && spec.max_unavailable.is_some() {
        errors.push(FieldError::new(
            "spec",
            format!("Invalid value: {}: minAvailable and maxUnavailable cannot be both set", go_spec(spec)),
        ));
    }
    if let Some(min) = &spec.min_available {
        validate_int_or_percent("spec.minAvailable", min, errors);
    }
    if let Some(max) = &spec.max_unavailable {
        validate_int_or_percent("spec.maxUnavailable", max, errors);
    }
    if let Some(selector) = &spec.selector {
        validate_selector("spec.selector", selector, errors);
    }
    if let Some(policy) = &spec.unhealthy_pod_eviction_policy
        && ![ALWAYS_ALLOW, IF_HEALTHY_BUDGET].contains(&policy.as_str())
    {
        errors.push(FieldError::new(
            "spec.unhealthyPodEvictionPolicy",
            format!("Unsupported value: {policy:?}: supported values: \"AlwaysAllow\", \"IfHealthyBudget\""),
        ));
    }
}

/// `kubectl get pdb`: NAME, MIN AVAILABLE, MAX UNAVAILABLE (`N/A` when unset), ALLOWED
/// DISRUPTIONS, AGE.
pub fn cells(pdb: &PodDisruptionBudget, now: crate::clock::Reading) -> Vec<Value> {
    let or_na = |v: &Option<IntOrString>| v.as_ref().map_or("N/A".to_string(), int_or_string_text);
    vec![
        json!(pdb.metadata.name),
        json!(or_na(&pdb.spec.min_available)),
        json!(or_na(&pdb.spec.max_unavailable)),
        json!(pdb.status.disruptions_allowed),
        json!(age(pdb.metadata.creation_timestamp.as_deref(), now)),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::objects::Object;

    fn decode(spec: Value) -> PodDisruptionBudget {
        let doc = json!({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "web"}, "spec": spec});
        match Object::from_value(doc).unwrap() {
            Object::PodDisruptionBudget(pdb) => std::sync::Arc::unwrap_or_clone(pdb),
            other => panic!("decoded as {other:?}"),
        }
    }

    fn errors(pdb: &PodDisruptionBudget) -> Vec<String> {
        let mut errors = Vec::new();
        validate(pdb, &mut errors);
        errors.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn both_min_and_max_is_refused_with_upstream_s_words() {
        let pdb = decode(json!({"minAvailable": 1, "maxUnavailable": 1, "selector": {"matchLabels": {"app": "web"}}}));
        assert_eq!(
            errors(&pdb),
            [
                "spec: Invalid value: policy.PodDisruptionBudgetSpec{MinAvailable:(*intstr.IntOrString)(0xc000010000), Selector:(*v1.LabelSelector)(0xc000010020), MaxUnavailable:(*intstr.IntOrString)(0xc000010040), UnhealthyPodEvictionPolicy:(*policy.UnhealthyPodEvictionPolicyType)(nil)}: minAvailable and maxUnavailable cannot be both set"
            ]
        );
    }

    #[test]
    fn values_percentages_and_policies_are_checked_as_upstream() {
        let pdb = decode(json!({"minAvailable": -1}));
        assert_eq!(errors(&pdb), ["spec.minAvailable: Invalid value: -1: must be greater than or equal to 0"]);
        let pdb = decode(json!({"maxUnavailable": "150%"}));
        assert_eq!(
            errors(&pdb),
            [
                "spec.maxUnavailable: Invalid value: intstr.IntOrString{Type:1, IntVal:0, StrVal:\"150%\"}: must not be greater than 100%"
            ]
        );
        let pdb = decode(json!({"minAvailable": "half"}));
        assert!(errors(&pdb)[0].contains("a valid percent string must be a numeric string followed by an ending '%'"));
        let pdb = decode(json!({"minAvailable": "50%", "unhealthyPodEvictionPolicy": "Sometimes"}));
        assert_eq!(
            errors(&pdb),
            [
                "spec.unhealthyPodEvictionPolicy: Unsupported value: \"Sometimes\": supported values: \"AlwaysAllow\", \"IfHealthyBudget\""
            ]
        );
        assert_eq!(errors(&decode(json!({"maxUnavailable": "100%", "selector": {}}))), Vec::<String>::new());
    }

    #[test]
    fn percentages_scale_as_intstr_does() {
        let half = IntOrString::String("50%".into());
        assert_eq!(scaled_value(&half, 3, true), Some(2));
        assert_eq!(scaled_value(&half, 3, false), Some(1));
        assert_eq!(scaled_value(&IntOrString::Int(2), 10, true), Some(2));
        assert_eq!(scaled_value(&IntOrString::String("x".into()), 3, true), None);
    }

    #[test]
    fn an_absent_selector_covers_nothing_and_an_empty_one_everything() {
        let labels: BTreeMap<String, String> = [("app".to_string(), "web".to_string())].into();
        assert!(!decode(json!({"minAvailable": 1})).covers(&labels));
        assert!(decode(json!({"minAvailable": 1, "selector": {}})).covers(&labels));
        assert!(decode(json!({"minAvailable": 1, "selector": {"matchLabels": {"app": "web"}}})).covers(&labels));
        assert!(!decode(json!({"minAvailable": 1, "selector": {"matchLabels": {"app": "db"}}})).covers(&labels));
    }

    #[test]
    fn fields_this_version_does_not_model_are_kept() {
        let pdb = decode(json!({"minAvailable": 1, "futureField": {"x": [1]}}));
        assert_eq!(serde_json::to_value(&pdb).unwrap()["spec"]["futureField"], json!({"x": [1]}));
    }
}

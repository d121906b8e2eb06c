//! `rbac.authorization.k8s.io/v1`: Role, ClusterRole, RoleBinding, ClusterRoleBinding. Shapes,
//! defaults, validation (`pkg/apis/rbac/validation`) and `kubectl get` cells as upstream has
//! them, plus the bootstrap policy kube-apiserver installs (`plugin/pkg/auth/authorizer/rbac/
//! bootstrappolicy`), trimmed to the resources Pinsetter serves. Evaluation is in `src/api/rbac.rs`.

use super::meta::{FieldError, LabelSelector, ObjectMeta};
use super::print::age;
use compact_str::CompactString;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// The API group of every kind here, and the `apiGroup` of a roleRef and of User/Group subjects.
pub const GROUP: &str = "rbac.authorization.k8s.io";

/// One permission: these verbs on these resources (or non-resource URLs).
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyRule {
    #[serde(default)]
    pub verbs: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub api_groups: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resource_names: Vec<String>,
    #[serde(default, rename = "nonResourceURLs", skip_serializing_if = "Vec::is_empty")]
    pub non_resource_urls: Vec<String>,
}

impl PolicyRule {
    /// A resource rule (the shape of upstream's `rbacv1helpers.NewRule(...).Groups(...).Resources(...)`).
    pub fn resources(verbs: &[&str], groups: &[&str], resources: &[&str]) -> PolicyRule {
        let strings = |s: &[&str]| s.iter().map(|s| s.to_string()).collect();
        PolicyRule {
            verbs: strings(verbs),
            api_groups: strings(groups),
            resources: strings(resources),
            ..Default::default()
        }
    }

    /// A non-resource rule (`/healthz`, `/api/*`).
    pub fn urls(verbs: &[&str], urls: &[&str]) -> PolicyRule {
        let strings = |s: &[&str]| s.iter().map(|s| s.to_string()).collect();
        PolicyRule { verbs: strings(verbs), non_resource_urls: strings(urls), ..Default::default() }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Role {
    #[serde(default)]
    pub api_version: CompactString,
    #[serde(default)]
    pub kind: CompactString,
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub rules: Vec<PolicyRule>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterRole {
    #[serde(default)]
    pub api_version: CompactString,
    #[serde(default)]
    pub kind: CompactString,
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// When set, the clusterrole-aggregation controller owns `rules`: the union of the rules of
    /// every ClusterRole these selectors match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aggregation_rule: Option<AggregationRule>,
    #[serde(default)]
    pub rules: Vec<PolicyRule>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AggregationRule {
    #[serde(default)]
    pub cluster_role_selectors: Vec<LabelSelector>,
}

/// Who a binding grants to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Subject {
    /// `User`, `Group` or `ServiceAccount`.
    #[serde(default)]
    pub kind: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_group: String,
    #[serde(default)]
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
}

impl Subject {
    pub fn group(name: &str) -> Subject {
        Subject { kind: "Group".into(), api_group: GROUP.into(), name: name.into(), namespace: String::new() }
    }
}

/// The role a binding grants.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleRef {
    #[serde(default)]
    pub api_group: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub name: String,
}

impl RoleRef {
    pub fn cluster_role(name: &str) -> RoleRef {
        RoleRef { api_group: GROUP.into(), kind: "ClusterRole".into(), name: name.into() }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleBinding {
    #[serde(default)]
    pub api_version: CompactString,
    #[serde(default)]
    pub kind: CompactString,
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subjects: Vec<Subject>,
    #[serde(default)]
    pub role_ref: RoleRef,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterRoleBinding {
    #[serde(default)]
    pub api_version: CompactString,
    #[serde(default)]
    pub kind: CompactString,
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subjects: Vec<Subject>,
    #[serde(default)]
    pub role_ref: RoleRef,
}

/// v1 defaulting (`SetDefaults_Subject`): User and Group subjects get the RBAC group.
fn default_subjects(subjects: &mut [Subject]) {
    for subject in subjects {
        if subject.api_group.is_empty() && matches!(subject.kind.as_str(), "User" | "Group") {
            subject.api_group = GROUP.into();
        }
    }
}

pub fn default_role_binding(binding: &mut RoleBinding) {
    default_subjects(&mut binding.subjects);
}

pub fn default_cluster_role_binding(binding: &mut ClusterRoleBinding) {
    default_subjects(&mut binding.subjects);
}

/// Upstream's `ValidateRBACName` (`path.IsValidPathSegmentName`): RBAC names may hold `:`
/// (`system:basic-user`), unlike most names.
pub fn validate_path_segment_name(field: &str, name: &str, errors: &mut Vec<FieldError>) {
    if name.is_empty() {
        errors.push(FieldError::new(field, "Required value: name or generateName is required"));
        return;
    }
    for message in path_segment_problems(name) {
        errors.push(FieldError::new(field, format!("Invalid value: {name:?}: {message}")));
    }
}

fn path_segment_problems(name: &str) -> Vec<&'static str> {
    match name {
        "." => return vec!["may not be '.'"],
        ".." => return vec!["may not be '..'"],
        _ => {}
    }
    let mut problems = Vec::new();
    if name.contains('/') {
        problems.push("may not contain '/'");
    }
    if name.contains('%') {
        problems.push("may not contain '%'");
    }
    problems
}

/// Go's `%#v` of a `[]string`, as `field.Invalid` prints one.
fn go_strings(values: &[String]) -> String {
    format!("[]string{{{}}}", values.iter().map(|v| format!("{v:?}")).collect::<Vec<_>>().join(", "))
}

/// Upstream's `ValidatePolicyRule`.
fn validate_rule(rule: &PolicyRule, namespaced: bool, at: &str, errors: &mut Vec<FieldError>) {
    if rule.verbs.is_empty() {
        errors.push(FieldError::new(format!("{at}.verbs"), "Required value: verbs must contain at least one value"));
    }
    if !rule.non_resource_urls.is_empty() {
        let urls = go_strings(&rule.non_resource_urls);
        if namespaced {
            errors.push(FieldError::new(
                format!("{at}.nonResourceURLs"),
                format!("Invalid value: {urls}: namespaced rules cannot apply to non-resource URLs"),
            ));
        }
        if !rule.api_groups.is_empty() || !rule.resources.is_empty() || !rule.resource_names.is_empty() {
            errors.push(FieldError::new(
                format!("{at}.nonResourceURLs"),
                format!("Invalid value: {urls}: rules cannot apply to both regular resources and non-resource URLs"),
            ));
        }
        return;
    }
    if rule.api_groups.is_empty() {
        errors.push(FieldError::new(
            format!("{at}.apiGroups"),
            "Required value: resource rules must supply at least one api group",
        ));
    }
    if rule.resources.is_empty() {
        errors.push(FieldError::new(
            format!("{at}.resources"),
            "Required value: resource rules must supply at least one resource",
        ));
    }
}

pub fn validate_role(role: &Role, errors: &mut Vec<FieldError>) {
    for (i, rule) in role.rules.iter().enumerate() {
        validate_rule(rule, true, &format!("rules[{i}]"), errors);
    }
}

pub fn validate_cluster_role(role: &ClusterRole, errors: &mut Vec<FieldError>) {
    for (i, rule) in role.rules.iter().enumerate() {
        validate_rule(rule, false, &format!("rules[{i}]"), errors);
    }
    if let Some(aggregation) = &role.aggregation_rule
        && aggregation.cluster_role_selectors.is_empty()
    {
        errors.push(FieldError::new(
            "aggregationRule.clusterRoleSelectors",
            "Required value: at least one clusterRoleSelector required if aggregationRule is non-nil",
        ));
    }
}

/// `Unsupported value: "x": supported values: "a", "b"`, as `field.NotSupported` words it.
fn not_supported(field: String, value: &str, supported: &[&str], errors: &mut Vec<FieldError>) {
    let supported = supported.iter().map(|s| format!("{s:?}")).collect::<Vec<_>>().join(", ");
    errors.push(FieldError::new(field, format!("Unsupported value: {value:?}: supported values: {supported}")));
}

fn validate_binding(
    role_ref: &RoleRef,
    subjects: &[Subject],
    ref_kinds: &[&str],
    namespaced: bool,
    errors: &mut Vec<FieldError>,
) {
    if role_ref.api_group != GROUP {
        not_supported("roleRef.apiGroup".into(), &role_ref.api_group, &[GROUP], errors);
    }
    if !ref_kinds.contains(&role_ref.kind.as_str()) {
        not_supported("roleRef.kind".into(), &role_ref.kind, ref_kinds, errors);
    }
    if role_ref.name.is_empty() {
        errors.push(FieldError::new("roleRef.name", "Required value"));
    } else {
        for message in path_segment_problems(&role_ref.name) {
            errors.push(FieldError::new("roleRef.name", format!("Invalid value: {:?}: {message}", role_ref.name)));
        }
    }
    for (i, subject) in subjects.iter().enumerate() {
        let at = format!("subjects[{i}]");
        if subject.name.is_empty() {
            errors.push(FieldError::new(format!("{at}.name"), "Required value"));
        }
        match subject.kind.as_str() {
            "ServiceAccount" => {
                if !subject.name.is_empty() {
                    super::meta::validate_dns_subdomain(&format!("{at}.name"), &subject.name, errors);
                }
                if !subject.api_group.is_empty() {
                    not_supported(format!("{at}.apiGroup"), &subject.api_group, &[""], errors);
                }
                if !namespaced && subject.namespace.is_empty() {
                    errors.push(FieldError::new(format!("{at}.namespace"), "Required value"));
                }
            }
            "User" | "Group" => {
                if subject.api_group != GROUP {
                    not_supported(format!("{at}.apiGroup"), &subject.api_group, &[GROUP], errors);
                }
            }
            other => not_supported(format!("{at}.kind"), other, &["ServiceAccount", "User", "Group"], errors),
        }
    }
}

pub fn validate_role_binding(binding: &RoleBinding, errors: &mut Vec<FieldError>) {
    validate_binding(&binding.role_ref, &binding.subjects, &["Role", "ClusterRole"], true, errors);
}

pub fn validate_cluster_role_binding(binding: &ClusterRoleBinding, errors: &mut Vec<FieldError>) {
    validate_binding(&binding.role_ref, &binding.subjects, &["ClusterRole"], false, errors);
}

/// A binding's roleRef is immutable: upstream's `cannot change roleRef`, with Go's `%#v` of it.
fn role_ref_unchanged(new: &RoleRef, old: &RoleRef, errors: &mut Vec<FieldError>) {
    if new != old {
        errors.push(FieldError::new(
            "roleRef",
            format!(
                "Invalid value: rbac.RoleRef{{APIGroup:{:?}, Kind:{:?}, Name:{:?}}}: cannot change roleRef",
                new.api_group, new.kind, new.name
            ),
        ));
    }
}

pub fn validate_role_binding_update(new: &RoleBinding, old: &RoleBinding, errors: &mut Vec<FieldError>) {
    role_ref_unchanged(&new.role_ref, &old.role_ref, errors);
}

pub fn validate_cluster_role_binding_update(
    new: &ClusterRoleBinding,
    old: &ClusterRoleBinding,
    errors: &mut Vec<FieldError>,
) {
    role_ref_unchanged(&new.role_ref, &old.role_ref, errors);
}

/// `kubectl get roles` / `clusterroles`: NAME, CREATED AT.
pub fn role_cells(role: &Role, _now: crate::clock::Reading) -> Vec<Value> {
    vec![json!(role.metadata.name), json!(role.metadata.creation_timestamp)]
}

pub fn cluster_role_cells(role: &ClusterRole, _now: crate::clock::Reading) -> Vec<Value> {
    vec![json!(role.metadata.name), json!(role.metadata.creation_timestamp)]
}

/// The Users, Groups and ServiceAccounts columns (`-o wide`); ServiceAccounts as `ns/name`.
fn subject_cells(subjects: &[Subject]) -> [Value; 3] {
    let names = |kind: &str| {
        subjects
            .iter()
            .filter(|s| s.kind == kind)
            .map(|s| if kind == "ServiceAccount" { format!("{}/{}", s.namespace, s.name) } else { s.name.clone() })
            .collect::<Vec<_>>()
            .join(", ")
    };
    [json!(names("User")), json!(names("Group")), json!(names("ServiceAccount"))]
}

/// `kubectl get rolebindings`: NAME, ROLE, AGE, and with `-o wide` USERS, GROUPS, SERVICEACCOUNTS.
pub fn role_binding_cells(binding: &RoleBinding, now: crate::clock::Reading) -> Vec<Value> {
    let [users, groups, accounts] = subject_cells(&binding.subjects);
    vec![
        json!(binding.metadata.name),
        json!(format!("{}/{}", binding.role_ref.kind, binding.role_ref.name)),
        json!(age(binding.metadata.creation_timestamp.as_deref(), now)),
        users,
        groups,
        accounts,
    ]
}

pub fn cluster_role_binding_cells(binding: &ClusterRoleBinding, now: crate::clock::Reading) -> Vec<Value> {
    let [users, groups, accounts] = subject_cells(&binding.subjects);
    vec![
        json!(binding.metadata.name),
        json!(format!("{}/{}", binding.role_ref.kind, binding.role_ref.name)),
        json!(age(binding.metadata.creation_timestamp.as_deref(), now)),
        users,
        groups,
        accounts,
    ]
}

/// The group the token file's legacy `viewer` role maps to; bound to `view` at bootstrap.
pub const VIEWERS_GROUP: &str = "pinsetter:viewers";
/// Upstream's privileged group: bound to `cluster-admin`, and allowed everything before RBAC
/// is asked (so deleting that binding cannot lock the cluster's admins out).
pub const MASTERS_GROUP: &str = "system:masters";
pub const AUTHENTICATED_GROUP: &str = "system:authenticated";

const READ: &[&str] = &["get", "list", "watch"];
const WRITE: &[&str] = &["create", "delete", "deletecollection", "patch", "update"];
const READ_WRITE: &[&str] = &["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"];
const AGGREGATE_TO: &str = "rbac.authorization.k8s.io/aggregate-to-";

fn bootstrap_meta(name: &str, labels: &[(&str, &str)]) -> ObjectMeta {
    let mut meta = ObjectMeta::named(name);
    meta.labels = labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    meta.labels.insert("kubernetes.io/bootstrapping".into(), "rbac-defaults".into());
    meta.annotations.insert("rbac.authorization.kubernetes.io/autoupdate".into(), "true".into());
    meta
}

fn aggregated(name: &str, labels: &[(&str, &str)], into: &str) -> ClusterRole {
    let selector = LabelSelector {
        match_labels: BTreeMap::from([(format!("{AGGREGATE_TO}{into}"), "true".into())]),
        ..Default::default()
    };
    ClusterRole {
        metadata: bootstrap_meta(name, labels),
        aggregation_rule: Some(AggregationRule { cluster_role_selectors: vec![selector] }),
        ..Default::default()
    }
}

fn plain(name: &str, labels: &[(&str, &str)], rules: Vec<PolicyRule>) -> ClusterRole {
    ClusterRole { metadata: bootstrap_meta(name, labels), rules, ..Default::default() }
}

/// The ClusterRoles kube-apiserver installs, as upstream's bootstrap policy writes them, with
/// the rules for resources Pinsetter does not serve left out. `admin`, `edit` and `view` are
/// aggregated (their rules filled in by the clusterrole-aggregation controller from the
/// `system:aggregate-to-*` roles, and `view` into `edit` into `admin`), as upstream.
pub fn bootstrap_cluster_roles() -> Vec<ClusterRole> {
    let rule = PolicyRule::resources;
    let true_ = "true";
    vec![
        plain("cluster-admin", &[], vec![rule(&["*"], &["*"], &["*"]), PolicyRule::urls(&["*"], &["*"])]),
        aggregated("admin", &[], "admin"),
        aggregated("edit", &[("rbac.authorization.k8s.io/aggregate-to-admin", true_)], "edit"),
        aggregated("view", &[("rbac.authorization.k8s.io/aggregate-to-edit", true_)], "view"),
        plain(
            "system:aggregate-to-admin",
            &[("rbac.authorization.k8s.io/aggregate-to-admin", true_)],
            vec![
                rule(READ, &[""], &["namespaces"]),
                rule(READ_WRITE, &[GROUP], &["rolebindings", "roles"]),
                rule(&["create"], &["authorization.k8s.io"], &["localsubjectaccessreviews"]),
            ],
        ),
        plain(
            "system:aggregate-to-edit",
            &[("rbac.authorization.k8s.io/aggregate-to-edit", true_)],
            vec![
                rule(&["impersonate"], &[""], &["serviceaccounts"]),
                rule(WRITE, &[""], &["pods", "pods/attach", "pods/exec", "pods/portforward", "pods/proxy"]),
                rule(&["create"], &[""], &["pods/eviction"]),
                rule(
                    WRITE,
                    &[""],
                    &[
                        "configmaps",
                        "events",
                        "persistentvolumeclaims",
                        "secrets",
                        "serviceaccounts",
                        "services",
                        "services/proxy",
                    ],
                ),
                rule(&["create"], &[""], &["serviceaccounts/token"]),
                rule(
                    WRITE,
                    &["apps"],
                    &[
                        "deployments",
                        "deployments/rollback",
                        "deployments/scale",
                        "replicasets",
                        "replicasets/scale",
                        "statefulsets",
                        "statefulsets/scale",
                    ],
                ),
                rule(WRITE, &["policy"], &["poddisruptionbudgets"]),
                rule(
                    READ,
                    &[""],
                    &["pods/attach", "pods/exec", "pods/portforward", "pods/proxy", "secrets", "services/proxy"],
                ),
            ],
        ),
        plain(
            "system:aggregate-to-view",
            &[("rbac.authorization.k8s.io/aggregate-to-view", true_)],
            vec![
                rule(
                    READ,
                    &[""],
                    &[
                        "configmaps",
                        "endpoints",
                        "persistentvolumeclaims",
                        "persistentvolumeclaims/status",
                        "pods",
                        "serviceaccounts",
                        "services",
                        "services/status",
                    ],
                ),
                rule(READ, &[""], &["events", "namespaces/status", "pods/log", "pods/status"]),
                rule(READ, &[""], &["namespaces"]),
                rule(
                    READ,
                    &["apps"],
                    &[
                        "deployments",
                        "deployments/scale",
                        "deployments/status",
                        "replicasets",
                        "replicasets/scale",
                        "replicasets/status",
                        "statefulsets",
                        "statefulsets/scale",
                        "statefulsets/status",
                    ],
                ),
                rule(READ, &["policy"], &["poddisruptionbudgets", "poddisruptionbudgets/status"]),
            ],
        ),
        plain(
            "system:basic-user",
            &[],
            vec![
                rule(&["create"], &["authorization.k8s.io"], &["selfsubjectaccessreviews", "selfsubjectrulesreviews"]),
                rule(&["create"], &["authentication.k8s.io"], &["selfsubjectreviews"]),
            ],
        ),
        plain(
            "system:discovery",
            &[],
            vec![PolicyRule::urls(
                &["get"],
                &[
                    "/api",
                    "/api/*",
                    "/apis",
                    "/apis/*",
                    "/healthz",
                    "/livez",
                    "/openapi",
                    "/openapi/*",
                    "/readyz",
                    "/version",
                    "/version/",
                ],
            )],
        ),
    ]
}

/// The ClusterRoleBindings kube-apiserver installs (plus Pinsetter's viewers, see
/// [`VIEWERS_GROUP`]): name, role, group.
pub fn bootstrap_cluster_role_bindings() -> Vec<ClusterRoleBinding> {
    [
        ("cluster-admin", "cluster-admin", MASTERS_GROUP),
        ("system:basic-user", "system:basic-user", AUTHENTICATED_GROUP),
        ("system:discovery", "system:discovery", AUTHENTICATED_GROUP),
        ("pinsetter:viewers", "view", VIEWERS_GROUP),
    ]
    .into_iter()
    .map(|(name, role, group)| ClusterRoleBinding {
        metadata: bootstrap_meta(name, &[]),
        subjects: vec![Subject::group(group)],
        role_ref: RoleRef::cluster_role(role),
        ..Default::default()
    })
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors_of(f: impl FnOnce(&mut Vec<FieldError>)) -> Vec<String> {
        let mut errors = Vec::new();
        f(&mut errors);
        errors.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn rules_are_refused_with_upstreams_messages() {
        let mut role = Role::default();
        role.rules.push(PolicyRule { verbs: vec![], ..Default::default() });
        role.rules.push(PolicyRule::urls(&["get"], &["/healthz"]));
        assert_eq!(
            errors_of(|e| validate_role(&role, e)),
            [
                "rules[0].verbs: Required value: verbs must contain at least one value",
                "rules[0].apiGroups: Required value: resource rules must supply at least one api group",
                "rules[0].resources: Required value: resource rules must supply at least one resource",
                "rules[1].nonResourceURLs: Invalid value: []string{\"/healthz\"}: namespaced rules cannot apply to non-resource URLs",
            ]
        );
        let cluster_role = ClusterRole { rules: vec![PolicyRule::urls(&["get"], &["/healthz"])], ..Default::default() };
        assert!(errors_of(|e| validate_cluster_role(&cluster_role, e)).is_empty());
    }

    #[test]
    fn bindings_are_refused_with_upstreams_messages() {
        let mut binding = ClusterRoleBinding {
            role_ref: RoleRef { api_group: "x".into(), kind: "Role".into(), name: String::new() },
            subjects: vec![
                Subject { kind: "ServiceAccount".into(), name: "sa".into(), ..Default::default() },
                Subject { kind: "Robot".into(), name: "r".into(), ..Default::default() },
            ],
            ..Default::default()
        };
        default_cluster_role_binding(&mut binding);
        assert_eq!(
            errors_of(|e| validate_cluster_role_binding(&binding, e)),
            [
                "roleRef.apiGroup: Unsupported value: \"x\": supported values: \"rbac.authorization.k8s.io\"",
                "roleRef.kind: Unsupported value: \"Role\": supported values: \"ClusterRole\"",
                "roleRef.name: Required value",
                "subjects[0].namespace: Required value",
                "subjects[1].kind: Unsupported value: \"Robot\": supported values: \"ServiceAccount\", \"User\", \"Group\"",
            ]
        );
        let mut user = RoleBinding {
            role_ref: RoleRef::cluster_role("view"),
            subjects: vec![Subject { kind: "User".into(), name: "alice".into(), ..Default::default() }],
            ..Default::default()
        };
        default_role_binding(&mut user);
        assert_eq!(user.subjects[0].api_group, GROUP, "v1 defaults a User's apiGroup");
        assert!(errors_of(|e| validate_role_binding(&user, e)).is_empty());
        let mut changed = user.clone();
        changed.role_ref.name = "edit".into();
        assert_eq!(
            errors_of(|e| validate_role_binding_update(&changed, &user, e)),
            [
                "roleRef: Invalid value: rbac.RoleRef{APIGroup:\"rbac.authorization.k8s.io\", Kind:\"ClusterRole\", Name:\"edit\"}: cannot change roleRef"
            ]
        );
    }

    #[test]
    fn rbac_names_may_hold_colons_but_not_slashes() {
        assert!(errors_of(|e| validate_path_segment_name("metadata.name", "system:basic-user", e)).is_empty());
        assert_eq!(
            errors_of(|e| validate_path_segment_name("metadata.name", "a/b%", e)),
            [
                "metadata.name: Invalid value: \"a/b%\": may not contain '/'",
                "metadata.name: Invalid value: \"a/b%\": may not contain '%'"
            ]
        );
    }

    #[test]
    fn the_bootstrap_policy_is_valid() {
        for role in bootstrap_cluster_roles() {
            assert!(errors_of(|e| validate_cluster_role(&role, e)).is_empty(), "{}", role.metadata.name);
        }
        for binding in bootstrap_cluster_role_bindings() {
            assert!(errors_of(|e| validate_cluster_role_binding(&binding, e)).is_empty(), "{}", binding.metadata.name);
        }
    }
}

//! RBAC against a reference (issue 14): random roles, cluster roles and bindings, and random
//! requests, decided by `pinsetter::api::rbac::authorize` and by a small evaluator written here
//! from the Kubernetes documentation's rules ("Using RBAC Authorization"), not from upstream's
//! code: permissions are additive grants, each cluster-wide (ClusterRoleBinding) or in one
//! namespace (RoleBinding, also when it names a ClusterRole); `*` matches any verb, group or
//! resource; `*/scale` any resource's scale; resourceNames limit a rule to requests naming one
//! of them; a non-resource URL pattern ending in `*` is a prefix.

use pinsetter::api::rbac::{Attributes, Policy, UserInfo, authorize};
use pinsetter::cluster::objects::rbac::{RoleRef, Subject};
use pinsetter::cluster::objects::{ClusterRole, ClusterRoleBinding, Object, ObjectMeta, PolicyRule, Role, RoleBinding};
use proptest::prelude::*;
use std::sync::Arc;

#[derive(Debug, Clone, Default)]
struct Lists {
    roles: Vec<Role>,
    cluster_roles: Vec<ClusterRole>,
    role_bindings: Vec<RoleBinding>,
    cluster_role_bindings: Vec<ClusterRoleBinding>,
}

/// Shared as the read view shares them (test-only copies into `Arc`s).
impl Policy for Lists {
    fn cluster_role_bindings(&self) -> Vec<Arc<Object>> {
        self.cluster_role_bindings.iter().map(|b| Arc::new(Object::from(b.clone()))).collect()
    }
    fn role_bindings(&self, namespace: &str) -> Vec<Arc<Object>> {
        self.role_bindings
            .iter()
            .filter(|b| b.metadata.namespace.as_deref() == Some(namespace))
            .map(|b| Arc::new(Object::from(b.clone())))
            .collect()
    }
    fn cluster_role(&self, name: &str) -> Option<Arc<Object>> {
        self.cluster_roles.iter().find(|r| r.metadata.name == name).map(|r| Arc::new(Object::from(r.clone())))
    }
    fn role(&self, namespace: &str, name: &str) -> Option<Arc<Object>> {
        self.roles
            .iter()
            .find(|r| r.metadata.name == name && r.metadata.namespace.as_deref() == Some(namespace))
            .map(|r| Arc::new(Object::from(r.clone())))
    }
}

// ---- The reference, from the documentation ----

/// Where a grant holds: everywhere, or in one namespace.
#[derive(Debug, Clone, PartialEq)]
enum Scope {
    Everywhere,
    Namespace(String),
}

fn is_subject(user: &UserInfo, subject: &Subject, binding_namespace: Option<&str>) -> bool {
    match subject.kind.as_str() {
        "User" => subject.name == user.name,
        "Group" => user.groups.contains(&subject.name),
        "ServiceAccount" => {
            let namespace = Some(subject.namespace.as_str()).filter(|n| !n.is_empty()).or(binding_namespace);
            namespace.is_some_and(|ns| user.name == format!("system:serviceaccount:{ns}:{}", subject.name))
        }
        _ => false,
    }
}

/// Every rule the user holds, with where it holds.
fn grants(policy: &Lists, user: &UserInfo) -> Vec<(Scope, PolicyRule)> {
    let mut out = Vec::new();
    for b in &policy.cluster_role_bindings {
        if b.subjects.iter().any(|s| is_subject(user, s, None))
            && let Some(role) = policy.cluster_roles.iter().find(|r| r.metadata.name == b.role_ref.name)
        {
            out.extend(role.rules.iter().map(|r| (Scope::Everywhere, r.clone())));
        }
    }
    for b in &policy.role_bindings {
        let ns = b.metadata.namespace.clone().unwrap_or_default();
        if !b.subjects.iter().any(|s| is_subject(user, s, Some(&ns))) {
            continue;
        }
        let rules: Vec<PolicyRule> = if b.role_ref.kind == "ClusterRole" {
            policy
                .cluster_roles
                .iter()
                .filter(|r| r.metadata.name == b.role_ref.name)
                .flat_map(|r| r.rules.clone())
                .collect()
        } else {
            policy
                .roles
                .iter()
                .filter(|r| r.metadata.name == b.role_ref.name && r.metadata.namespace.as_deref() == Some(&ns))
                .flat_map(|r| r.rules.clone())
                .collect()
        };
        out.extend(rules.into_iter().map(|r| (Scope::Namespace(ns.to_string()), r)));
    }
    out
}

fn any_or(list: &[String], value: &str) -> bool {
    list.iter().any(|x| x == "*" || x == value)
}

fn covers_resource(pattern: &str, resource: &str, subresource: &str) -> bool {
    match (pattern.split_once('/'), subresource.is_empty()) {
        (None, _) if pattern == "*" => true,
        (None, true) => pattern == resource,
        (None, false) => false,
        (Some((_, _)), true) => false,
        (Some((res, sub)), false) => (res == "*" || res == resource) && sub == subresource,
    }
}

fn covers_path(pattern: &str, path: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => path.starts_with(prefix),
        None => pattern == path,
    }
}

fn reference(policy: &Lists, user: &UserInfo, a: &Attributes) -> bool {
    grants(policy, user).into_iter().any(|(scope, rule)| {
        let in_scope = match &scope {
            Scope::Everywhere => true,
            // A namespaced grant never covers cluster-scoped or non-resource requests.
            Scope::Namespace(ns) => a.resource_request && *ns == a.namespace,
        };
        let verb = any_or(&rule.verbs, &a.verb);
        let what = if a.resource_request {
            any_or(&rule.api_groups, &a.api_group)
                && rule.resources.iter().any(|p| covers_resource(p, &a.resource, &a.subresource))
                && (rule.resource_names.is_empty() || rule.resource_names.contains(&a.name))
        } else {
            rule.non_resource_urls.iter().any(|p| covers_path(p, &a.path))
        };
        in_scope && verb && what
    })
}

// ---- Generators ----

fn pick(options: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop::sample::select(options).prop_map(str::to_string)
}

fn some_of(options: &'static [&'static str], min: usize) -> impl Strategy<Value = Vec<String>> {
    prop::sample::subsequence(options, min..=options.len().min(3))
        .prop_map(|v| v.into_iter().map(str::to_string).collect())
}

fn resource_rule() -> impl Strategy<Value = PolicyRule> {
    (
        some_of(&["get", "list", "create", "delete", "*", "*"], 1),
        some_of(&["", "apps", "*", "*"], 1),
        some_of(&["pods", "pods/log", "deployments", "deployments/scale", "nodes", "*", "*", "*/scale", "*/status"], 1),
        prop_oneof![2 => Just(vec![]), 1 => some_of(&["a", "b"], 1)],
    )
        .prop_map(|(verbs, api_groups, resources, resource_names)| PolicyRule {
            verbs,
            api_groups,
            resources,
            resource_names,
            non_resource_urls: vec![],
        })
}

fn url_rule() -> impl Strategy<Value = PolicyRule> {
    (some_of(&["get", "post", "*"], 1), some_of(&["/healthz", "/api", "/api/*", "/apis/*", "*"], 1))
        .prop_map(|(verbs, non_resource_urls)| PolicyRule { verbs, non_resource_urls, ..Default::default() })
}

fn subject() -> impl Strategy<Value = Subject> {
    prop_oneof![
        pick(&["alice", "bob"]).prop_map(|name| Subject {
            kind: "User".into(),
            api_group: "rbac.authorization.k8s.io".into(),
            name,
            namespace: String::new()
        }),
        pick(&["devs", "system:authenticated", "system:authenticated", "system:serviceaccounts"])
            .prop_map(|name| Subject::group(&name)),
        (pick(&["sa", "other"]), pick(&["", "default", "kube-system"])).prop_map(|(name, namespace)| Subject {
            kind: "ServiceAccount".into(),
            api_group: String::new(),
            name,
            namespace
        }),
    ]
}

fn meta(namespace: Option<String>, name: String) -> ObjectMeta {
    ObjectMeta { namespace: namespace.map(Into::into), ..ObjectMeta::named(name) }
}

fn policy() -> impl Strategy<Value = Lists> {
    let namespaces = &["default", "kube-system"];
    let role = (pick(namespaces), pick(&["r0", "r1"]), prop::collection::vec(resource_rule(), 0..3))
        .prop_map(|(ns, name, rules)| Role { metadata: meta(Some(ns), name), rules, ..Default::default() });
    let cluster_role =
        (pick(&["c0", "c1", "c2"]), prop::collection::vec(prop_oneof![3 => resource_rule(), 1 => url_rule()], 0..3))
            .prop_map(|(name, rules)| ClusterRole { metadata: meta(None, name), rules, ..Default::default() });
    let role_ref = prop_oneof![
        pick(&["r0", "r1", "r9"]).prop_map(|name| RoleRef { kind: "Role".into(), ..RoleRef::cluster_role(&name) }),
        pick(&["c0", "c1", "c9"]).prop_map(|name| RoleRef::cluster_role(&name)),
    ];
    let role_binding =
        (pick(namespaces), role_ref, prop::collection::vec(subject(), 1..3)).prop_map(|(ns, role_ref, subjects)| {
            RoleBinding { metadata: meta(Some(ns), "rb".into()), subjects, role_ref, ..Default::default() }
        });
    let cluster_role_binding =
        (pick(&["c0", "c1", "c2", "c9"]), prop::collection::vec(subject(), 1..3)).prop_map(|(role, subjects)| {
            ClusterRoleBinding {
                metadata: meta(None, "crb".into()),
                // Only ServiceAccounts with a namespace are valid in a ClusterRoleBinding.
                subjects: subjects
                    .into_iter()
                    .filter(|s| s.kind != "ServiceAccount" || !s.namespace.is_empty())
                    .collect(),
                role_ref: RoleRef::cluster_role(&role),
                ..Default::default()
            }
        });
    (
        prop::collection::vec(role, 0..4),
        prop::collection::vec(cluster_role, 0..4),
        prop::collection::vec(role_binding, 1..5),
        prop::collection::vec(cluster_role_binding, 0..4),
    )
        .prop_map(|(mut roles, mut cluster_roles, role_bindings, cluster_role_bindings)| {
            // A store holds one object per namespace and name.
            let mut seen = std::collections::BTreeSet::new();
            roles.retain(|r| seen.insert((r.metadata.namespace.clone(), r.metadata.name.clone())));
            cluster_roles.retain(|r| seen.insert((None, r.metadata.name.clone())));
            Lists { roles, cluster_roles, role_bindings, cluster_role_bindings }
        })
}

fn user() -> impl Strategy<Value = UserInfo> {
    prop_oneof![
        (pick(&["alice", "bob", "carol"]), some_of(&["devs", "ops"], 0)).prop_map(|(name, mut groups)| {
            groups.push("system:authenticated".into());
            UserInfo { name, uid: String::new(), groups }
        }),
        (pick(&["sa", "other"]), pick(&["default", "kube-system"])).prop_map(|(name, ns)| UserInfo {
            name: format!("system:serviceaccount:{ns}:{name}"),
            uid: "u".into(),
            groups: vec![
                "system:serviceaccounts".into(),
                format!("system:serviceaccounts:{ns}"),
                "system:authenticated".into()
            ],
        }),
    ]
}

fn request() -> impl Strategy<Value = Attributes> {
    let resource = (
        pick(&["get", "list", "create", "delete", "patch"]),
        pick(&["", "apps"]),
        pick(&["pods", "deployments", "nodes"]),
        pick(&["", "", "", "log", "scale", "status"]),
        pick(&["", "a", "b"]),
        pick(&["", "default", "kube-system"]),
    )
        .prop_map(|(verb, api_group, resource, subresource, name, namespace)| Attributes {
            verb,
            resource_request: true,
            namespace,
            api_group,
            resource,
            subresource,
            name,
            path: String::new(),
        });
    let non_resource = (pick(&["get", "post"]), pick(&["/healthz", "/api", "/api/v1", "/apis/apps/v1", "/metrics"]))
        .prop_map(|(verb, path)| Attributes { verb, path, ..Default::default() });
    prop_oneof![4 => resource, 1 => non_resource]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(5000))]

    #[test]
    fn rbac_agrees_with_the_documented_rules(policy in policy(), user in user(), request in request()) {
        let decided = authorize(&policy, &user, &request).allowed;
        prop_assert_eq!(decided, reference(&policy, &user, &request), "{:?} asks {:?}", user, request);
    }
}

/// The generators reach both verdicts often enough for the property to mean something (about
/// one case in 30 is allowed: a grant must match user, scope, verb, group, resource and name).
#[test]
fn the_generated_cases_are_both_allowed_and_denied() {
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let (mut allowed, mut denied) = (0, 0);
    for _ in 0..2000 {
        let (p, u, r) = (policy(), user(), request()).new_tree(&mut runner).unwrap().current();
        if reference(&p, &u, &r) { allowed += 1 } else { denied += 1 }
    }
    println!("allowed {allowed}, denied {denied} of 2000");
    assert!(allowed >= 50 && denied >= 50, "allowed {allowed}, denied {denied}");
}

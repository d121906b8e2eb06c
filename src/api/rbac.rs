//! Authorization as kube-apiserver's RBAC authorizer does it (`plugin/pkg/auth/authorizer/rbac`
//! and `pkg/registry/rbac/validation`): a request's attributes, parsed from its URL as
//! upstream's `RequestInfoFactory` parses them, are allowed when any rule of any role bound to
//! the user (by a ClusterRoleBinding, or a RoleBinding in the request's namespace) covers them.
//! Nothing is denied explicitly: no matching rule is "no opinion", answered 403.

use crate::cluster::objects::rbac::{MASTERS_GROUP, PolicyRule, RoleRef, Subject};
use crate::cluster::objects::{Kind, Object, ServiceAccount};
use crate::cluster::store::ObjectKey;
use std::sync::Arc;

/// Who is asking: upstream's `user.Info`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UserInfo {
    pub name: String,
    pub uid: String,
    pub groups: Vec<String>,
}

impl UserInfo {
    /// Who an unauthenticated request is when nobody checks (no `--token-file`).
    pub fn anonymous() -> UserInfo {
        UserInfo { name: "system:anonymous".into(), uid: String::new(), groups: vec!["system:unauthenticated".into()] }
    }
}

/// What a request asks to do: upstream's `authorizer.Attributes` (from `RequestInfo`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Attributes {
    pub verb: String,
    /// Resource requests are those under `/api` and `/apis`; the rest are non-resource (`path`).
    pub resource_request: bool,
    pub namespace: String,
    pub api_group: String,
    pub resource: String,
    pub subresource: String,
    pub name: String,
    pub path: String,
}

impl Attributes {
    /// Upstream's `RequestInfoFactory.NewRequestInfo`: `/api/v1/...` and `/apis/GROUP/VERSION/...`
    /// are resource requests whose verb comes from the method (a GET without a name is `list`, or
    /// `watch` with `watch=true`; a DELETE without one `deletecollection`); anything else is a
    /// non-resource request whose verb is the method, lowercased.
    pub fn from_request(method: &str, path: &str, query: Option<&str>) -> Attributes {
        let non_resource = || Attributes {
            verb: method.to_ascii_lowercase(),
            resource_request: false,
            path: path.to_string(),
            ..Default::default()
        };
        let decoded = super::path_segments(path);
        let parts: Vec<&str> = decoded.iter().map(AsRef::as_ref).collect();
        let (api_group, rest) = match parts.as_slice() {
            ["api", _version, rest @ ..] => ("", rest),
            ["apis", group, _version, rest @ ..] => (*group, rest),
            _ => return non_resource(),
        };
        if rest.is_empty() {
            // `/api/v1`, `/apis/apps/v1`: discovery, a non-resource request.
            return non_resource();
        }
        let mut attributes = Attributes {
            resource_request: true,
            api_group: api_group.to_string(),
            path: path.to_string(),
            ..Default::default()
        };
        let mut rest = rest;
        if rest[0] == "namespaces" && rest.len() > 1 {
            attributes.namespace = rest[1].to_string();
            // `/namespaces/NS` itself is the namespace resource, named NS.
            if rest.len() > 2 {
                rest = &rest[2..];
            }
        }
        attributes.resource = rest[0].to_string();
        attributes.name = rest.get(1).map_or(String::new(), |n| n.to_string());
        attributes.subresource = rest.get(2).map_or(String::new(), |s| s.to_string());
        let watch = query
            .is_some_and(|q| q.split('&').any(|pair| matches!(pair.split_once('='), Some(("watch", "true" | "1")))));
        attributes.verb = match method {
            "POST" => "create",
            "GET" | "HEAD" if watch => "watch",
            "GET" | "HEAD" if attributes.name.is_empty() => "list",
            "GET" | "HEAD" => "get",
            "PUT" => "update",
            "PATCH" => "patch",
            "DELETE" if attributes.name.is_empty() => "deletecollection",
            "DELETE" => "delete",
            other => return Attributes { verb: other.to_ascii_lowercase(), ..attributes },
        }
        .to_string();
        attributes
    }

    /// The text of upstream's 403 (`responsewriters.forbiddenMessage` inside `NewForbidden`):
    /// `pods "web" is forbidden: User "x" cannot delete resource "pods" in API group "" in the
    /// namespace "default"`, then `: ` and the authorizer's reason when it gave one.
    pub fn forbidden_message(&self, user: &str, reason: &str) -> String {
        let mut why = if !self.resource_request {
            format!("User {user:?} cannot {} path {:?}", self.verb, self.path)
        } else {
            let resource = if self.subresource.is_empty() {
                self.resource.clone()
            } else {
                format!("{}/{}", self.resource, self.subresource)
            };
            if self.namespace.is_empty() {
                format!(
                    "User {user:?} cannot {} resource {resource:?} in API group {:?} at the cluster scope",
                    self.verb, self.api_group
                )
            } else {
                format!(
                    "User {user:?} cannot {} resource {resource:?} in API group {:?} in the namespace {:?}",
                    self.verb, self.api_group, self.namespace
                )
            }
        };
        if !reason.is_empty() {
            why = format!("{why}: {reason}");
        }
        let qualified = match (self.resource_request, self.api_group.as_str()) {
            (false, _) => String::new(),
            (true, "") => self.resource.clone(),
            (true, group) => format!("{}.{group}", self.resource),
        };
        match (qualified.is_empty(), self.name.is_empty()) {
            (true, _) => format!("forbidden: {why}"),
            (false, true) => format!("{qualified} is forbidden: {why}"),
            (false, false) => format!("{qualified} {:?} is forbidden: {why}", self.name),
        }
    }
}

/// Upstream's `RuleAllows`.
pub fn rule_allows(attributes: &Attributes, rule: &PolicyRule) -> bool {
    let verb = rule.verbs.iter().any(|v| v == "*" || *v == attributes.verb);
    if !attributes.resource_request {
        return verb && non_resource_url_matches(rule, &attributes.path);
    }
    let combined = if attributes.subresource.is_empty() {
        attributes.resource.clone()
    } else {
        format!("{}/{}", attributes.resource, attributes.subresource)
    };
    verb && rule.api_groups.iter().any(|g| g == "*" || *g == attributes.api_group)
        && resource_matches(rule, &combined, &attributes.subresource)
        && (rule.resource_names.is_empty() || rule.resource_names.contains(&attributes.name))
}

/// `*`, the combined `resource/subresource`, or `*/subresource`.
fn resource_matches(rule: &PolicyRule, combined: &str, subresource: &str) -> bool {
    rule.resources.iter().any(|r| {
        r == "*"
            || r == combined
            || (!subresource.is_empty() && r.strip_prefix("*/").is_some_and(|sub| sub == subresource))
    })
}

/// `*`, the path itself, or a prefix ending in `*`.
fn non_resource_url_matches(rule: &PolicyRule, path: &str) -> bool {
    rule.non_resource_urls
        .iter()
        .any(|url| url == "*" || url == path || url.strip_suffix('*').is_some_and(|prefix| path.starts_with(prefix)))
}

/// Upstream's `appliesToUser`: a RoleBinding's ServiceAccount subject without a namespace means
/// the binding's own (`namespace`).
pub fn applies_to(user: &UserInfo, subject: &Subject, namespace: &str) -> bool {
    match subject.kind.as_str() {
        "User" => user.name == subject.name,
        "Group" => user.groups.contains(&subject.name),
        "ServiceAccount" => {
            let ns = if subject.namespace.is_empty() { namespace } else { &subject.namespace };
            !ns.is_empty() && user.name == ServiceAccount::username(ns, &subject.name)
        }
        _ => false,
    }
}

/// The bindings and roles RBAC reads, however they are stored (the read view's snapshots, or a
/// test's plain lists). Shared, not cloned: a request reads them and lets go.
pub trait Policy {
    /// Every ClusterRoleBinding (each an `Object::ClusterRoleBinding`).
    fn cluster_role_bindings(&self) -> Vec<Arc<Object>>;
    /// The RoleBindings in `namespace` (each an `Object::RoleBinding`).
    fn role_bindings(&self, namespace: &str) -> Vec<Arc<Object>>;
    fn cluster_role(&self, name: &str) -> Option<Arc<Object>>;
    fn role(&self, namespace: &str, name: &str) -> Option<Arc<Object>>;
}

/// The verdict, with upstream's reason when a binding pointed at a role that is not there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    pub reason: String,
}

/// The authorizer chain kube-apiserver runs: `system:masters` may do anything (so no binding
/// can lock them out), then RBAC.
pub fn authorize(policy: &dyn Policy, user: &UserInfo, attributes: &Attributes) -> Decision {
    if user.groups.iter().any(|g| g == MASTERS_GROUP) {
        return Decision { allowed: true, reason: String::new() };
    }
    let mut errors: Vec<String> = Vec::new();
    // Whether the role a binding names (in `namespace` for a Role) has a rule allowing the request.
    let mut role_allows = |role_ref: &RoleRef, namespace: &str| -> bool {
        let role = match (role_ref.kind.as_str(), namespace) {
            ("ClusterRole", _) => policy.cluster_role(&role_ref.name),
            ("Role", ns) if !ns.is_empty() => policy.role(ns, &role_ref.name),
            _ => None,
        };
        let rules = match role.as_deref() {
            Some(Object::ClusterRole(r)) => &r.rules,
            Some(Object::Role(r)) => &r.rules,
            _ => {
                let what = if role_ref.kind == "ClusterRole" { "clusterrole" } else { "role" };
                errors.push(format!("{what}.rbac.authorization.k8s.io {:?} not found", role_ref.name));
                return false;
            }
        };
        rules.iter().any(|r| rule_allows(attributes, r))
    };
    for binding in policy.cluster_role_bindings() {
        if let Object::ClusterRoleBinding(b) = &*binding
            && b.subjects.iter().any(|s| applies_to(user, s, ""))
            && role_allows(&b.role_ref, "")
        {
            return Decision { allowed: true, reason: String::new() };
        }
    }
    if !attributes.namespace.is_empty() {
        for binding in policy.role_bindings(&attributes.namespace) {
            if let Object::RoleBinding(b) = &*binding
                && b.subjects.iter().any(|s| applies_to(user, s, &attributes.namespace))
                && role_allows(&b.role_ref, &attributes.namespace)
            {
                return Decision { allowed: true, reason: String::new() };
            }
        }
    }
    let reason = if errors.is_empty() { String::new() } else { format!("RBAC: [{}]", errors.join(", ")) };
    Decision { allowed: false, reason }
}

/// The read view as RBAC's informers: bindings and roles as last published.
pub struct ViewPolicy<'v>(pub &'v super::view::ReadView);

impl Policy for ViewPolicy<'_> {
    fn cluster_role_bindings(&self) -> Vec<Arc<Object>> {
        self.0.list(Kind::ClusterRoleBinding, None, None, None).map(|s| s.items).unwrap_or_default()
    }

    fn role_bindings(&self, namespace: &str) -> Vec<Arc<Object>> {
        self.0.list(Kind::RoleBinding, Some(namespace), None, None).map(|s| s.items).unwrap_or_default()
    }

    fn cluster_role(&self, name: &str) -> Option<Arc<Object>> {
        self.0.get(Kind::ClusterRole, &ObjectKey::cluster(name)).items
    }

    fn role(&self, namespace: &str, name: &str) -> Option<Arc<Object>> {
        self.0.get(Kind::Role, &ObjectKey::new(namespace, name)).items
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_attributes_are_parsed_as_upstreams_request_info() {
        let a = |method, path: &str| {
            Attributes::from_request(method, path.split('?').next().unwrap(), path.split_once('?').map(|q| q.1))
        };
        let pods = a("GET", "/api/v1/namespaces/default/pods");
        assert_eq!(
            (pods.verb.as_str(), pods.namespace.as_str(), pods.resource.as_str(), pods.resource_request),
            ("list", "default", "pods", true)
        );
        assert_eq!(a("GET", "/api/v1/pods?watch=true").verb, "watch");
        let log = a("GET", "/api/v1/namespaces/default/pods/web/log");
        assert_eq!((log.verb.as_str(), log.name.as_str(), log.subresource.as_str()), ("get", "web", "log"));
        let scale = a("PATCH", "/apis/apps/v1/namespaces/ns/deployments/web/scale");
        assert_eq!(
            (scale.verb.as_str(), scale.api_group.as_str(), scale.subresource.as_str()),
            ("patch", "apps", "scale")
        );
        assert_eq!(a("DELETE", "/api/v1/namespaces/default/pods").verb, "deletecollection");
        assert_eq!(a("DELETE", "/api/v1/namespaces/default/pods/x").verb, "delete");
        assert_eq!(a("POST", "/api/v1/namespaces/default/pods/x/eviction").verb, "create");
        let ns = a("GET", "/api/v1/namespaces/kube-system");
        assert_eq!(
            (ns.resource.as_str(), ns.name.as_str(), ns.namespace.as_str()),
            ("namespaces", "kube-system", "kube-system")
        );
        let discovery = a("GET", "/apis/apps/v1");
        assert_eq!((discovery.resource_request, discovery.verb.as_str()), (false, "get"));
        let knock = a("POST", "/pinsetter/v1/nodes/pin-1/knock");
        assert_eq!((knock.resource_request, knock.verb.as_str()), (false, "post"));
    }

    #[test]
    fn a_service_account_subject_without_a_namespace_means_the_bindings_own() {
        let subject = Subject { kind: "ServiceAccount".into(), name: "ci".into(), ..Default::default() };
        let user = UserInfo { name: "system:serviceaccount:kube-system:ci".into(), ..Default::default() };
        assert!(applies_to(&user, &subject, "kube-system"));
        assert!(!applies_to(&user, &subject, "default"));
        assert!(!applies_to(&user, &subject, ""), "a ClusterRoleBinding must name the namespace");
        let group = Subject::group("system:serviceaccounts:kube-system");
        let in_group = UserInfo { groups: vec!["system:serviceaccounts:kube-system".into()], ..user };
        assert!(applies_to(&in_group, &group, ""));
    }

    #[test]
    fn forbidden_messages_are_upstreams_words() {
        let a = Attributes::from_request("GET", "/api/v1/namespaces/default/pods", None);
        assert_eq!(
            a.forbidden_message("X", ""),
            r#"pods is forbidden: User "X" cannot list resource "pods" in API group "" in the namespace "default""#
        );
        let a = Attributes::from_request("DELETE", "/apis/apps/v1/namespaces/default/deployments/web", None);
        assert_eq!(
            a.forbidden_message("X", ""),
            r#"deployments.apps "web" is forbidden: User "X" cannot delete resource "deployments" in API group "apps" in the namespace "default""#
        );
        let a = Attributes::from_request("GET", "/api/v1/nodes", None);
        assert_eq!(
            a.forbidden_message("X", "RBAC: [clusterrole.rbac.authorization.k8s.io \"gone\" not found]"),
            r#"nodes is forbidden: User "X" cannot list resource "nodes" in API group "" at the cluster scope: RBAC: [clusterrole.rbac.authorization.k8s.io "gone" not found]"#
        );
        let a = Attributes::from_request("GET", "/metrics", None);
        assert_eq!(a.forbidden_message("X", ""), r#"forbidden: User "X" cannot get path "/metrics""#);
    }
}

//! Authentication, as kube-apiserver's token authenticators do it, and the APIs about it:
//!
//! - the static token file (`--token-file`): lines of `token,user,group,group...`, the way to
//!   bootstrap users. The legacy role words map onto RBAC: `admin` is the group
//!   `system:masters` (bound to `cluster-admin`), `viewer` the group `pinsetter:viewers` (bound
//!   to `view`);
//! - ServiceAccount tokens: JWTs the server signs (ES256, a key kept in the data directory) from
//!   the TokenRequest API (`kubectl create token NAME`), checked on every request for signature,
//!   expiry, audience and the ServiceAccount still being there (same uid);
//! - `kubectl auth whoami` (SelfSubjectReview) and `kubectl auth can-i` (SelfSubjectAccessReview).
//!
//! Authorization (RBAC) is `src/api/rbac.rs`. Without `--token-file` nothing is checked: every
//! request is allowed, as `--authorization-mode=AlwaysAllow`.

use super::rbac::{self, Attributes, UserInfo};
use super::status::ApiError;
use super::{Api, json_response};
use crate::cluster::objects::rbac::{AUTHENTICATED_GROUP, MASTERS_GROUP, VIEWERS_GROUP};
use crate::cluster::objects::{Kind, Object, ServiceAccount};
use crate::cluster::store::ObjectKey;
use anyhow::Context;
use axum::body::Bytes;
use axum::http::{Method, StatusCode, Uri};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::Path;

/// The issuer and the audience the API server's own tokens carry (upstream's defaults for
/// `--service-account-issuer` and `--api-audiences`).
pub const ISSUER: &str = "https://kubernetes.default.svc.cluster.local";
/// A token lasts an hour unless the request says otherwise (upstream's default).
const DEFAULT_EXPIRATION_SECONDS: i64 = 3600;
/// Upstream refuses shorter tokens.
const MIN_EXPIRATION_SECONDS: i64 = 600;

/// The users of the static token file, by token.
#[derive(Clone, Default)]
pub struct Tokens(BTreeMap<String, UserInfo>);

impl std::fmt::Debug for Tokens {
    /// Counts, never contents: tokens must not reach a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tokens({} users)", self.0.len())
    }
}

impl Tokens {
    /// Parses a token file: one `token,user,group...` a line (`#` comments). The group words
    /// `admin` and `viewer` (the old roles) become `system:masters` and `pinsetter:viewers`.
    /// Every user is also in `system:authenticated`, as upstream adds.
    pub fn parse(text: &str, origin: &str) -> anyhow::Result<Tokens> {
        let mut tokens = BTreeMap::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let parts: Vec<&str> = line.split(',').map(str::trim).collect();
            let [token, user, groups @ ..] = parts.as_slice() else {
                anyhow::bail!("{origin}:{}: expected token,user,group...", i + 1);
            };
            if token.is_empty() || user.is_empty() {
                anyhow::bail!("{origin}:{}: the token and the user must not be empty", i + 1);
            }
            let mut all: Vec<String> = groups
                .iter()
                .filter(|g| !g.is_empty())
                .map(|g| match *g {
                    "admin" => MASTERS_GROUP.to_string(),
                    "viewer" => VIEWERS_GROUP.to_string(),
                    other => other.to_string(),
                })
                .collect();
            all.push(AUTHENTICATED_GROUP.into());
            let info = UserInfo { name: user.to_string(), uid: String::new(), groups: all };
            if tokens.insert(token.to_string(), info).is_some() {
                anyhow::bail!("{origin}:{}: this token is already given to another line", i + 1);
            }
        }
        if tokens.is_empty() {
            anyhow::bail!("{origin}: no tokens (expected lines of token,user,group...)");
        }
        Ok(Tokens(tokens))
    }

    fn user(&self, token: &str) -> Option<&UserInfo> {
        self.0.get(token)
    }
}

/// The claims of a ServiceAccount token, as upstream's `serviceaccount.Claims`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub sub: String,
    pub aud: Vec<String>,
    pub exp: i64,
    pub iat: i64,
    pub nbf: i64,
    #[serde(rename = "kubernetes.io")]
    pub kubernetes: KubernetesClaims,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KubernetesClaims {
    pub namespace: String,
    pub serviceaccount: ClaimedServiceAccount,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClaimedServiceAccount {
    pub name: String,
    pub uid: String,
}

/// The ServiceAccount signing key (upstream's `--service-account-signing-key-file`): an ECDSA
/// P-256 key, PKCS#8 PEM.
pub struct ServiceAccountKey {
    encoding: jsonwebtoken::EncodingKey,
    decoding: jsonwebtoken::DecodingKey,
}

impl std::fmt::Debug for ServiceAccountKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServiceAccountKey(..)")
    }
}

/// Where the key lives: `<data dir>/serviceaccount/`, beside the TLS CA.
pub fn key_dir() -> std::path::PathBuf {
    crate::storage::data_dir().join("serviceaccount")
}

impl ServiceAccountKey {
    /// Loads `dir/sa.key`, creating it on first use, so tokens survive a restart.
    pub fn load_or_create(dir: &Path) -> anyhow::Result<ServiceAccountKey> {
        let path = dir.join("sa.key");
        if let Ok(pem) = std::fs::read_to_string(&path) {
            return ServiceAccountKey::from_pem(&pem).with_context(|| format!("reading {}", path.display()));
        }
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let pem = rcgen::KeyPair::generate().context("generating the service account key")?.serialize_pem();
        super::tls::write_private(&path, &pem)?;
        ServiceAccountKey::from_pem(&pem)
    }

    /// A fresh key held only in memory (tests).
    pub fn generate() -> anyhow::Result<ServiceAccountKey> {
        ServiceAccountKey::from_pem(&rcgen::KeyPair::generate().context("generating a key")?.serialize_pem())
    }

    /// From a PKCS#8 PEM private key.
    pub fn from_pem(pem: &str) -> anyhow::Result<ServiceAccountKey> {
        let pair = rcgen::KeyPair::from_pem(pem).context("not a PEM private key")?;
        Ok(ServiceAccountKey {
            encoding: jsonwebtoken::EncodingKey::from_ec_pem(pem.as_bytes()).context("not an ECDSA key")?,
            decoding: jsonwebtoken::DecodingKey::from_ec_pem(pair.public_key_pem().as_bytes())
                .context("its public key")?,
        })
    }

    pub fn sign(&self, claims: &Claims) -> anyhow::Result<String> {
        jsonwebtoken::encode(&jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256), claims, &self.encoding)
            .context("signing a token")
    }

    /// The claims of a token this key signed, for our issuer and audience, not expired and
    /// already valid (`nbf`); no leeway.
    pub fn verify(&self, token: &str) -> Result<Claims, jsonwebtoken::errors::Error> {
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
        validation.set_audience(&[ISSUER]);
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub", "nbf"]);
        validation.validate_nbf = true;
        validation.leeway = 0;
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation).map(|data| data.claims)
    }
}

/// Who may use the API: the token file's users and ServiceAccount tokens.
#[derive(Debug)]
pub struct Authenticator {
    pub tokens: Tokens,
    pub key: ServiceAccountKey,
}

/// Seconds since the Unix epoch: token lifetimes are wall-clock time (the edge, not the core).
fn unix_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

fn rfc3339(seconds: i64) -> String {
    jiff::Timestamp::from_second(seconds).map_or_else(|_| String::new(), |t| t.to_string())
}

impl Authenticator {
    /// The user a bearer token is, if any: a token-file user, or a ServiceAccount whose token
    /// verifies and whose account still exists with the uid the token names.
    pub async fn authenticate(&self, world: &super::WorldHandle, token: &str) -> Option<UserInfo> {
        if let Some(user) = self.tokens.user(token) {
            return Some(user.clone());
        }
        let claims = match self.key.verify(token) {
            Ok(claims) => claims,
            Err(e) => {
                // The error's kind only (expired, bad signature): never the token.
                tracing::debug!("a bearer token was refused: {e}");
                return None;
            }
        };
        let (namespace, name) = (&claims.kubernetes.namespace, &claims.kubernetes.serviceaccount.name);
        if claims.sub != ServiceAccount::username(namespace, name) {
            return None;
        }
        let view = world.view().await.ok()?;
        let snapshot = view.get(Kind::ServiceAccount, &ObjectKey::new(namespace.as_str(), name.as_str()));
        match snapshot.items.as_deref() {
            Some(Object::ServiceAccount(sa)) if sa.metadata.uid == claims.kubernetes.serviceaccount.uid => {}
            _ => return None,
        }
        Some(UserInfo {
            name: claims.sub,
            uid: claims.kubernetes.serviceaccount.uid,
            groups: vec![
                "system:serviceaccounts".into(),
                format!("system:serviceaccounts:{namespace}"),
                AUTHENTICATED_GROUP.into(),
            ],
        })
    }
}

/// Authentication, then authorization, for one request: the user it is, or the 401 / 403
/// `Status` to answer. Without an authenticator every request is allowed, unauthenticated.
pub(super) async fn admit(
    api: &Api,
    method: &Method,
    uri: &Uri,
    authorization: Option<&str>,
) -> Result<Option<UserInfo>, ApiError> {
    let Some(authn) = &api.authn else { return Ok(None) };
    let unauthorized = || ApiError::new(StatusCode::UNAUTHORIZED, "Unauthorized", "Unauthorized");
    let token = authorization.and_then(|a| a.strip_prefix("Bearer ")).map(str::trim).ok_or_else(unauthorized)?;
    let user = authn.authenticate(&api.world, token).await.ok_or_else(unauthorized)?;
    let attributes = Attributes::from_request(method.as_str(), uri.path(), uri.query());
    let view = api.world.view().await?;
    let decision = rbac::authorize(&rbac::ViewPolicy(view), &user, &attributes);
    if decision.allowed {
        return Ok(Some(user));
    }
    let mut error =
        ApiError::new(StatusCode::FORBIDDEN, "Forbidden", attributes.forbidden_message(&user.name, &decision.reason));
    if attributes.resource_request {
        error = error
            .with_details(json!({"name": attributes.name, "group": attributes.api_group, "kind": attributes.resource}));
    }
    Err(error)
}

/// Answers the authentication and authorization APIs; `None` for any other path.
pub(super) async fn route(
    api: &Api,
    method: &Method,
    uri: &Uri,
    content_type: &str,
    user: Option<&UserInfo>,
    body: &Bytes,
) -> Option<Result<Response, ApiError>> {
    let decoded = super::path_segments(uri.path());
    let segments: Vec<&str> = decoded.iter().map(AsRef::as_ref).collect();
    let answer = match segments.as_slice() {
        ["apis", "authentication.k8s.io", "v1", "selfsubjectreviews"] => {
            post_only(method).map(|()| self_subject_review(user))
        }
        ["apis", "authorization.k8s.io", "v1", "selfsubjectaccessreviews"] => match post_only(method) {
            Ok(()) => self_subject_access_review(api, user, content_type, body).await,
            Err(e) => Err(e),
        },
        ["api", "v1", "namespaces", namespace, "serviceaccounts", name, "token"] => match post_only(method) {
            Ok(()) => token_request(api, namespace, name, content_type, body).await,
            Err(e) => Err(e),
        },
        _ => return None,
    };
    Some(answer)
}

fn post_only(method: &Method) -> Result<(), ApiError> {
    if *method == Method::POST {
        Ok(())
    } else {
        Err(ApiError::method_not_allowed("this resource only takes create (POST)"))
    }
}

fn body_json(content_type: &str, body: &Bytes, kind: &str) -> Result<Value, ApiError> {
    if body.is_empty() {
        return Ok(json!({}));
    }
    // kubectl sends these in protobuf (client-go's default since 1.31).
    if content_type.starts_with(super::protobuf::CONTENT_TYPE) {
        return super::protobuf::decode(body);
    }
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("the request body is not valid JSON: {e}")))?;
    if !value.is_object() {
        return Err(ApiError::bad_request(format!("the request body must be a {kind} object")));
    }
    Ok(value)
}

/// `kubectl auth whoami`: the user this request authenticated as (anonymous when the server
/// checks nobody).
fn self_subject_review(user: Option<&UserInfo>) -> Response {
    let anonymous = UserInfo::anonymous();
    let user = user.unwrap_or(&anonymous);
    let mut info = json!({"username": user.name, "groups": user.groups});
    if !user.uid.is_empty() {
        info["uid"] = json!(user.uid);
    }
    json_response(
        StatusCode::CREATED,
        &json!({"kind": "SelfSubjectReview", "apiVersion": "authentication.k8s.io/v1",
                "metadata": {"creationTimestamp": rfc3339(unix_now())}, "status": {"userInfo": info}}),
    )
}

/// `kubectl auth can-i`: RBAC's verdict for the caller on the attributes asked about.
async fn self_subject_access_review(
    api: &Api,
    user: Option<&UserInfo>,
    content_type: &str,
    body: &Bytes,
) -> Result<Response, ApiError> {
    let mut review = body_json(content_type, body, "SelfSubjectAccessReview")?;
    let spec = review.get("spec").cloned().unwrap_or(json!({}));
    let text = |v: &Value, field: &str| v.get(field).and_then(Value::as_str).unwrap_or("").to_string();
    let attributes = if let Some(resource) = spec.get("resourceAttributes").filter(|v| v.is_object()) {
        Attributes {
            verb: text(resource, "verb"),
            resource_request: true,
            namespace: text(resource, "namespace"),
            api_group: text(resource, "group"),
            resource: text(resource, "resource"),
            subresource: text(resource, "subresource"),
            name: text(resource, "name"),
            path: String::new(),
        }
    } else if let Some(non_resource) = spec.get("nonResourceAttributes").filter(|v| v.is_object()) {
        Attributes { verb: text(non_resource, "verb"), path: text(non_resource, "path"), ..Default::default() }
    } else {
        return Err(invalid(
            "SelfSubjectAccessReview",
            "authorization.k8s.io",
            "",
            "spec.resourceAttributes",
            "Required value: exactly one of nonResourceAttributes or resourceAttributes must be specified",
        ));
    };
    let (allowed, reason) = match user {
        // No authenticator: AlwaysAllow.
        None => (true, String::new()),
        Some(user) => {
            let view = api.world.view().await?;
            let decision = rbac::authorize(&rbac::ViewPolicy(view), user, &attributes);
            (decision.allowed, decision.reason)
        }
    };
    let mut status = json!({"allowed": allowed});
    if !reason.is_empty() {
        status["reason"] = json!(reason);
    }
    review["kind"] = json!("SelfSubjectAccessReview");
    review["apiVersion"] = json!("authorization.k8s.io/v1");
    review["status"] = status;
    Ok(json_response(StatusCode::CREATED, &review))
}

/// A 422 `Invalid` with one field cause, as upstream's `NewInvalid` words it.
fn invalid(kind: &str, group: &str, name: &str, field: &str, message: &str) -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "Invalid",
        format!("{kind}.{group} {name:?} is invalid: {field}: {message}"),
    )
    .with_details(json!({"name": name, "group": group, "kind": kind,
        "causes": [{"reason": "FieldValueInvalid", "message": message, "field": field}]}))
}

/// `POST .../serviceaccounts/NAME/token` (`kubectl create token NAME --duration 10m`): a signed
/// token for the account, for the API server's audience unless others are asked for.
async fn token_request(
    api: &Api,
    namespace: &str,
    name: &str,
    content_type: &str,
    body: &Bytes,
) -> Result<Response, ApiError> {
    let Some(authn) = &api.authn else {
        return Err(ApiError::bad_request(
            "this server does not issue tokens: start it with --tls --token-file to turn authentication on",
        ));
    };
    let request = body_json(content_type, body, "TokenRequest")?;
    let spec = request.get("spec").cloned().unwrap_or(json!({}));
    let expiration = match spec.get("expirationSeconds") {
        None | Some(Value::Null) => DEFAULT_EXPIRATION_SECONDS,
        Some(v) => v.as_i64().ok_or_else(|| ApiError::bad_request("spec.expirationSeconds must be an integer"))?,
    };
    if expiration < MIN_EXPIRATION_SECONDS {
        return Err(invalid(
            "TokenRequest",
            "authentication.k8s.io",
            name,
            "spec.expirationSeconds",
            &format!("Invalid value: {expiration}: may not specify a duration less than 10 minutes"),
        ));
    }
    if expiration > 1 << 32 {
        return Err(invalid(
            "TokenRequest",
            "authentication.k8s.io",
            name,
            "spec.expirationSeconds",
            &format!("Invalid value: {expiration}: may not specify a duration larger than 2^32 seconds"),
        ));
    }
    let audiences: Vec<String> = match spec.get("audiences").and_then(Value::as_array) {
        Some(list) if !list.is_empty() => list.iter().filter_map(Value::as_str).map(str::to_string).collect(),
        _ => vec![ISSUER.to_string()],
    };
    let view = api.world.view().await?;
    let snapshot = view.get(Kind::ServiceAccount, &ObjectKey::new(namespace, name));
    let Some(Object::ServiceAccount(account)) = snapshot.items.as_deref() else {
        return Err(ApiError::not_found("serviceaccounts", name));
    };
    let now = unix_now();
    let claims = Claims {
        iss: ISSUER.into(),
        sub: ServiceAccount::username(namespace, name),
        aud: audiences.clone(),
        exp: now + expiration,
        iat: now,
        nbf: now,
        kubernetes: KubernetesClaims {
            namespace: namespace.into(),
            serviceaccount: ClaimedServiceAccount { name: name.into(), uid: account.metadata.uid.clone() },
        },
    };
    let token = authn.key.sign(&claims).map_err(|e| {
        tracing::error!("signing a service account token failed: {e:#}");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            "an internal error occurred while signing the token",
        )
    })?;
    Ok(json_response(
        StatusCode::CREATED,
        &json!({"kind": "TokenRequest", "apiVersion": "authentication.k8s.io/v1",
                "metadata": {"name": name, "namespace": namespace, "creationTimestamp": rfc3339(now)},
                "spec": {"audiences": audiences, "expirationSeconds": expiration, "boundObjectRef": null},
                "status": {"token": token, "expirationTimestamp": rfc3339(now + expiration)}}),
    ))
}

/// The protobuf bodies kubectl sends for these kinds, as the JSON the JSON path takes
/// (`src/api/protobuf.rs` unwraps the envelope).
pub(super) fn protobuf_to_json(kind: &str, raw: &[u8]) -> Result<Value, prost::DecodeError> {
    use k8s_pb::api::authentication::v1 as authn;
    use k8s_pb::api::authorization::v1 as authz;
    use k8s_pb::api::core::v1 as core;
    use k8s_pb::api::rbac::v1 as pb;
    use prost::Message;
    let meta = super::protobuf::object_meta;
    let rules = |rules: &[pb::PolicyRule]| -> Value {
        rules
            .iter()
            .map(|r| {
                json!({"verbs": r.verbs, "apiGroups": r.api_groups, "resources": r.resources,
                            "resourceNames": r.resource_names, "nonResourceURLs": r.non_resource_ur_ls})
            })
            .collect()
    };
    let subjects = |subjects: &[pb::Subject]| -> Value {
        subjects
            .iter()
            .map(|s| json!({"kind": s.kind, "apiGroup": s.api_group, "name": s.name, "namespace": s.namespace}))
            .collect()
    };
    let role_ref =
        |r: Option<&pb::RoleRef>| r.map(|r| json!({"apiGroup": r.api_group, "kind": r.kind, "name": r.name}));
    Ok(match kind {
        "ServiceAccount" => {
            let sa = core::ServiceAccount::decode(raw)?;
            json!({"metadata": meta(sa.metadata.as_ref()), "automountServiceAccountToken": sa.automount_service_account_token})
        }
        "Role" => {
            let role = pb::Role::decode(raw)?;
            json!({"metadata": meta(role.metadata.as_ref()), "rules": rules(&role.rules)})
        }
        "ClusterRole" => {
            let role = pb::ClusterRole::decode(raw)?;
            let aggregation = role.aggregation_rule.as_ref().map(|a| {
                let selectors: Vec<Value> =
                    a.cluster_role_selectors.iter().map(|s| json!({"matchLabels": s.match_labels})).collect();
                json!({"clusterRoleSelectors": selectors})
            });
            json!({"metadata": meta(role.metadata.as_ref()), "rules": rules(&role.rules), "aggregationRule": aggregation})
        }
        "RoleBinding" => {
            let b = pb::RoleBinding::decode(raw)?;
            json!({"metadata": meta(b.metadata.as_ref()), "subjects": subjects(&b.subjects), "roleRef": role_ref(b.role_ref.as_ref())})
        }
        "ClusterRoleBinding" => {
            let b = pb::ClusterRoleBinding::decode(raw)?;
            json!({"metadata": meta(b.metadata.as_ref()), "subjects": subjects(&b.subjects), "roleRef": role_ref(b.role_ref.as_ref())})
        }
        "TokenRequest" => {
            let request = authn::TokenRequest::decode(raw)?;
            let spec = request.spec.unwrap_or_default();
            json!({"metadata": meta(request.metadata.as_ref()),
                   "spec": {"audiences": spec.audiences, "expirationSeconds": spec.expiration_seconds}})
        }
        "SelfSubjectAccessReview" => {
            let review = authz::SelfSubjectAccessReview::decode(raw)?;
            let spec = review.spec.unwrap_or_default();
            let resource = spec.resource_attributes.map(|r| {
                json!({"namespace": r.namespace, "verb": r.verb, "group": r.group, "version": r.version,
                       "resource": r.resource, "subresource": r.subresource, "name": r.name})
            });
            let non_resource = spec.non_resource_attributes.map(|n| json!({"path": n.path, "verb": n.verb}));
            json!({"metadata": meta(review.metadata.as_ref()),
                   "spec": {"resourceAttributes": resource, "nonResourceAttributes": non_resource}})
        }
        _ => json!({"metadata": {}}),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_files_map_the_old_roles_to_groups_and_explain_mistakes() {
        let tokens =
            Tokens::parse("# users\nabc,alice,admin\n\nxyz, bob , viewer\nq,carol,devs,ops\n", "t.csv").unwrap();
        assert_eq!(tokens.user("abc").unwrap().groups, ["system:masters", "system:authenticated"]);
        let bob = tokens.user("xyz").unwrap();
        assert_eq!(
            (bob.name.as_str(), bob.groups.as_slice()),
            ("bob", &["pinsetter:viewers".to_string(), "system:authenticated".into()][..])
        );
        assert_eq!(tokens.user("q").unwrap().groups, ["devs", "ops", "system:authenticated"]);
        assert!(tokens.user("nope").is_none());
        assert!(!format!("{tokens:?}").contains("abc"), "Debug must not show tokens");
        for (bad, says) in [
            ("abc", "t.csv:1"),
            ("", "no tokens"),
            (",alice,admin", "must not be empty"),
            ("a,alice\na,bob", "already given"),
        ] {
            let err = Tokens::parse(bad, "t.csv").unwrap_err().to_string();
            assert!(err.contains(says), "{bad:?}: {err}");
        }
    }

    #[test]
    fn discovery_lists_the_token_subresource_and_the_review_apis() {
        let core = super::super::discovery::resource_list("").unwrap();
        let token =
            core["resources"].as_array().unwrap().iter().find(|r| r["name"] == "serviceaccounts/token").unwrap();
        assert_eq!(
            (&token["kind"], &token["group"], &token["verbs"]),
            (&json!("TokenRequest"), &json!("authentication.k8s.io"), &json!(["create"]))
        );
        for (group, resource) in
            [("authentication.k8s.io", "selfsubjectreviews"), ("authorization.k8s.io", "selfsubjectaccessreviews")]
        {
            let list = super::super::discovery::resource_list(group).unwrap();
            assert_eq!(list["resources"][0]["name"], resource, "{group}");
            assert!(
                super::super::discovery::api_groups()["groups"].as_array().unwrap().iter().any(|g| g["name"] == group)
            );
        }
        let rbac = super::super::discovery::resource_list("rbac.authorization.k8s.io").unwrap();
        let names: Vec<&str> =
            rbac["resources"].as_array().unwrap().iter().filter_map(|r| r["name"].as_str()).collect();
        assert_eq!(names, ["roles", "clusterroles", "rolebindings", "clusterrolebindings"]);
    }

    fn claims(exp_from_now: i64, aud: &str) -> Claims {
        let now = unix_now();
        Claims {
            iss: ISSUER.into(),
            sub: "system:serviceaccount:default:reader".into(),
            aud: vec![aud.into()],
            exp: now + exp_from_now,
            iat: now - 10,
            nbf: now - 10,
            kubernetes: KubernetesClaims {
                namespace: "default".into(),
                serviceaccount: ClaimedServiceAccount { name: "reader".into(), uid: "u-1".into() },
            },
        }
    }

    #[test]
    fn tokens_verify_only_with_their_key_audience_and_lifetime() {
        let key = ServiceAccountKey::generate().unwrap();
        let good = key.sign(&claims(600, ISSUER)).unwrap();
        assert_eq!(key.verify(&good).unwrap().kubernetes.serviceaccount.name, "reader");
        let forged = ServiceAccountKey::generate().unwrap().sign(&claims(600, ISSUER)).unwrap();
        assert!(key.verify(&forged).is_err(), "another key's signature");
        assert!(key.verify(&key.sign(&claims(-1, ISSUER)).unwrap()).is_err(), "expired");
        assert!(key.verify(&key.sign(&claims(600, "vault")).unwrap()).is_err(), "another audience");
        let mut tampered = good.clone();
        tampered.insert(good.find('.').unwrap() + 1, 'e');
        assert!(key.verify(&tampered).is_err(), "altered claims");
        // The key survives a restart.
        let dir = tempfile::tempdir().unwrap();
        let first = ServiceAccountKey::load_or_create(dir.path()).unwrap();
        let again = ServiceAccountKey::load_or_create(dir.path()).unwrap();
        assert!(again.verify(&first.sign(&claims(600, ISSUER)).unwrap()).is_ok());
    }
}

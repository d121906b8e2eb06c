//! Errors as Kubernetes `Status` objects: kubectl prints their `message` and branches on `reason`
//! and `code`, so every failure path answers with one.

use crate::cluster::ClusterError;
use crate::cluster::store::StoreError;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// An API failure: an HTTP code, upstream's reason, a message, and optional details.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub code: StatusCode,
    pub reason: &'static str,
    pub message: String,
    pub details: Value,
}

impl ApiError {
    pub fn new(code: StatusCode, reason: &'static str, message: impl Into<String>) -> ApiError {
        ApiError { code, reason, message: message.into(), details: Value::Null }
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "BadRequest", message)
    }

    pub fn not_found(resource: &str, name: &str) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "NotFound", format!("{resource} {name:?} not found"))
            .with_details(json!({"name": name, "kind": resource}))
    }

    pub fn path_not_found() -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "NotFound", "the server could not find the requested resource")
    }

    pub fn method_not_allowed(what: &str) -> ApiError {
        ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            format!("the server does not allow this method on the requested resource: {what}"),
        )
    }

    pub fn unsupported_media_type(got: &str, accepted: &str) -> ApiError {
        ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format ({got}) - accepted media types include: {accepted}"
            ),
        )
    }

    pub fn unavailable() -> ApiError {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "ServiceUnavailable", "the control plane is shutting down")
    }

    pub fn with_details(mut self, details: Value) -> ApiError {
        self.details = details;
        self
    }

    pub fn to_status(&self) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code.as_u16(),
        });
        if !self.details.is_null() {
            status["details"] = self.details.clone();
        }
        status
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        let message = e.to_string();
        match e {
            StoreError::NotFound { resource, name } => ApiError::new(StatusCode::NOT_FOUND, "NotFound", message)
                .with_details(json!({"name": name, "kind": resource})),
            StoreError::AlreadyExists { resource, name } => {
                ApiError::new(StatusCode::CONFLICT, "AlreadyExists", message)
                    .with_details(json!({"name": name, "kind": resource}))
            }
            StoreError::Conflict { resource, name } => ApiError::new(StatusCode::CONFLICT, "Conflict", message)
                .with_details(json!({"name": name, "kind": resource})),
            StoreError::Invalid { kind, name, causes } => {
                let causes: Vec<Value> = causes
                    .iter()
                    .map(|c| json!({"reason": cause_reason(&c.message), "message": c.message, "field": c.field}))
                    .collect();
                let group = kind.api_version().split_once('/').map_or("", |(g, _)| g);
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "Invalid", message)
                    .with_details(json!({"name": name, "group": group, "kind": kind.name(), "causes": causes}))
            }
        }
    }
}

/// Upstream's `field.ErrorType` reason for a cause, read from the message it produced: each type
/// has one message prefix (`ErrorType.String()`), which the validators here write verbatim.
fn cause_reason(message: &str) -> &'static str {
    match message.split(':').next().unwrap_or("") {
        "Not found" => "FieldValueNotFound",
        "Required value" => "FieldValueRequired",
        "Duplicate value" => "FieldValueDuplicate",
        "Unsupported value" => "FieldValueNotSupported",
        "Forbidden" => "FieldValueForbidden",
        "Too long" => "FieldValueTooLong",
        "Too many" => "FieldValueTooMany",
        "Internal error" => "InternalError",
        _ => "FieldValueInvalid",
    }
}

impl From<ClusterError> for ApiError {
    fn from(e: ClusterError) -> ApiError {
        match e {
            ClusterError::Store(s) => s.into(),
            ClusterError::NoSuchNode(n) => ApiError::not_found("nodes", &n),
            ClusterError::Custom(e) => custom_error(e),
            e @ ClusterError::Livelock { .. } => {
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "InternalError", e.to_string())
            }
        }
    }
}

/// A custom object refused: no CRD serves it (404), or its schema does not hold (422 with the
/// fields, as for any kind).
fn custom_error(e: crate::cluster::objects::custom::CustomError) -> ApiError {
    use crate::cluster::objects::custom::CustomError;
    let message = e.to_string();
    match e {
        CustomError::NoMatch { kind, .. } => {
            ApiError::new(StatusCode::NOT_FOUND, "NotFound", message).with_details(json!({"kind": kind}))
        }
        CustomError::Invalid { group, kind, name, causes } => {
            let causes: Vec<Value> = causes
                .iter()
                .map(|c| json!({"reason": cause_reason(&c.message), "message": c.message, "field": c.field}))
                .collect();
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "Invalid", message)
                .with_details(json!({"name": name, "group": group, "kind": kind, "causes": causes}))
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = self.to_status().to_string();
        (self.code, [("content-type", "application/json")], body).into_response()
    }
}

/// What a DELETE answers, as upstream's generic registry (`Store.finalizeDelete`) does: kinds whose
/// storage sets `ReturnDeletedObject` (pods and services, of ours) return the object; every
/// other kind returns a `Status` Success whose details name the object, with `kind` set to the
/// resource (upstream's "Yes we set Kind field to resource"), so a client can tell it is gone.
pub fn deleted(group: &str, resource: &str, object: Value) -> Value {
    if matches!((group, resource), ("", "pods" | "services")) {
        return object;
    }
    let meta = &object["metadata"];
    json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": {"name": meta["name"], "group": group, "kind": resource, "uid": meta["uid"]},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_upstream_field_error_type_has_its_reason() {
        for (message, reason) in [
            ("Not found: \"x\"", "FieldValueNotFound"),
            ("Required value", "FieldValueRequired"),
            ("Duplicate value: \"web\"", "FieldValueDuplicate"),
            ("Invalid value: -1: must be greater than or equal to 0", "FieldValueInvalid"),
            ("Unsupported value: \"Sometimes\": supported values: \"NoSchedule\"", "FieldValueNotSupported"),
            ("Forbidden: is not allowed", "FieldValueForbidden"),
            ("Too long: may not be more than 128 bytes", "FieldValueTooLong"),
            ("Too many: 65: must have at most 64 items", "FieldValueTooMany"),
            ("Internal error: oops", "InternalError"),
        ] {
            assert_eq!(cause_reason(message), reason, "{message}");
        }
    }

    #[test]
    fn deleting_returns_a_status_unless_the_storage_returns_the_object() {
        let object = json!({"kind": "Deployment", "metadata": {"name": "web", "uid": "u-1"}});
        let status = deleted("apps", "deployments", object.clone());
        assert_eq!(
            status,
            json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                   "details": {"name": "web", "group": "apps", "kind": "deployments", "uid": "u-1"}})
        );
        assert_eq!(deleted("", "nodes", object.clone())["details"]["kind"], "nodes");
        assert_eq!(deleted("", "pods", object.clone()), object);
        assert_eq!(deleted("", "services", object.clone()), object);
    }
}

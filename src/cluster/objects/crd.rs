//! `apiextensions.k8s.io/v1` CustomResourceDefinition: the shape, defaults and validation of
//! upstream's `apiextensions-apiserver` (`pkg/apis/apiextensions/v1/defaults.go`,
//! `pkg/apis/apiextensions/validation/validation.go`). The schema stays JSON: it is data that
//! the custom objects' validator reads, never Rust types.

use super::meta::{FieldError, ObjectMeta};
use crate::clock::Reading;
use compact_str::CompactString;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CustomResourceDefinition {
    #[serde(default)]
    pub api_version: CompactString,
    #[serde(default)]
    pub kind: CompactString,
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: CustomResourceDefinitionSpec,
    #[serde(default)]
    pub status: CustomResourceDefinitionStatus,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CustomResourceDefinitionSpec {
    #[serde(default)]
    pub group: String,
    #[serde(default)]
    pub names: CustomResourceDefinitionNames,
    /// `Namespaced` or `Cluster`.
    #[serde(default)]
    pub scope: String,
    #[serde(default)]
    pub versions: Vec<CustomResourceDefinitionVersion>,
    /// Only `None` (one stored version, no webhook) is served here; kept as sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversion: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preserve_unknown_fields: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CustomResourceDefinitionNames {
    #[serde(default)]
    pub plural: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub singular: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub short_names: Vec<String>,
    #[serde(default)]
    pub kind: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub list_kind: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub categories: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CustomResourceDefinitionVersion {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub served: bool,
    #[serde(default)]
    pub storage: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deprecated: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<CustomResourceValidation>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subresources: Option<CustomResourceSubresources>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub additional_printer_columns: Vec<CustomResourceColumnDefinition>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CustomResourceValidation {
    /// The structural schema, as sent (validated and applied by the custom objects' path).
    #[serde(rename = "openAPIV3Schema", default, skip_serializing_if = "Option::is_none")]
    pub open_api_v3_schema: Option<Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CustomResourceSubresources {
    /// Present (an empty object) when the resource has a `/status` subresource.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale: Option<Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CustomResourceColumnDefinition {
    #[serde(default)]
    pub name: String,
    #[serde(default, rename = "type")]
    pub type_: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub format: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub priority: i32,
    #[serde(default, rename = "jsonPath")]
    pub json_path: String,
}

fn is_zero(n: &i32) -> bool {
    *n == 0
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CustomResourceDefinitionStatus {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<CustomResourceDefinitionCondition>,
    #[serde(default)]
    pub accepted_names: CustomResourceDefinitionNames,
    #[serde(default)]
    pub stored_versions: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CustomResourceDefinitionCondition {
    #[serde(rename = "type")]
    pub type_: String,
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
}

pub const SCOPE_NAMESPACED: &str = "Namespaced";
pub const SCOPE_CLUSTER: &str = "Cluster";

impl CustomResourceDefinition {
    /// The version objects are stored at (validation guarantees exactly one).
    pub fn storage_version(&self) -> Option<&CustomResourceDefinitionVersion> {
        self.spec.versions.iter().find(|v| v.storage)
    }

    pub fn namespaced(&self) -> bool {
        self.spec.scope == SCOPE_NAMESPACED
    }

    /// Whether the `Established` condition is `True`: the resource is served.
    pub fn is_established(&self) -> bool {
        self.status.conditions.iter().any(|c| c.type_ == "Established" && c.status == "True")
    }

    /// Upstream's defaulting (`SetDefaults_CustomResourceDefinitionSpec`): `singular` is the
    /// lowercased kind and `listKind` is `<kind>List` when not given; conversion is `None`.
    pub fn set_defaults(&mut self) {
        let names = &mut self.spec.names;
        if names.singular.is_empty() {
            names.singular = names.kind.to_lowercase();
        }
        if names.list_kind.is_empty() && !names.kind.is_empty() {
            names.list_kind = format!("{}List", names.kind);
        }
        if self.spec.conversion.is_none() {
            self.spec.conversion = Some(json!({"strategy": "None"}));
        }
    }
}

/// Upstream's `IsDNS1035Label`, with its message.
fn dns1035_errors(value: &str) -> Vec<String> {
    let mut errors = Vec::new();
    if value.len() > 63 {
        errors.push("must be no more than 63 characters".to_string());
    }
    let ok = value.starts_with(|c: char| c.is_ascii_lowercase())
        && value.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !value.ends_with('-');
    if !ok {
        errors.push("a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')".to_string());
    }
    errors
}

fn invalid(field: impl Into<String>, value: &str, detail: &str) -> FieldError {
    FieldError::new(field, format!("Invalid value: {value:?}: {detail}"))
}

fn required(field: impl Into<String>, detail: &str) -> FieldError {
    if detail.is_empty() {
        FieldError::new(field, "Required value")
    } else {
        FieldError::new(field, format!("Required value: {detail}"))
    }
}

/// A DNS-1035 name field: `Invalid` naming the rule it breaks (`prefix` as upstream words kinds).
fn dns1035(field: &str, value: &str, prefix: &str, errors: &mut Vec<FieldError>) {
    let problems = dns1035_errors(value);
    if !problems.is_empty() {
        errors.push(invalid(field, value, &format!("{prefix}{}", problems.join(","))));
    }
}

/// `ValidateCustomResourceDefinition`: the name rule, the spec and its names.
pub fn validate(crd: &CustomResourceDefinition, errors: &mut Vec<FieldError>) {
    let spec = &crd.spec;
    if crd.metadata.name != format!("{}.{}", spec.names.plural, spec.group) {
        errors.push(invalid("metadata.name", &crd.metadata.name, "must be spec.names.plural+\".\"+spec.group"));
    }
    if spec.group.is_empty() {
        errors.push(required("spec.group", ""));
    } else {
        let mut group_errors = Vec::new();
        super::meta::validate_dns_subdomain("spec.group", &spec.group, &mut group_errors);
        if !group_errors.is_empty() {
            errors.extend(group_errors);
        } else if !spec.group.contains('.') {
            errors.push(invalid("spec.group", &spec.group, "should be a domain with at least one dot"));
        }
    }
    match spec.scope.as_str() {
        "" => errors.push(required("spec.scope", "")),
        SCOPE_NAMESPACED | SCOPE_CLUSTER => {}
        other => errors.push(FieldError::new(
            "spec.scope",
            format!("Unsupported value: {other:?}: supported values: \"Cluster\", \"Namespaced\""),
        )),
    }
    validate_versions(spec, errors);
    validate_names("spec.names", &spec.names, errors);
}

fn validate_versions(spec: &CustomResourceDefinitionSpec, errors: &mut Vec<FieldError>) {
    if spec.versions.is_empty() {
        errors.push(required("spec.versions", "must have exactly one version marked as storage version"));
        return;
    }
    let storage = spec.versions.iter().filter(|v| v.storage).count();
    if storage != 1 {
        let names: Vec<&str> = spec.versions.iter().map(|v| v.name.as_str()).collect();
        errors.push(invalid(
            "spec.versions",
            &names.join(","),
            "must have exactly one version marked as storage version",
        ));
    }
    if !spec.versions.iter().any(|v| v.served) {
        let names: Vec<&str> = spec.versions.iter().map(|v| v.name.as_str()).collect();
        errors.push(invalid("spec.versions", &names.join(","), "must have at least one served version"));
    }
    for (i, version) in spec.versions.iter().enumerate() {
        let at = format!("spec.versions[{i}]");
        if version.name.is_empty() {
            errors.push(required(format!("{at}.name"), ""));
        } else {
            dns1035(&format!("{at}.name"), &version.name, "", errors);
            if spec.versions[..i].iter().any(|v| v.name == version.name) {
                errors.push(invalid(format!("{at}.name"), &version.name, "must be unique"));
            }
        }
        let schema = version.schema.as_ref().and_then(|s| s.open_api_v3_schema.as_ref());
        let schema_at = format!("{at}.schema.openAPIV3Schema");
        match schema {
            None => errors.push(required(schema_at, "schemas are required")),
            Some(schema) => match schema.get("type").and_then(Value::as_str) {
                Some("object") => {}
                Some(other) => errors.push(invalid(format!("{schema_at}.type"), other, "must be object at the root")),
                None => errors.push(required(format!("{schema_at}.type"), "must not be empty at the root")),
            },
        }
        for (j, column) in version.additional_printer_columns.iter().enumerate() {
            let column_at = format!("{at}.additionalPrinterColumns[{j}]");
            if column.name.is_empty() {
                errors.push(required(format!("{column_at}.name"), ""));
            }
            if column.json_path.is_empty() {
                errors.push(required(format!("{column_at}.jsonPath"), ""));
            }
            const TYPES: [&str; 5] = ["boolean", "date", "integer", "number", "string"];
            if !TYPES.contains(&column.type_.as_str()) {
                errors.push(FieldError::new(
                    format!("{column_at}.type"),
                    format!(
                        "Unsupported value: {:?}: supported values: \"boolean\", \"date\", \"integer\", \"number\", \"string\"",
                        column.type_
                    ),
                ));
            }
        }
    }
}

/// `ValidateCustomResourceDefinitionNames`.
fn validate_names(at: &str, names: &CustomResourceDefinitionNames, errors: &mut Vec<FieldError>) {
    if names.plural.is_empty() {
        errors.push(required(format!("{at}.plural"), ""));
    } else {
        dns1035(&format!("{at}.plural"), &names.plural, "", errors);
    }
    if !names.singular.is_empty() {
        dns1035(&format!("{at}.singular"), &names.singular, "", errors);
    }
    const MIXED_CASE: &str = "may have mixed case, but should otherwise match: ";
    if names.kind.is_empty() {
        errors.push(required(format!("{at}.kind"), ""));
    } else if !dns1035_errors(&names.kind.to_lowercase()).is_empty() {
        let problems = dns1035_errors(&names.kind.to_lowercase()).join(",");
        errors.push(invalid(format!("{at}.kind"), &names.kind, &format!("{MIXED_CASE}{problems}")));
    }
    if !names.list_kind.is_empty() {
        let problems = dns1035_errors(&names.list_kind.to_lowercase());
        if !problems.is_empty() {
            errors.push(invalid(
                format!("{at}.listKind"),
                &names.list_kind,
                &format!("{MIXED_CASE}{}", problems.join(",")),
            ));
        } else if names.list_kind == names.kind {
            errors.push(invalid(format!("{at}.listKind"), &names.list_kind, "kind and listKind may not be the same"));
        }
    }
    for (i, short) in names.short_names.iter().enumerate() {
        dns1035(&format!("{at}.shortNames[{i}]"), short, "", errors);
    }
    for (i, category) in names.categories.iter().enumerate() {
        dns1035(&format!("{at}.categories[{i}]"), category, "", errors);
    }
}

/// Upstream's update rules once a CRD is established: storage-shaping fields are immutable.
pub fn validate_update(crd: &CustomResourceDefinition, old: &CustomResourceDefinition, errors: &mut Vec<FieldError>) {
    if !old.is_established() {
        return;
    }
    if crd.spec.scope != old.spec.scope {
        errors.push(invalid("spec.scope", &crd.spec.scope, "field is immutable"));
    }
    if crd.spec.names.kind != old.spec.names.kind {
        errors.push(invalid("spec.names.kind", &crd.spec.names.kind, "field is immutable"));
    }
}

/// `kubectl get crd`: upstream serves CRDs with the generic table, name and creation time.
pub fn cells(crd: &CustomResourceDefinition, _now: Reading) -> Vec<Value> {
    vec![json!(crd.metadata.name), json!(crd.metadata.creation_timestamp.clone().unwrap_or_default())]
}

/// The status upstream's naming and establishing controllers converge to for a CRD whose
/// names conflict with nothing: names accepted, resource established, the storage version
/// recorded. Conditions keep their `lastTransitionTime` when their status does not move.
pub fn established_status(crd: &CustomResourceDefinition, now: &str) -> CustomResourceDefinitionStatus {
    let condition = |type_: &str, reason: &str, message: &str| {
        let kept = crd
            .status
            .conditions
            .iter()
            .find(|c| c.type_ == type_ && c.status == "True")
            .and_then(|c| c.last_transition_time.clone());
        CustomResourceDefinitionCondition {
            type_: type_.into(),
            status: "True".into(),
            last_transition_time: Some(kept.unwrap_or_else(|| now.to_string())),
            reason: reason.into(),
            message: message.into(),
        }
    };
    let mut stored_versions = crd.status.stored_versions.clone();
    if let Some(storage) = crd.storage_version()
        && !stored_versions.contains(&storage.name)
    {
        stored_versions.push(storage.name.clone());
    }
    CustomResourceDefinitionStatus {
        conditions: vec![
            condition("NamesAccepted", "NoConflicts", "no conflicts found"),
            condition("Established", "InitialNamesAccepted", "the initial names have been accepted"),
        ],
        accepted_names: crd.spec.names.clone(),
        stored_versions,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crd(doc: Value) -> CustomResourceDefinition {
        let mut crd: CustomResourceDefinition = serde_json::from_value(doc).unwrap();
        crd.set_defaults();
        crd
    }

    fn widgets() -> Value {
        json!({
            "metadata": {"name": "widgets.example.com"},
            "spec": {
                "group": "example.com", "scope": "Namespaced",
                "names": {"plural": "widgets", "kind": "Widget", "shortNames": ["wd"]},
                "versions": [{"name": "v1", "served": true, "storage": true,
                    "schema": {"openAPIV3Schema": {"type": "object"}}}]
            }
        })
    }

    fn errors(doc: Value) -> Vec<String> {
        let mut errors = Vec::new();
        validate(&crd(doc), &mut errors);
        errors.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn a_well_formed_definition_is_valid_and_defaulted_as_upstream() {
        assert_eq!(errors(widgets()), Vec::<String>::new());
        let c = crd(widgets());
        assert_eq!(c.spec.names.singular, "widget");
        assert_eq!(c.spec.names.list_kind, "WidgetList");
        assert_eq!(c.spec.conversion, Some(json!({"strategy": "None"})));
    }

    #[test]
    fn the_name_must_be_plural_dot_group() {
        let mut doc = widgets();
        doc["metadata"]["name"] = json!("gadgets.example.com");
        assert_eq!(
            errors(doc),
            ["metadata.name: Invalid value: \"gadgets.example.com\": must be spec.names.plural+\".\"+spec.group"]
        );
    }

    #[test]
    fn group_scope_and_names_are_checked() {
        let mut doc = widgets();
        doc["metadata"]["name"] = json!("Widgets.example");
        doc["spec"]["group"] = json!("example");
        doc["spec"]["scope"] = json!("Global");
        doc["spec"]["names"]["plural"] = json!("Widgets");
        doc["spec"]["names"]["kind"] = json!("");
        doc["spec"]["names"]["shortNames"] = json!(["ok", "9lives"]);
        let errors = errors(doc);
        let fields: Vec<&str> = errors.iter().map(|e| e.split(':').next().unwrap()).collect();
        assert_eq!(
            fields,
            ["spec.group", "spec.scope", "spec.names.plural", "spec.names.kind", "spec.names.shortNames[1]"],
            "{errors:#?}"
        );
        assert!(errors[0].ends_with("should be a domain with at least one dot"));
        assert!(errors[1].contains("Unsupported value: \"Global\": supported values: \"Cluster\", \"Namespaced\""));
        assert!(errors[3].ends_with("Required value"));
    }

    #[test]
    fn exactly_one_storage_version_and_a_root_object_schema() {
        let mut doc = widgets();
        doc["spec"]["versions"] = json!([
            {"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {"type": "object"}}},
            {"name": "v2", "served": true, "storage": true, "schema": {"openAPIV3Schema": {"type": "string"}}},
            {"name": "v1", "served": true, "storage": false},
        ]);
        let errors = errors(doc);
        assert_eq!(
            errors,
            [
                "spec.versions: Invalid value: \"v1,v2,v1\": must have exactly one version marked as storage version",
                "spec.versions[1].schema.openAPIV3Schema.type: Invalid value: \"string\": must be object at the root",
                "spec.versions[2].name: Invalid value: \"v1\": must be unique",
                "spec.versions[2].schema.openAPIV3Schema: Required value: schemas are required",
            ]
        );
    }

    #[test]
    fn an_established_definition_keeps_its_scope_and_kind() {
        let old = {
            let mut c = crd(widgets());
            c.status = established_status(&c, "2026-01-01T00:00:00Z");
            c
        };
        let mut changed = old.clone();
        changed.spec.scope = SCOPE_CLUSTER.into();
        changed.spec.names.kind = "Gadget".into();
        let mut errors = Vec::new();
        validate_update(&changed, &old, &mut errors);
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["spec.scope", "spec.names.kind"]);
    }

    #[test]
    fn established_status_keeps_transition_times() {
        let mut c = crd(widgets());
        c.status = established_status(&c, "2026-01-01T00:00:00Z");
        assert!(c.is_established());
        assert_eq!(c.status.stored_versions, ["v1"]);
        assert_eq!(c.status.accepted_names.plural, "widgets");
        let again = established_status(&c, "2026-01-01T00:05:00Z");
        assert_eq!(again, c.status, "a converged status is rewritten identically (no write)");
    }
}

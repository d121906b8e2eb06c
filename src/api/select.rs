//! Label and field selectors as kubectl sends them (`?labelSelector=app=web,tier!=db`,
//! `?fieldSelector=spec.nodeName=pin-3,status.phase!=Succeeded`). Terms arrive in any order.

use super::status::ApiError;
use serde_json::Value;
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq)]
enum LabelTerm {
    Equals(String, String),
    NotEquals(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct LabelSelector(Vec<LabelTerm>);

/// Splits on commas that are not inside parentheses (`env in (a,b),tier=web`).
fn split_terms(text: &str) -> Vec<&str> {
    let mut terms = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                terms.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    terms.push(&text[start..]);
    terms.into_iter().map(str::trim).filter(|t| !t.is_empty()).collect()
}

impl LabelSelector {
    pub fn parse(text: &str) -> Result<LabelSelector, ApiError> {
        let bad =
            |t: &str| ApiError::bad_request(format!("unable to parse requirement: invalid label selector term {t:?}"));
        let mut terms = Vec::new();
        for term in split_terms(text) {
            let set = |rest: &str| -> Option<Vec<String>> {
                let inner = rest.trim().strip_prefix('(')?.strip_suffix(')')?;
                Some(inner.split(',').map(|v| v.trim().to_string()).filter(|v| !v.is_empty()).collect())
            };
            let parsed = if let Some(key) = term.strip_prefix('!') {
                LabelTerm::NotExists(key.trim().to_string())
            } else if let Some((k, v)) = term.split_once("!=") {
                LabelTerm::NotEquals(k.trim().into(), v.trim().into())
            } else if let Some((k, v)) = term.split_once("==") {
                LabelTerm::Equals(k.trim().into(), v.trim().into())
            } else if let Some((k, v)) = term.split_once('=') {
                LabelTerm::Equals(k.trim().into(), v.trim().into())
            } else if let Some((k, rest)) = term.split_once(" notin ") {
                LabelTerm::NotIn(k.trim().into(), set(rest).ok_or_else(|| bad(term))?)
            } else if let Some((k, rest)) = term.split_once(" in ") {
                LabelTerm::In(k.trim().into(), set(rest).ok_or_else(|| bad(term))?)
            } else if term.chars().all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c)) {
                LabelTerm::Exists(term.to_string())
            } else {
                return Err(bad(term));
            };
            terms.push(parsed);
        }
        Ok(LabelSelector(terms))
    }

    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.0.iter().all(|t| match t {
            LabelTerm::Equals(k, v) => labels.get(k) == Some(v),
            LabelTerm::NotEquals(k, v) => labels.get(k) != Some(v),
            LabelTerm::In(k, vs) => labels.get(k).is_some_and(|v| vs.contains(v)),
            LabelTerm::NotIn(k, vs) => labels.get(k).is_none_or(|v| !vs.contains(v)),
            LabelTerm::Exists(k) => labels.contains_key(k),
            LabelTerm::NotExists(k) => !labels.contains_key(k),
        })
    }
}

/// Field selectors: `field=value`, `field==value`, `field!=value` on the fields upstream
/// supports for our kinds.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FieldSelector(Vec<(String, bool, String)>);

const FIELDS: [&str; 12] = [
    "metadata.name",
    "metadata.namespace",
    "spec.nodeName",
    "status.phase",
    "spec.unschedulable",
    "involvedObject.kind",
    "involvedObject.namespace",
    "involvedObject.name",
    "involvedObject.uid",
    "involvedObject.apiVersion",
    "reason",
    "type",
];

impl FieldSelector {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn parse(text: &str) -> Result<FieldSelector, ApiError> {
        let mut terms = Vec::new();
        for term in split_terms(text) {
            let (field, equal, value) = if let Some((f, v)) = term.split_once("!=") {
                (f, false, v)
            } else if let Some((f, v)) = term.split_once("==") {
                (f, true, v)
            } else if let Some((f, v)) = term.split_once('=') {
                (f, true, v)
            } else {
                return Err(ApiError::bad_request(format!(
                    "invalid field selector term {term:?}: expected field=value or field!=value"
                )));
            };
            let field = field.trim();
            if !FIELDS.contains(&field) {
                return Err(ApiError::bad_request(format!("field label not supported: {field}")));
            }
            terms.push((field.to_string(), equal, value.trim().to_string()));
        }
        Ok(FieldSelector(terms))
    }

    /// Matches against the object's JSON; a missing field reads as "" (so
    /// `involvedObject.namespace=` matches cluster-scoped objects, as upstream).
    pub fn matches(&self, object: &Value) -> bool {
        self.0.iter().all(|(field, equal, value)| {
            let mut at = object;
            for part in field.split('.') {
                at = at.get(part).unwrap_or(&Value::Null);
            }
            let actual = match at {
                Value::String(s) => s.clone(),
                Value::Bool(b) => b.to_string(),
                Value::Null => {
                    if field == "spec.unschedulable" {
                        "false".into()
                    } else {
                        String::new()
                    }
                }
                other => other.to_string(),
            };
            (actual == *value) == *equal
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn label_selectors_like_kubectl() {
        let labels: BTreeMap<String, String> = [("app".into(), "web".into()), ("tier".into(), "front".into())].into();
        for (sel, want) in [
            ("app=web", true),
            ("app==web,tier=front", true),
            ("app!=web", false),
            ("app in (web,api)", true),
            ("app notin (web)", false),
            ("tier", true),
            ("!tier", false),
            ("!missing,app", true),
        ] {
            assert_eq!(LabelSelector::parse(sel).unwrap().matches(&labels), want, "{sel}");
        }
        assert!(LabelSelector::parse("app in web").is_err());
        assert!(LabelSelector::parse("a b c").is_err());
    }

    #[test]
    fn field_selectors_like_kubectl() {
        let pod = json!({"metadata": {"name": "p", "namespace": "default"}, "spec": {"nodeName": "pin-3"}, "status": {"phase": "Running"}});
        let sel = FieldSelector::parse("status.phase!=Succeeded,spec.nodeName=pin-3,status.phase!=Failed").unwrap();
        assert!(sel.matches(&pod));
        assert!(!FieldSelector::parse("spec.nodeName=pin-4").unwrap().matches(&pod));
        let event = json!({"involvedObject": {"kind": "Node", "name": "pin-1"}});
        assert!(FieldSelector::parse("involvedObject.namespace=,involvedObject.name=pin-1").unwrap().matches(&event));
        assert!(FieldSelector::parse("spec.bogus=1").is_err());
        assert!(FieldSelector::parse("nonsense").is_err());
    }
}

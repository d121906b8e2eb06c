//! `events.k8s.io/v1` Events: the same Events as `core/v1`, read through upstream's field mapping
//! (`note`, `regarding`, `reportingController`, `deprecated*`...), so clients of the newer API
//! can list, get and watch them. Read-only: Pinsetter's components write core Events.

use super::status::ApiError;
use super::{Api, Query, Target, get, list, watch};
use axum::body::{Body, Bytes};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use serde_json::{Map, Value, json};

pub const GROUP: &str = "events.k8s.io";

/// Upstream's conversion of a `core/v1` Event into `events.k8s.io/v1`. `eventTime` (required by
/// the strict generated models) falls back to the first time the event was seen, in MicroTime.
pub fn from_core(core: &Value) -> Value {
    let mut event = Map::new();
    event.insert("kind".into(), json!("Event"));
    event.insert("apiVersion".into(), json!("events.k8s.io/v1"));
    let field = |name: &str| core.get(name).filter(|v| !v.is_null() && *v != "").cloned();
    let mut put = |to: &str, value: Option<Value>| {
        if let Some(value) = value {
            event.insert(to.into(), value);
        }
    };
    put("metadata", field("metadata"));
    let first = field("firstTimestamp");
    put("eventTime", field("eventTime").or_else(|| first.as_ref().map(micro_time)));
    put("series", field("series"));
    put("reportingController", field("reportingComponent"));
    put("reportingInstance", field("reportingInstance"));
    put("action", field("action"));
    put("reason", field("reason"));
    put("regarding", field("involvedObject"));
    put("related", field("related"));
    put("note", field("message"));
    put("type", field("type"));
    put("deprecatedSource", field("source"));
    put("deprecatedFirstTimestamp", first);
    put("deprecatedLastTimestamp", field("lastTimestamp"));
    put("deprecatedCount", field("count").filter(|c| c.as_i64().is_some_and(|c| c > 0)));
    Value::Object(event)
}

/// `2026-01-01T00:00:00Z` as MicroTime, `2026-01-01T00:00:00.000000Z`.
fn micro_time(time: &Value) -> Value {
    match time.as_str() {
        Some(t) if !t.contains('.') => json!(t.replacen('Z', ".000000Z", 1)),
        _ => time.clone(),
    }
}

/// GET list, get and watch, answered by the core handlers and converted on the way out.
pub(super) async fn route(
    api: &Api,
    method: &Method,
    target: Target,
    query: Query,
    table: bool,
) -> Result<Response, ApiError> {
    if *method != Method::GET || target.sub.is_some() {
        return Err(ApiError::method_not_allowed("events.k8s.io/v1 events are read-only here"));
    }
    if table {
        // Tables carry their own rows; the cells are the same either way.
        return match target.name {
            Some(_) => get(api, target, query, table).await,
            None if query.watch => watch(api, target, query, table).await,
            None => list(api, target, query, table).await,
        };
    }
    match target.name {
        Some(_) => convert_body(get(api, target, query, false).await?, |object| from_core(&object)).await,
        None if query.watch => Ok(convert_watch(watch(api, target, query, false).await?)),
        None => {
            convert_body(list(api, target, query, false).await?, |mut list| {
                if let Some(items) = list.get_mut("items").and_then(Value::as_array_mut) {
                    for item in items.iter_mut() {
                        *item = from_core(item);
                    }
                }
                list
            })
            .await
        }
    }
}

/// Rewrites a JSON response's body (the list envelope already names `events.k8s.io/v1`).
async fn convert_body(response: Response, convert: impl FnOnce(Value) -> Value) -> Result<Response, ApiError> {
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "InternalError", e.to_string()))?;
    let value: Value = serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "InternalError", e.to_string()))?;
    Ok((parts, convert(value).to_string()).into_response())
}

/// Converts each event of a watch stream (one JSON line a chunk); ERROR events pass unchanged.
fn convert_watch(response: Response) -> Response {
    let (parts, body) = response.into_parts();
    let events = body.into_data_stream().map(|chunk| {
        chunk.map(|chunk| match serde_json::from_slice::<Value>(&chunk) {
            Ok(mut event) if event["type"] != "ERROR" => {
                event["object"] = from_core(&event["object"]);
                Bytes::from(format!("{event}\n"))
            }
            _ => chunk,
        })
    });
    Response::from_parts(parts, Body::from_stream(events))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_fields_map_as_upstreams_conversion() {
        let core = json!({"kind": "Event", "apiVersion": "v1", "metadata": {"name": "e1", "namespace": "default"},
            "involvedObject": {"kind": "Pod", "name": "web-1"}, "reason": "Scheduled", "message": "Successfully assigned",
            "type": "Normal", "count": 2, "firstTimestamp": "2026-01-01T00:00:00Z", "lastTimestamp": "2026-01-01T00:00:05Z",
            "source": {"component": "default-scheduler"}, "reportingComponent": "default-scheduler"});
        assert_eq!(
            from_core(&core),
            json!({"kind": "Event", "apiVersion": "events.k8s.io/v1", "metadata": {"name": "e1", "namespace": "default"},
                "eventTime": "2026-01-01T00:00:00.000000Z", "reportingController": "default-scheduler",
                "reason": "Scheduled", "regarding": {"kind": "Pod", "name": "web-1"}, "note": "Successfully assigned",
                "type": "Normal", "deprecatedSource": {"component": "default-scheduler"},
                "deprecatedFirstTimestamp": "2026-01-01T00:00:00Z", "deprecatedLastTimestamp": "2026-01-01T00:00:05Z",
                "deprecatedCount": 2})
        );
    }
}

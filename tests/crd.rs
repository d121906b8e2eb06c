//! CustomResourceDefinitions over HTTP, driven with axum's `oneshot` as `tests/api.rs` does:
//! definitions validated and established as apiextensions-apiserver does, and the custom
//! resources they define served like any kind.

mod common;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::lane::{Lane, lane};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use std::time::Duration;
use tower::ServiceExt;

const CRDS: &str = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions";

async fn send(lane: &Lane, method: &str, uri: &str, content_type: &str, body: impl Into<Body>) -> (StatusCode, Value) {
    let request =
        Request::builder().method(method).uri(uri).header("content-type", content_type).body(body.into()).unwrap();
    let response = lane.router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into())))
}

async fn get(lane: &Lane, uri: &str) -> (StatusCode, Value) {
    send(lane, "GET", uri, "application/json", Body::empty()).await
}

fn widgets() -> Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com", "scope": "Namespaced",
            "names": {"plural": "widgets", "kind": "Widget", "shortNames": ["wd"], "categories": ["all"]},
            "versions": [{
                "name": "v1", "served": true, "storage": true,
                "subresources": {"status": {}},
                "additionalPrinterColumns": [
                    {"name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas"},
                    {"name": "Color", "type": "string", "jsonPath": ".spec.color", "priority": 1}
                ],
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                    "spec": {"type": "object", "required": ["replicas"], "properties": {
                        "replicas": {"type": "integer", "minimum": 0, "maximum": 10},
                        "color": {"type": "string", "enum": ["red", "blue"]},
                        "name": {"type": "string", "pattern": "^[a-z]+$", "maxLength": 8},
                        "tags": {"type": "array", "items": {"type": "string", "minLength": 2}},
                        "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}
                    }},
                    "status": {"type": "object", "properties": {"ready": {"type": "integer"}}}
                }}}
            }]
        }
    })
}

/// Waits for the establishing controller (a few ticks) and returns the CRD.
async fn established(lane: &Lane, name: &str) -> Value {
    for _ in 0..500 {
        let (code, crd) = get(lane, &format!("{CRDS}/{name}")).await;
        assert_eq!(code, StatusCode::OK, "{crd}");
        if crd["status"]["conditions"].as_array().is_some_and(|c| c.iter().any(|c| c["type"] == "Established")) {
            return crd;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("{name} was never established");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_definition_is_validated_as_upstream_and_refused_whole() {
    let lane = lane();
    let mut bad = widgets();
    bad["metadata"]["name"] = json!("gadgets.example.com");
    bad["spec"]["scope"] = json!("Everywhere");
    bad["spec"]["versions"][0]["storage"] = json!(false);
    let (code, status) = send(&lane, "POST", CRDS, "application/json", bad.to_string()).await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{status}");
    assert_eq!(status["reason"], "Invalid");
    assert_eq!(status["details"]["kind"], "CustomResourceDefinition");
    assert_eq!(status["details"]["group"], "apiextensions.k8s.io");
    let causes: Vec<(&str, &str)> = status["details"]["causes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["field"].as_str().unwrap(), c["reason"].as_str().unwrap()))
        .collect();
    assert_eq!(
        causes,
        [
            ("metadata.name", "FieldValueInvalid"),
            ("spec.scope", "FieldValueNotSupported"),
            ("spec.versions", "FieldValueInvalid"),
        ]
    );
    assert!(
        status["message"].as_str().unwrap().starts_with(
            "CustomResourceDefinition.apiextensions.k8s.io \"gadgets.example.com\" is invalid: metadata.name: Invalid value: \"gadgets.example.com\": must be spec.names.plural+\".\"+spec.group"
        ),
        "{status}"
    );
    let (_, list) = get(&lane, CRDS).await;
    let names: Vec<&str> =
        list["items"].as_array().unwrap().iter().filter_map(|c| c["metadata"]["name"].as_str()).collect();
    assert_eq!(names, ["rolls.pinsetter.dev"], "nothing was written: only the CRD every lane starts with is there");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_definition_is_established_and_discovered_as_a_crd() {
    let lane = lane();
    let (code, created) = send(&lane, "POST", CRDS, "application/json", widgets().to_string()).await;
    assert_eq!(code, StatusCode::CREATED, "{created}");
    assert_eq!(created["spec"]["names"]["singular"], "widget", "defaulted");
    assert_eq!(created["spec"]["names"]["listKind"], "WidgetList", "defaulted");
    let crd = established(&lane, "widgets.example.com").await;
    let conditions: Vec<(&str, &str, &str)> = crd["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["type"].as_str().unwrap(), c["status"].as_str().unwrap(), c["reason"].as_str().unwrap()))
        .collect();
    assert_eq!(conditions, [("NamesAccepted", "True", "NoConflicts"), ("Established", "True", "InitialNamesAccepted")]);
    assert_eq!(crd["status"]["storedVersions"], json!(["v1"]));
    let (_, group) = get(&lane, "/apis/apiextensions.k8s.io/v1").await;
    let entry = group["resources"].as_array().unwrap().iter().find(|r| r["name"] == "customresourcedefinitions");
    assert_eq!(entry.unwrap()["shortNames"], json!(["crd", "crds"]));
}

const WIDGETS: &str = "/apis/example.com/v1/namespaces/default/widgets";

async fn with_widgets() -> Lane {
    let lane = lane();
    let (code, created) = send(&lane, "POST", CRDS, "application/json", widgets().to_string()).await;
    assert_eq!(code, StatusCode::CREATED, "{created}");
    established(&lane, "widgets.example.com").await;
    lane
}

fn widget(name: &str, spec: Value) -> String {
    json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": name}, "spec": spec}).to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_resource_is_discovered_with_its_names_and_served_like_any_kind() {
    let lane = with_widgets().await;
    let (code, groups) = get(&lane, "/apis").await;
    assert_eq!(code, StatusCode::OK);
    let group = groups["groups"].as_array().unwrap().iter().find(|g| g["name"] == "example.com").expect("listed");
    assert_eq!(group["preferredVersion"]["groupVersion"], "example.com/v1");
    let (code, resources) = get(&lane, "/apis/example.com/v1").await;
    assert_eq!(code, StatusCode::OK, "{resources}");
    let names: Vec<&str> =
        resources["resources"].as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["widgets", "widgets/status"]);
    let entry = &resources["resources"][0];
    assert_eq!(
        (&entry["kind"], &entry["singularName"], &entry["shortNames"], &entry["categories"], &entry["namespaced"]),
        (&json!("Widget"), &json!("widget"), &json!(["wd"]), &json!(["all"]), &json!(true))
    );

    // Create (unknown fields pruned, status dropped on create), get, list with a selector, page.
    let mut body: Value = serde_json::from_str(&widget("a", json!({"replicas": 1, "bogus": true}))).unwrap();
    body["metadata"]["labels"] = json!({"tier": "gold"});
    body["status"] = json!({"ready": 9});
    let (code, created) = send(&lane, "POST", WIDGETS, "application/json", body.to_string()).await;
    assert_eq!(code, StatusCode::CREATED, "{created}");
    assert_eq!(created["spec"], json!({"replicas": 1}));
    assert_eq!(created["status"], Value::Null);
    assert_eq!(created["metadata"]["namespace"], "default");
    for name in ["b", "c"] {
        let (code, _) = send(&lane, "POST", WIDGETS, "application/json", widget(name, json!({"replicas": 2}))).await;
        assert_eq!(code, StatusCode::CREATED);
    }
    let (code, got) = get(&lane, &format!("{WIDGETS}/a")).await;
    assert_eq!((code, &got["kind"], &got["apiVersion"]), (StatusCode::OK, &json!("Widget"), &json!("example.com/v1")));
    let (_, selected) = get(&lane, &format!("{WIDGETS}?labelSelector=tier%3Dgold")).await;
    assert_eq!(selected["kind"], "WidgetList");
    assert_eq!(selected["items"].as_array().unwrap().len(), 1);
    let (_, page) = get(&lane, &format!("{WIDGETS}?limit=2")).await;
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    let token = page["metadata"]["continue"].as_str().expect("more").to_string();
    let (_, rest) = get(&lane, &format!("{WIDGETS}?limit=2&continue={token}")).await;
    let rest: Vec<&str> =
        rest["items"].as_array().unwrap().iter().map(|i| i["metadata"]["name"].as_str().unwrap()).collect();
    assert_eq!(rest, ["c"]);
    let (_, everywhere) = get(&lane, "/apis/example.com/v1/widgets").await;
    assert_eq!(everywhere["items"].as_array().unwrap().len(), 3);

    // Merge patch, JSON patch, replace; the main resource ignores status.
    let (code, patched) = send(
        &lane,
        "PATCH",
        &format!("{WIDGETS}/a"),
        "application/merge-patch+json",
        r#"{"spec":{"color":"red"},"status":{"ready":5}}"#,
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{patched}");
    assert_eq!((&patched["spec"]["color"], &patched["status"]), (&json!("red"), &Value::Null));
    let (code, patched) = send(
        &lane,
        "PATCH",
        &format!("{WIDGETS}/a"),
        "application/json-patch+json",
        r#"[{"op":"replace","path":"/spec/replicas","value":3}]"#,
    )
    .await;
    assert_eq!((code, &patched["spec"]["replicas"]), (StatusCode::OK, &json!(3)));
    assert_eq!(patched["metadata"]["generation"], 3, "spec writes move the generation");

    // The status subresource writes status only.
    let mut status_write = patched.clone();
    status_write["status"] = json!({"ready": 3});
    status_write["spec"]["replicas"] = json!(7);
    let (code, written) =
        send(&lane, "PUT", &format!("{WIDGETS}/a/status"), "application/json", status_write.to_string()).await;
    assert_eq!(code, StatusCode::OK, "{written}");
    assert_eq!((&written["status"]["ready"], &written["spec"]["replicas"]), (&json!(3), &json!(3)));
    assert_eq!(written["metadata"]["generation"], 3, "a status write does not move the generation");
    let (code, written) = send(
        &lane,
        "PATCH",
        &format!("{WIDGETS}/a/status"),
        "application/merge-patch+json",
        r#"{"status":{"ready":"x"}}"#,
    )
    .await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "status is validated too: {written}");
    assert_eq!(written["details"]["causes"][0]["field"], "status.ready");

    // A table has the CRD's printer columns.
    let request = Request::builder()
        .uri(WIDGETS)
        .header("accept", "application/json;as=Table;v=v1;g=meta.k8s.io")
        .body(Body::empty())
        .unwrap();
    let bytes = lane.router.clone().oneshot(request).await.unwrap().into_body().collect().await.unwrap().to_bytes();
    let table: Value = serde_json::from_slice(&bytes).unwrap();
    let columns: Vec<&str> =
        table["columnDefinitions"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(columns, ["Name", "Replicas", "Color"]);
    assert_eq!(table["rows"][0]["cells"], json!(["a", 3, "red"]));
    assert_eq!(table["rows"][1]["cells"], json!(["b", 2, null]));

    let (code, _) = send(&lane, "DELETE", &format!("{WIDGETS}/b"), "application/json", Body::empty()).await;
    assert_eq!(code, StatusCode::OK);
    let (code, gone) = get(&lane, &format!("{WIDGETS}/b")).await;
    assert_eq!(code, StatusCode::NOT_FOUND, "{gone}");
    assert_eq!(gone["message"], "widgets.example.com \"b\" not found");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_object_is_refused_naming_its_fields_and_nothing_is_written() {
    let lane = with_widgets().await;
    let (code, status) = send(
        &lane,
        "POST",
        WIDGETS,
        "application/json",
        widget("bad", json!({"replicas": 11, "color": "green", "name": "ABC", "tags": ["x"]})),
    )
    .await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{status}");
    let causes: Vec<(&str, &str)> = status["details"]["causes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["field"].as_str().unwrap(), c["reason"].as_str().unwrap()))
        .collect();
    assert_eq!(
        causes,
        [
            ("spec.color", "FieldValueNotSupported"),
            ("spec.name", "FieldValueInvalid"),
            ("spec.replicas", "FieldValueInvalid"),
            ("spec.tags[0]", "FieldValueInvalid"),
        ]
    );
    assert_eq!((&status["details"]["kind"], &status["details"]["group"]), (&json!("Widget"), &json!("example.com")));
    assert!(
        status["message"].as_str().unwrap().starts_with("Widget.example.com \"bad\" is invalid: spec.color: Unsupported value: \"green\": supported values: \"red\", \"blue\""),
        "{status}"
    );
    let (code, status) = send(&lane, "POST", WIDGETS, "application/json", widget("bad", json!({}))).await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        (&status["details"]["causes"][0]["field"], &status["details"]["causes"][0]["reason"]),
        (&json!("spec.replicas"), &json!("FieldValueRequired"))
    );
    let (_, list) = get(&lane, WIDGETS).await;
    assert_eq!(list["items"], json!([]));
    let (code, _) = get(&lane, "/apis/example.com/v1/namespaces/default/gadgets").await;
    assert_eq!(code, StatusCode::NOT_FOUND, "an undefined resource is not served");
}

#[tokio::test(flavor = "multi_thread")]
async fn deleting_the_definition_deletes_its_objects_and_their_watchers_see_them_go() {
    let lane = with_widgets().await;
    for name in ["a", "b"] {
        let (code, _) = send(&lane, "POST", WIDGETS, "application/json", widget(name, json!({"replicas": 1}))).await;
        assert_eq!(code, StatusCode::CREATED);
    }
    let (_, list) = get(&lane, WIDGETS).await;
    let rv = list["metadata"]["resourceVersion"].as_str().unwrap().to_string();
    let request =
        Request::builder().uri(format!("{WIDGETS}?watch=true&resourceVersion={rv}")).body(Body::empty()).unwrap();
    let response = lane.router.clone().oneshot(request).await.unwrap();
    let (code, _) =
        send(&lane, "DELETE", &format!("{CRDS}/widgets.example.com"), "application/json", Body::empty()).await;
    assert_eq!(code, StatusCode::OK);
    let mut body = response.into_body();
    let mut events = Vec::new();
    let mut buffer = String::new();
    while events.len() < 2 {
        let frame =
            tokio::time::timeout(Duration::from_secs(10), body.frame()).await.expect("events come").unwrap().unwrap();
        buffer.push_str(std::str::from_utf8(&frame.into_data().unwrap()).unwrap());
        while let Some((line, rest)) = buffer.split_once('\n') {
            let event: Value = serde_json::from_str(line).unwrap();
            events.push((
                event["type"].as_str().unwrap().to_string(),
                event["object"]["metadata"]["name"].as_str().unwrap().to_string(),
            ));
            buffer = rest.to_string();
        }
    }
    assert_eq!(events, [("DELETED".to_string(), "a".to_string()), ("DELETED".to_string(), "b".to_string())]);
    let (code, _) = get(&lane, WIDGETS).await;
    assert_eq!(code, StatusCode::NOT_FOUND, "the resource is no longer served");
}

/// Polls `/openapi/v3` until `ok` holds for its `paths`, and returns them.
async fn openapi_index(lane: &Lane, ok: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..1000 {
        let (code, root) = get(lane, "/openapi/v3").await;
        assert_eq!(code, StatusCode::OK, "{root}");
        if ok(&root["paths"]) {
            return root["paths"].clone();
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("the /openapi/v3 index never got there");
}

/// kubectl asks `/openapi/v3` before any `apply -f`: a CRD's group and version must have a
/// document there (the Roll CRD's from the start), built from its schema, that comes and goes
/// with the CRD.
#[tokio::test(flavor = "multi_thread")]
async fn each_crd_group_version_has_an_openapi_v3_document_that_follows_the_crds() {
    let lane = lane();
    let paths = openapi_index(&lane, |p| p.get("apis/pinsetter.dev/v1alpha1").is_some()).await;
    assert!(paths.get("apis/apps/v1").is_some(), "built-in groups stay listed: {paths}");
    let url = paths["apis/pinsetter.dev/v1alpha1"]["serverRelativeURL"].as_str().unwrap().to_string();
    assert!(url.starts_with("/openapi/v3/apis/pinsetter.dev/v1alpha1?hash="), "{url}");
    let (code, doc) = get(&lane, &url).await;
    assert_eq!(code, StatusCode::OK, "{doc}");
    let patch = &doc["paths"]["/apis/pinsetter.dev/v1alpha1/namespaces/{namespace}/rolls/{name}"]["patch"];
    assert_eq!(
        patch["x-kubernetes-group-version-kind"],
        json!({"group": "pinsetter.dev", "version": "v1alpha1", "kind": "Roll"}),
        "{doc:#}"
    );
    assert_eq!(patch["parameters"][0]["name"], "fieldValidation");
    let schema = &doc["components"]["schemas"]["dev.pinsetter.v1alpha1.Roll"];
    assert_eq!(schema["properties"]["spec"]["properties"]["failure"]["enum"], json!(["crash"]), "{doc:#}");
    assert_eq!(schema["x-kubernetes-group-version-kind"][0]["kind"], "Roll");

    let (code, _) = send(&lane, "POST", CRDS, "application/json", widgets().to_string()).await;
    assert_eq!(code, StatusCode::CREATED);
    established(&lane, "widgets.example.com").await;
    let paths = openapi_index(&lane, |p| p.get("apis/example.com/v1").is_some()).await;
    let url = paths["apis/example.com/v1"]["serverRelativeURL"].as_str().unwrap().to_string();
    let (code, doc) = get(&lane, &url).await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(
        doc["components"]["schemas"]["com.example.v1.Widget"]["properties"]["spec"]["required"],
        json!(["replicas"])
    );

    let (code, _) =
        send(&lane, "DELETE", &format!("{CRDS}/widgets.example.com"), "application/json", Body::empty()).await;
    assert_eq!(code, StatusCode::OK);
    openapi_index(&lane, |p| p.get("apis/example.com/v1").is_none()).await;
    let (code, _) = get(&lane, "/openapi/v3/apis/example.com/v1").await;
    assert_eq!(code, StatusCode::NOT_FOUND);
}

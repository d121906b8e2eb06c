//! `pinsetter ctl`: a tiny built-in client (the original design's kubectl-lite) for people
//! without kubectl. It talks to the same API over HTTP(S) and prints the server's tables.

use anyhow::{Context, Result, bail};
use serde_json::Value;
use std::io::{BufRead, Write};

/// Prints a line; a closed pipe (`| head`) ends the output quietly instead of panicking.
fn emit(text: &str) {
    let _ = writeln!(std::io::stdout().lock(), "{text}");
}

pub struct Client {
    agent: ureq::Agent,
    server: String,
    token: Option<String>,
}

impl Client {
    /// An https server is verified against the local CA that `serve --tls` created.
    pub fn new(server: &str, token: Option<String>) -> Result<Client> {
        let mut config = ureq::Agent::config_builder().http_status_as_error(false);
        if server.starts_with("https://") {
            let pem = crate::api::tls::ca_certificate(&crate::api::tls::ca_dir())?;
            let ca = ureq::tls::Certificate::from_pem(pem.as_bytes()).context("reading the local CA")?;
            let tls = ureq::tls::TlsConfig::builder().root_certs(ureq::tls::RootCerts::new_with_certs(&[ca])).build();
            config = config.tls_config(tls);
        }
        Ok(Client { agent: config.build().into(), server: server.trim_end_matches('/').to_string(), token })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server)
    }

    fn authorize<B>(&self, request: ureq::RequestBuilder<B>) -> ureq::RequestBuilder<B> {
        match &self.token {
            Some(t) => request.header("Authorization", format!("Bearer {t}")),
            None => request,
        }
    }

    /// Turns a response into its JSON, or the server's Status message into an error.
    fn json(&self, mut response: ureq::http::Response<ureq::Body>) -> Result<Value> {
        let status = response.status();
        let text = response.body_mut().read_to_string().context("reading the response")?;
        let value: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        if !status.is_success() {
            let message =
                value.get("message").and_then(Value::as_str).map_or_else(|| value.to_string(), str::to_string);
            bail!(
                "Error from server ({}): {message}",
                value.get("reason").and_then(Value::as_str).unwrap_or(status.as_str())
            );
        }
        Ok(value)
    }

    fn get(&self, path: &str, table: bool) -> Result<Value> {
        let mut request = self.authorize(self.agent.get(&self.url(path)));
        if table {
            request = request.header("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io,application/json");
        }
        let response = request.call().with_context(|| format!("cannot reach {}", self.server))?;
        self.json(response)
    }

    fn send(&self, method: &str, path: &str, content_type: &str, body: &str) -> Result<Value> {
        let url = self.url(path);
        let request = match method {
            "PATCH" => self.agent.patch(&url),
            "PUT" => self.agent.put(&url),
            _ => self.agent.post(&url),
        };
        let response = self
            .authorize(request)
            .header("Content-Type", content_type)
            .send(body)
            .with_context(|| format!("cannot reach {}", self.server))?;
        self.json(response)
    }
}

/// Where each resource kind lives.
fn collection(kind: &str) -> Result<&'static str> {
    Ok(match kind {
        "nodes" | "node" | "no" => "/api/v1/nodes",
        "pods" | "pod" | "po" => "/api/v1/namespaces/default/pods",
        "deployments" | "deployment" | "deploy" => "/apis/apps/v1/namespaces/default/deployments",
        "replicasets" | "replicaset" | "rs" => "/apis/apps/v1/namespaces/default/replicasets",
        "events" | "event" | "ev" => "/api/v1/namespaces/default/events",
        other => bail!("unknown resource {other:?}: use nodes, pods, deployments, replicasets or events"),
    })
}

/// A server-side Table as aligned text, the way kubectl prints it.
pub fn format_table(table: &Value, wide: bool) -> String {
    let columns: Vec<(usize, String)> = table["columnDefinitions"]
        .as_array()
        .map(|c| {
            c.iter()
                .enumerate()
                .filter(|(_, c)| wide || c["priority"].as_u64().unwrap_or(0) == 0)
                .map(|(i, c)| (i, c["name"].as_str().unwrap_or("").to_uppercase()))
                .collect()
        })
        .unwrap_or_default();
    let rows: Vec<Vec<String>> = table["rows"]
        .as_array()
        .map(|rows| {
            rows.iter()
                .map(|r| {
                    columns
                        .iter()
                        .map(|(i, _)| match &r["cells"][*i] {
                            Value::String(s) => s.clone(),
                            v => v.to_string(),
                        })
                        .collect()
                })
                .collect()
        })
        .unwrap_or_default();
    let mut widths: Vec<usize> = columns.iter().map(|(_, n)| n.len()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect::<Vec<_>>()
            .join("   ")
            .trim_end()
            .to_string()
    };
    let mut out = line(columns.iter().map(|(_, n)| n.as_str()).collect());
    for row in &rows {
        out.push('\n');
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

pub fn get(client: &Client, kind: &str, wide: bool) -> Result<()> {
    let table = client.get(collection(kind)?, true)?;
    if table["rows"].as_array().is_some_and(|r| r.is_empty()) {
        eprintln!("No resources found.");
        return Ok(());
    }
    emit(&format_table(&table, wide));
    Ok(())
}

pub fn scale(client: &Client, deployment: &str, replicas: i32) -> Result<()> {
    if replicas < 0 {
        bail!("replicas must be 0 or more");
    }
    let path = format!("/apis/apps/v1/namespaces/default/deployments/{deployment}/scale");
    client.send("PATCH", &path, "application/merge-patch+json", &format!(r#"{{"spec":{{"replicas":{replicas}}}}}"#))?;
    emit(&format!("deployment.apps/{deployment} scaled"));
    Ok(())
}

pub fn cordon(client: &Client, node: &str, unschedulable: bool) -> Result<()> {
    let body = if unschedulable { r#"{"spec":{"unschedulable":true}}"# } else { r#"{"spec":{"unschedulable":null}}"# };
    client.send("PATCH", &format!("/api/v1/nodes/{node}"), "application/strategic-merge-patch+json", body)?;
    emit(&format!("node/{node} {}", if unschedulable { "cordoned" } else { "uncordoned" }));
    Ok(())
}

/// Knocks a pin over (or stands it up): Pinsetter's own verb, outside the Kubernetes API.
pub fn knock(client: &Client, node: &str, restore: bool) -> Result<()> {
    let verb = if restore { "restore" } else { "knock" };
    client.send("POST", &format!("/pinsetter/v1/nodes/{node}/{verb}"), "application/json", "{}")?;
    emit(&format!("node/{node} {}", if restore { "restored" } else { "knocked over: its kubelet stopped" }));
    Ok(())
}

/// Deletes the Nodes of pin agents gone at least `older_than` (the server decides, by its own
/// clock, which agents that is) and prints one line per pruned node.
pub fn prune(client: &Client, older_than: crate::clock::Millis) -> Result<()> {
    let path = format!("/pins/prune?olderThan={}ms", older_than.0);
    let pruned = client.send("POST", &path, "application/json", "{}")?;
    let items = pruned["items"].as_array().map(Vec::as_slice).unwrap_or_default();
    if items.is_empty() {
        eprintln!("No pin agents gone longer than {}s.", older_than.0 / 1000);
    }
    for item in items {
        emit(&format!(
            "node/{} pruned (its agent disconnected at {})",
            item["name"].as_str().unwrap_or("?"),
            item["disconnectedAt"].as_str().unwrap_or("?")
        ));
    }
    Ok(())
}

/// Streams changes as `TYPE NAME STATUS NODE` lines until interrupted.
pub fn watch(client: &Client, kind: &str) -> Result<()> {
    let url = client.url(&format!("{}?watch=true", collection(kind)?));
    let response =
        client.authorize(client.agent.get(&url)).call().with_context(|| format!("cannot reach {}", client.server))?;
    if !response.status().is_success() {
        client.json(response)?;
        return Ok(());
    }
    let reader = std::io::BufReader::new(response.into_body().into_reader());
    for line in reader.lines() {
        let line = line.context("reading the watch stream")?;
        let Ok(event) = serde_json::from_str::<Value>(&line) else { continue };
        let line = watch_line(event["type"].as_str().unwrap_or(""), &event["object"]);
        if writeln!(std::io::stdout().lock(), "{line}").is_err() {
            return Ok(());
        }
    }
    Ok(())
}

/// `watch` over the gRPC service (`ctl --grpc watch`), printing the same lines.
pub fn watch_grpc(server: &str, token: Option<&str>, kind: &str) -> Result<()> {
    use crate::grpc::proto::watch_event::Type;
    crate::grpc::client::watch(server, token, kind, |event, object| {
        let type_ = match Type::try_from(event.r#type) {
            Ok(Type::Added) => "ADDED",
            Ok(Type::Modified) => "MODIFIED",
            Ok(Type::Deleted) => "DELETED",
            // Where to resume from: nothing to print.
            Ok(Type::Bookmark) => return true,
            Ok(Type::Unspecified) | Err(_) => "",
        };
        writeln!(std::io::stdout().lock(), "{}", watch_line(type_, object)).is_ok()
    })
}

/// One watch event as `ctl watch` prints it: type, name, status, node.
fn watch_line(type_: &str, o: &Value) -> String {
    {
        let status = o["status"]["phase"]
            .as_str()
            .or_else(|| {
                o["status"]["conditions"]
                    .as_array()
                    .and_then(|c| c.iter().find(|c| c["type"] == "Ready"))
                    .and_then(|c| c["status"].as_str())
            })
            .unwrap_or("");
        let status = if o["metadata"]["deletionTimestamp"].is_string() { "Terminating" } else { status };
        format!(
            "{:<9} {:<34} {:<12} {}",
            type_,
            o["metadata"]["name"].as_str().unwrap_or(""),
            status,
            o["spec"]["nodeName"].as_str().unwrap_or("")
        )
    }
}

//! `pods/log`: the simulated containers' synthetic output, with upstream's `PodLogOptions`
//! (`container`, `tailLines`, `limitBytes`, `previous`, `timestamps`, `follow`) and its errors,
//! so `kubectl logs` and client libraries get what kube-apiserver and the kubelet would give.

use super::status::ApiError;
use super::{Api, Target, key_of};
use crate::cluster::objects::{Kind, Object, Pod};
use axum::body::{Body, Bytes};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use std::time::Duration;

/// A followed log with nothing new still checks this often whether its container has stopped.
const FOLLOW_POLL: Duration = Duration::from_millis(500);

/// Upstream's `PodLogOptions`, as far as a simulated container has use for them.
#[derive(Debug, Default)]
struct LogOptions {
    container: Option<String>,
    tail_lines: Option<usize>,
    limit_bytes: Option<usize>,
    previous: bool,
    timestamps: bool,
    follow: bool,
}

impl LogOptions {
    /// Parses the query; values upstream's validation refuses are a 422 `Invalid` naming the field.
    fn parse(uri: &Uri, pod: &str) -> Result<LogOptions, ApiError> {
        let pairs: Vec<(String, String)> = axum::extract::Query::try_from_uri(uri).map(|q| q.0).unwrap_or_default();
        let mut options = LogOptions::default();
        let flag = |v: &str| v == "true" || v == "1";
        for (key, value) in pairs {
            match key.as_str() {
                "container" if !value.is_empty() => options.container = Some(value),
                "tailLines" => options.tail_lines = Some(count(pod, "tailLines", &value, 0)?),
                "limitBytes" => options.limit_bytes = Some(count(pod, "limitBytes", &value, 1)?),
                "previous" => options.previous = flag(&value),
                "timestamps" => options.timestamps = flag(&value),
                "follow" => options.follow = flag(&value),
                _ => {}
            }
        }
        Ok(options)
    }
}

/// A non-negative count of at least `min`, refused as upstream's `ValidatePodLogOptions` does.
fn count(pod: &str, field: &str, value: &str, min: i64) -> Result<usize, ApiError> {
    let n: i64 = value
        .parse()
        .map_err(|_| ApiError::bad_request(format!("invalid value {value:?} for {field}: not an integer")))?;
    if n < min {
        let bound = if min == 0 { "greater than or equal to 0" } else { "greater than 0" };
        let message = format!("Invalid value: {n}: must be {bound}");
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Invalid",
            format!("PodLogOptions {pod:?} is invalid: {field}: {message}"),
        )
        .with_details(json!({"name": pod, "kind": "PodLogOptions",
            "causes": [{"reason": "FieldValueInvalid", "message": message, "field": field}]})));
    }
    usize::try_from(n).map_err(|_| ApiError::bad_request(format!("{field} is out of range")))
}

/// Which container's log: the named one, or the only one; upstream's registry refuses an
/// unknown name and an ambiguous request with these messages.
fn choose_container<'a>(pod: &'a Pod, asked: Option<&str>) -> Result<&'a str, ApiError> {
    let name = &pod.metadata.name;
    let containers = &pod.spec.containers;
    match asked {
        Some(asked) => containers
            .iter()
            .find(|c| c.name == asked)
            .map(|c| c.name.as_str())
            .ok_or_else(|| ApiError::bad_request(format!("container {asked} is not valid for pod {name}"))),
        None => match containers.as_slice() {
            [only] => Ok(only.name.as_str()),
            [] => Err(ApiError::bad_request(format!("a container name must be specified for pod {name}"))),
            many => {
                let names: Vec<&str> = many.iter().map(|c| c.name.as_str()).collect();
                Err(ApiError::bad_request(format!(
                    "a container name must be specified for pod {name}, choose one of: [{}]",
                    names.join(" ")
                )))
            }
        },
    }
}

/// The container's log lines (time, text), or the kubelet's 400 when there is none to read.
fn log_lines(pod: &Pod, container: &str, previous: bool) -> Result<Vec<(String, String)>, ApiError> {
    let name = &pod.metadata.name;
    let spec = pod.spec.containers.iter().find(|c| c.name == container);
    let image = spec.map_or("", |c| c.image.as_str());
    let status = pod.status.container_statuses.iter().find(|c| c.name == container);
    let node = pod.node_name().unwrap_or("<none>");
    if previous {
        if status.is_none_or(|s| s.restart_count == 0) {
            return Err(ApiError::bad_request(format!(
                "previous terminated container {container:?} in pod {name:?} not found"
            )));
        }
        // The previous instance's times are not kept: it says what it was.
        let started = pod.metadata.creation_timestamp.as_deref().unwrap_or_default().to_string();
        return Ok(vec![(started, format!("pinsetter: container {container} ({image}) started on {node}"))]);
    }
    let Some(start) = pod.status.start_time.as_ref().map(ToString::to_string) else {
        let reason = status
            .and_then(|s| s.state.waiting.as_ref())
            .map_or_else(|| "ContainerCreating".to_string(), |w| w.reason.to_string());
        return Err(ApiError::bad_request(format!(
            "container {container:?} in pod {name:?} is waiting to start: {reason}"
        )));
    };
    Ok(vec![
        (start.clone(), format!("pinsetter: container {container} ({image}) started on {node}")),
        (start, format!("{container}: ready to serve on {}", pod.status.pod_ip.as_deref().unwrap_or("?"))),
    ])
}

/// What `kubectl logs POD` prints for a pod with one container (the first, for several), or
/// the kubelet's message when there is nothing to read: the game's `l` key shows this.
pub fn pod_log_text(pod: &Pod) -> Result<String, String> {
    let container = match choose_container(pod, None) {
        Ok(container) => container,
        Err(_) => pod.spec.containers.first().map(|c| c.name.as_str()).ok_or("the pod has no containers")?,
    };
    let lines = log_lines(pod, container, false).map_err(|e| e.message)?;
    Ok(render(&lines, &LogOptions::default()))
}

/// The text a client gets: the last `tailLines`, each prefixed with its time when asked, cut to
/// `limitBytes` (as the kubelet applies them, in that order).
fn render(lines: &[(String, String)], options: &LogOptions) -> String {
    let skip = options.tail_lines.map_or(0, |tail| lines.len().saturating_sub(tail));
    let mut text = String::new();
    for (time, line) in &lines[skip..] {
        if options.timestamps {
            text.push_str(time);
            text.push(' ');
        }
        text.push_str(line);
        text.push('\n');
    }
    if let Some(limit) = options.limit_bytes
        && text.len() > limit
    {
        let mut cut = limit;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
    }
    text
}

/// Whether `container` of the pod still runs (a followed log stays open until it does not).
fn still_running(pod: Option<&Pod>, container: &str, uid: &str) -> bool {
    pod.is_some_and(|p| {
        p.metadata.uid == uid
            && p.metadata.deletion_timestamp.is_none()
            && p.status.phase == "Running"
            && p.status.container_statuses.iter().any(|c| c.name == container && c.state.running.is_some())
    })
}

/// Resolves once the server stops; never for a router without a server (its sender is gone).
async fn server_stopping(mut closing: tokio::sync::watch::Receiver<bool>) {
    if closing.wait_for(|closing| *closing).await.is_err() {
        std::future::pending::<()>().await;
    }
}

pub(super) async fn logs(api: &Api, target: Target, uri: &Uri) -> Result<Response, ApiError> {
    let key = key_of(&target);
    let name = key.name.clone();
    let options = LogOptions::parse(uri, &name)?;
    let view = api.world.view().await?;
    let found = view.get(Kind::Pod, &key).items;
    let Some(Object::Pod(pod)) = found.as_deref() else {
        return Err(ApiError::not_found("pods", &name));
    };
    let container = choose_container(pod, options.container.as_deref())?.to_string();
    let text = render(&log_lines(pod, &container, options.previous)?, &options);
    let follow = options.follow && !options.previous && still_running(Some(pod), &container, &pod.metadata.uid);
    if !follow {
        return Ok((StatusCode::OK, [("content-type", "text/plain")], text).into_response());
    }
    // Follow: the text now, then the stream stays open while the container runs; it ends when
    // the pod stops or goes, when the server stops, or when the client does (hyper drops it).
    let (api, uid) = (api.clone(), pod.metadata.uid.clone());
    let first = futures::stream::once(async move { Ok::<Bytes, std::convert::Infallible>(Bytes::from(text)) });
    let rest = futures::stream::unfold((), move |()| {
        let (api, key, container, uid) = (api.clone(), key.clone(), container.clone(), uid.clone());
        async move {
            let mut changed = api.world.changed.clone();
            loop {
                tokio::select! {
                    _ = tokio::time::timeout(FOLLOW_POLL, changed.changed()) => {}
                    () = server_stopping(api.closing.clone()) => return None,
                }
                let Ok(view) = api.world.view().await else { return None };
                let current = view.get(Kind::Pod, &key).items;
                let pod = match current.as_deref() {
                    Some(Object::Pod(pod)) => Some(pod.as_ref()),
                    _ => None,
                };
                if !still_running(pod, &container, &uid) {
                    return None::<(Result<Bytes, std::convert::Infallible>, ())>;
                }
            }
        }
    });
    use futures::StreamExt;
    Ok(Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "text/plain")
        .body(Body::from_stream(first.chain(rest)))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::objects::pod::{Container, ContainerStatus};

    fn pod(containers: &[&str]) -> Pod {
        let mut pod = Pod::default();
        pod.metadata.name = "web-1".into();
        pod.spec.containers =
            containers.iter().map(|c| Container { name: c.to_string(), ..Default::default() }).collect();
        pod
    }

    #[test]
    fn the_container_is_chosen_as_upstreams_registry_does() {
        assert_eq!(choose_container(&pod(&["web"]), None).unwrap(), "web");
        assert_eq!(choose_container(&pod(&["web", "side"]), Some("side")).unwrap(), "side");
        let unknown = choose_container(&pod(&["web"]), Some("nope")).unwrap_err();
        assert_eq!(
            (unknown.code, unknown.message.as_str()),
            (StatusCode::BAD_REQUEST, "container nope is not valid for pod web-1")
        );
        let ambiguous = choose_container(&pod(&["web", "side"]), None).unwrap_err();
        assert_eq!(ambiguous.message, "a container name must be specified for pod web-1, choose one of: [web side]");
    }

    #[test]
    fn tail_timestamps_and_limit_apply_in_the_kubelets_order() {
        let lines = vec![("T1".to_string(), "one".to_string()), ("T2".to_string(), "two".to_string())];
        let all = LogOptions::default();
        assert_eq!(render(&lines, &all), "one\ntwo\n");
        assert_eq!(render(&lines, &LogOptions { tail_lines: Some(1), ..Default::default() }), "two\n");
        assert_eq!(render(&lines, &LogOptions { tail_lines: Some(0), ..Default::default() }), "");
        assert_eq!(render(&lines, &LogOptions { timestamps: true, ..Default::default() }), "T1 one\nT2 two\n");
        assert_eq!(render(&lines, &LogOptions { limit_bytes: Some(5), ..Default::default() }), "one\nt");
        let both = LogOptions { tail_lines: Some(1), timestamps: true, limit_bytes: Some(4), ..Default::default() };
        assert_eq!(render(&lines, &both), "T2 t");
    }

    #[test]
    fn previous_needs_a_restarted_container() {
        let mut p = pod(&["web"]);
        p.status.container_statuses.push(ContainerStatus { name: "web".into(), ..Default::default() });
        let err = log_lines(&p, "web", true).unwrap_err();
        assert_eq!(err.message, r#"previous terminated container "web" in pod "web-1" not found"#);
        p.status.container_statuses[0].restart_count = 1;
        assert_eq!(log_lines(&p, "web", true).unwrap().len(), 1);
    }

    #[test]
    fn bad_counts_are_refused_naming_the_field() {
        let uri: Uri = "/log?tailLines=-1".parse().unwrap();
        let err = LogOptions::parse(&uri, "web-1").unwrap_err();
        assert_eq!(err.code, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(
            err.message,
            r#"PodLogOptions "web-1" is invalid: tailLines: Invalid value: -1: must be greater than or equal to 0"#
        );
        let uri: Uri = "/log?limitBytes=0".parse().unwrap();
        assert!(LogOptions::parse(&uri, "web-1").unwrap_err().message.contains("limitBytes: Invalid value: 0"));
    }
}

//! Pins as real processes: the real binary as `pinsetter serve` and `pinsetter pin --join`
//! processes on loopback, over the pin WebSocket. Every process started here is killed by a Drop
//! guard, pass or fail.

use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite;

const BIN: &str = env!("CARGO_BIN_EXE_pinsetter");

/// A lane with one cordoned simulated pin, so every pod of `web` must land on an agent.
const LANE: &str = r#"
apiVersion: v1
kind: Node
metadata:
  name: pin-1
  labels: {kubernetes.io/hostname: pin-1}
spec:
  unschedulable: true
status:
  capacity: {cpu: "2", memory: 4Gi, pods: "110"}
  allocatable: {cpu: "2", memory: 4Gi, pods: "110"}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 6
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx:1.27
        resources:
          requests: {cpu: 500m, memory: 256Mi}
"#;

/// A child process killed and reaped on drop.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

struct Serve {
    _proc: Proc,
    addr: String,
    dir: PathBuf,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Serve {
    fn start(test: &str, env: &[(&str, &str)]) -> Serve {
        let dir = std::env::temp_dir().join(format!("pinsetter-agents-{test}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let lane = dir.join("lane.yaml");
        std::fs::write(&lane, LANE).unwrap();
        let mut command = Command::new(BIN);
        command
            .args(["serve", "--listen", "127.0.0.1:0", "--scheduler", "spread", "--scenario"])
            .arg(&lane)
            .env("RUST_LOG", "warn")
            .stderr(Stdio::piped())
            .stdout(Stdio::null());
        for (k, v) in env {
            command.env(k, v);
        }
        let mut child = command.spawn().expect("pinsetter serve starts");
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("serving the Kubernetes API on ").nth(1) {
                    let _ = tx.send(rest.split_whitespace().next().unwrap_or("").to_string());
                }
            }
        });
        let proc = Proc(child);
        let url = rx.recv_timeout(Duration::from_secs(20)).expect("serve announces its address");
        let addr = url.trim_start_matches("http://").to_string();
        Serve { _proc: proc, addr, dir }
    }

    fn pin(&self, name: &str, extra: &[&str]) -> Proc {
        Proc(
            Command::new(BIN)
                .args(["pin", "--join", &format!("http://{}", self.addr), "--name", name])
                .args(extra)
                .env("RUST_LOG", "warn")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("pinsetter pin starts"),
        )
    }

    /// A plain HTTP/1.0 GET: the body, parsed as JSON.
    fn get(&self, path: &str) -> Value {
        let mut stream = std::net::TcpStream::connect(&self.addr).expect("the server accepts connections");
        stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        write!(stream, "GET {path} HTTP/1.0\r\nHost: {}\r\n\r\n", self.addr).unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        let body = response.split_once("\r\n\r\n").map_or("", |(_, b)| b);
        serde_json::from_str(body).unwrap_or_else(|e| panic!("GET {path}: not JSON ({e}): {response}"))
    }

    fn eventually(&self, what: &str, path: &str, ok: impl Fn(&Value) -> bool) -> Value {
        let start = Instant::now();
        loop {
            let value = self.get(path);
            if ok(&value) {
                return value;
            }
            assert!(start.elapsed() < Duration::from_secs(30), "timed out waiting for {what}; last {path}:\n{value:#}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

fn pin<'a>(nodes: &'a Value, name: &str) -> Option<&'a Value> {
    nodes["items"].as_array()?.iter().find(|i| i["name"] == name)
}

fn running_on(pin: Option<&Value>) -> usize {
    pin.and_then(|p| p["pods"].as_array()).map_or(0, |pods| pods.iter().filter(|p| p["state"] == "Running").count())
}

fn ready_connected(nodes: &Value, name: &str) -> bool {
    pin(nodes, name).is_some_and(|p| p["connected"] == true && p["ready"] == "Ready")
}

#[test]
fn three_agents_take_pods_and_a_killed_one_goes_not_ready_and_rejoins() {
    let serve = Serve::start("three", &[]);
    let mut agents: Vec<(String, Proc)> =
        ["lane-a", "lane-b", "lane-c"].iter().map(|n| (n.to_string(), serve.pin(n, &["--cpu", "2"]))).collect();
    // /nodes lists all three, Ready, and the six pods run on them (spread: on more than one).
    let nodes = serve.eventually("three Ready agents running all six pods", "/nodes", |v| {
        let all_ready = ["lane-a", "lane-b", "lane-c"].iter().all(|n| ready_connected(v, n));
        let running: usize = ["lane-a", "lane-b", "lane-c"].iter().map(|n| running_on(pin(v, n))).sum();
        all_ready && running == 6
    });
    for name in ["lane-a", "lane-b", "lane-c"] {
        let p = pin(&nodes, name).unwrap();
        assert!(p["address"].as_str().is_some_and(|a| a.starts_with("127.0.0.1:")), "{p}");
        assert!(p["lastHeartbeat"].is_string() && p["connectedSince"].is_string(), "{p}");
    }
    let used = ["lane-a", "lane-b", "lane-c"].iter().filter(|n| running_on(pin(&nodes, n)) > 0).count();
    assert!(used >= 2, "spread should use more than one agent:\n{nodes:#}");
    let node = serve.get("/api/v1/nodes/lane-a");
    assert_eq!(node["metadata"]["labels"]["pinsetter.dev/agent"], "external");

    // SIGKILL the busiest agent: seen only through missed heartbeats.
    let victim = ["lane-a", "lane-b", "lane-c"].iter().max_by_key(|n| running_on(pin(&nodes, n))).unwrap().to_string();
    let others: Vec<&str> = ["lane-a", "lane-b", "lane-c"].into_iter().filter(|n| *n != victim).collect();
    let at = agents.iter().position(|(n, _)| *n == victim).unwrap();
    let (_, mut proc) = agents.remove(at);
    proc.0.kill().unwrap(); // SIGKILL
    let _ = proc.0.wait();
    drop(proc);
    serve.eventually("the killed agent's node NotReady and its pods running on the others", "/nodes", |v| {
        let gone = pin(v, &victim).is_some_and(|p| p["connected"] == false && p["ready"] == "Unknown");
        let others_ready = others.iter().all(|n| ready_connected(v, n));
        let elsewhere: usize = others.iter().map(|n| running_on(pin(v, n))).sum();
        gone && others_ready && elsewhere == 6
    });

    // Restart it: it rejoins Ready, and the pods deleted while it was away are gone from it.
    agents.push((victim.clone(), serve.pin(&victim, &["--cpu", "2"])));
    serve.eventually("the restarted agent Ready with no stale pods", "/nodes", |v| {
        ready_connected(v, &victim)
            && pin(v, &victim)
                .is_some_and(|p| p["pods"].as_array().is_some_and(|pods| pods.iter().all(|p| p["state"] == "Running")))
    });
    let node = serve.get(&format!("/api/v1/nodes/{victim}"));
    assert!(node["spec"]["taints"].as_array().is_none_or(|t| t.is_empty()), "taints stay after rejoin: {node:#}");
}

#[test]
fn sigterm_leaves_gracefully_cordoned_and_drained() {
    let serve = Serve::start("leave", &[]);
    let a = serve.pin("lane-a", &[]);
    let _b = serve.pin("lane-b", &[]);
    serve.eventually("two agents running all six pods", "/nodes", |v| {
        running_on(pin(v, "lane-a")) + running_on(pin(v, "lane-b")) == 6
    });
    let status = Command::new("kill").args(["-TERM", &a.0.id().to_string()]).status().unwrap();
    assert!(status.success());
    serve.eventually("lane-a gone, its pods on lane-b", "/nodes", |v| {
        pin(v, "lane-a").is_none() && running_on(pin(v, "lane-b")) == 6
    });
    let node = serve.get("/api/v1/nodes/lane-a");
    assert_eq!(node["code"], 404, "the node left the cluster: {node:#}");
}

#[test]
fn a_wrong_join_token_is_refused_on_both_sides() {
    let serve = Serve::start("token", &[("PINSETTER_JOIN_TOKEN", "s3cret")]);
    let out = Command::new(BIN)
        .args(["pin", "--join", &format!("http://{}", serve.addr), "--name", "lane-x", "--token", "wrong"])
        .output()
        .expect("pinsetter pin runs");
    assert!(!out.status.success(), "a wrong token must fail");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("refused") && stderr.contains("token"), "{stderr}");
    let _ok = serve.pin("lane-y", &["--token", "s3cret"]);
    serve.eventually("the agent with the right token joined", "/nodes", |v| ready_connected(v, "lane-y"));
    assert!(pin(&serve.get("/nodes"), "lane-x").is_none());
}

fn recv_text(socket: &mut tungstenite::WebSocket<tungstenite::stream::MaybeTlsStream<std::net::TcpStream>>) -> Value {
    loop {
        match socket.read().expect("the server answers") {
            tungstenite::Message::Text(t) => return serde_json::from_str(t.as_str()).expect("frames are JSON"),
            _ => continue,
        }
    }
}

/// Reads frames until one of `type_` arrives (bindPod and the like may come first).
fn recv_type(
    socket: &mut tungstenite::WebSocket<tungstenite::stream::MaybeTlsStream<std::net::TcpStream>>,
    type_: &str,
) -> Value {
    loop {
        let frame = recv_text(socket);
        if frame["type"] == type_ {
            return frame;
        }
    }
}

#[test]
fn garbage_frames_get_error_frames_and_leave_the_server_healthy() {
    let serve = Serve::start("garbage", &[]);
    let url = format!("ws://{}/pins/join", serve.addr);

    // Garbage instead of register: a fatal error frame, then the server closes.
    let (mut socket, _) = tungstenite::connect(&url).expect("the pin socket accepts");
    socket.send(tungstenite::Message::text("\u{0}\u{1}not json at all")).unwrap();
    let error = recv_text(&mut socket);
    assert_eq!((error["type"].as_str(), error["fatal"].as_bool()), (Some("error"), Some(true)), "{error}");
    assert!(error["message"].as_str().unwrap().contains("malformed"), "{error}");

    // A registered agent that sends garbage is told so each time, and stays registered.
    let (mut socket, _) = tungstenite::connect(&url).expect("the pin socket accepts");
    let register = r#"{"version":1,"type":"register","node":"lane-g","capacity":{"cpu":"1","memory":"1Gi","pods":10}}"#;
    socket.send(tungstenite::Message::text(register)).unwrap();
    assert_eq!(recv_type(&mut socket, "registered")["node"], "lane-g");
    let garbage: [(tungstenite::Message, &str); 6] = [
        (tungstenite::Message::text("{"), "malformed"),
        (tungstenite::Message::text(r#"{"version":2,"type":"heartbeat","seq":1}"#), "version"),
        (tungstenite::Message::text(r#"{"type":"heartbeat","seq":1}"#), "version"),
        (tungstenite::Message::text(r#"{"version":1,"type":"selfDestruct"}"#), "invalid"),
        (tungstenite::Message::binary(vec![0xff, 0, 1]), "binary"),
        (
            tungstenite::Message::text(
                r#"{"version":1,"type":"podStatus","pod":{"namespace":"default","name":"someone-elses"},"phase":"Running"}"#,
            ),
            "not found",
        ),
    ];
    for (frame, says) in garbage {
        socket.send(frame).unwrap();
        let error = recv_type(&mut socket, "error");
        assert_eq!(error["fatal"], false, "{error}");
        assert!(error["message"].as_str().unwrap().contains(says), "expected {says:?} in {error}");
    }
    socket.send(tungstenite::Message::text(r#"{"version":1,"type":"heartbeat","seq":9}"#)).unwrap();
    assert_eq!(recv_type(&mut socket, "heartbeatAck")["seq"], 9);
    // The server is healthy and its store intact.
    let nodes = serve.get("/nodes");
    assert!(ready_connected(&nodes, "lane-g"), "{nodes:#}");
    assert_eq!(serve.get("/api/v1/nodes")["items"].as_array().map(Vec::len), Some(2));
}

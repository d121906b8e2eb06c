//! Pins as real processes: the real binary as `pinsetter serve` and `pinsetter pin --join`
//! processes on loopback, over the pin WebSocket. Every process started here is killed by a Drop
//! guard, pass or fail.

mod common;

use serde_json::Value;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite;

const BIN: &str = env!("CARGO_BIN_EXE_pinsetter");

/// A lane with one cordoned simulated pin, so every pod of `web` lands on an agent (shared with
/// `benches/agent_load.sh`).
const LANE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/agents_lane.yaml");

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
        Serve::start_with(test, env, &[])
    }

    fn start_with(test: &str, env: &[(&str, &str)], args: &[&str]) -> Serve {
        let dir = std::env::temp_dir().join(format!("pinsetter-agents-{test}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut command = Command::new(BIN);
        command
            .args(["serve", "--listen", "127.0.0.1:0", "--scheduler", "spread", "--scenario"])
            .arg(LANE)
            .args(args)
            .env("RUST_LOG", "warn")
            .stderr(Stdio::piped())
            .stdout(Stdio::null());
        for (k, v) in env {
            command.env(k, v);
        }
        let mut child = command.spawn().expect("pinsetter serve starts");
        let rx = common::announced_address(&mut child);
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
                .env("PINSETTER_DATA_DIR", &self.dir)
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

    /// A plain HTTP/1.0 request with a JSON body: the status code and the body, parsed as JSON.
    fn send(&self, method: &str, path: &str, body: &str) -> (u16, Value) {
        let mut stream = std::net::TcpStream::connect(&self.addr).expect("the server accepts connections");
        stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        write!(
            stream,
            "{method} {path} HTTP/1.0\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            self.addr,
            body.len()
        )
        .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        let code = response.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
        let body = response.split_once("\r\n\r\n").map_or("", |(_, b)| b);
        (code, serde_json::from_str(body).unwrap_or_else(|e| panic!("{method} {path}: not JSON ({e}): {response}")))
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
    let register = r#"{"version":2,"type":"register","node":"lane-g","capacity":{"cpu":"1","memory":"1Gi","pods":10}}"#;
    socket.send(tungstenite::Message::text(register)).unwrap();
    assert_eq!(recv_type(&mut socket, "registered")["node"], "lane-g");
    let garbage: [(tungstenite::Message, &str); 6] = [
        (tungstenite::Message::text("{"), "malformed"),
        (tungstenite::Message::text(r#"{"version":3,"type":"heartbeat","seq":1}"#), "version"),
        (tungstenite::Message::text(r#"{"type":"heartbeat","seq":1}"#), "version"),
        (tungstenite::Message::text(r#"{"version":2,"type":"selfDestruct"}"#), "invalid"),
        (tungstenite::Message::binary(vec![0xff, 0, 1]), "binary"),
        (
            tungstenite::Message::text(
                r#"{"version":2,"type":"podStatus","pod":{"namespace":"default","name":"someone-elses"},"phase":"Running"}"#,
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
    socket.send(tungstenite::Message::text(r#"{"version":2,"type":"heartbeat","seq":9}"#)).unwrap();
    assert_eq!(recv_type(&mut socket, "heartbeatAck")["seq"], 9);
    // The server is healthy and its store intact.
    let nodes = serve.get("/nodes");
    assert!(ready_connected(&nodes, "lane-g"), "{nodes:#}");
    assert_eq!(serve.get("/api/v1/nodes")["items"].as_array().map(Vec::len), Some(2));
}

type Socket = tungstenite::WebSocket<tungstenite::stream::MaybeTlsStream<std::net::TcpStream>>;

/// A raw agent: connects and registers `node` (with `extra` JSON fields appended to the frame);
/// returns the socket and the server's answer (`registered` or `error`).
fn raw_join(serve: &Serve, node: &str, extra: &str) -> (Socket, Value) {
    let (mut socket, _) =
        tungstenite::connect(format!("ws://{}/pins/join", serve.addr)).expect("the pin socket accepts");
    // A missing answer fails the test instead of hanging it.
    if let tungstenite::stream::MaybeTlsStream::Plain(tcp) = socket.get_ref() {
        tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    }
    let register = format!(
        r#"{{"version":2,"type":"register","node":{node:?},"capacity":{{"cpu":"1","memory":"1Gi","pods":10}}{extra}}}"#
    );
    socket.send(tungstenite::Message::text(register)).unwrap();
    let answer = loop {
        let frame = recv_text(&mut socket);
        if frame["type"] == "registered" || frame["type"] == "error" {
            break frame;
        }
    };
    (socket, answer)
}

fn assert_refused(answer: &Value, says: &str) {
    assert_eq!((answer["type"].as_str(), answer["fatal"].as_bool()), (Some("error"), Some(true)), "{answer}");
    assert!(answer["message"].as_str().unwrap_or("").contains(says), "expected {says:?} in {answer}");
}

fn heartbeat_acked(socket: &mut Socket, seq: u64) {
    socket.send(tungstenite::Message::text(format!(r#"{{"version":2,"type":"heartbeat","seq":{seq}}}"#))).unwrap();
    assert_eq!(recv_type(socket, "heartbeatAck")["seq"], seq);
}

#[test]
fn an_impersonator_with_the_join_token_cannot_take_a_name_but_the_agent_rejoins_with_its_secret() {
    let serve = Serve::start("impersonate", &[("PINSETTER_JOIN_TOKEN", "s3cret")]);
    let token = r#","token":"s3cret""#;
    let (mut real, registered) = raw_join(&serve, "lane-s", token);
    assert_eq!(registered["type"], "registered", "{registered}");
    let secret = registered["nodeSecret"].as_str().expect("a first join issues a node secret").to_string();
    assert!(secret.len() >= 32, "{secret}");

    // While the agent is connected, its name is refused to anyone else, guess or no guess.
    let (_, answer) = raw_join(&serve, "lane-s", token);
    assert_refused(&answer, "held by a connected pin agent");
    let (_, answer) = raw_join(&serve, "lane-s", &format!(r#"{token},"nodeSecret":"guess""#));
    assert_refused(&answer, "held by a connected pin agent");
    heartbeat_acked(&mut real, 1);

    // It goes away: the node is marked, and still nobody else may have it.
    drop(real);
    serve.eventually("lane-s disconnected", "/nodes", |v| pin(v, "lane-s").is_some_and(|p| p["connected"] == false));
    let node = serve.get("/api/v1/nodes/lane-s");
    assert!(node["metadata"]["annotations"]["pinsetter.dev/agent-disconnected-at"].is_string(), "{node:#}");
    let (_, answer) = raw_join(&serve, "lane-s", token);
    assert_refused(&answer, "needs its node secret");
    let (_, answer) = raw_join(&serve, "lane-s", &format!(r#"{token},"nodeSecret":"guess""#));
    assert_refused(&answer, "node secret rejected");

    // The agent itself comes back with its secret.
    let (mut back, answer) = raw_join(&serve, "lane-s", &format!(r#"{token},"nodeSecret":{secret:?}"#));
    assert_eq!(answer["type"], "registered", "{answer}");
    assert!(answer.get("nodeSecret").is_none(), "a rejoin keeps the secret it had: {answer}");
    heartbeat_acked(&mut back, 2);
    let node = serve.get("/api/v1/nodes/lane-s");
    assert!(node["metadata"]["annotations"]["pinsetter.dev/agent-disconnected-at"].is_null(), "{node:#}");
    assert_eq!(node["status"]["addresses"][0]["address"], "127.0.0.1", "{node:#}");
}

#[test]
fn a_node_created_through_the_api_cannot_be_taken_over_by_an_agent() {
    let serve = Serve::start("takeover", &[]);
    let (code, created) = serve.send(
        "POST",
        "/api/v1/nodes",
        r#"{"apiVersion":"v1","kind":"Node","metadata":{"name":"db-1","labels":{"team":"db"}}}"#,
    );
    assert_eq!(code, 201, "{created:#}");
    let (_, answer) = raw_join(&serve, "db-1", r#","labels":{"team":"evil"}"#);
    assert_refused(&answer, "was not created by a pin agent");
    let node = serve.get("/api/v1/nodes/db-1");
    assert_eq!(node["metadata"]["labels"]["team"], "db", "{node:#}");
    assert!(node["metadata"]["labels"]["pinsetter.dev/agent"].is_null(), "{node:#}");
    // Nor the scenario's node.
    let (_, answer) = raw_join(&serve, "pin-1", "");
    assert_refused(&answer, "choose another --name");
    assert!(pin(&serve.get("/nodes"), "db-1").is_none() && pin(&serve.get("/nodes"), "pin-1").is_none());
}

#[test]
fn bad_names_labels_and_pod_ips_are_refused_without_a_write() {
    let serve = Serve::start("validate", &[]);
    let (_, answer) = raw_join(&serve, "Bad_Name", "");
    assert_refused(&answer, "RFC 1123 subdomain");
    let (_, answer) = raw_join(&serve, "lane-l", r#","labels":{"bad key!":"x"}"#);
    assert_refused(&answer, "labels");
    let (_, answer) = raw_join(&serve, "lane-p", r#","pods":[{"namespace":"default","name":"../../etc"}]"#);
    assert_refused(&answer, "pods[0].name");
    assert_eq!(serve.get("/api/v1/nodes")["items"].as_array().map(Vec::len), Some(1), "no node was written");

    let (mut socket, answer) = raw_join(&serve, "lane-v", "");
    assert_eq!(answer["type"], "registered", "{answer}");
    let bind = recv_type(&mut socket, "bindPod");
    let pod = bind["pod"].clone();
    let name = pod["name"].as_str().unwrap().to_string();
    let report = |ip: &str| {
        let frame = serde_json::json!({"version": 2, "type": "podStatus", "pod": pod, "phase": "Running", "podIP": ip});
        tungstenite::Message::text(frame.to_string())
    };
    socket.send(report("not-an-ip; 203.0.113.66")).unwrap();
    let error = recv_type(&mut socket, "error");
    assert_eq!(error["fatal"], false, "{error}");
    assert!(error["message"].as_str().unwrap().contains("podIP"), "{error}");
    let stored = serve.get(&format!("/api/v1/namespaces/default/pods/{name}"));
    assert!(stored["status"]["podIP"].is_null(), "nothing written: {stored:#}");
    // A valid report is written, so the refusal above was the validation, not the path.
    socket.send(report("10.245.0.9")).unwrap();
    serve.eventually("the valid pod IP stored", &format!("/api/v1/namespaces/default/pods/{name}"), |p| {
        p["status"]["podIP"] == "10.245.0.9"
    });
}

fn ctl(serve: &Serve, args: &[&str]) -> std::process::Output {
    let out = Command::new(BIN)
        .args(["ctl", "--server", &format!("http://{}", serve.addr)])
        .args(args)
        .output()
        .expect("pinsetter ctl runs");
    assert!(out.status.success(), "ctl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    out
}

#[test]
fn ctl_prune_deletes_only_the_nodes_of_agents_gone_long_enough() {
    let serve = Serve::start("prune", &[]);
    let (gone, answer) = raw_join(&serve, "gone-1", "");
    assert_eq!(answer["type"], "registered", "{answer}");
    let (mut live, answer) = raw_join(&serve, "live-1", "");
    assert_eq!(answer["type"], "registered", "{answer}");
    drop(gone);
    serve.eventually("gone-1 disconnected", "/nodes", |v| pin(v, "gone-1").is_some_and(|p| p["connected"] == false));

    // The default (an hour) keeps an agent that left a moment ago.
    let out = ctl(&serve, &["prune"]);
    assert!(String::from_utf8_lossy(&out.stdout).trim().is_empty(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("No pin agents gone longer than 3600s"), "{out:?}");
    assert_eq!(serve.get("/api/v1/nodes/gone-1")["metadata"]["name"], "gone-1");

    let out = ctl(&serve, &["prune", "--older-than", "0s"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("node/gone-1 pruned") && !stdout.contains("live-1"), "{stdout}");
    assert_eq!(serve.get("/api/v1/nodes/gone-1")["code"], 404);
    assert_eq!(serve.get("/api/v1/nodes/live-1")["metadata"]["name"], "live-1");
    assert_eq!(serve.get("/api/v1/nodes/pin-1")["metadata"]["name"], "pin-1");
    let nodes = serve.get("/nodes");
    assert!(pin(&nodes, "gone-1").is_none() && pin(&nodes, "live-1").is_some(), "{nodes:#}");
    heartbeat_acked(&mut live, 1);
    // The pruned name is free again.
    let (_, answer) = raw_join(&serve, "gone-1", "");
    assert_eq!(answer["type"], "registered", "{answer}");
}

#[test]
fn joins_beyond_the_cap_per_source_address_are_refused() {
    let serve = Serve::start_with("cap", &[], &["--max-pins-per-source", "2"]);
    let (_a, answer) = raw_join(&serve, "cap-a", "");
    assert_eq!(answer["type"], "registered", "{answer}");
    let (_b, answer) = raw_join(&serve, "cap-b", "");
    assert_eq!(answer["type"], "registered", "{answer}");
    let (_, answer) = raw_join(&serve, "cap-c", "");
    assert_refused(&answer, "too many pin agents from 127.0.0.1");
    assert_eq!(serve.get("/api/v1/nodes/cap-c")["code"], 404);
}

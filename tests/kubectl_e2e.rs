//! The real kubectl against the real binary (`pinsetter serve` on port 0): the commands a
//! learner types, with what they must print. CI installs kubectl (Debian's kubernetes-client).

mod common;
use common::kubectl_present;

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

struct Serve {
    child: Child,
    dir: PathBuf,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Serve {
    fn start() -> Serve {
        Serve::start_with(&[])
    }

    fn start_with(extra: &[&str]) -> Serve {
        let mut child = Command::new(env!("CARGO_BIN_EXE_pinsetter"))
            .args(["serve", "--listen", "127.0.0.1:0", "--seed", "3"])
            .args(extra)
            .env("RUST_LOG", "warn")
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("pinsetter serve starts");
        let rx = common::announced_address(&mut child);
        let server = rx.recv_timeout(Duration::from_secs(20)).expect("serve announces its address");
        // Tests run in parallel in one process: each server gets its own directory.
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("pinsetter-e2e-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let kubeconfig =
            Command::new(env!("CARGO_BIN_EXE_pinsetter")).args(["kubeconfig", "--server", &server]).output().unwrap();
        std::fs::write(dir.join("kubeconfig"), kubeconfig.stdout).unwrap();
        Serve { child, dir }
    }

    fn kubectl(&self, args: &[&str]) -> Output {
        let kubeconfig = self.dir.join("kubeconfig");
        let cache = self.dir.join("cache");
        Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .arg("--cache-dir")
            .arg(&cache)
            .args(args)
            .output()
            .expect("kubectl runs")
    }

    /// Runs kubectl and returns stdout, failing the test with stderr if it fails.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.kubectl(args);
        assert!(out.status.success(), "kubectl {args:?} failed:\n{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn eventually(&self, what: &str, args: &[&str], ok: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let out = self.ok(args);
            if ok(&out) {
                return out;
            }
            assert!(start.elapsed() < Duration::from_secs(120), "timed out waiting for {what}; last output:\n{out}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

#[test]
fn the_real_kubectl_drives_the_lane() {
    if !kubectl_present() {
        return;
    }
    let s = Serve::start();

    // Reads: plain, wide, json, yaml.
    let nodes = s.eventually("ten Ready nodes", &["get", "nodes"], |o| o.matches(" Ready ").count() == 10);
    assert!(nodes.starts_with("NAME") && nodes.contains("VERSION"));
    let pods =
        s.eventually("46 Running pods", &["get", "pods", "-o", "wide"], |o| o.matches(" Running ").count() == 46);
    assert!(pods.contains("NODE") && pods.contains("pin-1"));
    let json: serde_json::Value = serde_json::from_str(&s.ok(&["get", "pods", "-o", "json"])).unwrap();
    assert_eq!(json["items"].as_array().unwrap().len(), 46);
    assert!(s.ok(&["get", "deployment", "web", "-o", "yaml"]).contains("kind: Deployment"));
    let node = s.ok(&["describe", "node", "pin-1"]);
    assert!(node.contains("KubeletReady") && node.contains("Non-terminated Pods"), "{node}");
    // Chunked lists (issue 11): kubectl follows `continue` tokens and still lists everything.
    let chunked = s.kubectl(&["get", "pods", "--chunk-size=2", "-v=6"]);
    assert!(chunked.status.success(), "{}", String::from_utf8_lossy(&chunked.stderr));
    assert_eq!(String::from_utf8_lossy(&chunked.stdout).matches(" Running ").count(), 46);
    assert!(String::from_utf8_lossy(&chunked.stderr).contains("continue="), "kubectl fetched more than one page");
    let first_pod = json["items"][0]["metadata"]["name"].as_str().unwrap().to_string();
    assert!(s.ok(&["describe", "pod", &first_pod]).contains("Successfully assigned"));

    // apply a manifest, scale it, cordon/uncordon.
    let manifest = s.dir.join("lane.yaml");
    std::fs::write(&manifest, "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: lane}\nspec:\n  replicas: 2\n  selector: {matchLabels: {app: lane}}\n  template:\n    metadata: {labels: {app: lane}}\n    spec:\n      containers: [{name: ball, image: 'ball:1', resources: {requests: {cpu: 100m, memory: 64Mi}}}]\n").unwrap();
    assert!(s.ok(&["apply", "-f", manifest.to_str().unwrap()]).contains("deployment.apps/lane created"));
    s.eventually("lane 2/2", &["get", "deployment", "lane"], |o| o.contains("2/2"));
    assert!(s.ok(&["scale", "deployment", "lane", "--replicas", "4"]).contains("scaled"));
    s.eventually("lane 4/4", &["get", "deployment", "lane"], |o| o.contains("4/4"));
    s.ok(&["cordon", "pin-4"]);
    assert!(s.ok(&["get", "node", "pin-4"]).contains("Ready,SchedulingDisabled"));
    s.ok(&["uncordon", "pin-4"]);

    // drain evicts every pod from the pin.
    assert!(s.ok(&["drain", "pin-2", "--ignore-daemonsets", "--timeout", "30s"]).contains("drained"));
    s.eventually("pin-2 empty", &["get", "pods", "--field-selector", "spec.nodeName=pin-2", "-o", "name"], |o| {
        o.trim().is_empty()
    });
    s.ok(&["uncordon", "pin-2"]);

    // get -w prints the change a delete causes; the pod is replaced.
    let kubeconfig = s.dir.join("kubeconfig");
    let mut watch = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .arg("--cache-dir")
        .arg(s.dir.join("cache"))
        .args(["get", "pods", "-l", "app=lane", "-w"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(800));
    let lane_pod = s.ok(&["get", "pods", "-l", "app=lane", "-o", "jsonpath={.items[0].metadata.name}"]);
    assert!(s.ok(&["delete", "pod", &lane_pod]).contains("deleted"));
    s.eventually("a replacement Running", &["get", "pods", "-l", "app=lane"], |o| {
        o.matches(" Running ").count() == 4 && !o.contains(&lane_pod)
    });
    std::thread::sleep(Duration::from_millis(300));
    let _ = watch.kill();
    let watched = String::from_utf8_lossy(&watch.wait_with_output().unwrap().stdout).into_owned();
    assert!(
        watched.contains("Terminating") || watched.lines().filter(|l| l.contains(&lane_pod)).count() >= 2,
        "get -w showed:\n{watched}"
    );
    assert!(watched.lines().count() > 5, "get -w printed the replacement too:\n{watched}");

    // create deployment sends protobuf.
    assert!(s.ok(&["create", "deployment", "made", "--image=nginx", "--replicas=1"]).contains("created"));
    s.eventually("made 1/1", &["get", "deployment", "made"], |o| o.contains("1/1"));

    // Services: expose (JSON) and create service (protobuf); the endpoints controller fills them.
    assert!(s.ok(&["expose", "deployment", "web", "--port", "80", "--target-port", "8080"]).contains("exposed"));
    assert!(s.ok(&["create", "service", "clusterip", "cachesvc", "--tcp=6379:6379"]).contains("created"));
    let svc = s.ok(&["get", "svc", "-o", "wide"]);
    assert!(svc.contains("CLUSTER-IP") && svc.contains("10.96.") && svc.contains("app=web"), "{svc}");
    s.eventually("web endpoints", &["get", "endpoints", "web"], |o| o.contains(":8080"));

    // A bad manifest is refused, readably, and changes nothing.
    let bad = s.dir.join("bad.yaml");
    std::fs::write(&bad, "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: bad}\nspec:\n  replicas: -1\n  selector: {matchLabels: {app: bad}}\n  template:\n    metadata: {labels: {app: bad}}\n    spec: {containers: [{name: c, image: x}]}\n").unwrap();
    let out = s.kubectl(&["apply", "-f", bad.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("is invalid") && err.contains("spec.replicas"), "{err}");
    assert!(!s.kubectl(&["get", "deployment", "bad"]).status.success());
}

#[test]
fn leader_election_leases_with_the_real_kubectl() {
    if !kubectl_present() {
        return;
    }
    let s = Serve::start_with(&["--control-plane-replicas", "3"]);
    let leases = s.eventually("both control-plane leases", &["get", "leases", "-n", "kube-system"], |o| {
        o.contains("kube-scheduler") && o.contains("kube-controller-manager")
    });
    let header: Vec<&str> = leases.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(header, ["NAME", "HOLDER", "AGE"], "{leases}");
    for name in ["kube-scheduler", "kube-controller-manager"] {
        let row = leases.lines().find(|l| l.starts_with(name)).unwrap_or_else(|| panic!("{leases}"));
        let holder = row.split_whitespace().nth(1).unwrap_or_default();
        assert!(holder.starts_with("pinsetter-cp-") && holder.contains('_'), "{row}");
    }
    let lease: serde_json::Value =
        serde_json::from_str(&s.ok(&["get", "lease", "kube-scheduler", "-n", "kube-system", "-o", "json"])).unwrap();
    assert_eq!(lease["spec"]["leaseTransitions"], 0, "{lease:#}");
    assert!(lease["spec"]["acquireTime"].as_str().is_some_and(|t| t.ends_with('Z') && t.contains('.')), "{lease:#}");
    assert!(lease["spec"]["renewTime"].is_string(), "{lease:#}");
    // Events are written a moment after they are reported (as client-go's broadcaster does).
    s.eventually("the LeaderElection events", &["get", "events", "-n", "kube-system"], |events| {
        events.contains("LeaderElection") && events.contains("became leader")
    });
}

#[test]
fn configmaps_and_secrets_with_the_real_kubectl() {
    if !kubectl_present() {
        return;
    }
    let s = Serve::start();

    // create configmap/secret send protobuf; get prints upstream's columns.
    assert!(s.ok(&["create", "configmap", "x", "--from-literal=a=b"]).contains("configmap/x created"));
    let cms = s.ok(&["get", "cm"]);
    let header: Vec<&str> = cms.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(header, ["NAME", "DATA", "AGE"], "{cms}");
    let row: Vec<&str> = cms.lines().find(|l| l.starts_with("x ")).unwrap().split_whitespace().collect();
    assert_eq!(row[..2], ["x", "1"], "{cms}");
    assert!(
        s.ok(&["create", "secret", "generic", "s", "--from-literal=password=hunter2"]).contains("secret/s created")
    );
    let secrets = s.ok(&["get", "secret"]);
    let header: Vec<&str> = secrets.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(header, ["NAME", "TYPE", "DATA", "AGE"], "{secrets}");
    let row: Vec<&str> = secrets.lines().find(|l| l.starts_with("s ")).unwrap().split_whitespace().collect();
    assert_eq!(row[..3], ["s", "Opaque", "1"], "{secrets}");
    assert_eq!(s.ok(&["get", "secret", "s", "-o", "jsonpath={.data.password}"]), "aHVudGVyMg==");
    assert_eq!(s.ok(&["get", "configmap", "x", "-o", "jsonpath={.data.a}"]), "b");

    // describe reads them as its own.
    let described = s.ok(&["describe", "configmap", "x"]);
    assert!(described.contains("Name:") && described.contains("a:") && described.contains("\nb"), "{described}");
    let described = s.ok(&["describe", "secret", "s"]);
    assert!(described.contains("Type:  Opaque") && described.contains("password:  7 bytes"), "{described}");

    // stringData is merged into data on write and never stored.
    let manifest = s.dir.join("config.yaml");
    std::fs::write(&manifest, "apiVersion: v1\nkind: Secret\nmetadata: {name: creds}\nstringData: {user: admin}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: frozen}\nimmutable: true\ndata: {a: b}\n").unwrap();
    let applied = s.ok(&["apply", "-f", manifest.to_str().unwrap()]);
    assert!(applied.contains("secret/creds created") && applied.contains("configmap/frozen created"), "{applied}");
    let creds: serde_json::Value = serde_json::from_str(&s.ok(&["get", "secret", "creds", "-o", "json"])).unwrap();
    assert_eq!(creds["data"], serde_json::json!({"user": "YWRtaW4="}));
    assert_eq!(creds["type"], "Opaque");
    assert!(creds.get("stringData").is_none(), "{creds}");

    // An immutable ConfigMap refuses a change to its data, with upstream's 422.
    let out = s.kubectl(&["patch", "configmap", "frozen", "-p", r#"{"data":{"a":"c"}}"#]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(r#"ConfigMap "frozen" is invalid: data: Forbidden: field is immutable when `immutable` is set"#),
        "{err}"
    );
    assert_eq!(s.ok(&["get", "configmap", "frozen", "-o", "jsonpath={.data.a}"]), "b");

    // Secret data that is not base64 is refused and creates nothing.
    let bad = s.dir.join("bad-secret.yaml");
    std::fs::write(&bad, "apiVersion: v1\nkind: Secret\nmetadata: {name: bad}\ndata: {a: 'not base64!'}\n").unwrap();
    let out = s.kubectl(&["apply", "-f", bad.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("illegal base64 data at input byte 3"), "{err}");
    assert!(!s.kubectl(&["get", "secret", "bad"]).status.success());

    // delete removes them.
    assert!(s.ok(&["delete", "configmap", "x"]).contains("configmap \"x\" deleted"));
    assert!(s.ok(&["delete", "secret", "s"]).contains("secret \"s\" deleted"));
    assert!(!s.kubectl(&["get", "cm", "x"]).status.success());
    assert!(!s.kubectl(&["get", "secret", "s"]).status.success());
}

#[test]
fn serve_stops_cleanly_on_sigterm() {
    let mut s = Serve::start();
    let pid = s.child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let start = Instant::now();
    loop {
        if let Some(status) = s.child.try_wait().unwrap() {
            assert!(status.success(), "serve exited with {status}");
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(5), "serve did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `serve --tls --token-file`: kubectl verifies the server against the CA that `pinsetter
/// kubeconfig` embeds (no insecure-skip), an admin may write, a viewer may only read, and a
/// wrong token is refused.
#[test]
fn tls_and_tokens_work_with_kubectl() {
    if !kubectl_present() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("pinsetter-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("tokens"), "admintoken,alice,admin\nviewertoken,bob,viewer\n").unwrap();
    let bin = env!("CARGO_BIN_EXE_pinsetter");
    let mut child = Command::new(bin)
        .args(["serve", "--listen", "127.0.0.1:0", "--tls", "--token-file"])
        .arg(dir.join("tokens"))
        .env("PINSETTER_DATA_DIR", &dir)
        .env("RUST_LOG", "info")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let log = std::thread::spawn(move || {
        let mut all = String::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(rest) = line.split("serving the Kubernetes API on ").nth(1) {
                let _ = tx.send(rest.split_whitespace().next().unwrap_or("").to_string());
            }
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    let server = rx.recv_timeout(Duration::from_secs(20)).expect("serve announces its address");
    assert!(server.starts_with("https://"), "{server}");
    let kubeconfig = |token: &str, name: &str| {
        let out = Command::new(bin)
            .args(["kubeconfig", "--server", &server, "--token", token])
            .env("PINSETTER_DATA_DIR", &dir)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(text.contains("certificate-authority-data") && !text.contains("insecure"));
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    };
    let kubectl = |config: &PathBuf, args: &[&str]| {
        Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(config)
            .arg("--cache-dir")
            .arg(dir.join("cache"))
            .args(args)
            .output()
            .unwrap()
    };
    let admin = kubeconfig("admintoken", "admin.yaml");
    let viewer = kubeconfig("viewertoken", "viewer.yaml");
    let stranger = kubeconfig("nope", "stranger.yaml");

    let out = kubectl(&admin, &["get", "nodes"]);
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("pin-1"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(kubectl(&admin, &["scale", "deployment", "web", "--replicas", "13"]).status.success());
    let out = kubectl(&viewer, &["get", "deployment", "web"]);
    assert!(out.status.success(), "a viewer reads: {}", String::from_utf8_lossy(&out.stderr));
    let out = kubectl(&viewer, &["scale", "deployment", "web", "--replicas", "2"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("Forbidden"), "{}", String::from_utf8_lossy(&out.stderr));
    let out = kubectl(&stranger, &["get", "nodes"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("Unauthorized"), "{}", String::from_utf8_lossy(&out.stderr));

    let _ = child.kill();
    let _ = child.wait();
    let log = log.join().unwrap();
    assert!(!log.contains("admintoken") && !log.contains("viewertoken"), "tokens must never be logged");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `pinsetter ctl`, for people without kubectl: get, scale, cordon, knock.
#[test]
fn the_built_in_client_drives_the_lane() {
    let s = Serve::start();
    let kubeconfig = std::fs::read_to_string(s.dir.join("kubeconfig")).unwrap();
    let server = kubeconfig.lines().find_map(|l| l.trim().strip_prefix("server: ")).unwrap().to_string();
    let ctl = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_pinsetter"))
            .arg("ctl")
            .arg("--server")
            .arg(&server)
            .args(args)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let start = Instant::now();
    loop {
        let (ok, out, _) = ctl(&["get", "nodes"]);
        if ok && out.matches(" Ready ").count() == 10 {
            assert!(out.starts_with("NAME") && out.contains("VERSION"));
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "ten Ready nodes: {out}");
        std::thread::sleep(Duration::from_millis(200));
    }
    let (ok, out, _) = ctl(&["get", "pods", "-o", "wide"]);
    assert!(ok && out.contains("NODE") && out.contains("pin-"));
    assert!(ctl(&["scale", "web", "14"]).1.contains("scaled"));
    assert!(ctl(&["cordon", "pin-2"]).1.contains("cordoned"));
    assert!(ctl(&["get", "nodes"]).1.contains("Ready,SchedulingDisabled"));
    assert!(ctl(&["knock", "pin-3"]).1.contains("knocked"));
    let start = Instant::now();
    while !ctl(&["get", "nodes"]).1.lines().any(|l| l.starts_with("pin-3 ") && l.contains("NotReady")) {
        assert!(start.elapsed() < Duration::from_secs(20), "pin-3 never went NotReady");
        std::thread::sleep(Duration::from_millis(200));
    }
    let (ok, _, err) = ctl(&["knock", "pin-99"]);
    assert!(!ok && err.contains("not found"), "{err}");
    let (ok, _, err) = ctl(&["get", "gizmos"]);
    assert!(!ok && err.contains("unknown resource"), "{err}");
}

/// A CustomResourceDefinition applied with kubectl: its resource is discovered (by plural,
/// singular and short name), its objects created, printed with the CRD's columns, described,
/// refused naming the bad field, and deleted; deleting the CRD takes the resource away.
#[test]
fn custom_resources_with_the_real_kubectl() {
    if !kubectl_present() {
        return;
    }
    let s = Serve::start();
    let root = env!("CARGO_MANIFEST_DIR");
    let crd = format!("{root}/assets/crds/roll.yaml");
    let split = format!("{root}/assets/rolls/split.yaml");
    assert!(s.ok(&["apply", "-f", &crd]).contains("customresourcedefinition.apiextensions.k8s.io/rolls.pinsetter.dev"));
    s.eventually(
        "the CRD established",
        &[
            "get",
            "crd",
            "rolls.pinsetter.dev",
            "-o",
            "jsonpath={.status.conditions[?(@.type==\"Established\")].status}",
        ],
        |o| o == "True",
    );
    let crds = s.ok(&["get", "crds"]);
    let header: Vec<&str> = crds.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(header, ["NAME", "CREATED", "AT"], "{crds}");

    assert!(s.ok(&["apply", "-f", &split]).contains("roll.pinsetter.dev/split created"));
    let rolls = s.ok(&["get", "rolls"]);
    let header: Vec<&str> = rolls.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(header, ["NAME", "FAILURE", "PHASE", "DISPLACED", "RECOVERY", "AGE"], "{rolls}");
    assert!(rolls.lines().nth(1).unwrap().starts_with("split "), "{rolls}");
    assert!(s.ok(&["get", "rl", "split", "-o", "jsonpath={.spec.pins}"]).contains("[7,10]"));
    assert!(s.ok(&["get", "roll"]).contains("split"), "the singular name works too");
    let described = s.ok(&["describe", "roll", "split"]);
    assert!(described.contains("Kind:         Roll") && described.contains("Restore After:  20s"), "{described}");

    // Applying again is a patch of the same object.
    assert!(s.ok(&["apply", "-f", &split]).contains("roll.pinsetter.dev/split unchanged"));

    let bad = s.dir.join("bad.yaml");
    std::fs::write(&bad, "apiVersion: pinsetter.dev/v1alpha1\nkind: Roll\nmetadata:\n  name: bad\nspec:\n  failure: partition\n  pins: [0]\n").unwrap();
    let out = s.kubectl(&["apply", "-f", bad.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("The Roll \"bad\" is invalid: \n* spec.failure: Unsupported value: \"partition\": supported values: \"crash\""),
        "{err}"
    );
    assert!(
        err.contains("spec.pins[0]: Invalid value: 0: spec.pins[0] in body should be greater than or equal to 1"),
        "{err}"
    );

    assert!(s.ok(&["delete", "roll", "split"]).contains("roll.pinsetter.dev \"split\" deleted"));
    assert!(s.ok(&["get", "rolls"]).is_empty());
    assert!(s.ok(&["apply", "--server-side", "-f", &split]).contains("roll.pinsetter.dev/split serverside-applied"));
    let managers =
        s.ok(&["get", "roll", "split", "--show-managed-fields", "-o", "jsonpath={.metadata.managedFields[*].manager}"]);
    assert_eq!(managers, "kubectl");
    s.ok(&["delete", "crd", "rolls.pinsetter.dev"]);
    let out = s.kubectl(&["get", "rolls"]);
    assert!(!out.status.success(), "the resource is gone with its CRD");
}

/// Issue 14's "done when": one `kubectl apply` of the CRD directory and a Roll (it works because
/// the CRD is installed at start, so kubectl finds the Roll's mapping before it applies the CRD
/// file), then the game throws on its own: the Roll goes Knocked with its nodes NotReady, then
/// Restored with them Ready. `kubectl explain` reads the group's OpenAPI v3 document (without
/// it: `couldn't find resource for "pinsetter.dev/v1alpha1, Resource=rolls"`). Short durations
/// keep it quick.
#[test]
fn one_apply_of_the_crds_and_a_roll_makes_the_game_throw_on_its_own() {
    if !kubectl_present() {
        return;
    }
    let s = Serve::start_with(&["--timing", "arcade"]);
    let root = env!("CARGO_MANIFEST_DIR");
    let quick = s.dir.join("quick.yaml");
    std::fs::write(
        &quick,
        "apiVersion: pinsetter.dev/v1alpha1\nkind: Roll\nmetadata:\n  name: quick\nspec:\n  at: 1s\n  pins: [7, 10]\n  failure: crash\n  restoreAfter: 6s\n",
    )
    .unwrap();
    s.eventually("ten Ready nodes", &["get", "nodes"], |o| o.matches(" Ready ").count() == 10);
    let out = s.kubectl(&["apply", "-f", &format!("{root}/assets/crds/"), "-f", quick.to_str().unwrap()]);
    let (applied, warned) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{applied}{warned}");
    // The CRD installed at start carries kubectl's last-applied annotation: no warning.
    assert!(!warned.contains("last-applied-configuration"), "{warned}");
    assert!(applied.contains("roll.pinsetter.dev/quick created"), "{applied}");

    let rolls = s.ok(&["get", "rolls"]);
    let header: Vec<&str> = rolls.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(header, ["NAME", "FAILURE", "PHASE", "DISPLACED", "RECOVERY", "AGE"], "{rolls}");

    let phase = ["get", "roll", "quick", "-o", "jsonpath={.status.phase}"];
    s.eventually("the Roll Knocked", &phase, |o| o == "Knocked" || o == "Restored");
    s.eventually("pin-7 NotReady", &["get", "node", "pin-7", "pin-10"], |o| o.matches("NotReady").count() == 2);
    let knocked = s.ok(&["get", "rolls", "quick"]);
    assert!(knocked.lines().nth(1).is_some_and(|l| l.split_whitespace().nth(1) == Some("crash")), "{knocked}");
    s.eventually("the Roll Restored", &phase, |o| o == "Restored");
    s.eventually("pin-7 Ready again", &["get", "node", "pin-7", "pin-10"], |o| {
        o.matches(" Ready ").count() == 2 && !o.contains("NotReady")
    });
    let described = s.ok(&["describe", "roll", "quick"]);
    for reason in ["Knocked", "Restored"] {
        assert!(described.contains(reason) && described.contains("roll-controller"), "{reason}:\n{described}");
    }
    let explained = s.ok(&["explain", "roll.spec"]);
    assert!(explained.contains("restoreAfter") && explained.contains("KIND:       Roll"), "{explained}");
}

/// `kubectl drain` waits on a PodDisruptionBudget as on a real cluster: while the budget allows
/// no disruption the Eviction API answers 429 and drain retries every 5 s; once the Deployment
/// is scaled up and its extra pod is Ready, the eviction goes through and the drain completes.
#[test]
fn drain_waits_for_a_pod_disruption_budget() {
    if !kubectl_present() {
        return;
    }
    let s = Serve::start();
    s.eventually("ten Ready nodes", &["get", "nodes"], |o| o.matches(" Ready ").count() == 10);
    let manifest = s.dir.join("guarded.yaml");
    std::fs::write(
        &manifest,
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: guarded}\nspec:\n  replicas: 3\n  selector: {matchLabels: {app: guarded}}\n  template:\n    metadata: {labels: {app: guarded}}\n    spec:\n      containers: [{name: c, image: 'guard:1', resources: {requests: {cpu: 100m, memory: 64Mi}}}]\n---\napiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {name: guarded}\nspec:\n  minAvailable: 3\n  selector: {matchLabels: {app: guarded}}\n",
    )
    .unwrap();
    let applied = s.ok(&["apply", "-f", manifest.to_str().unwrap()]);
    assert!(applied.contains("poddisruptionbudget.policy/guarded created"), "{applied}");
    s.eventually("guarded 3/3", &["get", "deployment", "guarded"], |o| o.contains("3/3"));
    let pdb = s.eventually("the budget counted", &["get", "pdb", "guarded"], |o| {
        o.lines()
            .nth(1)
            .is_some_and(|row| row.split_whitespace().collect::<Vec<_>>()[..4] == ["guarded", "3", "N/A", "0"])
    });
    let header: Vec<&str> = pdb.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(header, ["NAME", "MIN", "AVAILABLE", "MAX", "UNAVAILABLE", "ALLOWED", "DISRUPTIONS", "AGE"]);
    // kubectl create sends protobuf; a zero budget survives it.
    let created = s.ok(&["create", "poddisruptionbudget", "none", "--selector=app=none", "--max-unavailable=0"]);
    assert!(created.contains("poddisruptionbudget.policy/none created"), "{created}");
    let none = s.ok(&["get", "pdb", "none", "-o", "jsonpath={.spec.maxUnavailable}"]);
    assert_eq!(none, "0");
    let described = s.ok(&["describe", "pdb", "guarded"]);
    for line in ["Min available:  3", "Selector:       app=guarded", "Allowed disruptions:  0", "Current:", "Desired:"]
    {
        assert!(described.contains(line), "describe pdb lacks {line:?}:\n{described}");
    }

    let node = s.ok(&["get", "pods", "-l", "app=guarded", "-o", "jsonpath={.items[0].spec.nodeName}"]);
    let stderr_path = s.dir.join("drain.err");
    let mut drain = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(s.dir.join("kubeconfig"))
        .arg("--cache-dir")
        .arg(s.dir.join("cache"))
        .args(["drain", &node, "--ignore-daemonsets", "--delete-emptydir-data", "--timeout=120s"])
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&stderr_path).unwrap())
        .spawn()
        .unwrap();
    let refused = "(will retry after 5s): Cannot evict pod as it would violate the pod's disruption budget.";
    let start = Instant::now();
    while !std::fs::read_to_string(&stderr_path).unwrap_or_default().contains(refused) {
        assert!(drain.try_wait().unwrap().is_none(), "drain ended before it was refused");
        assert!(start.elapsed() < Duration::from_secs(60), "drain was never refused");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(drain.try_wait().unwrap().is_none(), "a refused drain keeps retrying");
    let guarded = s.ok(&["get", "pods", "-l", "app=guarded", "--field-selector", &format!("spec.nodeName={node}")]);
    assert!(!guarded.contains("Terminating"), "the guarded pod stays:\n{guarded}");

    assert!(s.ok(&["scale", "deployment", "guarded", "--replicas", "4"]).contains("scaled"));
    s.eventually("guarded 4/4", &["get", "deployment", "guarded"], |o| o.contains("4/4"));
    let start = Instant::now();
    let status = loop {
        if let Some(status) = drain.try_wait().unwrap() {
            break status;
        }
        assert!(start.elapsed() < Duration::from_secs(120), "drain never completed");
        std::thread::sleep(Duration::from_millis(200));
    };
    let mut out = String::new();
    drain.stdout.take().unwrap().read_to_string(&mut out).unwrap();
    assert!(status.success(), "drain failed:\n{out}\n{}", std::fs::read_to_string(&stderr_path).unwrap_or_default());
    assert!(out.contains(&format!("node/{node} drained")), "{out}");
    s.eventually("no guarded pod on the drained pin", &["get", "pods", "-l", "app=guarded", "-o", "wide"], |o| {
        !o.lines().skip(1).any(|l| l.contains(&format!(" {node} ")) && !l.contains("Terminating"))
    });
}

/// The default lane's budget (`web`, maxUnavailable 1): draining a pin with two web pods evicts
/// one, is refused the other until the first one's replacement is Ready, then finishes.
#[test]
fn draining_a_default_pin_takes_its_web_pods_one_at_a_time() {
    if !kubectl_present() {
        return;
    }
    let s = Serve::start();
    s.eventually("46 Running pods", &["get", "pods"], |o| o.matches(" Running ").count() == 46);
    let nodes = s.ok(&["get", "pods", "-l", "app=web", "-o", "jsonpath={.items[*].spec.nodeName}"]);
    let mut per_node: std::collections::BTreeMap<&str, usize> = std::collections::BTreeMap::new();
    for node in nodes.split_whitespace() {
        *per_node.entry(node).or_default() += 1;
    }
    let node = per_node.iter().find(|(_, n)| **n >= 2).map(|(node, _)| node.to_string());
    let node = node.unwrap_or_else(|| panic!("no pin runs two web pods: {per_node:?}"));
    let output = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(s.dir.join("kubeconfig"))
        .arg("--cache-dir")
        .arg(s.dir.join("cache"))
        .args(["drain", &node, "--ignore-daemonsets", "--delete-emptydir-data", "--timeout=120s"])
        .output()
        .unwrap();
    let (out, err) = (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "drain failed:\n{out}\n{err}");
    assert!(
        err.contains("(will retry after 5s): Cannot evict pod as it would violate the pod's disruption budget."),
        "the second web pod was evicted without waiting:\n{err}"
    );
    assert!(out.contains(&format!("node/{node} drained")), "{out}");
    s.eventually("web back to 12 Running elsewhere", &["get", "pods", "-l", "app=web", "-o", "wide"], |o| {
        o.matches(" Running ").count() == 12 && !o.contains(&format!(" {node} "))
    });
}

#[test]
fn a_pod_waits_for_its_config_map_or_secret_until_kubectl_creates_it() {
    if !kubectl_present() {
        return;
    }
    let s = Serve::start();
    s.eventually("ten Ready nodes", &["get", "nodes"], |o| o.matches(" Ready ").count() == 10);
    let manifest = s.dir.join("config-users.yaml");
    std::fs::write(
        &manifest,
        "apiVersion: v1\nkind: Pod\nmetadata: {name: reader}\nspec:\n  containers: [{name: app, image: 'app:1', volumeMounts: [{name: cfg, mountPath: /etc/app}]}]\n  volumes: [{name: cfg, configMap: {name: app-config}}]\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: envy}\nspec:\n  containers:\n  - name: app\n    image: 'app:1'\n    env: [{name: MODE, valueFrom: {configMapKeyRef: {name: x, key: mode}}}]\n    envFrom: [{secretRef: {name: maybe, optional: true}}]\n",
    )
    .unwrap();
    s.ok(&["apply", "-f", manifest.to_str().unwrap()]);

    let mount = r#"MountVolume.SetUp failed for volume "cfg" : configmap "app-config" not found"#;
    let described = s.eventually("reader's FailedMount", &["describe", "pod", "reader"], |o| o.contains(mount));
    assert!(described.contains("FailedMount") && described.contains("kubelet"), "{described}");
    assert!(s.ok(&["get", "pod", "reader"]).contains("ContainerCreating"));
    s.eventually("envy's config error", &["get", "pod", "envy"], |o| o.contains("CreateContainerConfigError"));
    let described = s.ok(&["describe", "pod", "envy"]);
    assert!(described.contains(r#"Error: configmap "x" not found"#), "{described}");

    s.ok(&["create", "configmap", "app-config", "--from-literal=level=debug"]);
    s.eventually("reader Running", &["get", "pod", "reader"], |o| o.contains("Running"));
    s.ok(&["create", "configmap", "x", "--from-literal=mode=fast"]);
    s.eventually("envy Running", &["get", "pod", "envy"], |o| o.contains("Running"));
}

/// Issue 15's lesson through kubectl on the default lane: db-0's claim binds the local disk of
/// the pin it was scheduled to; that pin knocked, db-0 stays Terminating there (as upstream, for a
/// pod on an unreachable node), and once forced away the new db-0 is Pending with the scheduler's
/// volume reason; the pin restored, db-0 runs on it again.
#[test]
fn a_stateful_pod_waits_for_the_pin_holding_its_volume() {
    if !kubectl_present() {
        return;
    }
    let s = Serve::start();
    s.eventually("db-0 Running", &["get", "pods"], |o| {
        o.lines().any(|l| l.starts_with("db-0 ") && l.contains(" Running "))
    });
    let pin = s.ok(&["get", "pod", "db-0", "-o", "jsonpath={.spec.nodeName}"]);
    let volume = s.eventually(
        "data-db-0 Bound",
        &["get", "pvc", "data-db-0", "-o", "jsonpath={.status.phase} {.spec.volumeName}"],
        |o| o.starts_with("Bound "),
    );
    assert_eq!(volume, format!("Bound local-{pin}"), "WaitForFirstConsumer bound the disk of db-0's pin");
    let pv = s.ok(&["get", "pv", &format!("local-{pin}"), "-o", "wide"]);
    assert!(pv.contains("default/data-db-0") && pv.contains("local"), "{pv}");

    let kubeconfig = std::fs::read_to_string(s.dir.join("kubeconfig")).unwrap();
    let server = kubeconfig.lines().find_map(|l| l.trim().strip_prefix("server: ")).unwrap().to_string();
    let ctl = |args: &[&str]| {
        let out =
            Command::new(env!("CARGO_BIN_EXE_pinsetter")).arg("ctl").arg("--server").arg(&server).args(args).output();
        let out = out.unwrap();
        assert!(out.status.success(), "ctl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    ctl(&["knock", &pin]);
    s.eventually("db-0 Terminating on its knocked pin", &["get", "pod", "db-0"], |o| o.contains("Terminating"));
    // Everything else on the pin moved: Running pods are all on standing pins.
    s.eventually("the other pods moved", &["get", "pods", "-o", "wide"], |o| {
        o.matches(" Running ").count() == 45
            && !o.lines().any(|l| l.contains(" Running ") && l.contains(&format!(" {pin} ")))
    });
    s.ok(&["delete", "pod", "db-0", "--force", "--grace-period=0"]);
    // The set makes db-0 again at once (it may be missing for a moment).
    let start = Instant::now();
    let described = loop {
        let out = s.kubectl(&["describe", "pod", "db-0"]);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        if text.contains("FailedScheduling") && text.contains("volume node affinity conflict") {
            break text;
        }
        assert!(start.elapsed() < Duration::from_secs(60), "db-0 never Pending with the volume reason:\n{text}");
        std::thread::sleep(Duration::from_millis(200));
    };
    let status = described.lines().find(|l| l.starts_with("Status:")).map(|l| l.split_whitespace().collect::<Vec<_>>());
    assert_eq!(status, Some(vec!["Status:", "Pending"]), "{described}");

    ctl(&["restore", &pin]);
    s.eventually("db-0 Running on its pin again", &["get", "pod", "db-0", "-o", "wide"], |o| {
        o.contains(" Running ") && o.contains(&format!(" {pin} "))
    });
}

#[test]
fn kubectl_scale_statefulset_uses_its_scale_subresource() {
    if !kubectl_present() {
        return;
    }
    let s = Serve::start();
    let resources = s.ok(&["get", "--raw", "/apis/apps/v1"]);
    assert!(resources.contains(r#""name":"statefulsets/scale""#), "{resources}");
    let manifest = s.dir.join("db.yaml");
    std::fs::write(
        &manifest,
        "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: ledger}\nspec:\n  serviceName: ledger\n  replicas: 1\n  selector: {matchLabels: {app: ledger}}\n  template:\n    metadata: {labels: {app: ledger}}\n    spec:\n      containers: [{name: ledger, image: 'ledger:1', resources: {requests: {cpu: 100m, memory: 64Mi}}}]\n",
    )
    .unwrap();
    s.ok(&["apply", "-f", manifest.to_str().unwrap()]);
    s.eventually("ledger-0 Running", &["get", "pod", "ledger-0"], |o| o.contains("Running"));
    assert!(s.ok(&["scale", "sts", "ledger", "--replicas", "3"]).contains("statefulset.apps/ledger scaled"));
    s.eventually("ledger-2 Running", &["get", "pods", "-l", "app=ledger"], |o| o.matches(" Running ").count() == 3);
    assert_eq!(s.ok(&["get", "sts", "ledger", "-o", "jsonpath={.spec.replicas}"]), "3");
    let scale = s.ok(&["get", "--raw", "/apis/apps/v1/namespaces/default/statefulsets/ledger/scale"]);
    let scale: serde_json::Value = serde_json::from_str(&scale).unwrap();
    assert_eq!(scale["kind"], "Scale");
    assert_eq!(scale["spec"]["replicas"], 3);
    assert_eq!(scale["status"]["selector"], "app=ledger");
    // A missing StatefulSet is NotFound, as upstream says it.
    let missing = s.kubectl(&["scale", "sts", "nope", "--replicas", "2"]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains(r#"statefulsets.apps "nope" not found"#));
}

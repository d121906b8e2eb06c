//! The gRPC service against the real binary on port 0 (and, for the slow consumer, in process):
//! a follower of `Game` rebuilds the served game to the session's own digest, a late joiner too;
//! `ctl --grpc watch` prints the watch; a follower that never reads neither stalls the World nor
//! holds memory without bound, and is told to resume (RESOURCE_EXHAUSTED). `tests/grpc/` holds
//! the client that isn't ours (Python grpcio, stubs generated from the project's `.proto`).

mod common;

use pinsetter::driver::{FeedLine, LogHeader};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::Duration;

/// `pinsetter serve` on port 0; killed on drop unless stopped.
struct Serve {
    child: Child,
    addr: String,
    /// Its stderr lines after the announcement.
    lines: Receiver<String>,
}

impl Serve {
    fn start(extra: &[&str]) -> Serve {
        let mut child = Command::new(env!("CARGO_BIN_EXE_pinsetter"))
            .args(["serve", "--listen", "127.0.0.1:0", "--seed", "5", "--speed", "4"])
            .args(extra)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("RUST_LOG", "warn")
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("pinsetter serve starts");
        let stderr = child.stderr.take().expect("stderr is piped");
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut serve = Serve { child, addr: String::new(), lines };
        loop {
            let line = serve.lines.recv_timeout(Duration::from_secs(30)).expect("serve announces its address");
            if let Some(rest) = line.split("serving the Kubernetes API on ").nth(1) {
                serve.addr = rest.split_whitespace().next().unwrap_or("").to_string();
                break;
            }
        }
        serve
    }

    fn grpc(&self) -> String {
        self.addr.replace("http://", "grpc://").replace("https://", "grpcs://")
    }

    fn ctl(&self, args: &[&str]) {
        let out = Command::new(env!("CARGO_BIN_EXE_pinsetter"))
            .args(["ctl", "--server", &self.addr])
            .args(args)
            .output()
            .expect("ctl runs");
        assert!(out.status.success(), "ctl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// SIGTERM, then the digest the session says it ended with.
    fn stop(mut self) -> String {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill").args(["-TERM", &pid]).status().expect("kill runs").success());
        let digest = loop {
            let line = self.lines.recv_timeout(Duration::from_secs(30)).expect("serve reports its digest");
            if let Some(rest) = line.split("session digest ").nth(1) {
                break rest.split_whitespace().next().unwrap_or("").to_string();
            }
        };
        self.child.wait().expect("serve exits");
        digest
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A replica World built from the header, stepped and fed as the lines say, as a spectator's
/// is: returns the replica's digest and the one the session ended with.
fn replicate(header: &LogHeader, lines: &Receiver<FeedLine>) -> (String, Option<String>, usize) {
    use pinsetter::world::World;
    let scenario = header.scenario("feed").expect("the lane arrives whole");
    let preset = header.preset("feed").expect("a known preset");
    let epoch = header.epoch();
    let mut world = World::with_epoch(header.seed, preset, &scenario, epoch).expect("the replica starts");
    let step_to = |world: &mut World, tick: u64| {
        while world.now().0 < tick * pinsetter::clock::TICK_MS {
            world.step();
            while world.poll_output().is_some() {}
        }
    };
    let mut inputs = 0;
    loop {
        match lines.recv_timeout(Duration::from_secs(60)).expect("the feed goes on until the session ends") {
            FeedLine::Input { tick, input } => {
                step_to(&mut world, tick);
                // Refused here as it was refused live: it changed nothing either time.
                if world.handle_input(input).is_err() {
                    eprintln!("an input the session refused too");
                }
                while world.poll_output().is_some() {}
                while world.poll_reply().is_some() {}
                inputs += 1;
            }
            FeedLine::Reached(tick) => step_to(&mut world, tick),
            FeedLine::End { digest } => return (world.digest(), digest, inputs),
        }
    }
}

#[test]
fn a_follower_and_a_late_joiner_rebuild_the_served_game_to_its_digest() {
    let serve = Serve::start(&[]);
    let early = pinsetter::grpc::client::follow(&serve.grpc(), None).expect("following the game");
    serve.ctl(&["scale", "web", "14"]);
    serve.ctl(&["knock", "pin-3"]);
    std::thread::sleep(Duration::from_millis(300));
    serve.ctl(&["cordon", "pin-5"]);
    // Joins after the writes: it must catch up from the inputs so far.
    let late = pinsetter::grpc::client::follow(&serve.grpc(), None).expect("following the game late");
    serve.ctl(&["restore", "pin-3"]);
    std::thread::sleep(Duration::from_millis(300));
    let session = serve.stop();
    for (who, (header, lines)) in [("early", early), ("late", late)] {
        let (replica, ended, inputs) = replicate(&header, &lines);
        assert_eq!(inputs, 4, "{who}: every write reached the feed");
        assert_eq!(ended.as_deref(), Some(session.as_str()), "{who}: the feed ends with the session's digest");
        assert_eq!(replica, session, "{who}: the replica is the session");
    }
}

#[test]
fn ctl_grpc_watch_prints_the_watch_stream() {
    let serve = Serve::start(&[]);
    let mut watch = Command::new(env!("CARGO_BIN_EXE_pinsetter"))
        .args(["ctl", "--grpc", "--server", &serve.addr, "watch", "nodes"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ctl runs");
    let stdout = BufReader::new(watch.stdout.take().expect("piped"));
    let mut lines = stdout.lines().map_while(Result::ok);
    let first: Vec<String> = lines.by_ref().take(10).collect();
    let _ = watch.kill();
    let _ = watch.wait();
    assert_eq!(first.len(), 10, "the ten pins' nodes: {first:?}");
    assert!(first.iter().all(|l| l.starts_with("ADDED")), "{first:?}");
    assert!(first.iter().any(|l| l.split_whitespace().nth(1) == Some("pin-1")), "{first:?}");
}

/// The game in process, served on port 0, with a follower that never reads past the header
/// (a small HTTP/2 window, so the transport stops taking its messages early).
#[test]
fn a_follower_that_never_reads_does_not_stall_the_world_and_is_told_to_resume() {
    use pinsetter::cluster::timing::Preset;
    use pinsetter::driver::{Driver, Feed};
    use pinsetter::grpc::proto;
    use pinsetter::scenario::Scenario;
    let scenario = Scenario::resolve("default").unwrap();
    let world = pinsetter::world::World::new(7, Preset::Arcade, &scenario).unwrap();
    let (handle, inbox) = pinsetter::api::inbox();
    let feed = Feed::new(LogHeader::new(7, Preset::Arcade, pinsetter::clock::Epoch::at_unix_seconds(0), &scenario));
    assert!(inbox.publish_feed(feed.clone()).is_ok());
    let mut driver = Driver::new(world, 1.0);
    driver.feed = Some(feed.clone());
    driver.pump(&inbox);
    let server = pinsetter::api::Server::start("127.0.0.1:0".parse().unwrap(), handle).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let mut stalled = runtime.block_on(async {
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", server.addr))
            .unwrap()
            .initial_stream_window_size(1024)
            .initial_connection_window_size(1024)
            .connect()
            .await
            .unwrap();
        let mut client = proto::pinsetter_client::PinsetterClient::new(channel);
        let mut updates = client.game(proto::GameRequest {}).await.unwrap().into_inner();
        let header = updates.message().await.unwrap().unwrap();
        assert!(matches!(header.update, Some(proto::game_update::Update::Header(_))));
        updates
    });
    // Far more ticks than the feed and every queue hold, each one a Reached: the World goes on.
    let ticks = 3 * pinsetter::driver::FEED_CAPACITY as u64 + 2_000;
    for _ in 0..ticks {
        driver.advance(Duration::from_millis(pinsetter::clock::TICK_MS));
        driver.pump(&inbox);
    }
    assert_eq!(driver.world.now().0 / pinsetter::clock::TICK_MS, ticks, "the World ran every tick");
    // Whether the server's task noticed the lag already (it was still reading the feed into
    // the stream's queue when the feed overflowed) or notices it only once the client reads
    // (it was blocked on the full queue) depends on threads' timing: either way the follower
    // is told below, so how many are joined now is not asserted.
    // Reading now: what was queued, then the cut with the last tick it was sent.
    let (last_reached, status) = runtime.block_on(async {
        let mut last = 0;
        loop {
            match stalled.message().await {
                Ok(Some(proto::GameUpdate { update: Some(proto::game_update::Update::Reached(tick)) })) => last = tick,
                Ok(Some(_)) => {}
                Ok(None) => panic!("the stream ended without saying why"),
                Err(status) => return (last, status),
            }
        }
    });
    assert_eq!(status.code(), tonic::Code::ResourceExhausted, "{status:?}");
    let told: u64 = status.metadata().get("pinsetter-tick").unwrap().to_str().unwrap().parse().unwrap();
    assert_eq!(told, last_reached, "it is told the last tick it was sent");
    assert!(told < ticks, "it fell behind: {told} of {ticks}");
    // Told, it has left the feed: the World no longer sends it anything.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while feed.followers() > 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(feed.followers(), 0, "the follower that fell behind left the feed");
    drop(stalled);
    server.stop();
}

/// The venv's interpreter (`PINSETTER_PYTHON`, with grpcio and grpcio-tools), as
/// tests/clients.rs finds it: CI must have it.
fn python() -> Option<std::path::PathBuf> {
    match std::env::var_os("PINSETTER_PYTHON") {
        Some(path) => Some(path.into()),
        None => {
            assert!(
                std::env::var_os("CI").is_none_or(|ci| ci != "true"),
                "CI must set PINSETTER_PYTHON to a venv's python with grpcio and grpcio-tools (.ci/run does)"
            );
            eprintln!(
                "PINSETTER_PYTHON is not set: skipping the grpcio test (python3 -m venv v && v/bin/pip install grpcio grpcio-tools, then PINSETTER_PYTHON=v/bin/python)"
            );
            None
        }
    }
}

/// Runs tests/grpc/client.py with stubs generated into a directory of its own.
fn run_python(python: &std::path::Path, args: &[&str], env: &[(&str, &std::path::Path)]) -> String {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let stubs = tempfile::tempdir().expect("a directory for the stubs");
    let out = Command::new(python)
        .arg(root.join("tests/grpc/client.py"))
        .arg(root.join("proto"))
        .arg(stubs.path())
        .args(args)
        .envs(env.iter().copied())
        .output()
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "client.py {args:?} failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    stdout
}

#[test]
fn grpcio_watches_resumes_acts_and_sees_the_knocked_node_go_not_ready() {
    let Some(python) = python() else { return };
    let serve = Serve::start(&[]);
    let address = serve.addr.trim_start_matches("http://").to_string();
    let out = run_python(&python, &["plain", &address], &[]);
    assert!(out.contains("pin-3 NotReady"), "{out}");
    assert!(out.contains("joined as bowler 1, refused out of turn"), "{out}");
    assert!(out.trim_end().ends_with("ok"), "{out}");
}

#[test]
fn grpcio_is_refused_without_a_token_and_a_viewer_may_not_act() {
    let Some(python) = python() else { return };
    let data = tempfile::tempdir().expect("a data directory");
    let token_file = data.path().join("tokens.csv");
    std::fs::write(&token_file, "admin-token,alice,admin\nviewer-token,bob,viewer\n").unwrap();
    let token_arg = token_file.display().to_string();
    // The CA is made in the data directory, which the child inherits from the environment.
    let mut child = Command::new(env!("CARGO_BIN_EXE_pinsetter"))
        .args(["serve", "--listen", "127.0.0.1:0", "--tls", "--token-file", &token_arg])
        .env("PINSETTER_DATA_DIR", data.path())
        .env("RUST_LOG", "warn")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("pinsetter serve starts");
    let announced = common::announced_address(&mut child);
    let serve = Serve { child, addr: String::new(), lines: std::sync::mpsc::channel().1 };
    let addr = announced.recv_timeout(Duration::from_secs(30)).expect("serve announces its address");
    assert!(addr.starts_with("https://"), "{addr}");
    let address = addr.trim_start_matches("https://").to_string();
    let ca = data.path().join("tls").join("ca.crt");
    let ca_arg = ca.display().to_string();
    let out = run_python(&python, &["tokens", &address, &ca_arg, "admin-token", "viewer-token"], &[]);
    assert!(out.contains("refused without a token"), "{out}");
    assert!(out.trim_end().ends_with("ok"), "{out}");
    drop(serve);
}

//! The API server as a network service under stress: shutdown with watches open (against the
//! real binary), half-sent and idle connections, and watchers that stop reading.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_pinsetter");

/// Kills the child if a test fails before it exits on its own.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// `pinsetter serve` on port 0, and the address it announced.
fn serve() -> (Proc, String) {
    let mut child = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("RUST_LOG", "warn")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("pinsetter serve starts");
    let rx = common::announced_address(&mut child);
    let proc = Proc(child);
    let url = rx.recv_timeout(Duration::from_secs(20)).expect("serve announces its address");
    (proc, url.trim_start_matches("http://").to_string())
}

/// Issue 9, finding 2: SIGTERM with watches open ends the watches (a complete chunked
/// response, as kube-apiserver closes them) and the process exits promptly.
#[test]
fn sigterm_ends_open_watches_and_serve_exits() {
    let (mut proc, addr) = serve();
    let mut watches = Vec::new();
    for path in ["/api/v1/pods?watch=true", "/apis/apps/v1/deployments?watch=true&resourceVersion=1"] {
        let mut stream = TcpStream::connect(&addr).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        write!(stream, "GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n").unwrap();
        let mut head = [0u8; 64];
        let n = stream.read(&mut head).unwrap();
        assert!(head[..n].starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&head[..n]));
        let reader = std::thread::spawn(move || {
            let mut rest = Vec::new();
            let ended = stream.read_to_end(&mut rest);
            (ended.is_ok(), rest)
        });
        watches.push(reader);
    }
    let signalled = Instant::now();
    let killed = Command::new("kill").args(["-TERM", &proc.0.id().to_string()]).status().unwrap();
    assert!(killed.success());
    let exit = loop {
        if let Some(status) = proc.0.try_wait().unwrap() {
            break status;
        }
        assert!(signalled.elapsed() < Duration::from_secs(5), "serve still running 5 s after SIGTERM");
        std::thread::sleep(Duration::from_millis(10));
    };
    println!("serve exited {:?} after SIGTERM with 2 watches open ({exit})", signalled.elapsed());
    assert!(exit.success(), "{exit}");
    for reader in watches {
        let (ended, rest) = reader.join().unwrap();
        assert!(ended, "the watch connection was closed, not left hanging");
        assert!(
            rest.ends_with(b"0\r\n\r\n"),
            "the server ended the watch's chunked body: {:?}",
            String::from_utf8_lossy(&rest[rest.len().saturating_sub(40)..])
        );
    }
}

/// An in-process server with the given limits over a World that a thread keeps stepping.
fn server_with(
    limits: pinsetter::api::Limits,
) -> (pinsetter::api::Server, std::sync::Arc<std::sync::atomic::AtomicBool>) {
    use pinsetter::cluster::timing::Preset;
    use pinsetter::scenario::Scenario;
    use pinsetter::world::World;
    use std::sync::atomic::Ordering;
    let (handle, inbox) = pinsetter::api::inbox();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = stop.clone();
    std::thread::spawn(move || {
        let mut world = World::new(1, Preset::Arcade, &Scenario::resolve("default").unwrap()).unwrap();
        while !flag.load(Ordering::Relaxed) {
            inbox.drain(&mut world);
            world.step();
            while world.poll_output().is_some() {}
            std::thread::sleep(Duration::from_millis(1));
        }
    });
    let server = pinsetter::api::Server::start_with_limits(
        "127.0.0.1:0".parse().unwrap(),
        handle,
        pinsetter::api::Security::default(),
        limits,
    )
    .unwrap();
    (server, stop)
}

/// Issue 9, finding 8: a request whose headers never finish is closed after the header-read
/// timeout, while a watch (a response in progress) outlives it and keeps streaming.
#[test]
fn half_sent_requests_are_closed_but_watches_live_on() {
    let timeout = Duration::from_millis(300);
    let limits = pinsetter::api::Limits { header_read_timeout: timeout, ..pinsetter::api::Limits::default() };
    let (server, world) = server_with(limits);
    let addr = server.addr;

    let mut watch = TcpStream::connect(addr).unwrap();
    watch.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(watch, "GET /api/v1/nodes?watch=true HTTP/1.1\r\nHost: pinsetter\r\n\r\n").unwrap();

    let mut half = TcpStream::connect(addr).unwrap();
    half.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(half, "GET /api/v1/nodes HTTP/1.1\r\nHost: pinsetter\r\n").unwrap();
    let started = Instant::now();
    let mut answer = Vec::new();
    let read = half.read_to_end(&mut answer);
    assert!(read.is_ok(), "closed by the server, not by our read timeout: {read:?}");
    assert!(!String::from_utf8_lossy(&answer).contains("200 OK"), "{}", String::from_utf8_lossy(&answer));
    println!("a half-sent request was closed after {:?} (timeout {timeout:?})", started.elapsed());

    // The watch has been open longer than the timeout; a change still reaches it.
    std::thread::sleep(timeout * 2);
    let mut cordon = TcpStream::connect(addr).unwrap();
    let body = r#"{"spec":{"unschedulable":true}}"#;
    write!(
        cordon,
        "PATCH /api/v1/nodes/pin-3 HTTP/1.1\r\nHost: pinsetter\r\nContent-Type: application/merge-patch+json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut reply = String::new();
    cordon.read_to_string(&mut reply).unwrap();
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    let mut seen = Vec::new();
    let mut buffer = [0u8; 8192];
    while !String::from_utf8_lossy(&seen).contains("\"unschedulable\":true") {
        let n = watch.read(&mut buffer).expect("the watch is still open and streaming");
        assert!(n > 0, "the watch was cut: {}", String::from_utf8_lossy(&seen));
        seen.extend_from_slice(&buffer[..n]);
    }
    server.stop();
    world.store(true, std::sync::atomic::Ordering::Relaxed);
}

//! The real binary in a real terminal (tmux): it starts, draws ten pins and the scorecard, a
//! chaos key knocks a pin, the event log shows NodeNotReady and then pods Scheduled elsewhere,
//! and `q` quits cleanly.

use std::process::Command;
use std::time::{Duration, Instant};

struct Tmux {
    socket: String,
}

impl Tmux {
    fn run(&self, args: &[&str]) -> std::process::Output {
        Command::new("tmux").arg("-L").arg(&self.socket).args(args).output().expect("tmux runs")
    }

    fn capture(&self) -> String {
        String::from_utf8_lossy(&self.run(&["capture-pane", "-p", "-t", "smoke"]).stdout).into_owned()
    }

    fn alive(&self) -> bool {
        self.run(&["has-session", "-t", "smoke"]).status.success()
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.run(&["kill-server"]);
    }
}

fn wait_for(tmux: &Tmux, what: &str, timeout: Duration, mut ok: impl FnMut(&str) -> bool) -> String {
    let start = Instant::now();
    loop {
        let screen = tmux.capture();
        if ok(&screen) {
            return screen;
        }
        assert!(start.elapsed() < timeout, "timed out waiting for {what}; screen:\n{screen}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn knocking_a_pin_in_the_real_terminal_reschedules_its_pods() {
    if Command::new("tmux").arg("-V").output().is_err() {
        assert!(std::env::var_os("CI").is_none(), "CI must install tmux (.ci/run does)");
        eprintln!("tmux is not installed: skipping the terminal smoke test");
        return;
    }
    let tmux = Tmux { socket: format!("pinsetter-smoke-{}", std::process::id()) };
    let bin = env!("CARGO_BIN_EXE_pinsetter");
    let started = tmux.run(&["new-session", "-d", "-s", "smoke", "-x", "160", "-y", "48", bin]);
    assert!(started.status.success(), "tmux failed: {}", String::from_utf8_lossy(&started.stderr));

    let screen = wait_for(&tmux, "ten pins and the scorecard", Duration::from_secs(20), |s| {
        (1..=10).all(|p| s.contains(&format!("pin-{p} "))) && s.contains("frame") && s.contains("45 running")
    });
    assert!(screen.contains("PINSETTER"));

    tmux.run(&["send-keys", "-t", "smoke", "3"]);
    let mut saw_not_ready = false;
    wait_for(&tmux, "NodeNotReady, then pods Scheduled on other pins", Duration::from_secs(30), |s| {
        saw_not_ready |= s.contains("NodeNotReady");
        // After the knock: a Scheduled entry whose destinations do not include pin-3.
        saw_not_ready && s.lines().any(|l| l.contains("to pin-") && !l.contains("pin-3 "))
    });
    let screen = tmux.capture();
    assert!(screen.contains("DOWN · NotReady"), "pin-3's card shows it down:\n{screen}");

    tmux.run(&["send-keys", "-t", "smoke", "q"]);
    let start = Instant::now();
    while tmux.alive() {
        assert!(start.elapsed() < Duration::from_secs(5), "q did not quit");
        std::thread::sleep(Duration::from_millis(50));
    }
}

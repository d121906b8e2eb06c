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
    // Its own data directory: a test must not write high scores into the player's.
    let data = std::env::temp_dir().join(format!("pinsetter-smoke-{}", std::process::id()));
    let bin = env!("CARGO_BIN_EXE_pinsetter");
    let command = format!("PINSETTER_DATA_DIR={} exec {bin}", data.display());
    let started = tmux.run(&["new-session", "-d", "-s", "smoke", "-x", "160", "-y", "48", &command]);
    assert!(started.status.success(), "tmux failed: {}", String::from_utf8_lossy(&started.stderr));

    let screen = wait_for(&tmux, "ten pins and the scorecard", Duration::from_secs(20), |s| {
        (1..=10).all(|p| s.contains(&format!("pin-{p} "))) && s.contains("frame") && s.contains("46 running")
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
    std::fs::remove_dir_all(&data).ok();
}

/// Whether the process is gone (or a zombie nobody has reaped yet).
fn exited(pid: &str) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map_or(true, |stat| stat.rsplit(')').next().is_some_and(|rest| rest.trim_start().starts_with('Z')))
}

/// A terminal that goes away (an ssh drop, a closed window) ends the game: it used to spin at
/// full CPU forever inside crossterm's `poll` on the dead terminal (crossterm#793), deaf to
/// SIGHUP. The 20 s bound only catches that hang; the game normally ends at once.
#[test]
fn the_game_ends_when_its_terminal_goes_away() {
    if Command::new("tmux").arg("-V").output().is_err() {
        assert!(std::env::var_os("CI").is_none(), "CI must install tmux (.ci/run does)");
        eprintln!("tmux is not installed: skipping the terminal smoke test");
        return;
    }
    let tmux = Tmux { socket: format!("pinsetter-hangup-{}", std::process::id()) };
    let data = std::env::temp_dir().join(format!("pinsetter-hangup-{}", std::process::id()));
    let bin = env!("CARGO_BIN_EXE_pinsetter");
    // `exec`, so the pane's process is the game itself. `--listen` is what made it spin.
    let command = format!("PINSETTER_DATA_DIR={} exec {bin} play --listen 127.0.0.1:0", data.display());
    let started = tmux.run(&["new-session", "-d", "-s", "smoke", "-x", "160", "-y", "48", &command]);
    assert!(started.status.success(), "tmux failed: {}", String::from_utf8_lossy(&started.stderr));
    wait_for(&tmux, "the game", Duration::from_secs(20), |s| s.contains("PINSETTER"));
    let pid = String::from_utf8_lossy(&tmux.run(&["display-message", "-p", "-t", "smoke", "#{pane_pid}"]).stdout)
        .trim()
        .to_string();
    assert!(!pid.is_empty() && !exited(&pid), "the game runs as pid {pid:?}");

    tmux.run(&["kill-server"]);
    let start = Instant::now();
    while !exited(&pid) && start.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let hung = !exited(&pid);
    if hung {
        Command::new("kill").args(["-KILL", &pid]).status().ok();
    }
    std::fs::remove_dir_all(&data).ok();
    assert!(!hung, "the game kept running after its terminal went away");
}

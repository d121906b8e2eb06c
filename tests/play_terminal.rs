//! `play` and its terminal: it refuses to start without one, and a signal (TERM, INT, HUP)
//! ends it with the terminal restored — echo and canonical mode back, the alternate screen
//! left, the cursor shown — checked in a real tmux pane with `stty -a`.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn play_without_a_terminal_says_it_needs_one() {
    let out = Command::new(env!("CARGO_BIN_EXE_pinsetter"))
        .arg("play")
        .env("RUST_BACKTRACE", "0")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .output()
        .expect("the pinsetter binary runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(err.starts_with("error: play needs a terminal"), "{err}");
}

struct Tmux {
    socket: String,
}

impl Tmux {
    fn run(&self, args: &[&str]) -> std::process::Output {
        Command::new("tmux").arg("-L").arg(&self.socket).args(args).output().expect("tmux runs")
    }

    fn capture(&self) -> String {
        String::from_utf8_lossy(&self.run(&["capture-pane", "-p", "-t", "term"]).stdout).into_owned()
    }

    /// A pane format variable, e.g. `alternate_on` or `cursor_flag`.
    fn pane(&self, variable: &str) -> String {
        let format = format!("#{{{variable}}}");
        String::from_utf8_lossy(&self.run(&["display-message", "-p", "-t", "term", &format]).stdout).trim().to_string()
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.run(&["kill-server"]);
    }
}

fn wait_for(tmux: &Tmux, what: &str, timeout: Duration, mut ok: impl FnMut(&Tmux) -> bool) {
    let start = Instant::now();
    while !ok(tmux) {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}; screen:\n{}", tmux.capture());
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn tmux_missing() -> bool {
    if Command::new("tmux").arg("-V").output().is_err() {
        assert!(std::env::var_os("CI").is_none(), "CI must install tmux (.ci/run does)");
        eprintln!("tmux is not installed: skipping the terminal signal test");
        return true;
    }
    false
}

/// Starts `play` in a shell in a tmux pane, sends `signal` to it, and checks the pane's terminal
/// afterwards: the shell reports the exit status and `stty -a`, off the alternate screen.
fn signal_restores_the_terminal(signal: &str, number: i32) {
    let tmux = Tmux { socket: format!("pinsetter-term-{signal}-{}", std::process::id()) };
    let data = std::env::temp_dir().join(format!("pinsetter-play-terminal-{signal}-{}", std::process::id()));
    let bin = env!("CARGO_BIN_EXE_pinsetter");
    // The shell runs play in the foreground (an inner shell notes its pid, then becomes play) and
    // afterwards reports play's exit status and what the terminal looks like.
    let script = format!(
        "PINSETTER_DATA_DIR='{}' sh -c 'echo $$ > {}/pid; exec {bin} play'; echo \"exit=$?\"; stty -a; sleep 60",
        data.display(),
        data.display()
    );
    std::fs::create_dir_all(&data).expect("data dir");
    let started = tmux.run(&["new-session", "-d", "-s", "term", "-x", "160", "-y", "48", "sh", "-c", &script]);
    assert!(started.status.success(), "tmux failed: {}", String::from_utf8_lossy(&started.stderr));
    wait_for(&tmux, "the game on the alternate screen", Duration::from_secs(30), |t| {
        t.pane("alternate_on") == "1" && t.capture().contains("pin-10")
    });
    let pid = std::fs::read_to_string(data.join("pid")).expect("play's pid").trim().to_string();
    let killed = Command::new("kill").arg(format!("-{signal}")).arg(&pid).status().expect("kill runs");
    assert!(killed.success(), "kill -{signal} {pid}");
    wait_for(&tmux, "play to exit and the shell to run stty", Duration::from_secs(10), |t| {
        t.capture().contains("exit=")
    });
    wait_for(&tmux, "stty -a", Duration::from_secs(5), |t| t.capture().contains("icanon"));
    let screen = tmux.capture();
    assert!(screen.contains(&format!("exit={}", 128 + number)), "exit status 128+{number}:\n{screen}");
    let words: Vec<&str> = screen.split_whitespace().collect();
    assert!(words.contains(&"echo"), "echo is back on (not -echo):\n{screen}");
    assert!(words.contains(&"icanon"), "canonical mode is back on (not -icanon):\n{screen}");
    assert_eq!(tmux.pane("alternate_on"), "0", "the alternate screen is left:\n{screen}");
    assert_eq!(tmux.pane("cursor_flag"), "1", "the cursor is shown:\n{screen}");
    let _ = std::fs::remove_dir_all(&data);
}

#[test]
fn sigterm_restores_the_terminal() {
    if !tmux_missing() {
        signal_restores_the_terminal("TERM", 15);
    }
}

#[test]
fn sighup_restores_the_terminal() {
    if !tmux_missing() {
        signal_restores_the_terminal("HUP", 1);
    }
}

#[test]
fn sigint_restores_the_terminal() {
    if !tmux_missing() {
        signal_restores_the_terminal("INT", 2);
    }
}

#[test]
fn an_unusable_data_directory_still_plays_and_says_why() {
    if tmux_missing() {
        return;
    }
    let tmux = Tmux { socket: format!("pinsetter-term-datadir-{}", std::process::id()) };
    let scratch = std::env::temp_dir().join(format!("pinsetter-play-terminal-datadir-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).expect("scratch dir");
    // A data directory under a regular file can't be created, by root or anyone.
    let blocker = scratch.join("not-a-dir");
    std::fs::write(&blocker, b"").expect("file");
    let data = blocker.join("pinsetter");
    let bin = env!("CARGO_BIN_EXE_pinsetter");
    let script = format!("PINSETTER_DATA_DIR='{}' '{bin}' play; echo \"exit=$?\"; sleep 60", data.display());
    let started = tmux.run(&["new-session", "-d", "-s", "term", "-x", "200", "-y", "48", "sh", "-c", &script]);
    assert!(started.status.success(), "tmux failed: {}", String::from_utf8_lossy(&started.stderr));
    wait_for(&tmux, "the game, saying there is no log file", Duration::from_secs(30), |t| {
        let screen = t.capture();
        assert!(!screen.contains("exit="), "play exited:\n{screen}");
        screen.contains("pin-10") && screen.contains("no log file")
    });
    tmux.run(&["send-keys", "-t", "term", "q"]);
    wait_for(&tmux, "q to quit cleanly", Duration::from_secs(10), |t| t.capture().contains("exit=0"));
    let _ = std::fs::remove_dir_all(&scratch);
}

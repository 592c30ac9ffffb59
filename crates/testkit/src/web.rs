//! The web side of tests: plain HTTP GETs on loopback, and headless Chromium (Debian's
//! `chromium`, installed by `scripts/install-browser.sh`) rendering a page with its scripts run.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

/// `GET path` from 127.0.0.1:`port`: (status, body).
pub fn http_get(port: u16, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port))
        .unwrap_or_else(|err| panic!("connecting to 127.0.0.1:{port}: {err}"));
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, body.to_owned())
}

fn chromium() -> &'static Path {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| crate::python::installed("BIDLAKE_CHROMIUM", "scripts/install-browser.sh"))
}

/// Headless Chromium as the probe of this machine runs it: no sandbox (root), no GPU, and no
/// background connections (nothing may leave loopback), with a fresh profile.
fn browser(profile: &Path) -> Command {
    let mut command = Command::new(chromium());
    command
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .stdin(Stdio::null());
    command
}

/// The page's DOM after its scripts ran for `run_for` (of the page's own time).
pub fn render_dom(url: &str, run_for: Duration) -> String {
    let out = run_browser(|command| {
        command
            .arg(format!("--virtual-time-budget={}", run_for.as_millis()))
            .arg("--dump-dom")
            .arg(url);
    });
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A PNG screenshot of the page after its scripts ran for `run_for`.
pub fn screenshot(url: &str, run_for: Duration, png: &Path) {
    run_browser(|command| {
        command
            .arg("--window-size=1280,1000")
            .arg(format!("--virtual-time-budget={}", run_for.as_millis()))
            .arg(format!("--screenshot={}", png.display()))
            .arg(url);
    });
}

/// Runs headless chromium with the arguments `args` adds, in a fresh profile. Headless
/// chromium now and then exits with a failure and nothing but its usual warnings on a loaded
/// machine (seen once in CI, 2026-12-03, beside passes before and after): that is the
/// browser's, not the page's, so it gets one more try; a second failure fails the test.
fn run_browser(args: impl Fn(&mut Command)) -> std::process::Output {
    let attempt = || {
        let profile = tempfile::tempdir().unwrap();
        let mut command = browser(profile.path());
        args(&mut command);
        command.output().expect("running chromium")
    };
    let out = attempt();
    if out.status.success() {
        return out;
    }
    eprintln!(
        "chromium failed ({}), trying once more: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let out = attempt();
    assert!(
        out.status.success(),
        "chromium failed twice ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

//! The embedded broker: tansu, a Kafka-protocol broker, run as a child process with SQLite
//! storage in a directory of ours, listening on 127.0.0.1 only.
//!
//! The broker runs in a process group of its own: Ctrl-C in a terminal signals the whole
//! foreground group, and the broker must outlive the clients that still have to commit and leave.
//! Its pid is kept in `tansu.pid` beside its storage, so a broker left behind by a `bidlake up`
//! that was killed (kill -9, a closed terminal) is found and stopped by the next start.

use std::fs::OpenOptions;
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::{Error, Result};

/// The tansu version the project installs (scripts/install-tansu.sh).
pub const TANSU_VERSION: &str = "0.6.0";

/// The file beside the broker's storage that holds the running broker's pid.
const PID_FILE: &str = "tansu.pid";

/// The brokers this process runs: its own process group keeps a broker alive when this process
/// exits without stopping it, so an exit in a hurry (a second Ctrl-C) kills them first.
static RUNNING: std::sync::Mutex<Vec<u32>> = std::sync::Mutex::new(Vec::new());

/// Kills (SIGKILL) every broker this process started and has not stopped: for an exit that
/// cannot wait for a clean stop. Their storage is SQLite and survives a kill.
pub fn kill_running() {
    let pids = std::mem::take(&mut *RUNNING.lock().unwrap_or_else(|e| e.into_inner()));
    for pid in pids {
        let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).status();
    }
}

/// The tansu binary: `$TANSU_BIN`, else where `scripts/install-tansu.sh` installs it
/// (`$BIDLAKE_CACHE` or `~/.cache/bidlake`).
pub fn tansu_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("TANSU_BIN") {
        return PathBuf::from(path);
    }
    let cache = std::env::var_os("BIDLAKE_CACHE").map(PathBuf::from).unwrap_or_else(|| {
        std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache")
            })
            .join("bidlake")
    });
    cache.join(format!("tansu-{TANSU_VERSION}/bin/tansu"))
}

/// How often tansu removes the records of topics with `cleanup.policy=delete` that are older
/// than their `retention.ms` (tansu 0.6's own default; the freed SQLite pages are reused, so the
/// file stops growing once records leave as fast as they come).
pub const CLEANUP_EVERY: Duration = Duration::from_secs(600);

/// A running tansu broker. Dropping it kills the process; [`EmbeddedBroker::stop`] ends it
/// gracefully first.
#[derive(Debug)]
pub struct EmbeddedBroker {
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
}

impl EmbeddedBroker {
    /// Starts tansu on 127.0.0.1:`port` with its storage and log in `dir`, and waits until it
    /// accepts connections.
    pub fn start(dir: &Path, port: u16) -> Result<Self> {
        Self::start_with(dir, port, CLEANUP_EVERY)
    }

    /// [`EmbeddedBroker::start`], with tansu's storage maintenance (removing records past their
    /// topic's `retention.ms`) every `cleanup_every`.
    pub fn start_with(dir: &Path, port: u16, cleanup_every: Duration) -> Result<Self> {
        let binary = tansu_binary();
        if !binary.exists() {
            return Err(Error::Embedded(format!(
                "the tansu broker is not installed at {}; run scripts/install-tansu.sh \
                 (or set TANSU_BIN, or KAFKA_BOOTSTRAP_SERVERS to use a running broker)",
                binary.display()
            )));
        }
        stop_leftover(dir);
        if TcpListener::bind(("127.0.0.1", port)).is_err() {
            return Err(Error::Embedded(format!(
                "port {port} on 127.0.0.1 is in use; pass --kafka-port to use another, \
                 or set KAFKA_BOOTSTRAP_SERVERS to use the broker already there"
            )));
        }
        std::fs::create_dir_all(dir).map_err(|err| {
            Error::Embedded(format!("creating the broker directory {}: {err}", dir.display()))
        })?;
        let log_path = dir.join("tansu.log");
        let log = OpenOptions::new().create(true).append(true).open(&log_path).map_err(|err| {
            Error::Embedded(format!("opening the broker log {}: {err}", log_path.display()))
        })?;
        let log_err = log.try_clone().map_err(|err| {
            Error::Embedded(format!("opening the broker log {}: {err}", log_path.display()))
        })?;
        let url = format!("tcp://127.0.0.1:{port}");
        let child = Command::new(&binary)
            .arg("broker")
            .args(["--listener-url", &url, "--advertised-listener-url", &url])
            // tansu resolves the SQLite path against its working directory.
            .arg("--storage-engine")
            .arg(format!(
                "sqlite://tansu.db?maintenance_interval={}",
                humantime::format_duration(cleanup_every)
            ))
            .current_dir(dir)
            .env_remove("LISTENER_URL")
            .env_remove("ADVERTISED_LISTENER_URL")
            .env_remove("STORAGE_ENGINE")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            // Not in the terminal's foreground group: Ctrl-C reaches `up`, which stops it last.
            .process_group(0)
            .spawn()
            .map_err(|err| Error::Embedded(format!("starting {}: {err}", binary.display())))?;
        RUNNING.lock().unwrap_or_else(|e| e.into_inner()).push(child.id());
        let pid_path = dir.join(PID_FILE);
        std::fs::write(&pid_path, child.id().to_string()).map_err(|err| {
            Error::Embedded(format!("writing the broker's pid file {}: {err}", pid_path.display()))
        })?;
        let mut broker = Self { child: Some(child), port, dir: dir.to_owned() };

        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Some(status) = broker.exited() {
                return Err(Error::Embedded(format!(
                    "the broker exited with {status} before listening; its log:\n{}",
                    broker.log_tail(20)
                )));
            }
            if Instant::now() > deadline {
                return Err(Error::Embedded(format!(
                    "the broker did not listen on {url} within 20 s; its log:\n{}",
                    broker.log_tail(20)
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(broker)
    }

    /// `host:port` for Kafka clients.
    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The directory holding the broker's storage and log.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The exit status, if the broker has exited.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.as_mut().and_then(|child| child.try_wait().ok().flatten())
    }

    /// The last `lines` lines of the broker's log.
    pub fn log_tail(&self, lines: usize) -> String {
        let log = std::fs::read_to_string(self.dir.join("tansu.log")).unwrap_or_default();
        let all: Vec<&str> = log.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// The broker's process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Asks the broker to stop (SIGTERM), and kills it if it has not within `grace`.
    pub fn stop(&mut self, grace: Duration) {
        let Some(child) = self.child.as_mut() else { return };
        let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                let pid = child.id();
                self.child = None;
                self.forget_pid(pid);
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.kill();
    }

    /// Kills the broker at once (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
            self.forget_pid(child.id());
        }
    }

    fn forget_pid(&self, pid: u32) {
        RUNNING.lock().unwrap_or_else(|e| e.into_inner()).retain(|p| *p != pid);
        let _ = std::fs::remove_file(self.dir.join(PID_FILE));
    }
}

/// Stops a broker that an earlier start left running on `dir` (its parent was killed before it
/// could stop it). Only a process that is tansu and works in `dir` is touched: a pid file can
/// outlive its process, and the pid be reused by something else.
fn stop_leftover(dir: &Path) {
    let Ok(text) = std::fs::read_to_string(dir.join(PID_FILE)) else { return };
    let Ok(pid) = text.trim().parse::<u32>() else { return };
    let proc = PathBuf::from(format!("/proc/{pid}"));
    let is_tansu = std::fs::read(proc.join("cmdline")).is_ok_and(|cmdline| {
        cmdline.split(|b| *b == 0).next().is_some_and(|exe| exe.ends_with(b"tansu"))
    });
    let works_here = match (std::fs::read_link(proc.join("cwd")), dir.canonicalize()) {
        (Ok(cwd), Ok(dir)) => cwd == dir,
        _ => false,
    };
    if !(is_tansu && works_here) {
        return;
    }
    tracing::warn!(pid, dir = %dir.display(), "stopping the embedded broker an earlier run left behind (it was not stopped cleanly)");
    for signal in ["-TERM", "-KILL"] {
        let _ = Command::new("kill").args([signal, &pid.to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            // Gone, or a zombie nobody reaps yet (its port and storage are free either way).
            let gone = std::fs::read_to_string(proc.join("stat")).map_or(true, |stat| {
                stat.rsplit(')').next().is_some_and(|s| s.trim_start().starts_with('Z'))
            });
            if gone {
                let _ = std::fs::remove_file(dir.join(PID_FILE));
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for EmbeddedBroker {
    fn drop(&mut self) {
        self.kill();
    }
}

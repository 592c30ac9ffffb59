//! The embedded broker: tansu, a Kafka-protocol broker, run as a child process with SQLite
//! storage in a directory of ours, listening on 127.0.0.1 only.

use std::fs::OpenOptions;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::{Error, Result};

/// The tansu version the project installs (scripts/install-tansu.sh).
pub const TANSU_VERSION: &str = "0.6.0";

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
        let binary = tansu_binary();
        if !binary.exists() {
            return Err(Error::Embedded(format!(
                "the tansu broker is not installed at {}; run scripts/install-tansu.sh \
                 (or set TANSU_BIN, or KAFKA_BOOTSTRAP_SERVERS to use a running broker)",
                binary.display()
            )));
        }
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
            .args(["--storage-engine", "sqlite://tansu.db"])
            .current_dir(dir)
            .env_remove("LISTENER_URL")
            .env_remove("ADVERTISED_LISTENER_URL")
            .env_remove("STORAGE_ENGINE")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .spawn()
            .map_err(|err| Error::Embedded(format!("starting {}: {err}", binary.display())))?;
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

    /// Asks the broker to stop (SIGTERM), and kills it if it has not within `grace`.
    pub fn stop(&mut self, grace: Duration) {
        let Some(child) = self.child.as_mut() else { return };
        let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                self.child = None;
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
        }
    }
}

impl Drop for EmbeddedBroker {
    fn drop(&mut self) {
        self.kill();
    }
}

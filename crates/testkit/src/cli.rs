//! Running the `bidlake` binary from tests.

use std::path::Path;
use std::process::{Child, Command, ExitStatus, Output};

use crate::Broker;

/// The `bidlake` binary at `exe` (a test's `env!("CARGO_BIN_EXE_bidlake")`) against `broker` and
/// the embedded lake under `data_dir`, without the caller's environment steering it elsewhere.
pub fn bidlake_command(exe: &str, broker: &Broker, data_dir: &Path) -> Command {
    let mut command = bidlake_lake_command(exe, data_dir);
    command.env("KAFKA_BOOTSTRAP_SERVERS", broker.bootstrap());
    command
}

/// The `bidlake` binary at `exe` on the embedded lake under `data_dir`, for commands that need no
/// broker (`query`, `catalog serve`, `setup --skip-topics`).
pub fn bidlake_lake_command(exe: &str, data_dir: &Path) -> Command {
    let mut command = Command::new(exe);
    for var in [
        "CATALOG_URI",
        "WAREHOUSE",
        "S3_ENDPOINT",
        "EVENTS_PER_SECOND",
        "GEN_COUNT",
        "GEN_SEED",
        "GEN_DURATION",
        "COMMIT_INTERVAL",
        "CATALOG_TOKEN",
        "CATALOG_CREDENTIAL",
        "CATALOG_PORT",
    ] {
        command.env_remove(var);
    }
    command.env("BIDLAKE_DATA_DIR", data_dir);
    command
}

/// Runs the command and returns its output; fails the test, with both streams, if it failed.
pub fn run_ok(command: &mut Command) -> Output {
    let out = command.output().expect("running bidlake");
    assert!(
        out.status.success(),
        "bidlake failed:\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A process a test started: sent the signal `on_drop` and waited for if the test ends while it
/// runs, a failed assertion included, so that no ingest, aggregator or `up` outlives its test.
#[derive(Debug)]
pub struct Running {
    child: Option<Child>,
    on_drop: &'static str,
}

impl Running {
    /// `child`, to be sent `on_drop` (`KILL`, `TERM`, `INT`) if the test does not stop it.
    pub fn new(child: Child, on_drop: &'static str) -> Self {
        Self { child: Some(child), on_drop }
    }

    /// The process id.
    pub fn id(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// How the process exited, if it has.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.as_mut().and_then(|c| c.try_wait().ok().flatten())
    }

    /// Sends `signal` and waits for the process to exit.
    pub fn stop(mut self, signal: &str) -> ExitStatus {
        let mut child = self.child.take().expect("the process is running");
        signal_process(&child, signal);
        child.wait().expect("waiting for the process")
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            signal_process(&child, self.on_drop);
            let _ = child.wait();
        }
    }
}

fn signal_process(child: &Child, signal: &str) {
    let _ = Command::new("kill").arg(format!("-{signal}")).arg(child.id().to_string()).status();
}

//! Running the `bidlake` binary from tests.

use std::path::Path;
use std::process::{Command, Output};

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

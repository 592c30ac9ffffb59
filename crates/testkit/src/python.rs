//! The Python side of the test suite (DESIGN §4): `moto_server` as the S3 endpoint, and PyIceberg
//! and DuckDB as independent readers of our tables. They live in the venv that
//! `scripts/install-python.sh` builds outside the clone; the first test that needs it installs it.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::free_port;

/// The clone's root. The test's crate directory comes from cargo at run time first: a test binary
/// that cargo still considers fresh after the clone moved must not look in the old place.
pub fn repo_root() -> PathBuf {
    let crate_dir = std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from);
    crate_dir.join("../..")
}

/// `$var` if set (scripts/test.sh sets it), else what the project's install `script` prints
/// (it installs once, into ~/.cache/bidlake).
pub(crate) fn installed(var: &str, script: &str) -> PathBuf {
    if let Some(path) = std::env::var_os(var) {
        return PathBuf::from(path);
    }
    let script = repo_root().join(script);
    let out = Command::new(&script)
        .stderr(Stdio::inherit())
        .output()
        .unwrap_or_else(|err| panic!("running {}: {err}", script.display()));
    assert!(out.status.success(), "{} failed", script.display());
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
}

/// The venv's directory: `$BIDLAKE_PYTHON_VENV`, else installed (once) by the project's script.
pub fn python_venv() -> &'static Path {
    static VENV: OnceLock<PathBuf> = OnceLock::new();
    VENV.get_or_init(|| installed("BIDLAKE_PYTHON_VENV", "scripts/install-python.sh"))
}

/// A `moto_server` (a real S3 HTTP endpoint, in memory) on 127.0.0.1 and a free port, killed
/// when dropped.
#[derive(Debug)]
pub struct S3Server {
    child: Child,
    port: u16,
}

/// Credentials the tests sign with; moto accepts any.
pub const S3_ACCESS_KEY: &str = "bidlake-test";
pub const S3_SECRET_KEY: &str = "bidlake-test-secret";

impl S3Server {
    pub fn start() -> Self {
        let port = free_port();
        let child = Command::new(python_venv().join("bin/moto_server"))
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting moto_server");
        let mut server = Self { child, port };
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!("moto_server exited at start with {status}");
            }
            assert!(Instant::now() < deadline, "moto_server did not listen on {port} within 30 s");
            std::thread::sleep(Duration::from_millis(100));
        }
        server
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The server's process id (to stop it with SIGSTOP, as an S3 that hangs).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The environment bidlake needs to put its warehouse at `s3://bucket/prefix` here.
    pub fn lake_env(&self, warehouse: &str) -> Vec<(&'static str, String)> {
        vec![
            ("WAREHOUSE", warehouse.to_owned()),
            ("S3_ENDPOINT", self.endpoint()),
            ("S3_PATH_STYLE_ACCESS", "true".to_owned()),
            ("AWS_REGION", "us-east-1".to_owned()),
            ("AWS_ACCESS_KEY_ID", S3_ACCESS_KEY.to_owned()),
            ("AWS_SECRET_ACCESS_KEY", S3_SECRET_KEY.to_owned()),
        ]
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `crates/testkit/python/<script>` with the venv's Python and returns the JSON it prints.
pub fn run_python(script: &str, args: &[&str], env: &[(&str, &str)]) -> Value {
    let path = repo_root().join("crates/testkit/python").join(script);
    let out = Command::new(python_venv().join("bin/python"))
        .arg(&path)
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap_or_else(|err| panic!("running {script}: {err}"));
    assert!(out.status.success(), "{script} failed:\n{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|err| {
        panic!("{script} printed no JSON ({err}): {}", String::from_utf8_lossy(&out.stdout))
    })
}

/// What one reader saw of a table.
#[derive(Debug, Clone, PartialEq)]
pub struct Seen {
    pub count: u64,
    pub sums: Vec<(String, f64)>,
}

/// Reads `namespace.table` of a SQL catalog with PyIceberg and with DuckDB (iceberg_scan of
/// the current metadata) and returns what each saw: `[("pyiceberg", ..), ("duckdb", ..)]`.
pub fn read_with_python(
    catalog_db: &Path,
    warehouse: &str,
    table: &str,
    sums: &[&str],
    s3: Option<&S3Server>,
) -> Vec<(String, Seen)> {
    let script = repo_root().join("crates/testkit/python/read_table.py");
    let mut command = Command::new(python_venv().join("bin/python"));
    command
        .arg(&script)
        .args(["--catalog-uri", &format!("sqlite:///{}", catalog_db.display())])
        .args(["--warehouse", warehouse, "--table", table]);
    for column in sums {
        command.args(["--sum", column]);
    }
    if let Some(s3) = s3 {
        command
            .args(["--s3-endpoint", &s3.endpoint()])
            .env("AWS_ACCESS_KEY_ID", S3_ACCESS_KEY)
            .env("AWS_SECRET_ACCESS_KEY", S3_SECRET_KEY)
            .env("AWS_REGION", "us-east-1");
    }
    let out = command.output().expect("running read_table.py");
    assert!(
        out.status.success(),
        "read_table.py failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    ["pyiceberg", "duckdb"]
        .into_iter()
        .map(|reader| {
            let seen = &json[reader];
            let sums = sums
                .iter()
                .map(|c| ((*c).to_owned(), seen["sums"][c].as_f64().unwrap_or(f64::NAN)))
                .collect();
            (reader.to_owned(), Seen { count: seen["count"].as_u64().unwrap(), sums })
        })
        .collect()
}

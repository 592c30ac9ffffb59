//! The docs test: the README's `bash` blocks, run in order as a user would, so the README cannot
//! rot. The journey runs against `scripts/up.sh` in a fresh directory (the script runs the
//! binary under test, `BIDLAKE_BIN`, instead of building it again); "Local development" and the
//! reference sections after it run against a broker of their own and a second data directory. Ports are free ones instead of the defaults: the
//! test sets the environment variables for them and rewrites `localhost:8081`/`:8181` in URLs.
//! `sh` blocks are not run: the two commands at the top (one is the command running this test,
//! the other is the journey's first step) and examples that need S3 or a catalog of their own,
//! covered by tests of their own.

#![allow(clippy::unwrap_used)] // a test file: a failed unwrap is a failed test

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use bidlake_testkit::{Broker, free_port, http_get, python_venv, repo_root};

/// A `bash` block and the heading it is under.
#[derive(Debug)]
struct Block {
    section: String,
    code: String,
}

fn bash_blocks(readme: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut section = String::new();
    let mut lines = readme.lines();
    while let Some(line) = lines.next() {
        if line.starts_with('#') && !line.starts_with("#!") {
            section = line.trim_start_matches('#').trim().to_owned();
        } else if line.trim_end() == "```bash" {
            let code: Vec<&str> = lines.by_ref().take_while(|l| !l.starts_with("```")).collect();
            blocks.push(Block { section: section.clone(), code: code.join("\n") });
        }
    }
    blocks
}

/// Commands that run until Ctrl-C.
fn runs_until_stopped(line: &str) -> bool {
    let command = line.split('#').next().unwrap().trim();
    ["bidlake gen", "bidlake ingest", "bidlake catalog serve"].contains(&command)
}

struct Env {
    dir: PathBuf,
    vars: Vec<(String, String)>,
    ports: (u16, u16, u16),
}

impl Env {
    fn command(&self, program: &str) -> Command {
        let mut command = Command::new(program);
        command.current_dir(&self.dir);
        for var in [
            "BIDLAKE_DATA_DIR",
            "CATALOG_URI",
            "WAREHOUSE",
            "S3_ENDPOINT",
            "EVENTS_PER_SECOND",
            "COMMIT_INTERVAL",
            "CATALOG_TOKEN",
            "CATALOG_CREDENTIAL",
        ] {
            command.env_remove(var);
        }
        let bin = Path::new(env!("CARGO_BIN_EXE_bidlake")).parent().unwrap().to_owned();
        let path = std::env::join_paths(
            [bin, python_venv().join("bin")]
                .into_iter()
                .chain(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())),
        )
        .unwrap();
        command.env("PATH", path).envs(self.vars.iter().map(|(k, v)| (k, v)));
        command
    }

    /// The README's text with the default ports replaced by this run's.
    fn localize(&self, code: &str) -> String {
        let (_, catalog, dashboard) = self.ports;
        code.replace("localhost:8081", &format!("127.0.0.1:{dashboard}"))
            .replace("localhost:8181", &format!("127.0.0.1:{catalog}"))
    }

    fn set(&mut self, key: &str, value: String) {
        self.vars.retain(|(k, _)| k != key);
        self.vars.push((key.to_owned(), value));
    }

    /// Runs `code` with bash (-e, pipefail); returns its standard output.
    fn run(&self, code: &str) -> String {
        let started = Instant::now();
        let out = self
            .command("bash")
            .args(["-euo", "pipefail", "-c", &self.localize(code)])
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        eprintln!(
            "{:6.1}s  {}",
            started.elapsed().as_secs_f64(),
            code.lines().next().unwrap_or("")
        );
        assert!(
            out.status.success(),
            "README command failed:\n{code}\nstdout: {stdout}\nstderr: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    }

    /// Starts `line`, checks it still runs after a few seconds, stops it like Ctrl-C does.
    fn run_until_stopped(&self, line: &str) {
        let mut child = self
            .command("bash")
            .args(["-c", &format!("exec {}", self.localize(line))])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_secs(4));
        assert!(child.try_wait().unwrap().is_none(), "`{line}` stopped by itself");
        interrupt(child, line);
    }
}

fn interrupt(child: Child, what: &str) {
    let status = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "`{what}` did not stop cleanly on Ctrl-C ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Starts the journey's first command and returns once it printed its banner and committed.
fn start_platform(env: &Env, line: &str) -> Child {
    let repo = repo_root();
    let script = repo.join(line.split_whitespace().next().unwrap());
    // `up` with KAFKA_BOOTSTRAP_SERVERS set would use that broker instead of starting its own.
    // The script runs the binary under test instead of building it again: the build is what
    // the test command did just before (scripts/build.sh).
    let mut child = env
        .command(script.to_str().unwrap())
        .env_remove("KAFKA_BOOTSTRAP_SERVERS")
        .env("BIDLAKE_BIN", env!("CARGO_BIN_EXE_bidlake"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.contains("bidlake is up") {
                let _ = tx.send(());
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(120)).expect("scripts/up.sh prints the banner");
    // The README's later steps (files, queries) expect the first commit (within 10 s).
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, body) = http_get(env.ports.2, "/api/status");
        let status: serde_json::Value = serde_json::from_str(&body).unwrap();
        let rows: u64 =
            status["tables"].as_array().unwrap().iter().map(|t| t["rows"].as_u64().unwrap()).sum();
        if rows > 0 {
            break;
        }
        assert!(Instant::now() < deadline, "no commit within a minute of up");
        std::thread::sleep(Duration::from_millis(500));
    }
    child
}

/// What a step must show, beyond exiting 0.
fn check(code: &str, out: &str) {
    if code.starts_with("bidlake setup --check") {
        assert!(out.contains("db.bid_requests"), "{out}");
    } else if code.starts_with("bidlake consume bid-requests --count 3") {
        assert!(out.lines().filter(|l| l.contains("\"imp\"")).count() >= 3, "{out}");
    } else if code.starts_with("bidlake status ") {
        assert!(
            out.contains("bidlake up, running for") && out.contains("db.bid_requests"),
            "{out}"
        );
    } else if code.starts_with("find bidlake-data") {
        assert!(out.lines().any(|l| l.ends_with(".parquet")), "no Parquet files: {out}");
    } else if code.starts_with("bidlake query \"SELECT * FROM db.bid_requests LIMIT 10\"") {
        // The preview's header and ten rows, the count, then one row per country.
        assert!(out.contains("request_id") && out.contains("device_geo_country"), "{out}");
        let table_rows = out.lines().filter(|l| l.starts_with("| ")).count();
        assert!(table_rows >= 1 + 10 + 2 + 2, "{out}");
    } else if code.starts_with("python3 -c") {
        assert!(out.contains("bid requests") && out.contains("from the USA"), "{out}");
        assert!(out.contains("device_geo_country"), "DuckDB's GROUP BY: {out}");
        let first: u64 = out.split_whitespace().next().unwrap().parse().unwrap();
        assert!(first > 0, "{out}");
    } else if code.starts_with("bidlake query --example fill-rate-by-country") {
        // The funnel example, an aggregate table (filled or not yet) and the enrichment columns.
        for column in ["fill_rate", "publisher_id", "device_category", "floor_usd"] {
            assert!(out.contains(column), "no {column}: {out}");
        }
        assert!(out.contains("Desktop") || out.contains("Mobile"), "{out}");
    } else if code.starts_with("curl -s -X POST") {
        assert!(out.contains("\"columns\"") && out.contains("\"requests\""), "{out}");
    } else if code.starts_with("bidlake aggregate --once") {
        assert!(out.contains("bidder_id") && out.contains("dsp-"), "{out}");
    } else if code == "bidlake status" {
        assert!(out.contains("no bidlake up answers") && out.contains("db.bid_requests"), "{out}");
    } else if code.starts_with("bidlake setup ") {
        // Local development: 1,000 generated, 1,000 in the table.
        assert!(out.contains("requests") && out.contains("1000"), "{out}");
    }
}

#[test]
fn the_readme_journey_works_as_written() {
    let readme = std::fs::read_to_string(repo_root().join("README.md")).unwrap();
    let blocks = bash_blocks(&readme);
    assert!(blocks.len() >= 8, "the README's bash blocks were not found");

    let dir = tempfile::tempdir().unwrap();
    let (kafka, catalog, dashboard) = (free_port(), free_port(), free_port());
    let mut env = Env {
        dir: dir.path().to_owned(),
        vars: vec![
            ("BIDLAKE_KAFKA_PORT".into(), kafka.to_string()),
            ("CATALOG_PORT".into(), catalog.to_string()),
            ("BIDLAKE_DASHBOARD_PORT".into(), dashboard.to_string()),
            ("BIDLAKE_DASHBOARD_URL".into(), format!("http://127.0.0.1:{dashboard}")),
            ("KAFKA_BOOTSTRAP_SERVERS".into(), format!("127.0.0.1:{kafka}")),
        ],
        ports: (kafka, catalog, dashboard),
    };
    let mut platform: Option<Child> = None;
    let mut local_broker: Option<Broker> = None;
    let mut ran = Vec::new();

    for block in &blocks {
        if block.section.starts_with("8. Stop")
            && let Some(up) = platform.take()
        {
            interrupt(up, "scripts/up.sh");
        }
        if block.section == "Local development" && local_broker.is_none() {
            let broker = Broker::start();
            env.set("KAFKA_BOOTSTRAP_SERVERS", broker.bootstrap());
            env.set("BIDLAKE_DATA_DIR", dir.path().join("local-dev").display().to_string());
            local_broker = Some(broker);
        }
        let special =
            block.code.lines().any(|l| l.starts_with("scripts/up.sh") || runs_until_stopped(l));
        if !special {
            let out = env.run(&block.code);
            check(block.code.trim_start(), &out);
            ran.push(block.section.clone());
            continue;
        }
        // Blocks with long-running commands go line by line (they hold one command a line).
        let mut batch = String::new();
        for line in block.code.lines().filter(|l| !l.trim().is_empty()) {
            if line.starts_with("scripts/up.sh") {
                platform = Some(start_platform(&env, line));
            } else if runs_until_stopped(line) {
                if !batch.is_empty() {
                    let out = env.run(&batch);
                    check(batch.trim_start(), &out);
                    batch.clear();
                }
                env.run_until_stopped(line);
            } else {
                batch.push_str(line);
                batch.push('\n');
            }
        }
        if !batch.is_empty() {
            let out = env.run(&batch);
            check(batch.trim_start(), &out);
        }
        ran.push(block.section.clone());
    }
    assert!(platform.is_none(), "the journey ends with a stop");
    for step in [
        "1. Start",
        "3. Verify the topics",
        "4. Verify the job",
        "6. Query",
        "7. The funnel",
        "8. Stop",
        "Aggregate",
        "Local development",
    ] {
        assert!(ran.iter().any(|s| s.starts_with(step)), "README step {step:?} has no bash block");
    }
}

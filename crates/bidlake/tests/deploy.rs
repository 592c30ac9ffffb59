//! The Docker deployment, checked without a Docker engine: docker-compose.yml against the compose
//! specification's JSON schema (deploy/compose-spec.json, validated by Python `jsonschema`), and
//! what a schema cannot see: every setting a bidlake service sets is one the binary reads, with a
//! value it accepts; its command is a real subcommand; the ports are the original platform's; the
//! services it names exist; and the Dockerfile builds with the test suite's own build script on a
//! base that has every library the binary links.

#![allow(clippy::unwrap_used)] // a test file: a failed unwrap is a failed test

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bidlake_testkit::repo_root;
use serde_json::Value;

const BIDLAKE: &str = env!("CARGO_BIN_EXE_bidlake");

fn read(relative: &str) -> String {
    let path = repo_root().join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("reading {}: {err}", path.display()))
}

/// Validates `compose` against the vendored compose specification schema: Ok(the file as JSON),
/// or Err(the validator's messages).
fn validate(compose: &Path) -> Result<Value, String> {
    let out = Command::new(bidlake_testkit::python_venv().join("bin/python"))
        .arg(repo_root().join("crates/testkit/python/check_compose.py"))
        .arg("--schema")
        .arg(repo_root().join("deploy/compose-spec.json"))
        .arg(compose)
        .output()
        .expect("running check_compose.py");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    match out.status.code() {
        Some(0) => Ok(serde_json::from_slice(&out.stdout).unwrap()),
        Some(1) => Err(stderr),
        other => panic!("check_compose.py failed to run ({other:?}):\n{stderr}"),
    }
}

fn compose() -> Value {
    validate(&repo_root().join("docker-compose.yml"))
        .unwrap_or_else(|errors| panic!("docker-compose.yml breaks the compose schema:\n{errors}"))
}

fn services(compose: &Value) -> &serde_json::Map<String, Value> {
    compose["services"].as_object().expect("services")
}

/// The services that run bidlake's own image, with their command (the subcommand first).
fn bidlake_services(compose: &Value) -> Vec<(&str, &Value, Vec<String>)> {
    let found: Vec<_> = services(compose)
        .iter()
        .filter(|(_, s)| s.get("build").is_some())
        .map(|(name, s)| {
            let command = s["command"]
                .as_array()
                .unwrap_or_else(|| panic!("{name}: command must be a list"))
                .iter()
                .map(|a| a.as_str().unwrap().to_owned())
                .collect();
            (name.as_str(), s, command)
        })
        .collect();
    let names: BTreeSet<&str> = found.iter().map(|(name, ..)| *name).collect();
    assert_eq!(names, BTreeSet::from(["gen", "ingest", "setup"]), "bidlake's services");
    found
}

/// A service's environment as NAME -> value, with `${NAME:-default}` taken at its default (what
/// compose does when the variable is not set).
fn environment(name: &str, service: &Value) -> BTreeMap<String, String> {
    let env = service["environment"]
        .as_object()
        .unwrap_or_else(|| panic!("{name}: environment must be a mapping"));
    env.iter()
        .map(|(key, value)| {
            let text = match value {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                other => panic!("{name}: {key} = {other}"),
            };
            (key.clone(), interpolate_defaults(&text))
        })
        .collect()
}

fn interpolate_defaults(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find('}').expect("unclosed ${") + start;
        let inner = &rest[start + 2..end];
        let (_, default) = inner.split_once(":-").unwrap_or_else(|| {
            panic!("${{{inner}}} has no default: the file must work with nothing set")
        });
        out.push_str(default);
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

/// The environment variables `bidlake <subcommand>` reads, from its own --help.
fn env_vars_of(subcommand: &str) -> BTreeSet<String> {
    let out = Command::new(BIDLAKE)
        .args([subcommand, "--help"])
        .env_clear()
        .output()
        .expect("running bidlake --help");
    assert!(out.status.success(), "`bidlake {subcommand}` is not a subcommand of bidlake");
    let help = String::from_utf8(out.stdout).unwrap();
    let vars: BTreeSet<String> = help
        .split("[env: ")
        .skip(1)
        .map(|rest| rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect())
        .collect();
    assert!(vars.contains("KAFKA_BOOTSTRAP_SERVERS"), "no [env: ...] in `{subcommand} --help`");
    vars
}

/// Settings read from the environment only (secrets, logging), so --help does not list them;
/// each is checked against the source that reads it.
const ENV_ONLY: &[(&str, &str)] = &[
    ("AWS_ACCESS_KEY_ID", "crates/lake/src/settings.rs"),
    ("AWS_SECRET_ACCESS_KEY", "crates/lake/src/settings.rs"),
    ("CATALOG_TOKEN", "crates/lake/src/settings.rs"),
    ("CATALOG_CREDENTIAL", "crates/lake/src/settings.rs"),
    ("BIDLAKE_LOG", "crates/bidlake/src/main.rs"),
];

#[test]
fn compose_file_follows_the_compose_specification() {
    let compose = compose();
    for (name, service) in services(&compose) {
        // The schema leaves these to compose's own loader: a service needs an image or a build.
        assert!(
            service.get("image").is_some() || service.get("build").is_some(),
            "{name}: neither image nor build"
        );
        // Every dependency exists, and one waited on for health has a health check.
        for (dependency, how) in service["depends_on"].as_object().into_iter().flatten() {
            let target = services(&compose)
                .get(dependency)
                .unwrap_or_else(|| panic!("{name} depends on a missing service {dependency}"));
            if how["condition"] == "service_healthy" {
                assert!(
                    target.get("healthcheck").is_some(),
                    "{name} waits for {dependency} to be healthy, which has no healthcheck"
                );
            }
        }
    }
}

#[test]
fn broken_compose_files_fail_the_schema() {
    let text = read("docker-compose.yml");
    let dir = tempfile::tempdir().unwrap();
    let broken = |what: &str, from: &str, to: &str, expect: &str| {
        assert!(text.contains(from), "{what}: {from:?} is not in docker-compose.yml");
        let path = dir.path().join("docker-compose.yml");
        std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
        let errors = validate(&path).map(|_| ()).expect_err(what);
        assert!(errors.contains(expect), "{what}: expected {expect:?} in:\n{errors}");
    };
    broken(
        "an unknown service key",
        "    stop_grace_period: 60s\n",
        "    stop_grace_period: 60s\n    restart_policy: always\n",
        "restart_policy",
    );
    broken("a misspelt top-level key", "\nservices:\n", "\nservice:\n", "service");
    broken(
        "an unknown depends_on condition",
        "condition: service_completed_successfully",
        "condition: service_done",
        "depends_on",
    );
    broken("ports as a mapping", "ports:\n      - \"8181:8181\"", "ports:\n      x: 8181", "ports");
}

#[test]
fn bidlake_services_run_real_subcommands_with_settings_bidlake_reads() {
    let compose = compose();
    for (var, source) in ENV_ONLY {
        assert!(read(source).contains(&format!("\"{var}\"")), "{source} no longer reads {var}");
    }
    let data_dir = tempfile::tempdir().unwrap();
    for (name, service, command) in bidlake_services(&compose) {
        let subcommand = &command[0];
        let known = env_vars_of(subcommand);
        let env = environment(name, service);
        for var in env.keys() {
            assert!(
                known.contains(var) || ENV_ONLY.iter().any(|(v, _)| v == var),
                "{name}: bidlake {subcommand} does not read {var} (it reads {known:?})"
            );
        }

        // Values: clap rejects a bad one at once with exit code 2 ("invalid value"). A command that
        // parsed goes on to wait for hosts that do not resolve here, and is stopped.
        let mut child = Command::new(BIDLAKE)
            .args(&command)
            .env_clear()
            .envs(&env)
            .env("BIDLAKE_DATA_DIR", data_dir.path())
            .env("KAFKA_CONNECT_TIMEOUT", "1s")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline && child.try_wait().unwrap().is_none() {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_ne!(out.status.code(), Some(2), "{name}: bidlake rejects its settings:\n{stderr}");
        assert!(!stderr.contains("invalid value"), "{name}:\n{stderr}");
    }
}

#[test]
fn bidlake_services_point_at_the_services_of_the_file() {
    let compose = compose();
    let all = services(&compose);
    let host_of = |url: &str| -> String {
        let rest = url.split_once("://").map_or(url, |(_, r)| r);
        rest.split(['/', ':']).next().unwrap().to_owned()
    };
    let kafka_env = environment("kafka", &all["kafka"]);
    let advertised = &kafka_env["KAFKA_ADVERTISED_LISTENERS"];
    let rest_env = environment("iceberg-rest", &all["iceberg-rest"]);
    let init = all["minio-init"]["command"].to_string();
    for (name, service, _) in bidlake_services(&compose) {
        let env = environment(name, service);
        let bootstrap = &env["KAFKA_BOOTSTRAP_SERVERS"];
        assert!(
            advertised.contains(&format!("://{bootstrap}")),
            "{name}: {bootstrap} is not a listener kafka advertises ({advertised})"
        );
        for var in ["KAFKA_BOOTSTRAP_SERVERS", "CATALOG_URI", "S3_ENDPOINT"] {
            if let Some(url) = env.get(var) {
                let host = host_of(url);
                assert!(all.contains_key(&host), "{name}: {var} names {host}, not a service");
            }
        }
        if let Some(warehouse) = env.get("WAREHOUSE") {
            let bucket = host_of(warehouse);
            assert!(warehouse.starts_with("s3://"), "{name}: WAREHOUSE {warehouse}");
            assert!(init.contains(&format!("local/{bucket}")), "minio-init does not make {bucket}");
            assert!(
                rest_env["CATALOG_WAREHOUSE"].starts_with(&format!("s3://{bucket}")),
                "the REST catalog's warehouse is not in bucket {bucket}"
            );
        }
    }
}

#[test]
fn ports_are_the_original_platforms() {
    // The seed's README: kafka 29092 (host; 9092 inside), minio 9000 and 9001, the REST catalog
    // 8181. (Its Flink UI on 8081 has no counterpart yet: ingest serves no HTTP of its own.)
    let expected: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::from([
        ("kafka", BTreeSet::from(["29092:29092"])),
        ("minio", BTreeSet::from(["9000:9000", "9001:9001"])),
        ("iceberg-rest", BTreeSet::from(["8181:8181"])),
    ]);
    let compose = compose();
    let published: BTreeMap<&str, BTreeSet<&str>> = services(&compose)
        .iter()
        .filter_map(|(name, s)| {
            let ports = s.get("ports")?.as_array()?;
            Some((name.as_str(), ports.iter().map(|p| p.as_str().unwrap()).collect()))
        })
        .collect();
    assert_eq!(published, expected);
    let image = |name: &str| services(&compose)[name]["image"].as_str().unwrap().to_owned();
    assert!(image("kafka").starts_with("apache/kafka:3.8."), "{}", image("kafka"));
    assert!(image("iceberg-rest").starts_with("apache/iceberg-rest-fixture:"));
    assert!(image("minio").starts_with("minio/minio:"));
}

#[test]
fn image_builds_with_the_test_suites_build_script() {
    let dockerfile = read("Dockerfile");
    let build_script = read("scripts/build.sh");
    let test_script = read("scripts/test.sh");

    // test.sh builds through build.sh before nextest runs, so nextest builds nothing of its own.
    let build_at = test_script.find("\nscripts/build.sh\n").expect("test.sh runs scripts/build.sh");
    let nextest_at = test_script.find("cargo nextest run").expect("test.sh runs nextest");
    assert!(build_at < nextest_at, "test.sh must build before it tests");
    assert!(build_script.contains("cargo build --locked"));

    // The image's builder installs the packages and builds the binary through the same script, and
    // has no build command of its own.
    let runs: Vec<&str> =
        dockerfile.split("\nRUN ").skip(1).map(|step| step.split("\n\n").next().unwrap()).collect();
    assert!(runs.iter().any(|r| r.starts_with("scripts/build.sh --install-deps")), "{runs:?}");
    assert!(runs.iter().any(|r| r.contains("scripts/build.sh --release")), "{runs:?}");
    assert!(!dockerfile.contains("cargo "), "the Dockerfile runs cargo itself");
    assert!(!build_script.contains("librdkafka-dev"), "Debian's librdkafka must not be linked");

    // The builder is the workspace's rust-version on bookworm; the runtime is bookworm too.
    let rust_version = read("Cargo.toml")
        .lines()
        .find_map(|l| l.strip_prefix("rust-version = \""))
        .map(|v| v.trim_end_matches('"').to_owned())
        .expect("rust-version in Cargo.toml");
    let froms: Vec<&str> = dockerfile.lines().filter_map(|l| l.strip_prefix("FROM ")).collect();
    assert_eq!(froms.len(), 2, "{froms:?}");
    let builder = froms[0].split_whitespace().next().unwrap();
    assert!(
        builder.starts_with(&format!("rust:{rust_version}.")) && builder.ends_with("-bookworm"),
        "builder {builder}, rust-version {rust_version}"
    );
    assert_eq!(froms[1], "debian:bookworm-slim");
    assert!(dockerfile.contains("\nENTRYPOINT [\"bidlake\"]\n"));
    let user = dockerfile.lines().rev().find_map(|l| l.strip_prefix("USER ")).expect("USER");
    assert!(user != "root" && user != "0", "runs as {user}");

    // compose builds this file.
    let compose = compose();
    for (name, service, _) in bidlake_services(&compose) {
        assert_eq!(service["build"], ".", "{name}");
    }
}

#[test]
fn runtime_image_has_every_library_the_binary_links() {
    // Debian packages by the shared libraries they provide; zlib1g, libgcc-s1 and libc6 are in
    // debian:bookworm-slim already, the rest must be installed by the Dockerfile's runtime stage.
    const BASE: &[&str] = &["libc6", "libgcc-s1", "zlib1g"];
    let package_of = |lib: &str| -> Option<&str> {
        Some(match lib {
            l if l.starts_with("linux-vdso") => return None,
            l if l.starts_with("ld-linux") => "libc6",
            "libc.so.6" | "libm.so.6" | "libpthread.so.0" | "libdl.so.2" | "librt.so.1" => "libc6",
            "libgcc_s.so.1" => "libgcc-s1",
            "libz.so.1" => "zlib1g",
            "libssl.so.3" | "libcrypto.so.3" => "libssl3",
            other => panic!("bidlake links {other}: add its package to the Dockerfile and here"),
        })
    };
    let out = Command::new("ldd").arg(BIDLAKE).output().expect("running ldd");
    assert!(out.status.success());
    let dockerfile = read("Dockerfile");
    let runtime = dockerfile.rsplit("\nFROM ").next().unwrap();
    let installed: BTreeSet<&str> = runtime
        .split("apt-get install")
        .skip(1)
        .flat_map(|rest| rest.split("&&").next().unwrap().split_whitespace())
        .filter(|word| !word.starts_with('-') && *word != "\\")
        .collect();
    assert!(installed.contains("ca-certificates"), "runtime packages: {installed:?}");
    for line in String::from_utf8(out.stdout).unwrap().lines() {
        let lib = line.split_whitespace().next().unwrap();
        let lib = lib.rsplit('/').next().unwrap();
        assert!(!lib.starts_with("librdkafka"), "Debian's librdkafka is linked: {line}");
        if let Some(package) = package_of(lib) {
            assert!(
                BASE.contains(&package) || installed.contains(package),
                "{lib} needs {package}, which the runtime stage does not install"
            );
        }
    }
}

#[test]
fn help_does_not_print_passthrough_properties() {
    // They carry SASL passwords and the like, and --help prints other variables' values.
    let out = Command::new(BIDLAKE)
        .args(["ingest", "--help"])
        .env_clear()
        .env("KAFKA_PROPERTIES", "sasl.password=hunter2")
        .env("CATALOG_PROPERTIES", "header.X-Api-Key=hunter3")
        .env("INGEST_GROUP_ID", "visible-group")
        .output()
        .unwrap();
    let help = String::from_utf8(out.stdout).unwrap();
    assert!(help.contains("visible-group"), "{help}");
    assert!(!help.contains("hunter2") && !help.contains("hunter3"), "{help}");
}

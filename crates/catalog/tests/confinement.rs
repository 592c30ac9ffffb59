//! The REST catalog over HTTP cannot be turned against its host: names that are path parts and
//! locations outside the warehouse are refused with 400 before anything is written, and a
//! purge deletes only the purged table's own files.

#![allow(clippy::unwrap_used)] // a test file: a failed unwrap is a failed test

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use bidlake_catalog::CatalogService;
use bidlake_lake::{LakeArgs, open_lake};
use serde_json::{Value, json};

/// `bidlake catalog serve` in-process over a fresh embedded lake in a temporary directory, on
/// a free loopback port; stopped when dropped.
struct Server {
    addr: SocketAddr,
    dir: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let data_dir = dir.path().join("lake");
        let (ready, started) = mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let config = LakeArgs::embedded().resolve(&data_dir).unwrap();
                let lake = open_lake(config).await.unwrap();
                let service = CatalogService::open(&lake, None, None).await.unwrap();
                let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
                let listener = bidlake_catalog::bind(addr, "test").await.unwrap();
                ready.send(listener.local_addr().unwrap()).unwrap();
                bidlake_catalog::serve_on(service, listener, async move {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
            });
        });
        let addr = started.recv_timeout(Duration::from_secs(60)).unwrap();
        Self { addr, dir, stop: Some(stop), thread: Some(thread) }
    }

    fn root(&self) -> &Path {
        self.dir.path()
    }

    fn warehouse(&self) -> PathBuf {
        self.root().join("lake").join("warehouse")
    }

    /// `method path` with a JSON body: (status, JSON answer or Null).
    fn call(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        let mut stream = TcpStream::connect(self.addr).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        let body = body.map(Value::to_string).unwrap_or_default();
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut response = Vec::new();
        stream.read_to_end(&mut response).unwrap();
        let response = String::from_utf8(response).unwrap();
        let (head, body) = response.split_once("\r\n\r\n").unwrap();
        let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
        let body = if body.is_empty() { Value::Null } else { serde_json::from_str(body).unwrap() };
        (status, body)
    }

    fn ok(&self, method: &str, path: &str, body: Option<&Value>) -> Value {
        let (status, answer) = self.call(method, path, body);
        assert!((200..300).contains(&status), "{method} {path}: {status} {answer}");
        answer
    }

    /// Asserts a 400 in the REST spec's error shape; returns its message.
    fn refused(&self, method: &str, path: &str, body: Option<&Value>) -> String {
        let (status, answer) = self.call(method, path, body);
        assert_eq!(status, 400, "{method} {path} {body:?}: {answer}");
        assert_eq!(answer["error"]["type"], "BadRequestException", "{answer}");
        assert_eq!(answer["error"]["code"], 400, "{answer}");
        answer["error"]["message"].as_str().unwrap().to_owned()
    }

    fn create_table(&self, name: &str, location: Option<&str>) -> Value {
        self.ok("POST", "/v1/namespaces/db/tables", Some(&table_request(name, location, json!({}))))
    }

    /// Every path under the temporary directory but outside the warehouse, except the catalog
    /// database's files.
    fn outside_warehouse(&self) -> BTreeSet<PathBuf> {
        let warehouse = self.warehouse();
        let mut found = BTreeSet::new();
        let mut pending = vec![self.root().to_owned()];
        while let Some(dir) = pending.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                let name = path.file_name().unwrap().to_string_lossy();
                if path == warehouse || name.starts_with("catalog.db") {
                    continue;
                }
                if path.is_dir() {
                    pending.push(path.clone());
                }
                found.insert(path);
            }
        }
        found
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn table_request(name: &str, location: Option<&str>, properties: Value) -> Value {
    let mut request = json!({
        "name": name,
        "schema": {
            "type": "struct",
            "schema-id": 0,
            "fields": [{"id": 1, "name": "id", "required": true, "type": "long"}],
        },
        "properties": properties,
    });
    if let Some(location) = location {
        request["location"] = json!(location);
    }
    request
}

fn file_url(path: &Path) -> String {
    format!("file://{}", path.display())
}

#[test]
fn namespaces_and_tables_named_like_path_parts_are_refused() {
    let server = Server::start();
    let long = "n".repeat(256);
    for levels in [
        json!([".."]),
        json!(["."]),
        json!([""]),
        json!(["a/b"]),
        json!(["a\\b"]),
        json!(["db", ".."]),
        json!(["a%2Fb"]),
        json!(["%2E%2E"]),
        json!(["a\u{0}b"]),
        json!(["a\u{1f}b"]),
        json!([long]),
    ] {
        let message = server.refused("POST", "/v1/namespaces", Some(&json!({"namespace": levels})));
        assert!(message.starts_with("namespace level "), "{message}");
    }
    let message = server.refused("POST", "/v1/namespaces", Some(&json!({"namespace": [".."]})));
    assert_eq!(
        message,
        "namespace level \"..\" is refused: it is the relative path segment \"..\""
    );
    assert_eq!(server.ok("GET", "/v1/namespaces", None)["namespaces"], json!([]));

    // In a path: decoded once by the server, `%252F` is still an encoded separator.
    for path in [
        "/v1/namespaces/..",
        "/v1/namespaces/%2E%2E",
        "/v1/namespaces/a%2Fb",
        "/v1/namespaces/a%252Fb",
        "/v1/namespaces/a%5Cb",
        "/v1/namespaces/db%1F..",
        "/v1/namespaces/db%1F",
        "/v1/namespaces/a%00",
    ] {
        server.refused("GET", path, None);
        server.refused("DELETE", path, None);
    }
    server.refused("GET", "/v1/namespaces?parent=db%1F..", None);

    // The unit separator still separates levels.
    server.ok("POST", "/v1/namespaces", Some(&json!({"namespace": ["db"]})));
    server.ok("POST", "/v1/namespaces", Some(&json!({"namespace": ["db", "sub"]})));
    assert_eq!(
        server.ok("GET", "/v1/namespaces/db%1Fsub", None)["namespace"],
        json!(["db", "sub"])
    );

    for name in ["..", ".", "a/b", "a%2Fb", "%2e%2E", "a\u{7}"] {
        let message = server.refused(
            "POST",
            "/v1/namespaces/db/tables",
            Some(&table_request(name, None, json!({}))),
        );
        assert!(message.starts_with("table name "), "{message}");
    }
    for path in ["/v1/namespaces/db/tables/%2E%2E", "/v1/namespaces/db/tables/a%252f"] {
        server.refused("GET", path, None);
        server.refused("POST", path, Some(&json!({"requirements": [], "updates": []})));
        server.refused("DELETE", &format!("{path}?purgeRequested=true"), None);
    }
    let register = json!({"name": "..", "metadata-location": "/nowhere"});
    server.refused("POST", "/v1/namespaces/db/register", Some(&register));

    server.create_table("events", None);
    let rename = json!({
        "source": {"namespace": ["db"], "name": "events"},
        "destination": {"namespace": ["db", ".."], "name": "events"},
    });
    server.refused("POST", "/v1/tables/rename", Some(&rename));
    assert_eq!(
        server.ok("GET", "/v1/namespaces/db/tables", None)["identifiers"],
        json!([{"namespace": ["db"], "name": "events"}])
    );
    assert!(server.warehouse().join("db/events/metadata").is_dir());
}

#[test]
fn table_locations_outside_the_warehouse_are_refused_and_nothing_is_written() {
    let server = Server::start();
    server.ok("POST", "/v1/namespaces", Some(&json!({"namespace": ["db"]})));
    let warehouse = server.warehouse();
    let outside = server.root().join("outside");
    let before = server.outside_warehouse();

    let escapes = [
        "../../etc".to_owned(),
        "../outside".to_owned(),
        outside.display().to_string(),
        file_url(&outside),
        format!("file://{}", outside.display().to_string().trim_start_matches('/')),
        format!("{}/../outside", warehouse.display()),
        format!("{}/db/%2E%2E/%2E%2E/outside", file_url(&warehouse)),
        format!("{}-2/t", warehouse.display()),
        file_url(&warehouse),
        "s3://warehouse/t".to_owned(),
        "memory:///t".to_owned(),
    ];
    for location in &escapes {
        let request = table_request("t", Some(location), json!({}));
        let message = server.refused("POST", "/v1/namespaces/db/tables", Some(&request));
        assert!(message.starts_with("table location "), "{message}");
        assert!(message.contains(location.as_str()), "names the location: {message}");
        assert!(message.contains(&file_url(&warehouse)), "names the warehouse: {message}");
    }
    let message = server.refused(
        "POST",
        "/v1/namespaces/db/tables",
        Some(&table_request("t", Some("../../etc"), json!({}))),
    );
    assert_eq!(
        message,
        format!(
            "table location \"../../etc\" is refused: it is neither an absolute path nor a \
             file:// or s3:// URL (the warehouse is {})",
            file_url(&warehouse)
        )
    );
    for key in ["write.data.path", "write.metadata.path", "write.object-storage.path"] {
        let properties = json!({ key: file_url(&outside) });
        let request = table_request("t", None, properties);
        let message = server.refused("POST", "/v1/namespaces/db/tables", Some(&request));
        assert!(message.starts_with(&format!("table property {key} ")), "{message}");
    }
    // A namespace's location is where its tables go by default.
    let namespace =
        json!({"namespace": ["elsewhere"], "properties": {"location": file_url(&outside)}});
    server.refused("POST", "/v1/namespaces", Some(&namespace));
    let properties = json!({"updates": {"location": "/etc"}, "removals": []});
    server.refused("POST", "/v1/namespaces/db/properties", Some(&properties));

    assert_eq!(server.ok("GET", "/v1/namespaces/db/tables", None)["identifiers"], json!([]));
    assert_eq!(server.outside_warehouse(), before, "nothing was written outside the warehouse");
    assert!(!outside.exists());

    // Inside the warehouse is fine.
    let custom = file_url(&warehouse.join("custom/t"));
    let created = server.create_table("t", Some(&custom));
    assert_eq!(created["metadata"]["location"], custom);
    let properties = json!({"write.data.path": file_url(&warehouse.join("custom/t/data"))});
    server.ok(
        "POST",
        "/v1/namespaces/db/tables",
        Some(&table_request("u", Some(&file_url(&warehouse.join("db/u"))), properties)),
    );
    assert_eq!(server.outside_warehouse(), before);
}

#[test]
fn commits_cannot_move_a_table_out_of_the_warehouse() {
    let server = Server::start();
    server.ok("POST", "/v1/namespaces", Some(&json!({"namespace": ["db"]})));
    let created = server.create_table("t", None);
    let location = created["metadata"]["location"].clone();
    let outside = file_url(&server.root().join("outside"));
    for update in [
        json!({"action": "set-location", "location": outside}),
        json!({"action": "set-location", "location": "../../etc"}),
        json!({"action": "set-properties", "updates": {"write.metadata.path": outside}}),
        json!({"action": "set-properties", "updates": {"write.data.path": "/tmp"}}),
    ] {
        let commit = json!({"requirements": [], "updates": [update]});
        server.refused("POST", "/v1/namespaces/db/tables/t", Some(&commit));
    }
    let loaded = server.ok("GET", "/v1/namespaces/db/tables/t", None);
    assert_eq!(loaded["metadata"]["location"], location);
    assert_eq!(loaded["metadata-location"], created["metadata-location"]);

    let inside = format!("{}/db/t-moved", file_url(&server.warehouse()));
    let commit = json!({"requirements": [], "updates": [
        {"action": "set-location", "location": inside},
        {"action": "set-properties", "updates": {"write.data.path": format!("{inside}/data")}},
    ]});
    let committed = server.ok("POST", "/v1/namespaces/db/tables/t", Some(&commit));
    assert_eq!(committed["metadata"]["location"], inside);
}

/// Writes `metadata` (a table's metadata JSON) to `path` with `location` as its location.
fn write_metadata(metadata: &Value, location: &str, path: &Path) {
    let mut metadata = metadata.clone();
    metadata["location"] = json!(location);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, metadata.to_string()).unwrap();
}

#[test]
fn registration_takes_only_tables_inside_the_warehouse() {
    let server = Server::start();
    server.ok("POST", "/v1/namespaces", Some(&json!({"namespace": ["db"]})));
    let metadata = server.create_table("source", None)["metadata"].clone();
    let warehouse = server.warehouse();
    let outside = server.root().join("outside");

    // A metadata file outside the warehouse is not even read.
    let stray = outside.join("stray.metadata.json");
    write_metadata(&metadata, &file_url(&warehouse.join("db/stray")), &stray);
    let request = json!({"name": "stray", "metadata-location": file_url(&stray)});
    let message = server.refused("POST", "/v1/namespaces/db/register", Some(&request));
    assert!(message.starts_with("metadata location "), "{message}");

    // A metadata file inside whose table lives outside is read and refused.
    let escaping = warehouse.join("meta/escaping.metadata.json");
    write_metadata(&metadata, &file_url(&outside), &escaping);
    let request = json!({"name": "escaping", "metadata-location": file_url(&escaping)});
    let message = server.refused("POST", "/v1/namespaces/db/register", Some(&request));
    assert!(message.starts_with("table location "), "{message}");

    let identifiers = server.ok("GET", "/v1/namespaces/db/tables", None)["identifiers"].clone();
    assert_eq!(identifiers, json!([{"namespace": ["db"], "name": "source"}]));

    let fine = warehouse.join("meta/fine.metadata.json");
    write_metadata(&metadata, &file_url(&warehouse.join("db/fine")), &fine);
    let request = json!({"name": "fine", "metadata-location": file_url(&fine)});
    server.ok("POST", "/v1/namespaces/db/register", Some(&request));
}

#[test]
fn a_purge_deletes_only_the_purged_tables_files() {
    let server = Server::start();
    server.ok("POST", "/v1/namespaces", Some(&json!({"namespace": ["db"]})));
    let warehouse = server.warehouse();
    let db = warehouse.join("db");
    let metadata = server.create_table("t", None)["metadata"].clone();
    server.create_table("t2", None);
    // Files of t2 and of no table at all, beside t's and under prefixes of its name.
    std::fs::write(db.join("t2/data.parquet"), "t2's").unwrap();
    std::fs::write(db.join("t.parquet"), "not t's").unwrap();

    // A table at the namespace's directory holds every other table's files.
    server.create_table("outer", Some(&file_url(&db)));
    let message =
        server.refused("DELETE", "/v1/namespaces/db/tables/outer?purgeRequested=true", None);
    assert!(message.starts_with("not purging db.outer: its location"), "{message}");
    assert!(message.contains("drop it without purging"), "{message}");
    server.ok("HEAD", "/v1/namespaces/db/tables/outer", None);
    server.ok("DELETE", "/v1/namespaces/db/tables/outer", None);
    assert!(db.join("t/metadata").is_dir() && db.join("t2/data.parquet").is_file());

    server.ok("DELETE", "/v1/namespaces/db/tables/t?purgeRequested=true", None);
    assert!(!db.join("t").exists(), "t's files are gone");
    assert_eq!(std::fs::read_to_string(db.join("t2/data.parquet")).unwrap(), "t2's");
    assert_eq!(std::fs::read_to_string(db.join("t.parquet")).unwrap(), "not t's");
    server.ok("GET", "/v1/namespaces/db/tables/t2", None);

    // Metadata the table references outside its own location is left (and logged).
    let shared = warehouse.join("meta/registered.metadata.json");
    write_metadata(&metadata, &file_url(&db.join("registered")), &shared);
    let request = json!({"name": "registered", "metadata-location": file_url(&shared)});
    server.ok("POST", "/v1/namespaces/db/register", Some(&request));
    std::fs::create_dir_all(db.join("registered/data")).unwrap();
    std::fs::write(db.join("registered/data/x.parquet"), "registered's").unwrap();
    server.ok("DELETE", "/v1/namespaces/db/tables/registered?purgeRequested=true", None);
    assert!(!db.join("registered").exists());
    assert!(shared.is_file(), "the metadata file outside the table's location is left");

    assert_eq!(
        server.ok("GET", "/v1/namespaces/db/tables", None)["identifiers"],
        json!([{"namespace": ["db"], "name": "t2"}])
    );
}

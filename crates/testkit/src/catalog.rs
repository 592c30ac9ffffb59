//! `bidlake catalog serve` as a test's REST catalog.

use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::{bidlake_lake_command, free_port};

/// `bidlake catalog serve` (the binary at `exe`) over the lake in `data_dir`, on a free loopback
/// port, stopped when dropped.
#[derive(Debug)]
pub struct CatalogServer {
    child: Child,
    pub uri: String,
}

impl CatalogServer {
    /// `auth`: the server's auth setting, e.g. `("CATALOG_TOKEN", "t")` or
    /// `("CATALOG_CREDENTIAL", "id:secret")`.
    pub fn start(exe: &str, data_dir: &Path, auth: (&str, &str)) -> Self {
        let port = free_port();
        let child = bidlake_lake_command(exe, data_dir)
            .args(["catalog", "serve", "--port", &port.to_string()])
            .env(auth.0, auth.1)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starting bidlake catalog serve");
        let mut server = Self { child, uri: format!("http://127.0.0.1:{port}") };
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Some(status) = server.child.try_wait().unwrap() {
                panic!("catalog serve exited at start with {status}");
            }
            assert!(Instant::now() < deadline, "catalog serve did not listen within 30 s");
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }
}

impl Drop for CatalogServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

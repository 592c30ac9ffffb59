use std::net::TcpListener;

use bidlake_kafka::embedded::EmbeddedBroker;

pub use bidlake_kafka::embedded::tansu_binary;

/// Where test servers listen: below Linux's ephemeral range (32768-60999), from which the
/// kernel takes the local port of every outgoing connection. A port the OS hands out for
/// `127.0.0.1:0` can be taken by any test's client connection before the server binds it.
const TEST_PORTS: std::ops::Range<u16> = 20_000..32_000;

/// A free TCP port on 127.0.0.1 for a server a test starts, chosen at random in [`TEST_PORTS`]
/// and checked free (released again for the server to take).
pub fn free_port() -> u16 {
    use std::hash::{BuildHasher, RandomState};
    let span = u64::from(TEST_PORTS.end - TEST_PORTS.start);
    for attempt in 0u64..1_000 {
        let random = RandomState::new().hash_one(attempt);
        let port = TEST_PORTS.start + u16::try_from(random % span).expect("below the span");
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port on 127.0.0.1 in {TEST_PORTS:?}")
}

/// A tansu broker on 127.0.0.1 and a free port, with its SQLite storage in a temporary
/// directory. Dropping it stops the broker and deletes its data.
#[derive(Debug)]
pub struct Broker {
    // Declared before `dir`: the process goes before its directory.
    broker: EmbeddedBroker,
    dir: tempfile::TempDir,
}

impl Broker {
    /// Starts a broker and waits until it accepts connections.
    pub fn start() -> Self {
        let dir = tempfile::tempdir().expect("creating a temporary directory for the broker");
        let broker =
            EmbeddedBroker::start(dir.path(), free_port()).unwrap_or_else(|err| panic!("{err}"));
        Self { broker, dir }
    }

    /// A broker that removes records past their topic's retention every `cleanup_every`.
    pub fn start_with_cleanup(cleanup_every: std::time::Duration) -> Self {
        let dir = tempfile::tempdir().expect("creating a temporary directory for the broker");
        let broker = EmbeddedBroker::start_with(dir.path(), free_port(), cleanup_every)
            .unwrap_or_else(|err| panic!("{err}"));
        Self { broker, dir }
    }

    /// The broker's data directory.
    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// `host:port` to give Kafka clients.
    pub fn bootstrap(&self) -> String {
        self.broker.bootstrap()
    }

    /// Kills the broker (SIGKILL) and starts it again on the same port and storage.
    pub fn restart(&mut self) {
        self.broker.kill();
        self.broker = EmbeddedBroker::start(self.dir.path(), self.broker.port())
            .unwrap_or_else(|err| panic!("{err}"));
    }

    /// Kills the broker without restarting it.
    pub fn kill(&mut self) {
        self.broker.kill();
    }

    /// The broker's log.
    pub fn log(&self) -> String {
        self.broker.log_tail(200)
    }
}

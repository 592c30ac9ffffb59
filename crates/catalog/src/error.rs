use std::net::SocketAddr;

/// Why the catalog server could not start or stopped, or why it refused what a client named.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Lake(#[from] bidlake_lake::Error),
    #[error(
        "`catalog serve` serves the SQL catalog; CATALOG_URI is the REST catalog {uri}, which clients can use directly"
    )]
    NotSqlCatalog { uri: String },
    #[error("opening the catalog database {url}: {source}")]
    OpenDatabase {
        url: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("listening on {addr} ({hint}): {source}")]
    Bind {
        addr: SocketAddr,
        hint: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("serving the REST catalog: {0}")]
    Serve(#[source] std::io::Error),
    /// The configured warehouse is not a location the catalog can confine tables to.
    #[error("the warehouse {warehouse:?} cannot be served: {reason}")]
    Warehouse { warehouse: String, reason: String },
    /// A namespace level or table name a client sent that could escape or confuse paths.
    #[error("{what} {name} is refused: {reason}")]
    InvalidName { what: &'static str, name: String, reason: String },
    /// A location a client sent that does not lie inside the warehouse.
    #[error("{what} {location} is refused: {reason} (the warehouse is {warehouse})")]
    OutsideWarehouse { what: String, location: String, warehouse: String, reason: String },
}

impl Error {
    /// The client's mistake (answered with 400), not the server's.
    pub fn is_refusal(&self) -> bool {
        matches!(self, Self::InvalidName { .. } | Self::OutsideWarehouse { .. })
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

//! `bidlake catalog serve`: the Iceberg REST catalog over the SQL catalog and warehouse.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bidlake_catalog::CatalogService;
use bidlake_lake::{LakeArgs, open_lake};

use crate::Error;

#[derive(Debug, clap::Subcommand)]
pub enum CatalogCommand {
    /// Serve the lake's SQL catalog as an Iceberg REST catalog (what Spark, Trino, PyIceberg and
    /// DuckDB attach to). Set CATALOG_TOKEN to require a bearer token, CATALOG_CREDENTIAL
    /// (id:secret) to issue tokens at /v1/oauth/tokens.
    Serve(ServeArgs),
}

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on; anything but loopback exposes the catalog to the network.
    #[arg(long, env = "CATALOG_HOST", default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    pub host: IpAddr,
    /// Port to listen on.
    #[arg(long, env = "CATALOG_PORT", default_value_t = 8181)]
    pub port: u16,
    #[command(flatten)]
    pub lake: LakeArgs,
}

pub async fn catalog(
    data_dir: &Path,
    command: CatalogCommand,
    stop: Arc<AtomicBool>,
) -> Result<(), Error> {
    match command {
        CatalogCommand::Serve(args) => serve(data_dir, args, stop).await,
    }
}

async fn serve(data_dir: &Path, args: ServeArgs, stop: Arc<AtomicBool>) -> Result<(), Error> {
    let config = args.lake.resolve(data_dir)?;
    let lake = open_lake(config).await?;
    let service = CatalogService::open(
        &lake,
        args.lake.catalog_token.clone(),
        args.lake.catalog_credential.clone(),
    )
    .await?;
    let addr = SocketAddr::new(args.host, args.port);
    let listener =
        bidlake_catalog::bind(addr, "choose another with --port or CATALOG_PORT").await?;
    if !args.host.is_loopback() && !service.requires_auth() {
        tracing::warn!(
            "the catalog listens on {addr} without authentication: set CATALOG_TOKEN or CATALOG_CREDENTIAL"
        );
    }
    eprintln!(
        "Iceberg REST catalog on http://{addr} (catalog {}, {}, warehouse {})",
        lake.config.catalog_name,
        lake.config.catalog_display(),
        lake.config.warehouse
    );
    bidlake_catalog::serve_on(service, listener, until(stop)).await?;
    Ok(())
}

/// Resolves once `flag` is raised.
pub async fn until(flag: Arc<AtomicBool>) {
    while !flag.load(Ordering::SeqCst) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

//! `bidlake catalog serve`: an Iceberg REST catalog (the REST spec's `/v1` endpoints that engines
//! use) over bidlake's SQL catalog and warehouse, so Spark, Trino, PyIceberg, DuckDB and other
//! bidlake processes can attach to the embedded lake the way they attach to a production catalog.
//!
//! Reads and namespace/table lifecycle go through the `iceberg` SQL catalog; commits arriving as
//! REST updates are checked against the table's current metadata and committed with the SQL
//! catalog's own compare-and-set (`bidlake_lake::commit`), so they and in-process commits
//! (`bidlake ingest`, `maintain` on the same catalog) exclude each other.

mod auth;
mod error;
mod locations;
mod names;
mod namespaces;
mod rest_error;
mod store;
mod tables;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use bidlake_lake::{CatalogKind, Lake, Secret, Storage};
use iceberg::Catalog;
use iceberg::io::{FileIO, FileIOBuilder};
use iceberg_storage_opendal::OpenDalResolvingStorageFactory;
use serde::Serialize;

pub use error::{Error, Result};

use auth::Auth;
use locations::Warehouse;
use store::SqlStore;

/// What the server needs: the open lake and who may call it.
#[derive(Debug)]
pub struct CatalogService {
    lake: Lake,
    catalog: Arc<dyn Catalog>,
    store: SqlStore,
    /// Where every table's files must lie.
    warehouse: Warehouse,
    /// Reads metadata files the catalog hands out as no table: a registration's before the
    /// catalog takes it, the other tables' before a purge.
    file_io: FileIO,
    /// Storage properties clients need to read and write the files (never secrets: clients bring
    /// their own keys).
    storage_config: HashMap<String, String>,
    auth: Arc<Auth>,
}

impl CatalogService {
    /// `token`: the bearer token callers must present; `credential` (`id:secret`): the client
    /// credential `/v1/oauth/tokens` exchanges for a token. With neither, the catalog is open.
    pub async fn open(
        lake: &Lake,
        token: Option<Secret>,
        credential: Option<Secret>,
    ) -> Result<Arc<Self>> {
        let CatalogKind::Sql { url, .. } = &lake.config.catalog else {
            return Err(Error::NotSqlCatalog { uri: lake.config.catalog_display() });
        };
        let warehouse = Warehouse::new(&lake.config.warehouse)?;
        let store = SqlStore::open(url, &lake.config.catalog_name).await?;
        let file_io = FileIOBuilder::new(Arc::new(OpenDalResolvingStorageFactory::new()))
            .with_props(lake.config.file_io_props().clone())
            .build();
        Ok(Arc::new(Self {
            lake: lake.clone(),
            catalog: lake.catalog.clone(),
            store,
            warehouse,
            file_io,
            storage_config: storage_config(&lake.config.storage),
            auth: Arc::new(Auth::new(token, credential)),
        }))
    }

    pub fn requires_auth(&self) -> bool {
        !self.auth.is_open()
    }

    /// The REST routes, ready to serve.
    pub fn router(self: &Arc<Self>) -> Router {
        let api = Router::new()
            .route("/v1/config", get(config))
            .route("/v1/namespaces", get(namespaces::list).post(namespaces::create))
            .route(
                "/v1/namespaces/{namespace}",
                get(namespaces::load).head(namespaces::exists).delete(namespaces::drop),
            )
            .route("/v1/namespaces/{namespace}/properties", post(namespaces::update_properties))
            .route("/v1/namespaces/{namespace}/tables", get(tables::list).post(tables::create))
            .route("/v1/namespaces/{namespace}/register", post(tables::register))
            .route(
                "/v1/namespaces/{namespace}/tables/{table}",
                get(tables::load).head(tables::exists).delete(tables::drop).post(tables::commit),
            )
            .route("/v1/namespaces/{namespace}/tables/{table}/metrics", post(tables::metrics))
            .route("/v1/tables/rename", post(tables::rename))
            .fallback(unknown_endpoint)
            .with_state(self.clone());
        let oauth = Router::new()
            .route("/v1/oauth/tokens", post(auth::issue_token))
            .with_state(self.auth.clone());
        api.merge(oauth)
            .layer(axum::middleware::from_fn_with_state(self.auth.clone(), auth::require_token))
            .layer(axum::middleware::from_fn(log_request))
    }
}

/// Binds `addr`, naming the flag that changes it when the port is taken.
pub async fn bind(addr: SocketAddr, hint: &'static str) -> Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr).await.map_err(|source| Error::Bind { addr, hint, source })
}

/// Serves on an already bound listener until `stop` resolves.
pub async fn serve_on(
    service: Arc<CatalogService>,
    listener: tokio::net::TcpListener,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<()> {
    axum::serve(listener, service.router()).with_graceful_shutdown(stop).await.map_err(Error::Serve)
}

fn storage_config(storage: &Storage) -> HashMap<String, String> {
    let mut config = HashMap::new();
    if let Storage::S3 { endpoint, path_style, region, .. } = storage {
        if let Some(endpoint) = endpoint {
            config.insert("s3.endpoint".to_owned(), endpoint.clone());
        }
        config.insert("s3.path-style-access".to_owned(), path_style.to_string());
        if let Some(region) = region {
            config.insert("s3.region".to_owned(), region.clone());
            config.insert("client.region".to_owned(), region.clone());
        }
    }
    config
}

#[derive(Serialize)]
struct ConfigResponse {
    defaults: HashMap<String, String>,
    overrides: HashMap<String, String>,
}

/// `GET /v1/config`: one warehouse, no prefix; storage settings as defaults.
async fn config(State(service): State<Arc<CatalogService>>) -> Json<ConfigResponse> {
    Json(ConfigResponse { defaults: service.storage_config.clone(), overrides: HashMap::new() })
}

async fn unknown_endpoint(
    method: axum::http::Method,
    uri: axum::http::Uri,
) -> rest_error::RestError {
    rest_error::RestError::new(
        axum::http::StatusCode::NOT_FOUND,
        "NotFoundException",
        format!("bidlake's catalog has no endpoint {method} {}", uri.path()),
    )
}

async fn log_request(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    tracing::debug!(
        %method,
        path,
        status = response.status().as_u16(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "catalog request"
    );
    response
}

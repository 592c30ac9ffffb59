//! `/v1/namespaces/{ns}/tables...` and `/v1/tables/rename`: list, create, register, load,
//! exists, drop, commit, rename.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use bidlake_lake::commit::commit_updates;
use bidlake_lake::pinned::Attempt;
use iceberg::spec::TableMetadata;
use iceberg::table::Table;
use iceberg::{ErrorKind, TableCreation, TableIdent, TableRequirement};
use iceberg_catalog_rest::{
    CommitTableRequest, CommitTableResponse, CreateTableRequest, ListTablesResponse,
    LoadTableResult, RegisterTableRequest, RenameTableRequest,
};
use serde::Deserialize;

use crate::CatalogService;
use crate::locations::NAMESPACE_LOCATION_PROPERTY;
use crate::names::{check_name, check_table, parse_namespace};
use crate::rest_error::RestError;

/// Attempts at a commit whose requirements still hold but lost the race for the pointer swap.
const COMMIT_ATTEMPTS: usize = 8;

fn ident(namespace: &str, table: String) -> Result<TableIdent, RestError> {
    let namespace = parse_namespace(namespace)?;
    check_name("table name", &table)?;
    Ok(TableIdent::new(namespace, table))
}

/// `load_table`, with "no such table" whatever the catalog said was missing.
async fn load_table(service: &CatalogService, ident: &TableIdent) -> Result<Table, RestError> {
    service.catalog.load_table(ident).await.map_err(|err| match err.kind() {
        ErrorKind::TableNotFound | ErrorKind::NamespaceNotFound => RestError::no_such_table(ident),
        _ => err.into(),
    })
}

fn load_result(service: &CatalogService, table: &Table) -> LoadTableResult {
    LoadTableResult {
        metadata_location: table.metadata_location().map(str::to_owned),
        metadata: table.metadata().clone(),
        config: service.storage_config.clone(),
        storage_credentials: None,
    }
}

pub async fn list(
    State(service): State<Arc<CatalogService>>,
    Path(namespace): Path<String>,
) -> Result<Json<ListTablesResponse>, RestError> {
    let namespace = parse_namespace(&namespace)?;
    let identifiers = service.catalog.list_tables(&namespace).await?;
    Ok(Json(ListTablesResponse { identifiers, next_page_token: None }))
}

pub async fn create(
    State(service): State<Arc<CatalogService>>,
    Path(namespace): Path<String>,
    Json(request): Json<CreateTableRequest>,
) -> Result<Json<LoadTableResult>, RestError> {
    let namespace = parse_namespace(&namespace)?;
    check_name("table name", &request.name)?;
    if request.stage_create == Some(true) {
        return Err(RestError::new(
            StatusCode::NOT_ACCEPTABLE,
            "UnsupportedOperationException",
            "staged table creation (create-table transactions) is not supported by bidlake's catalog: create the table, then commit to it",
        ));
    }
    match &request.location {
        Some(location) => {
            service.warehouse.check("table location", location)?;
        }
        // The SQL catalog puts the table under its namespace's location, if it has one.
        None => {
            let found = service.catalog.get_namespace(&namespace).await?;
            if let Some(location) = found.properties().get(NAMESPACE_LOCATION_PROPERTY) {
                service.warehouse.check("namespace location", location)?;
            }
        }
    }
    service.warehouse.check_table_properties(&request.properties)?;
    let creation = TableCreation::builder()
        .name(request.name)
        .location_opt(request.location)
        .schema(request.schema)
        .partition_spec_opt(request.partition_spec)
        .sort_order_opt(request.write_order)
        .properties(request.properties)
        .build();
    let table = service.catalog.create_table(&namespace, creation).await?;
    Ok(Json(load_result(&service, &table)))
}

pub async fn register(
    State(service): State<Arc<CatalogService>>,
    Path(namespace): Path<String>,
    Json(request): Json<RegisterTableRequest>,
) -> Result<Json<LoadTableResult>, RestError> {
    if request.overwrite == Some(true) {
        return Err(RestError::bad_request("registering over an existing table is not supported"));
    }
    let ident = ident(&namespace, request.name)?;
    // Read nothing outside the warehouse, and take no table whose files would be outside it.
    service.warehouse.check("metadata location", &request.metadata_location)?;
    let metadata = TableMetadata::read_from(&service.file_io, &request.metadata_location)
        .await
        .map_err(|err| {
            RestError::bad_request(format!(
                "cannot read the metadata file {}: {err}",
                request.metadata_location
            ))
        })?;
    check_registered(&service, &metadata)?;
    let table = service.catalog.register_table(&ident, request.metadata_location).await?;
    // The catalog read the file again: if it changed in between, undo the registration.
    if let Err(refusal) = check_registered(&service, table.metadata()) {
        service.catalog.drop_table(&ident).await?;
        return Err(refusal);
    }
    Ok(Json(load_result(&service, &table)))
}

fn check_registered(service: &CatalogService, metadata: &TableMetadata) -> Result<(), RestError> {
    service.warehouse.check("table location", metadata.location())?;
    service.warehouse.check_table_properties(metadata.properties())?;
    Ok(())
}

pub async fn load(
    State(service): State<Arc<CatalogService>>,
    Path((namespace, table)): Path<(String, String)>,
) -> Result<Json<LoadTableResult>, RestError> {
    let ident = ident(&namespace, table)?;
    let table = load_table(&service, &ident).await?;
    Ok(Json(load_result(&service, &table)))
}

pub async fn exists(
    State(service): State<Arc<CatalogService>>,
    Path((namespace, table)): Path<(String, String)>,
) -> Result<StatusCode, RestError> {
    let ident = ident(&namespace, table)?;
    Ok(if service.catalog.table_exists(&ident).await? {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::NOT_FOUND
    })
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DropQuery {
    /// Clients write `true` or Python's `True`.
    purge_requested: Option<String>,
}

/// Drops the table from the catalog; with `purgeRequested=true` also deletes its files.
pub async fn drop(
    State(service): State<Arc<CatalogService>>,
    Path((namespace, table)): Path<(String, String)>,
    Query(query): Query<DropQuery>,
) -> Result<StatusCode, RestError> {
    let ident = ident(&namespace, table)?;
    let table = load_table(&service, &ident).await?;
    service.catalog.drop_table(&ident).await?;
    if query.purge_requested.is_some_and(|value| value.eq_ignore_ascii_case("true")) {
        let location = table.metadata().location();
        table.file_io().delete_prefix(location).await.map_err(|err| {
            RestError::internal(format!(
                "{ident} was dropped, but purging {location} failed: {err}"
            ))
        })?;
        tracing::info!(table = %ident, location, "dropped and purged");
    }
    Ok(StatusCode::NO_CONTENT)
}

pub async fn rename(
    State(service): State<Arc<CatalogService>>,
    Json(request): Json<RenameTableRequest>,
) -> Result<StatusCode, RestError> {
    check_table(&request.source)?;
    check_table(&request.destination)?;
    service.catalog.rename_table(&request.source, &request.destination).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Scan and commit reports from clients: accepted, not kept.
pub async fn metrics() -> StatusCode {
    StatusCode::NO_CONTENT
}

/// `POST /v1/namespaces/{ns}/tables/{table}`: check the client's requirements against the
/// current metadata (409 when one fails), then commit its updates with the SQL catalog's
/// compare-and-set (`bidlake_lake::commit`). Losing that race to a concurrent commit is not the
/// client's conflict: re-check the requirements on the new metadata and try again.
pub async fn commit(
    State(service): State<Arc<CatalogService>>,
    Path((namespace, table)): Path<(String, String)>,
    Json(request): Json<CommitTableRequest>,
) -> Result<Json<CommitTableResponse>, RestError> {
    let ident = ident(&namespace, table)?;
    if request.requirements.iter().any(|req| matches!(req, TableRequirement::NotExist)) {
        return Err(RestError::new(
            StatusCode::NOT_ACCEPTABLE,
            "UnsupportedOperationException",
            "create-table transactions (assert-create) are not supported by bidlake's catalog",
        ));
    }
    service.warehouse.check_table_updates(&request.updates)?;
    for _ in 0..COMMIT_ATTEMPTS {
        let table = load_table(&service, &ident).await?;
        let metadata = table.metadata();
        for requirement in &request.requirements {
            requirement
                .check(Some(metadata))
                .map_err(|err| RestError::commit_failed(format!("{ident}: {}", err.message())))?;
        }
        // A client's update that cannot apply is its mistake (400), not a failed commit.
        let mut builder =
            metadata.clone().into_builder(table.metadata_location().map(str::to_owned));
        for update in &request.updates {
            builder = update.clone().apply(builder)?;
        }
        builder.build()?;
        let attempt = commit_updates(
            &service.lake,
            &table,
            request.requirements.clone(),
            request.updates.clone(),
        )
        .await
        .map_err(|err| RestError::internal(format!("committing {ident}: {err}")))?;
        if let Attempt::Committed(table) = attempt {
            let metadata_location = table
                .metadata_location()
                .ok_or_else(|| RestError::internal(format!("{ident} has no metadata location")))?
                .to_owned();
            return Ok(Json(CommitTableResponse {
                metadata_location,
                metadata: table.metadata().clone(),
            }));
        }
        // Another commit won the race: re-check the requirements on the table it left.
    }
    Err(RestError::commit_failed(format!(
        "{ident} changed under {COMMIT_ATTEMPTS} consecutive commit attempts; retry"
    )))
}

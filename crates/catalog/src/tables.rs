//! `/v1/namespaces/{ns}/tables...` and `/v1/tables/rename`: list, create, register, load,
//! exists, drop, commit, rename.

use std::collections::HashSet;
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
use crate::locations::{Location, NAMESPACE_LOCATION_PROPERTY};
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

/// Drops the table from the catalog; with `purgeRequested=true` also deletes every file under
/// its location, which must be inside the warehouse and shared with no other table. Whatever
/// stops a purge is found before the table is dropped, so a refused purge changes nothing.
pub async fn drop(
    State(service): State<Arc<CatalogService>>,
    Path((namespace, table)): Path<(String, String)>,
    Query(query): Query<DropQuery>,
) -> Result<StatusCode, RestError> {
    let ident = ident(&namespace, table)?;
    let table = load_table(&service, &ident).await?;
    let purge = query.purge_requested.is_some_and(|value| value.eq_ignore_ascii_case("true"));
    let purged =
        if purge { Some(purgeable_location(&service, &ident, &table).await?) } else { None };
    service.catalog.drop_table(&ident).await?;
    if let Some(purged) = purged {
        let location = table.metadata().location();
        warn_of_files_outside(&service, &ident, &table, &purged).await;
        table.file_io().delete_prefix(location).await.map_err(|err| {
            RestError::internal(format!(
                "{ident} was dropped, but purging {location} failed: {err}"
            ))
        })?;
        tracing::info!(table = %ident, location, "dropped and purged");
    }
    Ok(StatusCode::NO_CONTENT)
}

/// The table's location, if deleting everything under it deletes only this table's files:
/// it is inside the warehouse, and no other table's location or metadata file is under it or
/// above it.
async fn purgeable_location(
    service: &CatalogService,
    ident: &TableIdent,
    table: &Table,
) -> Result<Location, RestError> {
    let refuse = |why: String| {
        RestError::bad_request(format!("not purging {ident}: {why}; drop it without purging"))
    };
    let location = table.metadata().location();
    let own =
        service.warehouse.check("its location", location).map_err(|err| refuse(err.to_string()))?;
    let others = service
        .store
        .table_pointers()
        .await
        .map_err(|err| RestError::internal(format!("listing the catalog's tables: {err}")))?;
    let own_namespace = ident.namespace().join(".");
    for other in others {
        if other.namespace == own_namespace && other.name == ident.name() {
            continue;
        }
        let name = format!("{}.{}", other.namespace, other.name);
        let mut places = vec![other.metadata_location.clone()];
        match TableMetadata::read_from(&service.file_io, &other.metadata_location).await {
            Ok(metadata) => places.push(metadata.location().to_owned()),
            Err(err) => tracing::warn!(
                table = name,
                metadata = other.metadata_location,
                error = %err,
                "cannot read a table's metadata: comparing a purge with its metadata file only"
            ),
        }
        for place in places {
            // A location that cannot be placed might be anywhere.
            let shared = service.warehouse.locate(&place).map_or(true, |at| at.overlaps(&own));
            if shared {
                return Err(refuse(format!(
                    "its location {location} overlaps {place} of the table {name}, whose files a purge would delete"
                )));
            }
        }
    }
    Ok(own)
}

/// Files a purge leaves because the table's metadata references them outside its location:
/// logged, never read or deleted. Best effort: what cannot be read is logged and skipped.
async fn warn_of_files_outside(
    service: &CatalogService,
    ident: &TableIdent,
    table: &Table,
    purged: &Location,
) {
    let outside =
        |path: &str| service.warehouse.locate(path).map_or(true, |at| !at.is_within(purged));
    let metadata = table.metadata();
    let mut referenced: Vec<String> =
        table.metadata_location().into_iter().map(str::to_owned).collect();
    referenced.extend(metadata.metadata_log().iter().map(|log| log.metadata_file.clone()));
    referenced.extend(metadata.statistics_iter().map(|file| file.statistics_path.clone()));
    referenced
        .extend(metadata.partition_statistics_iter().map(|file| file.statistics_path.clone()));
    let mut left: Vec<String> = referenced.into_iter().filter(|path| outside(path)).collect();
    let mut manifests_read = HashSet::new();
    for snapshot in metadata.snapshots() {
        let list_path = snapshot.manifest_list();
        if list_path.is_empty() {
            continue;
        }
        if outside(list_path) {
            left.push(list_path.to_owned());
            continue;
        }
        let list = match table.manifest_list_reader(snapshot).load().await {
            Ok(list) => list,
            Err(err) => {
                tracing::warn!(table = %ident, manifest_list = list_path, error = %err, "purge: cannot read a manifest list");
                continue;
            }
        };
        for manifest_file in list.entries() {
            let path = &manifest_file.manifest_path;
            if outside(path) {
                left.push(path.clone());
                continue;
            }
            if !manifests_read.insert(path.clone()) {
                continue;
            }
            match manifest_file.load_manifest(table.file_io()).await {
                Ok(manifest) => left.extend(
                    manifest
                        .entries()
                        .iter()
                        .map(|entry| entry.file_path())
                        .filter(|path| outside(path))
                        .map(str::to_owned),
                ),
                Err(err) => {
                    tracing::warn!(table = %ident, manifest = path, error = %err, "purge: cannot read a manifest");
                }
            }
        }
    }
    left.sort();
    left.dedup();
    if !left.is_empty() {
        const SHOWN: usize = 20;
        tracing::warn!(
            table = %ident,
            location = metadata.location(),
            count = left.len(),
            files = ?&left[..left.len().min(SHOWN)],
            "purge leaves the files the table references outside its location"
        );
    }
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

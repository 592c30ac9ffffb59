//! `/v1/namespaces...`: list, create, load, exists, drop, properties.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use iceberg_catalog_rest::{
    CreateNamespaceRequest, ListNamespaceResponse, NamespaceResponse,
    UpdateNamespacePropertiesRequest, UpdateNamespacePropertiesResponse,
};
use serde::Deserialize;

use crate::CatalogService;
use crate::locations::NAMESPACE_LOCATION_PROPERTY;
use crate::names::{check_namespace, parse_namespace};
use crate::rest_error::RestError;

/// A namespace's `location` is where its tables go by default: it must be in the warehouse.
fn check_location_property(
    service: &CatalogService,
    properties: &HashMap<String, String>,
) -> Result<(), RestError> {
    if let Some(location) = properties.get(NAMESPACE_LOCATION_PROPERTY) {
        service.warehouse.check("namespace location", location)?;
    }
    Ok(())
}

/// The SQL catalog's marker property; removing it would make the namespace vanish.
const EXISTS_MARKER: &str = "exists";

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    parent: Option<String>,
}

pub async fn list(
    State(service): State<Arc<CatalogService>>,
    Query(query): Query<ListQuery>,
) -> Result<Json<ListNamespaceResponse>, RestError> {
    let parent = query.parent.as_deref().map(parse_namespace).transpose()?;
    let namespaces = service.catalog.list_namespaces(parent.as_ref()).await?;
    Ok(Json(ListNamespaceResponse { namespaces, next_page_token: None }))
}

pub async fn create(
    State(service): State<Arc<CatalogService>>,
    Json(request): Json<CreateNamespaceRequest>,
) -> Result<Json<NamespaceResponse>, RestError> {
    check_namespace(&request.namespace)?;
    check_location_property(&service, &request.properties)?;
    let namespace =
        service.catalog.create_namespace(&request.namespace, request.properties).await?;
    Ok(Json(response(&namespace)))
}

pub async fn load(
    State(service): State<Arc<CatalogService>>,
    Path(namespace): Path<String>,
) -> Result<Json<NamespaceResponse>, RestError> {
    let namespace = parse_namespace(&namespace)?;
    let namespace = service.catalog.get_namespace(&namespace).await?;
    Ok(Json(response(&namespace)))
}

pub async fn exists(
    State(service): State<Arc<CatalogService>>,
    Path(namespace): Path<String>,
) -> Result<StatusCode, RestError> {
    let namespace = parse_namespace(&namespace)?;
    Ok(if service.catalog.namespace_exists(&namespace).await? {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::NOT_FOUND
    })
}

pub async fn drop(
    State(service): State<Arc<CatalogService>>,
    Path(namespace): Path<String>,
) -> Result<StatusCode, RestError> {
    let namespace = parse_namespace(&namespace)?;
    if !service.catalog.namespace_exists(&namespace).await? {
        return Err(RestError::no_such_namespace(namespace.join(".")));
    }
    let tables = service.catalog.list_tables(&namespace).await?;
    if !tables.is_empty() {
        return Err(RestError::new(
            StatusCode::CONFLICT,
            "NamespaceNotEmptyException",
            format!("Namespace {} is not empty: {} tables", namespace.join("."), tables.len()),
        ));
    }
    service.catalog.drop_namespace(&namespace).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn update_properties(
    State(service): State<Arc<CatalogService>>,
    Path(namespace): Path<String>,
    Json(request): Json<UpdateNamespacePropertiesRequest>,
) -> Result<Json<UpdateNamespacePropertiesResponse>, RestError> {
    let namespace = parse_namespace(&namespace)?;
    let removals = request.removals.unwrap_or_default();
    if let Some(key) = removals.iter().find(|key| request.updates.contains_key(*key)) {
        return Err(RestError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "UnprocessableEntityException",
            format!("property {key:?} is both updated and removed"),
        ));
    }
    check_location_property(&service, &request.updates)?;
    if !service.catalog.namespace_exists(&namespace).await? {
        return Err(RestError::no_such_namespace(namespace.join(".")));
    }
    let updated: Vec<String> = request.updates.keys().cloned().collect();
    if !request.updates.is_empty() {
        service.catalog.update_namespace(&namespace, request.updates).await?;
    }
    let removable: Vec<String> =
        removals.iter().filter(|key| key.as_str() != EXISTS_MARKER).cloned().collect();
    let removed = service
        .store
        .remove_namespace_properties(&namespace.join("."), &removable)
        .await
        .map_err(|err| RestError::internal(format!("removing namespace properties: {err}")))?;
    let missing: Vec<String> = removals.into_iter().filter(|key| !removed.contains(key)).collect();
    Ok(Json(UpdateNamespacePropertiesResponse {
        updated,
        removed,
        missing: (!missing.is_empty()).then_some(missing),
    }))
}

fn response(namespace: &iceberg::Namespace) -> NamespaceResponse {
    let properties: HashMap<String, String> = namespace
        .properties()
        .iter()
        .filter(|(key, _)| key.as_str() != EXISTS_MARKER)
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect();
    NamespaceResponse { namespace: namespace.name().clone(), properties }
}

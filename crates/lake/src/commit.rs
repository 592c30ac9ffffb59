//! Commits of table updates that no upstream transaction action produces (compaction's `replace`
//! snapshot). iceberg 0.10.1 keeps `TableCommit`'s builder and `TransactionAction` crate-private,
//! so a `Catalog` cannot be handed arbitrary updates. So:
//! - for the SQL catalog this module does what `SqlCatalog::update_table` does: check the
//!   requirements against the table as it is now, apply the updates, write the next metadata
//!   file and swap the table's pointer with a compare-and-set on its current metadata location
//!   (the same row PyIceberg's SqlCatalog reads);
//! - for a REST catalog it sends the commit request (`POST .../tables/{table}` with requirements
//!   and updates) the way `RestCatalog::update_table` does: same config, prefix, token and
//!   headers; the server checks the requirements and answers 409 when they fail.
//!
//! Like [`crate::pinned::commit_pinned`], a conflict is never retried here: it comes back to the
//! caller, who must re-plan against the new table.

use std::str::FromStr;
use std::time::Duration;

use std::collections::HashMap;

use http::StatusCode;
use iceberg::table::Table;
use iceberg::{MetadataLocation, Runtime, TableIdent, TableRequirement, TableUpdate};
use iceberg_catalog_rest::CommitTableRequest;
use reqwest::Url;
use sqlx::Sqlite;
use sqlx::pool::PoolConnection;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};

use crate::pinned::Attempt;
use crate::settings::{CatalogKind, Secret};
use crate::{Error, IcebergContext, Lake, Result};

/// Commits `updates` to `table` if every requirement still holds on the catalog's current
/// version of it.
pub async fn commit_updates(
    lake: &Lake,
    table: &Table,
    requirements: Vec<TableRequirement>,
    updates: Vec<TableUpdate>,
) -> Result<Attempt> {
    commit(lake, table, requirements, updates, Pin::Requirements).await
}

/// Commits `updates` to `table` only if the catalog still points at exactly this version of it
/// (any other commit, even one that changed only a property or the schema, is a conflict); the
/// requirements are checked as well.
pub async fn commit_updates_exact(
    lake: &Lake,
    table: &Table,
    requirements: Vec<TableRequirement>,
    updates: Vec<TableUpdate>,
) -> Result<Attempt> {
    commit(lake, table, requirements, updates, Pin::Exact).await
}

/// What a commit must find in the catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pin {
    /// The requirements hold on whatever version is current (a REST commit, a replace).
    Requirements,
    /// The version the caller loaded is still current.
    Exact,
}

async fn commit(
    lake: &Lake,
    table: &Table,
    requirements: Vec<TableRequirement>,
    updates: Vec<TableUpdate>,
    pin: Pin,
) -> Result<Attempt> {
    let ident = table.identifier().clone();
    let url = match &lake.config.catalog {
        CatalogKind::Sql { url, .. } => url.clone(),
        CatalogKind::Rest { uri, token, credential } => {
            // The server checks the requirements against its current version.
            let rest =
                RestTarget { lake, uri, token: token.as_ref(), credential: credential.as_ref() };
            return rest.commit(&ident, requirements, updates).await;
        }
    };
    let sql_error = |source| Error::Catalog {
        context: format!("updating {ident} in the SQL catalog {}", lake.config.catalog_display()),
        source,
    };
    let mut row = CatalogRow::open(lake, &url, &ident).await.map_err(sql_error)?;

    // The version the catalog points at: the caller's table when it still is (no metadata file
    // read again), else loaded.
    let location = row.location().await.map_err(sql_error)?;
    let current = match location {
        Some(location) if table.metadata_location() == Some(location.as_str()) => table.clone(),
        _ if pin == Pin::Exact => return Ok(Attempt::Conflict),
        _ => lake.catalog.load_table(&ident).await.context(|| format!("reloading {ident}"))?,
    };
    if requirements.iter().any(|r| r.check(Some(current.metadata())).is_err()) {
        return Ok(Attempt::Conflict);
    }
    let location = current
        .metadata_location_result()
        .context(|| format!("the metadata location of {ident}"))?
        .to_owned();
    let mut builder = current.metadata().clone().into_builder(Some(location.clone()));
    for update in updates {
        builder = update.apply(builder).context(|| format!("applying an update to {ident}"))?;
    }
    let metadata =
        builder.build().context(|| format!("building the metadata of {ident}"))?.metadata;
    let next = MetadataLocation::from_str(&location)
        .context(|| format!("parsing the metadata location {location}"))?
        .with_next_version()
        .with_new_metadata(&metadata);
    let next_text = next.to_string();
    metadata
        .write_to(current.file_io(), &next)
        .await
        .context(|| format!("writing the metadata file {next_text}"))?;

    let swapped = row.swap(&location, &next_text).await.map_err(sql_error)?;
    if !swapped {
        // Nobody references the file we wrote; don't leave it for orphan removal.
        if let Err(err) = current.file_io().delete(&next_text).await {
            tracing::debug!(error = %err, file = next_text, "removing an unused metadata file");
        }
        return Ok(Attempt::Conflict);
    }
    // Committed: the table as readers now load it, built from what was just written.
    let committed = Table::builder()
        .file_io(current.file_io().clone())
        .identifier(ident.clone())
        .metadata_location(next_text)
        .metadata(metadata)
        .runtime(Runtime::try_current().context(|| format!("the runtime for {ident}"))?)
        .build()
        .context(|| format!("the committed version of {ident}"))?;
    crate::metadata_files::delete_dropped(lake, &current, &committed).await;
    Ok(Attempt::Committed(Box::new(committed)))
}

/// The metadata file the SQL catalog at `url` points `ident` at; `None` when the table is not
/// there.
pub(crate) async fn sql_location(
    lake: &Lake,
    url: &str,
    ident: &TableIdent,
) -> Result<Option<String>, sqlx::Error> {
    CatalogRow::open(lake, url, ident).await?.location().await
}

/// Connections the catalog row is read and set through at once, at most: ingest's commits,
/// background maintenance's and the aggregator's, each holding one for the length of a commit.
const CATALOG_ROW_CONNECTIONS: u32 = 4;

/// A table's row in the SQL catalog (the same row PyIceberg's SqlCatalog reads), over one
/// connection (from the lake's pool) for the read and the compare-and-set of one commit.
struct CatalogRow<'a> {
    connection: PoolConnection<Sqlite>,
    catalog_name: &'a str,
    ident: &'a TableIdent,
}

impl<'a> CatalogRow<'a> {
    async fn open(lake: &'a Lake, url: &str, ident: &'a TableIdent) -> Result<Self, sqlx::Error> {
        let pool = match lake.catalog_rows.get() {
            Some(pool) => pool,
            None => {
                let options =
                    SqliteConnectOptions::from_str(url)?.busy_timeout(Duration::from_secs(30));
                lake.catalog_rows.get_or_init(|| {
                    SqlitePoolOptions::new()
                        .max_connections(CATALOG_ROW_CONNECTIONS)
                        .connect_lazy_with(options)
                })
            }
        };
        let connection = pool.acquire().await?;
        Ok(Self { connection, catalog_name: &lake.config.catalog_name, ident })
    }

    /// The metadata file the row points at; `None` when the table is not there.
    async fn location(&mut self) -> Result<Option<String>, sqlx::Error> {
        sqlx::query_scalar(
            "SELECT metadata_location FROM iceberg_tables
              WHERE catalog_name = ? AND table_namespace = ? AND table_name = ?
                AND (iceberg_type = 'TABLE' OR iceberg_type IS NULL)",
        )
        .bind(self.catalog_name)
        .bind(self.ident.namespace().join("."))
        .bind(self.ident.name())
        .fetch_optional(&mut *self.connection)
        .await
    }

    /// Points the row at `next` if it still points at `current`; false when another commit
    /// came first.
    async fn swap(mut self, current: &str, next: &str) -> Result<bool, sqlx::Error> {
        let result = sqlx::query(
            "UPDATE iceberg_tables
                SET metadata_location = ?, previous_metadata_location = ?
              WHERE catalog_name = ? AND table_namespace = ? AND table_name = ?
                AND (iceberg_type = 'TABLE' OR iceberg_type IS NULL)
                AND metadata_location = ?",
        )
        .bind(next)
        .bind(current)
        .bind(self.catalog_name)
        .bind(self.ident.namespace().join("."))
        .bind(self.ident.name())
        .bind(current)
        .execute(&mut *self.connection)
        .await?;
        Ok(result.rows_affected() == 1)
    }
}

/// A REST catalog to send one commit to.
struct RestTarget<'a> {
    lake: &'a Lake,
    uri: &'a str,
    token: Option<&'a Secret>,
    credential: Option<&'a Secret>,
}

impl RestTarget<'_> {
    async fn commit(
        &self,
        ident: &TableIdent,
        requirements: Vec<TableRequirement>,
        updates: Vec<TableUpdate>,
    ) -> Result<Attempt> {
        let error = |reason: String| Error::RestCommit {
            table: ident.to_string(),
            uri: self.uri.to_owned(),
            reason,
        };
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| error(format!("building the HTTP client: {e}")))?;
        // The client's properties as `open_lake` gives them to the REST client.
        let mut props =
            HashMap::from([("warehouse".to_owned(), self.lake.config.warehouse.clone())]);
        props.extend(self.lake.config.catalog_props().iter().map(|(k, v)| (k.clone(), v.clone())));
        let bearer = match (self.token, self.credential) {
            (Some(token), _) => Some(token.expose().to_owned()),
            (None, Some(credential)) => Some(self.fetch_token(&http, &props, credential).await?),
            (None, None) => None,
        };
        let headers = |request: reqwest::RequestBuilder| {
            let mut request = request.header("x-client-version", "0.14.1");
            for (name, value) in
                props.iter().filter_map(|(k, v)| k.strip_prefix("header.").map(|k| (k, v)))
            {
                request = request.header(name, value);
            }
            match &bearer {
                Some(token) => request.bearer_auth(token),
                None => request,
            }
        };

        // GET /v1/config: the server's defaults and overrides (prefix, uri).
        let mut config_url = Url::parse(&format!("{}/v1/config", self.uri))
            .map_err(|e| error(format!("{e} in CATALOG_URI")))?;
        config_url.query_pairs_mut().append_pair("warehouse", &props["warehouse"]);
        let (status, body) = send(headers(http.get(config_url))).await.map_err(&error)?;
        if status != StatusCode::OK {
            return Err(error(format!("GET /v1/config answered {status}: {body}")));
        }
        let config: serde_json::Value = serde_json::from_str(&body)
            .map_err(|e| error(format!("GET /v1/config answered no JSON ({e}): {body}")))?;
        let setting = |key: &str| {
            config["overrides"][key]
                .as_str()
                .or_else(|| props.get(key).map(String::as_str))
                .or_else(|| config["defaults"][key].as_str())
                .map(str::to_owned)
        };
        let base = setting("uri").unwrap_or_else(|| self.uri.to_owned());
        let mut path = vec![base.trim_end_matches('/').to_owned(), "v1".to_owned()];
        path.extend(setting("prefix").filter(|p| !p.is_empty()));
        path.extend([
            "namespaces".to_owned(),
            ident.namespace().to_url_string(),
            "tables".to_owned(),
            ident.name().to_owned(),
        ]);
        let request = CommitTableRequest { identifier: Some(ident.clone()), requirements, updates };
        let body = serde_json::to_vec(&request)
            .map_err(|e| error(format!("encoding the commit request: {e}")))?;
        let (status, answer) = send(
            headers(http.post(path.join("/")))
                .header(http::header::CONTENT_TYPE, "application/json")
                .body(body),
        )
        .await
        .map_err(&error)?;
        match status {
            StatusCode::OK => {
                let committed = self
                    .lake
                    .catalog
                    .load_table(ident)
                    .await
                    .context(|| format!("reloading {ident}"))?;
                Ok(Attempt::Committed(Box::new(committed)))
            }
            StatusCode::CONFLICT => Ok(Attempt::Conflict),
            _ => Err(error(format!("the catalog answered {status}: {answer}"))),
        }
    }

    /// Exchanges CATALOG_CREDENTIAL for a token (OAuth2 client credentials), like the REST
    /// client does.
    async fn fetch_token(
        &self,
        http: &reqwest::Client,
        props: &HashMap<String, String>,
        credential: &Secret,
    ) -> Result<String> {
        let error = |reason: String| Error::RestCommit {
            table: String::new(),
            uri: self.uri.to_owned(),
            reason: format!("getting a token for CATALOG_CREDENTIAL: {reason}"),
        };
        let endpoint = props
            .get("oauth2-server-uri")
            .cloned()
            .unwrap_or_else(|| format!("{}/v1/oauth/tokens", self.uri));
        let (id, secret) = match credential.expose().split_once(':') {
            Some((id, secret)) => (Some(id), secret),
            None => (None, credential.expose()),
        };
        // Url's query serializer is the form encoding; it saves a reqwest feature.
        let mut form = Url::parse("http://form.invalid/").map_err(|e| error(e.to_string()))?;
        {
            let mut pairs = form.query_pairs_mut();
            pairs.append_pair("grant_type", "client_credentials");
            if let Some(id) = id {
                pairs.append_pair("client_id", id);
            }
            pairs.append_pair("client_secret", secret);
            pairs.append_pair("scope", props.get("scope").map_or("catalog", String::as_str));
            for key in ["audience", "resource"] {
                if let Some(value) = props.get(key) {
                    pairs.append_pair(key, value);
                }
            }
        }
        let (status, body) = send(
            http.post(&endpoint)
                .header(http::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(form.query().unwrap_or_default().to_owned()),
        )
        .await
        .map_err(error)?;
        let answer: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        match answer["access_token"].as_str() {
            Some(token) if status == StatusCode::OK => Ok(token.to_owned()),
            _ => Err(error(format!("{endpoint} answered {status}: {body}"))),
        }
    }
}

async fn send(request: reqwest::RequestBuilder) -> Result<(StatusCode, String), String> {
    let response = request.send().await.map_err(|e| format!("cannot reach the catalog: {e}"))?;
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    Ok((status, body))
}

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use iceberg::io::ObjectCache;
use iceberg::table::Table;
use iceberg::{Catalog, CatalogBuilder, ErrorKind, NamespaceIdent, TableIdent};
use iceberg_catalog_rest::RestCatalogBuilder;
use iceberg_catalog_sql::{SqlBindStyle, SqlCatalogBuilder};

use crate::settings::{CatalogKind, LakeConfig, Storage};
use crate::storage::LakeStorageFactory;
use crate::{Error, IcebergContext, Result};

/// An open catalog with the settings it came from.
#[derive(Clone)]
pub struct Lake {
    pub config: LakeConfig,
    pub catalog: Arc<dyn Catalog>,
    /// Manifests and manifest lists that queries read, shared by the tables this process loads
    /// ([`Lake::for_reading`]).
    read_cache: Arc<OnceLock<Arc<ObjectCache>>>,
    /// Connections to the SQL catalog for the catalog row's reads and compare-and-sets
    /// (`crate::commit`), kept open between commits: sqlx runs each SQLite connection on a
    /// thread of its own, so a connection per commit made and ended a thread per commit.
    pub(crate) catalog_rows: Arc<OnceLock<sqlx::SqlitePool>>,
}

/// What the shared read cache may hold (estimated decoded size): the manifests of a few
/// hundred commits of every table.
const READ_CACHE_BYTES: u64 = 64 * 1024 * 1024;

/// What the process's cache of decoded Parquet footers may hold (estimated), once it reads
/// for queries: the files of a few hours of `up`'s commits. Off in a process that does not
/// (ingest and its compactions read a file once), so that ingest's memory stays its own.
const FOOTER_CACHE_BYTES: u64 = 32 * 1024 * 1024;

impl std::fmt::Debug for Lake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lake").field("config", &self.config).finish_non_exhaustive()
    }
}

/// Opens the configured catalog. For the embedded SQL catalog this creates the database file
/// (and its directory) on first use; the warehouse directory is created by `setup`.
pub async fn open_lake(config: LakeConfig) -> Result<Lake> {
    // Every storage scheme goes through one resolving factory: fixed factories silently write
    // s3:// or memory:// locations to odd local paths.
    let storage = Arc::new(LakeStorageFactory::new());
    let mut props: HashMap<String, String> = config.file_io_props().clone();
    let catalog: Arc<dyn Catalog> = match &config.catalog {
        CatalogKind::Sql { path, url } => {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(|source| Error::Io {
                    context: format!("creating the catalog's directory {}", dir.display()),
                    source,
                })?;
            }
            let catalog = SqlCatalogBuilder::default()
                .uri(url)
                .warehouse_location(&config.warehouse)
                .sql_bind_style(SqlBindStyle::QMark)
                .with_storage_factory(storage)
                .load(&config.catalog_name, props)
                .await
                .map_err(|source| Error::OpenCatalog {
                    kind: "SQL",
                    uri: config.catalog_display(),
                    source: Box::new(source),
                })?;
            Arc::new(catalog)
        }
        CatalogKind::Rest { uri, token, credential } => {
            props.insert("uri".into(), uri.clone());
            props.insert("warehouse".into(), config.warehouse.clone());
            if let Some(token) = token {
                props.insert("token".into(), token.expose().to_owned());
            }
            if let Some(credential) = credential {
                props.insert("credential".into(), credential.expose().to_owned());
            }
            // The user's CATALOG_PROPERTIES last, so they can override any of the above (a
            // catalog such as Polaris names its warehouse, not an s3:// location).
            props.extend(config.catalog_props().iter().map(|(k, v)| (k.clone(), v.clone())));
            let catalog = RestCatalogBuilder::default()
                .with_storage_factory(storage)
                .load(&config.catalog_name, props)
                .await
                .map_err(|source| Error::OpenCatalog {
                    kind: "REST",
                    uri: uri.clone(),
                    source: Box::new(source),
                })?;
            Arc::new(catalog)
        }
    };
    Ok(Lake { config, catalog, read_cache: Arc::default(), catalog_rows: Arc::default() })
}

impl Lake {
    pub fn namespace(&self) -> NamespaceIdent {
        NamespaceIdent::new(self.config.namespace.clone())
    }

    pub fn ident(&self, table: &str) -> TableIdent {
        TableIdent::new(self.namespace(), table.to_owned())
    }

    /// `table`, reading its manifests through a cache that every table this process loaded
    /// from the lake shares, so that a process that queries again and again (the dashboard, the
    /// aggregator) decodes each manifest once instead of on every query: manifests are
    /// immutable and cached by path, so a newer version of the table reads only its new ones.
    /// Only for the SQL catalog: a REST catalog may give each table its own credentials, and
    /// the cache reads with those of the first table. Either way the process from now on keeps
    /// the decoded footers of the data files it reads (immutable too, cached by path and size).
    pub fn for_reading(&self, table: Table) -> Table {
        iceberg::arrow::cache_parquet_footers(FOOTER_CACHE_BYTES);
        if !matches!(self.config.catalog, CatalogKind::Sql { .. }) {
            return table;
        }
        let cache = self.read_cache.get_or_init(|| {
            Arc::new(ObjectCache::new_with_capacity(
                table.file_io().clone(),
                READ_CACHE_BYTES,
                None,
            ))
        });
        table.with_object_cache(Arc::clone(cache))
    }

    /// Loads a table, or says to run `setup` when it does not exist.
    pub async fn load_table(&self, table: &str) -> Result<Table> {
        let ident = self.ident(table);
        match self.catalog.load_table(&ident).await {
            Ok(table) => Ok(table),
            Err(err)
                if matches!(
                    err.kind(),
                    ErrorKind::TableNotFound | ErrorKind::NamespaceNotFound
                ) =>
            {
                Err(Error::MissingTable {
                    table: ident.to_string(),
                    catalog: self.config.catalog_display(),
                })
            }
            Err(err) => Err(err).context(|| format!("loading table {ident}")),
        }
    }

    /// `kept` (a version of a table this process loaded or committed) as the catalog has the
    /// table now: `kept` itself while the SQL catalog still points at its metadata file, so a
    /// process that looks at the same tables every few seconds (the aggregator) reads one
    /// catalog row instead of parsing a metadata file that grows with the table's snapshots.
    /// Anything else (another writer's commit, a REST catalog) loads the table.
    pub async fn reload(&self, kept: &Table) -> Result<Table> {
        if let CatalogKind::Sql { url, .. } = &self.config.catalog {
            let ident = kept.identifier();
            let location =
                crate::commit::sql_location(self, url, ident).await.map_err(|source| {
                    Error::Catalog {
                        context: format!(
                            "reading where {ident} is in the SQL catalog {}",
                            self.config.catalog_display()
                        ),
                        source,
                    }
                })?;
            if location.is_some() && location.as_deref() == kept.metadata_location() {
                return Ok(kept.clone());
            }
        }
        self.load_table(kept.identifier().name()).await
    }

    /// Whether a pinned commit ([`crate::pinned::commit_pinned`]) fails when any other commit
    /// came first, so a table kept from an earlier commit can be committed on without loading it
    /// again: through the SQL catalog it does; a REST catalog checks only the commit's
    /// requirements (a schema changed by another engine would pass them).
    pub fn pins_exact_versions(&self) -> bool {
        matches!(self.config.catalog, crate::CatalogKind::Sql { .. })
    }

    /// The local warehouse directory, when the warehouse is local.
    pub fn local_warehouse(&self) -> Option<&std::path::Path> {
        match &self.config.storage {
            Storage::Local { path } => Some(path),
            Storage::S3 { .. } => None,
        }
    }
}

/// The versions of tables a process last loaded or committed, so that loading one again costs
/// a catalog row while nothing else has committed to it ([`Lake::reload`]). Clones share them:
/// a writer offers what it committed to every reader in its process.
#[derive(Debug, Clone, Default)]
pub struct KeptTables {
    tables: Arc<Mutex<HashMap<String, Table>>>,
}

impl KeptTables {
    /// `name` as the catalog has it now.
    pub async fn load(&self, lake: &Lake, name: &str) -> Result<Table> {
        let kept = self.lock().get(name).cloned();
        let table = match kept {
            Some(kept) => lake.reload(&kept).await?,
            None => lake.load_table(name).await?,
        };
        self.lock().insert(name.to_owned(), table.clone());
        Ok(table)
    }

    /// A version this process knows of without loading it: its own commit, or another
    /// component's in the same process. [`KeptTables::load`] still checks it is the catalog's.
    pub fn offer(&self, table: Table) {
        self.lock().insert(table.identifier().name().to_owned(), table);
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Table>> {
        // Nothing is left half-done under the lock: a kept table is only a shortcut.
        self.tables.lock().unwrap_or_else(|e| e.into_inner())
    }
}

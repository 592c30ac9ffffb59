//! `bidlake query`: SQL over the catalog's tables with DataFusion, read-only.
//!
//! Every table of every namespace is registered once per session, pinned to one snapshot (the
//! current one, or the one of a time-travel request), so a query sees each table as of one
//! moment however long it runs. Scans go through iceberg-datafusion, which hands the query's
//! filters to the Iceberg scan planner: partitions and files that cannot match are skipped;
//! `table` wraps it so that counting rows reads little or nothing.

mod error;
mod examples;
mod metadata_tables;
mod output;
mod partition_values;
mod scan;
mod table;

use std::sync::Arc;

use datafusion::catalog::{
    CatalogProvider, MemoryCatalogProvider, MemorySchemaProvider, SchemaProvider,
};
use datafusion::prelude::SessionConfig;
use iceberg::table::Table;
use iceberg_datafusion::IcebergStaticTableProvider;

use bidlake_lake::{IcebergContext, Lake};

use crate::metadata_tables::{Kind, MetadataTable};
use crate::table::PinnedTable;

pub use datafusion::arrow::datatypes::{Schema, SchemaRef};
pub use datafusion::arrow::ipc::writer::StreamWriter;
pub use datafusion::arrow::record_batch::RecordBatch;
pub use datafusion::prelude::SessionContext;
pub use error::{Error, Result};
pub use examples::{EXAMPLES, Example, example};
pub use output::{Format, write_batches};

/// Which version of the tables a session reads.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum TimeTravel {
    #[default]
    Current,
    /// A snapshot id; only tables that have this snapshot can be read.
    Snapshot(i64),
    /// The snapshot each table had at this time (milliseconds since the epoch).
    AsOf(i64),
}

/// How a session reads: which version of the tables, on how many threads.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reading {
    pub at: TimeTravel,
    /// Partitions a scan is split into and operators run on; `None` for one per core.
    pub threads: Option<usize>,
}

/// A DataFusion session over the lake: tables as `namespace.table` (and
/// `catalog.namespace.table`), the configured namespace as the default schema.
pub async fn session(lake: &Lake, reading: Reading) -> Result<SessionContext> {
    let config = &lake.config;
    let at = reading.at;
    let mut session_config = SessionConfig::new()
        .with_default_catalog_and_schema(&config.catalog_name, &config.namespace)
        .with_information_schema(true);
    if let Some(threads) = reading.threads {
        session_config = session_config.with_target_partitions(threads.max(1));
    }
    let ctx = SessionContext::new_with_config(session_config);

    let catalog = MemoryCatalogProvider::new();
    let namespaces = lake
        .catalog
        .list_namespaces(None)
        .await
        .context(|| format!("listing the namespaces of {}", config.catalog_display()))?;
    let mut matched_snapshot = false;
    for namespace in namespaces {
        let schema = MemorySchemaProvider::new();
        let tables = lake
            .catalog
            .list_tables(&namespace)
            .await
            .context(|| format!("listing the tables of {}", namespace.join(".")))?;
        for ident in tables {
            let table = lake
                .catalog
                .load_table(&ident)
                .await
                .context(|| format!("loading table {ident}"))?;
            let table = lake.for_reading(table);
            let Some((provider, snapshot_id)) = provider(table.clone(), at).await? else {
                continue;
            };
            matched_snapshot = true;
            schema
                .register_table(ident.name().to_owned(), Arc::new(provider))
                .map_err(|source| Error::datafusion(format!("registering {ident}"), source))?;
            for kind in Kind::ALL {
                let name = format!("{}${}", ident.name(), kind.suffix());
                let metadata = MetadataTable::new(table.clone(), snapshot_id, kind)
                    .map_err(|source| Error::datafusion(format!("registering {name}"), source))?;
                schema
                    .register_table(name.clone(), Arc::new(metadata))
                    .map_err(|source| Error::datafusion(format!("registering {name}"), source))?;
            }
        }
        catalog
            .register_schema(&namespace.join("."), Arc::new(schema))
            .map_err(|source| Error::datafusion("registering a namespace".into(), source))?;
    }
    if let TimeTravel::Snapshot(id) = at
        && !matched_snapshot
    {
        return Err(Error::NoSuchSnapshot(id));
    }
    ctx.register_catalog(&config.catalog_name, Arc::new(catalog));
    Ok(ctx)
}

/// A session over `tables` exactly as loaded (each pinned to its current snapshot), named by
/// their names in the default namespace: for a writer that must know which version of each table
/// its query read (`bidlake aggregate` records them with its result).
pub async fn session_over(
    lake: &Lake,
    tables: &[Table],
    threads: Option<usize>,
) -> Result<SessionContext> {
    let config = &lake.config;
    let mut session_config = SessionConfig::new()
        .with_default_catalog_and_schema(&config.catalog_name, &config.namespace);
    if let Some(threads) = threads {
        session_config = session_config.with_target_partitions(threads.max(1));
    }
    let ctx = SessionContext::new_with_config(session_config);
    let schema = MemorySchemaProvider::new();
    for table in tables {
        let ident = table.identifier().clone();
        if let Some((provider, _)) =
            provider(lake.for_reading(table.clone()), TimeTravel::Current).await?
        {
            schema
                .register_table(ident.name().to_owned(), Arc::new(provider))
                .map_err(|source| Error::datafusion(format!("registering {ident}"), source))?;
        }
    }
    let catalog = MemoryCatalogProvider::new();
    catalog
        .register_schema(&config.namespace, Arc::new(schema))
        .map_err(|source| Error::datafusion("registering a namespace".into(), source))?;
    ctx.register_catalog(&config.catalog_name, Arc::new(catalog));
    Ok(ctx)
}

/// The table as `at` asks for it; `None` when it does not exist at that point (a snapshot id
/// of another table, or a time before the table's first commit).
async fn provider(table: Table, at: TimeTravel) -> Result<Option<(PinnedTable, Option<i64>)>> {
    let ident = table.identifier().clone();
    let snapshot = match at {
        TimeTravel::Current => None,
        TimeTravel::Snapshot(id) => match table.metadata().snapshot_by_id(id) {
            Some(_) => Some(id),
            None => return Ok(None),
        },
        TimeTravel::AsOf(ms) => {
            // The last snapshot committed at or before `ms`, following the main branch.
            let mut snapshot = table.metadata().current_snapshot();
            while let Some(s) = snapshot
                && s.timestamp_ms() > ms
            {
                snapshot =
                    s.parent_snapshot_id().and_then(|id| table.metadata().snapshot_by_id(id));
            }
            match snapshot {
                Some(s) => Some(s.snapshot_id()),
                None => return Ok(None),
            }
        }
    };
    let metadata = table.metadata_ref();
    let pinned = match snapshot {
        None => metadata.current_snapshot(),
        Some(id) => metadata.snapshot_by_id(id),
    };
    let provider = match snapshot {
        None => IcebergStaticTableProvider::try_new_from_table(table).await,
        Some(id) => IcebergStaticTableProvider::try_new_from_table_snapshot(table, id).await,
    };
    let provider = provider.context(|| format!("opening {ident} for reading"))?;
    let pinned_id = pinned.map(|s| s.snapshot_id());
    // Columns whose values the manifests hold: a scan reading only them opens no file.
    let schema = metadata.current_schema();
    let partition_columns = metadata
        .default_partition_spec()
        .fields()
        .iter()
        .filter(|f| f.transform == iceberg::spec::Transform::Identity)
        .filter_map(|f| schema.name_by_field_id(f.source_id).map(str::to_owned))
        .collect();
    let table = PinnedTable::new(provider, pinned.map(|s| s.as_ref()), partition_columns);
    Ok(Some((table, pinned_id)))
}

/// A result cut at a number of rows.
#[derive(Debug)]
pub struct Limited {
    pub schema: datafusion::arrow::datatypes::SchemaRef,
    pub batches: Vec<RecordBatch>,
    /// More rows would have followed.
    pub truncated: bool,
}

/// Runs one read-only statement (as [`run`]) and keeps at most `max_rows` rows: once they are
/// in, the rest of the plan is dropped, which stops it, so a huge result costs no more than its
/// first rows.
pub async fn run_limited(ctx: &SessionContext, sql: &str, max_rows: usize) -> Result<Limited> {
    use futures::StreamExt;
    let options = datafusion::execution::context::SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false);
    let frame = ctx.sql_with_options(sql, options).await.map_err(Error::from_sql)?;
    let schema = Arc::new(frame.schema().as_arrow().clone());
    let mut stream = frame.execute_stream().await.map_err(Error::from_sql)?;
    let (mut batches, mut rows, mut truncated) = (Vec::new(), 0, false);
    while let Some(batch) = stream.next().await {
        let batch = batch.map_err(Error::from_sql)?;
        let room = max_rows - rows;
        if batch.num_rows() > room {
            batches.push(batch.slice(0, room));
            truncated = true;
            break;
        }
        rows += batch.num_rows();
        batches.push(batch);
        if rows == max_rows {
            // One more row would say whether there is more.
            truncated = stream.next().await.is_some();
            break;
        }
    }
    Ok(Limited { schema, batches, truncated })
}

/// Runs one SQL statement and collects its result. Statements that would change the lake
/// (DDL, DML) are refused: tables change only through `bidlake ingest` and `maintain`.
pub async fn run(ctx: &SessionContext, sql: &str) -> Result<Vec<RecordBatch>> {
    let options = datafusion::execution::context::SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false);
    let frame = ctx.sql_with_options(sql, options).await.map_err(Error::from_sql)?;
    let schema = Arc::new(frame.schema().as_arrow().clone());
    let batches = frame.collect().await.map_err(Error::from_sql)?;
    // No rows still has columns: a table or CSV shows its header.
    if batches.is_empty() {
        return Ok(vec![RecordBatch::new_empty(schema)]);
    }
    Ok(batches)
}

//! Commits of table updates that no upstream transaction action produces (compaction's `replace`
//! snapshot). iceberg 0.10.1 keeps `TableCommit`'s builder and `TransactionAction` crate-private,
//! so a `Catalog` cannot be handed arbitrary updates. For the SQL catalog this module does what
//! `SqlCatalog::update_table` does: check the requirements against the table as it is now, apply
//! the updates, write the next metadata file and swap the table's pointer with a compare-and-set
//! on its current metadata location (the same row PyIceberg's SqlCatalog reads).
//!
//! Like [`crate::pinned::commit_pinned`], a conflict is never retried here: it comes back to the
//! caller, who must re-plan against the new table.

use std::str::FromStr;
use std::time::Duration;

use iceberg::table::Table;
use iceberg::{MetadataLocation, TableRequirement, TableUpdate};
use sqlx::Connection;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};

use crate::pinned::Attempt;
use crate::settings::CatalogKind;
use crate::{Error, IcebergContext, Lake, Result};

/// Commits `updates` to `table` if every requirement still holds on the catalog's current
/// version of it.
pub async fn commit_updates(
    lake: &Lake,
    table: &Table,
    requirements: Vec<TableRequirement>,
    updates: Vec<TableUpdate>,
) -> Result<Attempt> {
    let ident = table.identifier().clone();
    let url = match &lake.config.catalog {
        CatalogKind::Sql { url, .. } => url.clone(),
        CatalogKind::Rest { uri, .. } => {
            return Err(Error::Config(format!(
                "committing a rewritten snapshot of {ident} through the REST catalog {uri} is not \
                 supported yet; run this against the SQL catalog (CATALOG_URI=sqlite://...)"
            )));
        }
    };

    let current = lake.catalog.load_table(&ident).await.context(|| format!("reloading {ident}"))?;
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

    let swapped = swap_pointer(&url, &lake.config.catalog_name, &ident, &location, &next_text)
        .await
        .map_err(|source| Error::Catalog {
            context: format!(
                "updating {ident} in the SQL catalog {}",
                lake.config.catalog_display()
            ),
            source,
        })?;
    if !swapped {
        // Nobody references the file we wrote; don't leave it for orphan removal.
        if let Err(err) = current.file_io().delete(&next_text).await {
            tracing::debug!(error = %err, file = next_text, "removing an unused metadata file");
        }
        return Ok(Attempt::Conflict);
    }
    // Committed; the catalog hands out the table (with its runtime) as readers will see it.
    let committed =
        lake.catalog.load_table(&ident).await.context(|| format!("reloading {ident}"))?;
    Ok(Attempt::Committed(Box::new(committed)))
}

/// Points the table's row at `next` if it still points at `current`; false when another commit
/// came first.
async fn swap_pointer(
    url: &str,
    catalog_name: &str,
    ident: &iceberg::TableIdent,
    current: &str,
    next: &str,
) -> Result<bool, sqlx::Error> {
    let options = SqliteConnectOptions::from_str(url)?.busy_timeout(Duration::from_secs(30));
    let mut connection = SqliteConnection::connect_with(&options).await?;
    let result = sqlx::query(
        "UPDATE iceberg_tables
            SET metadata_location = ?, previous_metadata_location = ?
          WHERE catalog_name = ? AND table_namespace = ? AND table_name = ?
            AND (iceberg_type = 'TABLE' OR iceberg_type IS NULL)
            AND metadata_location = ?",
    )
    .bind(next)
    .bind(current)
    .bind(catalog_name)
    .bind(ident.namespace().join("."))
    .bind(ident.name())
    .bind(current)
    .execute(&mut connection)
    .await?;
    connection.close().await?;
    Ok(result.rows_affected() == 1)
}

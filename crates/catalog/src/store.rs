//! The two writes the `Catalog` trait cannot express, done on the SQL catalog's own tables
//! (the schema iceberg-catalog-sql and PyIceberg's SqlCatalog share):
//! - swapping a table's metadata pointer for a commit whose updates came over the wire, with the
//!   same compare-and-set the SQL catalog uses, so REST commits and in-process commits
//!   (`bidlake ingest` on the same catalog) exclude each other;
//! - removing namespace properties.

use iceberg::TableIdent;
use sqlx::sqlite::SqlitePool;

use crate::{Error, Result};

#[derive(Debug, Clone)]
pub struct SqlStore {
    pool: SqlitePool,
    catalog_name: String,
}

impl SqlStore {
    pub async fn open(url: &str, catalog_name: &str) -> Result<Self> {
        let pool = SqlitePool::connect(url)
            .await
            .map_err(|source| Error::OpenDatabase { url: url.to_owned(), source })?;
        Ok(Self { pool, catalog_name: catalog_name.to_owned() })
    }

    /// Points `table` at `new_location` if it still points at `expected`; false when another
    /// commit won the race.
    pub async fn swap_metadata_location(
        &self,
        table: &TableIdent,
        expected: &str,
        new_location: &str,
    ) -> Result<bool, sqlx::Error> {
        let result = sqlx::query(
            "UPDATE iceberg_tables SET metadata_location = ?, previous_metadata_location = ?
             WHERE catalog_name = ? AND table_namespace = ? AND table_name = ?
               AND (iceberg_type = 'TABLE' OR iceberg_type IS NULL)
               AND metadata_location = ?",
        )
        .bind(new_location)
        .bind(expected)
        .bind(&self.catalog_name)
        .bind(table.namespace().join("."))
        .bind(table.name())
        .bind(expected)
        .execute(&self.pool)
        .await?;
        Ok(result.rows_affected() == 1)
    }

    /// Removes the given properties; returns those that were there.
    pub async fn remove_namespace_properties(
        &self,
        namespace: &str,
        keys: &[String],
    ) -> Result<Vec<String>, sqlx::Error> {
        let mut removed = Vec::new();
        let mut tx = self.pool.begin().await?;
        for key in keys {
            let result = sqlx::query(
                "DELETE FROM iceberg_namespace_properties
                 WHERE catalog_name = ? AND namespace = ? AND property_key = ?",
            )
            .bind(&self.catalog_name)
            .bind(namespace)
            .bind(key)
            .execute(&mut *tx)
            .await?;
            if result.rows_affected() > 0 {
                removed.push(key.clone());
            }
        }
        tx.commit().await?;
        Ok(removed)
    }
}

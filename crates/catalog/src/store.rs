//! What the `Catalog` trait cannot express, done on the SQL catalog's own tables (the schema
//! iceberg-catalog-sql and PyIceberg's SqlCatalog share): removing namespace properties, and
//! listing every table's metadata pointer at once.

use sqlx::sqlite::SqlitePool;

use crate::{Error, Result};

/// A table's row: its namespace (levels joined with `.`), name and current metadata file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TablePointer {
    pub namespace: String,
    pub name: String,
    pub metadata_location: String,
}

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

    /// Every table of this catalog with its current metadata file.
    pub async fn table_pointers(&self) -> Result<Vec<TablePointer>, sqlx::Error> {
        let rows: Vec<(String, String, Option<String>)> = sqlx::query_as(
            "SELECT table_namespace, table_name, metadata_location FROM iceberg_tables
             WHERE catalog_name = ? AND (iceberg_type = 'TABLE' OR iceberg_type IS NULL)",
        )
        .bind(&self.catalog_name)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .filter_map(|(namespace, name, metadata_location)| {
                Some(TablePointer { namespace, name, metadata_location: metadata_location? })
            })
            .collect())
    }
}

//! Commits that never rebase silently. `Transaction::commit` reloads the table and re-applies its
//! actions when the catalog reports a conflict, which is right for a plain append but wrong when
//! the commit's content depends on the table it was planned against (Kafka offsets that fence a
//! stale writer, a compaction's rewritten files). Here the transaction is applied to exactly
//! the table the caller checked, and a conflict comes back to the caller to re-plan.
//!
//! Through the SQL catalog the commit goes through [`crate::commit::commit_updates_exact`] rather than
//! iceberg's `SqlCatalog`, which leaves the metadata file it wrote behind when another commit
//! came first (with maintenance beside ingest, a few an hour) and never deletes the ones that fall
//! out of the log.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;

use crate::commit::commit_updates_exact;
use crate::{CatalogKind, Lake};
use iceberg::table::Table;
use iceberg::transaction::Transaction;
use iceberg::{
    Catalog, ErrorKind, Namespace, NamespaceIdent, Result as IcebergResult, TableCommit,
    TableCreation, TableIdent,
};

/// The result of one commit attempt.
#[derive(Debug)]
pub enum Attempt {
    Committed(Box<Table>),
    /// The table moved on since it was loaded; reload, re-check, re-plan.
    Conflict,
}

/// Commits `tx` (built on `table`) only if the table is still at `table`'s version.
pub async fn commit_pinned(lake: &Lake, table: &Table, tx: Transaction) -> IcebergResult<Attempt> {
    let pinned = PinnedCatalog {
        inner: lake.catalog.clone(),
        lake: Some(lake.clone()),
        table: table.clone(),
        dry_run: false,
    };
    match tx.commit(&pinned).await {
        Ok(table) => Ok(Attempt::Committed(Box::new(table))),
        Err(err) if err.kind() == ErrorKind::CatalogCommitConflicts => Ok(Attempt::Conflict),
        Err(err) => Err(err),
    }
}

/// The table `tx` (built on `table`) would make, without committing or writing anything: what
/// a dry run shows.
pub async fn preview(
    catalog: &Arc<dyn Catalog>,
    table: &Table,
    tx: Transaction,
) -> IcebergResult<Table> {
    let pinned =
        PinnedCatalog { inner: catalog.clone(), lake: None, table: table.clone(), dry_run: true };
    tx.commit(&pinned).await
}

/// A catalog that answers `load_table` with one pinned version and turns commit conflicts into
/// errors that are not retried; in a dry run, commits only compute the resulting table.
#[derive(Debug)]
struct PinnedCatalog {
    inner: Arc<dyn Catalog>,
    /// The lake whose SQL catalog commits go through [`commit_updates_exact`].
    lake: Option<Lake>,
    table: Table,
    dry_run: bool,
}

#[async_trait]
impl Catalog for PinnedCatalog {
    async fn list_namespaces(
        &self,
        parent: Option<&NamespaceIdent>,
    ) -> IcebergResult<Vec<NamespaceIdent>> {
        self.inner.list_namespaces(parent).await
    }
    async fn create_namespace(
        &self,
        namespace: &NamespaceIdent,
        properties: HashMap<String, String>,
    ) -> IcebergResult<Namespace> {
        self.inner.create_namespace(namespace, properties).await
    }
    async fn get_namespace(&self, namespace: &NamespaceIdent) -> IcebergResult<Namespace> {
        self.inner.get_namespace(namespace).await
    }
    async fn namespace_exists(&self, namespace: &NamespaceIdent) -> IcebergResult<bool> {
        self.inner.namespace_exists(namespace).await
    }
    async fn update_namespace(
        &self,
        namespace: &NamespaceIdent,
        properties: HashMap<String, String>,
    ) -> IcebergResult<()> {
        self.inner.update_namespace(namespace, properties).await
    }
    async fn drop_namespace(&self, namespace: &NamespaceIdent) -> IcebergResult<()> {
        self.inner.drop_namespace(namespace).await
    }
    async fn list_tables(&self, namespace: &NamespaceIdent) -> IcebergResult<Vec<TableIdent>> {
        self.inner.list_tables(namespace).await
    }
    async fn create_table(
        &self,
        namespace: &NamespaceIdent,
        creation: TableCreation,
    ) -> IcebergResult<Table> {
        self.inner.create_table(namespace, creation).await
    }
    async fn load_table(&self, table: &TableIdent) -> IcebergResult<Table> {
        if table == self.table.identifier() {
            Ok(self.table.clone())
        } else {
            self.inner.load_table(table).await
        }
    }
    async fn drop_table(&self, table: &TableIdent) -> IcebergResult<()> {
        self.inner.drop_table(table).await
    }
    async fn purge_table(&self, table: &TableIdent) -> IcebergResult<()> {
        self.inner.purge_table(table).await
    }
    async fn table_exists(&self, table: &TableIdent) -> IcebergResult<bool> {
        self.inner.table_exists(table).await
    }
    async fn rename_table(&self, src: &TableIdent, dest: &TableIdent) -> IcebergResult<()> {
        self.inner.rename_table(src, dest).await
    }
    async fn register_table(
        &self,
        table: &TableIdent,
        metadata_location: String,
    ) -> IcebergResult<Table> {
        self.inner.register_table(table, metadata_location).await
    }
    async fn update_table(&self, mut commit: TableCommit) -> IcebergResult<Table> {
        if self.dry_run {
            return commit.apply(self.table.clone());
        }
        if let Some(lake) =
            self.lake.as_ref().filter(|l| matches!(l.config.catalog, CatalogKind::Sql { .. }))
        {
            let (requirements, updates) = (commit.take_requirements(), commit.take_updates());
            return match commit_updates_exact(lake, &self.table, requirements, updates).await {
                Ok(Attempt::Committed(table)) => Ok(*table),
                Ok(Attempt::Conflict) => Err(iceberg::Error::new(
                    ErrorKind::CatalogCommitConflicts,
                    format!("{} changed since it was loaded", self.table.identifier()),
                )
                .with_retryable(false)),
                Err(err) => {
                    let kind = match &err {
                        crate::Error::Iceberg { source, .. } => source.kind(),
                        _ => ErrorKind::Unexpected,
                    };
                    Err(iceberg::Error::new(kind, crate::error_chain(&err)).with_retryable(false))
                }
            };
        }
        self.inner.update_table(commit).await.map_err(|err| {
            // Requirements that fail (another commit came first) are conflicts too.
            if matches!(
                err.kind(),
                ErrorKind::CatalogCommitConflicts | ErrorKind::PreconditionFailed
            ) {
                iceberg::Error::new(ErrorKind::CatalogCommitConflicts, err.to_string())
                    .with_retryable(false)
            } else {
                err.with_retryable(false)
            }
        })
    }
}

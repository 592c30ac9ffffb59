//! `bidlake setup` on the lake side: the warehouse, namespace and tables, idempotently. A table
//! that exists with another schema is reported, never altered.

use std::collections::HashMap;
use std::fmt;

use iceberg::spec::Schema;
use iceberg::table::Table;
use iceberg::transaction::{AddColumn, ApplyTransactionAction, Transaction};
use iceberg::{ErrorKind, TableCreation};

use crate::bucket::{Bucket, BucketState};
use crate::{Error, IcebergContext, Lake, Result};
use bidlake_tables::Definition;

/// What `setup` found or did for one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    Exists,
    Created,
    Missing,
    /// Exists with every contract column; bidlake's additional columns are missing (`--check`).
    LacksColumns(Vec<String>),
    /// Existed; bidlake's additional columns were added.
    ColumnsAdded(Vec<String>),
    /// Exists, but not as bidlake writes it; the text lists the differences.
    Differs(String),
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            State::Exists => f.write_str("exists"),
            State::Created => f.write_str("created"),
            State::Missing => f.write_str("missing"),
            State::LacksColumns(c) => write!(f, "exists; setup would add columns {}", c.join(", ")),
            State::ColumnsAdded(c) => write!(f, "columns added: {}", c.join(", ")),
            State::Differs(why) => write!(f, "differs: {why}"),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Item {
    pub what: String,
    pub state: State,
}

/// Table properties bidlake creates its tables with.
fn table_properties() -> HashMap<String, String> {
    let mut properties = HashMap::from([
        ("write.format.default".to_owned(), "parquet".to_owned()),
        ("write.parquet.compression-codec".to_owned(), "zstd".to_owned()),
        ("created-by".to_owned(), concat!("bidlake ", env!("CARGO_PKG_VERSION")).to_owned()),
    ]);
    properties.extend(
        crate::metadata_files::table_properties()
            .map(|(key, value)| (key.to_owned(), value.to_owned())),
    );
    properties
}

/// Creates what is missing (or, with `check_only`, only reports). Returns one item per object.
pub async fn setup_lake(lake: &Lake, check_only: bool) -> Result<Vec<Item>> {
    let mut items = Vec::new();

    if let Some(dir) = lake.local_warehouse() {
        let state = if dir.is_dir() {
            State::Exists
        } else if check_only {
            State::Missing
        } else {
            std::fs::create_dir_all(dir).map_err(|source| Error::Io {
                context: format!("creating the warehouse directory {} (WAREHOUSE)", dir.display()),
                source,
            })?;
            State::Created
        };
        items.push(Item { what: format!("warehouse {}", dir.display()), state });
    }

    if let Some(bucket) = Bucket::of(&lake.config)? {
        let state = match if check_only { bucket.state().await? } else { bucket.ensure().await? } {
            BucketState::Exists => State::Exists,
            BucketState::Missing => State::Missing,
            BucketState::Created => State::Created,
        };
        items.push(Item { what: format!("bucket {}", bucket.name()), state });
    }

    let namespace = lake.namespace();
    let exists = lake.catalog.namespace_exists(&namespace).await.context(|| {
        format!("checking namespace {namespace:?} in {}", lake.config.catalog_display())
    })?;
    let state = match (exists, check_only) {
        (true, _) => State::Exists,
        (false, true) => State::Missing,
        (false, false) => {
            match lake.catalog.create_namespace(&namespace, HashMap::new()).await {
                Ok(_) => State::Created,
                // Another setup won the race: fine.
                Err(err) if err.kind() == ErrorKind::NamespaceAlreadyExists => State::Exists,
                Err(err) => {
                    return Err(err)
                        .context(|| format!("creating namespace {}", lake.config.namespace));
                }
            }
        }
    };
    items.push(Item { what: format!("namespace {}", lake.config.namespace), state });

    for table in bidlake_tables::definitions()? {
        let state = ensure_table(lake, &table, check_only).await?;
        items.push(Item { what: format!("table {}", lake.ident(table.name)), state });
    }
    Ok(items)
}

async fn ensure_table(lake: &Lake, table: &Definition, check_only: bool) -> Result<State> {
    let ident = lake.ident(table.name);
    let exists = match lake.catalog.table_exists(&ident).await {
        Ok(exists) => exists,
        Err(err) if err.kind() == ErrorKind::NamespaceNotFound => false,
        Err(err) => return Err(err).context(|| format!("checking table {ident}")),
    };
    if !exists {
        if check_only {
            return Ok(State::Missing);
        }
        let created: Vec<_> =
            table.schema.as_struct().fields().iter().take(table.created_columns).cloned().collect();
        let creation = TableCreation::builder()
            .name(table.name.to_owned())
            .schema(
                Schema::builder()
                    .with_fields(created)
                    .build()
                    .context(|| format!("building the schema of {ident}"))?,
            )
            .partition_spec(table.partition_spec.clone())
            .properties(table_properties())
            .build();
        match lake.catalog.create_table(&lake.namespace(), creation).await {
            Ok(_) => {}
            Err(err) if err.kind() == ErrorKind::TableAlreadyExists => {}
            Err(err) => return Err(err).context(|| format!("creating table {ident}")),
        }
    }

    let existing = lake.load_table(table.name).await?;
    if let Some(why) = differences(table, &existing)? {
        return Ok(State::Differs(why));
    }
    let missing = missing_additions(table, &existing)?;
    if !missing.is_empty() {
        if check_only {
            return Ok(State::LacksColumns(missing));
        }
        let tx = Transaction::new(&existing);
        let schema = &table.schema;
        let mut update = tx.update_schema();
        for name in &missing {
            let field = schema.field_by_name(name).ok_or_else(|| {
                Error::Config(format!("bidlake's schema of {ident} has no column {name}"))
            })?;
            update = update.add_column(AddColumn::optional(name, (*field.field_type).clone()));
        }
        let tx = update.apply(tx).context(|| format!("adding columns to {ident}"))?;
        tx.commit(lake.catalog.as_ref()).await.context(|| format!("adding columns to {ident}"))?;
    }

    // Tables made before bidlake deleted old metadata files get the properties that ask for it
    // (unless someone set them).
    let existing = lake.load_table(table.name).await?;
    let unset: Vec<_> = crate::metadata_files::table_properties()
        .into_iter()
        .filter(|(key, _)| !existing.metadata().properties().contains_key(*key))
        .collect();
    if !unset.is_empty() && !check_only {
        let tx = Transaction::new(&existing);
        let mut update = tx.update_table_properties();
        for (key, value) in unset {
            update = update.set(key.to_owned(), value.to_owned());
        }
        let tx = update.apply(tx).context(|| format!("setting the properties of {ident}"))?;
        tx.commit(lake.catalog.as_ref())
            .await
            .context(|| format!("setting the properties of {ident}"))?;
    }

    let existing = lake.load_table(table.name).await?;
    Ok(match differences(table, &existing)? {
        Some(why) => State::Differs(why),
        None if !exists => State::Created,
        None if !missing.is_empty() => State::ColumnsAdded(missing),
        None => State::Exists,
    })
}

/// bidlake's additional columns (after the created ones) that the table does not have yet,
/// when every column before them is in place.
fn missing_additions(table: &Definition, existing: &Table) -> Result<Vec<String>> {
    let current = existing.metadata().current_schema();
    let fields = table.schema.as_struct().fields();
    let mut missing = Vec::new();
    for field in fields.iter().skip(table.created_columns) {
        if current.field_by_name(&field.name).is_none() {
            missing.push(field.name.clone());
        }
    }
    Ok(missing)
}

/// Checks that an existing table can take bidlake's rows: every column bidlake writes exists
/// with the same id, name and type, and the default partition spec is bidlake's. Columns a user
/// added are fine.
pub fn differences(table: &Definition, existing: &Table) -> Result<Option<String>> {
    let actual = existing.metadata().current_schema();
    let mut problems = schema_differences(&table.schema, actual, table.created_columns);

    let expected_spec = &table.partition_spec;
    let actual_spec = existing.metadata().default_partition_spec();
    let want: Vec<_> =
        expected_spec.fields().iter().map(|f| (f.source_id, f.transform.to_string())).collect();
    let have: Vec<_> =
        actual_spec.fields().iter().map(|f| (f.source_id, f.transform.to_string())).collect();
    if want != have {
        problems.push(format!(
            "partition spec is {have:?}, bidlake writes {want:?} (source field id, transform)"
        ));
    }
    Ok((!problems.is_empty()).then(|| problems.join("; ")))
}

/// Contract columns (the first `created` ones) must all be there; an addition may be missing
/// (setup adds it) but, when present, must match.
fn schema_differences(expected: &Schema, actual: &Schema, created: usize) -> Vec<String> {
    let mut problems = Vec::new();
    for (i, field) in expected.as_struct().fields().iter().enumerate() {
        if i >= created && actual.field_by_name(&field.name).is_none() {
            continue;
        }
        match actual.field_by_id(field.id) {
            None => problems.push(format!("column {} (id {}) is missing", field.name, field.id)),
            Some(have) if have.name != field.name => problems.push(format!(
                "field id {} is named {}, bidlake expects {}",
                field.id, have.name, field.name
            )),
            Some(have) if have.field_type != field.field_type => problems.push(format!(
                "column {} is {}, bidlake writes {}",
                field.name, have.field_type, field.field_type
            )),
            Some(_) => {}
        }
    }
    problems
}

/// Fails with the differences when a table is not as bidlake writes it.
pub fn require_compatible(lake: &Lake, table: &Definition, existing: &Table) -> Result<()> {
    match differences(table, existing)? {
        None => Ok(()),
        Some(differences) => {
            Err(Error::SchemaMismatch { table: lake.ident(table.name).to_string(), differences })
        }
    }
}

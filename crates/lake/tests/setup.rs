//! `setup` against a real SQL catalog on SQLite and a local warehouse.

#![allow(clippy::unwrap_used)] // a test file: a failed unwrap is a failed test

use std::collections::HashMap;

use bidlake_lake::setup::{State, setup_lake};
use bidlake_lake::{LakeArgs, open_lake};
use bidlake_tables::EventTable;
use iceberg::TableCreation;
use iceberg::spec::{NestedField, PrimitiveType, Schema, Type};

async fn lake(dir: &std::path::Path) -> bidlake_lake::Lake {
    open_lake(LakeArgs::embedded().resolve(dir).unwrap()).await.unwrap()
}

#[tokio::test]
async fn setup_creates_everything_once_and_check_reports_it() {
    let dir = tempfile::tempdir().unwrap();
    let lake = lake(dir.path()).await;

    let before = setup_lake(&lake, true).await.unwrap();
    assert!(before.iter().all(|i| i.state == State::Missing), "{before:?}");
    assert!(!dir.path().join("warehouse").exists(), "--check changes nothing");

    let created = setup_lake(&lake, false).await.unwrap();
    assert_eq!(
        created.len(),
        9,
        "warehouse, namespace, 4 event and 3 aggregate tables: {created:?}"
    );
    assert!(created.iter().all(|i| i.state == State::Created), "{created:?}");

    let again = setup_lake(&lake, false).await.unwrap();
    assert!(again.iter().all(|i| i.state == State::Exists), "{again:?}");

    let table = lake.load_table("bid_requests").await.unwrap();
    let metadata = table.metadata();
    assert_eq!(metadata.current_schema().as_struct().fields()[0].name, "request_id");
    assert_eq!(metadata.properties()["write.parquet.compression-codec"], "zstd");
    let schema = metadata.current_schema();
    assert_eq!(schema.name_by_field_id(22), Some("site_cat.element"), "the seed's element id");
    assert_eq!(schema.field_id_by_name("app_bundle"), Some(23));
    assert_eq!(schema.field_id_by_name("kafka_offset"), Some(28));
    assert!(
        metadata.location().starts_with(&format!("file://{}/warehouse/db/", dir.path().display())),
        "{}",
        metadata.location()
    );
    assert!(dir.path().join("catalog.db").is_file());
}

#[tokio::test]
async fn tables_made_without_the_metadata_cleanup_properties_get_them_and_a_users_value_stands() {
    use iceberg::transaction::{ApplyTransactionAction, Transaction};
    let dir = tempfile::tempdir().unwrap();
    let lake = lake(dir.path()).await;
    setup_lake(&lake, false).await.unwrap();
    let delete = "write.metadata.delete-after-commit.enabled";
    let keep = "write.metadata.previous-versions-max";
    // As an older bidlake made them: without the properties; and a user's own choice on one.
    for (table, value) in [("bid_requests", None), ("clicks", Some("false"))] {
        let loaded = lake.load_table(table).await.unwrap();
        let tx = Transaction::new(&loaded);
        let mut update = tx.update_table_properties().remove(keep.to_owned());
        update = match value {
            None => update.remove(delete.to_owned()),
            Some(v) => update.set(delete.to_owned(), v.to_owned()),
        };
        let tx = update.apply(tx).unwrap();
        tx.commit(lake.catalog.as_ref()).await.unwrap();
    }
    setup_lake(&lake, false).await.unwrap();
    let properties = |table: &str| {
        let lake = &lake;
        let table = table.to_owned();
        async move { lake.load_table(&table).await.unwrap().metadata().properties().clone() }
    };
    let requests = properties("bid_requests").await;
    assert_eq!((requests[delete].as_str(), requests[keep].as_str()), ("true", "25"));
    let clicks = properties("clicks").await;
    assert_eq!(
        (clicks[delete].as_str(), clicks[keep].as_str()),
        ("false", "25"),
        "the user's value stands"
    );
}

#[tokio::test]
async fn a_table_with_another_schema_is_reported_not_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let lake = lake(dir.path()).await;
    lake.catalog.create_namespace(&lake.namespace(), HashMap::new()).await.unwrap();
    let foreign = Schema::builder()
        .with_fields(vec![
            NestedField::optional(1, "request_id", Type::Primitive(PrimitiveType::Long)).into(),
        ])
        .build()
        .unwrap();
    let creation = TableCreation::builder().name("bid_requests".into()).schema(foreign).build();
    lake.catalog.create_table(&lake.namespace(), creation).await.unwrap();

    let items = setup_lake(&lake, false).await.unwrap();
    let bid_requests = items.iter().find(|i| i.what == "table db.bid_requests").unwrap();
    match &bid_requests.state {
        State::Differs(why) => {
            assert!(why.contains("column request_id is long, bidlake writes string"), "{why}");
            assert!(why.contains("column imp_id (id 2) is missing"), "{why}");
            assert!(why.contains("partition spec"), "{why}");
        }
        other => panic!("expected a difference, got {other}"),
    }
    // Untouched: still the user's one-column table.
    let table = lake.load_table("bid_requests").await.unwrap();
    assert_eq!(table.metadata().current_schema().as_struct().fields().len(), 1);
    // The other tables were created.
    assert!(lake.load_table(EventTable::Clicks.name()).await.is_ok());
}

#[tokio::test]
async fn a_missing_table_says_to_run_setup() {
    let dir = tempfile::tempdir().unwrap();
    let lake = lake(dir.path()).await;
    let err = lake.load_table("bid_requests").await.unwrap_err().to_string();
    assert!(err.contains("bidlake setup"), "{err}");
}

/// The columns of each table before the enrichment columns came (an older bidlake's tables).
const BEFORE_ENRICHMENT: [(&str, usize); 3] =
    [("bid_requests", 27), ("bid_responses", 14), ("impressions", 13)];

#[tokio::test]
async fn tables_of_an_older_bidlake_get_the_enrichment_columns_with_the_next_ids() {
    use iceberg::transaction::{AddColumn, ApplyTransactionAction, Transaction};
    let dir = tempfile::tempdir().unwrap();
    let lake = lake(dir.path()).await;
    lake.catalog.create_namespace(&lake.namespace(), HashMap::new()).await.unwrap();
    // Made as the older setup made them: the created columns, then its additions one by one.
    for (name, columns) in BEFORE_ENRICHMENT {
        let table = EventTable::ALL.into_iter().find(|t| t.name() == name).unwrap();
        let fields = table.schema().unwrap().as_struct().fields().to_vec();
        let created = table.created_columns().min(columns);
        let creation = TableCreation::builder()
            .name(name.to_owned())
            .schema(Schema::builder().with_fields(fields[..created].to_vec()).build().unwrap())
            .partition_spec(table.partition_spec().unwrap())
            .build();
        lake.catalog.create_table(&lake.namespace(), creation).await.unwrap();
        if columns > created {
            let loaded = lake.load_table(name).await.unwrap();
            let tx = Transaction::new(&loaded);
            let mut update = tx.update_schema();
            for field in &fields[created..columns] {
                update = update
                    .add_column(AddColumn::optional(&field.name, (*field.field_type).clone()));
            }
            update.apply(tx).unwrap().commit(lake.catalog.as_ref()).await.unwrap();
        }
    }

    let items = setup_lake(&lake, false).await.unwrap();
    let state = |name: &str| {
        items.iter().find(|i| i.what.ends_with(&format!(".{name}"))).unwrap().state.clone()
    };
    assert_eq!(
        state("bid_requests"),
        State::ColumnsAdded(
            ["device_category", "imp_bidfloor_usd", "is_test_traffic", "is_private_ip"]
                .map(String::from)
                .to_vec()
        )
    );
    assert_eq!(state("bid_responses"), State::ColumnsAdded(vec!["bid_price_usd".into()]));
    assert_eq!(state("impressions"), State::ColumnsAdded(vec!["win_price_usd".into()]));
    assert_eq!(state("clicks"), State::Created);
    assert_eq!(state("hourly_funnel_by_publisher"), State::Created);
    for (name, column, id) in [
        ("bid_requests", "device_category", 29),
        ("bid_requests", "is_private_ip", 32),
        ("bid_responses", "bid_price_usd", 15),
        ("impressions", "win_price_usd", 14),
    ] {
        let table = lake.load_table(name).await.unwrap();
        assert_eq!(table.metadata().current_schema().field_id_by_name(column), Some(id), "{name}");
    }
    let again = setup_lake(&lake, true).await.unwrap();
    assert!(again.iter().all(|i| i.state == State::Exists), "{again:?}");
}

#[tokio::test]
async fn a_kept_table_is_reloaded_only_when_another_commit_moved_it() {
    use iceberg::transaction::{ApplyTransactionAction, Transaction};
    let dir = tempfile::tempdir().unwrap();
    let lake = lake(dir.path()).await;
    setup_lake(&lake, false).await.unwrap();
    let kept = lake.load_table("clicks").await.unwrap();

    let again = lake.reload(&kept).await.unwrap();
    assert!(
        std::sync::Arc::ptr_eq(&again.metadata_ref(), &kept.metadata_ref()),
        "unchanged in the catalog: the kept version, not its metadata file parsed again"
    );

    // Another writer (another process's catalog) commits.
    let other = open_lake(LakeArgs::embedded().resolve(dir.path()).unwrap()).await.unwrap();
    let theirs = other.load_table("clicks").await.unwrap();
    let tx = Transaction::new(&theirs);
    let tx = tx
        .update_table_properties()
        .set("owner".to_owned(), "another writer".to_owned())
        .apply(tx)
        .unwrap();
    tx.commit(other.catalog.as_ref()).await.unwrap();

    let moved = lake.reload(&kept).await.unwrap();
    assert_ne!(moved.metadata_location(), kept.metadata_location());
    assert_eq!(moved.metadata().properties()["owner"], "another writer");
}

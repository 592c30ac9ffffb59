//! Where the lake's files are read and written: local paths are read with plain `std::fs` calls,
//! everything else (and every write) goes through OpenDAL.
//!
//! OpenDAL's local backend hands each open, stat and read to tokio's blocking pool; a query over
//! thousands of small files spent about a third of its time on those hand-offs between threads
//! (docs/benchmarks.md). Reads of local files that the page cache holds take microseconds, so
//! they are done where they are asked for, as iceberg's own `LocalFsStorage` does.

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use iceberg::Result;
use iceberg::io::{
    FileMetadata, FileRead, FileWrite, InputFile, LocalFsStorage, OutputFile, Storage,
    StorageConfig, StorageFactory,
};
use iceberg_storage_opendal::OpenDalResolvingStorageFactory;
use serde::{Deserialize, Serialize};

/// Builds [`LakeStorage`].
#[derive(Debug, Serialize, Deserialize)]
pub struct LakeStorageFactory {
    remote: OpenDalResolvingStorageFactory,
}

impl LakeStorageFactory {
    pub fn new() -> Self {
        Self { remote: OpenDalResolvingStorageFactory::new() }
    }
}

impl Default for LakeStorageFactory {
    fn default() -> Self {
        Self::new()
    }
}

#[typetag::serde]
impl StorageFactory for LakeStorageFactory {
    fn build(&self, config: &StorageConfig) -> Result<Arc<dyn Storage>> {
        Ok(Arc::new(LakeStorage { remote: Some(self.remote.build(config)?) }))
    }
}

/// Local reads by `std::fs`, the rest by OpenDAL.
#[derive(Debug, Serialize, Deserialize)]
pub struct LakeStorage {
    /// `Storage` must be serializable (iceberg ships FileIO between processes); bidlake never
    /// does, and a deserialized copy could read only local files.
    #[serde(skip)]
    remote: Option<Arc<dyn Storage>>,
}

/// Paths of the local file system: `file:` URLs and absolute paths.
fn is_local(path: &str) -> bool {
    path.starts_with("file:") || path.starts_with('/')
}

impl LakeStorage {
    fn remote(&self) -> Result<&Arc<dyn Storage>> {
        self.remote.as_ref().ok_or_else(|| {
            iceberg::Error::new(
                iceberg::ErrorKind::Unexpected,
                "this copy of the lake's storage can read local files only",
            )
        })
    }
}

#[async_trait]
#[typetag::serde]
impl Storage for LakeStorage {
    async fn exists(&self, path: &str) -> Result<bool> {
        match is_local(path) {
            true => LocalFsStorage::new().exists(path).await,
            false => self.remote()?.exists(path).await,
        }
    }

    async fn metadata(&self, path: &str) -> Result<FileMetadata> {
        match is_local(path) {
            true => LocalFsStorage::new().metadata(path).await,
            false => self.remote()?.metadata(path).await,
        }
    }

    async fn read(&self, path: &str) -> Result<Bytes> {
        match is_local(path) {
            true => LocalFsStorage::new().read(path).await,
            false => self.remote()?.read(path).await,
        }
    }

    async fn reader(&self, path: &str) -> Result<Box<dyn FileRead>> {
        match is_local(path) {
            true => LocalFsStorage::new().reader(path).await,
            false => self.remote()?.reader(path).await,
        }
    }

    async fn write(&self, path: &str, bs: Bytes) -> Result<()> {
        self.remote()?.write(path, bs).await
    }

    async fn writer(&self, path: &str) -> Result<Box<dyn FileWrite>> {
        self.remote()?.writer(path).await
    }

    async fn delete(&self, path: &str) -> Result<()> {
        self.remote()?.delete(path).await
    }

    async fn delete_prefix(&self, path: &str) -> Result<()> {
        self.remote()?.delete_prefix(path).await
    }

    async fn delete_stream(&self, paths: BoxStream<'static, String>) -> Result<()> {
        self.remote()?.delete_stream(paths).await
    }

    fn new_input(&self, path: &str) -> Result<InputFile> {
        match is_local(path) {
            true => LocalFsStorage::new().new_input(path),
            false => self.remote()?.new_input(path),
        }
    }

    fn new_output(&self, path: &str) -> Result<OutputFile> {
        self.remote()?.new_output(path)
    }
}

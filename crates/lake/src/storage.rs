//! Where the lake's files are read and written: local paths are read with plain `std::fs` calls,
//! everything else (and every write) goes through OpenDAL.
//!
//! OpenDAL's local backend hands each open, stat and read to tokio's blocking pool; a query over
//! thousands of small files spent about a third of its time on those hand-offs between threads
//! (docs/benchmarks.md). Reads of local files that the page cache holds take microseconds, so
//! they are done where they are asked for, as iceberg's own `LocalFsStorage` does. The price: a
//! read from a slow disk holds its runtime thread for as long as it takes (writes, which can
//! wait on a full disk, stay on OpenDAL's blocking pool).

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

#[cfg(test)]
mod tests {
    use iceberg::io::FileIOBuilder;

    use super::*;

    #[tokio::test]
    async fn local_files_written_by_opendal_are_read_back_directly_and_other_schemes_still_work() {
        let dir = tempfile::tempdir().unwrap();
        let io = FileIOBuilder::new(Arc::new(LakeStorageFactory::new())).build();
        let path = format!("file://{}/a/b/data.bin", dir.path().display());
        io.new_output(&path).unwrap().write(Bytes::from_static(b"0123456789")).await.unwrap();
        let input = io.new_input(&path).unwrap();
        assert!(input.exists().await.unwrap());
        assert_eq!(input.metadata().await.unwrap().size, 10);
        assert_eq!(input.reader().await.unwrap().read(2..5).await.unwrap(), &b"234"[..]);
        assert_eq!(input.read().await.unwrap(), &b"0123456789"[..]);

        // A scheme that is not local goes to OpenDAL: here its in-memory backend.
        let memory = "memory:///x/y.bin";
        io.new_output(memory).unwrap().write(Bytes::from_static(b"m")).await.unwrap();
        assert_eq!(io.new_input(memory).unwrap().read().await.unwrap(), &b"m"[..]);

        io.delete(&path).await.unwrap();
        assert!(!io.exists(&path).await.unwrap());
    }

    #[test]
    fn only_file_urls_and_absolute_paths_are_local() {
        assert!(is_local("file:///tmp/x") && is_local("/tmp/x"));
        assert!(!is_local("s3://bucket/x") && !is_local("memory:///x"));
    }
}

//! Listing a table's directory. Iceberg's FileIO reads, writes and deletes but cannot list, so
//! orphan removal lists with opendal (the library FileIO itself runs on) for local directories
//! and S3, and compares paths in one canonical form.

use std::time::SystemTime;

use bidlake_lake::LakeConfig;
use futures::TryStreamExt;
use iceberg::io::{S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY};
use opendal::Operator;

use crate::{Error, Result};

/// A file found under a table's location.
#[derive(Debug, Clone)]
pub struct Listed {
    /// As the table's metadata would write it (`file:///...` or `s3://bucket/...`).
    pub url: String,
    pub size: u64,
    /// None when the store does not tell; such a file is never deleted.
    pub modified: Option<SystemTime>,
}

/// A directory tree of the warehouse (a table's location).
#[derive(Debug)]
pub struct Tree {
    op: Operator,
    /// The tree's root relative to the operator, ending in `/`.
    dir: String,
    /// What turns an operator path into a URL.
    url_prefix: String,
}

impl Tree {
    /// The tree under `location` (a `file://`, plain path or `s3://` URL).
    pub fn new(config: &LakeConfig, location: &str) -> Result<Tree> {
        let storage_error = |source| Error::Storage {
            context: format!("opening the storage of {location}"),
            source,
        };
        if let Some(rest) = strip_s3_scheme(location) {
            let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
            let mut builder = opendal::services::S3::default().bucket(bucket).root("/");
            if let bidlake_lake::Storage::S3 { endpoint, path_style, region, .. } = &config.storage
            {
                if let Some(endpoint) = endpoint {
                    builder = builder.endpoint(endpoint);
                }
                if !path_style {
                    builder = builder.enable_virtual_host_style();
                }
                builder = builder.region(region.as_deref().unwrap_or("us-east-1"));
            }
            let props = config.file_io_props();
            if let (Some(key), Some(secret)) =
                (props.get(S3_ACCESS_KEY_ID), props.get(S3_SECRET_ACCESS_KEY))
            {
                builder = builder.access_key_id(key).secret_access_key(secret);
            }
            let op = Operator::new(builder).map_err(storage_error)?.finish();
            Ok(Tree { op, dir: as_dir(key), url_prefix: format!("s3://{bucket}/") })
        } else {
            let path = canonical(location);
            if !path.starts_with('/') {
                return Err(Error::Config(format!(
                    "cannot list {location}: only local directories and s3:// locations are supported"
                )));
            }
            let op = Operator::new(opendal::services::Fs::default().root("/"))
                .map_err(storage_error)?
                .finish();
            Ok(Tree { op, dir: as_dir(&path[1..]), url_prefix: "file:///".into() })
        }
    }

    /// Every file in the tree, with its size and last-modified time.
    pub async fn list(&self) -> Result<Vec<Listed>> {
        let context = || format!("listing {}{}", self.url_prefix, self.dir);
        let mut lister = self
            .op
            .lister_with(&self.dir)
            .recursive(true)
            .await
            .map_err(|source| Error::Storage { context: context(), source })?;
        let mut files = Vec::new();
        while let Some(entry) = lister
            .try_next()
            .await
            .map_err(|source| Error::Storage { context: context(), source })?
        {
            if !entry.metadata().is_file() {
                continue;
            }
            let mut modified = entry.metadata().last_modified();
            let mut size = entry.metadata().content_length();
            if modified.is_none() {
                // Some listings carry names only.
                let meta = self.op.stat(entry.path()).await.map_err(|source| Error::Storage {
                    context: format!("reading the metadata of {}{}", self.url_prefix, entry.path()),
                    source,
                })?;
                modified = meta.last_modified();
                size = meta.content_length();
            }
            files.push(Listed {
                url: format!("{}{}", self.url_prefix, entry.path()),
                size,
                modified: modified.map(SystemTime::from),
            });
        }
        Ok(files)
    }

    /// Deletes a file this tree listed.
    pub async fn delete(&self, url: &str) -> Result<()> {
        let path = url.strip_prefix(&self.url_prefix).ok_or_else(|| {
            Error::Config(format!("{url} is not under {}{}", self.url_prefix, self.dir))
        })?;
        self.op
            .delete(path)
            .await
            .map_err(|source| Error::Storage { context: format!("deleting {url}"), source })
    }
}

fn as_dir(path: &str) -> String {
    let trimmed = path.trim_matches('/');
    if trimmed.is_empty() { String::new() } else { format!("{trimmed}/") }
}

fn strip_s3_scheme(url: &str) -> Option<&str> {
    ["s3://", "s3a://", "s3n://"].iter().find_map(|scheme| url.strip_prefix(scheme))
}

/// One spelling per file: `file:/x`, `file:///x` and `/x` are the same local file; `s3a://` and
/// `s3n://` are `s3://`.
pub fn canonical(path: &str) -> String {
    if let Some(rest) = strip_s3_scheme(path) {
        return format!("s3://{rest}");
    }
    if let Some(rest) = path.strip_prefix("file:") {
        return format!("/{}", rest.trim_start_matches('/'));
    }
    path.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_compare_in_one_spelling() {
        assert_eq!(canonical("file:///w/db/t/data/a.parquet"), "/w/db/t/data/a.parquet");
        assert_eq!(canonical("file:/w/a"), "/w/a");
        assert_eq!(canonical("/w/a"), "/w/a");
        assert_eq!(canonical("s3a://b/k/a"), "s3://b/k/a");
        assert_eq!(canonical("s3://b/k/a"), "s3://b/k/a");
        assert_eq!(as_dir("/w/db/t"), "w/db/t/");
        assert_eq!(as_dir(""), "");
    }
}

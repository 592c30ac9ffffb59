use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// Where the Iceberg catalog and the warehouse are. With nothing set, every subcommand uses the
/// SQL catalog `bidlake` in `$BIDLAKE_DATA_DIR/catalog.db` and `$BIDLAKE_DATA_DIR/warehouse`.
#[derive(Clone, clap::Args)]
pub struct LakeArgs {
    /// The Iceberg catalog: `sqlite://PATH` (SQL catalog) or `http(s)://...` (REST catalog).
    /// Default: sqlite://$BIDLAKE_DATA_DIR/catalog.db.
    #[arg(long, env = "CATALOG_URI")]
    pub catalog_uri: Option<String>,

    /// The catalog's name (the SQL catalog keeps it in every row; engines use it to address
    /// tables as NAME.db.table).
    #[arg(long, env = "CATALOG_NAME", default_value = "bidlake")]
    pub catalog_name: String,

    /// The namespace of bidlake's tables.
    #[arg(long, env = "CATALOG_NAMESPACE", default_value = "db")]
    pub namespace: String,

    /// The warehouse: a directory, `file://...` or `s3://bucket/prefix`.
    /// Default: $BIDLAKE_DATA_DIR/warehouse.
    #[arg(long, env = "WAREHOUSE")]
    pub warehouse: Option<String>,

    /// S3 endpoint for MinIO and other S3-compatible stores (e.g. http://127.0.0.1:9000).
    #[arg(long, env = "S3_ENDPOINT")]
    pub s3_endpoint: Option<String>,

    /// Address buckets as ENDPOINT/bucket rather than bucket.ENDPOINT (MinIO needs this).
    #[arg(long, env = "S3_PATH_STYLE_ACCESS", value_parser = parse_bool, default_value = "false")]
    pub s3_path_style_access: bool,

    /// S3 region.
    #[arg(long, env = "AWS_REGION")]
    pub s3_region: Option<String>,

    /// S3 access key; only from the environment, so it stays out of process listings.
    #[arg(skip = std::env::var("AWS_ACCESS_KEY_ID").ok())]
    pub s3_access_key_id: Option<String>,

    #[arg(skip = std::env::var("AWS_SECRET_ACCESS_KEY").ok().map(Secret::from))]
    pub s3_secret_access_key: Option<Secret>,

    /// Bearer token for a REST catalog; only from the environment.
    #[arg(skip = std::env::var("CATALOG_TOKEN").ok().map(Secret::from))]
    pub catalog_token: Option<Secret>,

    /// OAuth2 client credential `id:secret` for a REST catalog; only from the environment.
    #[arg(skip = std::env::var("CATALOG_CREDENTIAL").ok().map(Secret::from))]
    pub catalog_credential: Option<Secret>,

    /// Any Iceberg REST catalog property as KEY=VALUE, repeatable, applied after bidlake's own
    /// (e.g. warehouse=NAME for Polaris or Lakekeeper, scope=PRINCIPAL_ROLE:ALL,
    /// oauth2-server-uri=URL, header.NAME=VALUE). The environment variable takes a comma-separated
    /// list. Secrets belong in CATALOG_TOKEN or CATALOG_CREDENTIAL.
    #[arg(
        long = "catalog-property",
        env = "CATALOG_PROPERTIES",
        hide_env_values = true,
        value_name = "KEY=VALUE",
        value_delimiter = ',',
        value_parser = parse_property
    )]
    pub catalog_properties: Vec<(String, String)>,
}

impl fmt::Debug for LakeArgs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LakeArgs")
            .field("catalog_uri", &self.catalog_uri)
            .field("catalog_name", &self.catalog_name)
            .field("warehouse", &self.warehouse)
            .field("s3_endpoint", &self.s3_endpoint)
            .finish_non_exhaustive()
    }
}

/// A value that must never reach a log line.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

fn parse_property(s: &str) -> Result<(String, String)> {
    match s.split_once('=') {
        Some((key, value)) if !key.trim().is_empty() => {
            Ok((key.trim().to_owned(), value.trim().to_owned()))
        }
        _ => Err(Error::Config(format!(
            "{s:?} is not KEY=VALUE (e.g. --catalog-property scope=PRINCIPAL_ROLE:ALL)"
        ))),
    }
}

fn parse_bool(s: &str) -> Result<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" | "" => Ok(false),
        other => Err(Error::Config(format!("{other:?} is not a boolean (use true or false)"))),
    }
}

/// Which kind of catalog, with what it needs to connect.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CatalogKind {
    /// The Iceberg SQL catalog on SQLite; `url` is what sqlx connects to.
    Sql { path: PathBuf, url: String },
    /// An Iceberg REST catalog.
    Rest { uri: String, token: Option<Secret>, credential: Option<Secret> },
}

/// Where data files and metadata go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Storage {
    Local { path: PathBuf },
    S3 { bucket: String, endpoint: Option<String>, path_style: bool, region: Option<String> },
}

/// The resolved lake settings every subcommand works from.
#[derive(Clone)]
pub struct LakeConfig {
    pub catalog: CatalogKind,
    pub catalog_name: String,
    pub namespace: String,
    /// The warehouse as a URL (`file:///...` or `s3://bucket/prefix`).
    pub warehouse: String,
    pub storage: Storage,
    /// FileIO properties (S3 endpoint, keys, ...); may hold secrets, never log them.
    file_io_props: HashMap<String, String>,
    /// The user's REST catalog properties (CATALOG_PROPERTIES), applied last; never logged.
    catalog_props: HashMap<String, String>,
}

impl fmt::Debug for LakeConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LakeConfig")
            .field("catalog", &self.catalog)
            .field("catalog_name", &self.catalog_name)
            .field("namespace", &self.namespace)
            .field("warehouse", &self.warehouse)
            .field("storage", &self.storage)
            .finish_non_exhaustive()
    }
}

impl LakeConfig {
    pub fn file_io_props(&self) -> &HashMap<String, String> {
        &self.file_io_props
    }

    /// The user's own REST catalog properties, to apply after bidlake's.
    pub fn catalog_props(&self) -> &HashMap<String, String> {
        &self.catalog_props
    }

    /// The catalog as a user would write it (no secrets).
    pub fn catalog_display(&self) -> String {
        match &self.catalog {
            CatalogKind::Sql { path, .. } => format!("sqlite://{}", path.display()),
            CatalogKind::Rest { uri, .. } => uri.clone(),
        }
    }
}

impl LakeArgs {
    /// Resolves the settings against the data directory of the embedded defaults.
    pub fn resolve(&self, data_dir: &Path) -> Result<LakeConfig> {
        let data_dir = absolute(data_dir)?;
        let catalog = match self.catalog_uri.as_deref().map(str::trim) {
            None | Some("") => sql_catalog(&data_dir.join("catalog.db"))?,
            Some(uri) => {
                if let Some(rest) = uri.strip_prefix("sqlite://") {
                    let (path, _) = rest.split_once('?').unwrap_or((rest, ""));
                    if path.is_empty() {
                        return Err(Error::Config(format!(
                            "CATALOG_URI {uri:?} names no database file (e.g. sqlite:///var/lib/bidlake/catalog.db)"
                        )));
                    }
                    sql_catalog(&absolute(Path::new(path))?)?
                } else if uri.starts_with("http://") || uri.starts_with("https://") {
                    CatalogKind::Rest {
                        uri: uri.trim_end_matches('/').to_owned(),
                        token: self.catalog_token.clone(),
                        credential: self.catalog_credential.clone(),
                    }
                } else {
                    return Err(Error::Config(format!(
                        "CATALOG_URI {uri:?} is neither sqlite://PATH (SQL catalog) nor http(s)://... (REST catalog)"
                    )));
                }
            }
        };
        if let CatalogKind::Rest { credential: Some(c), .. } = &catalog
            && !c.expose().contains(':')
        {
            return Err(Error::Config("CATALOG_CREDENTIAL must be CLIENT_ID:SECRET".into()));
        }
        if matches!(catalog, CatalogKind::Sql { .. }) && !self.catalog_properties.is_empty() {
            return Err(Error::Config(
                "CATALOG_PROPERTIES (--catalog-property) applies to a REST catalog \
                 (CATALOG_URI=http(s)://...), not to the SQL catalog"
                    .into(),
            ));
        }

        let (warehouse, storage) = match self.warehouse.as_deref().map(str::trim) {
            None | Some("") => local_warehouse(&data_dir.join("warehouse"))?,
            Some(w) if w.starts_with("s3://") || w.starts_with("s3a://") => {
                let rest = w.split_once("://").map(|(_, r)| r).unwrap_or_default();
                let bucket = rest.split('/').next().unwrap_or_default();
                if bucket.is_empty() {
                    return Err(Error::Config(format!(
                        "WAREHOUSE {w:?} names no bucket (e.g. s3://warehouse/bidlake)"
                    )));
                }
                let storage = Storage::S3 {
                    bucket: bucket.to_owned(),
                    endpoint: self.s3_endpoint.clone(),
                    path_style: self.s3_path_style_access,
                    region: self.s3_region.clone(),
                };
                (format!("s3://{}", rest.trim_end_matches('/')), storage)
            }
            Some(w) if w.starts_with("file://") => {
                local_warehouse(&absolute(Path::new(&w["file://".len()..]))?)?
            }
            Some(w) if w.contains("://") => {
                return Err(Error::Config(format!(
                    "WAREHOUSE {w:?}: only a directory, file://... and s3://bucket/prefix are supported"
                )));
            }
            Some(w) => local_warehouse(&absolute(Path::new(w))?)?,
        };

        let mut file_io_props = HashMap::new();
        if let Storage::S3 { endpoint, path_style, region, .. } = &storage {
            use iceberg::io::{
                S3_ACCESS_KEY_ID, S3_ENDPOINT, S3_PATH_STYLE_ACCESS, S3_REGION,
                S3_SECRET_ACCESS_KEY,
            };
            if let Some(endpoint) = endpoint {
                file_io_props.insert(S3_ENDPOINT.to_owned(), endpoint.clone());
            }
            file_io_props.insert(S3_PATH_STYLE_ACCESS.to_owned(), path_style.to_string());
            file_io_props.insert(
                S3_REGION.to_owned(),
                region.clone().unwrap_or_else(|| "us-east-1".to_owned()),
            );
            if let Some(key) = &self.s3_access_key_id {
                file_io_props.insert(S3_ACCESS_KEY_ID.to_owned(), key.clone());
            }
            if let Some(secret) = &self.s3_secret_access_key {
                file_io_props.insert(S3_SECRET_ACCESS_KEY.to_owned(), secret.expose().to_owned());
            }
        }

        if self.catalog_name.trim().is_empty() {
            return Err(Error::Config("CATALOG_NAME must not be empty".into()));
        }
        if self.namespace.trim().is_empty() {
            return Err(Error::Config("CATALOG_NAMESPACE must not be empty".into()));
        }
        Ok(LakeConfig {
            catalog,
            catalog_name: self.catalog_name.trim().to_owned(),
            namespace: self.namespace.trim().to_owned(),
            warehouse,
            storage,
            file_io_props,
            catalog_props: self.catalog_properties.iter().cloned().collect(),
        })
    }

    /// The embedded defaults under `data_dir` (tests and `bidlake up` start from these).
    pub fn embedded() -> Self {
        Self {
            catalog_uri: None,
            catalog_name: "bidlake".into(),
            namespace: "db".into(),
            warehouse: None,
            s3_endpoint: None,
            s3_path_style_access: false,
            s3_region: None,
            s3_access_key_id: None,
            s3_secret_access_key: None,
            catalog_token: None,
            catalog_credential: None,
            catalog_properties: Vec::new(),
        }
    }
}

fn absolute(path: &Path) -> Result<PathBuf> {
    std::path::absolute(path).map_err(|source| Error::Io {
        context: format!("resolving the path {}", path.display()),
        source,
    })
}

fn sql_catalog(path: &Path) -> Result<CatalogKind> {
    let text = path.to_str().ok_or_else(|| {
        Error::Config(format!("the catalog path {} is not valid UTF-8", path.display()))
    })?;
    // rwc: create the database file on first use.
    Ok(CatalogKind::Sql { path: path.to_owned(), url: format!("sqlite://{text}?mode=rwc") })
}

fn local_warehouse(path: &Path) -> Result<(String, Storage)> {
    let text = path.to_str().ok_or_else(|| {
        Error::Config(format!("the warehouse path {} is not valid UTF-8", path.display()))
    })?;
    Ok((format!("file://{text}"), Storage::Local { path: path.to_owned() }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args() -> LakeArgs {
        LakeArgs::embedded()
    }

    #[test]
    fn embedded_defaults_live_in_the_data_dir() {
        let config = args().resolve(Path::new("/srv/bl")).unwrap();
        assert_eq!(
            config.catalog,
            CatalogKind::Sql {
                path: "/srv/bl/catalog.db".into(),
                url: "sqlite:///srv/bl/catalog.db?mode=rwc".into()
            }
        );
        assert_eq!(config.warehouse, "file:///srv/bl/warehouse");
        assert_eq!(config.catalog_name, "bidlake");
    }

    #[test]
    fn s3_warehouse_and_rest_catalog() {
        let mut a = args();
        a.catalog_uri = Some("http://localhost:8181/".into());
        a.warehouse = Some("s3://warehouse/lake/".into());
        a.s3_endpoint = Some("http://127.0.0.1:9000".into());
        a.s3_path_style_access = true;
        a.s3_secret_access_key = Some(Secret("hunter2".into()));
        let config = a.resolve(Path::new("/x")).unwrap();
        assert!(
            matches!(config.catalog, CatalogKind::Rest { ref uri, .. } if uri == "http://localhost:8181")
        );
        assert_eq!(config.warehouse, "s3://warehouse/lake");
        assert!(
            matches!(config.storage, Storage::S3 { ref bucket, path_style: true, .. } if bucket == "warehouse")
        );
        assert_eq!(config.file_io_props()["s3.endpoint"], "http://127.0.0.1:9000");
        assert!(!format!("{config:?} {a:?}").contains("hunter2"), "secrets never print");
    }

    #[test]
    fn catalog_properties_reach_a_rest_catalog_only() {
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            lake: LakeArgs,
        }
        use clap::Parser;
        let cli = Cli::try_parse_from([
            "bidlake",
            "--catalog-uri",
            "https://polaris.example/api/catalog",
            "--warehouse",
            "s3://lake/bidlake",
            "--catalog-property",
            "warehouse=bidlake_catalog",
            "--catalog-property",
            "scope = PRINCIPAL_ROLE:ALL",
        ])
        .unwrap();
        let config = cli.lake.resolve(Path::new("/x")).unwrap();
        assert_eq!(config.catalog_props()["warehouse"], "bidlake_catalog");
        assert_eq!(config.catalog_props()["scope"], "PRINCIPAL_ROLE:ALL");
        assert_eq!(config.warehouse, "s3://lake/bidlake", "storage still follows WAREHOUSE");

        assert!(Cli::try_parse_from(["bidlake", "--catalog-property", "scope"]).is_err());
        assert_eq!(parse_property("header.X=a=b").unwrap().1, "a=b");

        let mut a = args();
        a.catalog_properties.push(("scope".into(), "x".into()));
        let err = a.resolve(Path::new("/x")).unwrap_err().to_string();
        assert!(err.contains("CATALOG_PROPERTIES"), "{err}");
    }

    #[test]
    fn bad_settings_name_the_variable() {
        let mut a = args();
        a.catalog_uri = Some("postgres://x".into());
        let err = a.resolve(Path::new("/x")).unwrap_err().to_string();
        assert!(err.contains("CATALOG_URI"), "{err}");
        let mut a = args();
        a.warehouse = Some("gs://bucket".into());
        let err = a.resolve(Path::new("/x")).unwrap_err().to_string();
        assert!(err.contains("WAREHOUSE"), "{err}");
        let mut a = args();
        a.warehouse = Some("s3://".into());
        assert!(a.resolve(Path::new("/x")).unwrap_err().to_string().contains("no bucket"));
    }
}

//! The warehouse bucket on S3: `setup` checks it (HeadBucket) and creates it when missing
//! (CreateBucket), like the seed's `mc mb`. Iceberg's FileIO has no bucket operations, so these
//! two requests are made here, signed with SigV4 by the signer opendal itself uses.

use std::time::Duration;

use iceberg::io::{S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY};
use reqsign_aws_v4::{Credential, RequestSigner, StaticCredentialProvider};
use reqsign_core::{Context, OsEnv, Signer};

use crate::settings::{LakeConfig, Storage};
use crate::{Error, Result};

const DEFAULT_REGION: &str = "us-east-1";

/// What a bucket check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BucketState {
    Exists,
    Missing,
    Created,
}

/// The S3 bucket the warehouse lives in, with what it takes to talk to it.
#[derive(Debug)]
pub struct Bucket {
    name: String,
    url: String,
    region: String,
    signer: Option<Signer<Credential>>,
    http: reqwest::Client,
}

impl Bucket {
    /// The warehouse's bucket, or `None` when the warehouse is not on S3.
    pub fn of(config: &LakeConfig) -> Result<Option<Self>> {
        let Storage::S3 { bucket, endpoint, path_style, region } = &config.storage else {
            return Ok(None);
        };
        let region = region.clone().unwrap_or_else(|| DEFAULT_REGION.to_owned());
        let endpoint =
            endpoint.clone().unwrap_or_else(|| format!("https://s3.{region}.amazonaws.com"));
        let endpoint = endpoint.trim_end_matches('/');
        let url = if *path_style {
            format!("{endpoint}/{bucket}")
        } else {
            // Virtual-hosted style: the bucket becomes the first label of the endpoint's host.
            let (scheme, host) = endpoint.split_once("://").ok_or_else(|| {
                Error::Config(format!(
                    "S3_ENDPOINT {endpoint:?} must start with http:// or https://"
                ))
            })?;
            format!("{scheme}://{bucket}.{host}")
        };
        let props = config.file_io_props();
        let signer = match (props.get(S3_ACCESS_KEY_ID), props.get(S3_SECRET_ACCESS_KEY)) {
            (Some(key), Some(secret)) => Some(Signer::new(
                Context::new().with_env(OsEnv),
                StaticCredentialProvider::new(key, secret),
                RequestSigner::new("s3", &region),
            )),
            _ => None,
        };
        let http =
            reqwest::Client::builder().timeout(Duration::from_secs(30)).build().map_err(|err| {
                bucket_error(bucket, &url, format!("building the HTTP client: {err}"))
            })?;
        Ok(Some(Self { name: bucket.clone(), url, region, signer, http }))
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether the bucket exists (HeadBucket).
    pub async fn state(&self) -> Result<BucketState> {
        let (status, body) = self.send(http::Method::HEAD, Vec::new()).await?;
        match status.as_u16() {
            200..=299 => Ok(BucketState::Exists),
            404 => Ok(BucketState::Missing),
            _ => Err(self.refused("checking", status, &body)),
        }
    }

    /// Creates the bucket unless it exists (CreateBucket).
    pub async fn ensure(&self) -> Result<BucketState> {
        if self.state().await? == BucketState::Exists {
            return Ok(BucketState::Exists);
        }
        // Outside us-east-1, S3 wants the region in the body.
        let body = if self.region == DEFAULT_REGION {
            Vec::new()
        } else {
            format!(
                "<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
                 <LocationConstraint>{}</LocationConstraint></CreateBucketConfiguration>",
                self.region
            )
            .into_bytes()
        };
        let (status, text) = self.send(http::Method::PUT, body).await?;
        match status.as_u16() {
            200..=299 => Ok(BucketState::Created),
            // Another setup created it in between.
            409 if text.contains("BucketAlreadyOwnedByYou") => Ok(BucketState::Exists),
            _ => Err(self.refused("creating", status, &text)),
        }
    }

    async fn send(
        &self,
        method: http::Method,
        body: Vec<u8>,
    ) -> Result<(http::StatusCode, String)> {
        let request = http::Request::builder()
            .method(method.clone())
            .uri(&self.url)
            // The body is tiny and sent once; S3 accepts an unsigned payload with a signed head.
            .header("x-amz-content-sha256", "UNSIGNED-PAYLOAD")
            .body(())
            .map_err(|err| self.error(format!("building the request for {}: {err}", self.url)))?;
        let (mut parts, ()) = request.into_parts();
        if let Some(signer) = &self.signer {
            signer
                .sign(&mut parts, None)
                .await
                .map_err(|err| self.error(format!("signing the request: {err}")))?;
        }
        let response = self
            .http
            .request(method, &self.url)
            .headers(parts.headers)
            .body(body)
            .send()
            .await
            .map_err(|err| {
                self.error(format!(
                    "cannot reach {}: {err}; check S3_ENDPOINT and that the S3 service is running",
                    self.url
                ))
            })?;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        Ok((status, text))
    }

    fn refused(&self, doing: &str, status: http::StatusCode, body: &str) -> Error {
        let hint = match status.as_u16() {
            301 | 400 if body.contains("Region") || body.contains("region") => {
                "; check AWS_REGION (--s3-region)"
            }
            401 | 403 => "; check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
            _ => "",
        };
        let code = s3_error_code(body).map(|c| format!(" ({c})")).unwrap_or_default();
        self.error(format!("{doing} the bucket was refused with HTTP {status}{code}{hint}"))
    }

    fn error(&self, reason: String) -> Error {
        bucket_error(&self.name, &self.url, reason)
    }
}

fn bucket_error(bucket: &str, url: &str, reason: String) -> Error {
    Error::Bucket { bucket: bucket.to_owned(), endpoint: url.to_owned(), reason }
}

/// The `<Code>` of an S3 error body.
fn s3_error_code(body: &str) -> Option<&str> {
    let start = body.find("<Code>")? + "<Code>".len();
    let end = body[start..].find("</Code>")? + start;
    Some(&body[start..end])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::LakeArgs;

    fn bucket_of(warehouse: &str, endpoint: Option<&str>, path_style: bool) -> Bucket {
        let mut args = LakeArgs::embedded();
        args.warehouse = Some(warehouse.into());
        args.s3_endpoint = endpoint.map(Into::into);
        args.s3_path_style_access = path_style;
        let config = args.resolve(std::path::Path::new("/tmp")).unwrap();
        Bucket::of(&config).unwrap().unwrap()
    }

    #[test]
    fn bucket_urls_follow_the_addressing_style() {
        assert_eq!(
            bucket_of("s3://lake/x", Some("http://127.0.0.1:9000/"), true).url,
            "http://127.0.0.1:9000/lake"
        );
        assert_eq!(
            bucket_of("s3://lake/x", Some("https://minio.example"), false).url,
            "https://lake.minio.example"
        );
        assert_eq!(
            bucket_of("s3://lake", None, false).url,
            "https://lake.s3.us-east-1.amazonaws.com"
        );
    }

    #[test]
    fn s3_error_codes_are_read_from_the_body() {
        let body = "<Error><Code>AccessDenied</Code><Message>no</Message></Error>";
        assert_eq!(s3_error_code(body), Some("AccessDenied"));
        assert_eq!(s3_error_code("plain"), None);
    }
}

//! `POST /api/query` (and `GET /api/query?sql=...`): SQL over the lake for the SQL console and
//! the analytics page, through the same engine and table names as `bidlake query`, read-only.
//! One heavy query cannot take the platform down: results stop at `max_rows` (the rest of the
//! plan is not computed), a query is cancelled after `timeout` or when `POST /api/query/cancel`
//! names its id (its plan is dropped, which stops it), and only `concurrency` run at once.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::header::{AUTHORIZATION, CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use bidlake_lake::Secret;
use bidlake_query::{Format, Reading, RecordBatch};
use serde::Deserialize;
use tokio::sync::Semaphore;

use crate::Dashboard;

/// Limits of the query API.
#[derive(Debug, Clone)]
pub struct QueryLimits {
    /// Rows a result returns at most (`truncated: true` says more would follow).
    pub max_rows: usize,
    /// A query still running after this is cancelled.
    pub timeout: Duration,
    /// Queries running at once; more wait for a turn within their timeout.
    pub concurrency: usize,
    /// When set, requests need `Authorization: Bearer <token>` (the REST catalog's token).
    pub token: Option<Secret>,
}

impl Default for QueryLimits {
    fn default() -> Self {
        Self { max_rows: 10_000, timeout: Duration::from_secs(30), concurrency: 2, token: None }
    }
}

/// The limits and the turns of running queries, and how to cancel those that gave an id.
#[derive(Debug)]
pub(crate) struct QueryService {
    limits: QueryLimits,
    turns: Semaphore,
    cancels: std::sync::Mutex<std::collections::HashMap<String, Arc<tokio::sync::Notify>>>,
}

impl QueryService {
    pub(crate) fn new(limits: QueryLimits) -> Self {
        let turns = Semaphore::new(limits.concurrency.max(1));
        Self { limits, turns, cancels: Default::default() }
    }

    fn cancels(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, Arc<tokio::sync::Notify>>>
    {
        self.cancels.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct CancelRequest {
    id: String,
}

/// `POST /api/query/cancel` `{"id": ...}`: stops the query that was sent with that id.
pub(crate) async fn cancel_query(
    State(dashboard): State<Arc<Dashboard>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(refused) = unauthorized(&dashboard.query, &headers) {
        return refused;
    }
    let Ok(request) = serde_json::from_slice::<CancelRequest>(&body) else {
        return error(StatusCode::BAD_REQUEST, "send {\"id\": ...} of the query to cancel");
    };
    match dashboard.query.cancels().get(&request.id) {
        Some(notify) => {
            notify.notify_one();
            ([(CONTENT_TYPE, "application/json")], r#"{"cancelled":true}"#).into_response()
        }
        None => error(StatusCode::NOT_FOUND, "no running query has that id"),
    }
}

/// The refusal of a request without the token, when one is set.
fn unauthorized(service: &QueryService, headers: &HeaderMap) -> Option<Response> {
    let token = service.limits.token.as_ref()?;
    let given = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")));
    (given != Some(token.expose())).then(|| {
        error(
            StatusCode::UNAUTHORIZED,
            "this server requires `Authorization: Bearer <token>` (its CATALOG_TOKEN)",
        )
    })
}

/// What a result is sent as.
#[derive(Debug, Clone, Copy)]
enum Output {
    Json,
    Csv,
    /// An Arrow IPC stream.
    Arrow,
}

#[derive(Debug, Deserialize, Default)]
pub(crate) struct QueryRequest {
    sql: Option<String>,
    /// `json` (default), `csv` or `arrow` (Arrow IPC stream).
    format: Option<String>,
    /// Fewer rows than the server's limit.
    limit: Option<usize>,
    /// A name for the query, to cancel it by (`POST /api/query/cancel`).
    id: Option<String>,
}

fn error(status: StatusCode, message: &str) -> Response {
    let (line, column) = position(message).unzip();
    let body = serde_json::json!({ "error": message, "line": line, "column": column });
    (status, [(CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

/// The position DataFusion's SQL parser names in its message (`... at Line: 1, Column: 8`).
fn position(message: &str) -> Option<(u64, u64)> {
    let rest = &message[message.find("Line: ")? + 6..];
    let (line, rest) = rest.split_once(", Column: ")?;
    let column: String = rest.chars().take_while(char::is_ascii_digit).collect();
    Some((line.trim().parse().ok()?, column.parse().ok()?))
}

pub(crate) async fn get_query(
    State(dashboard): State<Arc<Dashboard>>,
    headers: HeaderMap,
    Query(request): Query<QueryRequest>,
) -> Response {
    answer(&dashboard, &headers, request).await
}

pub(crate) async fn post_query(
    State(dashboard): State<Arc<Dashboard>>,
    headers: HeaderMap,
    Query(params): Query<QueryRequest>,
    body: Bytes,
) -> Response {
    // A JSON body ({"sql": ..., "format": ..., "limit": ...}) or the SQL itself as text.
    let is_json = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let mut request = if is_json {
        match serde_json::from_slice::<QueryRequest>(&body) {
            Ok(request) => request,
            Err(err) => {
                return error(StatusCode::BAD_REQUEST, &format!("the body is not a query: {err}"));
            }
        }
    } else {
        QueryRequest { sql: Some(String::from_utf8_lossy(&body).into_owned()), ..params }
    };
    if request.sql.as_deref().is_none_or(|s| s.trim().is_empty()) {
        request.sql = None;
    }
    answer(&dashboard, &headers, request).await
}

async fn answer(dashboard: &Dashboard, headers: &HeaderMap, request: QueryRequest) -> Response {
    let service = &dashboard.query;
    if let Some(refused) = unauthorized(service, headers) {
        return refused;
    }
    let Some(sql) = request.sql else {
        return error(StatusCode::BAD_REQUEST, "no SQL: send it as the body, or as {\"sql\": ...}");
    };
    let output = match request.format.as_deref().unwrap_or("json") {
        "json" => Output::Json,
        "csv" => Output::Csv,
        "arrow" => Output::Arrow,
        other => {
            return error(
                StatusCode::BAD_REQUEST,
                &format!("format {other:?}: use json, csv or arrow"),
            );
        }
    };
    let max_rows = request.limit.unwrap_or(usize::MAX).min(service.limits.max_rows);
    let timeout = service.limits.timeout;
    let started = Instant::now();
    let run = async {
        let _turn = service.turns.acquire().await;
        let ctx = bidlake_query::session(&dashboard.sources.lake, Reading::default()).await?;
        bidlake_query::run_limited(&ctx, &sql, max_rows).await
    };
    let cancel = Arc::new(tokio::sync::Notify::new());
    if let Some(id) = &request.id {
        service.cancels().insert(id.clone(), cancel.clone());
    }
    let outcome = tokio::select! {
        outcome = tokio::time::timeout(timeout, run) => Some(outcome),
        () = cancel.notified() => None,
    };
    if let Some(id) = &request.id {
        service.cancels().remove(id);
    }
    let Some(outcome) = outcome else {
        return error(StatusCode::CONFLICT, "the query was cancelled");
    };
    let result = match outcome {
        Ok(Ok(result)) => result,
        Ok(Err(err)) => return error(StatusCode::BAD_REQUEST, &err.to_string()),
        Err(_) => {
            return error(
                StatusCode::GATEWAY_TIMEOUT,
                &format!(
                    "the query ran longer than {} s and was cancelled (QUERY_TIMEOUT)",
                    timeout.as_secs_f64()
                ),
            );
        }
    };
    let elapsed_ms = started.elapsed().as_secs_f64() * 1e3;
    match output {
        Output::Arrow => arrow_ipc(&result.schema, &result.batches),
        Output::Json => json(&result, elapsed_ms),
        Output::Csv => {
            let mut out = Vec::new();
            if let Err(err) =
                bidlake_query::write_batches(&non_empty(&result), Format::Csv, &mut out)
            {
                return error(StatusCode::INTERNAL_SERVER_ERROR, &err.to_string());
            }
            (
                [
                    (CONTENT_TYPE, "text/csv; charset=utf-8"),
                    (CONTENT_DISPOSITION, "attachment; filename=\"result.csv\""),
                ],
                out,
            )
                .into_response()
        }
    }
}

/// The batches, or one empty batch so that a CSV still has its header.
fn non_empty(result: &bidlake_query::Limited) -> Vec<RecordBatch> {
    if result.batches.is_empty() {
        vec![RecordBatch::new_empty(result.schema.clone())]
    } else {
        result.batches.clone()
    }
}

fn json(result: &bidlake_query::Limited, elapsed_ms: f64) -> Response {
    let columns: Vec<serde_json::Value> = result
        .schema
        .fields()
        .iter()
        .map(|f| serde_json::json!({ "name": f.name(), "type": f.data_type().to_string() }))
        .collect();
    // Rows as arrays in the columns' order: written as JSON objects under the columns' positions
    // (a result may name two columns alike), then read back by position.
    let positional = std::sync::Arc::new(bidlake_query::Schema::new(
        result
            .schema
            .fields()
            .iter()
            .enumerate()
            .map(|(i, f)| f.as_ref().clone().with_name(i.to_string()))
            .collect::<Vec<_>>(),
    ));
    let mut lines = Vec::new();
    for batch in &result.batches {
        let renamed = match RecordBatch::try_new(positional.clone(), batch.columns().to_vec()) {
            Ok(renamed) => renamed,
            Err(err) => return error(StatusCode::INTERNAL_SERVER_ERROR, &err.to_string()),
        };
        if let Err(err) = bidlake_query::write_batches(&[renamed], Format::Json, &mut lines) {
            return error(StatusCode::INTERNAL_SERVER_ERROR, &err.to_string());
        }
    }
    let width = result.schema.fields().len();
    let rows: Vec<serde_json::Value> = String::from_utf8_lossy(&lines)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Map<_, _>>(line).ok())
        .map(|object| {
            (0..width).map(|i| object.get(&i.to_string()).cloned().unwrap_or_default()).collect()
        })
        .collect();
    let body = serde_json::json!({
        "columns": columns,
        "rows": rows,
        "truncated": result.truncated,
        "elapsed_ms": (elapsed_ms * 10.0).round() / 10.0,
    });
    ([(CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

fn arrow_ipc(schema: &bidlake_query::SchemaRef, batches: &[RecordBatch]) -> Response {
    let mut out = Vec::new();
    let written = (|| {
        let mut writer = bidlake_query::StreamWriter::try_new(&mut out, schema)?;
        for batch in batches {
            writer.write(batch)?;
        }
        writer.finish()
    })();
    match written {
        Ok(()) => ([(CONTENT_TYPE, "application/vnd.apache.arrow.stream")], out).into_response(),
        Err(err) => error(StatusCode::INTERNAL_SERVER_ERROR, &err.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_parsers_position_is_read_from_its_message() {
        let message =
            "sql parser error: Expected: an expression, found: FROM at Line: 1, Column: 8";
        assert_eq!(position(message), Some((1, 8)));
        assert_eq!(position("table 'db.nope' not found"), None);
    }
}

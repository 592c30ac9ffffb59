//! Optional bearer-token authentication and the OAuth2 client-credentials endpoint
//! (`POST /v1/oauth/tokens`) that REST clients configured with `credential` call first.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::{Form, Json};
use bidlake_lake::Secret;
use serde::{Deserialize, Serialize};

use crate::rest_error::RestError;

/// How long a token issued by `/v1/oauth/tokens` stays valid.
const TOKEN_LIFETIME: Duration = Duration::from_secs(3600);

/// Who may call the catalog: anyone (no token, no credential configured), holders of the
/// configured token, or holders of a token issued for the configured client credential.
#[derive(Debug, Default)]
pub struct Auth {
    token: Option<Secret>,
    /// `client_id:client_secret`.
    credential: Option<Secret>,
    issued: Mutex<HashMap<String, Instant>>,
}

impl Auth {
    pub fn new(token: Option<Secret>, credential: Option<Secret>) -> Self {
        Self { token, credential, issued: Mutex::default() }
    }

    pub fn is_open(&self) -> bool {
        self.token.is_none() && self.credential.is_none()
    }

    fn accepts(&self, presented: &str) -> bool {
        if self.token.as_ref().is_some_and(|token| token.expose() == presented) {
            return true;
        }
        let mut issued = self.issued.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let now = Instant::now();
        issued.retain(|_, expires| *expires > now);
        issued.contains_key(presented)
    }

    fn issue(&self, client_id: &str, client_secret: &str) -> Option<String> {
        let credential = self.credential.as_ref()?;
        let (id, secret) = credential.expose().split_once(':')?;
        if id != client_id || secret != client_secret {
            return None;
        }
        let token = uuid::Uuid::new_v4().simple().to_string();
        let mut issued = self.issued.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        issued.insert(token.clone(), Instant::now() + TOKEN_LIFETIME);
        Some(token)
    }
}

/// Rejects requests without an accepted `Authorization: Bearer` token when auth is configured.
pub async fn require_token(
    State(auth): State<Arc<Auth>>,
    request: Request,
    next: Next,
) -> Response {
    if auth.is_open() || request.uri().path() == "/v1/oauth/tokens" {
        return next.run(request).await;
    }
    let presented =
        request.headers().get(AUTHORIZATION).and_then(|value| value.to_str().ok()).and_then(
            |value| value.strip_prefix("Bearer ").or_else(|| value.strip_prefix("bearer ")),
        );
    match presented {
        Some(token) if auth.accepts(token.trim()) => next.run(request).await,
        Some(_) => RestError::unauthorized("the bearer token is not valid (expired or unknown)")
            .into_response(),
        None => RestError::unauthorized(
            "this catalog requires `Authorization: Bearer <token>` (CATALOG_TOKEN, or a token from /v1/oauth/tokens for CATALOG_CREDENTIAL)",
        )
        .into_response(),
    }
}

#[derive(Debug, Deserialize)]
pub struct TokenRequest {
    grant_type: String,
    client_id: Option<String>,
    client_secret: Option<String>,
}

#[derive(Debug, Serialize)]
struct TokenResponse {
    access_token: String,
    token_type: &'static str,
    expires_in: u64,
    issued_token_type: &'static str,
}

/// OAuth2's error shape (RFC 6749 §5.2), which is what clients expect from this endpoint.
#[derive(Debug, Serialize)]
struct OAuthError {
    error: &'static str,
    error_description: &'static str,
}

pub async fn issue_token(
    State(auth): State<Arc<Auth>>,
    Form(request): Form<TokenRequest>,
) -> Response {
    let reject = |status: StatusCode, error: &'static str, error_description: &'static str| {
        (status, Json(OAuthError { error, error_description })).into_response()
    };
    if request.grant_type != "client_credentials" {
        return reject(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "only grant_type=client_credentials is supported",
        );
    }
    if auth.credential.is_none() {
        return reject(
            StatusCode::BAD_REQUEST,
            "invalid_client",
            "this catalog has no client credential configured (CATALOG_CREDENTIAL)",
        );
    }
    let (Some(id), Some(secret)) = (request.client_id, request.client_secret) else {
        return reject(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "client_id and client_secret are required",
        );
    };
    match auth.issue(&id, &secret) {
        Some(access_token) => Json(TokenResponse {
            access_token,
            token_type: "bearer",
            expires_in: TOKEN_LIFETIME.as_secs(),
            issued_token_type: "urn:ietf:params:oauth:token-type:access_token",
        })
        .into_response(),
        None => reject(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "unknown client_id or wrong client_secret",
        ),
    }
}

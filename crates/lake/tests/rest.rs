//! What bidlake sends a REST catalog, seen by a stand-in server on 127.0.0.1: the client
//! credential exchanged with the requested scope, the warehouse and header properties of
//! CATALOG_PROPERTIES (what Polaris and Lakekeeper need), and the token on every later request.

#![allow(clippy::unwrap_used)] // a test file: a failed unwrap is a failed test

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::{Arc, Mutex};

use bidlake_lake::{LakeArgs, Secret, open_lake};

/// Answers the token, config and list-namespaces calls and records each request as
/// "METHOD PATH", its lower-cased headers and its body.
fn stand_in_catalog() -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let uri = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let mut stream = stream.unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request = String::new();
            let mut length = 0;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap() == 0 || line == "\r\n" {
                    break;
                }
                let line = line.trim_end().to_owned();
                let lower = line.to_ascii_lowercase();
                if let Some(n) = lower.strip_prefix("content-length: ") {
                    length = n.parse().unwrap();
                }
                request.push_str(if request.is_empty() { &line } else { &lower });
                request.push('\n');
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            request.push_str(&String::from_utf8_lossy(&body));
            let path = request.split_whitespace().nth(1).unwrap_or_default().to_owned();
            record.lock().unwrap().push(request);
            let answer = if path.starts_with("/v1/oauth/tokens") {
                r#"{"access_token":"tok-1","token_type":"bearer","issued_token_type":"urn:ietf:params:oauth:token-type:access_token","expires_in":3600}"#
            } else if path.starts_with("/v1/config") {
                r#"{"defaults":{},"overrides":{}}"#
            } else {
                r#"{"namespaces":[]}"#
            };
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{answer}",
                answer.len()
            );
        }
    });
    (uri, seen)
}

#[tokio::test]
async fn catalog_properties_and_credentials_reach_the_rest_catalog() {
    let (uri, seen) = stand_in_catalog();
    let mut args = LakeArgs::embedded();
    args.catalog_uri = Some(uri);
    args.warehouse = Some("s3://lake/bidlake".into());
    args.catalog_credential = Some(Secret::from("client-1:secret-1".to_owned()));
    args.catalog_properties = vec![
        ("warehouse".into(), "bidlake_catalog".into()),
        ("scope".into(), "PRINCIPAL_ROLE:ALL".into()),
        ("header.X-Iceberg-Access-Delegation".into(), "vended-credentials".into()),
    ];
    let lake = open_lake(args.resolve(Path::new("/unused")).unwrap()).await.unwrap();
    let namespaces = lake.catalog.list_namespaces(None).await.unwrap();
    assert!(namespaces.is_empty());

    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 3, "token, config, namespaces: {seen:#?}");
    let token = &seen[0];
    assert!(token.starts_with("POST /v1/oauth/tokens "), "{token}");
    for part in ["client_id=client-1", "client_secret=secret-1", "scope=PRINCIPAL_ROLE%3AALL"] {
        assert!(token.contains(part), "{part} not in the token request:\n{token}");
    }
    let config = &seen[1];
    assert!(config.starts_with("GET /v1/config?warehouse=bidlake_catalog "), "{config}");
    for request in &seen[1..] {
        assert!(request.contains("authorization: bearer tok-1\n"), "{request}");
        assert!(request.contains("x-iceberg-access-delegation: vended-credentials\n"), "{request}");
    }
}

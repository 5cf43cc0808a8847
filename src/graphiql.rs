//! GraphiQL for administrators, served from the binary (`assets/graphiql/`): it works without
//! internet, and since the page loads only this server's own files, its policy allows no other
//! script (no CDN to trust, so no subresource integrity to keep).

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use rust_embed::RustEmbed;

#[derive(RustEmbed)]
#[folder = "assets/graphiql/"]
struct Assets;

/// In every asset URL, so an upgrade is never mixed with what a browser cached.
const GRAPHIQL_VERSION: &str = "3.8.3";

/// Scripts and styles from this server only; GraphiQL's editor sets inline styles.
const POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
                      img-src 'self' data:; font-src 'self' data:; connect-src 'self'; frame-ancestors 'none'";

pub async fn page() -> Response {
    let base = format!("/graphiql/{GRAPHIQL_VERSION}");
    let html = format!(
        r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="robots" content="noindex">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Portal GraphiQL</title>
<link rel="stylesheet" href="{base}/graphiql.min.css">
<link rel="stylesheet" href="{base}/page.css">
</head>
<body>
<div id="graphiql">Loading GraphiQL…</div>
<script src="{base}/react.production.min.js"></script>
<script src="{base}/react-dom.production.min.js"></script>
<script src="{base}/graphiql.min.js"></script>
<script src="{base}/start.js"></script>
</body>
</html>"#
    );
    let mut response = Html(html).into_response();
    response.headers_mut().insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(POLICY));
    response
}

/// `/graphiql/{version}/{file}`: immutable, cached for a year.
pub async fn asset(Path((version, file)): Path<(String, String)>) -> Response {
    if version != GRAPHIQL_VERSION {
        return StatusCode::NOT_FOUND.into_response();
    }
    let content_type = match file.rsplit_once('.') {
        Some((_, "css")) => "text/css; charset=utf-8",
        Some((_, "js")) => "text/javascript; charset=utf-8",
        _ => return StatusCode::NOT_FOUND.into_response(), // the folder's README is not served
    };
    match Assets::get(&file) {
        Some(asset) => (
            [(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "public, max-age=31536000, immutable")],
            asset.data.into_owned(),
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

//! GraphiQL for administrators, served from the binary (`assets/graphiql/`): it works without
//! internet, and since the page loads only this server's own files, its policy allows no other
//! script (no CDN to trust, so no subresource integrity to keep).

use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use rust_embed::RustEmbed;
use sha2::{Digest, Sha256};

#[derive(RustEmbed)]
#[folder = "assets/graphiql/"]
struct Assets;

/// In every asset URL: a digest of all the files, so a change to any of them (an upgrade, an
/// edit of start.js) gets new URLs and is never mixed with what a browser cached for a year.
static VERSION: LazyLock<String> = LazyLock::new(|| {
    let mut digest = Sha256::new();
    for file in Assets::iter() {
        if let Some(asset) = Assets::get(&file) {
            digest.update(asset.metadata.sha256_hash());
        }
    }
    digest.finalize().iter().take(6).map(|b| format!("{b:02x}")).collect()
});

/// Scripts and styles from this server only; GraphiQL's editor sets inline styles.
const POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
                      img-src 'self' data:; font-src 'self' data:; connect-src 'self'; frame-ancestors 'none'";

pub async fn page() -> Response {
    let base = format!("/graphiql/{}", *VERSION);
    let html = format!(
        r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="robots" content="noindex">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Portal GraphiQL</title>
<link rel="stylesheet" href="{base}/graphiql.min.css">
<link rel="stylesheet" href="{base}/graphiql-plugin-explorer.css">
<link rel="stylesheet" href="{base}/page.css">
</head>
<body>
<div id="graphiql">Loading GraphiQL…</div>
<script src="{base}/react.production.min.js"></script>
<script src="{base}/react-dom.production.min.js"></script>
<script src="{base}/graphiql.min.js"></script>
<script src="{base}/graphiql-plugin-explorer.umd.js"></script>
<script src="{base}/start.js"></script>
</body>
</html>"#
    );
    let mut response = Html(html).into_response();
    response.headers_mut().insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(POLICY));
    response
}

/// `/graphiql/{version}/{file}`: immutable, cached for a year, gzipped for browsers that take
/// it (the `.gz` beside each file is made by `gzip -9 -n -k`, see the folder's README; a test
/// checks each matches its file), with an ETag for revalidation.
pub async fn asset(Path((version, file)): Path<(String, String)>, headers: HeaderMap) -> Response {
    if version != *VERSION {
        return StatusCode::NOT_FOUND.into_response();
    }
    let content_type = match file.rsplit_once('.') {
        Some((_, "css")) => "text/css; charset=utf-8",
        Some((_, "js")) => "text/javascript; charset=utf-8",
        _ => return StatusCode::NOT_FOUND.into_response(), // the README and the .gz files are not URLs
    };
    let Some(asset) = Assets::get(&file) else { return StatusCode::NOT_FOUND.into_response() };
    let etag =
        format!("\"{}\"", asset.metadata.sha256_hash().iter().take(16).map(|b| format!("{b:02x}")).collect::<String>());
    let cached = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|tag| tag.trim().trim_start_matches("W/") == etag));
    let mut response = if cached {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let gzip = Assets::get(&format!("{file}.gz")).filter(|_| accepts_gzip(&headers));
        match gzip {
            Some(compressed) => ([(header::CONTENT_ENCODING, "gzip")], compressed.data.into_owned()).into_response(),
            None => asset.data.into_owned().into_response(),
        }
    };
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=31536000, immutable"));
    headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    if let Ok(etag) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, etag);
    }
    response
}

fn accepts_gzip(headers: &HeaderMap) -> bool {
    let accepted = headers.get_all(header::ACCEPT_ENCODING).iter().filter_map(|v| v.to_str().ok());
    accepted.flat_map(|v| v.split(',')).any(|coding| {
        let mut parts = coding.split(';');
        let name = parts.next().unwrap_or("").trim();
        let refused = parts.any(|p| matches!(p.trim(), "q=0" | "q=0.0" | "q=0.00" | "q=0.000"));
        name.eq_ignore_ascii_case("gzip") && !refused
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The CRC-32 of gzip's trailer (IEEE polynomial, reflected).
    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = !0u32;
        for &byte in bytes {
            crc ^= u32::from(byte);
            for _ in 0..8 {
                crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
            }
        }
        !crc
    }

    /// Every served file has a `.gz` twin holding exactly its bytes (gzip's trailer carries the
    /// CRC-32 and length of what it compressed), so an edited file with a stale twin fails here.
    #[test]
    fn each_gzip_twin_holds_its_file() {
        let served: Vec<String> =
            Assets::iter().filter(|f| f.ends_with(".js") || f.ends_with(".css")).map(Into::into).collect();
        assert!(served.len() >= 7, "{served:?}");
        for file in served {
            let raw = Assets::get(&file).unwrap().data;
            let gz = Assets::get(&format!("{file}.gz")).unwrap_or_else(|| panic!("{file}.gz is missing")).data;
            let trailer = &gz[gz.len() - 8..];
            let crc = u32::from_le_bytes(trailer[..4].try_into().unwrap());
            let size = u32::from_le_bytes(trailer[4..].try_into().unwrap());
            assert_eq!((crc, size as usize), (crc32(&raw), raw.len()), "{file}.gz is stale: gzip -9 -n -k -f {file}");
        }
    }
}

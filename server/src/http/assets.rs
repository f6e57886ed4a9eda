//! The built site's static files (`pkg/` with the wasm, JS and CSS, and the
//! public assets), read into memory at start-up and served from there.
//!
//! - **Names and caching.** A release build names `pkg/` files by content
//!   hash (cargo-leptos `hash-files`), so they are served with
//!   `Cache-Control: public, max-age=31536000, immutable`: a repeat visit
//!   fetches none of them. Unhashed files (a debug build's `pkg/`, the
//!   favicon) must be revalidated (`no-cache`), which costs a 304 at most.
//! - **Compression.** The release build writes brotli (`.br`) and gzip
//!   (`.gz`) variants beside each file (`cargo leptos build --precompress`);
//!   the best one the client's `Accept-Encoding` allows is sent, with
//!   `Vary: Accept-Encoding`. A file without variants goes out as it is.
//! - **Validation.** Each variant has a strong ETag; `If-None-Match` with a
//!   current tag gets 304 and no body.
//!
//! Anything under `/pkg/` that is not a file here is a plain 404, and no
//! `/pkg/` path is ever joined onto the file system, so `..` and its
//! encodings cannot escape the site there. (Other unmatched paths go to
//! Leptos' handler, which looks in the site directory with tower-http's
//! `ServeDir`, which refuses traversal, before it renders the 404 page; the
//! router refuses `..`, `%` and `\` in those paths first.)

use std::collections::HashMap;
use std::hash::{Hash as _, Hasher as _};
use std::io;
use std::path::Path;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use bytes::Bytes;

/// One stored representation of a file.
#[derive(Debug)]
struct Variant {
    body: Bytes,
    etag: HeaderValue,
}

/// A file with its representations.
#[derive(Debug)]
struct Asset {
    content_type: HeaderValue,
    cache_control: HeaderValue,
    identity: Variant,
    brotli: Option<Variant>,
    gzip: Option<Variant>,
}

/// Every static file of the site, by URL path.
#[derive(Debug, Default)]
pub(crate) struct Assets {
    files: HashMap<String, Asset>,
}

/// Which content codings a client accepts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Accepts {
    brotli: bool,
    gzip: bool,
}

impl Assets {
    /// Reads every file under `site_root`; an absent site is an empty table
    /// (tests and API-only use). `hashed` says whether `pkg/` names carry
    /// content hashes.
    ///
    /// # Errors
    /// When a file that exists cannot be read.
    pub(crate) fn load(site_root: &Path, hashed: bool) -> io::Result<Self> {
        let mut assets = Self::default();
        if site_root.is_dir() {
            assets.walk(site_root, site_root, hashed)?;
        }
        Ok(assets)
    }

    /// How many files are served.
    pub(crate) fn len(&self) -> usize {
        self.files.len()
    }

    fn walk(&mut self, root: &Path, dir: &Path, hashed: bool) -> io::Result<()> {
        for entry in std::fs::read_dir(dir)? {
            let path = entry?.path();
            if path.is_dir() {
                self.walk(root, &path, hashed)?;
                continue;
            }
            let name = path.to_string_lossy();
            if name.ends_with(".br") || name.ends_with(".gz") {
                continue;
            }
            let Ok(relative) = path.strip_prefix(root) else { continue };
            let url = format!("/{}", relative.to_string_lossy().replace('\\', "/"));
            let identity = std::fs::read(&path)?;
            let tag = content_tag(&identity);
            let variant = |suffix: &str| -> io::Result<Option<Variant>> {
                let mut name = path.as_os_str().to_owned();
                name.push(suffix);
                match std::fs::read(&name) {
                    // A variant older than its file is stale; skip it.
                    Ok(body) if is_fresh(&path, Path::new(&name)) => {
                        Ok(Some(Variant { body: Bytes::from(body), etag: etag(&format!("{tag}{suffix}")) }))
                    }
                    Ok(_) => Ok(None),
                    Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
                    Err(e) => Err(e),
                }
            };
            let immutable = hashed && url.starts_with("/pkg/");
            let asset = Asset {
                content_type: HeaderValue::from_static(content_type(&url)),
                cache_control: HeaderValue::from_static(if immutable {
                    "public, max-age=31536000, immutable"
                } else {
                    "no-cache"
                }),
                brotli: variant(".br")?,
                gzip: variant(".gz")?,
                identity: Variant { body: Bytes::from(identity), etag: etag(&tag) },
            };
            self.files.insert(url, asset);
        }
        Ok(())
    }

    /// The answer for `path`, or `None` when no such file is served.
    pub(crate) fn respond(&self, method: &Method, path: &str, headers: &HeaderMap) -> Option<Response> {
        let asset = self.files.get(path)?;
        if method != Method::GET && method != Method::HEAD {
            let mut response = Response::new(Body::empty());
            *response.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
            response.headers_mut().insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
            return Some(response);
        }
        let accepts = accepts(headers.get(header::ACCEPT_ENCODING));
        let (variant, coding) = match (&asset.brotli, &asset.gzip) {
            (Some(br), _) if accepts.brotli => (br, Some("br")),
            (_, Some(gz)) if accepts.gzip => (gz, Some("gzip")),
            _ => (&asset.identity, None),
        };
        let not_modified = headers.get(header::IF_NONE_MATCH).is_some_and(|tags| matches_tag(tags, &variant.etag));
        let mut response = if not_modified || method == Method::HEAD {
            Response::new(Body::empty())
        } else {
            Response::new(Body::from(variant.body.clone()))
        };
        if not_modified {
            *response.status_mut() = StatusCode::NOT_MODIFIED;
        }
        let out = response.headers_mut();
        out.insert(header::CONTENT_TYPE, asset.content_type.clone());
        out.insert(header::CACHE_CONTROL, asset.cache_control.clone());
        out.insert(header::ETAG, variant.etag.clone());
        if asset.brotli.is_some() || asset.gzip.is_some() {
            out.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
        }
        if let Some(coding) = coding {
            out.insert(header::CONTENT_ENCODING, HeaderValue::from_static(coding));
        }
        if method == Method::HEAD && !not_modified {
            out.insert(header::CONTENT_LENGTH, HeaderValue::from(variant.body.len()));
        }
        Some(response)
    }
}

/// Whether the variant at `variant` was written no earlier than `file`.
fn is_fresh(file: &Path, variant: &Path) -> bool {
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    match (modified(file), modified(variant)) {
        (Some(f), Some(v)) => v >= f,
        _ => true,
    }
}

/// A tag naming the content; ETags of variants add their suffix.
fn content_tag(body: &[u8]) -> String {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    body.hash(&mut hasher);
    format!("{:016x}{:x}", hasher.finish(), body.len())
}

fn etag(tag: &str) -> HeaderValue {
    HeaderValue::from_str(&format!("\"{tag}\"")).unwrap_or_else(|_| HeaderValue::from_static("\"\""))
}

/// Whether an `If-None-Match` list names `current` (weak comparison, as RFC
/// 9110 prescribes for this header, or `*`).
fn matches_tag(list: &HeaderValue, current: &HeaderValue) -> bool {
    let Ok(list) = list.to_str() else { return false };
    let Ok(current) = current.to_str() else { return false };
    list.split(',').map(str::trim).any(|tag| tag == "*" || tag.trim_start_matches("W/") == current)
}

/// Parses `Accept-Encoding`: a coding counts unless its `q` is 0.
fn accepts(value: Option<&HeaderValue>) -> Accepts {
    let Some(text) = value.and_then(|v| v.to_str().ok()) else { return Accepts::default() };
    let mut out = Accepts::default();
    for item in text.split(',') {
        let mut parts = item.split(';');
        let coding = parts.next().unwrap_or_default().trim();
        let refused = parts
            .any(|p| p.trim().strip_prefix("q=").and_then(|q| q.trim().parse::<f32>().ok()).is_some_and(|q| q <= 0.0));
        if refused {
            continue;
        }
        if coding.eq_ignore_ascii_case("br") {
            out.brotli = true;
        } else if coding.eq_ignore_ascii_case("gzip") || coding == "*" {
            out.gzip = true;
        }
    }
    out
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map_or("", |(_, ext)| ext) {
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "wasm" => "application/wasm",
        "css" => "text/css; charset=utf-8",
        "html" => "text/html; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "json" | "map" => "application/json",
        "txt" => "text/plain; charset=utf-8",
        "woff2" => "font/woff2",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site(hashed: bool) -> (tempfile::TempDir, Assets) {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let pkg = dir.path().join("pkg");
        std::fs::create_dir_all(&pkg).unwrap_or_else(|e| panic!("mkdir: {e}"));
        let write = |name: &str, body: &[u8]| {
            std::fs::write(pkg.join(name), body).unwrap_or_else(|e| panic!("write {name}: {e}"));
        };
        write("app.abc123.wasm", b"identity bytes");
        write("app.abc123.wasm.br", b"brotli bytes");
        write("app.abc123.wasm.gz", b"gzip bytes");
        write("plain.css", b"body{}");
        std::fs::write(dir.path().join("favicon.svg"), b"<svg/>").unwrap_or_else(|e| panic!("write: {e}"));
        let assets = Assets::load(dir.path(), hashed).unwrap_or_else(|e| panic!("load: {e}"));
        (dir, assets)
    }

    fn get(assets: &Assets, path: &str, pairs: &[(&'static str, &str)]) -> Option<Response> {
        let mut headers = HeaderMap::new();
        for (k, v) in pairs {
            headers.insert(*k, HeaderValue::from_str(v).unwrap_or_else(|e| panic!("{e}")));
        }
        assets.respond(&Method::GET, path, &headers)
    }

    fn header(response: &Response, name: header::HeaderName) -> &str {
        response.headers().get(name).map_or("", |v| v.to_str().unwrap_or(""))
    }

    #[test]
    fn the_best_accepted_variant_is_served_with_vary_and_immutable_caching() {
        let (_dir, assets) = site(true);
        assert_eq!(assets.len(), 3, "variants are not files of their own");
        let br = get(&assets, "/pkg/app.abc123.wasm", &[("accept-encoding", "gzip, deflate, br, zstd")]).unwrap();
        assert_eq!(header(&br, header::CONTENT_ENCODING), "br");
        assert_eq!(header(&br, header::VARY), "accept-encoding");
        assert_eq!(header(&br, header::CACHE_CONTROL), "public, max-age=31536000, immutable");
        assert_eq!(header(&br, header::CONTENT_TYPE), "application/wasm");
        let gz = get(&assets, "/pkg/app.abc123.wasm", &[("accept-encoding", "gzip, br;q=0")]).unwrap();
        assert_eq!(header(&gz, header::CONTENT_ENCODING), "gzip");
        let plain = get(&assets, "/pkg/app.abc123.wasm", &[]).unwrap();
        assert_eq!(header(&plain, header::CONTENT_ENCODING), "");
        let tags = [header(&br, header::ETAG), header(&gz, header::ETAG), header(&plain, header::ETAG)];
        assert!(
            tags[0] != tags[1] && tags[1] != tags[2] && tags[0] != tags[2],
            "each variant has its own tag: {tags:?}"
        );
        // Files outside pkg/, and unhashed builds, are revalidated.
        assert_eq!(header(&get(&assets, "/favicon.svg", &[]).unwrap(), header::CACHE_CONTROL), "no-cache");
        let (_dir, unhashed) = site(false);
        assert_eq!(header(&get(&unhashed, "/pkg/plain.css", &[]).unwrap(), header::CACHE_CONTROL), "no-cache");
    }

    #[test]
    fn a_current_etag_gets_304_without_a_body_and_a_stale_one_the_file() {
        let (_dir, assets) = site(true);
        let first = get(&assets, "/pkg/app.abc123.wasm", &[("accept-encoding", "br")]).unwrap();
        let tag = header(&first, header::ETAG).to_owned();
        let again =
            get(&assets, "/pkg/app.abc123.wasm", &[("accept-encoding", "br"), ("if-none-match", &tag)]).unwrap();
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
        assert_eq!(header(&again, header::ETAG), tag);
        let weak = format!("\"other\", W/{tag}");
        let again =
            get(&assets, "/pkg/app.abc123.wasm", &[("accept-encoding", "br"), ("if-none-match", &weak)]).unwrap();
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
        let stale = get(&assets, "/pkg/app.abc123.wasm", &[("if-none-match", "\"0000\"")]).unwrap();
        assert_eq!(stale.status(), StatusCode::OK);
    }

    #[test]
    fn paths_that_are_not_files_of_the_site_are_not_served() {
        let (_dir, assets) = site(true);
        for path in ["/pkg/", "/pkg/..", "/pkg/%2e%2e", "/pkg/../Cargo.toml", "/pkg/app.abc123.wasm.br", "/etc/passwd"]
        {
            assert!(get(&assets, path, &[]).is_none(), "{path}");
        }
    }

    #[test]
    fn accept_encoding_honours_q_zero_and_wildcards() {
        let parse = |v: &'static str| accepts(Some(&HeaderValue::from_static(v)));
        assert_eq!(parse("br;q=1.0, gzip;q=0.5"), Accepts { brotli: true, gzip: true });
        assert_eq!(parse("br;q=0, gzip"), Accepts { brotli: false, gzip: true });
        assert_eq!(parse("*"), Accepts { brotli: false, gzip: true });
        assert_eq!(parse("identity"), Accepts::default());
    }
}

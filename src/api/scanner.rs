//! The volunteer scanner, a web app served at `/scan/` from files embedded
//! in the binary (built from `scan/` into `scan/dist/`, committed).
//!
//! Every file goes out with a Content-Security-Policy that allows this
//! origin only, no referrer, and an ETag; nothing is cached without asking,
//! so a new release reaches scanners at their next load (offline, the
//! service worker serves its own copy).

use poem::{
    Request, Response, Route,
    http::{HeaderValue, Method, StatusCode, header},
};
use sha2::{Digest, Sha256};

/// The scanner's files: path under `/scan/`, content type, bytes.
const FILES: &[(&str, &str, &[u8])] = &[
    (
        "",
        "text/html; charset=utf-8",
        include_bytes!("../../scan/dist/index.html"),
    ),
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../scan/dist/app.js"),
    ),
    (
        "app.css",
        "text/css; charset=utf-8",
        include_bytes!("../../scan/dist/app.css"),
    ),
    (
        "sw.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../scan/dist/sw.js"),
    ),
    (
        "icon.svg",
        "image/svg+xml",
        include_bytes!("../../scan/dist/icon.svg"),
    ),
    (
        "app.webmanifest",
        "application/manifest+json",
        include_bytes!("../../scan/dist/app.webmanifest"),
    ),
    (
        "licenses.txt",
        "text/plain; charset=utf-8",
        include_bytes!("../../scan/dist/licenses.txt"),
    ),
];

/// Self only. The camera's frames are drawn into a canvas (`blob:` for the
/// stream), and the API is called on this origin.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
    style-src 'self'; img-src 'self' data: blob:; media-src 'self' blob: mediastream:; \
    connect-src 'self'; worker-src 'self'; manifest-src 'self'; object-src 'none'; \
    base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// One embedded file and what is sent with it.
struct File {
    content_type: &'static str,
    bytes: &'static [u8],
    etag: HeaderValue,
}

/// Adds `/scan/` and its files to `route`; `/scan` itself redirects there
/// (the service worker's scope is `/scan/`).
pub fn mount(route: Route) -> Route {
    let mut route = route.at("/scan", poem::endpoint::make_sync(|_| to_slash()));
    for (path, content_type, bytes) in FILES {
        let digest = Sha256::digest(bytes);
        let etag = HeaderValue::from_str(&format!("\"{}\"", hex::encode(&digest[..12])))
            .unwrap_or_else(|_| HeaderValue::from_static("\"scan\""));
        let file = std::sync::Arc::new(File {
            content_type,
            bytes,
            etag,
        });
        route = route.at(
            format!("/scan/{path}"),
            poem::endpoint::make_sync(move |req| serve(&file, &req)),
        );
    }
    route
}

/// The link that opens the scanner signed in with `token`: the token is in
/// the fragment, which a browser never sends, so it reaches no access log,
/// and the app removes it from the address bar and history at once.
pub fn signin_url(service_url: &str, token: &str) -> String {
    let token: String = url::form_urlencoded::byte_serialize(token.as_bytes()).collect();
    format!("{}/scan/#signin={token}", service_url.trim_end_matches('/'))
}

fn to_slash() -> Response {
    Response::builder()
        .status(StatusCode::PERMANENT_REDIRECT)
        .header(header::LOCATION, "/scan/")
        .finish()
}

fn serve(file: &File, req: &Request) -> Response {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return Response::builder()
            .status(StatusCode::METHOD_NOT_ALLOWED)
            .header(header::ALLOW, "GET, HEAD")
            .finish();
    }
    let fresh = req
        .headers()
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|tag| tag.trim() == file.etag.to_str().unwrap_or_default());
    let builder = Response::builder()
        .header(header::ETAG, file.etag.clone())
        .header(header::CACHE_CONTROL, "no-cache")
        .header(header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY)
        .header(header::REFERRER_POLICY, "no-referrer")
        .header(header::X_CONTENT_TYPE_OPTIONS, "nosniff")
        .header(header::X_FRAME_OPTIONS, "DENY")
        .header(
            "Permissions-Policy",
            "camera=(self), microphone=(), geolocation=()",
        );
    if fresh {
        return builder.status(StatusCode::NOT_MODIFIED).finish();
    }
    let builder = builder.content_type(file.content_type);
    if req.method() == Method::HEAD {
        return builder
            .header(header::CONTENT_LENGTH, file.bytes.len())
            .finish();
    }
    builder.body(file.bytes)
}

impl std::fmt::Debug for File {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("File")
            .field("content_type", &self.content_type)
            .field("bytes", &self.bytes.len())
            .finish()
    }
}

//! The dashboard's page shell and assets, embedded in the binary at build time (no CDN, no
//! fonts from elsewhere, no Node toolchain: the sources under `assets/` are served as written).
//!
//! Every page address (`/`, `/services/NAME`, ...) answers the same shell; `app.js` reads the
//! address and draws the view. Each asset carries an `ETag` computed at compile time and
//! `Cache-Control: no-cache`, so a browser revalidates (a 304 without a body) and never keeps
//! an asset of an older wrangle.

use axum::http::StatusCode;
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};

/// One embedded file.
pub(crate) struct Asset {
    pub(crate) body: &'static str,
    pub(crate) content_type: &'static str,
    pub(crate) etag: &'static str,
}

macro_rules! asset {
    ($file:literal, $content_type:literal) => {{
        const BODY: &str = include_str!(concat!("assets/", $file));
        const HASH: [u8; 18] = etag(BODY.as_bytes());
        Asset {
            body: BODY,
            content_type: $content_type,
            etag: match std::str::from_utf8(&HASH) {
                Ok(etag) => etag,
                Err(_) => panic!("an ETag is ASCII"),
            },
        }
    }};
}

pub(crate) const SHELL: Asset = asset!("index.html", "text/html; charset=utf-8");
pub(crate) const BOOT_JS: Asset = asset!("boot.js", "text/javascript; charset=utf-8");
pub(crate) const APP_JS: Asset = asset!("app.js", "text/javascript; charset=utf-8");
pub(crate) const STYLE_CSS: Asset = asset!("style.css", "text/css; charset=utf-8");
pub(crate) const ICON_SVG: Asset = asset!("icon.svg", "image/svg+xml");

/// Every page address of the application.
pub(crate) async fn shell(headers: HeaderMap) -> Response {
    serve(&SHELL, &headers)
}

pub(crate) async fn boot_js(headers: HeaderMap) -> Response {
    serve(&BOOT_JS, &headers)
}

pub(crate) async fn app_js(headers: HeaderMap) -> Response {
    serve(&APP_JS, &headers)
}

pub(crate) async fn style_css(headers: HeaderMap) -> Response {
    serve(&STYLE_CSS, &headers)
}

pub(crate) async fn icon_svg(headers: HeaderMap) -> Response {
    serve(&ICON_SVG, &headers)
}

fn serve(asset: &Asset, headers: &HeaderMap) -> Response {
    let etag = HeaderValue::from_static(asset.etag);
    let cache = (header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    let unchanged = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.split(',').any(|tag| tag.trim() == asset.etag));
    if unchanged {
        return (StatusCode::NOT_MODIFIED, [(header::ETAG, etag), cache]).into_response();
    }
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static(asset.content_type),
            ),
            (header::ETAG, etag),
            cache,
        ],
        asset.body,
    )
        .into_response()
}

/// `"` + 16 hex digits of FNV-1a 64 of `bytes` + `"`, at compile time.
const fn etag(bytes: &[u8]) -> [u8; 18] {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut index = 0;
    while index < bytes.len() {
        hash ^= bytes[index] as u64;
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        index += 1;
    }
    let mut tag = [b'"'; 18];
    let mut digit = 0;
    while digit < 16 {
        tag[1 + digit] = DIGITS[((hash >> (60 - 4 * digit)) & 0xf) as usize];
        digit += 1;
    }
    tag
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etags_are_quoted_hashes_that_differ_by_content() {
        assert_eq!(&etag(b""), b"\"cbf29ce484222325\"");
        let tags = [
            SHELL.etag,
            BOOT_JS.etag,
            APP_JS.etag,
            STYLE_CSS.etag,
            ICON_SVG.etag,
        ];
        for tag in tags {
            assert!(
                tag.len() == 18 && tag.starts_with('"') && tag.ends_with('"'),
                "{tag}"
            );
        }
        let unique: std::collections::BTreeSet<_> = tags.iter().collect();
        assert_eq!(unique.len(), tags.len());
    }

    #[test]
    fn the_shell_loads_only_its_own_assets_and_nothing_inline() {
        let html = SHELL.body;
        // boot.js before app.js: it starts the first requests, app.js takes them over.
        let boot = html.find(r#"<script src="/assets/boot.js"></script>"#);
        let app = html.find(r#"<script src="/assets/app.js" defer></script>"#);
        assert!(boot.is_some() && app.is_some() && boot < app, "{html}");
        assert!(html.contains(r#"<link rel="stylesheet" href="/assets/style.css">"#));
        // The CSP forbids inline code: any would simply not run.
        assert!(!html.contains("<style"), "inline style");
        assert!(!html.contains(" style="), "inline style attribute");
        assert!(!html.contains("<script>"), "inline script");
        let handler = html.split(" on").skip(1).find(|rest| {
            let name: String = rest.chars().take_while(char::is_ascii_lowercase).collect();
            !name.is_empty() && rest[name.len()..].starts_with('=')
        });
        assert!(handler.is_none(), "inline event handler: on{handler:?}");
        // Offline: nothing is fetched from elsewhere (the SVG namespace is a name, not a fetch).
        for asset in [SHELL, BOOT_JS, APP_JS, STYLE_CSS, ICON_SVG] {
            for scheme in ["http://", "https://", "//fonts."] {
                for (index, _) in asset.body.match_indices(scheme) {
                    assert!(
                        asset.body[index..].starts_with("http://www.w3.org/2000/svg"),
                        "an external address in {}: {}",
                        asset.content_type,
                        &asset.body[index..(index + 40).min(asset.body.len())]
                    );
                }
            }
        }
    }
}

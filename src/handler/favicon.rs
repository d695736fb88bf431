//! The built-in `/favicon.ico`, for a root that has none.
//!
//! Browsers ask for `/favicon.ico` on every page that names no icon: a 404 page, a text file, a
//! site without one. Answering 404 there costs every such page a second failed request (and a
//! console error); the built-in icon (the project's logo, a 32x32 PNG of 1.4 KiB, which browsers
//! take at that path whatever its name says) is cached for a day instead. A `favicon.ico` in the
//! root is served as any file, ahead of this.

use std::sync::{Arc, LazyLock};

use crate::http::Status;
use crate::response::body::Body;
use crate::response::content_type::ContentType;
use crate::response::plan::ResponsePlan;
use crate::response::reason::Reason;

/// The icon's bytes.
const ICON: &[u8] = include_bytes!("favicon.png");
/// The path (normalised: no leading slash) the built-in icon answers.
pub const PATH: &[u8] = b"favicon.ico";
/// A day: the icon never changes within a release, and no revalidation request per page.
static CACHE_CONTROL: LazyLock<Arc<str>> = LazyLock::new(|| Arc::from("public, max-age=86400"));

/// The built-in icon's response.
pub fn plan() -> ResponsePlan {
    ResponsePlan {
        content_type: Some(ContentType {
            mime: "image/png",
            charset: false,
        }),
        content_length: Some(ICON.len() as u64),
        cache_control: Some(Arc::clone(&CACHE_CONTROL)),
        body: Body::Static(ICON),
        reason: Some(Reason::Favicon),
        ..ResponsePlan::empty(Status::OK)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_icon_is_a_png() {
        assert!(ICON.starts_with(b"\x89PNG\r\n\x1a\n"));
        let plan = plan();
        assert_eq!(plan.content_length, Some(ICON.len() as u64));
        assert_eq!(
            plan.reason.and_then(Reason::phrase),
            Some("built-in favicon")
        );
    }
}

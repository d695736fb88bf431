use std::fs;

use crate::util::*;

#[test]
fn serves_a_file_with_its_headers() {
    let server = TestServer::with(
        |root| fs::write(root.join("a.txt"), "hello\n").unwrap(),
        |_| {},
    );
    let response = server.get("/a.txt");
    response.assert_status(200);
    assert_eq!(response.text(), "hello\n");
    assert_eq!(
        response.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    assert_eq!(response.header("content-length"), Some("6"));
    assert!(
        response
            .header("last-modified")
            .is_some_and(|v| v.ends_with(" GMT"))
    );
    assert!(response.header("date").is_some_and(|v| v.ends_with(" GMT")));
    assert_eq!(
        response.header("server"),
        Some(concat!("mioserve/", env!("CARGO_PKG_VERSION")))
    );
}

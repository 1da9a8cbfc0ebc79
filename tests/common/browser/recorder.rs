//! A recording reverse proxy between the browser and the test server: it
//! passes every request and answer through unchanged (but for asking the
//! server not to compress) and keeps the bytes of each HTML document the
//! browser navigated to, as the server sent them.
//!
//! Those bytes are what the HTML checker must see. The browser's page source
//! (`document.documentElement.outerHTML`) is the DOM after the HTML parser
//! repaired what it had to — a misnested tag, a stray end tag, a duplicate
//! attribute are gone from it — so checking it would hide exactly the errors a
//! validator is for. Fetching a page again with another client is no good
//! either: the one-off notices are gone by then, and a form's error state is
//! the answer to a POST. The proxy records the very answer the browser shows.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};

use crate::common::side_server::SideServer;

/// One HTML document as the server sent it.
#[derive(Clone, Debug)]
pub struct Document {
    pub method: String,
    /// Path and query.
    pub target: String,
    pub status: u16,
    pub html: String,
}

struct Shared {
    upstream: String,
    client: reqwest::Client,
    documents: Mutex<Vec<Document>>,
}

pub struct Recorder {
    server: SideServer,
    shared: Arc<Shared>,
}

/// Headers that belong to one connection, not to the message.
const HOP_BY_HOP: &[&str] =
    &["connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade"];

impl Recorder {
    /// A proxy on a free loopback port in front of `upstream` (`http://host:port`).
    pub fn start(upstream: &str) -> Recorder {
        let shared = Arc::new(Shared {
            upstream: upstream.trim_end_matches('/').to_owned(),
            client: super::super::client_builder().build().unwrap(),
            documents: Mutex::new(Vec::new()),
        });
        let data = web::Data::from(shared.clone());
        let server = SideServer::start("recording proxy", move |app| {
            app.app_data(data.clone()).default_service(web::to(forward));
        });
        Recorder { server, shared }
    }

    /// Where the browser goes instead of the test server.
    pub fn base_url(&self) -> String {
        self.server.base_url()
    }

    /// The last document the browser navigated to.
    pub fn last_document(&self) -> Option<Document> {
        self.shared.documents.lock().unwrap().last().cloned()
    }

    pub fn documents(&self) -> Vec<Document> {
        self.shared.documents.lock().unwrap().clone()
    }
}

/// A navigation (not a stylesheet, an image or the favicon): Chromium says so
/// in `Sec-Fetch-Dest`, sent to loopback origins as to any trustworthy one.
fn is_navigation(req: &HttpRequest) -> bool {
    match req.headers().get("sec-fetch-dest") {
        Some(dest) => dest.as_bytes() == b"document",
        None => req.headers().get("accept").is_some_and(|a| a.to_str().unwrap_or("").contains("text/html")),
    }
}

async fn forward(req: HttpRequest, body: web::Bytes, shared: web::Data<Shared>) -> HttpResponse {
    let target = req.uri().path_and_query().map(|p| p.as_str().to_owned()).unwrap_or_else(|| "/".into());
    let method = reqwest::Method::from_bytes(req.method().as_str().as_bytes()).expect("an HTTP method");
    let mut upstream = shared.client.request(method, format!("{}{target}", shared.upstream));
    for (name, value) in req.headers() {
        let name = name.as_str();
        // Identity encoding, so that the recorded bytes are the HTML itself.
        // `Host` passes through, as a reverse proxy in front of the app passes
        // it on: the app compares a form's `Origin` with it.
        if HOP_BY_HOP.contains(&name) || matches!(name, "content-length" | "accept-encoding") {
            continue;
        }
        upstream = upstream.header(name, value.as_bytes());
    }
    let answer = match upstream.body(body.to_vec()).send().await {
        Ok(answer) => answer,
        Err(e) => return HttpResponse::BadGateway().body(format!("the test server did not answer: {e}")),
    };
    let status = answer.status().as_u16();
    let headers = answer.headers().clone();
    let bytes = answer.bytes().await.unwrap_or_default();
    let is_html = headers.get("content-type").and_then(|v| v.to_str().ok()).is_some_and(|t| t.starts_with("text/html"));
    if is_html && is_navigation(&req) {
        shared.documents.lock().unwrap().push(Document {
            method: req.method().to_string(),
            target,
            status,
            html: String::from_utf8_lossy(&bytes).into_owned(),
        });
    }
    let mut response = HttpResponse::build(StatusCode::from_u16(status).expect("an HTTP status"));
    for (name, value) in &headers {
        let name = name.as_str();
        if HOP_BY_HOP.contains(&name) || matches!(name, "content-length" | "date") {
            continue;
        }
        response.append_header((name, value.as_bytes()));
    }
    response.body(bytes)
}

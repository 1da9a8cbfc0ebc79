//! PostgreSQL outages for tests: a TCP forwarder between the app and the
//! server, which can drop every connection and refuse new ones (a server that
//! went away) and then forward again on the same port; and what a test checks
//! while the server is away.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::{Response, StatusCode};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use super::{Backend, TestApp, TestDb, spawn_app_on, test_vars};

/// A TCP forwarder between the app and PostgreSQL. `cut` ends every forwarded
/// connection and closes each new one at once (a server that went away);
/// `restore` forwards again, on the same port.
pub struct Proxy {
    pub port: u16,
    state: Arc<Mutex<ProxyState>>,
    accept_loop: JoinHandle<()>,
}

pub struct ProxyState {
    up: bool,
    live: Vec<JoinHandle<()>>,
}

impl Proxy {
    pub async fn start(upstream: String) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(ProxyState { up: true, live: Vec::new() }));
        let shared = state.clone();
        let accept_loop = tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else { continue };
                // Checked and recorded under the lock, so `cut` misses no connection.
                let mut state = shared.lock().unwrap();
                if !state.up {
                    drop(inbound);
                    continue;
                }
                let upstream = upstream.clone();
                state.live.retain(|task| !task.is_finished());
                state.live.push(tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(&upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                }));
            }
        });
        Proxy { port, state, accept_loop }
    }

    pub fn cut(&self) {
        let mut state = self.state.lock().unwrap();
        state.up = false;
        for task in state.live.drain(..) {
            task.abort();
        }
    }

    pub fn restore(&self) {
        self.state.lock().unwrap().up = true;
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept_loop.abort();
        self.cut();
    }
}

/// A URL split into what precedes the host (scheme and user), `host:port`,
/// and what follows (database and query).
fn split_host(url: &str) -> (&str, &str, &str) {
    let scheme_end = url.find("://").map(|i| i + 3).unwrap_or(0);
    let rest = url[scheme_end..].find(['/', '?']).map(|i| scheme_end + i).unwrap_or(url.len());
    let host = url[scheme_end..rest].rfind('@').map(|i| scheme_end + i + 1).unwrap_or(scheme_end);
    (&url[..host], &url[host..rest], &url[rest..])
}

/// Where a PostgreSQL URL points, as `host:port` (5432 when it names no port).
fn server_address(url: &str) -> String {
    let (_, host_port, _) = split_host(url);
    let has_port = host_port.rsplit_once(':').is_some_and(|(_, p)| p.parse::<u16>().is_ok());
    if has_port { host_port.to_owned() } else { format!("{host_port}:5432") }
}

/// The same URL, pointed at `127.0.0.1:port`.
fn through_port(url: &str, port: u16) -> String {
    let (before, _, after) = split_host(url);
    format!("{before}127.0.0.1:{port}{after}")
}

/// The app on a fresh PostgreSQL database, reached through a [`Proxy`]; `None`
/// without `TEST_DATABASE_URL`.
///
/// PostgreSQL only: SQLite is an embedded file, with no server to lose.
pub async fn app_behind_a_proxy() -> Option<(TestApp, Proxy)> {
    let Some(backend) = Backend::postgres() else {
        eprintln!("PostgreSQL outage not tested: TEST_DATABASE_URL is not set");
        return None;
    };
    let db = TestDb::create(&backend);
    let proxy = Proxy::start(server_address(&db.url)).await;
    let mut vars = test_vars(&db);
    vars.insert("DATABASE_URL".into(), through_port(&db.url, proxy.port));
    let app = spawn_app_on(db, vars).await;
    Some((app, proxy))
}

const READINESS_LIMIT: Duration = Duration::from_secs(20);

/// Polls `/readyz` until it answers `expected`. During an outage each answer
/// takes up to the pool's 3 s connection timeout.
pub async fn wait_for_readiness(app: &TestApp, expected: StatusCode) {
    let deadline = Instant::now() + READINESS_LIMIT;
    loop {
        let status = app.get(&app.client, "/readyz").await.status();
        if status == expected {
            return;
        }
        assert!(Instant::now() < deadline, "/readyz still answers {status}, not {expected}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[track_caller]
pub fn assert_is_unavailable_page(status: StatusCode, content_type: &str, page: &str) {
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{page}");
    assert!(content_type.starts_with("text/html"), "an HTML page, not {content_type}");
    assert!(page.to_lowercase().contains("temporarily unavailable"), "{page}");
}

pub async fn read_page(response: Response) -> (StatusCode, String, String) {
    let status = response.status();
    let content_type =
        response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    (status, content_type, response.text().await.unwrap())
}

//! A small actix-web server of the tests' own — the fake exchange, the
//! browser's recording proxy — on a free loopback port, with one worker on a
//! thread and actix system of its own (so it works under any test runtime),
//! stopped when dropped.
#![allow(dead_code)]

use actix_web::dev::ServerHandle;
use actix_web::{App, HttpServer, web};

pub struct SideServer {
    port: u16,
    handle: ServerHandle,
}

impl SideServer {
    /// Starts an app that `configure` sets up; `name` names its thread and
    /// its failures.
    pub fn start(name: &str, configure: impl Fn(&mut web::ServiceConfig) + Send + Clone + 'static) -> SideServer {
        let (started, on_start) = std::sync::mpsc::channel();
        let what = name.to_owned();
        std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                actix_web::rt::System::new().block_on(async move {
                    let server = HttpServer::new(move || App::new().configure(configure.clone()))
                        .workers(1)
                        .disable_signals()
                        .shutdown_timeout(0)
                        .bind(("127.0.0.1", 0))
                        .unwrap_or_else(|e| panic!("the {what} binds a port: {e}"));
                    let port = server.addrs()[0].port();
                    let server = server.run();
                    started.send((port, server.handle())).expect("the test waits for it");
                    server.await.unwrap_or_else(|e| panic!("the {what} runs: {e}"));
                })
            })
            .unwrap_or_else(|e| panic!("the {name}'s thread starts: {e}"));
        let (port, handle) = on_start.recv().unwrap_or_else(|_| panic!("the {name} starts"));
        SideServer { port, handle }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for SideServer {
    fn drop(&mut self) {
        // The stop command is sent at once; waiting for its completion is not needed.
        drop(self.handle.stop(false));
    }
}

//! The default SMTP server of the tests: in this process, so `cargo test` needs
//! nothing beyond the Rust toolchain. The SMTP conversation itself (commands,
//! replies, the state machine, dot-unstuffing of DATA) is the `mailin` crate's,
//! an implementation written by others; this file only moves its lines over
//! loopback TCP and keeps each message it accepts.
//!
//! `stop` behaves like a server that went away: the port refuses connections
//! and every open connection is cut, so a client's pooled connection fails too.

use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, Ipv4Addr, Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use mailin::{Action, Handler, Response, SessionBuilder};

/// Messages accepted so far, as received (after DATA's dot-unstuffing).
pub type Inbox = Arc<Mutex<Vec<Vec<u8>>>>;

/// One listening period of the server on its port: from `listen` to `stop`.
pub struct Listening {
    port: u16,
    stopping: Arc<AtomicBool>,
    open_connections: Arc<Mutex<Vec<TcpStream>>>,
    acceptor: Option<JoinHandle<()>>,
}

impl Listening {
    pub fn listen(port: u16, inbox: Inbox) -> Listening {
        // std sets SO_REUSEADDR on Unix, so the port is bound again at once
        // after a stop even with the old connections in TIME_WAIT.
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("the SMTP test server binds its port");
        let stopping = Arc::new(AtomicBool::new(false));
        let open_connections = Arc::new(Mutex::new(Vec::new()));
        let acceptor = {
            let (stopping, open_connections) = (stopping.clone(), open_connections.clone());
            std::thread::spawn(move || accept_until_stopped(listener, &stopping, &open_connections, &inbox))
        };
        Listening { port, stopping, open_connections, acceptor: Some(acceptor) }
    }

    pub fn stop(&mut self) {
        let Some(acceptor) = self.acceptor.take() else { return };
        self.stopping.store(true, Ordering::SeqCst);
        // Wakes the blocked accept, which then sees the flag and drops the listener.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        let _ = acceptor.join();
        for connection in self.open_connections.lock().unwrap().drain(..) {
            let _ = connection.shutdown(Shutdown::Both);
        }
    }
}

impl Drop for Listening {
    fn drop(&mut self) {
        self.stop();
    }
}

fn accept_until_stopped(
    listener: TcpListener,
    stopping: &AtomicBool,
    open_connections: &Mutex<Vec<TcpStream>>,
    inbox: &Inbox,
) {
    for connection in listener.incoming() {
        if stopping.load(Ordering::SeqCst) {
            return;
        }
        let Ok(connection) = connection else { continue };
        if let Ok(handle) = connection.try_clone() {
            open_connections.lock().unwrap().push(handle);
        }
        let inbox = inbox.clone();
        std::thread::spawn(move || converse(connection, inbox));
    }
}

/// One client's SMTP session, line by line, until QUIT or a cut connection.
fn converse(connection: TcpStream, inbox: Inbox) {
    let peer = connection.peer_addr().map(|a| a.ip()).unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
    let Ok(mut writer) = connection.try_clone() else { return };
    let mut reader = BufReader::new(connection);
    let mut session = SessionBuilder::new("smtp.test").build(peer, Collector { message: Vec::new(), inbox });
    if session.greeting().write_to(&mut writer).is_err() {
        return;
    }
    let mut line = Vec::new();
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let response = session.process(&line);
        match response.action {
            Action::NoReply => {}
            Action::Reply | Action::UpgradeTls => {
                if response.write_to(&mut writer).and_then(|()| writer.flush()).is_err() {
                    return;
                }
            }
            Action::Close => {
                let _ = response.write_to(&mut writer);
                return;
            }
        }
    }
}

/// Keeps the DATA of each accepted message.
struct Collector {
    message: Vec<u8>,
    inbox: Inbox,
}

impl Handler for Collector {
    fn data_start(&mut self, _domain: &str, _from: &str, _is8bit: bool, _to: &[String]) -> Response {
        self.message.clear();
        mailin::response::OK
    }

    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.message.extend_from_slice(buf);
        Ok(())
    }

    fn data_end(&mut self) -> Response {
        self.inbox.lock().unwrap().push(std::mem::take(&mut self.message));
        mailin::response::OK
    }
}

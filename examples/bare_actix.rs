//! The baseline `bench/load` compares `GET /login` with: a bare actix-web
//! server whose one handler answers `hello`, with the actix-web version and
//! features of the app and the same worker count (actix-web's default, one
//! per CPU, which the app keeps too). No middleware, no session, no template.
//!
//! ```sh
//! cargo run --release --example bare_actix -- 8090   # or PORT=8090; 0 picks a free port
//! ```

use actix_web::{App, HttpResponse, HttpServer, web};

async fn hello() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain; charset=utf-8").body("hello")
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let port = std::env::args().nth(1).or_else(|| std::env::var("PORT").ok()).unwrap_or_else(|| "8090".to_owned());
    let port: u16 = port
        .parse()
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("not a port: {port}")))?;
    // Every path answers, so the bench can request the same path as the app's.
    let server = HttpServer::new(|| App::new().default_service(web::to(hello))).bind(("127.0.0.1", port))?;
    // Port 0 picks a free one: the line says which (the bench script reads it).
    for address in server.addrs() {
        println!("bare_actix listening on http://{address}");
    }
    server.run().await
}

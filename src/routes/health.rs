//! Liveness, readiness, and the stylesheet (compiled in, so the binary serves
//! its pages from any working directory).

use actix_web::{HttpResponse, web};
use diesel::connection::SimpleConnection;

use crate::state::AppState;

pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain; charset=utf-8").body("ok")
}

/// 200 when the database answers, 503 while it does not.
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let ready = crate::db::run(&state.pool, |conn| Ok(conn.batch_execute("SELECT 1")?)).await;
    match ready {
        Ok(()) => HttpResponse::Ok().content_type("text/plain; charset=utf-8").body("ready"),
        Err(e) => {
            e.log();
            HttpResponse::ServiceUnavailable()
                .content_type("text/plain; charset=utf-8")
                .insert_header(("Retry-After", "5"))
                .body("database unavailable")
        }
    }
}

const STYLESHEET: &str = include_str!("../../static/app.css");

pub async fn stylesheet() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header(("Cache-Control", "public, max-age=3600"))
        .body(STYLESHEET)
}

//! `GET /metrics`: the Prometheus text format, for loopback scrapers or for a
//! scraper that presents the `METRICS_TOKEN` bearer token. A request that came
//! through a proxy (it carries `X-Forwarded-For` or `Forwarded`) is never
//! taken for a local one, so a reverse proxy on the same host does not open
//! the metrics to the internet.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use secrecy::ExposeSecret;
use subtle::ConstantTimeEq;

use crate::metrics::{self, CONTENT_TYPE};
use crate::sessions::extract::bearer_token;
use crate::state::AppState;

enum Access {
    Granted,
    WrongToken,
    NotLocal,
}

fn access(req: &HttpRequest, state: &AppState) -> Access {
    if let Some(presented) = bearer_token(req) {
        let matches = state
            .settings
            .metrics_token
            .as_ref()
            .is_some_and(|token| bool::from(token.expose_secret().as_bytes().ct_eq(presented.as_bytes())));
        return if matches { Access::Granted } else { Access::WrongToken };
    }
    // Without a forwarding header the client is the TCP peer itself.
    let forwarded = req.headers().contains_key("x-forwarded-for") || req.headers().contains_key(header::FORWARDED);
    let peer_is_loopback = req.peer_addr().is_some_and(|peer| peer.ip().is_loopback());
    if peer_is_loopback && !forwarded { Access::Granted } else { Access::NotLocal }
}

pub async fn scrape(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    match access(&req, &state) {
        Access::Granted => {}
        Access::WrongToken => {
            return HttpResponse::Unauthorized()
                .insert_header((header::WWW_AUTHENTICATE, "Bearer"))
                .content_type("text/plain; charset=utf-8")
                .body("wrong metrics token");
        }
        Access::NotLocal => {
            return HttpResponse::Forbidden()
                .content_type("text/plain; charset=utf-8")
                .body("metrics are served to loopback, or with the METRICS_TOKEN bearer token");
        }
    }
    match crate::db::run(&state.pool, |conn| Ok(metrics::snapshot(conn)?)).await {
        Ok(snapshot) => HttpResponse::Ok()
            .content_type(CONTENT_TYPE)
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .body(state.metrics.render(&snapshot)),
        Err(e) => {
            e.log();
            HttpResponse::ServiceUnavailable()
                .content_type("text/plain; charset=utf-8")
                .insert_header((header::RETRY_AFTER, "5"))
                .body("database unavailable")
        }
    }
}

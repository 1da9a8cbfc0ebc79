//! Headers on every response: a CSP without inline script, no sniffing, no
//! framing, a same-origin referrer policy, and HSTS in production. Handlers
//! that need something stricter (no-referrer on pages whose URL holds a token)
//! set it themselves; `DefaultHeaders` never overrides a header already set.

use actix_web::middleware::DefaultHeaders;

pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
     form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

pub fn default_headers(production: bool) -> DefaultHeaders {
    let headers = DefaultHeaders::new()
        .add(("Content-Security-Policy", CONTENT_SECURITY_POLICY))
        .add(("X-Content-Type-Options", "nosniff"))
        .add(("X-Frame-Options", "DENY"))
        .add(("Referrer-Policy", "same-origin"))
        .add(("Cache-Control", "no-store"));
    if production { headers.add(("Strict-Transport-Security", "max-age=31536000")) } else { headers }
}

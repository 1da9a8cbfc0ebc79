//! `HEAD` on every `GET` route (RFC 9110 §9.3.2): the same status and headers
//! as `GET`, without the body. Routes are declared for `GET` only, so a
//! `HEAD` is routed as the `GET` it stands for; the connection still knows the
//! request was a `HEAD` (actix-http read that before any middleware) and sends
//! no body. The gateway is left out: it forwards only what its allow-list
//! names, and `HEAD` is not in it.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::Next;

pub async fn answer_head_as_get(
    mut req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    if req.method() == Method::HEAD && !super::is_gateway_path(req.path()) {
        req.head_mut().method = Method::GET;
    }
    next.call(req).await
}

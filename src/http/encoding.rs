//! Strict `application/x-www-form-urlencoded` decoding. The usual decoders
//! replace invalid UTF-8 with U+FFFD without a word; here a body or query
//! string whose bytes or percent-escapes are not UTF-8 is refused (400), so
//! "odd encodings" never reach a handler as silently altered text.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;

use crate::errors::Error;

/// Whether every key and value of `input` decodes to valid UTF-8.
pub fn is_strict_utf8_form(input: &[u8]) -> bool {
    input.split(|b| *b == b'&').flat_map(|pair| pair.splitn(2, |b| *b == b'=')).all(|part| {
        let decoded: Vec<u8> = percent_encoding::percent_decode(part).collect();
        std::str::from_utf8(&decoded).is_ok()
    })
}

/// Refuses a request whose query string is not valid UTF-8 once decoded.
pub async fn reject_invalid_query(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    if is_strict_utf8_form(req.query_string().as_bytes()) {
        return next.call(req).await.map(ServiceResponse::map_into_left_body);
    }
    let error = Error::BadRequest("The address is malformed: its query is not valid UTF-8.".into());
    let response = super::error_response_for(req.path(), error);
    Ok(req.into_response(response).map_into_right_body())
}

#[cfg(test)]
mod tests {
    use super::is_strict_utf8_form;

    #[test]
    fn valid_forms_pass_and_invalid_utf8_does_not() {
        assert!(is_strict_utf8_form(b"email=a%40b.c&name=J%C3%BCrgen&empty="));
        assert!(!is_strict_utf8_form(b"email=%FF%FE"));
        assert!(!is_strict_utf8_form(&[b'a', b'=', 0xC3, 0x28]));
    }
}

//! Re-signing (SPEC §10): the client's `signature` (made with a made-up secret)
//! is dropped from the query and the body, every other parameter is kept byte
//! for byte in its place and order, `timestamp` is added only if absent, and
//! the real signature — hex HMAC-SHA256 of exactly the query string followed
//! directly by the body — is appended where the client had put its own.
//!
//! Nothing is decoded and re-encoded: the exchange checks the signature over
//! the bytes it receives, so the bytes signed are the bytes sent.

use crate::exchange::signer;

/// Why a request cannot be re-signed; each is a 400 for the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResignError {
    /// A parameter that is not `name=value` in form encoding; the name, if readable.
    Malformed(Option<String>),
    /// `signature` more than once, in the query, the body or both.
    DuplicateSignature,
}

/// Where the client put its `signature`, and so where ours goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    Query,
    Body,
}

/// The request as it goes to the exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resigned {
    pub query: String,
    pub body: String,
}

/// Checks that `text` is `name=value` pairs joined by `&`, in form encoding,
/// and returns the pairs as sent. An empty text has no pairs.
pub fn split_form(text: &str) -> Result<Vec<(&str, &str)>, ResignError> {
    if text.is_empty() {
        return Ok(Vec::new());
    }
    text.split('&')
        .map(|pair| {
            let (name, value) = pair.split_once('=').ok_or_else(|| ResignError::Malformed(readable(pair)))?;
            if name.is_empty() || !is_form_encoded(name) || !is_form_encoded(value) {
                return Err(ResignError::Malformed(readable(name)));
            }
            Ok((name, value))
        })
        .collect()
}

/// Printable ASCII other than the characters form encoding escapes, and `%`
/// only as the start of a two-digit hex escape.
fn is_form_encoded(part: &str) -> bool {
    let bytes = part.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let escape = bytes.get(i + 1..i + 3);
                if !escape.is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit)) {
                    return false;
                }
                i += 3;
            }
            b'&' | b'=' | b'#' | b' ' => return false,
            b if b.is_ascii_graphic() => i += 1,
            _ => return false,
        }
    }
    true
}

/// A parameter name to quote in an error: short, and only if it is plain.
fn readable(name: &str) -> Option<String> {
    let plain = !name.is_empty() && name.len() <= 32 && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    plain.then(|| name.to_owned())
}

/// Removes every `signature` pair; returns the rest joined as sent and how many were removed.
fn without_signature(pairs: &[(&str, &str)]) -> (String, usize) {
    let kept: Vec<String> =
        pairs.iter().filter(|(name, _)| *name != "signature").map(|(name, value)| format!("{name}={value}")).collect();
    (kept.join("&"), pairs.len() - kept.len())
}

fn append(text: &mut String, pair: &str) {
    if !text.is_empty() {
        text.push('&');
    }
    text.push_str(pair);
}

/// Re-signs `query` and `body` (both already known to be form-encoded text)
/// with `secret`; `now_ms` is the timestamp added when the client sent none.
pub fn resign(query: &str, body: &str, secret: &str, now_ms: i64) -> Result<Resigned, ResignError> {
    let query_pairs = split_form(query)?;
    let body_pairs = split_form(body)?;
    let (mut query_out, in_query) = without_signature(&query_pairs);
    let (mut body_out, in_body) = without_signature(&body_pairs);
    if in_query + in_body > 1 {
        return Err(ResignError::DuplicateSignature);
    }
    let place = if in_body == 1 { Place::Body } else { Place::Query };
    let has_timestamp = query_pairs.iter().chain(&body_pairs).any(|(name, _)| *name == "timestamp");
    if !has_timestamp {
        let pair = format!("timestamp={now_ms}");
        match place {
            Place::Query => append(&mut query_out, &pair),
            Place::Body => append(&mut body_out, &pair),
        }
    }
    let signed = format!("{query_out}{body_out}");
    let signature = format!("signature={}", signer::sign(secret, &signed));
    match place {
        Place::Query => append(&mut query_out, &signature),
        Place::Body => append(&mut body_out, &signature),
    }
    Ok(Resigned { query: query_out, body: body_out })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Binance's "SIGNED Endpoint security" examples.
    const DOC_SECRET: &str = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j";

    #[test]
    fn everything_in_the_query_reproduces_binances_first_example() {
        let query = "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559&signature=0000";
        let out = resign(query, "", DOC_SECRET, 0).unwrap();
        assert_eq!(
            out.query,
            "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559&signature=c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"
        );
        assert_eq!(out.body, "");
    }

    #[test]
    fn query_and_body_reproduce_binances_mixed_example_with_the_signature_in_the_body() {
        let out = resign(
            "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC",
            "quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559&signature=dummy",
            DOC_SECRET,
            0,
        )
        .unwrap();
        assert_eq!(out.query, "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC");
        assert_eq!(
            out.body,
            "quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559&signature=0fd168b8ddb4876a0358a8d14d0c9f3da0e9b20c5d52b2a00fcf7d1c602f9a77"
        );
    }

    #[test]
    fn a_signature_anywhere_is_dropped_and_the_order_and_encoding_are_kept() {
        let out = resign("signature=abc&b=%2C2&a=1%20x", "", "s", 0).unwrap();
        assert!(out.query.starts_with("b=%2C2&a=1%20x&timestamp=0&signature="), "{}", out.query);
        assert_eq!(out.query.rsplit_once("&signature=").unwrap().1, signer::sign("s", "b=%2C2&a=1%20x&timestamp=0"));
    }

    #[test]
    fn a_timestamp_is_added_only_when_absent_and_next_to_the_signature() {
        let out = resign("symbol=BTCUSDT", "side=BUY&signature=x", "s", 42).unwrap();
        assert_eq!(out.query, "symbol=BTCUSDT");
        assert!(out.body.starts_with("side=BUY&timestamp=42&signature="));
        let kept = resign("timestamp=7", "", "s", 42).unwrap();
        assert!(kept.query.starts_with("timestamp=7&signature="));
    }

    #[test]
    fn an_unsigned_request_gets_signed_in_the_query() {
        let out = resign("", "", "s", 5).unwrap();
        assert_eq!(out.query, format!("timestamp=5&signature={}", signer::sign("s", "timestamp=5")));
    }

    #[test]
    fn duplicate_signatures_and_malformed_pairs_are_refused() {
        assert_eq!(resign("signature=a&signature=b", "", "s", 0), Err(ResignError::DuplicateSignature));
        assert_eq!(resign("signature=a", "signature=b", "s", 0), Err(ResignError::DuplicateSignature));
        for bad in ["a", "a=1&&b=2", "=1", "a=1&", "a=%zz", "a=%4", "a=b c", "a=é", "a=1=2"] {
            assert!(matches!(resign(bad, "", "s", 0), Err(ResignError::Malformed(_))), "{bad}");
        }
        assert_eq!(resign("symbol=1&x y=2", "", "s", 0), Err(ResignError::Malformed(None)));
        assert_eq!(resign("ok=1&quantity=%G1", "", "s", 0), Err(ResignError::Malformed(Some("quantity".into()))));
    }
}

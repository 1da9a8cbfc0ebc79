//! Binance's rules for a SIGNED request, as pure functions.
//!
//! `totalParams` is the query string followed directly by the body (no `&`
//! between them). The `signature` parameter is the last parameter of the query
//! or the last parameter of the body, and the signed bytes are `totalParams`
//! exactly as sent — never decoded and encoded again — without
//! `&signature=<hex>` (or `signature=<hex>` when it is its part's only
//! parameter). The signature is the hex HMAC-SHA256 of those bytes keyed with
//! the secret, in either letter case.

use std::borrow::Cow;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use super::Rejection;

/// Binance's default and largest `recvWindow`, in milliseconds.
const DEFAULT_RECV_WINDOW_MS: i64 = 5000;
const MAX_RECV_WINDOW_MS: i64 = 60_000;

const FORM_CONTENT_TYPE: &str = "application/x-www-form-urlencoded";

/// The hex HMAC-SHA256 of `payload` keyed with `secret`: what a client puts in
/// `signature` (the fake's own, independent of the product's signer).
pub fn hmac_hex(secret: &str, payload: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(payload.as_bytes());
    mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect()
}

/// The request's parameters, query first then body, names and values
/// form-decoded (`+` is a space, `%XX` a byte), as the endpoint reads them.
#[derive(Clone, Debug, Default)]
pub struct TotalParams {
    list: Vec<(String, String)>,
}

impl TotalParams {
    /// Refuses a parameter sent twice — in one part or across both — with
    /// Binance's `-1101`.
    pub fn parse(query: &str, body: &str) -> Result<TotalParams, Rejection> {
        let mut list: Vec<(String, String)> = Vec::new();
        for (name, value) in raw_pairs(query).chain(raw_pairs(body)) {
            let name = form_decode(name).into_owned();
            if list.iter().any(|(seen, _)| *seen == name) {
                return Err(Rejection::duplicate_values());
            }
            list.push((name, form_decode(value).into_owned()));
        }
        Ok(TotalParams { list })
    }

    /// The decoded value as sent, possibly empty.
    pub fn value(&self, name: &str) -> Option<&str> {
        self.list.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// The decoded value, if sent and not empty (Binance treats an empty
    /// value as not sent).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.value(name).filter(|v| !v.is_empty())
    }

    /// The value, or Binance's `-1102` for a mandatory parameter.
    pub fn required(&self, name: &str) -> Result<&str, Rejection> {
        self.get(name).ok_or_else(|| Rejection::mandatory(name))
    }
}

/// The pairs of one part as sent (not decoded), empty pieces skipped.
pub fn raw_pairs(text: &str) -> impl Iterator<Item = (&str, &str)> {
    text.split('&').filter(|p| !p.is_empty()).map(|p| p.split_once('=').unwrap_or((p, "")))
}

/// Form decoding: `+` is a space, `%XX` a byte; invalid UTF-8 is replaced.
pub fn form_decode(text: &str) -> Cow<'_, str> {
    if !text.contains(['+', '%']) {
        return Cow::Borrowed(text);
    }
    let spaced = text.replace('+', " ");
    Cow::Owned(percent_encoding::percent_decode_str(&spaced).decode_utf8_lossy().into_owned())
}

/// The body as parameter text. Binance reads body parameters only from a
/// `application/x-www-form-urlencoded` body (any `charset`); a non-empty
/// body of any other type (or of none, or not UTF-8) is refused with `-1100`
/// (the fake's choice: Binance cannot read parameters out of it). An empty
/// body is no parameters, whatever its type.
pub fn form_body<'a>(content_type: Option<&str>, body: &'a [u8]) -> Result<&'a str, Rejection> {
    if body.is_empty() {
        return Ok("");
    }
    let is_form = content_type
        .is_some_and(|ct| ct.split(';').next().unwrap_or_default().trim().eq_ignore_ascii_case(FORM_CONTENT_TYPE));
    if !is_form {
        return Err(Rejection::illegal_characters());
    }
    std::str::from_utf8(body).map_err(|_| Rejection::illegal_characters())
}

/// Binance's rule: `timestamp < serverTime + 1000` and
/// `serverTime - timestamp <= recvWindow` (`recvWindow` 5000 unless sent, at
/// most 60000), over the query alone.
pub fn check_timestamp(query: &str, now_ms: i64) -> Result<(), Rejection> {
    check_total_timestamp(query, "", now_ms)
}

/// [`check_timestamp`] with `timestamp` and `recvWindow` read from the query
/// or the body.
pub fn check_total_timestamp(query: &str, body: &str, now_ms: i64) -> Result<(), Rejection> {
    check_params_timestamp(&TotalParams::parse(query, body)?, now_ms)
}

pub fn check_params_timestamp(params: &TotalParams, now_ms: i64) -> Result<(), Rejection> {
    let timestamp: i64 =
        params.value("timestamp").and_then(|t| t.parse().ok()).ok_or_else(|| Rejection::mandatory("timestamp"))?;
    let recv_window: i64 = match params.value("recvWindow") {
        None => DEFAULT_RECV_WINDOW_MS,
        Some(w) => w.parse().map_err(|_| Rejection::mandatory("recvWindow"))?,
    };
    if !(1..=MAX_RECV_WINDOW_MS).contains(&recv_window) {
        return Err(Rejection::bad_recv_window());
    }
    if timestamp >= now_ms + 1000 {
        return Err(Rejection::ahead_of_server());
    }
    if now_ms - timestamp > recv_window {
        return Err(Rejection::outside_recv_window());
    }
    Ok(())
}

/// [`verify_total_params`] for a request whose parameters are all in the query.
pub fn verify_signature(secret: &str, query: &str) -> Result<(), Rejection> {
    verify_total_params(secret, query, "")
}

/// Checks the signature of a request with this raw query string (without the
/// `?`) and raw body, in this order: any parameter sent twice (`signature`
/// included, in one part or in both) → `-1101`; no `signature`, or an empty
/// one → `-1102`; `signature` not the last parameter of its part, not 64 hex
/// digits, or not the HMAC of the signed bytes → `-1022`.
pub fn verify_total_params(secret: &str, query: &str, body: &str) -> Result<(), Rejection> {
    TotalParams::parse(query, body)?;
    let (signed, signature) = match (split_signature(query)?, split_signature(body)?) {
        (Some(_), Some(_)) => return Err(Rejection::duplicate_values()),
        (Some((rest, signature)), None) => ([rest, body].concat(), signature),
        (None, Some((rest, signature))) => ([query, rest].concat(), signature),
        (None, None) => return Err(Rejection::mandatory("signature")),
    };
    if signature.is_empty() {
        return Err(Rejection::mandatory("signature"));
    }
    let tag = decode_hex(signature).ok_or_else(Rejection::bad_signature)?;
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(signed.as_bytes());
    mac.verify_slice(&tag).map_err(|_| Rejection::bad_signature())
}

/// Finds `signature` in one part (query or body): `None` when absent, else
/// the part without `&signature=<value>` and the value as sent. A `signature`
/// that is not the part's last piece, or whose name is spelled other than
/// `signature=` (percent-encoded, say), cannot be cut out exactly: `-1022`.
fn split_signature(part: &str) -> Result<Option<(&str, &str)>, Rejection> {
    let pieces: Vec<&str> = part.split('&').collect();
    let name_of = |piece: &&str| form_decode(piece.split_once('=').map_or(*piece, |(name, _)| name)) == "signature";
    let Some(index) = pieces.iter().position(name_of) else {
        return Ok(None);
    };
    let last = pieces[index];
    if index != pieces.len() - 1 {
        return Err(Rejection::bad_signature());
    }
    let value = match last.strip_prefix("signature=") {
        Some(value) => value,
        None if last == "signature" => "",
        None => return Err(Rejection::bad_signature()),
    };
    let rest = &part[..part.len() - last.len()];
    Ok(Some((rest.strip_suffix('&').unwrap_or(rest), value)))
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if text.len() != 64 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok()).collect()
}

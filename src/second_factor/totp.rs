//! RFC 6238 time-based one-time passwords as authenticator apps speak them:
//! HMAC-SHA-1, 6 digits, 30-second steps, one step either side accepted. The
//! algorithm is `totp-rs`'s; this file holds our parameters, the secret's
//! text forms (base32, the `otpauth://` URI) and the QR code drawn from it.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use secrecy::{ExposeSecret, SecretString};
use totp_rs::{Builder, Secret, Totp};

/// The issuer shown in authenticator apps.
pub const ISSUER: &str = "TradeBot";
/// RFC 4226 recommends 160 bits, the length of an HMAC-SHA-1 key.
pub const SECRET_BYTES: usize = 20;
pub const STEP_SECONDS: u64 = 30;
/// RFC 3986's unreserved characters stay as they are; the rest is escaped.
const LABEL_ESCAPED: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// A fresh secret from the OS CSPRNG, as base32 text (how it is sealed and shown).
pub fn new_secret() -> SecretString {
    let mut bytes = [0u8; SECRET_BYTES];
    rand::fill(&mut bytes);
    SecretString::from(Secret::new_stack(bytes).to_base32())
}

fn totp(secret_base32: &SecretString) -> Option<Totp> {
    let secret = Secret::try_from_base32(secret_base32.expose_secret()).ok()?;
    // SHA-1, 6 digits, 30 s and a skew of one step are the builder's defaults,
    // and RFC 6238's; spelt out so that a change of default cannot move them.
    Builder::new()
        .with_algorithm(totp_rs::Algorithm::SHA1)
        .with_digits(6)
        .with_step_duration(STEP_SECONDS)
        .with_skew(1)
        .with_secret(secret)
        .build()
        .ok()
}

/// The step (`unix_time / 30`) whose code `code` is, if it is the code of the
/// current step or of one step either side; `None` for anything else,
/// including text that is not six digits. Spaces are ignored (apps show
/// `123 456`).
pub fn matching_step(secret_base32: &SecretString, code: &str, unix_time: u64) -> Option<u64> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    totp(secret_base32)?.check(&code, unix_time)
}

/// The code of the step containing `unix_time` (the tests' authenticator).
pub fn code_at(secret_base32: &SecretString, unix_time: u64) -> Option<String> {
    Some(totp(secret_base32)?.generate(unix_time).to_string())
}

/// `otpauth://totp/TradeBot:<email>?secret=…&issuer=TradeBot` (SPEC §11), the
/// Key URI Format every authenticator app reads.
pub fn provisioning_uri(secret_base32: &SecretString, email: &str) -> String {
    format!(
        "otpauth://totp/{ISSUER}:{}?secret={}&issuer={ISSUER}",
        utf8_percent_encode(email, LABEL_ESCAPED),
        secret_base32.expose_secret()
    )
}

/// The URI as a QR code in inline SVG, drawn on the server (no script, no
/// image request: the page's CSP allows neither inline data nor other
/// origins). `label` is its text alternative.
pub fn qr_svg(uri: &str, label: &str) -> Option<String> {
    let code = qrcode::QrCode::with_error_correction_level(uri, qrcode::EcLevel::M).ok()?;
    let svg = code.render::<qrcode::render::svg::Color>().min_dimensions(220, 220).quiet_zone(true).build();
    // The renderer writes a standalone XML document; inside HTML only the
    // <svg> element belongs, and it gets its role and accessible name.
    let start = svg.find("<svg")?;
    let escaped = askama_escape(label);
    Some(svg[start..].replacen("<svg", &format!(r#"<svg role="img" aria-label="{escaped}" class="qr-code""#), 1))
}

fn askama_escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('"', "&quot;").replace('<', "&lt;").replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 Appendix B: the SHA-1 seed "12345678901234567890" and its
    /// eight-digit codes. A six-digit code is the same number modulo 10^6,
    /// so ours are their last six digits.
    const RFC_SECRET_ASCII: &[u8] = b"12345678901234567890";
    const RFC_VECTORS: [(u64, &str); 6] = [
        (59, "94287082"),
        (1_111_111_109, "07081804"),
        (1_111_111_111, "14050471"),
        (1_234_567_890, "89005924"),
        (2_000_000_000, "69279037"),
        (20_000_000_000, "65353130"),
    ];

    fn rfc_secret() -> SecretString {
        SecretString::from(Secret::from(RFC_SECRET_ASCII.to_vec()).to_base32())
    }

    #[test]
    fn codes_match_the_rfc_6238_test_vectors() {
        let secret = rfc_secret();
        for (time, eight_digits) in RFC_VECTORS {
            assert_eq!(code_at(&secret, time).unwrap(), eight_digits[2..], "T = {time}");
            assert_eq!(matching_step(&secret, &eight_digits[2..], time), Some(time / 30), "T = {time}");
        }
    }

    #[test]
    fn one_step_either_side_is_accepted_and_two_are_not() {
        let secret = rfc_secret();
        let now: u64 = 1_234_567_890;
        let step = now / 30;
        for offset in [-1i64, 0, 1] {
            let code = code_at(&secret, now.checked_add_signed(offset * 30).unwrap()).unwrap();
            assert_eq!(matching_step(&secret, &code, now), Some(step.checked_add_signed(offset).unwrap()));
        }
        for offset in [-2i64, 2] {
            let code = code_at(&secret, now.checked_add_signed(offset * 30).unwrap()).unwrap();
            assert_eq!(matching_step(&secret, &code, now), None, "offset {offset}");
        }
    }

    #[test]
    fn anything_but_six_digits_is_refused() {
        let secret = rfc_secret();
        let code = code_at(&secret, 59).unwrap();
        assert_eq!(matching_step(&secret, &format!("{} {}", &code[..3], &code[3..]), 59), Some(1));
        for bad in ["", "12345", "1234567", "abcdef", "２８７０８２", "-28708"] {
            assert_eq!(matching_step(&secret, bad, 59), None, "{bad:?}");
        }
    }

    #[test]
    fn a_new_secret_is_160_random_bits_in_base32() {
        let a = new_secret();
        let b = new_secret();
        assert_eq!(a.expose_secret().len(), 32, "20 bytes are 32 base32 characters");
        assert_ne!(a.expose_secret(), b.expose_secret());
    }

    #[test]
    fn the_uri_and_qr_code_name_the_issuer_and_account() {
        let secret = rfc_secret();
        let uri = provisioning_uri(&secret, "ann+bots@example.com");
        assert_eq!(
            uri,
            format!(
                "otpauth://totp/TradeBot:ann%2Bbots%40example.com?secret={}&issuer=TradeBot",
                secret.expose_secret()
            )
        );
        let svg = qr_svg(&uri, "QR code for \"TradeBot\"").unwrap();
        assert!(svg.starts_with(r#"<svg role="img" aria-label="QR code for &quot;TradeBot&quot;""#), "{svg:.80}");
        assert!(!svg.contains("<?xml") && svg.ends_with("</svg>"));
    }
}

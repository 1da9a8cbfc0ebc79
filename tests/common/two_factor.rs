//! Test helpers for the second factor: turning TOTP on through the pages, and
//! an authenticator that computes codes from the key the page shows.

use reqwest::{Client, StatusCode};
use secrecy::SecretString;

use super::TestApp;

/// What turning 2FA on left the test holding, like a user with a phone and a
/// sheet of recovery codes.
pub struct Authenticator {
    pub secret: String,
    pub recovery_codes: Vec<String>,
    /// The step of the code the setup was confirmed with (used, so not again).
    pub confirmed_step: u64,
}

pub fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

impl Authenticator {
    /// The code of the step `offset` steps from now.
    pub fn code(&self, offset: i64) -> String {
        let time = unix_now() as i64 + offset * 30;
        code_at(&self.secret, time as u64)
    }

    /// The code of the step after the one used to confirm: good (within ±1
    /// step) and never used yet.
    pub fn fresh_code(&self) -> String {
        code_at(&self.secret, (self.confirmed_step + 1) * 30)
    }
}

pub fn code_at(secret: &str, unix_time: u64) -> String {
    tradebot::second_factor::totp::code_at(&SecretString::from(secret.to_owned()), unix_time).expect("a valid key")
}

/// The base32 key the setup page shows for manual entry.
pub fn key_on_page(html: &str) -> String {
    let marker = r#"<code id="totp-key">"#;
    let start = html.find(marker).unwrap_or_else(|| panic!("no TOTP key on the page:\n{html}")) + marker.len();
    html[start..].split('<').next().unwrap().to_owned()
}

/// The recovery codes the page shows once.
pub fn recovery_codes_on_page(html: &str) -> Vec<String> {
    let list = html.split(r#"<ul class="recovery-codes">"#).nth(1).expect("a list of recovery codes");
    let list = list.split("</ul>").next().unwrap();
    list.split("<code>").skip(1).map(|c| c.split('<').next().unwrap().to_owned()).collect()
}

/// Turns 2FA on for the logged-in `client` as a user would: reads the key off
/// `/account/2fa` and confirms it with the current code.
pub async fn enable_two_factor(app: &TestApp, client: &Client) -> Authenticator {
    let (status, page) = app.get_html(client, "/account/2fa").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let secret = key_on_page(&page);
    let now = unix_now();
    let code = code_at(&secret, now);
    let response = app.submit(client, "/account/2fa", "/account/2fa/enable", &[("code", &code)]).await;
    assert_eq!(response.status(), StatusCode::OK, "enabling with the current code");
    let recovery_codes = recovery_codes_on_page(&response.text().await.unwrap());
    Authenticator { secret, recovery_codes, confirmed_step: now / 30 }
}

/// Makes the session of every login of `email` look as if its last proof
/// was `minutes` ago (for re-authentication tests).
pub fn age_last_authentication(app: &TestApp, email: &str, minutes: i64) {
    use diesel::prelude::*;
    use tradebot::db::schema::sessions;
    let user_id = app.user_id(email);
    let then = tradebot::clock::now() - chrono::Duration::minutes(minutes);
    app.with_conn(|conn| {
        diesel::update(sessions::table.filter(sessions::user_id.eq(user_id)))
            .set(sessions::authenticated_at.eq(then))
            .execute(conn)
            .unwrap()
    });
}

/// What the QR code drawn on a page says, read by a decoder we did not write
/// (rqrr). The SVG is the `qrcode` renderer's: one path of squares
/// `M{x} {y}h{w}v{w}H{x}V{y}`, each a dark module, on a white square.
pub fn decode_qr_svg(html: &str) -> String {
    let svg = html.split("<svg").nth(1).expect("an inline SVG");
    let number = |attr: &str| -> usize {
        let start = svg.find(&format!(r#"{attr}=""#)).unwrap() + attr.len() + 2;
        svg[start..].split('"').next().unwrap().parse().unwrap()
    };
    let (width, height) = (number("width"), number("height"));
    let path = svg.split(r#" d=""#).nth(1).expect("the modules' path").split('"').next().unwrap();
    let mut dark = vec![false; width * height];
    for square in path.split('M').filter(|s| !s.is_empty()) {
        let (x, rest) = square.split_once(' ').unwrap();
        let (y, rest) = rest.split_once('h').unwrap();
        let size: usize = rest.split('v').next().unwrap().parse().unwrap();
        let (x, y): (usize, usize) = (x.parse().unwrap(), y.parse().unwrap());
        for row in y..y + size {
            for column in x..x + size {
                dark[row * width + column] = true;
            }
        }
    }
    let mut image =
        rqrr::PreparedImage::prepare_from_greyscale(width, height, |x, y| if dark[y * width + x] { 0 } else { 255 });
    let grids = image.detect_grids();
    assert_eq!(grids.len(), 1, "one QR code in the SVG");
    grids[0].decode().expect("the QR code decodes").1
}

//! Exchange keys as tests write them: realistic 64-character Binance keys,
//! their masked form, and adding one through the page as a user does.

use reqwest::{Client, Response};

use super::TestApp;

const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// A realistic 64-character alphanumeric Binance key or secret, the same for
/// the same seed and different for different seeds.
pub fn realistic_key(seed: &str) -> String {
    let mut state =
        seed.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
    (0..64)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            ALPHABET[(state % ALPHABET.len() as u64) as usize] as char
        })
        .collect()
}

/// How a key is shown: first four, an ellipsis, last four.
pub fn masked(api_key: &str) -> String {
    format!("{}…{}", &api_key[..4], &api_key[api_key.len() - 4..])
}

/// Submits the add-key form of `/keys`.
pub async fn add_key(app: &TestApp, client: &Client, label: &str, api_key: &str, secret: &str) -> Response {
    app.submit(client, "/keys", "/keys", &[("label", label), ("api_key", api_key), ("secret_key", secret)]).await
}

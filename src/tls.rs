//! TLS for outgoing connections (the exchange, SMTP) uses rustls with the
//! `ring` provider, installed once per process.

pub fn install_crypto_provider() {
    // Fails only when a provider is already installed, which is what we want.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

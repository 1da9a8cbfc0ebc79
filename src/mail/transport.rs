//! Where mail goes: SMTP from `SMTP_URL` (`smtp://` upgrading with STARTTLS
//! when the server offers it, `smtp://…?tls=required` insisting on STARTTLS,
//! `smtps://` with TLS from the start, credentials
//! from the URL, bounded connect and command timeouts), or in development
//! `.eml` files under `DATA_DIR/mail/`, with the link also logged.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use lettre::message::{Mailbox, MultiPart, header};
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::ExposeSecret;

use super::OutgoingMail;
use crate::config::Settings;

const SMTP_TIMEOUT: Duration = Duration::from_secs(10);
/// Under the mail folder: where a mail file is written before it is renamed into place.
const STAGING_FOLDER: &str = ".writing";
const SMTP_CONVERSATION_TIMEOUT: Duration = Duration::from_secs(20);

#[derive(Clone)]
pub enum MailTransport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    /// Development only (production refuses to start without `SMTP_URL`).
    Files(PathBuf),
}

impl MailTransport {
    pub fn from_settings(settings: &Settings) -> anyhow::Result<MailTransport> {
        let Some(url) = &settings.smtp_url else {
            let dir = settings.data_dir.join("mail");
            crate::secrets_file::create_private_dir(&dir).context("could not create the mail folder")?;
            return Ok(MailTransport::Files(dir));
        };
        crate::tls::install_crypto_provider();
        let url = url.expose_secret();
        let mut builder =
            AsyncSmtpTransport::<Tokio1Executor>::from_url(url).context("SMTP_URL is not a valid SMTP URL")?;
        if url.starts_with("smtp://") && !url.contains("tls=") {
            // Upgrade with STARTTLS whenever the server offers it (`?tls=required`
            // in the URL insists on it instead).
            let host = smtp_host(url).context("SMTP_URL has no host")?;
            builder = builder.tls(Tls::Opportunistic(TlsParameters::new(host).context("SMTP TLS settings")?));
        }
        Ok(MailTransport::Smtp(builder.timeout(Some(SMTP_TIMEOUT)).build()))
    }

    /// Sends one mail; the error is for the outbox's `last_error` (no secrets in it).
    pub async fn send(&self, settings: &Settings, message_id: &str, mail: &OutgoingMail) -> Result<(), String> {
        let message =
            build_message(settings, message_id, mail).map_err(|e| format!("could not build the mail: {e}"))?;
        match self {
            // lettre bounds the connect and each command; this bounds the whole
            // conversation, so a server that accepts and then says nothing
            // cannot hold the sender.
            MailTransport::Smtp(smtp) => {
                match tokio::time::timeout(SMTP_CONVERSATION_TIMEOUT, smtp.send(message)).await {
                    Ok(sent) => sent.map(|_| ()).map_err(|e| format!("SMTP: {e}")),
                    Err(_) => Err(format!("SMTP: no answer within {} s", SMTP_CONVERSATION_TIMEOUT.as_secs())),
                }
            }
            MailTransport::Files(dir) => {
                // lettre writes the file in place (create, then write), so a
                // reader could open it empty; written in a staging folder and
                // renamed into `dir`, a mail file appears whole or not at all.
                let staging = dir.join(STAGING_FOLDER);
                tokio::fs::create_dir_all(&staging).await.map_err(|e| format!("mail file: {e}"))?;
                let written = AsyncFileTransport::<Tokio1Executor>::new(&staging)
                    .send(message)
                    .await
                    .map_err(|e| format!("mail file: {e}"))?;
                let name = format!("{written}.eml");
                let file = dir.join(&name);
                tokio::fs::rename(staging.join(&name), &file).await.map_err(|e| format!("mail file: {e}"))?;
                if !settings.is_production() {
                    tracing::info!(to = %mail.to, file = %file.display(), link = mail.link.as_deref().unwrap_or("-"), "development mail written");
                }
                Ok(())
            }
        }
    }
}

fn smtp_host(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?']).next()?;
    let host_port = authority.rsplit('@').next()?;
    let host = host_port.rsplit_once(':').map(|(h, _)| h).unwrap_or(host_port);
    (!host.is_empty()).then(|| host.to_owned())
}

/// The mail's domain, for its Message-ID: the host of `BASE_URL`.
fn mail_domain(settings: &Settings) -> String {
    let rest = settings.base_url.split_once("://").map(|(_, r)| r).unwrap_or(&settings.base_url);
    let host = rest.split(['/', ':']).next().unwrap_or("localhost");
    if host.is_empty() { "localhost".to_owned() } else { host.to_owned() }
}

pub fn build_message(settings: &Settings, message_id: &str, mail: &OutgoingMail) -> anyhow::Result<Message> {
    let from: Mailbox = settings.mail_from.parse().context("MAIL_FROM is not a valid address")?;
    let to: Mailbox = mail.to.parse().context("the recipient is not a valid address")?;
    Ok(Message::builder()
        .from(from)
        .to(to)
        .subject(mail.subject.clone())
        .date_now()
        .message_id(Some(format!("<{message_id}@{}>", mail_domain(settings))))
        .header(header::MIME_VERSION_1_0)
        .multipart(MultiPart::alternative_plain_html(mail.text.clone(), mail.html.clone()))?)
}

#[cfg(test)]
mod tests {
    use super::smtp_host;

    #[test]
    fn the_smtp_host_is_read_from_the_url() {
        assert_eq!(smtp_host("smtp://user:p%40ss@mail.example.com:587").as_deref(), Some("mail.example.com"));
        assert_eq!(smtp_host("smtp://localhost").as_deref(), Some("localhost"));
        assert_eq!(smtp_host("smtps://a@b:465/?x=1").as_deref(), Some("b"));
    }
}

//! The product's mails, each a text and an HTML part from askama templates.
//! Links are built from `BASE_URL`, never from a request's Host header.

use askama::Template;
use serde::{Deserialize, Serialize};

/// A rendered mail, as the outbox keeps it (sealed) until it is sent.
#[derive(Clone, Serialize, Deserialize)]
pub struct OutgoingMail {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
    /// The action link, which only the development transport logs.
    pub link: Option<String>,
}

impl std::fmt::Debug for OutgoingMail {
    // The body and link can hold a one-time token.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutgoingMail").field("to", &self.to).field("subject", &self.subject).finish_non_exhaustive()
    }
}

#[derive(Template)]
#[template(path = "mail/verify_email.txt")]
struct VerifyEmailText<'a> {
    link: &'a str,
}

#[derive(Template)]
#[template(path = "mail/verify_email.html")]
struct VerifyEmailHtml<'a> {
    link: &'a str,
}

#[derive(Template)]
#[template(path = "mail/password_reset.txt")]
struct PasswordResetText<'a> {
    link: &'a str,
    forgot_link: &'a str,
}

#[derive(Template)]
#[template(path = "mail/password_reset.html")]
struct PasswordResetHtml<'a> {
    link: &'a str,
    forgot_link: &'a str,
}

#[derive(Template)]
#[template(path = "mail/password_changed.txt")]
struct PasswordChangedText<'a> {
    forgot_link: &'a str,
}

#[derive(Template)]
#[template(path = "mail/password_changed.html")]
struct PasswordChangedHtml<'a> {
    forgot_link: &'a str,
}

fn render(template: &impl Template) -> String {
    // These templates take only strings: rendering cannot fail.
    template.render().unwrap_or_default()
}

fn link(base_url: &str, path_and_query: &str) -> String {
    format!("{}{path_and_query}", base_url.trim_end_matches('/'))
}

pub fn verify_email(base_url: &str, to: &str, token: &str) -> OutgoingMail {
    let link = link(base_url, &format!("/verify-email?token={token}"));
    OutgoingMail {
        to: to.to_owned(),
        subject: "Confirm your email address for TradeBot".to_owned(),
        text: render(&VerifyEmailText { link: &link }),
        html: render(&VerifyEmailHtml { link: &link }),
        link: Some(link),
    }
}

pub fn password_reset(base_url: &str, to: &str, token: &str) -> OutgoingMail {
    let link = link(base_url, &format!("/reset-password?token={token}"));
    let forgot_link = self::link(base_url, "/forgot-password");
    OutgoingMail {
        to: to.to_owned(),
        subject: "Reset your TradeBot password".to_owned(),
        text: render(&PasswordResetText { link: &link, forgot_link: &forgot_link }),
        html: render(&PasswordResetHtml { link: &link, forgot_link: &forgot_link }),
        link: Some(link),
    }
}

pub fn password_changed(base_url: &str, to: &str) -> OutgoingMail {
    let forgot_link = link(base_url, "/forgot-password");
    OutgoingMail {
        to: to.to_owned(),
        subject: "Your TradeBot password was changed".to_owned(),
        text: render(&PasswordChangedText { forgot_link: &forgot_link }),
        html: render(&PasswordChangedHtml { forgot_link: &forgot_link }),
        link: None,
    }
}

#[derive(Template)]
#[template(path = "mail/recovery_code_used.txt")]
struct RecoveryCodeUsedText<'a> {
    left: i64,
    account_link: &'a str,
    forgot_link: &'a str,
}

#[derive(Template)]
#[template(path = "mail/recovery_code_used.html")]
struct RecoveryCodeUsedHtml<'a> {
    left: i64,
    account_link: &'a str,
    forgot_link: &'a str,
}

pub fn recovery_code_used(base_url: &str, to: &str, left: i64) -> OutgoingMail {
    let account_link = link(base_url, "/account/2fa");
    let forgot_link = link(base_url, "/forgot-password");
    let (account_link, forgot_link) = (account_link.as_str(), forgot_link.as_str());
    OutgoingMail {
        to: to.to_owned(),
        subject: format!("A TradeBot recovery code was used ({left} left)"),
        text: render(&RecoveryCodeUsedText { left, account_link, forgot_link }),
        html: render(&RecoveryCodeUsedHtml { left, account_link, forgot_link }),
        link: None,
    }
}

#[derive(Template)]
#[template(path = "mail/new_sign_in.txt")]
struct NewSignInText<'a> {
    when: &'a str,
    ip: &'a str,
    device: &'a str,
    account_link: &'a str,
}

#[derive(Template)]
#[template(path = "mail/new_sign_in.html")]
struct NewSignInHtml<'a> {
    when: &'a str,
    ip: &'a str,
    device: &'a str,
    account_link: &'a str,
}

/// What a new-sign-in notice says about the sign-in.
pub struct SignIn<'a> {
    pub when: &'a str,
    pub ip: &'a str,
    pub device: &'a str,
}

pub fn new_sign_in(base_url: &str, to: &str, sign_in: &SignIn<'_>) -> OutgoingMail {
    let account_link = link(base_url, "/account");
    let SignIn { when, ip, device } = *sign_in;
    let account_link = account_link.as_str();
    OutgoingMail {
        to: to.to_owned(),
        subject: "New sign-in to your TradeBot account".to_owned(),
        text: render(&NewSignInText { when, ip, device, account_link }),
        html: render(&NewSignInHtml { when, ip, device, account_link }),
        link: None,
    }
}

#[derive(Template)]
#[template(path = "mail/email_change_confirm.txt")]
struct EmailChangeConfirmText<'a> {
    link: &'a str,
}

#[derive(Template)]
#[template(path = "mail/email_change_confirm.html")]
struct EmailChangeConfirmHtml<'a> {
    link: &'a str,
}

pub fn email_change_confirm(base_url: &str, to: &str, token: &str) -> OutgoingMail {
    let link = link(base_url, &format!("/account/email/confirm?token={token}"));
    OutgoingMail {
        to: to.to_owned(),
        subject: "Confirm your new TradeBot email address".to_owned(),
        text: render(&EmailChangeConfirmText { link: &link }),
        html: render(&EmailChangeConfirmHtml { link: &link }),
        link: Some(link),
    }
}

#[derive(Template)]
#[template(path = "mail/email_change_notice.txt")]
struct EmailChangeNoticeText<'a> {
    forgot_link: &'a str,
    account_link: &'a str,
}

#[derive(Template)]
#[template(path = "mail/email_change_notice.html")]
struct EmailChangeNoticeHtml<'a> {
    forgot_link: &'a str,
    account_link: &'a str,
}

pub fn email_change_notice(base_url: &str, to: &str) -> OutgoingMail {
    let forgot_link = link(base_url, "/forgot-password");
    let account_link = link(base_url, "/account");
    let (forgot_link, account_link) = (forgot_link.as_str(), account_link.as_str());
    OutgoingMail {
        to: to.to_owned(),
        subject: "Your TradeBot email address is about to change".to_owned(),
        text: render(&EmailChangeNoticeText { forgot_link, account_link }),
        html: render(&EmailChangeNoticeHtml { forgot_link, account_link }),
        link: None,
    }
}

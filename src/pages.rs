//! Rendering pages: the layout every page shares, the one helper that turns a
//! template into a response, and [`PageError`], which renders an [`Error`] as a
//! page (or as the redirect to the login page).

use actix_web::http::{StatusCode, header};
use actix_web::{HttpResponse, ResponseError};
use askama::Template;

use crate::errors::Error;
use crate::sessions::CurrentUser;

/// What the base layout needs: who is logged in (for the header and its logout
/// form), the CSRF token, and a one-off message.
#[derive(Default)]
pub struct Layout {
    pub user_email: Option<String>,
    /// Shows the link to the operator area.
    pub is_operator: bool,
    pub csrf_token: String,
    pub notice: Option<Notice>,
}

/// A one-off message at the top of a page: news, or (`alert`) something that
/// needs the reader's action, shown in red.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub struct Notice {
    pub text: String,
    pub alert: bool,
}

impl Notice {
    pub fn info(text: impl Into<String>) -> Notice {
        Notice { text: text.into(), alert: false }
    }

    pub fn alert(text: impl Into<String>) -> Notice {
        Notice { text: text.into(), alert: true }
    }
}

impl Layout {
    pub fn anonymous(csrf_token: String) -> Layout {
        Layout { user_email: None, is_operator: false, csrf_token, notice: None }
    }

    pub fn for_user(current: &CurrentUser) -> Layout {
        Layout {
            user_email: Some(current.user.email.clone()),
            is_operator: current.user.is_admin,
            csrf_token: current.csrf_token.clone(),
            notice: None,
        }
    }

    pub fn with_notice(mut self, notice: Option<Notice>) -> Layout {
        self.notice = notice;
        self
    }
}

/// A page response. Every page is `no-store`: they show account data or carry
/// a CSRF token, and neither belongs in a shared cache.
pub fn render(status: StatusCode, page: &impl Template) -> HttpResponse {
    match page.render() {
        Ok(html) => HttpResponse::build(status)
            .content_type("text/html; charset=utf-8")
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .body(html),
        Err(e) => {
            tracing::error!(error = %e, "template rendering failed");
            HttpResponse::InternalServerError()
                .content_type("text/plain; charset=utf-8")
                .body("Something went wrong on our side.")
        }
    }
}

/// `303 See Other` to a local path, the answer to every successful form post.
pub fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther().insert_header((header::LOCATION, location)).finish()
}

#[derive(Template)]
#[template(path = "errors/error.html")]
pub struct ErrorPage {
    pub layout: Layout,
    pub status: u16,
    pub title: &'static str,
    pub message: String,
    pub retry_after: Option<u64>,
}

impl ErrorPage {
    pub fn for_error(error: &Error) -> ErrorPage {
        let title = match error {
            Error::NotFound => "Page not found",
            Error::Forbidden(_) => "Request refused",
            Error::TooManyAttempts { .. } => "Too many attempts",
            Error::Unavailable(_) => "Temporarily unavailable",
            Error::WritesRefused(_) => "Changes cannot be saved right now",
            Error::Unexpected(_) => "Something went wrong",
            Error::PayloadTooLarge(_) => "Request too large",
            _ => "That did not work",
        };
        let message = match error {
            Error::NotFound => "There is nothing at this address.".to_owned(),
            other => other.to_string(),
        };
        ErrorPage {
            layout: Layout::default(),
            status: error.status().as_u16(),
            title,
            message,
            retry_after: error.retry_after_secs(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PageError {
    #[error(transparent)]
    App(#[from] Error),
    /// Not logged in, or the session ended: off to the login page.
    #[error("login required")]
    LoginRequired { next: Option<String>, expired: bool },
    /// The action needs a recent authentication (SPEC §11): off to `/sudo`,
    /// and back to `next` (a local path) after it.
    #[error("re-authentication required")]
    ReauthRequired { next: String },
}

impl PageError {
    fn login_location(next: &Option<String>, expired: bool) -> String {
        let mut query = Vec::new();
        if let Some(next) = next {
            query.push(serde_urlencoded::to_string([("next", next)]).unwrap_or_default());
        }
        if expired {
            query.push("expired=1".to_owned());
        }
        if query.is_empty() { "/login".to_owned() } else { format!("/login?{}", query.join("&")) }
    }
}

impl ResponseError for PageError {
    fn status_code(&self) -> StatusCode {
        match self {
            PageError::App(e) => e.status(),
            PageError::LoginRequired { .. } | PageError::ReauthRequired { .. } => StatusCode::SEE_OTHER,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            PageError::LoginRequired { next, expired } => see_other(&Self::login_location(next, *expired)),
            PageError::ReauthRequired { next } => {
                see_other(&format!("/sudo?{}", serde_urlencoded::to_string([("next", next)]).unwrap_or_default()))
            }
            PageError::App(error) => {
                error.log();
                let page = ErrorPage::for_error(error);
                let mut response = render(error.status(), &page);
                if let Some(secs) = error.retry_after_secs() {
                    response.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from(secs));
                }
                // Kept with the response so that, for a logged-in visitor,
                // `sessions::error_pages` can draw it again in their layout.
                response.extensions_mut().insert(page);
                response
            }
        }
    }
}

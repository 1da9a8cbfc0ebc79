//! `Application::build`: the pool, the migrations, the middleware and the one
//! route table. Tests build the same application on port 0.

use std::net::TcpListener;
use std::sync::Arc;

use actix_governor::Governor;
use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};
use anyhow::Context;

use crate::config::Settings;
use crate::db::{self, DatabaseUrl};
use crate::http::{encoding, head, limits, request_log, security_headers, throttled};
use crate::mail::sender::MailSender;
use crate::mail::transport::MailTransport;
use crate::routes::{api, gateway, health, html, metrics};
use crate::sessions::{cookie, csrf, error_pages, operator};
use crate::state::AppState;
use crate::throttle::ip_limits::IpLimits;

pub struct Application {
    port: u16,
    server: Server,
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Application> {
        let settings = Arc::new(settings);
        let pool = db::build_pool(&settings.database_url, settings.database_pool_size);
        migrate(&settings.database_url, &pool).await?;

        let state = web::Data::new(AppState::new(settings.clone(), pool.clone())?);
        let transport = MailTransport::from_settings(&settings)?;
        let sender = MailSender::new(pool.clone(), settings.clone(), transport, state.mail_wakeup.clone());
        // Runs beside the server for the life of the runtime that built it.
        tokio::spawn(sender.run());
        tokio::spawn(crate::retention::run(pool.clone(), settings.retention.clone()));
        let limits = IpLimits::new(&settings.rate_limits, &settings.trusted_proxies);
        let listener =
            TcpListener::bind(&settings.bind).with_context(|| format!("could not listen on {}", settings.bind))?;
        let port = listener.local_addr()?.port();
        let production = settings.is_production();

        let server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .app_data(limits::form_config())
                .app_data(limits::json_config())
                .app_data(limits::payload_config())
                .app_data(limits::query_config())
                .app_data(limits::path_config())
                .wrap(from_fn(head::answer_head_as_get))
                .wrap(from_fn(encoding::reject_invalid_query))
                .wrap(from_fn(throttled::render_throttled))
                .wrap(security_headers::default_headers(production))
                .wrap(from_fn(request_log::log_request))
                .configure(|cfg| routes(cfg, &state.settings, &limits))
        })
        .listen(listener)?
        .run();
        tracing::info!(address = %format!("http://127.0.0.1:{port}"), database = ?settings.database_url, "listening");
        Ok(Application { port, server })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}

pub async fn migrate(url: &DatabaseUrl, pool: &db::Pool) -> anyhow::Result<usize> {
    url.ensure_sqlite_dir().context("could not create the database folder")?;
    let pool = pool.clone();
    web::block(move || {
        let mut conn = pool.get().context("could not connect to the database")?;
        db::run_pending_migrations(&mut conn)
    })
    .await?
}

/// The route table: every URL the product answers.
fn routes(cfg: &mut web::ServiceConfig, settings: &Settings, limits: &IpLimits) {
    cfg.service(
        web::scope("/api/v1")
            .service(
                web::resource("/auth/register")
                    .wrap(Governor::new(&limits.register))
                    .route(web::post().to(api::auth::register))
                    .default_service(web::to(api::method_not_allowed("POST"))),
            )
            .service(
                web::resource("/auth/login")
                    .wrap(Governor::new(&limits.login))
                    .route(web::post().to(api::auth::login_handler))
                    .default_service(web::to(api::method_not_allowed("POST"))),
            )
            .service(
                web::resource("/auth/login/2fa")
                    .wrap(Governor::new(&limits.login))
                    .route(web::post().to(api::auth::login_second_step))
                    .default_service(web::to(api::method_not_allowed("POST"))),
            )
            .service(
                web::resource("/auth/forgot-password")
                    .wrap(Governor::new(&limits.forgot_password))
                    .route(web::post().to(api::auth::forgot_password))
                    .default_service(web::to(api::method_not_allowed("POST"))),
            )
            .service(
                web::resource("/auth/reset-password")
                    .wrap(Governor::new(&limits.reset_password))
                    .route(web::post().to(api::auth::reset_password))
                    .default_service(web::to(api::method_not_allowed("POST"))),
            )
            .service(
                web::resource("/auth/me")
                    .route(web::get().to(api::auth::me))
                    .default_service(web::to(api::method_not_allowed("GET"))),
            )
            .service(
                web::resource("/auth/logout")
                    .route(web::post().to(api::auth::logout))
                    .default_service(web::to(api::method_not_allowed("POST"))),
            )
            .service(
                web::resource("/api-keys")
                    .route(web::get().to(api::keys::list))
                    .route(web::post().to(api::keys::create))
                    .default_service(web::to(api::method_not_allowed("GET, POST"))),
            )
            .service(
                web::resource("/api-keys/{id}")
                    .route(web::delete().to(api::keys::delete))
                    .default_service(web::to(api::method_not_allowed("DELETE"))),
            )
            .service(
                web::resource("/api-keys/{id}/tokens")
                    .route(web::get().to(api::bot_tokens::list))
                    .route(web::post().to(api::bot_tokens::create))
                    .default_service(web::to(api::method_not_allowed("GET, POST"))),
            )
            .service(
                web::resource("/api-keys/{id}/tokens/{token_id}")
                    .route(web::delete().to(api::bot_tokens::revoke))
                    .default_service(web::to(api::method_not_allowed("DELETE"))),
            )
            .service(
                web::resource("/openapi.json")
                    .route(web::get().to(api::openapi::document))
                    .default_service(web::to(api::method_not_allowed("GET"))),
            )
            .default_service(web::to(api::not_found)),
    )
    // Bots only: no session, no CSRF token, every method (the allow-list decides).
    .service(web::scope(gateway::MOUNT).default_service(web::to(gateway::forward)))
    .route("/healthz", web::get().to(health::healthz))
    .route("/readyz", web::get().to(health::readyz))
    .route("/metrics", web::get().to(metrics::scrape))
    .route("/static/app.css", web::get().to(health::stylesheet))
    .service(
        web::scope("")
            .wrap(from_fn(csrf::require_csrf_token))
            // Before the CSRF check, so that nothing under /admin answers a
            // non-operator differently from a missing page.
            .wrap(from_fn(operator::admit_operators_only))
            .wrap(from_fn(cookie::note_remember_me))
            .wrap(from_fn(error_pages::in_the_visitors_layout))
            .wrap(cookie::session_middleware(settings))
            .wrap(from_fn(cookie::make_remember_me_cookie_persistent))
            .route("/", web::get().to(html::home::home))
            .service(
                web::resource("/register")
                    .wrap(Governor::new(&limits.register))
                    .route(web::get().to(html::register::form))
                    .route(web::post().to(html::register::submit)),
            )
            .service(
                web::resource("/login")
                    .wrap(Governor::new(&limits.login))
                    .route(web::get().to(html::login::form))
                    .route(web::post().to(html::login::submit)),
            )
            .service(
                web::resource("/login/2fa")
                    .wrap(Governor::new(&limits.login))
                    .route(web::get().to(html::login::second_step_form))
                    .route(web::post().to(html::login::second_step_submit)),
            )
            .service(
                web::resource("/sudo")
                    .wrap(Governor::new(&limits.login))
                    .route(web::get().to(html::sudo::form))
                    .route(web::post().to(html::sudo::submit)),
            )
            .route("/logout", web::post().to(html::logout::submit))
            .service(
                web::resource("/forgot-password")
                    .wrap(Governor::new(&limits.forgot_password))
                    .route(web::get().to(html::password_reset::forgot_form))
                    .route(web::post().to(html::password_reset::forgot_submit)),
            )
            .service(
                web::resource("/reset-password")
                    .wrap(Governor::new(&limits.reset_password))
                    .route(web::get().to(html::password_reset::reset_form))
                    .route(web::post().to(html::password_reset::reset_submit)),
            )
            .route("/verify-email", web::get().to(html::verify_email::verify))
            .route("/verify-email/resend", web::post().to(html::verify_email::resend_submit))
            .route("/keys", web::get().to(html::keys::list))
            .route("/keys", web::post().to(html::keys::add))
            .route("/keys/{id}/delete", web::get().to(html::keys::confirm_delete))
            .route("/keys/{id}/delete", web::post().to(html::keys::delete))
            .route("/keys/{id}/verify", web::post().to(html::keys::check))
            .route("/keys/{id}", web::get().to(html::bot_tokens::show))
            .route("/keys/{id}/tokens", web::post().to(html::bot_tokens::create))
            .route("/keys/{id}/tokens/{token_id}/revoke", web::post().to(html::bot_tokens::revoke))
            .route("/account", web::get().to(html::account::show))
            .route("/account/password", web::post().to(html::account::change_password_submit))
            .route("/account/sessions/{id}/revoke", web::post().to(html::account::revoke))
            .route("/account/delete", web::post().to(html::account::delete))
            .route("/account/sign-in-notices", web::post().to(html::account::set_sign_in_notices))
            .route("/account/email", web::post().to(html::email_change::submit))
            .route("/account/email/confirm", web::get().to(html::email_change::follow_link))
            .route("/account/2fa", web::get().to(html::two_factor::show))
            .route("/account/2fa/enable", web::post().to(html::two_factor::enable))
            .route("/account/2fa/recovery-codes", web::post().to(html::two_factor::renew_recovery_codes))
            .route("/account/2fa/disable", web::post().to(html::two_factor::disable))
            .service(
                web::scope("/admin")
                    .route("", web::get().to(html::admin::home))
                    .route("/", web::get().to(html::admin::home))
                    .route("/keys", web::get().to(html::admin::keys::list))
                    .route("/keys/{id}/revoke", web::post().to(html::admin::keys::revoke))
                    .route("/users", web::get().to(html::admin::users::list))
                    .route("/users/{id}/deactivate", web::post().to(html::admin::users::deactivate))
                    .route("/users/{id}/activate", web::post().to(html::admin::users::activate))
                    .route("/users/{id}/reset-2fa", web::post().to(html::admin::users::reset_two_factor))
                    .route("/events", web::get().to(html::admin::events::list))
                    .default_service(web::to(html::not_found)),
            )
            .default_service(web::to(html::not_found)),
    );
}

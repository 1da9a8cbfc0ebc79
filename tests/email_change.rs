//! Changing the account's address (SPEC §11): a link to the new address, a
//! notice to the old one, the same answer whether or not the address is
//! taken, audit events, and the login name changing only after the link.

mod common;

use std::time::Duration;

use common::smtp::SmtpServer;
use common::*;
use diesel::prelude::*;
use reqwest::StatusCode;
use tradebot::db::schema::{security_events, users};

const OLD: &str = "alice@example.com";
const NEW: &str = "alice@new.example";
const MAIL_WAIT: Duration = Duration::from_secs(20);
const CONFIRM_SUBJECT: &str = "Confirm your new TradeBot email address";

fn audit_kinds(app: &TestApp) -> Vec<String> {
    app.with_conn(|conn| {
        security_events::table.select(security_events::kind).order(security_events::id).load(conn).unwrap()
    })
}

async fn confirmation_link(smtp: &SmtpServer, to: &str) -> String {
    let mail = smtp
        .wait_for_matching("the confirmation link", 1, MAIL_WAIT, |m| {
            m.header("To").is_some_and(|t| t.contains(to)) && m.header("Subject") == Some(CONFIRM_SUBJECT)
        })
        .await;
    mail.last().unwrap().link_path("/account/email/confirm")
}

on_both_backends! {
    async fn the_address_changes_only_when_the_link_mailed_to_it_is_followed(backend) {
        let (app, smtp) = spawn_app_with_mail(backend).await;
        let client = app.logged_in_user(OLD).await;

        let response = app.submit(&client, "/account", "/account/email", &[("email", NEW)]).await;

        assert_eq!(response.status(), StatusCode::OK);
        assert!(response.text().await.unwrap().contains("We sent a confirmation link to the new address"));
        let link = confirmation_link(&smtp, NEW).await;
        smtp.wait_for_matching("the notice to the old address", 1, MAIL_WAIT, |m| {
            m.header("To").is_some_and(|t| t.contains(OLD))
                && m.header("Subject") == Some("Your TradeBot email address is about to change")
        })
        .await;
        assert_redirect_to(&app.login(&browser(), OLD, PASSWORD, false).await, "/keys");
        assert_eq!(app.login(&browser(), NEW, PASSWORD, false).await.status(), StatusCode::UNAUTHORIZED, "not yet");

        let (status, page) = app.get_html(&browser(), &link).await;

        assert_eq!(status, StatusCode::OK, "{page}");
        assert!(page.contains(NEW));
        assert_redirect_to(&app.login(&browser(), NEW, PASSWORD, false).await, "/keys");
        assert_eq!(app.login(&browser(), OLD, PASSWORD, false).await.status(), StatusCode::UNAUTHORIZED);
        let verified: Option<chrono::NaiveDateTime> = app.with_conn(|conn| {
            users::table.filter(users::email.eq(NEW)).select(users::email_verified_at).first(conn).unwrap()
        });
        assert!(verified.is_some(), "the new address counts as verified");
        let kinds = audit_kinds(&app);
        assert!(kinds.contains(&"email_change_requested".to_owned()) && kinds.contains(&"email_changed".to_owned()), "{kinds:?}");

        let (again, _) = app.get_html(&browser(), &link).await;
        assert_eq!(again, StatusCode::BAD_REQUEST, "single use");
    }
}

on_both_backends! {
    async fn a_taken_address_gets_the_same_answer_and_its_link_then_a_409(backend) {
        let (app, smtp) = spawn_app_with_mail(backend).await;
        let client = app.logged_in_user(OLD).await;
        assert_redirect_to(&app.register(&browser(), "bob@example.com", PASSWORD).await, "/login");

        let free = app.submit(&client, "/account", "/account/email", &[("email", NEW)]).await;
        let free_page = free.text().await.unwrap();
        let taken = app.submit(&client, "/account", "/account/email", &[("email", "bob@example.com")]).await;
        let status = taken.status();
        let taken_page = taken.text().await.unwrap();

        assert_eq!(status, StatusCode::OK);
        let main = |page: &str| page.split("<main").nth(1).unwrap().split("</main>").next().unwrap().to_owned();
        assert_eq!(main(&free_page), main(&taken_page), "nothing tells them apart");

        let link = confirmation_link(&smtp, "bob@example.com").await;
        let (status, page) = app.get_html(&browser(), &link).await;
        assert_eq!(status, StatusCode::CONFLICT, "{page}");
        assert_redirect_to(&app.login(&browser(), OLD, PASSWORD, false).await, "/keys");
    }
}

on_both_backends! {
    async fn a_malformed_address_is_a_422_on_the_account_page_and_changes_nothing(backend) {
        let (app, _smtp) = spawn_app_with_mail(backend).await;
        let client = app.logged_in_user(OLD).await;

        let response = app.submit(&client, "/account", "/account/email", &[("email", "not an address")]).await;

        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(response.text().await.unwrap().contains("Enter an email address like name@example.com."));
        assert!(!audit_kinds(&app).contains(&"email_change_requested".to_owned()));
    }
}

on_both_backends! {
    async fn an_unknown_link_is_a_400_page(backend) {
        let app = spawn_app(backend).await;

        let (status, page) = app.get_html(&browser(), "/account/email/confirm?token=nonsense").await;

        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(page.contains("This confirmation link is not valid"));
    }
}

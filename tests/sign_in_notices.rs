//! The new sign-in notice (SPEC §11): a login from a browser the account has
//! not seen before mails the owner (time, IP, browser, a link to end it); the
//! first browser ever, and browsers seen before, do not; a checkbox on
//! `/account` turns it off.

mod common;

use std::time::Duration;

use common::smtp::SmtpServer;
use common::*;
use reqwest::StatusCode;

const EMAIL: &str = "alice@example.com";
const SUBJECT: &str = "New sign-in to your TradeBot account";
const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0";

fn notices(smtp: &SmtpServer) -> usize {
    smtp.messages().iter().filter(|m| m.header("Subject") == Some(SUBJECT)).count()
}

/// Waits until the mail sender has sent everything queued, so "no notice"
/// is a fact and not a race.
async fn outbox_drained(app: &TestApp) {
    use diesel::prelude::*;
    use tradebot::db::schema::outbox;
    for _ in 0..200 {
        let waiting: i64 = app.with_conn(|conn| {
            outbox::table
                .filter(outbox::sent_at.is_null())
                .filter(outbox::failed_at.is_null())
                .count()
                .get_result(conn)
                .unwrap()
        });
        if waiting == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the outbox did not drain");
}

on_both_backends! {
    async fn a_login_from_a_new_browser_mails_the_owner_and_a_known_one_does_not(backend) {
        let (app, smtp) = spawn_app_with_mail(backend).await;
        let first = app.logged_in_user(EMAIL).await;
        outbox_drained(&app).await;
        assert_eq!(notices(&smtp), 0, "the account's first browser is nothing to warn about");

        let firefox = client_builder().cookie_store(true).user_agent(FIREFOX).build().unwrap();
        assert_redirect_to(&app.login(&firefox, EMAIL, PASSWORD, false).await, "/keys");

        let mail = smtp
            .wait_for_matching("the new sign-in notice", 1, Duration::from_secs(20), |m| {
                m.header("Subject") == Some(SUBJECT)
            })
            .await;
        assert!(mail[0].header("To").unwrap().contains(EMAIL));
        assert!(mail[0].text.contains("Address: 127.0.0.1"), "{}", mail[0].text);
        assert!(mail[0].text.contains("Firefox"), "{}", mail[0].text);
        assert!(mail[0].text.contains(" UTC"), "{}", mail[0].text);
        assert!(mail[0].link_to("/account").trim_end_matches(',').ends_with("/account"));

        assert_redirect_to(&app.login(&first, EMAIL, PASSWORD, false).await, "/keys");
        assert_redirect_to(&app.login(&firefox, EMAIL, PASSWORD, false).await, "/keys");
        outbox_drained(&app).await;
        assert_eq!(notices(&smtp), 1, "known browsers are not announced again");
    }
}

on_both_backends! {
    async fn the_checkbox_on_the_account_page_turns_notices_off_and_on(backend) {
        let (app, smtp) = spawn_app_with_mail(backend).await;
        let client = app.logged_in_user(EMAIL).await;
        let (_, page) = app.get_html(&client, "/account").await;
        assert!(page.contains(r#"name="sign_in_notices" type="checkbox" value="1" checked"#), "on by default: {page}");

        let off = app.submit(&client, "/account", "/account/sign-in-notices", &[]).await;

        assert_redirect_to(&off, "/account");
        let (_, page) = app.get_html(&client, "/account").await;
        assert!(!page.contains(r#"value="1" checked"#), "{page}");
        assert_redirect_to(&app.login(&browser(), EMAIL, PASSWORD, false).await, "/keys");
        outbox_drained(&app).await;
        assert_eq!(notices(&smtp), 0);

        let on = app.submit(&client, "/account", "/account/sign-in-notices", &[("sign_in_notices", "1")]).await;
        assert_redirect_to(&on, "/account");
        assert_redirect_to(&app.login(&browser(), EMAIL, PASSWORD, false).await, "/keys");
        smtp.wait_for_matching("the notice, back on", 1, Duration::from_secs(20), |m| m.header("Subject") == Some(SUBJECT))
            .await;
    }
}

on_both_backends! {
    async fn the_notice_carries_no_cookie_token_or_password(backend) {
        let (app, smtp) = spawn_app_with_mail(backend).await;
        app.logged_in_user(EMAIL).await;
        let second = browser();
        let response = app.login(&second, EMAIL, PASSWORD, false).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        let cookies: Vec<String> = response
            .headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().split(';').next().unwrap().split_once('=').unwrap().1.to_owned())
            .collect();

        let mail = smtp
            .wait_for_matching("the new sign-in notice", 1, Duration::from_secs(20), |m| {
                m.header("Subject") == Some(SUBJECT)
            })
            .await;

        for value in cookies.iter().filter(|v| v.len() > 8) {
            assert!(!mail[0].raw.contains(value.as_str()), "a cookie value in the mail");
        }
        assert!(!mail[0].raw.contains(PASSWORD));
    }
}

//! Registration over HTTP (SPEC §4, §6), on SQLite and PostgreSQL.

mod common;

use common::*;
use diesel::prelude::*;
use reqwest::StatusCode;
use tradebot::db::schema::users;

fn user_count(app: &TestApp, email: &str) -> i64 {
    app.with_conn(|conn| users::table.filter(users::email.eq(email)).count().get_result(conn).unwrap())
}

fn field_error(html: &str, field: &str) -> Option<String> {
    let doc = scraper::Html::parse_document(html);
    let selector = scraper::Selector::parse(&format!("#{field}-error")).unwrap();
    doc.select(&selector).next().map(|e| e.text().collect::<String>())
}

on_both_backends! {
    async fn registering_redirects_to_login_with_a_success_message(backend) {
        let app = spawn_app(backend).await;
        let client = browser();

        let response = app.register(&client, "Alice@Example.com", PASSWORD).await;

        assert_redirect_to(&response, "/login");
        let (_, page) = app.get_html(&client, "/login").await;
        assert!(page.contains("Your account is ready"), "{page}");
        assert_eq!(user_count(&app, "alice@example.com"), 1, "stored lower-cased");
    }
}

on_both_backends! {
    async fn an_email_taken_in_any_letter_case_is_409(backend) {
        let app = spawn_app(backend).await;
        let client = browser();
        assert_redirect_to(&app.register(&client, "bob@example.com", PASSWORD).await, "/login");

        let response = app.register(&client, "  BOB@Example.COM ", OTHER_PASSWORD).await;

        assert_eq!(response.status(), StatusCode::CONFLICT);
        let page = response.text().await.unwrap();
        assert!(field_error(&page, "email").unwrap().contains("already registered"));
        assert_eq!(user_count(&app, "bob@example.com"), 1);
    }
}

on_both_backends! {
    async fn invalid_input_is_422_with_the_error_next_to_its_field_and_the_email_kept(backend) {
        let app = spawn_app(backend).await;
        let client = browser();

        let response = app.register(&client, "carol@example.com", "Password123!").await;

        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let page = response.text().await.unwrap();
        assert!(field_error(&page, "password").unwrap().contains("too easy to guess"), "{page}");
        assert!(page.contains(r#"aria-describedby="password-error"#), "error is linked to its field");
        assert!(page.contains(r#"value="carol@example.com""#), "email kept");
        assert!(!page.contains("Password123!"), "password never echoed");
        assert_eq!(user_count(&app, "carol@example.com"), 0);
    }
}

on_both_backends! {
    async fn a_malformed_email_and_mismatched_confirmation_are_reported_per_field(backend) {
        let app = spawn_app(backend).await;
        let client = browser();

        let response = app
            .submit(&client, "/register", "/register", &[("email", "not-an-email"), ("password", PASSWORD), ("password_confirm", "different")])
            .await;

        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let page = response.text().await.unwrap();
        assert!(field_error(&page, "email").is_some());
        assert!(field_error(&page, "password_confirm").unwrap().contains("do not match"));
    }
}

on_both_backends! {
    async fn a_73_byte_password_is_refused_not_truncated_and_72_bytes_work(backend) {
        let app = spawn_app(backend).await;
        let client = browser();
        let p72: String = "Zq7!vX2#mW9$kL4%pR8^tN3&bH6*cJ1(".repeat(3).chars().take(72).collect();
        let p73 = format!("{p72}x");

        let refused = app.register(&client, "dave@example.com", &p73).await;
        assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(field_error(&refused.text().await.unwrap(), "password").unwrap().contains("at most 72 bytes"));
        assert_eq!(user_count(&app, "dave@example.com"), 0);

        assert_redirect_to(&app.register(&client, "dave@example.com", &p72).await, "/login");
        // Had the 72 bytes been cut, a login with a different 73rd byte would pass.
        assert_eq!(app.login(&client, "dave@example.com", &p73, false).await.status(), StatusCode::UNAUTHORIZED);
        assert_redirect_to(&app.login(&client, "dave@example.com", &p72, false).await, "/keys");
    }
}

on_both_backends! {
    async fn twenty_concurrent_registrations_of_one_email_make_exactly_one_account(backend) {
        let app = spawn_app(backend).await;
        let mut tasks = Vec::new();
        for _ in 0..20 {
            let client = browser();
            let token = app.csrf_token(&client, "/register").await;
            let url = app.url("/register");
            tasks.push(tokio::spawn(async move {
                let form = [("csrf_token", token.as_str()), ("email", "race@example.com"), ("password", PASSWORD), ("password_confirm", PASSWORD)];
                client.post(url).form(&form).send().await.unwrap().status()
            }));
        }
        let mut statuses = Vec::new();
        for task in tasks {
            statuses.push(task.await.unwrap());
        }

        assert_eq!(statuses.iter().filter(|s| **s == StatusCode::SEE_OTHER).count(), 1, "{statuses:?}");
        assert_eq!(statuses.iter().filter(|s| **s == StatusCode::CONFLICT).count(), 19, "{statuses:?}");
        assert_eq!(user_count(&app, "race@example.com"), 1);
    }
}

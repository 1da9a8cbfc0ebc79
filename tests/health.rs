//! Liveness and readiness (SPEC §4), and what people see while the database
//! server is away: a 503 page, never a 500, and a recovery without a restart.

mod common;

use common::outage::*;
use common::*;
use reqwest::StatusCode;

on_both_backends! {
    async fn liveness_and_readiness_both_answer_200(backend) {
        let app = spawn_app(backend).await;

        let (live, live_body) = app.get_html(&app.client, "/healthz").await;
        let (ready, ready_body) = app.get_html(&app.client, "/readyz").await;

        assert_eq!(live, StatusCode::OK, "{live_body}");
        assert_eq!(ready, StatusCode::OK, "{ready_body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn during_a_postgresql_outage_pages_answer_503_and_afterwards_the_same_login_works_again() {
    let Some((app, proxy)) = app_behind_a_proxy().await else { return };
    let email = "outage@example.com";
    wait_for_readiness(&app, StatusCode::OK).await;
    let user = app.logged_in_user(email).await;
    let latecomer = browser();
    let login_token = app.csrf_token(&latecomer, "/login").await;

    proxy.cut();
    wait_for_readiness(&app, StatusCode::SERVICE_UNAVAILABLE).await;

    let (status, content_type, page) = read_page(app.get(&user, "/account").await).await;
    assert_is_unavailable_page(status, &content_type, &page);
    let login =
        app.post_form_with_token(&latecomer, "/login", &login_token, &[("email", email), ("password", PASSWORD)]).await;
    let (status, content_type, page) = read_page(login).await;
    assert_is_unavailable_page(status, &content_type, &page);

    proxy.restore();
    wait_for_readiness(&app, StatusCode::OK).await;

    let (status, page) = app.get_html(&user, "/account").await;
    assert_eq!(status, StatusCode::OK, "the session from before the outage still works");
    assert!(page.contains(email), "{page}");
    assert_redirect_to(&app.login(&latecomer, email, PASSWORD, false).await, "/keys");
}

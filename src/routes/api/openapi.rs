//! `GET /api/v1/openapi.json`: the OpenAPI 3 document, generated from the
//! handlers' annotations so it cannot drift from the code.

use actix_web::HttpResponse;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{auth, bot_tokens, keys};

#[derive(OpenApi)]
#[openapi(
    info(title = "TradeBot accounts API", description = "Accounts, sealed exchange keys and bot tokens for TradeBot."),
    paths(
        auth::register, auth::login_handler, auth::login_second_step, auth::me, auth::logout, auth::forgot_password, auth::reset_password,
        keys::list, keys::create, keys::delete,
        bot_tokens::list, bot_tokens::create, bot_tokens::revoke
    ),
    components(schemas(
        super::ErrorOut, super::ErrorDetail, super::FieldErrorOut, super::reauth::ReauthBody,
        auth::UserOut, auth::RegisterBody, auth::LoginBody, auth::TokenOut, auth::LoginOut, auth::MfaRequiredOut, auth::SecondFactorBody,
        auth::ForgotPasswordBody, auth::ResetPasswordBody,
        keys::KeyOut, keys::CreateKeyBody,
        bot_tokens::TokenOut, bot_tokens::CreatedTokenOut, bot_tokens::CreateTokenBody,
        bot_tokens::Lifetime, bot_tokens::Never
    )),
    modifiers(&BearerAuth)
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build()),
        );
    }
}

pub async fn document() -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
}

//! `/api/v1/auth/*`: register, login, me, logout, forgot and reset password.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{ApiError, ErrorOut};
use crate::accounts::login::{LoggedIn, LoginAttempt, LoginOutcome, login, logout as end_session};
use crate::accounts::password_reset::{
    PasswordReset, REQUEST_ACCEPTED, request_reset, reset_password as reset_user_password,
};
use crate::accounts::registration::{Registration, register as register_user};
use crate::accounts::second_step::{CodeAttempt, SecondStep, complete};
use crate::accounts::users::User;
use crate::errors::Error;
use crate::sessions::ApiUser;
use crate::sessions::devices::DeviceId;
use crate::state::AppState;
use crate::throttle::client_ip;

/// A user as the API shows one.
#[derive(Serialize, ToSchema)]
pub struct UserOut {
    pub id: i64,
    pub email: String,
    pub is_active: bool,
    pub email_verified: bool,
    /// RFC 3339, in UTC.
    pub created_at: DateTime<Utc>,
}

impl From<&User> for UserOut {
    fn from(user: &User) -> Self {
        UserOut {
            id: user.id,
            email: user.email.clone(),
            is_active: user.is_active,
            email_verified: user.email_verified(),
            created_at: user.created_at.and_utc(),
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterBody {
    /// An address like `name@example.com` (stored trimmed and lower-cased).
    #[schema(max_length = 254, pattern = r"^[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")]
    pub email: String,
    /// 12–72 bytes with a lower-case and an upper-case letter, a digit and a
    /// symbol, not containing the address's local part, and not guessable
    /// (zxcvbn score 3 or more): a refusal is a 422 naming the rule.
    // The rule counts UTF-8 bytes and JSON Schema counts characters: 12 bytes
    // take at least 3 characters, and 72 bytes at most 72.
    #[schema(min_length = 3, max_length = 72)]
    pub password: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginBody {
    pub email: String,
    pub password: String,
    #[serde(default)]
    pub remember_me: bool,
}

#[derive(Serialize, ToSchema)]
pub struct TokenOut {
    pub access_token: String,
    /// Always `bearer`.
    pub token_type: &'static str,
    /// Seconds until the token expires.
    pub expires_in: i64,
    pub user: UserOut,
}

/// A correct password for an account with a second factor (SPEC §11): no
/// token yet; send the code with `mfa_token` to `/api/v1/auth/login/2fa`.
#[derive(Serialize, ToSchema)]
pub struct MfaRequiredOut {
    /// Always `true`.
    pub mfa_required: bool,
    pub mfa_token: String,
    /// Seconds the `mfa_token` stays good (300).
    pub expires_in: i64,
}

/// The login answer: a token, or the second factor's turn.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum LoginOut {
    LoggedIn(TokenOut),
    SecondFactor(MfaRequiredOut),
}

impl From<LoggedIn> for TokenOut {
    fn from(logged_in: LoggedIn) -> Self {
        TokenOut {
            user: UserOut::from(&logged_in.user),
            access_token: logged_in.token,
            token_type: "bearer",
            expires_in: logged_in.expires_in_secs,
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SecondFactorBody {
    /// The `mfa_token` of the login answer.
    #[schema(max_length = 128)]
    pub mfa_token: String,
    /// The 6 digits of the authenticator app, or a recovery code.
    #[schema(max_length = 64)]
    pub code: String,
}

fn user_agent(req: &HttpRequest) -> String {
    req.headers().get(header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned()
}

#[utoipa::path(
    post, path = "/api/v1/auth/register", tag = "auth", request_body = RegisterBody,
    responses(
        (status = 201, description = "Registered", body = UserOut),
        (status = 400, description = "Malformed body", body = ErrorOut),
        (status = 409, description = "Email already registered", body = ErrorOut),
        (status = 413, description = "Body over 64 KiB", body = ErrorOut),
        (status = 422, description = "Invalid fields: detail is [{field, message}]", body = ErrorOut),
        (status = 429, description = "Too many registrations from this address", body = ErrorOut),
    )
)]
pub async fn register(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<RegisterBody>,
) -> Result<HttpResponse, ApiError> {
    let RegisterBody { email, password } = body.into_inner();
    let registration = Registration { email, password: password.into(), password_confirm: None };
    let user = register_user(&state, registration, client_ip::of_request(&req).to_string()).await?;
    Ok(HttpResponse::Created().json(UserOut::from(&user)))
}

#[utoipa::path(
    post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginBody,
    responses(
        (status = 200, description = "Logged in, or (with `mfa_required`) the second factor's turn", body = LoginOut),
        (status = 400, description = "Account deactivated, or malformed body", body = ErrorOut),
        (status = 401, description = "Incorrect email or password", body = ErrorOut),
        (status = 413, description = "Body over 64 KiB", body = ErrorOut),
        (status = 429, description = "Too many attempts; see Retry-After", body = ErrorOut),
    )
)]
pub async fn login_handler(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<LoginBody>,
) -> Result<HttpResponse, ApiError> {
    let LoginBody { email, password, remember_me } = body.into_inner();
    let (user_agent, ip) = (user_agent(&req), client_ip::of_request(&req).to_string());
    let device = DeviceId::for_api_client(&user_agent, &ip);
    let attempt = LoginAttempt { email, password: password.into(), remember_me, user_agent, ip, device };
    let answer = match login(&state, attempt).await? {
        LoginOutcome::LoggedIn(logged_in) => LoginOut::LoggedIn(logged_in.into()),
        LoginOutcome::SecondFactor { token, expires_in_secs } => {
            LoginOut::SecondFactor(MfaRequiredOut { mfa_required: true, mfa_token: token, expires_in: expires_in_secs })
        }
    };
    Ok(HttpResponse::Ok().insert_header((header::CACHE_CONTROL, "no-store")).json(answer))
}

#[utoipa::path(
    post, path = "/api/v1/auth/login/2fa", tag = "auth", request_body = SecondFactorBody,
    responses(
        (status = 200, description = "Logged in", body = TokenOut),
        (status = 400, description = "The mfa_token expired, was used, or ended after five wrong codes; or a malformed body", body = ErrorOut),
        (status = 401, description = "Wrong or already used code", body = ErrorOut),
        (status = 413, description = "Body over 64 KiB", body = ErrorOut),
        (status = 429, description = "Too many attempts; see Retry-After", body = ErrorOut),
    )
)]
pub async fn login_second_step(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<SecondFactorBody>,
) -> Result<HttpResponse, ApiError> {
    let SecondFactorBody { mfa_token, code } = body.into_inner();
    let ip = client_ip::of_request(&req).to_string();
    let device = DeviceId::for_api_client(&user_agent(&req), &ip);
    match complete(&state, CodeAttempt { token: mfa_token, code, device, ip }).await? {
        SecondStep::LoggedIn(logged_in) => {
            Ok(HttpResponse::Ok().insert_header((header::CACHE_CONTROL, "no-store")).json(TokenOut::from(logged_in)))
        }
        SecondStep::WrongCode { ended: false } => Err(Error::WrongCode.into()),
        SecondStep::WrongCode { ended: true } | SecondStep::Expired => {
            Err(Error::BadRequest("the mfa_token expired or ended (five wrong codes); log in again".into()).into())
        }
    }
}

#[utoipa::path(
    get, path = "/api/v1/auth/me", tag = "auth", security(("bearer" = [])),
    responses(
        (status = 200, description = "The token's user", body = UserOut),
        (status = 401, description = "Missing, invalid or ended token", body = ErrorOut),
    )
)]
pub async fn me(current: ApiUser) -> HttpResponse {
    HttpResponse::Ok().json(UserOut::from(&current.user))
}

#[utoipa::path(
    post, path = "/api/v1/auth/logout", tag = "auth", security(("bearer" = [])),
    responses(
        (status = 204, description = "The token's session is ended"),
        (status = 401, description = "Missing, invalid or ended token", body = ErrorOut),
    )
)]
pub async fn logout(req: HttpRequest, state: web::Data<AppState>, current: ApiUser) -> Result<HttpResponse, ApiError> {
    end_session(&state, current.user.id, current.session_id, client_ip::of_request(&req).to_string()).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ForgotPasswordBody {
    pub email: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetPasswordBody {
    /// The token from the reset link.
    pub token: String,
    /// The new password, under the same rule as at registration.
    // The rule counts UTF-8 bytes and JSON Schema counts characters: 12 bytes
    // take at least 3 characters, and 72 bytes at most 72.
    #[schema(min_length = 3, max_length = 72)]
    pub password: String,
}

#[utoipa::path(
    post, path = "/api/v1/auth/forgot-password", tag = "auth", request_body = ForgotPasswordBody,
    responses(
        (status = 202, description = "Accepted; the same answer whether or not the address is registered", body = ErrorOut),
        (status = 400, description = "Malformed body", body = ErrorOut),
        (status = 429, description = "Too many requests for this address or from this client", body = ErrorOut),
    )
)]
pub async fn forgot_password(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<ForgotPasswordBody>,
) -> Result<HttpResponse, ApiError> {
    request_reset(&state, &body.email, client_ip::of_request(&req).to_string()).await?;
    Ok(HttpResponse::Accepted().json(ErrorOut::message(REQUEST_ACCEPTED)))
}

#[utoipa::path(
    post, path = "/api/v1/auth/reset-password", tag = "auth", request_body = ResetPasswordBody,
    responses(
        (status = 200, description = "Password reset; every session ended; log in again", body = ErrorOut),
        (status = 400, description = "Unknown, used or expired token, or malformed body", body = ErrorOut),
        (status = 422, description = "The new password is refused: detail is [{field, message}]", body = ErrorOut),
        (status = 429, description = "Too many attempts from this client", body = ErrorOut),
    )
)]
pub async fn reset_password(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<ResetPasswordBody>,
) -> Result<HttpResponse, ApiError> {
    let ResetPasswordBody { token, password } = body.into_inner();
    let reset = PasswordReset { token, password: password.into(), password_confirm: None };
    reset_user_password(&state, reset, client_ip::of_request(&req).to_string()).await?;
    Ok(HttpResponse::Ok().json(ErrorOut::message("Your password was reset. Log in with the new password.")))
}

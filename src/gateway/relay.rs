//! One gateway request, from the client's bytes to the exchange's answer:
//! allow-list, input checks, token, key status, rate, re-signing, forwarding,
//! bookkeeping. The secret is opened only here, for one signature, and
//! dropped before the request leaves.

use std::net::IpAddr;
use std::time::Duration;

use actix_web::http::Method;
use actix_web::web::Bytes;
use chrono::NaiveDateTime;
use secrecy::{ExposeSecret, SecretString};

use super::allow_list::{EndpointClass, classify};
use super::authorize::{Denial, authorize, key_may_sign, looks_like_token};
use super::limits::retry_after_secs;
use super::refusal::Refusal;
use super::resign::{self, ResignError, split_form};
use super::tokens::{self, Credential};
use super::trail::{self, OrderEvent, RefusalEvent};
use super::upstream::{Answer, Outgoing};
use crate::errors::Error;
use crate::state::AppState;
use crate::throttle::counters::{self, Counter, Reservation};
use crate::vault::sealing::Field;
use crate::{clock, db};

/// A request as the client sent it, path under `/exchange`.
pub struct Incoming {
    pub method: Method,
    pub path: String,
    pub query: String,
    pub body: Bytes,
    pub content_type: Option<String>,
    /// `X-MBX-APIKEY`: the bot token, for signed endpoints.
    pub token: Option<SecretString>,
    pub ip: IpAddr,
}

/// Last use is written at most this often per token.
const LAST_USE_EVERY: chrono::TimeDelta = chrono::TimeDelta::seconds(60);

/// The class of the endpoint (`None`: not on the allow-list) and the outcome.
pub async fn relay(state: &AppState, incoming: Incoming) -> (Option<EndpointClass>, Result<Answer, Refusal>) {
    let class = classify(&incoming.method, &incoming.path);
    let outcome = match class {
        None => refuse_unlisted(state, &incoming).await,
        Some(class) => relay_listed(state, class, incoming).await,
    };
    (class, outcome)
}

async fn refuse_unlisted(state: &AppState, incoming: &Incoming) -> Result<Answer, Refusal> {
    let event = RefusalEvent::new("not_allowed", incoming.method.as_str(), &incoming.path, None);
    note_refusal(state, None, incoming.ip, event).await;
    Err(Refusal::NotAllowed { method: incoming.method.to_string(), path: incoming.path.clone() })
}

async fn relay_listed(state: &AppState, class: EndpointClass, incoming: Incoming) -> Result<Answer, Refusal> {
    let body = form_body(&incoming)?;
    check_form(&incoming.query, &body)?;
    if class == EndpointClass::Public {
        state.gateway.limits.check_public(incoming.ip).map_err(too_many)?;
        // A token sent with a public request is not forwarded.
        let outgoing =
            Outgoing { method: &incoming.method, path: &incoming.path, query: &incoming.query, body, api_key: None };
        return state.gateway.upstream.send(outgoing).await;
    }
    relay_signed(state, class, incoming, body).await
}

/// The body as text, if it is a form (the only body Binance's REST API takes).
fn form_body(incoming: &Incoming) -> Result<String, Refusal> {
    if incoming.body.is_empty() {
        return Ok(String::new());
    }
    let is_form = incoming.content_type.as_deref().is_some_and(|value| {
        value
            .split(';')
            .next()
            .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded"))
    });
    if !is_form {
        return Err(Refusal::BadRequest {
            code: -1100,
            msg: "The request body must be application/x-www-form-urlencoded.".into(),
        });
    }
    String::from_utf8(incoming.body.to_vec()).map_err(|_| Refusal::malformed("the request body"))
}

/// Both parts are well-formed and carry at most one `signature`.
fn check_form(query: &str, body: &str) -> Result<(), Refusal> {
    let in_query = split_form(query).map_err(|e| resign_refusal(e, "the query string"))?;
    let in_body = split_form(body).map_err(|e| resign_refusal(e, "the request body"))?;
    if in_query.iter().chain(&in_body).filter(|(name, _)| *name == "signature").count() > 1 {
        return Err(resign_refusal(ResignError::DuplicateSignature, ""));
    }
    Ok(())
}

fn resign_refusal(error: ResignError, part: &str) -> Refusal {
    match error {
        ResignError::Malformed(Some(name)) => Refusal::malformed(&format!("parameter '{name}' of {part}")),
        ResignError::Malformed(None) => Refusal::malformed(part),
        ResignError::DuplicateSignature => {
            Refusal::BadRequest { code: -1101, msg: "Duplicate values for a parameter detected: signature.".into() }
        }
    }
}

fn too_many(wait: Duration) -> Refusal {
    Refusal::TooManyRequests {
        retry_after_secs: retry_after_secs(wait),
        msg: "Too many requests; please slow down (see Retry-After).",
    }
}

async fn relay_signed(
    state: &AppState,
    class: EndpointClass,
    incoming: Incoming,
    body: String,
) -> Result<Answer, Refusal> {
    let now = clock::now();
    let credential = find_credential(state, incoming.token.as_ref()).await?;
    let decision = match &credential {
        None => Err(Denial::UnknownToken),
        Some(credential) => authorize(credential, class, incoming.ip, now),
    };
    let credential = match (decision, credential) {
        (Ok(()), Some(credential)) => credential,
        (Err(denial), credential) => return Err(refuse_token(state, &incoming, denial, credential.as_ref(), now).await),
        (Ok(()), None) => return Err(Refusal::InvalidToken),
    };
    let ids = (credential.api_key_id, credential.token_id);
    if let Err(status) = key_may_sign(&credential) {
        let event = RefusalEvent::new("key_not_valid", incoming.method.as_str(), &incoming.path, Some(ids));
        note_refusal(state, Some(credential.user_id), incoming.ip, event).await;
        return Err(Refusal::KeyNotUsable(status));
    }
    state.gateway.limits.check_token(credential.token_id).map_err(too_many)?;

    let keyring = &state.settings.encryption_keys;
    let open = |sealed: &str, field| {
        keyring.open(sealed, credential.user_id, field).map_err(|e| Refusal::from(Error::VaultLocked(e.to_string())))
    };
    let api_key = open(&credential.encrypted_api_key, Field::ApiKey)?;
    let resigned = {
        let secret = open(&credential.encrypted_secret_key, Field::SecretKey)?;
        resign::resign(&incoming.query, &body, secret.expose_secret(), chrono::Utc::now().timestamp_millis())
            .map_err(|e| resign_refusal(e, "the request"))?
    };
    let order_params = (class == EndpointClass::Trade).then(|| trail::decoded_params(&incoming.query, &body));
    let outgoing = Outgoing {
        method: &incoming.method,
        path: &incoming.path,
        query: &resigned.query,
        body: resigned.body,
        api_key: Some(api_key),
    };
    let answer = state.gateway.upstream.send(outgoing).await;

    let order = order_params.map(|params| {
        let (status, body) = match &answer {
            Ok(answer) => (answer.status, &answer.body[..]),
            Err(refusal) => (refusal.status().as_u16(), &b""[..]),
        };
        OrderEvent::new(ids, incoming.method.as_str(), &incoming.path, &params, status, body)
    });
    let stale = credential.last_used_at.is_none_or(|at| now - at >= LAST_USE_EVERY);
    if order.is_some() || stale {
        keep_books(state, &credential, incoming.ip, stale, order, now).await;
    }
    answer
}

async fn find_credential(state: &AppState, token: Option<&SecretString>) -> Result<Option<Credential>, Refusal> {
    let Some(token) = token.filter(|t| looks_like_token(t.expose_secret())) else {
        return Ok(None);
    };
    let hash = tokens::hash_of(token.expose_secret());
    if let Some(credential) = state.gateway.credentials.get(&hash) {
        return Ok(Some(credential));
    }
    let key = hash.clone();
    let found = db::run(&state.pool, move |conn| Ok(Credential::find_by_hash(conn, &key)?)).await?;
    if let Some(credential) = &found {
        state.gateway.credentials.put(hash, credential.clone());
    }
    Ok(found)
}

/// A failed token authentication: counted per address (across instances),
/// recorded, and answered 401 — or 429 once the address is over its limit.
async fn refuse_token(
    state: &AppState,
    incoming: &Incoming,
    denial: Denial,
    credential: Option<&Credential>,
    now: NaiveDateTime,
) -> Refusal {
    let ids = credential.map(|c| (c.api_key_id, c.token_id));
    let user_id = credential.map(|c| c.user_id);
    let event = RefusalEvent::new(denial.as_str(), incoming.method.as_str(), &incoming.path, ids);
    let ip = incoming.ip.to_string();
    let limit = state.settings.gateway.auth_failures_per_minute;
    // Not one transaction: a counter's reservation is atomic statement by
    // statement, and on PostgreSQL the insert it may race on would abort one.
    let counted = db::run(&state.pool, move |conn| {
        let key = Counter::GatewayAuthFailures.key(&ip);
        let reservation = counters::reserve(conn, &key, limit, Duration::from_secs(60), now)?;
        trail::record_refusal(conn, user_id, &ip, &event, now)?;
        Ok(reservation)
    })
    .await;
    match counted {
        Ok(Reservation::Granted) => Refusal::InvalidToken,
        Ok(Reservation::Refused { retry_after }) => Refusal::TooManyRequests {
            retry_after_secs: retry_after_secs(retry_after),
            msg: "Too many failed authentications from this address; try again later (see Retry-After).",
        },
        Err(error) => Refusal::from(error),
    }
}

/// Records a refusal; a failure to record is logged, never the client's problem.
async fn note_refusal(state: &AppState, user_id: Option<i64>, ip: IpAddr, event: RefusalEvent) {
    let ip = ip.to_string();
    let recorded =
        db::run(&state.pool, move |conn| Ok(trail::record_refusal(conn, user_id, &ip, &event, clock::now())?)).await;
    if let Err(error) = recorded {
        error.log();
        tracing::warn!("a gateway refusal could not be recorded in the audit log");
    }
}

/// After forwarding: the token's last use (at most once a minute) and the
/// order event. The request has reached the exchange by now, so a failure
/// here is logged and the exchange's answer still goes back: failing it would
/// make the bot retry an order that was placed.
async fn keep_books(
    state: &AppState,
    credential: &Credential,
    ip: IpAddr,
    stale: bool,
    order: Option<OrderEvent>,
    now: NaiveDateTime,
) {
    let (token_id, user_id, ip) = (credential.token_id, credential.user_id, ip.to_string());
    let kept = db::run(&state.pool, move |conn| {
        db::write_transaction(conn, |conn| {
            if stale {
                tokens::note_use(conn, token_id, &ip, now, now - LAST_USE_EVERY)?;
            }
            if let Some(order) = &order {
                trail::record_order(conn, user_id, &ip, order, now)?;
            }
            Ok::<_, Error>(())
        })
    })
    .await;
    match kept {
        Ok(()) if stale => state.gateway.credentials.mark_used(token_id, now),
        Ok(()) => {}
        Err(error) => {
            error.log();
            tracing::error!(token_id, "a gateway request's audit event or last use could not be stored");
        }
    }
}

//! WeChat web login (网页授权), read top to bottom: [`Login::begin`] (`/auth/`) → WeChat's
//! authorize page → [`Login::complete`] (`/empower/`) → exchange the code → fetch the profile →
//! store the user → rotate the session → redirect. `crate::http::login` turns HTTP into these
//! calls and their results into pages.
//!
//! The `state` is ≥128 bits of randomness, single use, with a 10-minute life. A login in
//! progress costs the server nothing: it travels in the browser's `wxgate_login` cookie, signed
//! with a key derived from the AppSecret (so every instance can check it, and nobody can forge
//! one), and a server-side session is created only when the login succeeds. WeChat sometimes
//! redirects twice and people press refresh: a callback this browser already completed quietly
//! continues, and a code is exchanged only once even when two copies of the callback race — on
//! one instance or on two ([`crate::shared::Flights`]). Another browser replaying the URL holds
//! no matching state and gets a 400.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tower_sessions::Session;
use wechat::{Code, OpenId, Scope};

use crate::cache::TtlCache;
use crate::clock;
use crate::db::{self, Db, User};
use crate::sessions;
use crate::shared::Flights;

/// Logins a browser may have open at once (tabs); older ones are forgotten.
const MAX_PENDING: usize = 5;
/// A code lives 5 minutes at WeChat, so remembering its result longer is pointless.
const CODE_MEMORY: Duration = Duration::from_secs(300);
/// How long `/index/` trusts what it read about a user (a nickname changed by a login on
/// another instance shows within this), and how many users it remembers.
const GREETING_TTL: Duration = Duration::from_secs(30);
const GREETING_CACHE: usize = 100_000;

/// A user and when their refresh_token lapses, as the greeting needs them.
type Greeted = Option<(User, Option<i64>)>;

const SESSION_OPENID: &str = "openid";
const SESSION_COMPLETED: &str = "completed_states";

/// The cookie that carries this browser's logins in progress.
pub const LOGIN_COOKIE: &str = "wxgate_login";
/// Browsers keep cookies up to 4096 bytes: older logins are dropped to stay under this.
const MAX_COOKIE: usize = 3800;

/// A login this browser started and has not finished.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct PendingLogin {
    state: String,
    scope: Scope,
    next: String,
    created_at: i64,
}

/// Which call to WeChat failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Step {
    /// `sns/oauth2/access_token`: the code exchange.
    Token,
    /// `sns/userinfo`: the profile.
    Profile,
}

/// Why a login failed, as the page shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Failure {
    /// The code is invalid, expired or used: the user starts again.
    BadCode,
    /// WeChat refused the account's credentials (AppSecret, IP whitelist…): the operator's.
    Misconfigured,
    /// Another WeChat error.
    WechatError,
    Timeout,
    /// WeChat unreachable, or its answer nonsense.
    Unreachable,
    /// The login could not be stored.
    Storage,
}

/// What exchanging one code came to; stored for the second copy of a callback, so it
/// serialises.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum Outcome {
    LoggedIn(OpenId),
    /// A snapshot-page virtual user (is_snapshotuser=1): not a real user, not stored.
    Snapshot,
    Failed {
        step: Step,
        failure: Failure,
        errcode: Option<i64>,
    },
}

/// What a completed callback leads to.
#[derive(Debug)]
pub enum Completion {
    /// Logged in (or already was): go here.
    Redirect(String),
    /// The user tapped 拒绝.
    Denied,
    /// A snapshot-page user: ask them to tap 使用完整服务.
    Snapshot,
}

/// What to do with the `wxgate_login` cookie after a request.
#[derive(Debug, PartialEq, Eq)]
pub enum LoginCookie {
    Unchanged,
    /// Set it to this value (for the state's lifetime).
    Set(String),
    /// No login left in progress: remove it.
    Clear,
}

#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// The state is missing, forged, expired, used, or another browser's.
    #[error("stale or unknown state")]
    StaleState,
    #[error("malformed code")]
    MalformedCode,
    #[error("WeChat call failed: {failure:?} at {step:?}")]
    Failed {
        step: Step,
        failure: Failure,
        errcode: Option<i64>,
    },
    #[error("session store: {0}")]
    Session(#[from] tower_sessions::session::Error),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

/// How a completed callback is counted in `wxgate_logins_total`.
fn outcome_label(result: &Result<Completion, LoginError>) -> &'static str {
    match result {
        Ok(Completion::Redirect(_)) => "ok",
        Ok(Completion::Denied) => "denied",
        Ok(Completion::Snapshot) => "snapshot",
        Err(LoginError::StaleState) => "bad_state",
        Err(LoginError::MalformedCode)
        | Err(LoginError::Failed {
            failure: Failure::BadCode,
            ..
        }) => "bad_code",
        Err(LoginError::Failed { .. }) => "upstream_error",
        Err(LoginError::Session(_) | LoginError::Database(_)) => "storage_error",
    }
}

/// Who `/index/` greets.
#[derive(Debug, Serialize)]
pub struct Greeting {
    pub name: String,
    pub avatar: Option<String>,
}

/// The login service: built once at start-up.
#[derive(Debug)]
pub struct Login {
    db: Db,
    client: wechat::Client,
    flights: Arc<dyn Flights>,
    oauth_base: String,
    callback_url: String,
    state_ttl: Duration,
    /// How long another instance waits for an exchange before taking over (the exchange, the
    /// profile and the database, each within the upstream timeout).
    lease: Duration,
    /// In front of the greeting's query: a logged-in view then costs no database round trip.
    greetings: Arc<TtlCache<String, Greeted>>,
    /// Signs the `wxgate_login` cookie.
    cookie_key: [u8; 32],
}

impl Login {
    pub fn new(
        db: Db,
        client: wechat::Client,
        flights: Arc<dyn Flights>,
        config: &crate::config::Config,
        public_url: &str,
    ) -> Self {
        Login {
            db,
            client,
            flights,
            oauth_base: config.oauth_base.clone(),
            callback_url: format!("{public_url}/empower/"),
            state_ttl: config.state_ttl,
            lease: config.upstream_timeout * 3 + Duration::from_secs(5),
            greetings: Arc::new(TtlCache::new(GREETING_TTL, GREETING_CACHE)),
            cookie_key: cookie_key(config.secret.secret()),
        }
    }

    /// How long the `wxgate_login` cookie lives: as long as a state.
    pub fn state_ttl(&self) -> Duration {
        self.state_ttl
    }

    /// The logins in progress a `wxgate_login` cookie carries, if its signature is ours; the
    /// expired ones are dropped.
    fn pending(&self, cookie: Option<&str>) -> Vec<PendingLogin> {
        let Some((payload, signature)) = cookie.and_then(|c| c.split_once('.')) else {
            return Vec::new();
        };
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let (Ok(payload), Ok(signature)) = (b64.decode(payload), b64.decode(signature)) else {
            return Vec::new();
        };
        let mut mac = <Hmac<Sha256>>::new_from_slice(&self.cookie_key)
            .expect("HMAC accepts keys of any length");
        mac.update(&payload);
        // Constant-time comparison.
        if mac.verify_slice(&signature).is_err() {
            tracing::info!("a wxgate_login cookie with a bad signature; ignored");
            return Vec::new();
        }
        let mut pending: Vec<PendingLogin> = serde_json::from_slice(&payload).unwrap_or_default();
        let now = clock::now();
        let ttl = self.state_ttl.as_secs() as i64;
        pending.retain(|p| now - p.created_at < ttl);
        pending
    }

    /// The cookie value carrying `pending`, signed; the oldest logins are dropped if it would
    /// be too large for a browser.
    fn seal(&self, mut pending: Vec<PendingLogin>) -> LoginCookie {
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        loop {
            if pending.is_empty() {
                return LoginCookie::Clear;
            }
            let payload = serde_json::to_vec(&pending).unwrap_or_default();
            let mut mac = <Hmac<Sha256>>::new_from_slice(&self.cookie_key)
                .expect("HMAC accepts keys of any length");
            mac.update(&payload);
            let value = format!(
                "{}.{}",
                b64.encode(&payload),
                b64.encode(mac.finalize().into_bytes())
            );
            if value.len() <= MAX_COOKIE {
                return LoginCookie::Set(value);
            }
            pending.remove(0);
        }
    }

    /// `/index/`: who is logged in, if anyone, and a notice when their login lapsed. A
    /// logged-in view renews the session at most once an hour, and writes nothing otherwise.
    pub async fn greeting(
        &self,
        session: &Session,
    ) -> Result<(Option<Greeting>, Option<&'static str>), LoginError> {
        let Some(openid) = session.get::<String>(SESSION_OPENID).await? else {
            return Ok((None, None));
        };
        let greeted = match self.greetings.get(&openid) {
            Some(g) => g,
            None => {
                let g = db::users::find_greeting(&self.db, &openid).await?;
                self.greetings.insert(openid.clone(), g.clone());
                g
            }
        };
        match greeted {
            Some((user, Some(refresh_expires_at))) if refresh_expires_at > clock::now() => {
                sessions::keep_alive(session).await?;
                Ok((
                    Some(Greeting {
                        name: user
                            .nickname
                            .filter(|n| !n.is_empty())
                            .unwrap_or_else(|| "微信用户".into()),
                        avatar: user
                            .headimgurl
                            .filter(|a| a.starts_with("https://") || a.starts_with("http://")),
                    }),
                    None,
                ))
            }
            _ => {
                // The refresh_token lapsed (or the user was removed): log in again.
                self.greetings.remove(&openid);
                session.remove::<String>(SESSION_OPENID).await?;
                Ok((None, Some("登录已过期，请重新登录。")))
            }
        }
    }

    /// `/auth/`: a new state, added to this browser's `wxgate_login` cookie, and WeChat's
    /// authorize URL to send the browser to. Nothing is stored on the server.
    pub fn begin(&self, cookie: Option<&str>, scope: Scope, next: String) -> (String, LoginCookie) {
        let state = wechat::State::generate();
        let mut pending = self.pending(cookie);
        if pending.len() >= MAX_PENDING {
            pending.remove(0);
        }
        pending.push(PendingLogin {
            state: state.as_str().to_owned(),
            scope,
            next,
            created_at: clock::now(),
        });
        let url = wechat::authorize_url(
            &self.oauth_base,
            self.client.appid(),
            &self.callback_url,
            scope,
            &state,
        );
        (url, self.seal(pending))
    }

    /// `/empower/`: checks the state against this browser's `wxgate_login` cookie, exchanges
    /// the code (once, however many copies of the callback arrive), logs the browser in. The
    /// state is spent whatever happens, except for a snapshot-page user, whose reload shows the
    /// same page.
    pub async fn complete(
        &self,
        session: &Session,
        cookie: Option<&str>,
        code: Option<String>,
        state: Option<&str>,
    ) -> (Result<Completion, LoginError>, LoginCookie) {
        let mut pending = self.pending(cookie);
        let presented = state.and_then(wechat::State::parse);
        let position = presented.as_ref().and_then(|s| {
            pending
                .iter()
                .position(|p| wechat::State::parse(&p.state).is_some_and(|mine| mine.ct_eq(s)))
        });
        let Some(i) = position else {
            let done = self
                .already_completed(session, presented.as_ref(), code.as_deref())
                .await;
            if matches!(done, Err(LoginError::StaleState) | Ok(Completion::Denied)) {
                crate::metrics::login(outcome_label(&done));
            }
            return (done, LoginCookie::Unchanged);
        };
        // Single use: whatever happens next, this state is spent.
        let login = pending.remove(i);
        let spent = self.seal(pending);
        let result = self.finish(session, &login, code).await;
        crate::metrics::login(outcome_label(&result));
        let cookie = match &result {
            Ok(Completion::Snapshot) => LoginCookie::Unchanged,
            _ => spent,
        };
        (result, cookie)
    }

    /// A callback whose state this browser no longer holds: one it already completed (refresh,
    /// back button, WeChat's double redirect) carries on quietly; anything else is stale,
    /// forged or someone else's.
    async fn already_completed(
        &self,
        session: &Session,
        presented: Option<&wechat::State>,
        code: Option<&str>,
    ) -> Result<Completion, LoginError> {
        if code.is_none_or(str::is_empty) {
            return Ok(Completion::Denied);
        }
        let completed: Vec<String> = session.get(SESSION_COMPLETED).await?.unwrap_or_default();
        let already = presented.is_some_and(|s| completed.iter().any(|c| c == s.as_str()));
        let logged_in = session.get::<String>(SESSION_OPENID).await?.is_some();
        if already && logged_in {
            return Ok(Completion::Redirect("/index/".into()));
        }
        Err(LoginError::StaleState)
    }

    async fn finish(
        &self,
        session: &Session,
        login: &PendingLogin,
        code: Option<String>,
    ) -> Result<Completion, LoginError> {
        let Some(code) = code.filter(|c| !c.is_empty()) else {
            // The user tapped 拒绝: WeChat redirects with the state only.
            return Ok(Completion::Denied);
        };
        if code.len() > 512 || !code.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(LoginError::MalformedCode);
        }
        match self.exchange_once(login, Code::new(code)).await {
            Outcome::LoggedIn(openid) => {
                // What the login just stored is what the next view shows.
                self.greetings.remove(&openid.as_str().to_owned());
                // A new session id at the moment of login defeats session fixation.
                session.cycle_id().await?;
                session.set_expiry(Some(sessions::logged_in_expiry()));
                session.insert(SESSION_OPENID, openid.as_str()).await?;
                sessions::renewed_now(session).await?;
                let mut completed: Vec<String> =
                    session.get(SESSION_COMPLETED).await?.unwrap_or_default();
                completed.push(login.state.clone());
                if completed.len() > MAX_PENDING {
                    completed.remove(0);
                }
                session.insert(SESSION_COMPLETED, completed).await?;
                Ok(Completion::Redirect(login.next.clone()))
            }
            Outcome::Snapshot => Ok(Completion::Snapshot),
            Outcome::Failed {
                step,
                failure,
                errcode,
            } => Err(LoginError::Failed {
                step,
                failure,
                errcode,
            }),
        }
    }

    /// `/logout/`.
    pub async fn logout(&self, session: &Session) -> Result<(), LoginError> {
        Ok(session.flush().await?)
    }

    /// The exchange for this state and code, run once across instances: when WeChat delivers
    /// the same callback twice at once, the second waits for the first's result instead of
    /// spending the code again (which WeChat answers with 40163). It runs in its own task, so
    /// a browser that disconnects mid-login does not leave it half done. Only a browser whose
    /// signed cookie holds the state gets here.
    async fn exchange_once(&self, login: &PendingLogin, code: Code) -> Outcome {
        let key = flight_key(&login.state, code.secret());
        let this = Exchange {
            db: self.db.clone(),
            client: self.client.clone(),
        };
        let scope = login.scope;
        let work = Box::pin(async move {
            let outcome = this.run(code, scope).await;
            serde_json::to_vec(&outcome).unwrap_or_default().into()
        });
        let ran = self
            .flights
            .run(&key, self.lease, CODE_MEMORY, CODE_MEMORY, work)
            .await;
        match ran.and_then(|bytes| serde_json::from_slice::<Outcome>(&bytes).ok()) {
            Some(outcome) => outcome,
            None => Outcome::Failed {
                step: Step::Token,
                failure: Failure::Storage,
                errcode: None,
            },
        }
    }
}

/// The state and code identify the exchange; stored hashed, as they are credentials.
fn flight_key(state: &str, code: &str) -> String {
    let digest = Sha256::digest(format!("{state}:{code}").as_bytes());
    format!("login:{}", hex::encode(&digest[..16]))
}

/// The key that signs `wxgate_login` cookies: derived from the AppSecret, which every instance
/// has and no browser does.
fn cookie_key(secret: &str) -> [u8; 32] {
    let mut mac =
        <Hmac<Sha256>>::new_from_slice(secret.as_bytes()).expect("HMAC accepts keys of any length");
    mac.update(b"wxgate pending-login cookie v1");
    mac.finalize().into_bytes().into()
}

/// What one exchange needs; moved into the task that runs it.
struct Exchange {
    db: Db,
    client: wechat::Client,
}

impl Exchange {
    /// code → tokens (sns/oauth2/access_token) → profile (sns/userinfo) → database.
    async fn run(&self, code: Code, scope: Scope) -> Outcome {
        let token = match self.client.exchange_code(&code).await {
            Ok(t) => t,
            Err(e) => return failed(Step::Token, &e),
        };
        if token.is_snapshot_user() {
            tracing::info!("snapshot-page user; asking them to use the full service");
            return Outcome::Snapshot;
        }
        let profile = if scope == Scope::UserInfo && token.has_userinfo_scope() {
            match self
                .client
                .userinfo(&token.access_token, &token.openid)
                .await
            {
                Ok(p) => Some(p),
                Err(e) => return failed(Step::Profile, &e),
            }
        } else {
            None
        };
        if let Err(e) = db::users::record_login(&self.db, &token, profile.as_ref()).await {
            tracing::error!(error = %e, "could not store the login");
            return Outcome::Failed {
                step: Step::Token,
                failure: Failure::Storage,
                errcode: None,
            };
        }
        tracing::info!(openid = %token.openid, scope = %token.scope, "user logged in");
        Outcome::LoggedIn(token.openid)
    }
}

/// Classifies a failed WeChat call: the user's fault (a bad code), a misconfigured account
/// (whose cause goes to the log for the operator), or WeChat being down or slow.
fn failed(step: Step, error: &wechat::Error) -> Outcome {
    use wechat::Error as E;
    let failure = match error {
        E::Api { code, .. } if code.is_bad_code() => Failure::BadCode,
        E::Api { code, .. } if code.is_operator_error() => {
            tracing::error!(%error, meaning = code.meaning(), "WeChat rejected the account's credentials");
            Failure::Misconfigured
        }
        E::Api { code, .. } => {
            tracing::warn!(%error, meaning = code.meaning(), "WeChat returned an error");
            Failure::WechatError
        }
        E::Timeout { .. } => {
            tracing::warn!(%error, "WeChat timed out");
            Failure::Timeout
        }
        E::Transport { .. } | E::BadResponse { .. } => {
            tracing::warn!(%error, "WeChat unreachable or answered nonsense");
            Failure::Unreachable
        }
    };
    Outcome::Failed {
        step,
        failure,
        errcode: error.errcode().map(|c| c.0),
    }
}

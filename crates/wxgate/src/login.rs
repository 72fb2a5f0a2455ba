//! WeChat web login (网页授权), read top to bottom: [`Login::begin`] (`/auth/`) → WeChat's
//! authorize page → [`Login::complete`] (`/empower/`) → exchange the code → fetch the profile →
//! store the user → rotate the session → redirect. `crate::http::login` turns HTTP into these
//! calls and their results into pages.
//!
//! The `state` is ≥128 bits of randomness kept in this browser's session: single use, 10-minute
//! life. WeChat sometimes redirects twice and people press refresh: a callback this browser
//! already completed quietly continues, and a code is exchanged only once even when two copies
//! of the callback race — on one instance or on two ([`crate::shared::Flights`]). Another
//! browser replaying the URL holds no matching state and gets a 400.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tower_sessions::Session;
use wechat::{Code, OpenId, Scope};

use crate::cache::TtlCache;
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
const SESSION_PENDING: &str = "pending_logins";
const SESSION_COMPLETED: &str = "completed_states";

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
            Some((user, Some(refresh_expires_at))) if refresh_expires_at > db::now() => {
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

    /// `/auth/`: remembers a new state in this browser's session and returns WeChat's
    /// authorize URL to send the browser to.
    pub async fn begin(
        &self,
        session: &Session,
        scope: Scope,
        next: String,
    ) -> Result<String, LoginError> {
        let state = wechat::State::generate();
        let mut pending: Vec<PendingLogin> =
            session.get(SESSION_PENDING).await?.unwrap_or_default();
        let now = db::now();
        let ttl = self.state_ttl.as_secs() as i64;
        pending.retain(|p| now - p.created_at < ttl);
        if pending.len() >= MAX_PENDING {
            pending.remove(0);
        }
        pending.push(PendingLogin {
            state: state.as_str().to_owned(),
            scope,
            next,
            created_at: now,
        });
        session.insert(SESSION_PENDING, pending).await?;
        if session.get::<String>(SESSION_OPENID).await?.is_none() {
            // A browser that only started a login is forgotten with its state, so anonymous
            // hits on /auth/ cannot pile up week-long sessions.
            session.set_expiry(Some(sessions::pending_login_expiry(self.state_ttl)));
        }
        Ok(wechat::authorize_url(
            &self.oauth_base,
            self.client.appid(),
            &self.callback_url,
            scope,
            &state,
        ))
    }

    /// `/empower/`: checks the state, exchanges the code (once, however many copies of the
    /// callback arrive), logs the browser in. `browser` is the raw session cookie the request
    /// carried: it identifies the browser even after a racing copy rotated its session.
    pub async fn complete(
        &self,
        session: &Session,
        browser: Option<&str>,
        code: Option<String>,
        state: Option<&str>,
    ) -> Result<Completion, LoginError> {
        let mut pending: Vec<PendingLogin> =
            session.get(SESSION_PENDING).await?.unwrap_or_default();
        let presented = state.and_then(wechat::State::parse);
        let position = presented.as_ref().and_then(|s| {
            pending
                .iter()
                .position(|p| wechat::State::parse(&p.state).is_some_and(|mine| mine.ct_eq(s)))
        });
        // Single use: whatever happens next, this state is spent.
        let login = position.map(|i| pending.remove(i));
        if login.is_some() {
            session.insert(SESSION_PENDING, &pending).await?;
        }

        let Some(code) = code.filter(|c| !c.is_empty()) else {
            // The user tapped 拒绝: WeChat redirects with the state only.
            return Ok(Completion::Denied);
        };

        let Some(login) = login else {
            // A callback this browser already completed (refresh, back button, WeChat's double
            // redirect): carry on quietly. Anything else is stale, forged or someone else's.
            let completed: Vec<String> = session.get(SESSION_COMPLETED).await?.unwrap_or_default();
            let already = presented
                .as_ref()
                .is_some_and(|s| completed.iter().any(|c| c == s.as_str()));
            let logged_in = session.get::<String>(SESSION_OPENID).await?.is_some();
            if already && logged_in {
                return Ok(Completion::Redirect("/index/".into()));
            }
            if let Some(s) = &presented {
                match self.replayed(s.as_str(), &code, browser).await {
                    Some(Outcome::LoggedIn(_)) => {
                        return Ok(Completion::Redirect("/index/".into()));
                    }
                    Some(Outcome::Snapshot) => return Ok(Completion::Snapshot),
                    _ => {}
                }
            }
            return Err(LoginError::StaleState);
        };
        if db::now() - login.created_at >= self.state_ttl.as_secs() as i64 {
            return Err(LoginError::StaleState);
        }
        if code.len() > 512 || !code.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(LoginError::MalformedCode);
        }

        match self.exchange_once(&login, Code::new(code), browser).await {
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
                Ok(Completion::Redirect(login.next))
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
    /// a browser that disconnects mid-login does not leave it half done.
    async fn exchange_once(
        &self,
        login: &PendingLogin,
        code: Code,
        browser: Option<&str>,
    ) -> Outcome {
        let key = flight_key(&login.state, code.secret());
        let this = Exchange {
            db: self.db.clone(),
            client: self.client.clone(),
        };
        let scope = login.scope;
        let browser = browser.map(browser_digest);
        let work = Box::pin(async move {
            let outcome = this.run(code, scope).await;
            serde_json::to_vec(&Ran { browser, outcome })
                .unwrap_or_default()
                .into()
        });
        let ran = self.flights.run(&key, self.lease, CODE_MEMORY, work).await;
        match ran.and_then(|bytes| serde_json::from_slice::<Ran>(&bytes).ok()) {
            Some(ran) => ran.outcome,
            None => Outcome::Failed {
                step: Step::Token,
                failure: Failure::Storage,
                errcode: None,
            },
        }
    }

    /// What this browser (by its pre-login session cookie) already got from this state and
    /// code — for the second of two racing callbacks, arriving after the first rotated the
    /// session, or a reload of the snapshot page. A different browser presenting the same URL
    /// gets `None`.
    async fn replayed(&self, state: &str, code: &str, browser: Option<&str>) -> Option<Outcome> {
        let browser = browser_digest(browser?);
        let bytes = self.flights.finished(&flight_key(state, code)).await?;
        let ran: Ran = serde_json::from_slice(&bytes).ok()?;
        let same_browser = ran
            .browser
            .is_some_and(|first| bool::from(first.as_bytes().ct_eq(browser.as_bytes())));
        same_browser.then_some(ran.outcome)
    }
}

/// An exchange's result as stored, with (a digest of) the browser that started it.
#[derive(Serialize, Deserialize)]
struct Ran {
    browser: Option<String>,
    outcome: Outcome,
}

/// The state and code identify the exchange; stored hashed, as they are credentials.
fn flight_key(state: &str, code: &str) -> String {
    let digest = Sha256::digest(format!("{state}:{code}").as_bytes());
    format!("login:{}", hex::encode(&digest[..16]))
}

fn browser_digest(cookie: &str) -> String {
    hex::encode(Sha256::digest(cookie.as_bytes()))
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

//! The simulated platform's memory: OAuth codes, user (sns) tokens, base tokens, and when each
//! user last talked to the account (the 48-hour window of customer-service messages).
//!
//! Every function takes `now` (the simulated clock, Unix seconds) and returns either a value or a WeChat errcode,
//! so the rules of §A.2–§A.6, §B.1, §B.2 and §E read here without any HTTP around them. The
//! menus (§D) live in [`crate::menu`].

use std::collections::HashMap;

use rand::Rng;
use rand::distr::Alphanumeric;

/// A code lives 5 minutes and is single use (§A.2).
pub const CODE_TTL: u64 = 300;
/// User and base access_tokens live 2 hours.
pub const ACCESS_TTL: u64 = 7200;
/// A refresh_token lives 30 days; refreshing does not extend it (§A.4, community answer).
pub const REFRESH_TTL: u64 = 30 * 86_400;
/// Old and new base tokens both work for 5 minutes after a rotation (§B.1, §B.2).
pub const OVERLAP: u64 = 300;
/// stable_token force_refresh limits (§B.2).
pub const FORCE_PER_DAY: u32 = 20;
pub const FORCE_MIN_GAP: u64 = 30;
/// Beijing time is UTC+8, all year.
const BEIJING_OFFSET: u64 = 8 * 3600;
/// Customer-service messages reach a user who interacted with the account within 48 hours.
pub const CUSTOM_WINDOW: u64 = 48 * 3600;

/// The day number of Unix time `now` in Beijing time: WeChat's daily quotas (the API quotas,
/// the 20 forced stable_token refreshes) start again at 00:00 UTC+8, which is 16:00 UTC.
pub fn beijing_day(now: u64) -> u64 {
    now.saturating_add(BEIJING_OFFSET) / 86_400
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    Base,
    UserInfo,
}

impl Scope {
    pub fn parse(s: &str) -> Option<Scope> {
        match s {
            "snsapi_base" => Some(Scope::Base),
            "snsapi_userinfo" => Some(Scope::UserInfo),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Base => "snsapi_base",
            Scope::UserInfo => "snsapi_userinfo",
        }
    }
}

struct CodeGrant {
    appid: String,
    user: usize,
    scope: Scope,
    issued_at: u64,
    used: bool,
}

struct SnsToken {
    appid: String,
    user: usize,
    scope: Scope,
    expires_at: u64,
}

struct RefreshGrant {
    appid: String,
    user: usize,
    scope: Scope,
    expires_at: u64,
    /// The access_token this refresh_token last issued; a refresh revokes it.
    access_token: String,
}

/// What a user token is good for.
#[derive(Clone, Debug)]
pub struct UserGrant {
    pub access_token: String,
    pub refresh_token: String,
    pub user: usize,
    pub scope: Scope,
}

/// A valid user token's owner.
pub struct TokenOwner {
    pub user: usize,
    pub scope: Scope,
}

/// A base access_token (from `cgi-bin/token` or `cgi-bin/stable_token`).
struct BaseToken {
    token: String,
    expires_at: u64,
    /// When it stops working before its expiry: 5 minutes after a newer `cgi-bin/token` fetch,
    /// or at once after a forced stable_token refresh. Such a token then answers 40001 (not
    /// latest) rather than 42001 (expired).
    revoked_at: Option<u64>,
}

impl BaseToken {
    fn new(now: u64, ttl: u64) -> Self {
        BaseToken {
            token: new_token(),
            expires_at: now.saturating_add(ttl),
            revoked_at: None,
        }
    }

    /// Ok, or the errcode this token gets at `now`.
    fn check(&self, now: u64) -> Result<(), i64> {
        match self.revoked_at {
            Some(r) if now >= r && r < self.expires_at => Err(40001),
            _ if now >= self.expires_at => Err(42001),
            _ => Ok(()),
        }
    }

    fn valid(&self, now: u64) -> bool {
        self.check(now).is_ok()
    }
}

/// How long a dead token is remembered, so that it answers 42001/40001 for the right reason.
const REMEMBER_DEAD: u64 = 86_400;

#[derive(Default)]
struct Stable {
    /// Oldest first; the last one is the current token.
    tokens: Vec<BaseToken>,
    /// The Beijing day ([`beijing_day`]) `forced_today` counts.
    force_day: u64,
    forced_today: u32,
    last_forced: Option<u64>,
}

/// A JS-SDK ticket (`jsapi` or `wx_card`).
struct Ticket {
    ticket: String,
    expires_at: u64,
}

/// How long base access_tokens and tickets live: WeChat's 7200 s, or less for a test that
/// wants to see them expire (`POST /_sim/lifetimes`).
#[derive(Clone, Copy, Debug, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lifetimes {
    pub access_token: u64,
    pub ticket: u64,
}

impl Default for Lifetimes {
    fn default() -> Self {
        Lifetimes {
            access_token: ACCESS_TTL,
            ticket: ACCESS_TTL,
        }
    }
}

#[derive(Default)]
pub struct Platform {
    pub lifetimes: Lifetimes,
    codes: HashMap<String, CodeGrant>,
    sns_tokens: HashMap<String, SnsToken>,
    refresh_tokens: HashMap<String, RefreshGrant>,
    /// cgi-bin/token tokens, oldest first.
    base_tokens: Vec<BaseToken>,
    stable: Stable,
    tickets: HashMap<String, Ticket>,
    pub menus: crate::menu::Menus,
    /// openid → the user's last push through the simulator (simulated time), or `None` once
    /// they unfollowed.
    interactions: HashMap<String, Option<u64>>,
}

fn random_string(len: usize) -> String {
    rand::rng()
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

/// Like WeChat's: 32 characters for a code, long opaque strings for tokens.
fn new_code() -> String {
    random_string(32)
}

/// Like the official example's: 86 characters with '-' and '_'.
fn new_ticket() -> String {
    let mut t = random_string(84);
    t.insert(50, '_');
    t.insert(70, '-');
    t
}

fn new_token() -> String {
    // WeChat's tokens are long and may contain '-' and '_'; clients must store >= 512 chars.
    let mut t = random_string(86);
    t.insert(40, '-');
    t.insert(64, '_');
    t
}

impl Platform {
    pub fn issue_code(&mut self, appid: &str, user: usize, scope: Scope, now: u64) -> String {
        // Used or expired codes are kept a while longer so a replay still says 40163.
        self.codes
            .retain(|_, c| now < c.issued_at.saturating_add(CODE_TTL * 12));
        let code = new_code();
        self.codes.insert(
            code.clone(),
            CodeGrant {
                appid: appid.to_string(),
                user,
                scope,
                issued_at: now,
                used: false,
            },
        );
        code
    }

    /// §A.3: 40163 for a second use, 40029 for an unknown, expired or other-appid code.
    pub fn exchange_code(&mut self, appid: &str, code: &str, now: u64) -> Result<UserGrant, i64> {
        let grant = self.codes.get_mut(code).ok_or(40029)?;
        if grant.appid != appid {
            return Err(40029);
        }
        if grant.used {
            return Err(40163);
        }
        if now >= grant.issued_at.saturating_add(CODE_TTL) {
            return Err(40029);
        }
        grant.used = true;
        let (user, scope) = (grant.user, grant.scope);
        let access_token = self.issue_sns_token(appid, user, scope, now);
        let refresh_token = new_token();
        self.refresh_tokens.retain(|_, r| now < r.expires_at);
        self.refresh_tokens.insert(
            refresh_token.clone(),
            RefreshGrant {
                appid: appid.to_string(),
                user,
                scope,
                expires_at: now.saturating_add(REFRESH_TTL),
                access_token: access_token.clone(),
            },
        );
        Ok(UserGrant {
            access_token,
            refresh_token,
            user,
            scope,
        })
    }

    fn issue_sns_token(&mut self, appid: &str, user: usize, scope: Scope, now: u64) -> String {
        // Expired tokens stay a day so they answer 42001 rather than 40001.
        self.sns_tokens
            .retain(|_, t| now < t.expires_at.saturating_add(86_400));
        let token = new_token();
        self.sns_tokens.insert(
            token.clone(),
            SnsToken {
                appid: appid.to_string(),
                user,
                scope,
                expires_at: now.saturating_add(ACCESS_TTL),
            },
        );
        token
    }

    /// §A.4: a new access_token (the old one is revoked), the same refresh_token and 30 days.
    pub fn refresh(
        &mut self,
        appid: &str,
        refresh_token: &str,
        now: u64,
    ) -> Result<UserGrant, i64> {
        let grant = self.refresh_tokens.get(refresh_token).ok_or(40030)?;
        if grant.appid != appid {
            return Err(40013);
        }
        if now >= grant.expires_at {
            return Err(42002);
        }
        let (user, scope, old) = (grant.user, grant.scope, grant.access_token.clone());
        self.sns_tokens.remove(&old);
        let access_token = self.issue_sns_token(appid, user, scope, now);
        if let Some(grant) = self.refresh_tokens.get_mut(refresh_token) {
            grant.access_token = access_token.clone();
        }
        Ok(UserGrant {
            access_token,
            refresh_token: refresh_token.to_string(),
            user,
            scope,
        })
    }

    /// 40001 unknown (or replaced by a refresh), 42001 expired.
    pub fn check_sns_token(&self, appid: &str, token: &str, now: u64) -> Result<TokenOwner, i64> {
        let t = self.sns_tokens.get(token).ok_or(40001)?;
        if t.appid != appid {
            return Err(40001);
        }
        if now >= t.expires_at {
            return Err(42001);
        }
        Ok(TokenOwner {
            user: t.user,
            scope: t.scope,
        })
    }

    /// §B.1: each fetch issues a new token; older ones keep at most 5 more minutes.
    pub fn issue_base_token(&mut self, now: u64) -> (String, u64) {
        let cutoff = now.saturating_add(OVERLAP);
        self.base_tokens
            .retain(|t| now < t.expires_at.saturating_add(REMEMBER_DEAD));
        for t in &mut self.base_tokens {
            t.revoked_at = Some(t.revoked_at.map_or(cutoff, |r| r.min(cutoff)));
        }
        let ttl = self.lifetimes.access_token;
        let token = BaseToken::new(now, ttl);
        let value = token.token.clone();
        self.base_tokens.push(token);
        (value, ttl)
    }

    /// §B.2: the same token while valid, rotated in its last 5 minutes; `force` replaces it at
    /// once, at most 20 times a day (a Beijing day: the budget starts again at 00:00 UTC+8) and
    /// 30 s apart (otherwise it acts like a normal call).
    pub fn stable_token(&mut self, force: bool, now: u64) -> (String, u64) {
        let ttl = self.lifetimes.access_token;
        let s = &mut self.stable;
        s.tokens
            .retain(|t| now < t.expires_at.saturating_add(REMEMBER_DEAD));
        let day = beijing_day(now);
        if s.force_day != day {
            s.force_day = day;
            s.forced_today = 0;
        }
        let may_force = s.forced_today < FORCE_PER_DAY
            && s.last_forced
                .is_none_or(|t| now.saturating_sub(t) >= FORCE_MIN_GAP);
        let current_ok = s.tokens.last().filter(|t| t.valid(now));
        if force && may_force {
            s.forced_today += 1;
            s.last_forced = Some(now);
            // The previous stable token stops working at once.
            for t in &mut s.tokens {
                if t.valid(now) {
                    t.revoked_at = Some(now);
                }
            }
            s.tokens.push(BaseToken::new(now, ttl));
        } else {
            match current_ok {
                Some(t) if t.expires_at > now.saturating_add(OVERLAP) => {}
                // Rotation in the last 5 minutes: the old one keeps its own remaining life.
                _ => s.tokens.push(BaseToken::new(now, ttl)),
            }
        }
        let current = s.tokens.last().expect("a current stable token");
        (
            current.token.clone(),
            current.expires_at.saturating_sub(now),
        )
    }

    /// A base token from either API: Ok, 40001 (unknown, or replaced and past its overlap) or
    /// 42001 (expired).
    pub fn check_base_token(&self, token: &str, now: u64) -> Result<(), i64> {
        self.base_tokens
            .iter()
            .chain(self.stable.tokens.iter())
            .find(|t| t.token == token)
            .ok_or(40001)?
            .check(now)
    }

    /// Every base token issued and still remembered (tests check none leaks).
    pub fn base_token_values(&self) -> Vec<String> {
        self.base_tokens
            .iter()
            .chain(self.stable.tokens.iter())
            .map(|t| t.token.clone())
            .collect()
    }

    pub fn base_token_valid(&self, token: &str, now: u64) -> bool {
        self.check_base_token(token, now).is_ok()
    }

    /// §E: the ticket of `kind` (`jsapi`, `wx_card`): the same one until it expires.
    pub fn ticket(&mut self, kind: &str, now: u64) -> (String, u64) {
        let ttl = self.lifetimes.ticket;
        let t = self
            .tickets
            .entry(kind.to_string())
            .or_insert_with(|| Ticket {
                ticket: String::new(),
                expires_at: 0,
            });
        if now >= t.expires_at {
            t.ticket = new_ticket();
            t.expires_at = now.saturating_add(ttl);
        }
        (t.ticket.clone(), t.expires_at.saturating_sub(now))
    }

    /// The user `openid` pushed something to the account at `now` (a message or an event):
    /// customer-service messages may reach them for [`CUSTOM_WINDOW`].
    pub fn record_interaction(&mut self, openid: &str, now: u64) {
        self.interactions.insert(openid.to_string(), Some(now));
    }

    /// The user unfollowed: customer-service messages get 45015 until they interact again.
    pub fn record_unfollow(&mut self, openid: &str) {
        self.interactions.insert(openid.to_string(), None);
    }

    /// The user's last push through the simulator: `None` never seen, `Some(None)` unfollowed
    /// since.
    pub fn last_interaction(&self, openid: &str) -> Option<Option<u64>> {
        self.interactions.get(openid).copied()
    }

    /// Whether the user unfollowed (and has not pushed anything since).
    pub fn unfollowed(&self, openid: &str) -> bool {
        matches!(self.interactions.get(openid), Some(None))
    }

    /// May a customer-service message reach `openid` at `now`? 45015 when their last push
    /// through the simulator is more than 48 hours old or they unfollowed since. A user the
    /// simulator never saw push passes: pushes may come from outside it (`wxgate sim push`,
    /// tests posting to the account directly).
    pub fn check_custom_window(&self, openid: &str, now: u64) -> Result<(), i64> {
        match self.interactions.get(openid) {
            None => Ok(()),
            Some(Some(at)) if now.saturating_sub(*at) <= CUSTOM_WINDOW => Ok(()),
            Some(_) => Err(45015),
        }
    }

    /// The ticket of `kind` if one is valid at `now`.
    pub fn current_ticket(&self, kind: &str, now: u64) -> Option<String> {
        self.tickets
            .get(kind)
            .filter(|t| now < t.expires_at)
            .map(|t| t.ticket.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_is_single_use_and_expires() {
        let mut p = Platform::default();
        let c = p.issue_code("wx1", 0, Scope::Base, 0);
        assert!(p.exchange_code("wx1", &c, 10).is_ok());
        assert_eq!(p.exchange_code("wx1", &c, 11).unwrap_err(), 40163);
        let c2 = p.issue_code("wx1", 0, Scope::Base, 100);
        assert_eq!(p.exchange_code("wx2", &c2, 100).unwrap_err(), 40029);
        assert_eq!(p.exchange_code("wx1", &c2, 400).unwrap_err(), 40029);
    }

    #[test]
    fn stable_token_rotates_in_last_five_minutes() {
        let mut p = Platform::default();
        let (a, e) = p.stable_token(false, 0);
        assert_eq!(e, 7200);
        assert_eq!(p.stable_token(false, 6000).0, a);
        let (b, e) = p.stable_token(false, 6900);
        assert_ne!(a, b);
        assert_eq!(e, 7200);
        assert!(p.base_token_valid(&a, 6950));
        assert!(!p.base_token_valid(&a, 7200));
    }

    #[test]
    fn base_token_overlap_is_five_minutes() {
        let mut p = Platform::default();
        let (a, _) = p.issue_base_token(0);
        let (b, _) = p.issue_base_token(100);
        assert!(p.base_token_valid(&a, 399));
        assert!(!p.base_token_valid(&a, 400));
        assert!(p.base_token_valid(&b, 7299));
        assert_eq!(p.check_base_token(&a, 400), Err(40001));
        assert_eq!(p.check_base_token(&b, 7300), Err(42001));
        assert_eq!(p.check_base_token("nope", 0), Err(40001));
    }

    #[test]
    fn forced_stable_token_voids_the_old_one_at_once() {
        let mut p = Platform::default();
        let (a, _) = p.stable_token(false, 0);
        let (b, _) = p.stable_token(true, 10);
        assert_ne!(a, b);
        assert_eq!(p.check_base_token(&a, 10), Err(40001));
        assert!(p.base_token_valid(&b, 10));
    }

    #[test]
    fn beijing_days_start_at_16_utc() {
        // 2024-05-01 15:59:59 UTC is 23:59:59 in Beijing; a second later it is 05-02 there.
        let before = 1_714_579_199;
        assert_eq!(beijing_day(before) + 1, beijing_day(before + 1));
        // 2024-05-02 00:00:00 UTC is 08:00 in Beijing: the same Beijing day.
        assert_eq!(beijing_day(1_714_608_000 - 1), beijing_day(1_714_608_000));
    }

    #[test]
    fn force_refresh_budget_resets_at_beijing_midnight() {
        let mut p = Platform::default();
        // From 2024-05-01 15:00:00 UTC (23:00 in Beijing), one forced refresh a minute.
        let start = 1_714_575_600;
        let mut last = String::new();
        for i in 0..FORCE_PER_DAY as u64 {
            let (t, _) = p.stable_token(true, start + i * 60);
            assert_ne!(t, last, "forced refresh {}", i + 1);
            last = t;
        }
        // 15:20 UTC: the budget is spent.
        assert_eq!(p.stable_token(true, start + 20 * 60).0, last);
        // 16:00:00 UTC is midnight in Beijing: a new budget (the UTC day is still the same).
        let midnight = start + 3600;
        assert_eq!(p.stable_token(true, midnight - 1).0, last);
        assert_ne!(p.stable_token(true, midnight).0, last);
    }

    #[test]
    fn custom_messages_need_an_interaction_within_48_hours() {
        let mut p = Platform::default();
        assert_eq!(
            p.check_custom_window("o1", 0),
            Ok(()),
            "never seen: allowed"
        );
        p.record_interaction("o1", 1000);
        assert_eq!(p.check_custom_window("o1", 1000 + CUSTOM_WINDOW), Ok(()));
        assert_eq!(
            p.check_custom_window("o1", 1001 + CUSTOM_WINDOW),
            Err(45015)
        );
        p.record_interaction("o1", 1001 + CUSTOM_WINDOW);
        assert_eq!(p.check_custom_window("o1", 1001 + CUSTOM_WINDOW), Ok(()));
        p.record_unfollow("o1");
        assert_eq!(
            p.check_custom_window("o1", 1001 + CUSTOM_WINDOW),
            Err(45015)
        );
        assert_eq!(p.check_custom_window("o2", 0), Ok(()));
    }

    #[test]
    fn ticket_is_reused_until_expiry() {
        let mut p = Platform::default();
        let (t, e) = p.ticket("jsapi", 0);
        assert_eq!(e, 7200);
        assert_eq!(p.ticket("jsapi", 7199), (t.clone(), 1));
        assert_ne!(p.ticket("wx_card", 0).0, t);
        assert_ne!(p.ticket("jsapi", 7200).0, t);
    }
}

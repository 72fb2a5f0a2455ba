-- Cached platform credentials (base access_token, jsapi_ticket), so a restart or a CLI command
-- in another process reuses them instead of spending WeChat's daily quota. Never shown.
CREATE TABLE credentials (
    kind            TEXT PRIMARY KEY NOT NULL,   -- e.g. access_token:stable:wx…, jsapi_ticket:wx…
    value           TEXT NOT NULL,
    expires_at      INTEGER NOT NULL,            -- unix seconds
    fetched_at      INTEGER NOT NULL,
    fetch_count     INTEGER NOT NULL,            -- fetches from WeChat, ever
    forced_today    INTEGER NOT NULL,            -- stable_token force_refresh on forced_day
    forced_day      INTEGER NOT NULL,            -- Beijing-time day number
    last_forced_at  INTEGER NOT NULL
);

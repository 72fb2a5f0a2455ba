-- Cached platform credentials (base access_token, jsapi_ticket), shared by every instance, so a
-- restart, a new instance or a CLI command reuses them instead of spending WeChat's daily
-- quota. Never shown.
CREATE TABLE credentials (
    kind            TEXT PRIMARY KEY NOT NULL,   -- e.g. access_token:stable:wx…, jsapi_ticket:wx…
    value           TEXT NOT NULL,
    expires_at      BIGINT NOT NULL,             -- unix seconds
    fetched_at      BIGINT NOT NULL,
    fetch_count     BIGINT NOT NULL,             -- fetches from WeChat, ever
    forced_today    BIGINT NOT NULL,             -- stable_token force_refresh on forced_day
    forced_day      BIGINT NOT NULL,             -- Beijing-time day number
    last_forced_at  BIGINT NOT NULL
);

-- People who logged in through 网页授权, keyed by their openid within this account.
-- (The same schema as migrations/sqlite, with PostgreSQL's 64-bit integers.)
CREATE TABLE users (
    openid      TEXT PRIMARY KEY NOT NULL,
    unionid     TEXT,
    nickname    TEXT,
    headimgurl  TEXT,
    scope       TEXT NOT NULL,           -- the widest scope the user ever granted
    first_seen  BIGINT NOT NULL,         -- unix seconds
    last_login  BIGINT NOT NULL
);

-- Each user's OAuth tokens. Server-side only: never in a cookie, page or log.
CREATE TABLE user_tokens (
    openid              TEXT PRIMARY KEY NOT NULL REFERENCES users(openid) ON DELETE CASCADE,
    access_token        TEXT NOT NULL,
    access_expires_at   BIGINT NOT NULL,
    refresh_token       TEXT NOT NULL,
    refresh_expires_at  BIGINT NOT NULL,
    scope               TEXT NOT NULL,
    updated_at          BIGINT NOT NULL
);

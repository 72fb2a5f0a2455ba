-- People who logged in through 网页授权, keyed by their openid within this account.
CREATE TABLE users (
    openid      TEXT PRIMARY KEY NOT NULL,
    unionid     TEXT,
    nickname    TEXT,
    headimgurl  TEXT,
    scope       TEXT NOT NULL,           -- the widest scope the user ever granted
    first_seen  INTEGER NOT NULL,        -- unix seconds
    last_login  INTEGER NOT NULL
);

-- Each user's OAuth tokens. Server-side only: never in a cookie, page or log.
CREATE TABLE user_tokens (
    openid              TEXT PRIMARY KEY NOT NULL REFERENCES users(openid) ON DELETE CASCADE,
    access_token        TEXT NOT NULL,
    access_expires_at   INTEGER NOT NULL,
    refresh_token       TEXT NOT NULL,
    refresh_expires_at  INTEGER NOT NULL,
    scope               TEXT NOT NULL,
    updated_at          INTEGER NOT NULL
);

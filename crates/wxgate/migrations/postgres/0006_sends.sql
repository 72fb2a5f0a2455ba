-- Template messages, subscription notices and customer-service messages sent to a user, and
-- what WeChat answered (wxgate send log, GET /admin/messages).
-- (The same schema as migrations/sqlite, with PostgreSQL's 64-bit integers.)
CREATE TABLE sends (
    id          BIGSERIAL PRIMARY KEY,
    at          BIGINT NOT NULL,         -- unix seconds
    openid      TEXT NOT NULL,
    kind        TEXT NOT NULL,           -- template | subscribe | custom
    msgtype     TEXT,                    -- custom: text, image, news, msgmenu…
    template_id TEXT,
    outcome     TEXT NOT NULL,           -- sent | refused (WeChat's errcode) | unknown (no answer: may have been delivered)
    errcode     BIGINT,
    detail      TEXT,                    -- why, for refused and unknown
    msgid       TEXT,                    -- WeChat's msgid (may exceed 2^53: text)
    caller      TEXT NOT NULL            -- cli | admin | late_reply
);
CREATE INDEX sends_openid ON sends (openid, id);

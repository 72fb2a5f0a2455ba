-- Template messages, subscription notices and customer-service messages sent to a user, and
-- what WeChat answered (wxgate send log, GET /admin/messages).
CREATE TABLE sends (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    at          INTEGER NOT NULL,        -- unix seconds
    openid      TEXT NOT NULL,
    kind        TEXT NOT NULL,           -- template | subscribe | custom
    msgtype     TEXT,                    -- custom: text, image, news, msgmenu…
    template_id TEXT,
    outcome     TEXT NOT NULL,           -- sent | refused (WeChat's errcode) | unknown (no answer: may have been delivered)
    errcode     INTEGER,
    detail      TEXT,                    -- why, for refused and unknown
    msgid       TEXT,                    -- WeChat's msgid (may exceed 2^53: text)
    caller      TEXT NOT NULL            -- cli | admin | late_reply
);
CREATE INDEX sends_openid ON sends (openid, id);

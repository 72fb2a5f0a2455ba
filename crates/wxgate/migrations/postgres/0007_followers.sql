-- The account's followers (关注者), as `wxgate followers sync` read them from WeChat
-- (user/get, user/info/batchget) and as subscribe/unsubscribe pushes have changed them since.
-- (The same schema as migrations/sqlite, with PostgreSQL's 64-bit integers.)
CREATE TABLE followers (
    openid           TEXT PRIMARY KEY NOT NULL,
    unionid          TEXT,
    subscribed       BIGINT NOT NULL,       -- 1 follows, 0 left
    subscribe_time   BIGINT,                 -- unix seconds of the latest follow
    subscribe_scene  TEXT,                  -- ADD_SCENE_… (from user/info)
    qr_scene         TEXT,                  -- the QR scene of the latest follow, if any
    remark           TEXT NOT NULL DEFAULT '',
    sync_run         BIGINT,                 -- the sync (follower_sync.run) that last saw them
    updated_at       BIGINT NOT NULL
);
CREATE INDEX followers_listed ON followers (subscribed, subscribe_time);

-- Which tags each follower carries: one row per (follower, tag), so that listing a tag's
-- followers is an indexed join on both engines (a list column would need string matching).
CREATE TABLE follower_tags (
    openid  TEXT NOT NULL REFERENCES followers(openid) ON DELETE CASCADE,
    tag_id  BIGINT NOT NULL,
    PRIMARY KEY (openid, tag_id)
);
CREATE INDEX follower_tags_by_tag ON follower_tags (tag_id, openid);

-- The account's tags as tags/get last listed them (WeChat's list is the truth; this copy lets
-- `followers list` show names without a call).
CREATE TABLE tags (
    id          BIGINT PRIMARY KEY NOT NULL,
    name        TEXT NOT NULL,
    count       BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

-- A sync in progress: where the next user/get page starts. Kept until the sync completes, so
-- an interrupted `wxgate followers sync` continues where it stopped.
CREATE TABLE follower_sync (
    id           BIGINT PRIMARY KEY NOT NULL,   -- always 1
    run          BIGINT NOT NULL,               -- this sync's id: its start in milliseconds
    next_openid  TEXT NOT NULL,
    started_at   BIGINT NOT NULL,
    total        BIGINT NOT NULL,
    done         BIGINT NOT NULL
);

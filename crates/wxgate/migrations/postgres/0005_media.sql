-- Media and material uploaded through wxgate, keyed by WeChat's media_id and found again by
-- the file's SHA-256: a rule's file is uploaded once and its media_id reused until the file
-- changes.
CREATE TABLE media (
    media_id     TEXT PRIMARY KEY NOT NULL,
    kind         TEXT NOT NULL,             -- image, voice, video, thumb
    store        TEXT NOT NULL,             -- permanent (material) or temporary (3 days)
    sha256       TEXT NOT NULL,             -- hex digest of the file's bytes
    file_name    TEXT NOT NULL,
    size         BIGINT NOT NULL,           -- bytes
    url          TEXT,                      -- permanent images: WeChat's URL for articles
    uploaded_at  BIGINT NOT NULL,           -- unix seconds
    expires_at   BIGINT                     -- temporary media; NULL for permanent material
);
CREATE INDEX media_by_content ON media (sha256, kind, store);

-- Browser sessions (when WXGATE_SESSION_STORE=database). `data` is the session record as
-- JSON; expired rows are swept in batches on the expires_at index.
CREATE TABLE sessions (
    id          TEXT PRIMARY KEY NOT NULL,
    data        TEXT NOT NULL,
    expires_at  BIGINT NOT NULL              -- unix seconds
);
CREATE INDEX sessions_expires_at ON sessions (expires_at);

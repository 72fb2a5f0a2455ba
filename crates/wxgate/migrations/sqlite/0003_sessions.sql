-- Browser sessions (wxgate's own store; tower-sessions' table is replaced). `data` is the
-- session record as JSON; expired rows are swept in batches on the expires_at index.
DROP TABLE IF EXISTS tower_sessions;
CREATE TABLE sessions (
    id          TEXT PRIMARY KEY NOT NULL,
    data        TEXT NOT NULL,
    expires_at  INTEGER NOT NULL             -- unix seconds
);
CREATE INDEX sessions_expires_at ON sessions (expires_at);

-- grantbox store, version 3: admin-page sessions.

-- One row per logged-in admin-page session. The cookie value is a 256-bit bearer value:
-- only its BLAKE3 hash is stored. A session belongs to the API key it was opened with and
-- ends with it (revoked or deleted), on log-out, or when it expires. `flash` is the one-time
-- message shown on the next page (e.g. "connection disconnected").
CREATE TABLE admin_sessions (
    id_hash     TEXT PRIMARY KEY NOT NULL,     -- hex BLAKE3 of the cookie value
    key_id      TEXT NOT NULL REFERENCES api_keys(id) ON DELETE CASCADE,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    flash       TEXT
) STRICT;

CREATE INDEX admin_sessions_by_expiry ON admin_sessions(expires_at);

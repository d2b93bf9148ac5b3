-- grantbox store, version 1. Secret columns (BLOB) hold values sealed with the master key
-- (see host/src/crypto.rs); times are Unix milliseconds.

CREATE TABLE providers (
    name        TEXT PRIMARY KEY NOT NULL,
    plugin      TEXT NOT NULL,
    grant_type  TEXT,
    scopes      TEXT NOT NULL,              -- JSON array
    settings    TEXT NOT NULL,              -- JSON object, no secrets
    secrets     BLOB,                       -- sealed JSON object of the secret settings
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
) STRICT;

CREATE TABLE connections (
    id                TEXT PRIMARY KEY NOT NULL,
    provider          TEXT NOT NULL REFERENCES providers(name),
    grant_type        TEXT,                 -- override
    scopes            TEXT,                 -- JSON array override
    settings          TEXT NOT NULL,        -- JSON object override, no secrets
    secrets           BLOB,                 -- sealed secret overrides
    api_base_url      TEXT,
    active            INTEGER NOT NULL DEFAULT 1,
    auto_refresh      INTEGER NOT NULL DEFAULT 0,
    state             TEXT NOT NULL DEFAULT 'default'
                      CHECK (state IN ('default', 'connected', 'error')),
    reconnect_needed  INTEGER NOT NULL DEFAULT 0,
    last_message      TEXT,
    last_error_at     INTEGER,
    failures          INTEGER NOT NULL DEFAULT 0,
    access_token      BLOB,                 -- sealed
    token_type        TEXT,
    refresh_token     BLOB,                 -- sealed
    id_token          BLOB,                 -- sealed
    granted_scopes    TEXT,                 -- JSON array
    extra             TEXT,                 -- JSON object
    issued_at         INTEGER,
    expires_at        INTEGER,
    refresh_at        INTEGER,              -- next refresh: expires_at minus the window, or a retry time
    last_refreshed_at INTEGER,
    refresh_count     INTEGER NOT NULL DEFAULT 0,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL
) STRICT;

CREATE INDEX connections_by_provider ON connections(provider);
CREATE INDEX connections_by_expiry ON connections(expires_at);
-- The background refresher's scan: only active auto-refresh connections, by due time.
CREATE INDEX connections_due ON connections(refresh_at)
    WHERE active = 1 AND auto_refresh = 1 AND refresh_at IS NOT NULL;

-- One refresher per connection across processes; a lease expires so a crashed holder does
-- not block the others.
CREATE TABLE refresh_leases (
    connection  TEXT PRIMARY KEY NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
    holder      TEXT NOT NULL,
    expires_at  INTEGER NOT NULL
) STRICT;

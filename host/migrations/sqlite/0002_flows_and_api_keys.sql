-- grantbox store, version 2: pending authorization-code flows and API keys.

-- One row per authorization request in flight (RFC 6749 §4.1 with PKCE). The `state` sent
-- to the provider is a bearer value: only its BLAKE3 hash is stored. A row is deleted when
-- its callback arrives (one-time use) or when it expires.
CREATE TABLE authorizations (
    state_hash    TEXT PRIMARY KEY NOT NULL,   -- hex BLAKE3 of the state value
    connection    TEXT NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
    redirect_uri  TEXT NOT NULL,
    pkce_verifier BLOB NOT NULL,               -- sealed
    return_to     TEXT,                        -- where the admin page goes afterwards
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL
) STRICT;

CREATE INDEX authorizations_by_expiry ON authorizations(expires_at);

-- Admin API keys. The key is 256 random bits shown once at creation; only its BLAKE3 hash
-- is stored (a fast hash suffices for a high-entropy key: nothing to brute-force).
CREATE TABLE api_keys (
    id          TEXT PRIMARY KEY NOT NULL,     -- public id, also the key's prefix
    name        TEXT NOT NULL,
    key_hash    TEXT NOT NULL UNIQUE,          -- hex BLAKE3 of the whole key
    created_at  INTEGER NOT NULL,
    revoked_at  INTEGER
) STRICT;

//! The embedded store: one SQLite file in WAL mode, `synchronous = FULL` (a committed
//! refresh token survives a crash or power loss), migrations applied on open.

use std::borrow::Cow;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use futures::future::BoxFuture;
use serde_json::{Map, Value};
use sqlx::migrate::{Migration, MigrationSource, MigrationType, Migrator};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{Row, SqlitePool};

use super::codec::{
    from_millis, list_from_json, list_to_json, open_secret, open_settings, seal_secret,
    seal_settings, to_millis,
};
use super::{
    AdminSessionRecord, ApiKeyRecord, ConnectionRecord, ConnectionState, Failure, NewConnection,
    Overrides, PendingAuthorization, ProviderRecord, Store, StoredToken, TokenUpdate,
};
use crate::crypto::Keyring;
use crate::error::{Error, Result};
use crate::token::GrantType;

/// The migrations, embedded in the binary.
#[derive(Debug)]
struct Embedded;

impl MigrationSource<'static> for Embedded {
    fn resolve(
        self,
    ) -> BoxFuture<'static, std::result::Result<Vec<Migration>, sqlx::error::BoxDynError>> {
        Box::pin(async {
            Ok(vec![
                Migration::new(
                    1,
                    Cow::Borrowed("init"),
                    MigrationType::Simple,
                    Cow::Borrowed(include_str!("../../migrations/sqlite/0001_init.sql")),
                    false,
                ),
                Migration::new(
                    2,
                    Cow::Borrowed("flows and api keys"),
                    MigrationType::Simple,
                    Cow::Borrowed(include_str!(
                        "../../migrations/sqlite/0002_flows_and_api_keys.sql"
                    )),
                    false,
                ),
                Migration::new(
                    3,
                    Cow::Borrowed("admin sessions"),
                    MigrationType::Simple,
                    Cow::Borrowed(include_str!(
                        "../../migrations/sqlite/0003_admin_sessions.sql"
                    )),
                    false,
                ),
            ])
        })
    }
}

fn db_err(context: &str, e: sqlx::Error) -> Error {
    Error::Store(format!("{context}: {e}"))
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

fn is_fk_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_foreign_key_violation())
}

/// The embedded SQLite store.
#[derive(Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    keyring: Arc<Keyring>,
    path: PathBuf,
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .field("keyring", &self.keyring)
            .finish()
    }
}

const CONNECTION_COLUMNS: &str = "id, provider, grant_type, scopes, settings, secrets, \
    api_base_url, active, auto_refresh, state, reconnect_needed, last_message, last_error_at, \
    failures, access_token, token_type, refresh_token, id_token, granted_scopes, extra, \
    issued_at, expires_at, refresh_at, last_refreshed_at, refresh_count, created_at, updated_at";

impl SqliteStore {
    /// Opens (creating if needed) the database file at `path` and applies migrations. The
    /// file is created with mode 0600.
    pub async fn open(path: impl AsRef<Path>, keyring: Arc<Keyring>) -> Result<Self> {
        let path = path.as_ref().to_owned();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| Error::Io {
                path: dir.to_owned(),
                source,
            })?;
        }
        #[cfg(unix)]
        if !path.exists() {
            use std::os::unix::fs::OpenOptionsExt;
            std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(false)
                .mode(0o600)
                .open(&path)
                .map_err(|source| Error::Io {
                    path: path.clone(),
                    source,
                })?;
        }
        let options = SqliteConnectOptions::from_str("sqlite:")
            .map_err(|e| db_err("options", e))?
            .filename(&path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(30));
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .min_connections(1)
            .connect_with(options)
            .await
            .map_err(|e| Error::Store(format!("{}: cannot open: {e}", path.display())))?;
        let migrator = Migrator::new(Embedded)
            .await
            .map_err(|e| Error::Store(format!("migrations: {e}")))?;
        migrator
            .run(&pool)
            .await
            .map_err(|e| Error::Store(format!("{}: migrating: {e}", path.display())))?;
        Ok(Self {
            pool,
            keyring,
            path,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The keyring values are sealed with.
    pub fn keyring(&self) -> &Arc<Keyring> {
        &self.keyring
    }

    /// The connection pool (for tests and tools that inspect the raw database).
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Closes the pool (waits for connections to finish).
    pub async fn close(&self) {
        self.pool.close().await;
    }

    fn provider_from_row(&self, row: &SqliteRow) -> Result<ProviderRecord> {
        let name: String = get(row, "name")?;
        let aad = format!("providers/{name}/secrets");
        let settings = open_settings(
            &self.keyring,
            &aad,
            &get::<String>(row, "settings")?,
            get::<Option<Vec<u8>>>(row, "secrets")?.as_deref(),
        )?;
        Ok(ProviderRecord {
            plugin: get(row, "plugin")?,
            grant: get::<Option<String>>(row, "grant_type")?
                .as_deref()
                .and_then(GrantType::parse),
            scopes: list_from_json("scopes", &get::<String>(row, "scopes")?)?,
            settings,
            created_at: from_millis(get(row, "created_at")?),
            updated_at: from_millis(get(row, "updated_at")?),
            name,
        })
    }

    fn connection_from_row(&self, row: &SqliteRow) -> Result<ConnectionRecord> {
        let id: String = get(row, "id")?;
        let k = &self.keyring;
        let aad = |col: &str| format!("connections/{id}/{col}");
        let settings = open_settings(
            k,
            &aad("secrets"),
            &get::<String>(row, "settings")?,
            get::<Option<Vec<u8>>>(row, "secrets")?.as_deref(),
        )?;
        let opt_secret = |col: &str| -> Result<_> {
            get::<Option<Vec<u8>>>(row, col)?
                .map(|b| open_secret(k, &aad(col), &b))
                .transpose()
        };
        let time = |col: &str| -> Result<Option<SystemTime>> {
            Ok(get::<Option<i64>>(row, col)?.map(from_millis))
        };
        let token = match opt_secret("access_token")? {
            Some(access_token) => Some(StoredToken {
                access_token,
                token_type: get(row, "token_type")?,
                id_token: opt_secret("id_token")?,
                scopes: get::<Option<String>>(row, "granted_scopes")?
                    .map(|s| list_from_json("granted_scopes", &s))
                    .transpose()?,
                extra: match get::<Option<String>>(row, "extra")? {
                    Some(s) => serde_json::from_str::<Map<String, Value>>(&s)
                        .map_err(|e| Error::Store(format!("{}: extra: {e}", aad("extra"))))?,
                    None => Map::new(),
                },
                issued_at: time("issued_at")?.unwrap_or(SystemTime::UNIX_EPOCH),
                expires_at: time("expires_at")?,
            }),
            None => None,
        };
        let state_text: String = get(row, "state")?;
        Ok(ConnectionRecord {
            provider: get(row, "provider")?,
            overrides: Overrides {
                grant: get::<Option<String>>(row, "grant_type")?
                    .as_deref()
                    .and_then(GrantType::parse),
                scopes: get::<Option<String>>(row, "scopes")?
                    .map(|s| list_from_json("scopes", &s))
                    .transpose()?,
                settings,
            },
            api_base_url: get(row, "api_base_url")?,
            active: get::<i64>(row, "active")? != 0,
            auto_refresh: get::<i64>(row, "auto_refresh")? != 0,
            state: ConnectionState::parse(&state_text)
                .ok_or_else(|| Error::Store(format!("connection `{id}`: unknown state")))?,
            reconnect_needed: get::<i64>(row, "reconnect_needed")? != 0,
            last_message: get(row, "last_message")?,
            last_error_at: time("last_error_at")?,
            failures: u32::try_from(get::<i64>(row, "failures")?).unwrap_or(u32::MAX),
            token,
            refresh_token: opt_secret("refresh_token")?,
            refresh_at: time("refresh_at")?,
            last_refreshed_at: time("last_refreshed_at")?,
            refresh_count: u64::try_from(get::<i64>(row, "refresh_count")?).unwrap_or(0),
            created_at: from_millis(get(row, "created_at")?),
            updated_at: from_millis(get(row, "updated_at")?),
            id,
        })
    }

    async fn reseal_table(
        &self,
        conn: &mut sqlx::SqliteConnection,
        table: &str,
        key: &str,
        columns: &[&str],
    ) -> Result<u64> {
        let active = self.keyring.active_id();
        let mut count = 0;
        let select = format!("SELECT {key}, {} FROM {table}", columns.join(", "));
        let rows = sqlx::query(&select)
            .fetch_all(&mut *conn)
            .await
            .map_err(|e| db_err("re-encrypting", e))?;
        for row in rows {
            let id: String = get(&row, key)?;
            for col in columns {
                let Some(blob) = get::<Option<Vec<u8>>>(&row, col)? else {
                    continue;
                };
                if Keyring::sealed_key_id(&blob) == Some(active) {
                    continue;
                }
                let aad = format!("{table}/{id}/{col}");
                let plain = self.keyring.open(&aad, &blob)?;
                let sealed = self.keyring.seal(&aad, &plain)?;
                let update = format!("UPDATE {table} SET {col} = ?1 WHERE {key} = ?2");
                sqlx::query(&update)
                    .bind(sealed)
                    .bind(&id)
                    .execute(&mut *conn)
                    .await
                    .map_err(|e| db_err("re-encrypting", e))?;
                count += 1;
            }
        }
        Ok(count)
    }
}

fn get<'r, T>(row: &'r SqliteRow, col: &str) -> Result<T>
where
    T: sqlx::Decode<'r, sqlx::Sqlite> + sqlx::Type<sqlx::Sqlite>,
{
    row.try_get(col)
        .map_err(|e| Error::Store(format!("column `{col}`: {e}")))
}

fn api_key_from_row(row: &SqliteRow) -> Result<ApiKeyRecord> {
    Ok(ApiKeyRecord {
        id: get(row, "id")?,
        name: get(row, "name")?,
        key_hash: get(row, "key_hash")?,
        created_at: from_millis(get(row, "created_at")?),
        revoked_at: get::<Option<i64>>(row, "revoked_at")?.map(from_millis),
    })
}

fn opt_millis(t: Option<SystemTime>) -> Option<i64> {
    t.map(to_millis)
}

#[async_trait]
impl Store for SqliteStore {
    async fn create_provider(&self, p: &ProviderRecord) -> Result<()> {
        let (settings, secrets) = seal_settings(
            &self.keyring,
            &format!("providers/{}/secrets", p.name),
            &p.settings,
        )?;
        sqlx::query(
            "INSERT INTO providers (name, plugin, grant_type, scopes, settings, secrets, created_at, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )
        .bind(&p.name)
        .bind(&p.plugin)
        .bind(p.grant.as_ref().map(|g| g.name().to_owned()))
        .bind(list_to_json(&p.scopes))
        .bind(settings)
        .bind(secrets)
        .bind(to_millis(p.created_at))
        .bind(to_millis(p.updated_at))
        .execute(&self.pool)
        .await
        .map_err(|e| {
            if is_unique_violation(&e) {
                Error::AlreadyExists {
                    what: "provider",
                    name: p.name.clone(),
                }
            } else {
                db_err("adding provider", e)
            }
        })?;
        Ok(())
    }

    async fn update_provider(&self, p: &ProviderRecord) -> Result<()> {
        let (settings, secrets) = seal_settings(
            &self.keyring,
            &format!("providers/{}/secrets", p.name),
            &p.settings,
        )?;
        let done = sqlx::query(
            "UPDATE providers SET plugin = ?2, grant_type = ?3, scopes = ?4, settings = ?5, \
             secrets = ?6, updated_at = ?7 WHERE name = ?1",
        )
        .bind(&p.name)
        .bind(&p.plugin)
        .bind(p.grant.as_ref().map(|g| g.name().to_owned()))
        .bind(list_to_json(&p.scopes))
        .bind(settings)
        .bind(secrets)
        .bind(to_millis(p.updated_at))
        .execute(&self.pool)
        .await
        .map_err(|e| db_err("updating provider", e))?;
        if done.rows_affected() == 0 {
            return Err(Error::NotFound {
                what: "provider",
                name: p.name.clone(),
            });
        }
        Ok(())
    }

    async fn provider(&self, name: &str) -> Result<Option<ProviderRecord>> {
        let row = sqlx::query("SELECT * FROM providers WHERE name = ?1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| db_err("reading provider", e))?;
        row.map(|r| self.provider_from_row(&r)).transpose()
    }

    async fn providers(&self) -> Result<Vec<ProviderRecord>> {
        let rows = sqlx::query("SELECT * FROM providers ORDER BY name")
            .fetch_all(&self.pool)
            .await
            .map_err(|e| db_err("listing providers", e))?;
        rows.iter().map(|r| self.provider_from_row(r)).collect()
    }

    async fn delete_provider(&self, name: &str) -> Result<bool> {
        let used: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM connections WHERE provider = ?1")
            .bind(name)
            .fetch_one(&self.pool)
            .await
            .map_err(|e| db_err("removing provider", e))?;
        if used > 0 {
            return Err(Error::Conflict(format!(
                "provider `{name}` is used by {used} connection(s); remove them first"
            )));
        }
        let done = sqlx::query("DELETE FROM providers WHERE name = ?1")
            .bind(name)
            .execute(&self.pool)
            .await
            .map_err(|e| {
                if is_fk_violation(&e) {
                    Error::Conflict(format!("provider `{name}` is used by connections"))
                } else {
                    db_err("removing provider", e)
                }
            })?;
        Ok(done.rows_affected() > 0)
    }

    async fn create_connection(&self, c: &NewConnection) -> Result<()> {
        let (settings, secrets) = seal_settings(
            &self.keyring,
            &format!("connections/{}/secrets", c.id),
            &c.overrides.settings,
        )?;
        let refresh_token = c
            .refresh_token
            .as_ref()
            .map(|rt| {
                seal_secret(
                    &self.keyring,
                    &format!("connections/{}/refresh_token", c.id),
                    rt,
                )
            })
            .transpose()?;
        let now = to_millis(SystemTime::now());
        // An imported refresh token makes the connection due at once.
        let refresh_at = refresh_token.as_ref().map(|_| now);
        sqlx::query(
            "INSERT INTO connections (id, provider, grant_type, scopes, settings, secrets, \
             api_base_url, auto_refresh, refresh_token, refresh_at, created_at, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?11)",
        )
        .bind(&c.id)
        .bind(&c.provider)
        .bind(c.overrides.grant.as_ref().map(|g| g.name().to_owned()))
        .bind(c.overrides.scopes.as_deref().map(list_to_json))
        .bind(settings)
        .bind(secrets)
        .bind(&c.api_base_url)
        .bind(i64::from(c.auto_refresh))
        .bind(refresh_token)
        .bind(refresh_at)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(|e| {
            if is_unique_violation(&e) {
                Error::AlreadyExists {
                    what: "connection",
                    name: c.id.clone(),
                }
            } else if is_fk_violation(&e) {
                Error::NotFound {
                    what: "provider",
                    name: c.provider.clone(),
                }
            } else {
                db_err("adding connection", e)
            }
        })?;
        Ok(())
    }

    async fn connection(&self, id: &str) -> Result<Option<ConnectionRecord>> {
        let sql = format!("SELECT {CONNECTION_COLUMNS} FROM connections WHERE id = ?1");
        let row = sqlx::query(&sql)
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| db_err("reading connection", e))?;
        row.map(|r| self.connection_from_row(&r)).transpose()
    }

    async fn connections(&self, provider: Option<&str>) -> Result<Vec<ConnectionRecord>> {
        let sql = format!(
            "SELECT {CONNECTION_COLUMNS} FROM connections WHERE (?1 IS NULL OR provider = ?1) ORDER BY id"
        );
        let rows = sqlx::query(&sql)
            .bind(provider)
            .fetch_all(&self.pool)
            .await
            .map_err(|e| db_err("listing connections", e))?;
        rows.iter().map(|r| self.connection_from_row(r)).collect()
    }

    async fn delete_connection(&self, id: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM connections WHERE id = ?1")
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(|e| db_err("removing connection", e))?;
        Ok(done.rows_affected() > 0)
    }

    async fn set_active(&self, id: &str, active: bool) -> Result<bool> {
        let done = sqlx::query("UPDATE connections SET active = ?2, updated_at = ?3 WHERE id = ?1")
            .bind(id)
            .bind(i64::from(active))
            .bind(to_millis(SystemTime::now()))
            .execute(&self.pool)
            .await
            .map_err(|e| db_err("updating connection", e))?;
        Ok(done.rows_affected() > 0)
    }

    async fn save_tokens(&self, id: &str, u: &TokenUpdate<'_>) -> Result<()> {
        let k = &self.keyring;
        let aad = |col: &str| format!("connections/{id}/{col}");
        let access = seal_secret(k, &aad("access_token"), u.access_token)?;
        let refresh = u
            .refresh_token
            .map(|t| seal_secret(k, &aad("refresh_token"), t))
            .transpose()?;
        let id_token = u
            .id_token
            .map(|t| seal_secret(k, &aad("id_token"), t))
            .transpose()?;
        let extra = Value::Object(u.extra.clone()).to_string();
        let now = to_millis(SystemTime::now());
        // One statement, one transaction: the new refresh token is durable (WAL,
        // synchronous = FULL) before the new access token is handed to anyone.
        let done = sqlx::query(
            "UPDATE connections SET access_token = ?2, token_type = ?3, \
             refresh_token = COALESCE(?4, refresh_token), id_token = COALESCE(?5, id_token), \
             granted_scopes = COALESCE(?6, granted_scopes), extra = ?7, issued_at = ?8, \
             expires_at = ?9, refresh_at = ?10, last_refreshed_at = ?11, state = 'connected', \
             reconnect_needed = 0, last_message = NULL, failures = 0, \
             refresh_count = refresh_count + 1 WHERE id = ?1",
        )
        .bind(id)
        .bind(access)
        .bind(u.token_type)
        .bind(refresh)
        .bind(id_token)
        .bind(u.scopes.map(list_to_json))
        .bind(extra)
        .bind(to_millis(u.issued_at))
        .bind(opt_millis(u.expires_at))
        .bind(opt_millis(u.refresh_at))
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(|e| db_err("saving tokens", e))?;
        if done.rows_affected() == 0 {
            return Err(Error::NotFound {
                what: "connection",
                name: id.to_owned(),
            });
        }
        Ok(())
    }

    async fn clear_tokens(&self, id: &str) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE connections SET access_token = NULL, token_type = NULL, \
             refresh_token = NULL, id_token = NULL, granted_scopes = NULL, extra = NULL, \
             issued_at = NULL, expires_at = NULL, refresh_at = NULL, state = 'default', \
             reconnect_needed = 0, last_message = 'disconnected', last_error_at = NULL, \
             failures = 0 WHERE id = ?1",
        )
        .bind(id)
        .execute(&self.pool)
        .await
        .map_err(|e| db_err("clearing tokens", e))?;
        Ok(done.rows_affected() > 0)
    }

    async fn record_failure(&self, id: &str, f: &Failure) -> Result<()> {
        sqlx::query(
            "UPDATE connections SET state = ?2, reconnect_needed = ?3, last_message = ?4, \
             last_error_at = ?5, failures = failures + 1, refresh_at = ?6 WHERE id = ?1",
        )
        .bind(id)
        .bind(f.state.as_str())
        .bind(i64::from(f.reconnect_needed))
        .bind(&f.message)
        .bind(to_millis(SystemTime::now()))
        .bind(opt_millis(f.retry_at))
        .execute(&self.pool)
        .await
        .map_err(|e| db_err("recording failure", e))?;
        Ok(())
    }

    async fn try_lease(&self, id: &str, holder: &str, ttl: Duration) -> Result<bool> {
        let now = SystemTime::now();
        let done = sqlx::query(
            "INSERT INTO refresh_leases (connection, holder, expires_at) VALUES (?1, ?2, ?3) \
             ON CONFLICT (connection) DO UPDATE SET holder = excluded.holder, \
             expires_at = excluded.expires_at \
             WHERE refresh_leases.expires_at <= ?4 OR refresh_leases.holder = excluded.holder",
        )
        .bind(id)
        .bind(holder)
        .bind(to_millis(now + ttl))
        .bind(to_millis(now))
        .execute(&self.pool)
        .await
        .map_err(|e| {
            if is_fk_violation(&e) {
                Error::NotFound {
                    what: "connection",
                    name: id.to_owned(),
                }
            } else {
                db_err("taking the refresh lease", e)
            }
        })?;
        Ok(done.rows_affected() == 1)
    }

    async fn release_lease(&self, id: &str, holder: &str) -> Result<()> {
        sqlx::query("DELETE FROM refresh_leases WHERE connection = ?1 AND holder = ?2")
            .bind(id)
            .bind(holder)
            .execute(&self.pool)
            .await
            .map_err(|e| db_err("releasing the refresh lease", e))?;
        Ok(())
    }

    async fn due_connections(&self, now: SystemTime, limit: u32) -> Result<Vec<String>> {
        sqlx::query_scalar(
            "SELECT id FROM connections INDEXED BY connections_due \
             WHERE active = 1 AND auto_refresh = 1 AND refresh_at IS NOT NULL \
             AND refresh_at <= ?1 ORDER BY refresh_at LIMIT ?2",
        )
        .bind(to_millis(now))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| db_err("scanning due connections", e))
    }

    async fn create_authorization(&self, p: &PendingAuthorization) -> Result<()> {
        let aad = format!("authorizations/{}/pkce_verifier", p.state_hash);
        let verifier = seal_secret(&self.keyring, &aad, &p.pkce_verifier)?;
        sqlx::query(
            "INSERT INTO authorizations (state_hash, connection, redirect_uri, pkce_verifier, \
             return_to, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )
        .bind(&p.state_hash)
        .bind(&p.connection)
        .bind(&p.redirect_uri)
        .bind(verifier)
        .bind(&p.return_to)
        .bind(to_millis(p.created_at))
        .bind(to_millis(p.expires_at))
        .execute(&self.pool)
        .await
        .map_err(|e| {
            if is_fk_violation(&e) {
                Error::NotFound {
                    what: "connection",
                    name: p.connection.clone(),
                }
            } else {
                db_err("recording the authorization request", e)
            }
        })?;
        Ok(())
    }

    async fn take_authorization(
        &self,
        state_hash: &str,
        now: SystemTime,
    ) -> Result<Option<PendingAuthorization>> {
        let row = sqlx::query(
            "DELETE FROM authorizations WHERE state_hash = ?1 RETURNING state_hash, \
             connection, redirect_uri, pkce_verifier, return_to, created_at, expires_at",
        )
        .bind(state_hash)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| db_err("taking the authorization request", e))?;
        sqlx::query("DELETE FROM authorizations WHERE expires_at < ?1")
            .bind(to_millis(now))
            .execute(&self.pool)
            .await
            .map_err(|e| db_err("deleting expired authorization requests", e))?;
        let Some(row) = row else { return Ok(None) };
        let hash: String = get(&row, "state_hash")?;
        let sealed: Vec<u8> = get(&row, "pkce_verifier")?;
        let aad = format!("authorizations/{hash}/pkce_verifier");
        Ok(Some(PendingAuthorization {
            pkce_verifier: open_secret(&self.keyring, &aad, &sealed)?,
            state_hash: hash,
            connection: get(&row, "connection")?,
            redirect_uri: get(&row, "redirect_uri")?,
            return_to: get(&row, "return_to")?,
            created_at: from_millis(get(&row, "created_at")?),
            expires_at: from_millis(get(&row, "expires_at")?),
        }))
    }

    async fn create_api_key(&self, key: &ApiKeyRecord) -> Result<()> {
        sqlx::query(
            "INSERT INTO api_keys (id, name, key_hash, created_at, revoked_at) \
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )
        .bind(&key.id)
        .bind(&key.name)
        .bind(&key.key_hash)
        .bind(to_millis(key.created_at))
        .bind(opt_millis(key.revoked_at))
        .execute(&self.pool)
        .await
        .map_err(|e| {
            if is_unique_violation(&e) {
                Error::AlreadyExists {
                    what: "API key",
                    name: key.id.clone(),
                }
            } else {
                db_err("creating the API key", e)
            }
        })?;
        Ok(())
    }

    async fn api_key_by_hash(&self, key_hash: &str) -> Result<Option<ApiKeyRecord>> {
        let row = sqlx::query(
            "SELECT id, name, key_hash, created_at, revoked_at FROM api_keys WHERE key_hash = ?1",
        )
        .bind(key_hash)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| db_err("reading API keys", e))?;
        row.map(|r| api_key_from_row(&r)).transpose()
    }

    async fn api_keys(&self) -> Result<Vec<ApiKeyRecord>> {
        let rows = sqlx::query(
            "SELECT id, name, key_hash, created_at, revoked_at FROM api_keys \
             ORDER BY created_at, id",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(|e| db_err("reading API keys", e))?;
        rows.iter().map(api_key_from_row).collect()
    }

    async fn revoke_api_key(&self, id: &str) -> Result<bool> {
        let done =
            sqlx::query("UPDATE api_keys SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL")
                .bind(id)
                .bind(to_millis(SystemTime::now()))
                .execute(&self.pool)
                .await
                .map_err(|e| db_err("revoking the API key", e))?;
        // Its admin-page sessions end with it (they are refused already: see
        // `admin_session`); this only tidies up.
        sqlx::query("DELETE FROM admin_sessions WHERE key_id = ?1")
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(|e| db_err("ending the key's admin sessions", e))?;
        Ok(done.rows_affected() > 0)
    }

    async fn create_admin_session(&self, session: &AdminSessionRecord) -> Result<()> {
        sqlx::query("DELETE FROM admin_sessions WHERE expires_at < ?1")
            .bind(to_millis(session.created_at))
            .execute(&self.pool)
            .await
            .map_err(|e| db_err("deleting expired admin sessions", e))?;
        sqlx::query(
            "INSERT INTO admin_sessions (id_hash, key_id, created_at, expires_at) \
             VALUES (?1, ?2, ?3, ?4)",
        )
        .bind(&session.id_hash)
        .bind(&session.key_id)
        .bind(to_millis(session.created_at))
        .bind(to_millis(session.expires_at))
        .execute(&self.pool)
        .await
        .map_err(|e| {
            if is_fk_violation(&e) {
                Error::NotFound {
                    what: "API key",
                    name: session.key_id.clone(),
                }
            } else {
                db_err("opening the admin session", e)
            }
        })?;
        Ok(())
    }

    async fn admin_session(
        &self,
        id_hash: &str,
        now: SystemTime,
    ) -> Result<Option<AdminSessionRecord>> {
        let row = sqlx::query(
            "SELECT s.id_hash, s.key_id, s.created_at, s.expires_at FROM admin_sessions s \
             JOIN api_keys k ON k.id = s.key_id \
             WHERE s.id_hash = ?1 AND s.expires_at > ?2 AND k.revoked_at IS NULL",
        )
        .bind(id_hash)
        .bind(to_millis(now))
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| db_err("reading the admin session", e))?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(AdminSessionRecord {
            id_hash: get(&row, "id_hash")?,
            key_id: get(&row, "key_id")?,
            created_at: from_millis(get(&row, "created_at")?),
            expires_at: from_millis(get(&row, "expires_at")?),
        }))
    }

    async fn delete_admin_session(&self, id_hash: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM admin_sessions WHERE id_hash = ?1")
            .bind(id_hash)
            .execute(&self.pool)
            .await
            .map_err(|e| db_err("ending the admin session", e))?;
        Ok(done.rows_affected() > 0)
    }

    async fn set_admin_flash(&self, id_hash: &str, message: &str) -> Result<()> {
        sqlx::query("UPDATE admin_sessions SET flash = ?2 WHERE id_hash = ?1")
            .bind(id_hash)
            .bind(message)
            .execute(&self.pool)
            .await
            .map_err(|e| db_err("setting the admin page's message", e))?;
        Ok(())
    }

    async fn take_admin_flash(&self, id_hash: &str) -> Result<Option<String>> {
        let flash: Option<Option<String>> =
            sqlx::query_scalar("SELECT flash FROM admin_sessions WHERE id_hash = ?1")
                .bind(id_hash)
                .fetch_optional(&self.pool)
                .await
                .map_err(|e| db_err("reading the admin page's message", e))?;
        let Some(message) = flash.flatten() else {
            return Ok(None);
        };
        sqlx::query("UPDATE admin_sessions SET flash = NULL WHERE id_hash = ?1")
            .bind(id_hash)
            .execute(&self.pool)
            .await
            .map_err(|e| db_err("clearing the admin page's message", e))?;
        Ok(Some(message))
    }

    async fn reencrypt(&self) -> Result<u64> {
        let mut conn = self
            .pool
            .acquire()
            .await
            .map_err(|e| db_err("re-encrypting", e))?;
        sqlx::query("BEGIN IMMEDIATE")
            .execute(&mut *conn)
            .await
            .map_err(|e| db_err("re-encrypting", e))?;
        let result = async {
            let a = self
                .reseal_table(&mut conn, "providers", "name", &["secrets"])
                .await?;
            let b = self
                .reseal_table(
                    &mut conn,
                    "connections",
                    "id",
                    &["secrets", "access_token", "refresh_token", "id_token"],
                )
                .await?;
            let c = self
                .reseal_table(
                    &mut conn,
                    "authorizations",
                    "state_hash",
                    &["pkce_verifier"],
                )
                .await?;
            Ok::<_, Error>(a + b + c)
        }
        .await;
        let end = if result.is_ok() { "COMMIT" } else { "ROLLBACK" };
        sqlx::query(end)
            .execute(&mut *conn)
            .await
            .map_err(|e| db_err("re-encrypting", e))?;
        result
    }
}

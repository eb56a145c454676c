//! Staff tokens: the credentials of admins, organizers and volunteers.
//!
//! A token is `tsr_` followed by 43 URL-safe characters (32 random bytes).
//! Only its SHA-256 is stored: the secret has 256 bits of entropy, so a fast
//! hash is as safe as a password hash here and lets each request find its
//! token with one indexed lookup.

pub use entity::state::Role;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Duration, Utc};
use entity::{app_meta, event, staff_token, staff_token_event};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect, Set, TransactionTrait, prelude::Expr, sea_query::Query,
};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::{
    DomainError, is_unique_violation, now,
    page::{self, Page, TimeCursor},
    validation::FieldErrors,
};

pub const TOKEN_PREFIX: &str = "tsr_";
const SECRET_BYTES: usize = 32;
const HINT_CHARS: usize = 8;

/// Which events a token may act on.
///
/// "Every event" is a property the token was given explicitly; a scoped
/// token whose events have all been deleted is `Events(vec![])` and reaches
/// nothing. Deleting an event can only ever narrow a scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    AllEvents,
    Events(Vec<Uuid>),
}

/// The scope asked for when creating a token, by event slug.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScopeRequest {
    /// Every event, present and future (implied for admins).
    AllEvents,
    /// Exactly these events.
    Events(Vec<String>),
}

impl ScopeRequest {
    /// The request as given on the wire or the command line: a list of slugs
    /// and an `all_events` flag, exactly one of which must say something
    /// (admins may give neither). Faults go to `errors`.
    pub fn parse(
        role: Role,
        events: Vec<String>,
        all_events: bool,
        errors: &mut FieldErrors,
    ) -> Self {
        match (role, events.is_empty(), all_events) {
            (Role::Admin, true, _) => ScopeRequest::AllEvents,
            (Role::Admin, false, _) => {
                errors.add(
                    "events",
                    "admin_not_scoped",
                    "admin tokens cover every event; leave events empty",
                );
                ScopeRequest::AllEvents
            }
            (_, true, true) => ScopeRequest::AllEvents,
            (_, false, false) => ScopeRequest::Events(events),
            (_, true, false) => {
                errors.add(
                    "events",
                    "scope_required",
                    "name the events this token may act on, or set all_events",
                );
                ScopeRequest::Events(events)
            }
            (_, false, true) => {
                errors.add(
                    "all_events",
                    "scope_conflict",
                    "a token covers either the events listed or all events, not both",
                );
                ScopeRequest::Events(events)
            }
        }
    }
}

/// An authenticated member of staff.
#[derive(Debug, Clone)]
pub struct Staff {
    pub id: Uuid,
    pub name: String,
    pub role: Role,
    pub scope: Scope,
}

impl Staff {
    /// The service acting on its own behalf (command line, demo data).
    pub fn system() -> Self {
        Self {
            id: Uuid::nil(),
            name: "tessera".to_owned(),
            role: Role::Admin,
            scope: Scope::AllEvents,
        }
    }

    pub fn require_admin(&self) -> Result<(), DomainError> {
        match self.role {
            Role::Admin => Ok(()),
            _ => Err(DomainError::forbidden("this needs an admin token")),
        }
    }

    /// Whether this token may see the event at all.
    pub fn covers_event(&self, event_id: Uuid) -> bool {
        match &self.scope {
            Scope::AllEvents => true,
            Scope::Events(ids) => ids.contains(&event_id),
        }
    }

    /// Organizer rights on one event: admins, and organizers whose scope
    /// includes it.
    pub fn require_organizer_of(&self, event_id: Uuid) -> Result<(), DomainError> {
        match self.role {
            Role::Admin => Ok(()),
            Role::Organizer if self.covers_event(event_id) => Ok(()),
            Role::Organizer => Err(DomainError::forbidden(
                "this token is not scoped to this event",
            )),
            Role::Volunteer => Err(DomainError::forbidden(
                "volunteer tokens can only check in attendees",
            )),
        }
    }

    /// Creating events is for admins and for organizers not limited to
    /// particular events.
    pub fn require_event_creator(&self) -> Result<(), DomainError> {
        match (self.role, &self.scope) {
            (Role::Admin, _) | (Role::Organizer, Scope::AllEvents) => Ok(()),
            (Role::Organizer, Scope::Events(_)) => Err(DomainError::forbidden(
                "organizer tokens scoped to events cannot create new events",
            )),
            (Role::Volunteer, _) => Err(DomainError::forbidden(
                "volunteer tokens can only check in attendees",
            )),
        }
    }

    /// Whether this member of staff may create, see and revoke a token of
    /// this role and scope. Admins manage every token; an organizer manages
    /// volunteer tokens that reach no further than itself (every event only
    /// if it covers every event; otherwise one or more of its own events);
    /// volunteers manage none. One rule for creating, listing and revoking,
    /// so an organizer never sees a token it could not have made.
    pub fn manages(&self, role: Role, scope: &Scope) -> Result<(), DomainError> {
        match (self.role, role, scope) {
            (Role::Admin, _, _) => Ok(()),
            (Role::Volunteer, _, _) => Err(DomainError::forbidden(
                "volunteer tokens can only check in attendees",
            )),
            (Role::Organizer, Role::Admin | Role::Organizer, _) => Err(DomainError::forbidden(
                "organizers can create and manage volunteer tokens only",
            )),
            (Role::Organizer, Role::Volunteer, Scope::AllEvents) => match self.scope {
                Scope::AllEvents => Ok(()),
                Scope::Events(_) => Err(DomainError::forbidden(
                    "a token for every event needs an organizer token for every event",
                )),
            },
            (Role::Organizer, Role::Volunteer, scope @ Scope::Events(_)) => {
                if self.spans(scope) {
                    Ok(())
                } else {
                    Err(DomainError::forbidden(
                        "this token reaches events outside your own",
                    ))
                }
            }
        }
    }

    /// Whether `scope` reaches no further than this member of staff: every
    /// scope for admins and for tokens of every event, otherwise one or more
    /// of its own events.
    pub fn spans(&self, scope: &Scope) -> bool {
        match (self.role, &self.scope, scope) {
            (Role::Admin, _, _) | (_, Scope::AllEvents, _) => true,
            (_, Scope::Events(_), Scope::AllEvents) => false,
            (_, Scope::Events(_), Scope::Events(ids)) => {
                !ids.is_empty() && ids.iter().all(|id| self.covers_event(*id))
            }
        }
    }

    /// Listing events is for admins and organizers (each sees its scope).
    pub fn require_organizer(&self) -> Result<(), DomainError> {
        match self.role {
            Role::Admin | Role::Organizer => Ok(()),
            Role::Volunteer => Err(DomainError::forbidden(
                "volunteer tokens can only check in attendees",
            )),
        }
    }
}

/// What a new token should be.
#[derive(Debug, Clone)]
pub struct NewTokenInput {
    pub name: String,
    pub role: Role,
    /// Event slugs the token is limited to (none for admins).
    pub events: Vec<String>,
    /// Whether the token covers every event (implied for admins).
    pub all_events: bool,
}

/// A token as listed: never its secret.
#[derive(Debug, Clone)]
pub struct TokenInfo {
    pub id: Uuid,
    pub name: String,
    pub role: Role,
    /// The first characters of the secret, e.g. `tsr_Ab3d`.
    pub hint: String,
    /// Whether the token covers every event, present and future.
    pub all_events: bool,
    /// Slugs of the events in scope when not `all_events`; empty means the
    /// token reaches no event (its events were deleted).
    pub events: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A token just created, with the secret that is shown this once.
#[derive(Debug, Clone)]
pub struct NewToken {
    pub secret: String,
    pub info: TokenInfo,
}

/// SHA-256 of a secret, hex encoded.
pub fn hash_secret(secret: &str) -> String {
    let digest = Sha256::digest(secret.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

fn generate_secret() -> Result<String, DomainError> {
    let mut bytes = [0u8; SECRET_BYTES];
    getrandom::fill(&mut bytes).map_err(|err| {
        DomainError::Corrupt(format!("the operating system gave no randomness: {err}"))
    })?;
    Ok(format!("{TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes)))
}

/// Whether a string has the shape of a staff token (checked before any
/// database lookup, so junk costs nothing).
pub fn looks_like_token(secret: &str) -> bool {
    secret.len() == TOKEN_PREFIX.len() + 43
        && secret.starts_with(TOKEN_PREFIX)
        && secret[TOKEN_PREFIX.len()..]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Finds the live token with this secret. Unknown, malformed and revoked
/// secrets all answer `None`.
pub async fn authenticate(
    db: &DatabaseConnection,
    secret: &str,
) -> Result<Option<Staff>, DomainError> {
    if !looks_like_token(secret) {
        return Ok(None);
    }
    let Some(token) = staff_token::Entity::find()
        .filter(staff_token::Column::TokenHash.eq(hash_secret(secret)))
        .filter(staff_token::Column::RevokedAt.is_null())
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    let role: Role = token.role;
    let scope = scope_of(db, &token).await?;
    touch(db, &token).await?;
    Ok(Some(Staff {
        id: token.id,
        name: token.name,
        role,
        scope,
    }))
}

/// Each instance remembers the staff tokens it authenticated for a few
/// seconds, so a busy scanner does not cost two queries per scan.
///
/// Entries are keyed by the token's hash *and* the cache's generation: any
/// change to who may do what (a token revoked, an event deleted) bumps the
/// generation through [`StaffCache::invalidate`], so this instance sees it
/// at once; other instances see it within `STAFF_CACHE_TTL`. A stale entry
/// can only be narrower than the truth, never wider: scopes only shrink by
/// themselves, and "every event" is a stored property of a token.
#[derive(Clone, Default)]
pub struct StaffCache {
    inner: std::sync::Arc<CacheInner>,
}

#[derive(Default)]
struct CacheInner {
    generation: std::sync::atomic::AtomicU64,
    entries:
        std::sync::RwLock<std::collections::HashMap<(String, u64), (std::time::Instant, Staff)>>,
}

pub const STAFF_CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(5);
const STAFF_CACHE_MAX: usize = 10_000;

impl StaffCache {
    /// Forgets every cached token: the next request of each reads the
    /// database again.
    pub fn invalidate(&self) {
        use std::sync::atomic::Ordering;
        self.inner.generation.fetch_add(1, Ordering::AcqRel);
        if let Ok(mut entries) = self.inner.entries.write() {
            entries.clear();
        }
    }

    /// Like [`authenticate`], answering from the cache while it is fresh.
    pub async fn authenticate(
        &self,
        db: &DatabaseConnection,
        secret: &str,
    ) -> Result<Option<Staff>, DomainError> {
        use std::sync::atomic::Ordering;
        if !looks_like_token(secret) {
            return Ok(None);
        }
        // The generation is read before the database: an invalidation that
        // happens while we read makes this entry unreachable.
        let key = (
            hash_secret(secret),
            self.inner.generation.load(Ordering::Acquire),
        );
        if let Ok(entries) = self.inner.entries.read()
            && let Some((at, staff)) = entries.get(&key)
            && at.elapsed() < STAFF_CACHE_TTL
        {
            return Ok(Some(staff.clone()));
        }
        let staff = authenticate(db, secret).await?;
        if let Some(staff) = &staff
            && let Ok(mut entries) = self.inner.entries.write()
        {
            let current = self.inner.generation.load(Ordering::Acquire);
            if entries.len() >= STAFF_CACHE_MAX {
                entries.retain(|(_, generation), (at, _)| {
                    *generation == current && at.elapsed() < STAFF_CACHE_TTL
                });
            }
            if key.1 == current && entries.len() < STAFF_CACHE_MAX {
                entries.insert(key, (std::time::Instant::now(), staff.clone()));
            }
        }
        Ok(staff)
    }
}

/// Records when a token was last used, at most once a minute per token so a
/// busy scanner does not turn every request into a write.
async fn touch(db: &DatabaseConnection, token: &staff_token::Model) -> Result<(), DomainError> {
    let now = now();
    let stale = token
        .last_used_at
        .is_none_or(|at| now - at > Duration::minutes(1));
    if stale {
        staff_token::Entity::update_many()
            .col_expr(staff_token::Column::LastUsedAt, Expr::value(now))
            .filter(staff_token::Column::Id.eq(token.id))
            .exec(db)
            .await?;
    }
    Ok(())
}

/// What a stored token reaches.
async fn scope_of(
    db: &impl ConnectionTrait,
    token: &staff_token::Model,
) -> Result<Scope, DomainError> {
    if token.role == Role::Admin || token.all_events {
        return Ok(Scope::AllEvents);
    }
    Ok(Scope::Events(
        staff_token_event::Entity::find()
            .select_only()
            .column(staff_token_event::Column::EventId)
            .filter(staff_token_event::Column::TokenId.eq(token.id))
            .into_tuple()
            .all(db)
            .await?,
    ))
}

// A little long: the scope rules of a new token, checked in one place.
/// Creates a token on behalf of `by` ([`Staff::system`] from the command
/// line), within what `by` [manages](Staff::manages).
pub async fn create(
    db: &DatabaseConnection,
    input: NewTokenInput,
    by: &Staff,
) -> Result<NewToken, DomainError> {
    let mut errors = FieldErrors::new();
    let name = errors.text("name", &input.name, 1, 100, false);
    let requested = ScopeRequest::parse(input.role, input.events, input.all_events, &mut errors);
    let slugs = match &requested {
        ScopeRequest::AllEvents => Vec::new(),
        ScopeRequest::Events(slugs) => slugs.clone(),
    };
    if slugs.len() > 100 {
        errors.add("events", "too_many", "at most 100 events per token");
    }
    let event_ids = super::events::ids_of_slugs(db, "events", &slugs, &mut errors).await?;
    errors.finish(())?;
    let all_events = requested == ScopeRequest::AllEvents;
    let scope = if all_events {
        Scope::AllEvents
    } else {
        Scope::Events(event_ids.clone())
    };
    by.manages(input.role, &scope)?;
    let created_by = (!by.id.is_nil()).then_some(by.id);

    let secret = generate_secret()?;
    let id = Uuid::now_v7();
    let created_at = now();
    let hint: String = secret.chars().take(HINT_CHARS).collect();
    let txn = db.begin().await?;
    staff_token::ActiveModel {
        id: Set(id),
        name: Set(name.clone()),
        role: Set(input.role),
        token_hash: Set(hash_secret(&secret)),
        hint: Set(hint.clone()),
        all_events: Set(all_events),
        created_by: Set(created_by),
        created_at: Set(created_at),
        last_used_at: Set(None),
        revoked_at: Set(None),
    }
    .insert(&txn)
    .await?;
    for event_id in &event_ids {
        staff_token_event::ActiveModel {
            token_id: Set(id),
            event_id: Set(*event_id),
        }
        .insert(&txn)
        .await?;
    }
    txn.commit().await?;

    let mut events = slugs;
    events.sort();
    events.dedup();
    Ok(NewToken {
        secret,
        info: TokenInfo {
            id,
            name,
            role: input.role,
            hint,
            all_events,
            events,
            created_at,
            last_used_at: None,
            revoked_at: None,
        },
    })
}

/// Lists the tokens `by` [manages](Staff::manages), oldest first, revoked
/// ones included (marked as such).
pub async fn list(
    db: &DatabaseConnection,
    by: &Staff,
    cursor: Option<&str>,
    limit: Option<u64>,
) -> Result<Page<TokenInfo>, DomainError> {
    let limit = page::limit(limit)?;
    let mut query = staff_token::Entity::find()
        .filter(managed_by(by)?)
        .order_by_asc(staff_token::Column::Id)
        .limit(limit + 1);
    if let Some(cursor) = cursor {
        let cursor = TimeCursor::decode(cursor)?;
        query = query.filter(staff_token::Column::Id.gt(cursor.id));
    }
    let rows = query.all(db).await?;
    let infos = infos_of(db, rows).await?;
    Ok(page::paginate(infos, limit, |info| TimeCursor {
        at: info.created_at,
        id: info.id,
    }))
}

/// [`Staff::manages`] as a condition on `staff_token` rows.
fn managed_by(by: &Staff) -> Result<Condition, DomainError> {
    let volunteers = staff_token::Column::Role.eq(Role::Volunteer);
    let scoped_to = |events: Option<&[Uuid]>| {
        let mut rows = Query::select();
        rows.column(staff_token_event::Column::TokenId)
            .from(staff_token_event::Entity);
        if let Some(events) = events {
            rows.and_where(staff_token_event::Column::EventId.is_not_in(events.to_vec()));
        }
        rows.to_owned()
    };
    match (by.role, &by.scope) {
        (Role::Admin, _) => Ok(Condition::all()),
        (Role::Volunteer, _) => Err(DomainError::forbidden(
            "volunteer tokens can only check in attendees",
        )),
        (Role::Organizer, Scope::AllEvents) => Ok(Condition::all().add(volunteers).add(
            Condition::any()
                .add(staff_token::Column::AllEvents.eq(true))
                .add(staff_token::Column::Id.in_subquery(scoped_to(None))),
        )),
        (Role::Organizer, Scope::Events(events)) => Ok(Condition::all()
            .add(volunteers)
            .add(staff_token::Column::AllEvents.eq(false))
            .add(staff_token::Column::Id.in_subquery(scoped_to(None)))
            .add(staff_token::Column::Id.not_in_subquery(scoped_to(Some(events))))),
    }
}

/// Tokens with the slugs of their events, in one query for all of them.
async fn infos_of(
    db: &impl ConnectionTrait,
    rows: Vec<staff_token::Model>,
) -> Result<Vec<TokenInfo>, DomainError> {
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let scopes: Vec<(Uuid, String)> = staff_token_event::Entity::find()
        .inner_join(event::Entity)
        .select_only()
        .column(staff_token_event::Column::TokenId)
        .column(event::Column::Slug)
        .filter(staff_token_event::Column::TokenId.is_in(ids))
        .order_by_asc(event::Column::Slug)
        .into_tuple()
        .all(db)
        .await?;
    rows.into_iter()
        .map(|row| {
            Ok(TokenInfo {
                events: scopes
                    .iter()
                    .filter(|(token, _)| *token == row.id)
                    .map(|(_, slug)| slug.clone())
                    .collect(),
                role: row.role,
                id: row.id,
                name: row.name,
                hint: row.hint,
                all_events: row.all_events,
                created_at: row.created_at,
                last_used_at: row.last_used_at,
                revoked_at: row.revoked_at,
            })
        })
        .collect()
}

/// Revokes a token `by` [manages](Staff::manages); it stops working at
/// once. Revoking twice is harmless.
pub async fn revoke(
    db: &DatabaseConnection,
    by: &Staff,
    id: Uuid,
) -> Result<TokenInfo, DomainError> {
    let Some(row) = staff_token::Entity::find_by_id(id).one(db).await? else {
        return Err(DomainError::NotFound("staff token"));
    };
    by.manages(row.role, &scope_of(db, &row).await?)?;
    let row = if row.revoked_at.is_none() {
        let mut active: staff_token::ActiveModel = row.into();
        active.revoked_at = Set(Some(now()));
        active.update(db).await?
    } else {
        row
    };
    infos_of(db, vec![row])
        .await?
        .pop()
        .ok_or(DomainError::NotFound("staff token"))
}

const BOOTSTRAP_KEY: &str = "bootstrap_admin_token";

/// On a database with no staff token at all, mints the first admin token and
/// returns its secret, exactly once per database: a marker row under a unique
/// key makes sure that two instances starting together mint only one.
pub async fn bootstrap_admin(db: &DatabaseConnection) -> Result<Option<String>, DomainError> {
    let existing = staff_token::Entity::find().limit(1).all(db).await?;
    if !existing.is_empty() {
        return Ok(None);
    }
    let txn = db.begin().await?;
    let marker = app_meta::ActiveModel {
        key: Set(BOOTSTRAP_KEY.to_owned()),
        value: Set("minted".to_owned()),
        created_at: Set(now()),
    };
    match marker.insert(&txn).await {
        Ok(_) => {}
        Err(err) if is_unique_violation(&err) => return Ok(None),
        Err(err) => return Err(err.into()),
    }
    let secret = generate_secret()?;
    staff_token::ActiveModel {
        id: Set(Uuid::now_v7()),
        name: Set("First admin (created on first start)".to_owned()),
        role: Set(Role::Admin),
        token_hash: Set(hash_secret(&secret)),
        hint: Set(secret.chars().take(HINT_CHARS).collect()),
        all_events: Set(true),
        created_by: Set(None),
        created_at: Set(now()),
        last_used_at: Set(None),
        revoked_at: Set(None),
    }
    .insert(&txn)
    .await?;
    txn.commit().await?;
    Ok(Some(secret))
}

#[cfg(test)]
mod tests;

//! Ed25519 signing keys for check-in tokens.
//!
//! Keys live in the database so every instance signs and verifies alike. The
//! newest key that is not retired signs; every key that is not retired
//! verifies, and is published in the JWKS, so tokens signed before a rotation
//! keep working until their key is explicitly retired.

use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
    time::{Duration, Instant},
};

use base64::{
    Engine,
    engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD},
};
use chrono::{DateTime, Utc};
use ed25519_dalek::{
    SigningKey, VerifyingKey,
    pkcs8::{DecodePrivateKey, EncodePrivateKey},
};
use entity::signing_key;
use jsonwebtoken::EncodingKey;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, Set,
};
use sha2::{Digest, Sha256};

use super::{DomainError, is_unique_violation, now};

/// A key as listed: never its private part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyInfo {
    pub kid: String,
    /// The public key (the JWK `x`), base64url.
    pub x: String,
    pub created_at: DateTime<Utc>,
    pub retired_at: Option<DateTime<Utc>>,
}

impl From<&signing_key::Model> for KeyInfo {
    fn from(model: &signing_key::Model) -> Self {
        Self {
            kid: model.kid.clone(),
            x: model.public_key.clone(),
            created_at: model.created_at,
            retired_at: model.retired_at,
        }
    }
}

/// The key id of a public key: the first 16 characters of its RFC 7638 JWK
/// thumbprint (short, because it ends up in every QR code).
pub fn kid_of(x: &str) -> String {
    let canonical = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#);
    URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))[..16].to_owned()
}

fn model_of(key: &SigningKey) -> Result<(String, signing_key::ActiveModel), DomainError> {
    let der = key
        .to_pkcs8_der()
        .map_err(|err| DomainError::Corrupt(format!("cannot encode a signing key: {err}")))?;
    let x = URL_SAFE_NO_PAD.encode(key.verifying_key().to_bytes());
    let kid = kid_of(&x);
    let model = signing_key::ActiveModel {
        kid: Set(kid.clone()),
        private_key: Set(STANDARD.encode(der.as_bytes())),
        public_key: Set(x),
        created_at: Set(now()),
        retired_at: Set(None),
    };
    Ok((kid, model))
}

fn generate() -> Result<SigningKey, DomainError> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed)
        .map_err(|err| DomainError::Corrupt(format!("no randomness: {err}")))?;
    Ok(SigningKey::from_bytes(&seed))
}

async fn insert(db: &DatabaseConnection, key: &SigningKey) -> Result<KeyInfo, DomainError> {
    let (kid, model) = model_of(key)?;
    match model.insert(db).await {
        Ok(model) => Ok(KeyInfo::from(&model)),
        // The same key imported twice: it is already there.
        Err(err) if is_unique_violation(&err) => {
            let existing = signing_key::Entity::find_by_id(kid)
                .one(db)
                .await?
                .ok_or(DomainError::NotFound("signing key"))?;
            Ok(KeyInfo::from(&existing))
        }
        Err(err) => Err(err.into()),
    }
}

/// Makes sure a signing key exists: imports `pem` (PKCS#8 Ed25519) when
/// given, otherwise generates a key when none is active.
pub async fn ensure(
    db: &DatabaseConnection,
    pem: Option<&str>,
) -> Result<Option<KeyInfo>, DomainError> {
    if let Some(pem) = pem {
        let key = SigningKey::from_pkcs8_pem(pem).map_err(|_| {
            DomainError::Corrupt("the signing key file is not a PKCS#8 Ed25519 PEM key".into())
        })?;
        return insert(db, &key).await.map(Some);
    }
    let active = signing_key::Entity::find()
        .filter(signing_key::Column::RetiredAt.is_null())
        .count(db)
        .await?;
    if active > 0 {
        return Ok(None);
    }
    insert(db, &generate()?).await.map(Some)
}

/// Adds a new signing key; older ones keep verifying.
pub async fn rotate(db: &DatabaseConnection) -> Result<KeyInfo, DomainError> {
    insert(db, &generate()?).await
}

/// Retires a key: tokens it signed stop verifying (once each instance's key
/// cache refreshes, within 30 seconds). The last active key cannot be
/// retired; rotate first.
pub async fn retire(db: &DatabaseConnection, kid: &str) -> Result<KeyInfo, DomainError> {
    let model = signing_key::Entity::find_by_id(kid.to_owned())
        .one(db)
        .await?
        .ok_or(DomainError::NotFound("signing key"))?;
    if model.retired_at.is_some() {
        return Ok(KeyInfo::from(&model));
    }
    let others = signing_key::Entity::find()
        .filter(signing_key::Column::RetiredAt.is_null())
        .filter(signing_key::Column::Kid.ne(kid))
        .count(db)
        .await?;
    if others == 0 {
        return Err(DomainError::conflict(
            "last_signing_key",
            "this is the only active signing key; rotate to a new one before retiring it",
        ));
    }
    let mut active: signing_key::ActiveModel = model.into();
    active.retired_at = Set(Some(now()));
    Ok(KeyInfo::from(&active.update(db).await?))
}

/// Every key, newest first.
pub async fn list(db: &DatabaseConnection) -> Result<Vec<KeyInfo>, DomainError> {
    Ok(signing_key::Entity::find()
        .order_by_desc(signing_key::Column::CreatedAt)
        .all(db)
        .await?
        .iter()
        .map(KeyInfo::from)
        .collect())
}

/// The keys that verify tokens now (for the JWKS), newest first.
pub async fn published(db: &DatabaseConnection) -> Result<Vec<KeyInfo>, DomainError> {
    Ok(list(db)
        .await?
        .into_iter()
        .filter(|k| k.retired_at.is_none())
        .collect())
}

struct Loaded {
    signing: Option<(String, EncodingKey)>,
    verifying: HashMap<String, VerifyingKey>,
    at: Instant,
}

/// This instance's cache of the keys, refreshed every 30 seconds and when a
/// token names a key it does not know (at most every 2 seconds).
#[derive(Clone)]
pub struct KeyRing {
    db: DatabaseConnection,
    loaded: Arc<RwLock<Option<Arc<Loaded>>>>,
}

const FRESH_FOR: Duration = Duration::from_secs(30);
const MISS_REFRESH: Duration = Duration::from_secs(2);

impl KeyRing {
    pub fn new(db: DatabaseConnection) -> Self {
        Self {
            db,
            loaded: Arc::default(),
        }
    }

    fn current(&self) -> Option<Arc<Loaded>> {
        match self.loaded.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    async fn load(&self) -> Result<Arc<Loaded>, DomainError> {
        let models = signing_key::Entity::find()
            .filter(signing_key::Column::RetiredAt.is_null())
            .order_by_desc(signing_key::Column::CreatedAt)
            .all(&self.db)
            .await?;
        let mut verifying = HashMap::new();
        let mut signing = None;
        for model in &models {
            let x = URL_SAFE_NO_PAD.decode(&model.public_key).map_err(|_| {
                DomainError::Corrupt(format!("signing key {} public part", model.kid))
            })?;
            // Decompressed once here, not on every verification.
            let x: [u8; 32] = x.try_into().map_err(|_| {
                DomainError::Corrupt(format!("signing key {} public part", model.kid))
            })?;
            let key = VerifyingKey::from_bytes(&x).map_err(|_| {
                DomainError::Corrupt(format!("signing key {} public part", model.kid))
            })?;
            verifying.insert(model.kid.clone(), key);
            if signing.is_none() {
                let der = STANDARD.decode(&model.private_key).map_err(|_| {
                    DomainError::Corrupt(format!("signing key {} private part", model.kid))
                })?;
                signing = Some((model.kid.clone(), EncodingKey::from_ed_der(&der)));
            }
        }
        let loaded = Arc::new(Loaded {
            signing,
            verifying,
            at: Instant::now(),
        });
        match self.loaded.write() {
            Ok(mut guard) => *guard = Some(loaded.clone()),
            Err(poisoned) => *poisoned.into_inner() = Some(loaded.clone()),
        }
        Ok(loaded)
    }

    async fn fresh(&self) -> Result<Arc<Loaded>, DomainError> {
        match self.current() {
            Some(loaded) if loaded.at.elapsed() < FRESH_FOR => Ok(loaded),
            _ => self.load().await,
        }
    }

    /// The key that signs new tokens, with its kid.
    pub async fn signer(&self) -> Result<(String, EncodingKey), DomainError> {
        let loaded = self.fresh().await?;
        match &loaded.signing {
            Some((kid, key)) => Ok((kid.clone(), key.clone())),
            None => Err(DomainError::Corrupt("no active signing key".into())),
        }
    }

    /// The key that verifies tokens with this kid, if it is active.
    pub async fn verifier(&self, kid: &str) -> Result<Option<VerifyingKey>, DomainError> {
        let loaded = self.fresh().await?;
        if let Some(key) = loaded.verifying.get(kid) {
            return Ok(Some(*key));
        }
        if loaded.at.elapsed() < MISS_REFRESH {
            return Ok(None);
        }
        Ok(self.load().await?.verifying.get(kid).copied())
    }

    /// Drops the cache so the next use reads the database (after a rotation
    /// or retirement on this instance).
    pub fn invalidate(&self) {
        match self.loaded.write() {
            Ok(mut guard) => *guard = None,
            Err(poisoned) => *poisoned.into_inner() = None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_ids_are_short_thumbprints() {
        let key = SigningKey::from_bytes(&[7u8; 32]);
        let x = URL_SAFE_NO_PAD.encode(key.verifying_key().to_bytes());
        let kid = kid_of(&x);
        assert_eq!(kid.len(), 16);
        assert_eq!(kid, kid_of(&x));
        let other = URL_SAFE_NO_PAD.encode(
            SigningKey::from_bytes(&[8u8; 32])
                .verifying_key()
                .to_bytes(),
        );
        assert_ne!(kid, kid_of(&other));
    }

    #[test]
    fn stored_keys_sign_what_their_public_part_verifies() {
        let key = SigningKey::from_bytes(&[9u8; 32]);
        let (_, model) = model_of(&key).unwrap();
        let der = STANDARD.decode(model.private_key.unwrap()).unwrap();
        let x = URL_SAFE_NO_PAD.decode(model.public_key.unwrap()).unwrap();
        let header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
        let token = jsonwebtoken::encode(
            &header,
            &serde_json::json!({"sub": "x"}),
            &EncodingKey::from_ed_der(&der),
        )
        .unwrap();
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::EdDSA);
        validation.required_spec_claims.clear();
        validation.validate_exp = false;
        let decoded = jsonwebtoken::decode::<serde_json::Value>(
            &token,
            &jsonwebtoken::DecodingKey::from_ed_der(&x),
            &validation,
        )
        .unwrap();
        assert_eq!(decoded.claims["sub"], "x");
    }
}

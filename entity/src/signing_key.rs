//! Ed25519 keys that sign check-in tokens.

use sea_orm::entity::prelude::*;

#[derive(Clone, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "signing_key")]
pub struct Model {
    /// Key id: the start of the key's RFC 7638 thumbprint.
    #[sea_orm(primary_key, auto_increment = false)]
    pub kid: String,
    /// The private key, PKCS#8 DER, base64. Never logged.
    pub private_key: String,
    /// The public key, 32 bytes, base64url (the JWK `x`).
    pub public_key: String,
    pub created_at: DateTimeUtc,
    /// Set once retired: tokens it signed stop verifying.
    pub retired_at: Option<DateTimeUtc>,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("signing_key::Model")
            .field("kid", &self.kid)
            .field("private_key", &"**redacted**")
            .field("public_key", &self.public_key)
            .field("created_at", &self.created_at)
            .field("retired_at", &self.retired_at)
            .finish()
    }
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

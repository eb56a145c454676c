//! Email addresses, checked the way a ticket shop needs: plausible enough to
//! deliver to, without pretending to implement all of RFC 5322.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    /// Trims, lower-cases and checks an address: one `@`, a non-empty local
    /// part, a domain with a dot, no spaces or control characters, at most
    /// 254 characters.
    pub fn parse(input: &str) -> Option<Self> {
        let email = input.trim().to_lowercase();
        if email.len() > 254 || email.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return None;
        }
        let (local, domain) = email.split_once('@')?;
        let domain_ok = domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..")
            && !domain.contains('@');
        if local.is_empty() || local.len() > 64 || !domain_ok {
            return None;
        }
        Some(Self(email))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plausible_addresses_parse_lower_cased() {
        assert_eq!(
            Email::parse("  Ana@Example.ORG ").map(Email::into_string),
            Some("ana@example.org".into())
        );
        assert!(Email::parse("first.last+tickets@sub.example.co.uk").is_some());
    }

    #[test]
    fn implausible_addresses_are_refused() {
        for bad in [
            "",
            "ana",
            "ana@",
            "@example.org",
            "ana@example",
            "a na@example.org",
            "ana@@example.org",
            "ana@.example.org",
            "ana@example..org",
            &format!("{}@example.org", "a".repeat(65)),
        ] {
            assert!(Email::parse(bad).is_none(), "{bad}");
        }
    }
}

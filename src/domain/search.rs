//! Finding attendees by part of a name, email or order code, the same way
//! for the organizers' attendee list and the volunteers' manual check-in.

use entity::{order, ticket};
use sea_orm::{
    ColumnTrait, Condition, EntityTrait, ExprTrait, QueryFilter, QuerySelect, QueryTrait,
    prelude::Expr, sea_query::Func,
};
use uuid::Uuid;

/// `lower(column)`, for case-insensitive comparisons on both databases.
pub fn lower(column: impl sea_orm::sea_query::IntoColumnRef) -> Expr {
    Expr::expr(Func::lower(Expr::col(column)))
}

/// Tickets of the event whose attendee's name or email, or whose order's
/// code, contains `needle` (case-insensitive, literally).
pub fn attendee_matches(event_id: Uuid, needle: &str) -> Condition {
    let pattern = contains_pattern(&needle.to_lowercase());
    let codes = order::Entity::find()
        .select_only()
        .column(order::Column::Id)
        .filter(order::Column::EventId.eq(event_id))
        .filter(lower((order::Entity, order::Column::Code)).like(pattern.clone()))
        .into_query();
    Condition::any()
        .add(lower((ticket::Entity, ticket::Column::AttendeeName)).like(pattern.clone()))
        .add(lower((ticket::Entity, ticket::Column::AttendeeEmail)).like(pattern))
        .add(ticket::Column::OrderId.in_subquery(codes))
}

/// A `LIKE` pattern matching text that contains `needle` literally: `%`, `_`
/// and the escape character itself match only themselves.
fn contains_pattern(needle: &str) -> sea_orm::sea_query::LikeExpr {
    let mut escaped = String::with_capacity(needle.len() + 2);
    escaped.push('%');
    for c in needle.chars() {
        if matches!(c, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped.push('%');
    sea_orm::sea_query::LikeExpr::new(escaped).escape('\\')
}

/// An email as a hint a volunteer may read out: `ada@example.org` becomes
/// `a***@e***.org`.
pub fn email_hint(email: &str) -> String {
    let (local, domain) = email.rsplit_once('@').unwrap_or((email, ""));
    let first = |s: &str| s.chars().next().map(String::from).unwrap_or_default();
    let (host, tld) = domain.rsplit_once('.').unwrap_or((domain, ""));
    let tld = if tld.is_empty() {
        String::new()
    } else {
        format!(".{tld}")
    };
    format!("{}***@{}***{tld}", first(local), first(host))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_email_hint_keeps_only_first_letters_and_the_top_level_domain() {
        assert_eq!(email_hint("ada@example.org"), "a***@e***.org");
        assert_eq!(email_hint("grace.hopper@navy.mil.us"), "g***@n***.us");
        assert_eq!(email_hint("x@y"), "x***@y***");
        assert_eq!(email_hint(""), "***@***");
    }
}

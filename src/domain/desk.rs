//! The organizer's order desk: find orders, look at one, cancel it.

use chrono::{DateTime, Utc};
use entity::{order, ticket};
use sea_orm::{
    ColumnTrait, Condition, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    QueryTrait, TransactionTrait,
};
use uuid::Uuid;

use super::{
    DomainError, audit, events, now,
    orders::{self, Order, OrderState, TicketStatus, assemble, assemble_all, effective_state},
    page::{self, Page, TimeCursor},
    staff::Staff,
    transitions,
    validation::FieldErrors,
};

/// Which orders to list. Every filter is optional; they combine with AND.
#[derive(Debug, Clone, Default)]
pub struct OrderFilter {
    pub state: Option<OrderState>,
    /// The buyer's email, exactly (case-insensitive).
    pub email: Option<String>,
    pub code: Option<String>,
    /// Orders with at least one ticket of this tier.
    pub tier: Option<Uuid>,
    pub created_from: Option<DateTime<Utc>>,
    pub created_to: Option<DateTime<Utc>>,
}

/// Orders of an event, oldest first.
pub async fn list(
    db: &DatabaseConnection,
    staff: &Staff,
    slug: &str,
    filter: OrderFilter,
    cursor: Option<&str>,
    limit: Option<u64>,
) -> Result<Page<Order>, DomainError> {
    let event = events::find_managed(db, staff, slug).await?;
    let limit = page::limit(limit)?;
    let at = now();
    let mut query = order::Entity::find().filter(order::Column::EventId.eq(event.id));
    if let Some(state) = filter.state {
        // Pending orders past their hold are expired, sweeper or not.
        query = query.filter(super::counting::orders_in_state_at(state, at));
    }
    if let Some(email) = filter.email {
        query = query.filter(order::Column::Email.eq(email.trim().to_lowercase()));
    }
    if let Some(code) = filter.code {
        query = query.filter(order::Column::Code.eq(orders::normalise_code(&code)));
    }
    if let Some(tier) = filter.tier {
        let with_tier = ticket::Entity::find()
            .select_only()
            .column(ticket::Column::OrderId)
            .filter(ticket::Column::TierId.eq(tier))
            .into_query();
        query = query.filter(order::Column::Id.in_subquery(with_tier));
    }
    if let Some(from) = filter.created_from {
        query = query.filter(order::Column::CreatedAt.gte(from));
    }
    if let Some(to) = filter.created_to {
        query = query.filter(order::Column::CreatedAt.lt(to));
    }
    if let Some(cursor) = cursor {
        let cursor = TimeCursor::decode(cursor)?;
        query = query.filter(
            Condition::any()
                .add(order::Column::CreatedAt.gt(cursor.at))
                .add(
                    Condition::all()
                        .add(order::Column::CreatedAt.eq(cursor.at))
                        .add(order::Column::Id.gt(cursor.id)),
                ),
        );
    }
    let rows = query
        .order_by_asc(order::Column::CreatedAt)
        .order_by_asc(order::Column::Id)
        .limit(limit + 1)
        .all(db)
        .await?;
    let orders = assemble_all(db, rows).await?;
    Ok(page::paginate(orders, limit, |o| TimeCursor {
        at: o.model.created_at,
        id: o.model.id,
    }))
}

pub(crate) async fn find(
    db: &DatabaseConnection,
    staff: &Staff,
    slug: &str,
    code: &str,
) -> Result<order::Model, DomainError> {
    let event = events::find_managed(db, staff, slug).await?;
    order::Entity::find()
        .filter(order::Column::EventId.eq(event.id))
        .filter(order::Column::Code.eq(orders::normalise_code(code)))
        .one(db)
        .await?
        .ok_or(DomainError::NotFound("order"))
}

pub async fn get(
    db: &DatabaseConnection,
    staff: &Staff,
    slug: &str,
    code: &str,
) -> Result<Order, DomainError> {
    let model = find(db, staff, slug, code).await?;
    assemble(db, model).await
}

/// Cancels an order, paid or not: held tickets are released, valid tickets
/// revoked, and the inventory returns at once. Money is not refunded here
/// (refunds go through the payment provider). Audited with who and why.
pub async fn cancel(
    db: &DatabaseConnection,
    staff: &Staff,
    slug: &str,
    code: &str,
    reason: &str,
) -> Result<Order, DomainError> {
    let model = find(db, staff, slug, code).await?;
    let mut errors = FieldErrors::new();
    let reason = errors.text("reason", reason, 1, 500, false);
    errors.finish(())?;
    let from = effective_state(&model, now());
    let txn = db.begin().await?;
    let changed = match from {
        OrderState::Pending => orders::release(&txn, model.id, OrderState::Cancelled).await?,
        OrderState::Paid => {
            let at = now();
            let changed = transitions::move_order_from(
                &txn,
                model.id,
                &[OrderState::Paid],
                OrderState::Cancelled,
                at,
                |u| u,
            )
            .await?;
            if changed {
                transitions::move_tickets(&txn, model.id, None, TicketStatus::Revoked, at).await?;
            }
            changed
        }
        OrderState::Cancelled => false,
        OrderState::Expired | OrderState::Refunded => {
            return Err(DomainError::conflict(
                "order_not_cancellable",
                format!("this order is {from}; there is nothing to cancel"),
            ));
        }
    };
    if changed {
        audit::record(
            &txn,
            staff,
            model.event_id,
            "order.cancelled",
            &model.code,
            serde_json::json!({"reason": reason, "from": from.as_str()}),
        )
        .await?;
    }
    txn.commit().await?;
    let model = order::Entity::find_by_id(model.id)
        .one(db)
        .await?
        .ok_or(DomainError::NotFound("order"))?;
    assemble(db, model).await
}

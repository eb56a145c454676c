//! The organizer's order desk: find orders, look at one, cancel it (and
//! say what happens to its money).

use chrono::{DateTime, Utc};
use entity::{
    order,
    state::{MessageKind, MessageState, OrderFlag},
    ticket,
};
use sea_orm::{
    ColumnTrait, Condition, DatabaseConnection, DatabaseTransaction, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, QueryTrait, TransactionTrait, prelude::Expr,
};
use uuid::Uuid;

use super::{
    DomainError, audit, events, now,
    orders::{self, Order, OrderState, TicketStatus, assemble, assemble_all, effective_state},
    outbox,
    page::{self, Page, TimeCursor},
    payments::{
        Payments,
        refunds::{self, RefundInput},
    },
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
    /// Orders flagged for attention with this flag.
    pub flag: Option<OrderFlag>,
    /// Orders with a message in this delivery state (`failed`: a mail
    /// bounced or gave up).
    pub message_state: Option<MessageState>,
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
    if let Some(flag) = filter.flag {
        query = query.filter(order::Column::Flag.eq(flag));
    }
    if let Some(message_state) = filter.message_state {
        let with_message = entity::outbox_message::Entity::find()
            .select_only()
            .column(entity::outbox_message::Column::OrderId)
            .filter(entity::outbox_message::Column::EventId.eq(event.id))
            .filter(
                entity::outbox_message::Column::Channel.eq(entity::state::MessageChannel::Email),
            )
            .filter(entity::outbox_message::Column::State.eq(message_state))
            .into_query();
        query = query.filter(order::Column::Id.in_subquery(with_message));
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

/// The mails of an order (and, later, its webhook deliveries), oldest
/// first, with their delivery state.
pub async fn messages(
    db: &DatabaseConnection,
    staff: &Staff,
    slug: &str,
    code: &str,
) -> Result<Vec<entity::outbox_message::Model>, DomainError> {
    let model = find(db, staff, slug, code).await?;
    Ok(outbox::of_order(db, model.id).await?)
}

/// An organizer sends an order's mails again: the confirmation and every
/// valid ticket for a paid order (fresh links and QR codes), the payment
/// reminder for a pending one. Audited. Answers the messages queued.
pub async fn resend(
    db: &DatabaseConnection,
    staff: &Staff,
    slug: &str,
    code: &str,
) -> Result<Vec<entity::outbox_message::Model>, DomainError> {
    let model = find(db, staff, slug, code).await?;
    let tickets = ticket::Entity::find()
        .filter(ticket::Column::OrderId.eq(model.id))
        .order_by_asc(ticket::Column::Id)
        .all(db)
        .await?;
    let at = now();
    let mails = match effective_state(&model, at) {
        OrderState::Paid => outbox::confirmed(&model, &tickets),
        OrderState::Pending => vec![outbox::Outgoing::to_buyer(
            &model,
            MessageKind::OrderReceived,
        )],
        other => {
            return Err(DomainError::conflict(
                "nothing_to_resend",
                format!("this order is {other}: it has no tickets or payment to mail"),
            ));
        }
    };
    let txn = db.begin().await?;
    let since = outbox::of_order(&txn, model.id).await?.len();
    outbox::enqueue(&txn, mails).await?;
    audit::record(
        &txn,
        staff,
        model.event_id,
        "order.mail_resent",
        &model.code,
        serde_json::json!({ "state": effective_state(&model, at).as_str() }),
    )
    .await?;
    let queued = outbox::of_order(&txn, model.id).await?.split_off(since);
    txn.commit().await?;
    Ok(queued)
}

/// An organizer fixes a ticket's attendee data, at any time (the attendee's
/// own deadline does not apply), within the same field rules and stock;
/// audited with who, why and which fields. The check-in token stays valid;
/// reissue it to retire it.
pub async fn update_ticket(
    db: &DatabaseConnection,
    staff: &Staff,
    slug: &str,
    code: &str,
    ticket_id: Uuid,
    patch: orders::TicketPatch,
    reason: &str,
) -> Result<Order, DomainError> {
    let model = find(db, staff, slug, code).await?;
    orders::edit_ticket(
        db,
        model,
        ticket_id,
        patch,
        orders::Editor::Organizer { staff, reason },
    )
    .await
}

/// What an organizer asks for when cancelling an order.
#[derive(Debug, Clone, Default)]
pub struct CancelInput {
    pub reason: String,
    /// For a paid order that still holds money: give it back in full
    /// (`true`) or keep it (`false`, the order is flagged
    /// `cancelled_unrefunded`). Required then; ignored for orders that hold
    /// no money (pending, free, already refunded).
    pub refund: Option<bool>,
}

/// Cancels an order, paid or not: held tickets are released, valid tickets
/// revoked, and the inventory returns at once. A paid order's money is
/// refunded in full through the refund path, or kept and the order
/// flagged, as the organizer says: never kept silently. The cancellation,
/// the refund's record and the audit entries are one transaction; a card
/// refund is sent to Stripe after it (retried by the sweeper when Stripe
/// does not answer; a refusal flags the order `refund_failed`).
pub async fn cancel(
    db: &DatabaseConnection,
    payments: &Payments,
    staff: &Staff,
    slug: &str,
    code: &str,
    input: CancelInput,
) -> Result<Order, DomainError> {
    let model = find(db, staff, slug, code).await?;
    let from = effective_state(&model, now());
    let kept = model.amount_paid - model.amount_refunded;
    let mut errors = FieldErrors::new();
    let reason = errors.text("reason", &input.reason, 1, 500, false);
    let refund = match (from == OrderState::Paid && kept > 0, input.refund) {
        (true, Some(refund)) => refund,
        (true, None) => {
            errors.add(
                "refund",
                "refund_required",
                format!(
                    "{} {kept} was paid for this order; say whether to refund it (true) or keep it (false)",
                    model.currency
                ),
            );
            false
        }
        (false, _) => false,
    };
    errors.finish(())?;
    let plan = if refund {
        let tickets = ticket::Entity::find()
            .filter(ticket::Column::OrderId.eq(model.id))
            .all(db)
            .await?;
        let whole = RefundInput {
            tickets: Vec::new(),
            amount: None,
            reason: reason.clone(),
        };
        let plan = refunds::plan(&model, &tickets, &whole)?;
        if plan.by_card && !payments.enabled() {
            return Err(DomainError::PaymentsNotConfigured);
        }
        Some(plan)
    } else {
        None
    };
    let txn = db.begin().await?;
    let at = now();
    let changed = match from {
        OrderState::Pending => orders::release(&txn, model.id, OrderState::Cancelled).await?,
        OrderState::Paid => {
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
    let mut by_card = None;
    if changed {
        outbox::cancelled(&txn, &model).await?;
        if let Some(plan) = &plan {
            let row = refunds::record(&txn, staff, &model, plan, None).await?;
            by_card = plan.by_card.then_some(row.id);
        } else if from == OrderState::Paid && kept > 0 {
            keep_money(&txn, &model, kept, at).await?;
        }
        audit::record(
            &txn,
            staff,
            model.event_id,
            "order.cancelled",
            &model.code,
            serde_json::json!({
                "reason": reason, "from": from.as_str(),
                "refund": plan.is_some(), "kept": if plan.is_some() { 0 } else { kept.max(0) },
            }),
        )
        .await?;
    }
    txn.commit().await?;
    if let Some(refund_id) = by_card
        && let Err(err) = refunds::submit(db, payments, refund_id).await
    {
        // The order is cancelled either way; a refusal is on the order's
        // flag and in the refund's row for the organizer to act on.
        tracing::warn!(order = %model.code, error = %err, "the refund of a cancelled order failed");
    }
    let model = order::Entity::find_by_id(model.id)
        .one(db)
        .await?
        .ok_or(DomainError::NotFound("order"))?;
    assemble(db, model).await
}

/// Flags a cancelled order whose money the organizer chose to keep.
async fn keep_money(
    txn: &DatabaseTransaction,
    model: &order::Model,
    kept: i64,
    at: DateTime<Utc>,
) -> Result<(), DomainError> {
    order::Entity::update_many()
        .col_expr(
            order::Column::Flag,
            Expr::value(Some(OrderFlag::CancelledUnrefunded)),
        )
        .col_expr(
            order::Column::FlagDetail,
            Expr::value(Some(format!(
                "cancelled without a refund: {} {kept} kept",
                model.currency
            ))),
        )
        .col_expr(order::Column::UpdatedAt, Expr::value(at))
        .filter(order::Column::Id.eq(model.id))
        .exec(txn)
        .await?;
    Ok(())
}

//! Organizers marking an order paid by hand (a bank transfer).

use super::{
    stripe_events::{lapsed, reacquire, settle_paid},
    *,
};

/// An organizer records a payment made outside Stripe (bank transfer). A
/// lapsed order gets its seats back if they are still free. Audited.
pub async fn mark_paid(
    db: &DatabaseConnection,
    payments: &Payments,
    staff: &Staff,
    slug: &str,
    code: &str,
    reference: &str,
) -> Result<Order, DomainError> {
    let model = desk::find(db, staff, slug, code).await?;
    let mut errors = FieldErrors::new();
    let reference = errors.text("reference", reference, 1, 500, false);
    errors.finish(())?;
    let txn = db.begin().await?;
    let current = order::Entity::find_by_id(model.id)
        .lock_exclusive() // FOR UPDATE on PostgreSQL; SQLite serialises writers
        .one(&txn)
        .await?
        .ok_or(DomainError::NotFound("order"))?;
    match current.state {
        OrderState::Pending if !lapsed(&current, now()) => {}
        OrderState::Pending | OrderState::Expired => {
            if let Some(what) = reacquire(&txn, &current).await? {
                return Err(DomainError::conflict(
                    "sold_out",
                    format!("the hold expired and {what}; place a new order or comp the tickets"),
                ));
            }
        }
        other => {
            return Err(DomainError::conflict(
                "order_not_payable",
                format!("this order is {other}; only pending or expired orders can be marked paid"),
            ));
        }
    }
    settle_paid(&txn, &current, current.total, &Refs::default()).await?;
    // Paid outside Stripe: the card payment is withdrawn, so the buyer cannot
    // pay twice (one that slips through is flagged as a double payment).
    order::Entity::update_many()
        .col_expr(
            order::Column::PaymentIntentId,
            Expr::value(Option::<String>::None),
        )
        .col_expr(
            order::Column::CheckoutSessionId,
            Expr::value(Option::<String>::None),
        )
        .filter(order::Column::Id.eq(current.id))
        .exec(&txn)
        .await?;
    audit::record(
        &txn,
        staff,
        current.event_id,
        "order.marked_paid",
        &current.code,
        serde_json::json!({
            "reference": reference, "amount": current.total, "currency": current.currency,
            "withdrawn_payment_intent": current.payment_intent_id,
        }),
    )
    .await?;
    txn.commit().await?;
    close_lapsed(payments, std::slice::from_ref(&current)).await;
    let model = order::Entity::find_by_id(current.id)
        .one(db)
        .await?
        .ok_or(DomainError::NotFound("order"))?;
    orders::assemble(db, model).await
}

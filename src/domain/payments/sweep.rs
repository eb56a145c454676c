//! Withdrawing the payments of holds that ended, for the sweeper.

use super::*;

/// After holds end: cancels their PaymentIntents and expires their Checkout
/// Sessions, so a buyer cannot pay for seats that are no longer held. A
/// payment that slips through anyway is handled as a late payment.
pub async fn close_lapsed(payments: &Payments, orders: &[order::Model]) {
    let Some(gateway) = payments.gateway.as_deref() else {
        return;
    };
    for order in orders {
        if let Some(id) = &order.payment_intent_id {
            let key = format!("order:{}:cancel", order.id);
            if let Err(err) = gateway.cancel_intent(id.clone(), key).await {
                tracing::info!(order = %order.id, error = %err, "payment intent not cancelled");
            }
        }
        if let Some(id) = &order.checkout_session_id {
            let key = format!("order:{}:expire-checkout", order.id);
            if let Err(err) = gateway.expire_checkout(id.clone(), key).await {
                tracing::info!(order = %order.id, error = %err, "checkout session not expired");
            }
        }
    }
}

/// The pending orders whose holds ended with a payment started, read before
/// they are swept (for [`close_lapsed`]).
pub async fn lapsed_with_payment(
    db: &DatabaseConnection,
    ids: &[Uuid],
) -> Result<Vec<order::Model>, DomainError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(order::Entity::find()
        .filter(order::Column::Id.is_in(ids.to_vec()))
        .filter(
            sea_orm::Condition::any()
                .add(order::Column::PaymentIntentId.is_not_null())
                .add(order::Column::CheckoutSessionId.is_not_null()),
        )
        .all(db)
        .await?)
}

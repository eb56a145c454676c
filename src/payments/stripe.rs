//! The Stripe gateway, on async-stripe.

use entity::state::RefundStatus;
use std::{collections::HashMap, str::FromStr, time::Duration};

use futures_util::future::BoxFuture;
use stripe::{Client, ClientBuilder, IdempotencyKey, RequestStrategy, StripeError, StripeRequest};
use stripe_checkout::checkout_session::{
    CreateCheckoutSession, CreateCheckoutSessionLineItems, CreateCheckoutSessionLineItemsPriceData,
    CreateCheckoutSessionPaymentIntentData, ExpireCheckoutSession, ProductData,
    RetrieveCheckoutSession,
};
use stripe_core::{
    payment_intent::{CancelPaymentIntent, CreatePaymentIntent, RetrievePaymentIntent},
    refund::CreateRefund,
};
use stripe_shared::{CheckoutSessionMode, PaymentIntent};
use stripe_types::Currency;

use super::{
    CheckoutRequest, CheckoutSession, GatewayError, GatewayResult, Intent, IntentRequest,
    PaymentGateway, RefundRequest, RefundResult,
};

/// Metadata keys tessera puts on Stripe objects, read back from webhooks.
pub const META_ORDER: &str = "tessera_order";
pub const META_CODE: &str = "tessera_code";
pub const META_EVENT: &str = "tessera_event";
pub const META_REFUND: &str = "tessera_refund";

pub struct StripeGateway {
    client: Client,
}

impl StripeGateway {
    /// A client for `api_base` (Stripe's, or a local double in tests). The
    /// timeout applies to each request; a request that runs out of time is
    /// reported as [`GatewayError::Unavailable`].
    pub fn new(secret_key: &str, api_base: &str, timeout: Duration) -> Result<Self, String> {
        crate::tls::ensure_provider();
        let client = ClientBuilder::new(secret_key)
            .url(api_base.trim_end_matches('/'))
            .timeout(timeout)
            .app_info("tessera", Some(env!("CARGO_PKG_VERSION").to_owned()), None)
            .build()
            .map_err(|err| format!("cannot build the Stripe client: {err}"))?;
        Ok(Self { client })
    }
}

fn once_with(key: &str) -> GatewayResult<RequestStrategy> {
    IdempotencyKey::new(key)
        .map(RequestStrategy::Idempotent)
        .map_err(|err| GatewayError::Refused {
            code: "invalid_idempotency_key".into(),
            message: err.to_string(),
        })
}

fn currency(code: &str) -> GatewayResult<Currency> {
    Currency::from_str(&code.to_lowercase()).map_err(|_| GatewayError::Refused {
        code: "invalid_currency".into(),
        message: format!("Stripe does not know the currency {code}"),
    })
}

fn metadata(request: &IntentRequest) -> HashMap<String, String> {
    HashMap::from([
        (META_ORDER.to_owned(), request.order_id.to_string()),
        (META_CODE.to_owned(), request.code.clone()),
        (META_EVENT.to_owned(), request.event_slug.clone()),
    ])
}

/// Sorts Stripe's failures into "try again later" and "no".
fn classify(err: StripeError) -> GatewayError {
    match err {
        StripeError::Stripe(api, status) => {
            let code = api
                .code
                .as_ref()
                .map(|c| c.as_str().to_owned())
                .unwrap_or_else(|| api.type_.as_str().to_owned());
            let message = api.message.clone().unwrap_or_default();
            if status == 429 || status == 409 || status >= 500 {
                GatewayError::Unavailable(format!("Stripe answered {status} ({code}): {message}"))
            } else {
                GatewayError::Refused { code, message }
            }
        }
        StripeError::Timeout => GatewayError::Unavailable("Stripe did not answer in time".into()),
        StripeError::ClientError(why) => GatewayError::Unavailable(why),
        StripeError::JSONDeserialize(why) => {
            GatewayError::Unavailable(format!("unreadable answer from Stripe: {why}"))
        }
        StripeError::ConfigError(why) => GatewayError::Unavailable(why),
    }
}

fn intent(pi: PaymentIntent) -> Intent {
    Intent {
        id: pi.id.as_str().to_owned(),
        client_secret: pi.client_secret,
        status: pi.status.as_str().to_owned(),
    }
}

fn checkout_session(session: stripe_shared::CheckoutSession) -> CheckoutSession {
    CheckoutSession {
        id: session.id.as_str().to_owned(),
        url: session.url,
        payment_intent: session.payment_intent.map(|pi| pi.id().as_str().to_owned()),
    }
}

impl PaymentGateway for StripeGateway {
    fn create_intent(&self, request: IntentRequest) -> BoxFuture<'_, GatewayResult<Intent>> {
        Box::pin(async move {
            let strategy = once_with(&request.idempotency_key)?;
            // The payment methods are those enabled in the Stripe dashboard
            // (Stripe's default for new integrations).
            let create = CreatePaymentIntent::new(request.amount, currency(&request.currency)?)
                .metadata(metadata(&request));
            let pi = create
                .customize()
                .request_strategy(strategy)
                .send(&self.client)
                .await
                .map_err(classify)?;
            Ok(intent(pi))
        })
    }

    fn retrieve_intent(&self, id: String) -> BoxFuture<'_, GatewayResult<Intent>> {
        Box::pin(async move {
            let pi = RetrievePaymentIntent::new(id)
                .send(&self.client)
                .await
                .map_err(classify)?;
            Ok(intent(pi))
        })
    }

    fn cancel_intent(
        &self,
        id: String,
        idempotency_key: String,
    ) -> BoxFuture<'_, GatewayResult<()>> {
        Box::pin(async move {
            CancelPaymentIntent::new(id)
                .customize()
                .request_strategy(once_with(&idempotency_key)?)
                .send(&self.client)
                .await
                .map_err(classify)?;
            Ok(())
        })
    }

    fn create_checkout(
        &self,
        request: CheckoutRequest,
    ) -> BoxFuture<'_, GatewayResult<CheckoutSession>> {
        Box::pin(async move {
            let strategy = once_with(&request.intent.idempotency_key)?;
            let mut price =
                CreateCheckoutSessionLineItemsPriceData::new(currency(&request.intent.currency)?);
            price.unit_amount = Some(request.intent.amount);
            price.product_data = Some(ProductData::new(request.description.clone()));
            let mut line = CreateCheckoutSessionLineItems::new();
            line.price_data = Some(price);
            line.quantity = Some(1);
            let mut intent_data = CreateCheckoutSessionPaymentIntentData::new();
            intent_data.metadata = Some(metadata(&request.intent));
            let create = CreateCheckoutSession::new()
                .mode(CheckoutSessionMode::Payment)
                .line_items(vec![line])
                .client_reference_id(request.intent.order_id.to_string())
                .customer_email(request.intent.email.clone())
                .metadata(metadata(&request.intent))
                .payment_intent_data(intent_data)
                .success_url(request.success_url.clone())
                .cancel_url(request.cancel_url.clone())
                .expires_at(request.expires_at.timestamp());
            let session = create
                .customize()
                .request_strategy(strategy)
                .send(&self.client)
                .await
                .map_err(classify)?;
            Ok(checkout_session(session))
        })
    }

    fn retrieve_checkout(&self, id: String) -> BoxFuture<'_, GatewayResult<CheckoutSession>> {
        Box::pin(async move {
            let session = RetrieveCheckoutSession::new(id)
                .send(&self.client)
                .await
                .map_err(classify)?;
            Ok(checkout_session(session))
        })
    }

    fn expire_checkout(
        &self,
        id: String,
        idempotency_key: String,
    ) -> BoxFuture<'_, GatewayResult<()>> {
        Box::pin(async move {
            ExpireCheckoutSession::new(id)
                .customize()
                .request_strategy(once_with(&idempotency_key)?)
                .send(&self.client)
                .await
                .map_err(classify)?;
            Ok(())
        })
    }

    fn refund(&self, request: RefundRequest) -> BoxFuture<'_, GatewayResult<RefundResult>> {
        Box::pin(async move {
            let strategy = once_with(&request.idempotency_key)?;
            let create = CreateRefund::new()
                .payment_intent(request.payment_intent.clone())
                .amount(request.amount)
                .metadata(HashMap::from([
                    (META_ORDER.to_owned(), request.order_id.to_string()),
                    (META_REFUND.to_owned(), request.refund_id.to_string()),
                ]));
            let refund = create
                .customize()
                .request_strategy(strategy)
                .send(&self.client)
                .await
                .map_err(classify)?;
            Ok(RefundResult {
                id: refund.id.as_str().to_owned(),
                status: RefundStatus::from_stripe(refund.status.as_deref().unwrap_or_default()),
            })
        })
    }
}

/// A webhook endpoint just created at Stripe, with the signing secret that
/// Stripe shows only in this answer.
pub struct CreatedEndpoint {
    pub id: String,
    pub url: String,
    pub api_version: Option<String>,
    pub enabled_events: Vec<String>,
    pub secret: Option<String>,
}

impl StripeGateway {
    /// Creates a webhook endpoint at `url` for exactly the event types
    /// tessera handles, with its events rendered in the API version tessera
    /// reads ([`super::webhook::api_version`]).
    pub async fn create_webhook_endpoint(&self, url: &str) -> Result<CreatedEndpoint, String> {
        use stripe_misc::webhook_endpoint::{
            CreateWebhookEndpoint, CreateWebhookEndpointEnabledEvents,
        };
        let events: Vec<CreateWebhookEndpointEnabledEvents> = super::webhook::HANDLED_EVENTS
            .iter()
            .map(
                |kind| match CreateWebhookEndpointEnabledEvents::from_str(kind) {
                    Ok(event) => event,
                    Err(never) => match never {},
                },
            )
            .collect();
        let endpoint = CreateWebhookEndpoint::new(events, url)
            .api_version(stripe_shared::version::VERSION)
            .description("tessera: payments, refunds and disputes")
            .send(&self.client)
            .await
            .map_err(|err| match classify(err) {
                GatewayError::Unavailable(why) => format!("Stripe is unavailable: {why}"),
                GatewayError::Refused { code, message } => {
                    format!("Stripe refused the endpoint ({code}): {message}")
                }
            })?;
        Ok(CreatedEndpoint {
            id: endpoint.id.as_str().to_owned(),
            url: endpoint.url,
            api_version: endpoint.api_version,
            enabled_events: endpoint.enabled_events,
            secret: endpoint.secret,
        })
    }
}

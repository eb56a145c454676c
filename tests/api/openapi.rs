//! The committed spec must match what the code generates.

#[test]
fn the_committed_openapi_spec_is_fresh() {
    let generated = tessera::api::spec_json();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json");
    if std::env::var("UPDATE_OPENAPI").is_ok() {
        std::fs::write(path, &generated).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        committed == generated,
        "openapi/openapi.json is stale. Regenerate it with\n\n    \
         cargo run -- openapi > openapi/openapi.json\n\n\
         (or UPDATE_OPENAPI=1 cargo test --test api openapi) and commit the result."
    );
}

#[test]
fn every_operation_is_tagged_summarised_and_documents_its_errors() {
    let spec: serde_json::Value = serde_json::from_str(&tessera::api::spec_json()).unwrap();
    let paths = spec["paths"].as_object().unwrap();
    assert!(
        paths.keys().all(|p| !p.contains(':')),
        "unconverted path parameter in {paths:?}"
    );
    for (path, operations) in paths {
        for (method, operation) in operations.as_object().unwrap() {
            let name = format!("{method} {path}");
            assert!(
                operation["tags"].as_array().is_some_and(|t| !t.is_empty()),
                "{name} has no tag"
            );
            assert!(operation["summary"].is_string(), "{name} has no summary");
            let responses = operation["responses"].as_object().unwrap();
            assert!(
                responses
                    .values()
                    .all(|r| r["description"].as_str().is_some_and(|d| !d.is_empty())),
                "{name} has an undescribed response"
            );
            if path.starts_with("/api/v1/admin") {
                assert!(
                    operation["security"].is_array(),
                    "{name} declares no security scheme"
                );
                assert!(
                    responses.contains_key("401") && responses.contains_key("403"),
                    "{name} lacks 401/403"
                );
                let problem = &responses["422"]["content"]["application/problem+json"];
                assert!(problem.is_object(), "{name} lacks its problem+json error");
            } else if path.starts_with("/api/v1/events") {
                assert!(operation.get("security").is_none(), "{name} is public");
                assert!(
                    !responses.contains_key("401"),
                    "{name} is public and never answers 401"
                );
                assert!(responses.contains_key("404"), "{name} lacks 404");
            }
        }
    }
}

#[test]
fn the_spec_states_what_the_answers_do() {
    let spec = tessera::api::spec();
    let problem = &spec["components"]["schemas"]["Problem"];
    let required: Vec<&str> = problem["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    assert!(
        !required.contains(&"errors"),
        "errors is absent on most problems"
    );
    assert_eq!(problem["additionalProperties"], false);
    // Fields sent as null are declared nullable.
    let page = &spec["components"]["schemas"]["StaffTokenPage"];
    assert_eq!(
        page["properties"]["next_cursor"]["nullable"], true,
        "{page}"
    );
    // Every object is closed.
    for (name, schema) in spec["components"]["schemas"].as_object().unwrap() {
        if schema["type"] == "object" && schema.get("properties").is_some() {
            assert_eq!(schema["additionalProperties"], false, "{name}");
        }
    }
    let webhook = &spec["paths"]["/api/v1/webhooks/stripe"]["post"]["parameters"];
    let signature = webhook
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "Stripe-Signature")
        .unwrap();
    assert_eq!(signature["required"], true);
    let list = &spec["paths"]["/api/v1/admin/tokens"]["get"]["parameters"];
    let limit = list
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "limit")
        .unwrap();
    assert_eq!(
        (
            limit["schema"]["minimum"].as_f64(),
            limit["schema"]["maximum"].as_f64()
        ),
        (Some(1.0), Some(200.0)),
        "{limit}"
    );
}

#[test]
fn operations_document_only_errors_they_can_give() {
    let spec: serde_json::Value = serde_json::from_str(&tessera::api::spec_json()).unwrap();
    for (path, operations) in spec["paths"].as_object().unwrap() {
        for (method, operation) in operations.as_object().unwrap() {
            let responses = operation["responses"].as_object().unwrap();
            let id = operation["operationId"].as_str().unwrap_or_default();
            if operation.get("requestBody").is_none() {
                assert!(
                    !responses.contains_key("415"),
                    "{method} {path} takes no body, so no 415"
                );
            }
            if let Some(unavailable) = responses.get("503") {
                let says_payments = unavailable["description"]
                    .as_str()
                    .unwrap()
                    .contains("payment");
                let pays = [
                    "place_order",
                    "quote_order",
                    "start_payment",
                    "refund_order",
                    "cancel_admin_order",
                    "stripe_webhook",
                ]
                .contains(&id);
                assert_eq!(
                    says_payments, pays,
                    "{id}: 503 mentions payments only where payments happen"
                );
            }
        }
    }
}

/// The documented request examples are real requests: the service takes
/// them as they are.
#[tokio::test]
async fn the_request_examples_are_accepted_as_they_stand() {
    let spec: serde_json::Value = serde_json::from_str(&tessera::api::spec_json()).unwrap();
    let example = |name: &str| spec["components"]["schemas"][name]["example"].clone();
    let app = crate::helpers::spawn_app_with(crate::helpers::Backend::Sqlite, |_| {})
        .await
        .unwrap();
    let event = app
        .post("/api/v1/admin/events", &app.admin, example("EventCreate"))
        .await;
    assert_eq!(event.status, reqwest::StatusCode::CREATED, "{}", event.body);
    let slug = event.body["slug"].as_str().unwrap().to_owned();
    let tier = app
        .post(
            &format!("/api/v1/admin/events/{slug}/tiers"),
            &app.admin,
            example("TierCreate"),
        )
        .await;
    assert_eq!(tier.status, reqwest::StatusCode::CREATED, "{}", tier.body);
    let mut voucher = example("VoucherCreate");
    voucher["unlocks"] = serde_json::json!([]);
    voucher["applies_to"] = serde_json::json!([tier.body["id"]]);
    let voucher = app
        .post(
            &format!("/api/v1/admin/events/{slug}/vouchers"),
            &app.admin,
            voucher,
        )
        .await;
    assert_eq!(
        voucher.status,
        reqwest::StatusCode::CREATED,
        "{}",
        voucher.body
    );
    let token = app
        .post("/api/v1/admin/tokens", &app.admin, example("TokenCreate"))
        .await;
    assert_eq!(token.status, reqwest::StatusCode::CREATED, "{}", token.body);
    // The order's shape is right: only its made-up tier and voucher are not
    // this event's.
    let published = app
        .post(
            &format!("/api/v1/admin/events/{slug}/publish"),
            &app.admin,
            serde_json::json!({}),
        )
        .await;
    assert_eq!(
        published.status,
        reqwest::StatusCode::OK,
        "{}",
        published.body
    );
    let order = app.order(&slug, example("OrderCreate")).await;
    order.assert_problem(422, "validation_failed");
    let mut fields = order.error_fields();
    fields.sort_unstable();
    assert_eq!(
        fields,
        ["tickets[0].tier_id", "tickets[1].tier_id", "voucher"],
        "{}",
        order.body
    );
}

/// The README's endpoint table, between its markers, is the spec's
/// operations: regenerated with `UPDATE_OPENAPI=1`, checked otherwise, so
/// the README never lists an endpoint that is not there or misses one.
#[test]
fn the_readme_lists_every_endpoint() {
    const START: &str =
        "<!-- endpoints:start (generated from the spec by tests/api/openapi.rs) -->";
    const END: &str = "<!-- endpoints:end -->";
    let spec: serde_json::Value = serde_json::from_str(&tessera::api::spec_json()).unwrap();
    let mut table = String::from("| method | path | what |\n| --- | --- | --- |\n");
    for (path, operations) in spec["paths"].as_object().unwrap() {
        for (method, operation) in operations.as_object().unwrap() {
            let summary = operation["summary"].as_str().unwrap_or_default();
            table.push_str(&format!(
                "| `{}` | `{path}` | {summary} |\n",
                method.to_uppercase()
            ));
        }
    }
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/README.md");
    let readme = std::fs::read_to_string(path).unwrap();
    let (Some(start), Some(end)) = (readme.find(START), readme.find(END)) else {
        panic!("README.md lacks the endpoint table markers");
    };
    let current = &readme[start + START.len()..end];
    let wanted = format!("\n{table}");
    if std::env::var("UPDATE_OPENAPI").is_ok() {
        let updated = format!("{}{START}{wanted}{}", &readme[..start], &readme[end..]);
        std::fs::write(path, updated).unwrap();
        return;
    }
    assert!(
        current == wanted,
        "README.md's endpoint table is stale; regenerate it with UPDATE_OPENAPI=1 cargo test --test api openapi"
    );
}

//! Support: the confirmed admin delegation, contacts and their roles, ticket
//! isolation between contacts, user removal by ticket, and tenancy.

use crate::common;

use common::{TestApp, data, error_code};
use serde_json::{Value, json};

backend_tests!(seed_002_admin_delegation, seed_003_contacts_and_isolated_tickets, another_company_cannot_touch_support);

const CREATE_USER: &str = "mutation ($input: CreateUserInput!) { createUser(input: $input) { id } }";
const CREATE_CONTACT: &str = "mutation ($input: CreateSupportContactInput!) {
    createSupportContact(input: $input) { id isPrimary roles status user { email } } }";
const CREATE_TICKET: &str =
    "mutation ($input: CreateSupportTicketInput!) { createSupportTicket(input: $input) { id kind status subject } }";
const TICKETS: &str = "{ supportTickets { totalCount edges { node { subject status openedBy { email } } } } }";

async fn viewer_id(app: &TestApp, token: &str) -> String {
    data(&app.graphql_as(Some(token), "{ viewer { id } }", json!({})).await)["viewer"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn new_user(app: &TestApp, token: &str, email: &str, manager: &str) -> String {
    let input =
        json!({"givenName": "Some", "surname": "One", "email": email, "jobTitle": "Engineer", "managerEmail": manager});
    data(&app.graphql_as(Some(token), CREATE_USER, json!({"input": input})).await)["createUser"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn subscription_for(app: &TestApp, owner: &str) -> String {
    let owner_id = viewer_id(app, owner).await;
    let body = app
        .graphql_as(
            Some(owner),
            "mutation ($input: CreateServiceSubscriptionInput!) { createServiceSubscription(input: $input) { id } }",
            json!({"input": {"product": "Modeler", "plan": "Enterprise", "ownerId": owner_id}}),
        )
        .await;
    data(&body)["createServiceSubscription"]["id"].as_str().unwrap().to_owned()
}

async fn seed_002_admin_delegation(app: TestApp) {
    let owner = app.company_owner("Delegation", "owner@delegation.example").await;
    let sub = subscription_for(&app, &owner).await;
    let x = new_user(&app, &owner, "xavier@delegation.example", "owner@delegation.example").await;
    let add =
        "mutation ($s: ID!, $u: ID!) { addSubscriptionMember(subscriptionId: $s, userId: $u, role: ADMIN) { status } }";
    assert_eq!(
        data(&app.graphql_as(Some(&owner), add, json!({"s": sub, "u": x})).await)["addSubscriptionMember"]["status"],
        "PENDING_CONFIRMATION"
    );

    // The owner asks for the delegation; the confirmation email arrives.
    let input = json!({"subscriptionId": sub, "kind": "ADMIN_DELEGATION", "subject": "Make Xavier an administrator",
                       "description": "Xavier takes over the administration", "relatedUserId": x});
    let body = app.graphql_as(Some(&owner), CREATE_TICKET, json!({"input": input})).await;
    let ticket = data(&body)["createSupportTicket"].clone();
    assert_eq!((&ticket["kind"], &ticket["status"]), (&json!("ADMIN_DELEGATION"), &json!("OPEN")));
    let ticket_id = ticket["id"].as_str().unwrap().to_owned();
    let confirmation = common::eventually("the confirmation email", async || {
        let emails = common::mail::mailbox(&app.mailbox_dir);
        let raw = emails.iter().find(|r| String::from_utf8_lossy(r).contains("We received your support request"))?;
        Some(String::from_utf8_lossy(raw).to_string())
    })
    .await;
    assert!(confirmation.contains("To: owner@delegation.example") && confirmation.contains(&ticket_id));

    // An owner cannot confirm; a support agent can, and the membership takes effect.
    let confirm = "mutation ($id: ID!) { confirmSupportTicket(id: $id) { status } }";
    assert_eq!(error_code(&app.graphql_as(Some(&owner), confirm, json!({"id": ticket_id})).await), "FORBIDDEN");
    let agent = app.support_agent().await;
    assert_eq!(
        data(&app.graphql_as(Some(&agent), TICKETS, json!({})).await)["supportTickets"]["totalCount"],
        1,
        "agents see all"
    );
    assert_eq!(
        data(&app.graphql_as(Some(&agent), confirm, json!({"id": ticket_id})).await)["confirmSupportTicket"]["status"],
        "CONFIRMED"
    );
    let body = app
        .graphql_as(Some(&owner), "{ serviceSubscriptions { members { role status user { email } } } }", json!({}))
        .await;
    let members = data(&body)["serviceSubscriptions"][0]["members"].as_array().unwrap().clone();
    let xavier = members.iter().find(|m| m["user"]["email"] == "xavier@delegation.example").unwrap();
    assert_eq!((&xavier["role"], &xavier["status"]), (&json!("ADMIN"), &json!("ACTIVE")));
    assert_eq!(error_code(&app.graphql_as(Some(&agent), confirm, json!({"id": ticket_id})).await), "CONFLICT", "once");

    // A USER_REMOVAL ticket erases the user's personal data when confirmed.
    let y = new_user(&app, &owner, "yolanda@delegation.example", "owner@delegation.example").await;
    let input = json!({"subscriptionId": sub, "kind": "USER_REMOVAL", "subject": "Remove Yolanda", "description": "Left", "relatedUserId": y});
    let body = app.graphql_as(Some(&owner), CREATE_TICKET, json!({"input": input})).await;
    let removal = data(&body)["createSupportTicket"]["id"].as_str().unwrap().to_owned();
    data(&app.graphql_as(Some(&agent), confirm, json!({"id": removal})).await);
    let body =
        app.graphql_as(Some(&owner), "query ($id: ID!) { user(id: $id) { status email } }", json!({"id": y})).await;
    assert_eq!(data(&body)["user"]["status"], "ANONYMIZED");
    assert!(data(&body)["user"]["email"].as_str().unwrap().ends_with(".invalid"));
}

async fn seed_003_contacts_and_isolated_tickets(app: TestApp) {
    let owner = app.company_owner("Contacts", "owner@contacts.example").await;
    let sub = subscription_for(&app, &owner).await;
    // The first ADMINISTRATOR contact is primary; a new address becomes a user with an email.
    let input = json!({"subscriptionId": sub, "email": "paula@contacts.example", "givenName": "Paula", "surname": "Primary",
                       "phone": "+57 1 555 0100", "roles": ["ADMINISTRATOR", "SUPPORT"]});
    let body = app.graphql_as(Some(&owner), CREATE_CONTACT, json!({"input": input})).await;
    let paula = data(&body)["createSupportContact"].clone();
    assert_eq!((&paula["isPrimary"], &paula["roles"]), (&json!(true), &json!(["ADMINISTRATOR", "SUPPORT"])));
    let paula_token = app.activate("paula@contacts.example").await;

    // The primary contact manages the others.
    let input = json!({"subscriptionId": sub, "email": "sam@contacts.example", "givenName": "Sam", "surname": "Support", "roles": ["SUPPORT"]});
    let body = app.graphql_as(Some(&paula_token), CREATE_CONTACT, json!({"input": input})).await;
    let sam = data(&body)["createSupportContact"].clone();
    assert_eq!(sam["isPrimary"], false);
    let sam_token = app.activate("sam@contacts.example").await;
    let input = json!({"subscriptionId": sub, "email": "bill@contacts.example", "givenName": "Bill", "surname": "Billing", "roles": []});
    let body = app.graphql_as(Some(&paula_token), CREATE_CONTACT, json!({"input": input.clone()})).await;
    assert_eq!(body["errors"][0]["extensions"]["fields"][0]["field"], "roles");
    let mut billing = input;
    billing["roles"] = json!(["BILLING"]);
    let body = app.graphql_as(Some(&sam_token), CREATE_CONTACT, json!({"input": billing.clone()})).await;
    assert_eq!(error_code(&body), "FORBIDDEN", "a non-primary contact manages nobody");
    let bill = data(&app.graphql_as(Some(&paula_token), CREATE_CONTACT, json!({"input": billing})).await)["createSupportContact"]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // Known details are filled in: Paula's phone on a second subscription.
    let second = subscription_for(&app, &owner).await;
    let input = json!({"subscriptionId": second, "email": "paula@contacts.example", "roles": ["BILLING"]});
    let body = app
        .graphql_as(
            Some(&owner),
            "mutation ($input: CreateSupportContactInput!) { createSupportContact(input: $input) { phone } }",
            json!({"input": input}),
        )
        .await;
    assert_eq!(data(&body)["createSupportContact"]["phone"], "+57 1 555 0100");

    // Deactivate, list as inactive, reactivate.
    let body = app
        .graphql_as(
            Some(&paula_token),
            "mutation ($id: ID!) { deactivateSupportContact(id: $id) { status } }",
            json!({"id": bill}),
        )
        .await;
    assert_eq!(data(&body)["deactivateSupportContact"]["status"], "INACTIVE");
    let list =
        "query ($s: ID!, $st: ContactStatus) { supportContacts(subscriptionId: $s, status: $st) { user { email } } }";
    let body = app.graphql_as(Some(&owner), list, json!({"s": sub, "st": "INACTIVE"})).await;
    assert_eq!(data(&body)["supportContacts"], json!([{"user": {"email": "bill@contacts.example"}}]));
    let body = app
        .graphql_as(
            Some(&paula_token),
            "mutation ($id: ID!) { reactivateSupportContact(id: $id) { status } }",
            json!({"id": bill}),
        )
        .await;
    assert_eq!(data(&body)["reactivateSupportContact"]["status"], "ACTIVE");
    let body = app.graphql_as(Some(&owner), list, json!({"s": sub, "st": "ACTIVE"})).await;
    assert_eq!(data(&body)["supportContacts"].as_array().unwrap().len(), 3);
    let body = app
        .graphql_as(Some(&paula_token), "mutation ($id: ID!) { updateSupportContact(id: $id, input: {phone: \"+57 300 1234567\", roles: [BILLING, LICENSE]}) { roles } }", json!({"id": bill}))
        .await;
    assert_eq!(data(&body)["updateSupportContact"]["roles"], json!(["BILLING", "LICENSE"]));

    // Each contact sees only the tickets they opened.
    for (token, subject) in [(&paula_token, "Paula's question"), (&sam_token, "Sam's question")] {
        let input = json!({"subscriptionId": sub, "kind": "GENERAL", "subject": subject, "description": "Help"});
        data(&app.graphql_as(Some(token), CREATE_TICKET, json!({"input": input})).await);
    }
    let body = app.graphql_as(Some(&sam_token), TICKETS, json!({})).await;
    assert_eq!(data(&body)["supportTickets"]["totalCount"], 1);
    assert_eq!(data(&body)["supportTickets"]["edges"][0]["node"]["subject"], "Sam's question");
    // A BILLING-only contact cannot open tickets.
    let bill_token = app.activate("bill@contacts.example").await;
    let input = json!({"subscriptionId": sub, "kind": "GENERAL", "subject": "Invoice", "description": "?"});
    let body = app.graphql_as(Some(&bill_token), CREATE_TICKET, json!({"input": input})).await;
    assert_eq!(error_code(&body), "FORBIDDEN");
}

async fn another_company_cannot_touch_support(app: TestApp) {
    let owner = app.company_owner("Mine", "owner@mine.example").await;
    let sub = subscription_for(&app, &owner).await;
    let input = json!({"subscriptionId": sub, "email": "cara@mine.example", "givenName": "Cara", "surname": "Contact", "roles": ["SUPPORT"]});
    let contact = data(&app.graphql_as(Some(&owner), CREATE_CONTACT, json!({"input": input})).await)["createSupportContact"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let other = app.company_owner("Theirs", "owner@theirs.example").await;
    let attempts: Vec<(&str, Value)> = vec![
        ("query ($s: ID!) { supportContacts(subscriptionId: $s) { id } }", json!({"s": sub})),
        (
            CREATE_CONTACT,
            json!({"input": {"subscriptionId": sub, "email": "z@theirs.example", "givenName": "Z", "surname": "Z", "roles": ["SUPPORT"]}}),
        ),
        (
            CREATE_TICKET,
            json!({"input": {"subscriptionId": sub, "kind": "GENERAL", "subject": "S", "description": "D"}}),
        ),
        ("mutation ($id: ID!) { deactivateSupportContact(id: $id) { id } }", json!({"id": contact})),
        ("mutation ($id: ID!) { reactivateSupportContact(id: $id) { id } }", json!({"id": contact})),
        ("mutation ($id: ID!) { updateSupportContact(id: $id, input: {phone: \"1\"}) { id } }", json!({"id": contact})),
    ];
    for (query, variables) in attempts {
        let body = app.graphql_as(Some(&other), query, variables).await;
        assert_eq!(error_code(&body), "NOT_FOUND", "{query}");
    }
    let body = app.graphql_as(Some(&other), TICKETS, json!({})).await;
    assert_eq!(data(&body)["supportTickets"]["totalCount"], 0);

    // A ticket cannot point at another company's user (nor reveal whether an id exists):
    // the foreign user and an unknown id get the same answer, and nothing is stored.
    let cara = app.activate("cara@mine.example").await;
    let foreign_user = viewer_id(&app, &other).await;
    for related in [foreign_user, uuid::Uuid::now_v7().to_string()] {
        let input = json!({"subscriptionId": sub, "kind": "GENERAL", "subject": "S", "description": "D", "relatedUserId": related});
        let body = app.graphql_as(Some(&cara), CREATE_TICKET, json!({"input": input})).await;
        assert_eq!(error_code(&body), "VALIDATION_FAILED", "{body}");
        assert_eq!(body["errors"][0]["extensions"]["fields"][0]["field"], "relatedUserId");
    }
    let body = app.graphql_as(Some(&cara), TICKETS, json!({})).await;
    assert_eq!(data(&body)["supportTickets"]["totalCount"], 0);
}

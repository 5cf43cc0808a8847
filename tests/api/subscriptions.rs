//! Service subscriptions and projects: who may create them, members (ADMIN
//! members wait for confirmation), projects with their environments, models and members, and
//! tenancy.

use crate::common;

use common::{TestApp, data, error_code};
use serde_json::{Value, json};

backend_tests!(subscriptions_members_and_projects, another_company_cannot_touch_them);

const CREATE_USER: &str = "mutation ($input: CreateUserInput!) { createUser(input: $input) { id } }";
const CREATE_SUBSCRIPTION: &str = "mutation ($input: CreateServiceSubscriptionInput!) {
    createServiceSubscription(input: $input) { id product plan owner { email } members { role status user { email } } } }";
const ADD_MEMBER: &str = "mutation ($s: ID!, $u: ID!, $r: SubscriptionRole!) {
    addSubscriptionMember(subscriptionId: $s, userId: $u, role: $r) { role status user { email } subscription { id } } }";
const CREATE_PROJECT: &str = "mutation ($input: CreateProjectInput!) {
    createProject(input: $input) { id name owner { email } environments { kind name } members { user { email } } } }";

async fn new_user(app: &TestApp, token: &str, email: &str, manager: &str) -> String {
    let input =
        json!({"givenName": "Some", "surname": email, "email": email, "jobTitle": "Engineer", "managerEmail": manager});
    let body = app.graphql_as(Some(token), CREATE_USER, json!({"input": input})).await;
    data(&body)["createUser"]["id"].as_str().unwrap().to_owned()
}

async fn viewer_id(app: &TestApp, token: &str) -> String {
    let body = app.graphql_as(Some(token), "{ viewer { id } }", json!({})).await;
    data(&body)["viewer"]["id"].as_str().unwrap().to_owned()
}

fn field_of(body: &Value) -> &Value {
    &body["errors"][0]["extensions"]["fields"][0]["field"]
}

async fn subscriptions_members_and_projects(app: TestApp) {
    let owner = app.company_owner("Modeler Co", "owner@modeler.example").await;
    let owner_id = viewer_id(&app, &owner).await;
    let m = "owner@modeler.example";
    let ana = new_user(&app, &owner, "ana@modeler.example", m).await;
    let ben = new_user(&app, &owner, "ben@modeler.example", m).await;

    // The platform provisions the subscription for the owner.
    let operator = app.operator_token().await;
    let input = json!({"product": "Modeler", "plan": "Enterprise", "ownerId": owner_id});
    let body = app.graphql_as(Some(&operator), CREATE_SUBSCRIPTION, json!({"input": input})).await;
    let subscription = data(&body)["createServiceSubscription"].clone();
    assert_eq!(subscription["owner"]["email"], m);
    assert_eq!(subscription["members"], json!([{"role": "ADMIN", "status": "ACTIVE", "user": {"email": m}}]));
    let sub = subscription["id"].as_str().unwrap().to_owned();

    // A company owner may create one for their company; an administrator may not.
    let input = json!({"product": "Automation", "plan": "Standard", "ownerId": owner_id});
    data(&app.graphql_as(Some(&owner), CREATE_SUBSCRIPTION, json!({"input": input.clone()})).await);
    app.graphql_as(Some(&owner), "mutation ($id: ID!) { addCompanyAdmin(userId: $id) { id } }", json!({"id": ana}))
        .await;
    let ana_token = {
        let text = app.wait_for_email("ana@modeler.example").await.body_text(0).unwrap().into_owned();
        let url = common::mail::link(&text, "http://127.0.0.1:8080/set-password?token=");
        let token = url.split("token=").nth(1).unwrap();
        data(
            &app.graphql(
                "mutation ($t: String!) { resetPassword(token: $t, newPassword: \"Alpine-Meadow-2026\") }",
                json!({"t": token}),
            )
            .await,
        );
        app.login("ana@modeler.example", "Alpine-Meadow-2026").await
    };
    let body = app.graphql_as(Some(&ana_token), CREATE_SUBSCRIPTION, json!({"input": input})).await;
    assert_eq!(error_code(&body), "FORBIDDEN");

    // Members: USER at once, ADMIN pending confirmation.
    let body = app.graphql_as(Some(&owner), ADD_MEMBER, json!({"s": sub, "u": ben, "r": "USER"})).await;
    assert_eq!(data(&body)["addSubscriptionMember"]["status"], "ACTIVE");
    let body = app.graphql_as(Some(&owner), ADD_MEMBER, json!({"s": sub, "u": ana, "r": "ADMIN"})).await;
    assert_eq!(data(&body)["addSubscriptionMember"]["status"], "PENDING_CONFIRMATION");
    let body = app.graphql_as(Some(&owner), ADD_MEMBER, json!({"s": sub, "u": ben, "r": "USER"})).await;
    assert_eq!(error_code(&body), "CONFLICT");
    let body = app
        .graphql_as(
            Some(&owner),
            "{ serviceSubscriptions { product members { role status user { email } } } }",
            json!({}),
        )
        .await;
    let modeler = data(&body)["serviceSubscriptions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["product"] == "Modeler")
        .unwrap()
        .clone();
    assert_eq!(modeler["members"].as_array().unwrap().len(), 3);

    // Projects: three environments, the owner a member; only subscription members may join.
    let input = json!({"subscriptionId": sub, "name": "Claims", "ownerId": owner_id});
    let body = app.graphql_as(Some(&owner), CREATE_PROJECT, json!({"input": input.clone()})).await;
    let project = data(&body)["createProject"].clone();
    let kinds: Vec<&str> =
        project["environments"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["DEVELOPMENT", "TEST", "PRODUCTION"]);
    assert_eq!(project["members"], json!([{"user": {"email": m}}]));
    let body = app.graphql_as(Some(&owner), CREATE_PROJECT, json!({"input": input})).await;
    assert_eq!(error_code(&body), "CONFLICT", "project names are unique in a subscription");
    let project_id = project["id"].as_str().unwrap().to_owned();
    let outsider = new_user(&app, &owner, "olly@modeler.example", m).await;
    let add = "mutation ($p: ID!, $u: ID!) { addProjectMember(projectId: $p, userId: $u) { user { email } } }";
    let body = app.graphql_as(Some(&owner), add, json!({"p": project_id, "u": outsider})).await;
    assert_eq!(field_of(&body), "userId");
    let body = app.graphql_as(Some(&owner), add, json!({"p": project_id, "u": ana})).await;
    assert_eq!(field_of(&body), "userId", "a pending ADMIN membership is not yet a membership");
    let body = app.graphql_as(Some(&owner), add, json!({"p": project_id, "u": ben})).await;
    assert_eq!(data(&body)["addProjectMember"]["user"]["email"], "ben@modeler.example");

    let body = app
        .graphql_as(
            Some(&owner),
            "mutation ($p: ID!) { createEnvironment(projectId: $p, name: \"Staging\") { kind name } }",
            json!({"p": project_id}),
        )
        .await;
    assert_eq!(data(&body)["createEnvironment"], json!({"kind": "OTHER", "name": "Staging"}));
    // A model's owner works on projects: a subscription member who holds PROJECTS.
    let create_model = "mutation ($input: CreateModelInput!) { createModel(input: $input) { name owner { email } } }";
    let model = json!({"input": {"projectId": project_id, "name": "Intake", "ownerId": ben}});
    let body = app.graphql_as(Some(&owner), create_model, model.clone()).await;
    assert_eq!(body["errors"][0]["extensions"]["fields"][0]["message"], "must hold the PROJECTS module", "{body}");
    let outsider_model = json!({"input": {"projectId": project_id, "name": "Intake", "ownerId": outsider}});
    let body = app.graphql_as(Some(&owner), create_model, outsider_model).await;
    assert_eq!(
        body["errors"][0]["extensions"]["fields"][0]["message"], "must be an active member of the subscription",
        "{body}"
    );
    let grant = "mutation ($u: ID!) { setUserPermissions(userId: $u, modules: [PROJECTS]) { id } }";
    data(&app.graphql_as(Some(&owner), grant, json!({"u": ben})).await);
    let body = app.graphql_as(Some(&owner), create_model, model).await;
    assert_eq!(data(&body)["createModel"]["owner"]["email"], "ben@modeler.example");
    let body = app
        .graphql_as(
            Some(&owner),
            "query ($s: ID) { projects(subscriptionId: $s) { name models { name } environments { name } } }",
            json!({"s": sub}),
        )
        .await;
    assert_eq!(data(&body)["projects"][0]["models"], json!([{"name": "Intake"}]));
    assert_eq!(data(&body)["projects"][0]["environments"].as_array().unwrap().len(), 4);

    // What Ben now holds is what his deactivation must transfer.
    let body = app
        .graphql_as(Some(&owner), "query ($id: ID!) { deactivationPlan(userId: $id) { kind } }", json!({"id": ben}))
        .await;
    let kinds: Vec<&str> =
        data(&body)["deactivationPlan"].as_array().unwrap().iter().map(|r| r["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["MODEL", "SUBSCRIPTION_MEMBERSHIP", "PROJECT_MEMBERSHIP", "MODULE_PERMISSION"]);

    // Removing a member removes them from the subscription's projects; the owner stays.
    let remove = "mutation ($s: ID!, $u: ID!) { removeSubscriptionMember(subscriptionId: $s, userId: $u) }";
    assert_eq!(
        data(&app.graphql_as(Some(&owner), remove, json!({"s": sub, "u": ben})).await)["removeSubscriptionMember"],
        true
    );
    let body = app
        .graphql_as(
            Some(&owner),
            "query ($s: ID) { projects(subscriptionId: $s) { members { user { email } } } }",
            json!({"s": sub}),
        )
        .await;
    assert_eq!(data(&body)["projects"][0]["members"], json!([{"user": {"email": m}}]));
    let body = app.graphql_as(Some(&owner), remove, json!({"s": sub, "u": owner_id})).await;
    assert_eq!(field_of(&body), "userId");
}

async fn another_company_cannot_touch_them(app: TestApp) {
    let owner = app.company_owner("Ours", "owner@ours.example").await;
    let owner_id = viewer_id(&app, &owner).await;
    let input = json!({"product": "Modeler", "plan": "Enterprise", "ownerId": owner_id});
    let body = app.graphql_as(Some(&owner), CREATE_SUBSCRIPTION, json!({"input": input})).await;
    let sub = data(&body)["createServiceSubscription"]["id"].as_str().unwrap().to_owned();
    let body = app
        .graphql_as(
            Some(&owner),
            CREATE_PROJECT,
            json!({"input": {"subscriptionId": sub, "name": "P", "ownerId": owner_id}}),
        )
        .await;
    let project = data(&body)["createProject"]["id"].as_str().unwrap().to_owned();

    let other = app.company_owner("Theirs", "owner@theirs.example").await;
    let other_id = viewer_id(&app, &other).await;
    // Their own owner cannot be made owner of our subscription, nor ours of theirs.
    let body = app
        .graphql_as(
            Some(&other),
            CREATE_SUBSCRIPTION,
            json!({"input": {"product": "X", "plan": "Y", "ownerId": owner_id}}),
        )
        .await;
    assert_eq!(field_of(&body), "ownerId");
    for (query, variables) in [
        (ADD_MEMBER, json!({"s": sub, "u": other_id, "r": "USER"})),
        (
            "mutation ($s: ID!, $u: ID!) { removeSubscriptionMember(subscriptionId: $s, userId: $u) }",
            json!({"s": sub, "u": owner_id}),
        ),
        (CREATE_PROJECT, json!({"input": {"subscriptionId": sub, "name": "Q", "ownerId": other_id}})),
        (
            "mutation ($p: ID!, $u: ID!) { addProjectMember(projectId: $p, userId: $u) { id } }",
            json!({"p": project, "u": other_id}),
        ),
        ("mutation ($p: ID!) { createEnvironment(projectId: $p, name: \"E\") { id } }", json!({"p": project})),
        (
            "mutation ($i: CreateModelInput!) { createModel(input: $i) { id } }",
            json!({"i": {"projectId": project, "name": "M", "ownerId": other_id}}),
        ),
    ] {
        let body = app.graphql_as(Some(&other), query, variables).await;
        assert_eq!(error_code(&body), "NOT_FOUND", "{query}");
    }
    let body = app.graphql_as(Some(&other), "{ serviceSubscriptions { id } projects { id } }", json!({})).await;
    assert_eq!(data(&body), &json!({"serviceSubscriptions": [], "projects": []}));
}

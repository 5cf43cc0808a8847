//! SCIM 2.0 as identity providers speak it (requests shaped like Okta's and Entra ID's), over
//! HTTP: closed until an administrator opens it, a key with USER_MANAGEMENT, the portal's
//! rules for provisioned people, filters, PATCH in its dialects, ETags, DELETE, tenancy.

use crate::common;

use common::{TestApp, data, error_code};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

backend_tests!(
    scim_is_closed_until_an_administrator_opens_it,
    okta_provisions_updates_and_deactivates,
    entra_quirks_are_understood,
    provisioned_people_follow_the_portals_rules,
    versions_guard_against_lost_updates,
    delete_removes_the_person,
    filters_select_in_the_database,
    another_company_is_invisible_over_scim,
    the_scim2_tester_conformance_suite_passes,
    groups_are_sub_accounts,
);

const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";

struct Scim<'a> {
    app: &'a TestApp,
    key: String,
}

struct Answer {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

impl Scim<'_> {
    async fn send(&self, method: Method, path: &str, body: Option<Value>, if_match: Option<&str>) -> Answer {
        let mut request =
            self.app.http.request(method, self.app.url(&format!("/scim/v2{path}"))).bearer_auth(&self.key);
        if let Some(body) = body {
            request = request.header("content-type", "application/scim+json").body(body.to_string());
        }
        if let Some(version) = if_match {
            request = request.header("if-match", version);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        let body =
            if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) };
        if !body.is_null() {
            assert_eq!(headers["content-type"], "application/scim+json", "{status} {body}");
        }
        Answer { status, headers, body }
    }

    async fn get(&self, path: &str) -> Answer {
        self.send(Method::GET, path, None, None).await
    }

    async fn post(&self, path: &str, body: Value) -> Answer {
        self.send(Method::POST, path, Some(body), None).await
    }

    async fn patch(&self, id: &str, operations: Value) -> Answer {
        let body = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": operations});
        self.send(Method::PATCH, &format!("/Users/{id}"), Some(body), None).await
    }
}

/// A company with SCIM on, its owner's session and a provisioning key.
async fn provisioning<'a>(app: &'a TestApp, company: &str) -> (String, Scim<'a>) {
    let domain = company.to_lowercase().replace(' ', "");
    let owner = app.company_owner(company, &format!("owner@{domain}.example")).await;
    let key = scim_key(app, &owner).await;
    let on = "mutation { updateCompanySettings(input: {scimEnabled: true}) { settings { scimEnabled } } }";
    assert_eq!(
        data(&app.graphql_as(Some(&owner), on, json!({})).await)["updateCompanySettings"]["settings"]["scimEnabled"],
        true
    );
    (owner, Scim { app, key })
}

async fn scim_key(app: &TestApp, token: &str) -> String {
    let create = "mutation { createApiKey(input: {name: \"Okta\", modules: [USER_MANAGEMENT]}) { secret } }";
    data(&app.graphql_as(Some(token), create, json!({})).await)["createApiKey"]["secret"].as_str().unwrap().to_owned()
}

async fn owner_id(app: &TestApp, owner: &str) -> String {
    data(&app.graphql_as(Some(owner), "{ viewer { id } }", json!({})).await)["viewer"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn person(user_name: &str, manager_id: &str) -> Value {
    json!({
        "schemas": [USER, ENTERPRISE],
        "userName": user_name,
        "name": {"givenName": "Grace", "familyName": "Hopper"},
        "title": "Engineer",
        "externalId": format!("ext-{user_name}"),
        "active": true,
        "emails": [{"value": user_name, "type": "work", "primary": true}],
        ENTERPRISE: {"manager": {"value": manager_id}},
    })
}

async fn scim_is_closed_until_an_administrator_opens_it(app: TestApp) {
    let owner = app.company_owner("Closed", "owner@closed.example").await;
    let key = scim_key(&app, &owner).await;
    let scim = Scim { app: &app, key: key.clone() };
    let answer = scim.get("/Users").await;
    assert_eq!(answer.status, 403, "{}", answer.body);
    assert_eq!(answer.body["schemas"][0], "urn:ietf:params:scim:api:messages:2.0:Error");
    assert_eq!(answer.body["status"], "403");
    assert!(answer.body["detail"].as_str().unwrap().contains("scimEnabled"));

    let anonymous = app.http.get(app.url("/scim/v2/Users")).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    assert!(anonymous.headers()["www-authenticate"].to_str().unwrap().starts_with("Bearer"));
    let session = Scim { app: &app, key: owner.clone() };
    assert_eq!(session.get("/Users").await.status, 401, "a session is not a provisioning key");
    let reports = "mutation { createApiKey(input: {name: \"r\", modules: [REPORTS]}) { secret } }";
    let reports = data(&app.graphql_as(Some(&owner), reports, json!({})).await)["createApiKey"]["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let on = "mutation { updateCompanySettings(input: {scimEnabled: true}) { id } }";
    let by_key = app.graphql_as(Some(&key), on, json!({})).await;
    assert_eq!(error_code(&by_key), "FORBIDDEN", "a key cannot open SCIM for itself");
    data(&app.graphql_as(Some(&owner), on, json!({})).await);
    assert_eq!(Scim { app: &app, key: reports }.get("/Users").await.status, 403, "USER_MANAGEMENT is needed");
    let answer = scim.get("/Users").await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["totalResults"], 1, "the owner");

    let config = scim.get("/ServiceProviderConfig").await;
    assert_eq!(config.body["patch"]["supported"], true);
    assert_eq!(config.body["etag"]["supported"], true);
    let types = scim.get("/ResourceTypes").await;
    assert_eq!(types.body["Resources"][0]["endpoint"], "/Users");
    let schemas = scim.get("/Schemas").await;
    assert_eq!(schemas.body["Resources"][0]["id"], USER);
    assert_eq!(scim.get(&format!("/Schemas/{ENTERPRISE}")).await.status, 200);
    assert_eq!(scim.get("/Groups/x").await.status, 404);
}

async fn okta_provisions_updates_and_deactivates(app: TestApp) {
    let (owner, scim) = provisioning(&app, "Okta Co").await;
    let manager = owner_id(&app, &owner).await;
    let receiver = common::receiver::Receiver::start().await;
    let (_, signing) = app.webhook_endpoint(&owner, &receiver.url(), &["user.created", "user.deactivated"]).await;
    // Okta asks first whether the person exists.
    let lookup = scim.get("/Users?filter=userName%20eq%20%22grace%40oktaco.example%22").await;
    assert_eq!(lookup.body["totalResults"], 0);
    assert_eq!(lookup.body["Resources"], json!([]));

    let created = scim.post("/Users", person("Grace@OktaCo.example", &manager)).await;
    assert_eq!(created.status, 201, "{}", created.body);
    let id = created.body["id"].as_str().unwrap().to_owned();
    assert_eq!(created.body["userName"], "grace@oktaco.example");
    assert_eq!(created.body["externalId"], "ext-Grace@OktaCo.example");
    assert_eq!(created.body[ENTERPRISE]["manager"]["value"], manager.as_str());
    assert_eq!(created.body["meta"]["resourceType"], "User");
    assert!(created.headers["location"].to_str().unwrap().ends_with(&format!("/scim/v2/Users/{id}")));
    assert_eq!(created.headers["etag"].to_str().unwrap(), created.body["meta"]["version"].as_str().unwrap());

    let again = scim.post("/Users", person("grace@oktaco.example", &manager)).await;
    assert_eq!(again.status, 409);
    assert_eq!(again.body["scimType"], "uniqueness");

    for n in 0..3 {
        let created = scim.post("/Users", person(&format!("p{n}@oktaco.example"), &manager)).await;
        assert_eq!(created.status, 201, "{}", created.body);
    }
    let page = scim.get("/Users?startIndex=1&count=2").await;
    assert_eq!(page.body["totalResults"], 5);
    assert_eq!(page.body["itemsPerPage"], 2);
    assert_eq!(page.body["startIndex"], 1);
    let rest = scim.get("/Users?startIndex=5&count=2").await;
    assert_eq!(rest.body["itemsPerPage"], 1);

    // A full PUT with a new title, then deactivation as Okta does it.
    let mut full = person("grace@oktaco.example", &manager);
    full["title"] = json!("Rear Admiral");
    let put = scim.send(Method::PUT, &format!("/Users/{id}"), Some(full.clone()), None).await;
    assert_eq!(put.status, 200, "{}", put.body);
    assert_eq!(put.body["title"], "Rear Admiral");
    full["active"] = json!(false);
    let off = scim.send(Method::PUT, &format!("/Users/{id}"), Some(full.clone()), None).await;
    assert_eq!(off.body["active"], false, "{}", off.body);
    let status = "query ($id: ID!) { user(id: $id) { status jobTitle externalId } }";
    let seen = app.graphql_as(Some(&owner), status, json!({"id": id})).await;
    // The PUT's externalId (spelt as Okta sent it this time) replaced the first one.
    assert_eq!(
        data(&seen)["user"],
        json!({"status": "INACTIVE", "jobTitle": "Rear Admiral", "externalId": "ext-grace@oktaco.example"})
    );
    full["active"] = json!(true);
    let on = scim.send(Method::PUT, &format!("/Users/{id}"), Some(full), None).await;
    assert_eq!(on.body["active"], true);

    // Webhook consumers hear of it as of any other change: four creations, one deactivation.
    let mut heard = Vec::new();
    for n in 1..=5 {
        let request = receiver.nth(n).await;
        assert!(common::receiver::verifies(&signing, &request));
        let event: Value = serde_json::from_slice(&request.body).unwrap();
        heard.push((event["type"].as_str().unwrap().to_owned(), event["data"]["userId"].as_str().unwrap().to_owned()));
    }
    assert!(heard.contains(&("user.created".into(), id.clone())), "{heard:?}");
    assert!(heard.contains(&("user.deactivated".into(), id.clone())), "{heard:?}");

    // The audit trail names the key.
    let trail = "{ auditEvents(first: 50) { edges { node { action actor { email } actorApiKey { name } } } } }";
    let body = app.graphql_as(Some(&owner), trail, json!({})).await;
    let created_by_key = data(&body)["auditEvents"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["node"]["action"] == "user.created")
        .all(|e| e["node"]["actorApiKey"]["name"] == "Okta" && e["node"]["actor"].is_null());
    assert!(created_by_key, "{body}");
}

async fn entra_quirks_are_understood(app: TestApp) {
    let (owner, scim) = provisioning(&app, "Entra Co").await;
    let manager = owner_id(&app, &owner).await;
    let id = scim.post("/Users", person("ada@entraco.example", &manager)).await.body["id"].as_str().unwrap().to_owned();
    let lookup = scim.get("/Users?filter=externalId%20eq%20%22ext-ada%40entraco.example%22").await;
    assert_eq!(lookup.body["totalResults"], 1, "{}", lookup.body);
    let case_exact = scim.get("/Users?filter=externalId%20eq%20%22EXT-ADA%40ENTRACO.EXAMPLE%22").await;
    assert_eq!(case_exact.body["totalResults"], 0, "externalId is case-exact");

    // `Replace` capitalised, no path, dotted keys, "False" as a string.
    let answer =
        scim.patch(&id, json!([{"op": "Replace", "value": {"name.givenName": "Augusta", "active": "False"}}])).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["name"]["givenName"], "Augusta");
    assert_eq!(answer.body["name"]["familyName"], "Hopper", "the other sub-attribute stays");
    assert_eq!(answer.body["active"], false);
    let answer = scim.patch(&id, json!([{"op": "replace", "path": "active", "value": "True"}])).await;
    assert_eq!(answer.body["active"], true);
    // A value-filtered path, and the manager by the extension's URN path.
    let answer = scim
        .patch(
            &id,
            json!([{"op": "replace", "path": "emails[type eq \"work\"].value", "value": "augusta@entraco.example"}]),
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let other =
        scim.post("/Users", person("charles@entraco.example", &manager)).await.body["id"].as_str().unwrap().to_owned();
    let answer = scim.patch(&id, json!([{"op": "add", "path": format!("{ENTERPRISE}:manager"), "value": other}])).await;
    assert_eq!(answer.body[ENTERPRISE]["manager"]["value"], other.as_str(), "{}", answer.body);
    let answer = scim
        .patch(
            &id,
            json!([{"op": "replace", "path": "title", "value": "Countess"}, {"op": "remove", "path": "externalId"}]),
        )
        .await;
    assert_eq!(answer.body["title"], "Countess");
    assert!(answer.body.get("externalId").is_none(), "{}", answer.body);
    // Entra clears an attribute with an empty replace, never with a remove.
    let tagged = scim.patch(&id, json!([{"op": "Replace", "path": "externalId", "value": "ext-again"}])).await;
    assert_eq!(tagged.body["externalId"], "ext-again");
    let cleared = scim.patch(&id, json!([{"op": "Replace", "path": "externalId", "value": ""}])).await;
    assert!(cleared.body.get("externalId").is_none(), "{}", cleared.body);
    let placed = scim
        .patch(&id, json!([{"op": "Replace", "path": "addresses", "value": [{"type": "work", "country": "CO"}]}]))
        .await;
    assert_eq!(placed.body["addresses"][0]["country"], "CO", "{}", placed.body);
    let unplaced =
        scim.patch(&id, json!([{"op": "Replace", "path": "addresses[type eq \"work\"].country", "value": ""}])).await;
    assert!(unplaced.body.get("addresses").is_none(), "{}", unplaced.body);
    let bad =
        scim.patch(&id, json!([{"op": "replace", "path": "emails[type eq \"home\"].value", "value": "x@y.z"}])).await;
    assert_eq!((bad.status.as_u16(), bad.body["scimType"].as_str()), (400, Some("noTarget")));
    let bad = scim.patch(&id, json!([{"op": "remove", "path": "title"}])).await;
    assert_eq!(bad.body["scimType"], "mutability", "{}", bad.body);

    // A userName that is not an address (a login, a UPN) is kept; the address comes from emails.
    let mut upn = person("CORP\\ada", &manager);
    upn["emails"] = json!([{"value": "ada.l@entraco.example", "type": "work", "primary": true}]);
    upn["externalId"] = json!("ext-upn");
    let created = scim.post("/Users", upn).await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.body["userName"], "CORP\\ada");
    assert_eq!(created.body["emails"][0]["value"], "ada.l@entraco.example");
    let found = scim.get("/Users?filter=userName%20eq%20%22corp%5C%5Cada%22").await;
    assert_eq!(found.body["totalResults"], 1, "{}", found.body);
    let nowhere =
        scim.post("/Users", json!({"userName": "no-address", "name": {"givenName": "N", "familyName": "A"}})).await;
    assert!(nowhere.body["detail"].as_str().unwrap().contains("no emails[].value"), "{}", nowhere.body);
}

async fn provisioned_people_follow_the_portals_rules(app: TestApp) {
    let (owner, scim) = provisioning(&app, "Rules Co").await;
    let bare =
        json!({"schemas": [USER], "userName": "new@rulesco.example", "name": {"givenName": "N", "familyName": "Ew"}});
    let answer = scim.post("/Users", bare.clone()).await;
    assert_eq!(answer.status, 400);
    assert_eq!(answer.body["scimType"], "invalidValue");
    let detail = answer.body["detail"].as_str().unwrap();
    assert!(detail.contains("title") && detail.contains("manager"), "{detail}");
    let nameless = json!({"schemas": [USER], "userName": "x@rulesco.example", "title": "T",
                          ENTERPRISE: {"manager": {"value": owner_id(&app, &owner).await}}});
    let answer = scim.post("/Users", nameless).await;
    assert!(answer.body["detail"].as_str().unwrap().contains("name.givenName: is required"), "{}", answer.body);
    let bad_address = scim.post("/Users", json!({"userName": "not an address", "title": "T"})).await;
    assert_eq!(bad_address.status, 400);
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM users WHERE email LIKE '%rulesco%' AND role = 'USER'").await, 0);

    // With the company's defaults, the bare person is created, and gets no welcome email…
    let defaults = "mutation { updateCompanySettings(input: {scimDefaultJobTitle: \"Staff\", scimDefaultManagerEmail: \"owner@rulesco.example\"}) { settings { scimDefaultJobTitle scimDefaultManagerEmail scimWelcomeEmail } } }";
    let settings = app.graphql_as(Some(&owner), defaults, json!({})).await;
    assert_eq!(data(&settings)["updateCompanySettings"]["settings"]["scimWelcomeEmail"], false);
    let answer = scim.post("/Users", bare).await;
    assert_eq!(answer.status, 201, "{}", answer.body);
    assert_eq!(answer.body["title"], "Staff");
    assert_eq!(
        answer.body[ENTERPRISE]["manager"]["value"],
        owner_id(&app, &owner).await.as_str(),
        "the default manager"
    );
    // …unless the company asks for one.
    let welcome = "mutation { updateCompanySettings(input: {scimWelcomeEmail: true}) { id } }";
    data(&app.graphql_as(Some(&owner), welcome, json!({})).await);
    let greeted = json!({"userName": "greeted@rulesco.example", "name": {"givenName": "G", "familyName": "R"}});
    assert_eq!(scim.post("/Users", greeted).await.status, 201);
    app.settle().await;
    assert_eq!(app.deliveries_to("new@rulesco.example").await, 0);
    assert_eq!(app.deliveries_to("greeted@rulesco.example").await, 1);
    let unknown =
        "mutation { updateCompanySettings(input: {scimDefaultManagerEmail: \"ghost@rulesco.example\"}) { id } }";
    assert_eq!(error_code(&app.graphql_as(Some(&owner), unknown, json!({})).await), "VALIDATION_FAILED");

    // A person holding something is not deactivated until it is transferred; the owner not at all.
    let id = scim.get("/Users?filter=userName%20eq%20%22new%40rulesco.example%22").await.body["Resources"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let sub =
        "mutation ($o: ID!) { createServiceSubscription(input: {product: \"P\", plan: \"Q\", ownerId: $o}) { id } }";
    data(&app.graphql_as(Some(&owner), sub, json!({"o": id})).await);
    let answer = scim.patch(&id, json!([{"op": "replace", "path": "active", "value": false}])).await;
    assert_eq!(
        (answer.status.as_u16(), answer.body["scimType"].as_str()),
        (409, Some("mutability")),
        "{}",
        answer.body
    );
    let owner_scim_id = owner_id(&app, &owner).await;
    let answer = scim.patch(&owner_scim_id, json!([{"op": "replace", "path": "title", "value": "Pawn"}])).await;
    assert_eq!(answer.status, 403, "a key never changes the owner: {}", answer.body);
}

async fn versions_guard_against_lost_updates(app: TestApp) {
    let (owner, scim) = provisioning(&app, "Etag Co").await;
    let created = scim.post("/Users", person("e@etagco.example", &owner_id(&app, &owner).await)).await;
    let id = created.body["id"].as_str().unwrap().to_owned();
    let version = created.headers["etag"].to_str().unwrap().to_owned();
    let mut body = created.body.clone();
    body["title"] = json!("First");
    let first = scim.send(Method::PUT, &format!("/Users/{id}"), Some(body.clone()), Some(&version)).await;
    assert_eq!(first.status, 200, "{}", first.body);
    app.clock.advance(chrono::Duration::seconds(1));
    body["title"] = json!("Second");
    let stale = scim.send(Method::PUT, &format!("/Users/{id}"), Some(body), Some(&version)).await;
    assert_eq!(stale.status, 412, "{}", stale.body);
    assert_eq!(scim.get(&format!("/Users/{id}")).await.body["title"], "First");
    let gone = scim.send(Method::DELETE, &format!("/Users/{id}"), None, Some(&version)).await;
    assert_eq!(gone.status, 412);
}

async fn delete_removes_the_person(app: TestApp) {
    let (owner, scim) = provisioning(&app, "Gone Co").await;
    let id = scim.post("/Users", person("leaving@goneco.example", &owner_id(&app, &owner).await)).await.body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let answer = scim.send(Method::DELETE, &format!("/Users/{id}"), None, None).await;
    assert_eq!(answer.status, 204, "{}", answer.body);
    assert_eq!(scim.get(&format!("/Users/{id}")).await.status, 404);
    assert_eq!(scim.send(Method::DELETE, &format!("/Users/{id}"), None, None).await.status, 404);
    let seen =
        app.graphql_as(Some(&owner), "query ($id: ID!) { user(id: $id) { status email } }", json!({"id": id})).await;
    assert_eq!(data(&seen)["user"]["status"], "ANONYMIZED");
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM users WHERE email = 'leaving@goneco.example'").await, 0);
    assert_eq!(scim.get("/Users?filter=userName%20eq%20%22leaving%40goneco.example%22").await.body["totalResults"], 0);
}

async fn filters_select_in_the_database(app: TestApp) {
    let (owner, scim) = provisioning(&app, "Filter Co").await;
    let manager = owner_id(&app, &owner).await;
    for (given, family, title) in [("Ana", "Lopez", "Sales 100%"), ("Bob", "Lee", "Sales_lead"), ("Cy", "Ng", "Ops")] {
        let mut body = person(&format!("{}@filterco.example", given.to_lowercase()), &manager);
        body["name"] = json!({"givenName": given, "familyName": family});
        body["title"] = json!(title);
        assert_eq!(scim.post("/Users", body).await.status, 201);
    }
    let names = |answer: &Answer| -> Vec<String> {
        let mut names: Vec<String> = answer.body["Resources"]
            .as_array()
            .unwrap_or_else(|| panic!("{}", answer.body))
            .iter()
            .map(|r| r["userName"].as_str().unwrap().to_owned())
            .collect();
        names.sort();
        names
    };
    let query = |filter: &str| format!("/Users?filter={}", urlencode(filter));
    let cases: [(&str, &[&str]); 9] = [
        (r#"name.familyName sw "L""#, &["ana@filterco.example", "bob@filterco.example"]),
        (r#"title co "100%""#, &["ana@filterco.example"]),
        (r#"title co "s_l""#, &["bob@filterco.example"]),
        (
            r#"userName ew "@filterco.example" and not (title eq "ops")"#,
            &["ana@filterco.example", "bob@filterco.example"],
        ),
        (r#"name.givenName eq "cy" or name.givenName eq "ANA""#, &["ana@filterco.example", "cy@filterco.example"]),
        (r#"emails[type eq "work" and value sw "b"]"#, &["bob@filterco.example"]),
        (
            r#"active eq true and title pr and meta.created gt "2000-01-01T00:00:00Z" and userName ne "owner@filterco.example""#,
            &["ana@filterco.example", "bob@filterco.example", "cy@filterco.example"],
        ),
        (r#"urn:ietf:params:scim:schemas:core:2.0:User:userName eq "CY@filterco.example""#, &["cy@filterco.example"]),
        (r#"id eq "not-a-uuid""#, &[]),
    ];
    for (filter, expected) in cases {
        let answer = scim.get(&query(filter)).await;
        assert_eq!(answer.status, 200, "{filter}: {}", answer.body);
        assert_eq!(names(&answer), expected, "{filter}");
    }
    for bad in ["title", "nickName eq \"x\"", "active eq \"yes\"", "((((title pr"] {
        let answer = scim.get(&query(bad)).await;
        assert_eq!(
            (answer.status.as_u16(), answer.body["scimType"].as_str()),
            (400, Some("invalidFilter")),
            "{bad}: {}",
            answer.body
        );
    }
    let projected = scim.get(&format!("{}&attributes=userName", query(r#"userName eq "ana@filterco.example""#))).await;
    let resource = &projected.body["Resources"][0];
    assert!(
        resource["userName"].is_string() && resource["id"].is_string() && resource.get("title").is_none(),
        "{resource}"
    );
    let excluded =
        scim.get(&format!("{}&excludedAttributes=emails", query(r#"userName eq "ana@filterco.example""#))).await;
    assert!(excluded.body["Resources"][0].get("emails").is_none());
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

async fn another_company_is_invisible_over_scim(app: TestApp) {
    let (victim_owner, victim) = provisioning(&app, "Victim Co").await;
    let victim_manager = owner_id(&app, &victim_owner).await;
    let target = victim.post("/Users", person("target@victimco.example", &victim_manager)).await.body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (attacker_owner, attacker) = provisioning(&app, "Attacker Co").await;
    assert_eq!(attacker.get(&format!("/Users/{target}")).await.status, 404);
    assert_eq!(
        attacker.patch(&target, json!([{"op": "replace", "path": "title", "value": "owned"}])).await.status,
        404
    );
    assert_eq!(attacker.send(Method::DELETE, &format!("/Users/{target}"), None, None).await.status, 404);
    let listed = attacker.get("/Users?filter=userName%20co%20%22victim%22").await;
    assert_eq!(listed.body["totalResults"], 0);
    let all = attacker.get("/Users").await;
    assert!(!all.body.to_string().contains("victimco"), "{}", all.body);
    // Naming the victim's people as a manager finds nobody.
    let answer = attacker.post("/Users", person("mole@attackerco.example", &victim_manager)).await;
    assert_eq!(answer.status, 400, "{}", answer.body);
    let _ = attacker_owner;
    let unchanged = victim.get(&format!("/Users/{target}")).await;
    assert_eq!(unchanged.body["title"], "Engineer");
}

/// python-scim's scim2-tester (RFC 7643/7644 checks: discovery, create, read, query
/// attributes, replace, PATCH add/replace/remove of every attribute, delete) against the
/// server, with the company defaults that let its generated people meet the portal's rules.
async fn the_scim2_tester_conformance_suite_passes(app: TestApp) {
    let (owner, scim) = provisioning(&app, "Tester Co").await;
    let defaults = "mutation { updateCompanySettings(input: {scimDefaultJobTitle: \"Tested\", scimDefaultManagerEmail: \"owner@testerco.example\"}) { id } }";
    data(&app.graphql_as(Some(&owner), defaults, json!({})).await);
    let base = app.url("/scim/v2");
    let Some(report) = common::python::run("conformance.py", &[&base, &scim.key]).await else { return };
    // Written past the test harness's capture, so CI's log shows the summary of a passing run.
    use std::io::Write;
    let mut log = std::io::stderr().lock();
    let database = if matches!(app.backend, common::Backend::Sqlite) { "SQLite" } else { "PostgreSQL" };
    writeln!(log, "scim2-tester ({database}): {}", report["counts"]).unwrap();
    for problem in report["problems"].as_array().unwrap() {
        let reason: String = problem["reason"].as_str().unwrap_or_default().chars().take(160).collect();
        writeln!(log, "  {} {} {}: {reason}", problem["resource"], problem["title"], problem["status"]).unwrap();
    }
    // Where the portal answers differently on purpose (each refusal is a SCIM `mutability`
    // error naming why); anything else the tester reports fails this test.
    let decided: [(&str, &str, &str); 3] = [
        ("PATCH modify", "'addresses'", "every address is the person's work address: type is the portal's (\"work\")"),
        (
            "PATCH modify",
            "'emails'",
            "the one address is the person's work address and primary: type and primary are the portal's",
        ),
        (
            "Failed to remove attribute",
            "cannot be removed",
            "a status, a locale and a manager are kept for every person",
        ),
    ];
    let problems = report["problems"].as_array().unwrap();
    let unexpected: Vec<&Value> = problems
        .iter()
        .filter(|p| {
            let reason = p["reason"].as_str().unwrap_or_default();
            !decided.iter().any(|(start, names, _)| reason.starts_with(start) && reason.contains(names))
        })
        .collect();
    for (_, names, why) in decided {
        writeln!(log, "  decided ({names}): {why}").unwrap();
    }
    drop(log); // before any assertion, whose panic message goes to stderr too
    let passed = report["counts"]["SUCCESS"].as_u64().unwrap_or(0);
    assert!(passed >= 69, "scim2-tester passed only {passed}: {report}");
    assert!(unexpected.is_empty(), "scim2-tester found {} unexpected problems: {unexpected:?}", unexpected.len());
}

async fn groups_are_sub_accounts(app: TestApp) {
    let (owner, scim) = provisioning(&app, "Group Co").await;
    let manager = owner_id(&app, &owner).await;
    let ann =
        scim.post("/Users", person("ann@groupco.example", &manager)).await.body["id"].as_str().unwrap().to_owned();
    let ben =
        scim.post("/Users", person("ben@groupco.example", &manager)).await.body["id"].as_str().unwrap().to_owned();
    let created = scim
        .post(
            "/Groups",
            json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Sales",
                                "members": [{"value": ann}]}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let group = created.body["id"].as_str().unwrap().to_owned();
    let limits = "query ($id: ID!) { user(id: $id) { subAccounts { name } } }";
    let seen = app.graphql_as(Some(&owner), limits, json!({"id": ann})).await;
    assert_eq!(data(&seen)["user"]["subAccounts"], json!([{"name": "Sales"}]), "members are the people limited to it");
    let found = scim.get("/Groups?filter=displayName%20eq%20%22sales%22").await;
    assert_eq!(found.body["totalResults"], 1, "{}", found.body);
    let by_member = scim.get(&format!("/Groups?filter=members%5Bvalue%20eq%20%22{ben}%22%5D")).await;
    assert_eq!(by_member.body["totalResults"], 0);

    // Entra adds and removes members by value lists, and renames with a path-less replace.
    let path = format!("/Groups/{group}");
    let ops = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [
        {"op": "Add", "path": "members", "value": [{"value": ben}]},
        {"op": "Remove", "path": "members", "value": [{"value": ann}]},
        {"op": "Replace", "value": {"displayName": "Sales EU"}},
    ]});
    let patched = scim.send(Method::PATCH, &path, Some(ops), None).await;
    assert_eq!(patched.status, 200, "{}", patched.body);
    assert_eq!(patched.body["displayName"], "Sales EU");
    assert_eq!(patched.body["members"].as_array().unwrap().len(), 1);
    assert_eq!(patched.body["members"][0]["value"], ben.as_str());
    let tagged = json!({"Operations": [{"op": "add", "path": "externalId", "value": "grp-1"}]});
    let answer = scim.send(Method::PATCH, &path, Some(tagged), None).await;
    assert_eq!(answer.body["externalId"], "grp-1", "{}", answer.body);
    let untagged = json!({"Operations": [{"op": "remove", "path": "externalId"}]});
    let answer = scim.send(Method::PATCH, &path, Some(untagged), None).await;
    assert!(answer.body.get("externalId").is_none(), "{}", answer.body);
    let seen = app.graphql_as(Some(&owner), limits, json!({"id": ann})).await;
    assert_eq!(data(&seen)["user"]["subAccounts"], json!([]));

    // Nobody outside the company, and no administrator, is made a member by a key.
    let other = app.company_owner("Other Group Co", "owner@othergroupco.example").await;
    let stranger = owner_id(&app, &other).await;
    let add = |who: &str| json!({"Operations": [{"op": "add", "path": "members", "value": [{"value": who}]}]});
    let answer = scim.send(Method::PATCH, &path, Some(add(&stranger)), None).await;
    assert_eq!(answer.status, 400, "{}", answer.body);
    let answer = scim.send(Method::PATCH, &path, Some(add(&manager)), None).await;
    assert_eq!(answer.status, 403, "the owner's limits are not a key's to change: {}", answer.body);

    // A group with members is not deleted (they would see the whole company); empty, it is.
    let refused = scim.send(Method::DELETE, &path, None, None).await;
    assert_eq!(
        (refused.status.as_u16(), refused.body["scimType"].as_str()),
        (409, Some("mutability")),
        "{}",
        refused.body
    );
    let emptied = json!({"Operations": [{"op": "remove", "path": "members"}]});
    assert_eq!(scim.send(Method::PATCH, &path, Some(emptied), None).await.status, 200);
    assert_eq!(scim.send(Method::DELETE, &path, None, None).await.status, 204);
    assert_eq!(scim.get(&path).await.status, 404);
    let other_key = Scim { app: &app, key: scim_key(&app, &other).await };
    let on = "mutation { updateCompanySettings(input: {scimEnabled: true}) { id } }";
    data(&app.graphql_as(Some(&other), on, json!({})).await);
    let sales = scim.post("/Groups", json!({"displayName": "Kept"})).await.body["id"].as_str().unwrap().to_owned();
    assert_eq!(other_key.get(&format!("/Groups/{sales}")).await.status, 404);
    assert_eq!(other_key.get("/Groups").await.body["totalResults"], 0);
}

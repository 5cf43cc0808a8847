//! The role walker: every root operation of the served schema, called by each kind of caller
//! (anonymous, a temporary password, owner, administrator, users with each module, operator,
//! support agent), against what `graphql/access.rs` declares. A caller the table refuses gets
//! UNAUTHENTICATED or FORBIDDEN with the table's reason; a caller it admits never gets one of
//! the table's refusals (the resolver may still refuse for a row rule, with its own reason).

use crate::common;

use common::schema_walk::{INTROSPECTION, SKIPPED, Schema};
use common::{TestApp, data};
use portal::domain::principal::{Access, Actor, Principal, Reach};
use portal::domain::{Module, Role};
use portal::graphql::access::{Requirement, requirement};
use sea_orm::Iterable;
use serde_json::json;
use uuid::Uuid;

backend_tests!(every_caller_meets_the_access_table);

struct Caller {
    name: String,
    token: Option<String>,
    /// Who the server should take them for: what the table is judged against.
    principal: Option<Principal>,
}

fn principal(role: Role, modules: Vec<Module>, must_change_password: bool) -> Principal {
    let modules = if role.is_company_admin() { Module::iter().collect() } else { modules };
    Principal {
        actor: Actor::Person { user_id: portal::types::UserId(Uuid::nil()), session_id: Uuid::nil() },
        company_id: (!role.is_platform_staff()).then(|| portal::types::CompanyId(Uuid::nil())),
        role,
        modules,
        must_change_password,
        reach: Reach::WholeCompany,
    }
}

/// Every refusal the table can give this principal, whatever the operation.
fn table_refusals(principal: &Principal) -> Vec<String> {
    let mut every = vec![
        Access::SignedInEvenWithTemporaryPassword,
        Access::PersonEvenWithTemporaryPassword,
        Access::CompanyMember,
        Access::CompanyPerson,
        Access::CompanyAdmin,
        Access::CompanyOwner,
        Access::Operator,
        Access::SupportAgent,
        Access::AnyAdministrator,
        Access::OperatorOrCompanyOwner,
        Access::SupportModuleOrAgent,
    ];
    every.extend(Module::iter().flat_map(|m| [Access::Module(m), Access::ModuleOrOperator(m)]));
    every.into_iter().filter_map(|access| principal.authorize(access).err()).map(|e| e.to_string()).collect()
}

async fn user_with(app: &TestApp, owner: &str, email: &str, modules: &[String]) -> String {
    let input = json!({"input": {"givenName": "Role", "surname": "Walker", "email": email, "jobTitle": "Analyst",
                                 "managerEmail": "owner@roles.example"}});
    let create = "mutation ($input: CreateUserInput!) { createUser(input: $input) { id } }";
    let id = data(&app.graphql_as(Some(owner), create, input).await)["createUser"]["id"].clone();
    let grant = "mutation ($id: ID!, $m: [Module!]!) { setUserPermissions(userId: $id, modules: $m) { id } }";
    data(&app.graphql_as(Some(owner), grant, json!({"id": id, "m": modules})).await);
    app.activate(email).await
}

async fn callers(app: &TestApp) -> Vec<Caller> {
    let owner = app.company_owner("Roles", "owner@roles.example").await;
    let (temporary, _) = app.provisioned_owner("Fresh", "owner@fresh.example").await;
    let input = json!({"input": {"givenName": "Ad", "surname": "Min", "email": "admin@roles.example",
                                 "jobTitle": "IT", "managerEmail": "owner@roles.example"}});
    let create = "mutation ($input: CreateUserInput!) { createUser(input: $input) { id } }";
    let admin_id = data(&app.graphql_as(Some(&owner), create, input).await)["createUser"]["id"].clone();
    let promote = "mutation ($id: ID!) { addCompanyAdmin(userId: $id) { id } }";
    data(&app.graphql_as(Some(&owner), promote, json!({"id": admin_id})).await);
    let admin = app.activate("admin@roles.example").await;
    let mut callers = vec![
        Caller { name: "anonymous".into(), token: None, principal: None },
        Caller {
            name: "owner with a temporary password".into(),
            token: Some(temporary),
            principal: Some(principal(Role::Owner, vec![], true)),
        },
        Caller {
            name: "owner".into(),
            token: Some(owner.clone()),
            principal: Some(principal(Role::Owner, vec![], false)),
        },
        Caller {
            name: "administrator".into(),
            token: Some(admin),
            principal: Some(principal(Role::Admin, vec![], false)),
        },
        Caller {
            name: "operator".into(),
            token: Some(app.operator_token().await),
            principal: Some(principal(Role::Operator, vec![], false)),
        },
        Caller {
            name: "support agent".into(),
            token: Some(app.support_agent().await),
            principal: Some(principal(Role::SupportAgent, vec![], false)),
        },
    ];
    let granted: [(&str, Vec<Module>); 5] = [
        ("none", vec![]),
        ("PROJECTS", vec![Module::Projects]),
        ("SUBSCRIPTIONS", vec![Module::Subscriptions]),
        ("SUPPORT", vec![Module::Support]),
        ("REPORTS", vec![Module::Reports]),
    ];
    for (label, modules) in granted {
        let codes: Vec<String> = modules.iter().map(|m| m.code()).collect();
        let email = format!("user-{}@roles.example", label.to_lowercase());
        let token = user_with(app, &owner, &email, &codes).await;
        if label == "REPORTS" {
            callers.push(api_key_caller(app, &token, "a user's REPORTS key", vec![Module::Reports]).await);
        }
        callers.push(Caller {
            name: format!("user with {label}"),
            token: Some(token),
            principal: Some(principal(Role::User, modules, false)),
        });
    }
    callers.push(api_key_caller(app, &owner, "the owner's key with every module", Module::iter().collect()).await);
    callers
}

/// An API key made by `creator`: the table judges it as a key (no person, never an
/// administrator) holding `modules`.
async fn api_key_caller(app: &TestApp, creator: &str, name: &str, modules: Vec<Module>) -> Caller {
    let create = "mutation ($n: String!, $m: [Module!]!) { createApiKey(input: {name: $n, modules: $m}) { secret } }";
    let codes: Vec<String> = modules.iter().map(|m| m.code()).collect();
    let body = app.graphql_as(Some(creator), create, json!({"n": name, "m": codes})).await;
    let secret = data(&body)["createApiKey"]["secret"].as_str().unwrap().to_owned();
    let principal = Principal {
        actor: Actor::ApiKey { key_id: portal::types::ApiKeyId(Uuid::nil()) },
        company_id: Some(portal::types::CompanyId(Uuid::nil())),
        role: Role::User,
        modules,
        must_change_password: false,
        reach: Reach::WholeCompany,
    };
    Caller { name: name.into(), token: Some(secret), principal: Some(principal) }
}

async fn every_caller_meets_the_access_table(app: TestApp) {
    let callers = callers(&app).await;
    assert_eq!(callers.len(), 13);
    let schema = Schema::from_introspection(&app.graphql(INTROSPECTION, json!({})).await);
    let nil = Uuid::nil().to_string();
    let mut checks = 0;
    for (root, keyword) in [("Query", "query"), ("Mutation", "mutation")] {
        for field in schema.types[root]["fields"].as_array().unwrap() {
            let name = field["name"].as_str().unwrap();
            let Some(Requirement::Signed(access)) = requirement(name) else { continue }; // public
            if SKIPPED.contains(&name) {
                continue;
            }
            let literals: Option<Vec<String>> = field["args"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| {
                    let arg = a["name"].as_str().unwrap();
                    Some(format!("{arg}: {}", schema.literal(arg, &a["type"], &|_: &str| nil.clone())?))
                })
                .collect();
            let Some(literals) = literals else { continue }; // takes an Upload (checked in import tests)
            let arguments = if literals.is_empty() { String::new() } else { format!("({})", literals.join(", ")) };
            let query = format!("{keyword} {{ {name}{arguments} {} }}", schema.selection(&field["type"], 0));
            for caller in &callers {
                let body = app.graphql_as(caller.token.as_deref(), &query, json!({})).await;
                checks += 1;
                let error = body["errors"].as_array().and_then(|errors| {
                    errors.iter().find(|e| e["path"].as_array().is_some_and(|p| p.len() == 1)).or(errors.first())
                });
                // A nested field's own refusal (User.modules for an operator) is the field table's
                // business, not the root's.
                let at_root = error.is_some_and(|e| e["path"].as_array().is_none_or(|p| p.len() == 1));
                let code = error.map(|e| e["extensions"]["code"].as_str().unwrap_or("").to_owned());
                let message = error.map(|e| e["message"].as_str().unwrap_or("").to_owned());
                let Some(principal) = &caller.principal else {
                    if access != Access::SignedInEvenWithTemporaryPassword {
                        assert_eq!(code.as_deref(), Some("UNAUTHENTICATED"), "{}: {query}: {body}", caller.name);
                    }
                    continue;
                };
                match principal.authorize(access) {
                    Err(refusal) => {
                        assert_eq!(code.as_deref(), Some("FORBIDDEN"), "{} may not: {query}: {body}", caller.name);
                        assert_eq!(message, Some(refusal.to_string()), "{}: {query}", caller.name);
                    }
                    Ok(()) => {
                        assert_ne!(code.as_deref(), Some("UNAUTHENTICATED"), "{}: {query}: {body}", caller.name);
                        let refusals = table_refusals(principal);
                        let refused_by_table = at_root
                            && code.as_deref() == Some("FORBIDDEN")
                            && message.as_ref().is_some_and(|m| refusals.contains(m));
                        assert!(!refused_by_table, "{} may {name} by the table, yet: {body}", caller.name);
                    }
                }
            }
        }
    }
    assert!(checks > 600, "{checks} checks");
    eprintln!("role walk: {checks} calls");
}

/// The walk above judges the server against the table; this keeps the table honest about the
/// rules the seeds state, for a few operations that matter most.
#[test]
fn the_table_states_the_seed_rules() {
    let signed = |op: &str| match requirement(op) {
        Some(Requirement::Signed(access)) => access,
        other => panic!("{op}: {other:?}"),
    };
    assert_eq!(signed("addCompanyAdmin"), Access::CompanyOwner, "only the owner makes administrators");
    assert_eq!(signed("removeCompanyAdmin"), Access::CompanyOwner);
    assert_eq!(signed("confirmSupportTicket"), Access::SupportAgent, "support agents confirm");
    assert_eq!(signed("provisionCompany"), Access::Operator);
    assert_eq!(signed("createUser"), Access::Module(Module::UserManagement), "every mutation checks its module");
    assert_eq!(requirement("login"), Some(Requirement::Public));
}

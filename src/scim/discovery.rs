//! What the service provider supports (RFC 7643 §5–7): the endpoints an identity provider
//! reads before it provisions. They describe; they need no key.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use super::filter::ENTERPRISE_USER;
use super::listing::MAX_COUNT;
use super::{LIST_SCHEMA, ScimError, scim_json};
use crate::domain::Services;

const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const ENTERPRISE_SCHEMA: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";

pub async fn service_provider_config(State(services): State<Services>) -> Response {
    scim_json(
        StatusCode::OK,
        &json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
            "documentationUri": services.link("/"),
            "patch": {"supported": true},
            "bulk": {"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
            "filter": {"supported": true, "maxResults": MAX_COUNT},
            "changePassword": {"supported": false},
            "sort": {"supported": false},
            "etag": {"supported": true},
            "authenticationSchemes": [{
                "type": "oauthbearertoken",
                "name": "API key",
                "description": "A company API key holding USER_MANAGEMENT (createApiKey), as `Authorization: Bearer pk_live_…`",
                "primary": true,
            }],
            "meta": {"resourceType": "ServiceProviderConfig", "location": services.link("/scim/v2/ServiceProviderConfig")},
        }),
    )
}

fn user_resource_type(services: &Services) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
        "id": "User",
        "name": "User",
        "endpoint": "/Users",
        "description": "A person of the company",
        "schema": USER_SCHEMA,
        "schemaExtensions": [{"schema": ENTERPRISE_SCHEMA, "required": false}],
        "meta": {"resourceType": "ResourceType", "location": services.link("/scim/v2/ResourceTypes/User")},
    })
}

fn group_resource_type(services: &Services) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
        "id": "Group",
        "name": "Group",
        "endpoint": "/Groups",
        "description": "A sub-account of the company; its members are the people limited to it",
        "schema": GROUP_SCHEMA,
        "meta": {"resourceType": "ResourceType", "location": services.link("/scim/v2/ResourceTypes/Group")},
    })
}

pub async fn resource_types(State(services): State<Services>) -> Response {
    let resources = vec![user_resource_type(&services), group_resource_type(&services)];
    scim_json(StatusCode::OK, &list(resources))
}

pub async fn resource_type(State(services): State<Services>, Path(name): Path<String>) -> Result<Response, ScimError> {
    match name.as_str() {
        "User" => Ok(scim_json(StatusCode::OK, &user_resource_type(&services))),
        "Group" => Ok(scim_json(StatusCode::OK, &group_resource_type(&services))),
        _ => Err(ScimError::new(StatusCode::NOT_FOUND, None, "no such resource type")),
    }
}

fn list(resources: Vec<Value>) -> Value {
    json!({"schemas": [LIST_SCHEMA], "totalResults": resources.len(), "startIndex": 1, "itemsPerPage": resources.len(), "Resources": resources})
}

fn attribute(name: &str, kind: &str, required: bool, case_exact: bool, uniqueness: &str, mutability: &str) -> Value {
    json!({"name": name, "type": kind, "multiValued": false, "required": required, "caseExact": case_exact,
           "mutability": mutability, "returned": "default", "uniqueness": uniqueness})
}

fn complex(name: &str, multi_valued: bool, required: bool, sub: Vec<Value>) -> Value {
    json!({"name": name, "type": "complex", "multiValued": multi_valued, "required": required,
           "mutability": "readWrite", "returned": "default", "subAttributes": sub})
}

fn user_schema(services: &Services) -> Value {
    let text = |name: &str, required: bool| attribute(name, "string", required, false, "none", "readWrite");
    // What the portal stores as given; the rest it answers itself (every address is the
    // person's work address, and primary).
    let fixed = |name: &str, kind: &str| attribute(name, kind, false, false, "none", "readOnly");
    let mut country = text("country", false);
    country["canonicalValues"] = json!(crate::domain::countries::all().iter().map(|c| c.code).collect::<Vec<_>>());
    let mut locale = text("locale", false);
    locale["canonicalValues"] = json!(["en", "en-US", "en-GB", "es", "es-CO", "es-MX", "fr", "de", "pt-BR", "it"]);
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
        "id": USER_SCHEMA,
        "name": "User",
        "description": "A person of the company; userName is the email address",
        "attributes": [
            attribute("userName", "string", true, false, "server", "readWrite"),
            complex("name", false, true, vec![text("givenName", true), text("familyName", true)]),
            attribute("displayName", "string", false, false, "none", "readOnly"),
            text("title", true),
            attribute("active", "boolean", false, false, "none", "readWrite"),
            locale,
            attribute("externalId", "string", false, true, "server", "readWrite"),
            // Required: the portal needs an address (a userName that is one also does).
            complex("emails", true, true, vec![text("value", true), fixed("type", "string"), fixed("primary", "boolean")]),
            complex("addresses", true, false, vec![country, fixed("type", "string")]),
        ],
        "meta": {"resourceType": "Schema", "location": services.link(&format!("/scim/v2/Schemas/{USER_SCHEMA}"))},
    })
}

fn enterprise_schema(services: &Services) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
        "id": ENTERPRISE_SCHEMA,
        "name": "EnterpriseUser",
        "description": "The person's manager (required by the portal unless the company sets a default)",
        "attributes": [complex("manager", false, false, vec![
            attribute("value", "string", false, false, "none", "readWrite"),
            json!({"name": "$ref", "type": "reference", "referenceTypes": ["User"], "multiValued": false,
                   "required": false, "caseExact": false, "mutability": "readWrite", "returned": "default",
                   "uniqueness": "none"}),
        ])],
        "meta": {"resourceType": "Schema", "location": services.link(&format!("/scim/v2/Schemas/{ENTERPRISE_SCHEMA}"))},
    })
}

fn group_schema(services: &Services) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
        "id": GROUP_SCHEMA,
        "name": "Group",
        "description": "A sub-account; members are users",
        "attributes": [
            attribute("displayName", "string", true, false, "server", "readWrite"),
            complex("members", true, false, vec![
                attribute("value", "string", false, false, "none", "immutable"),
                json!({"name": "$ref", "type": "reference", "referenceTypes": ["User"], "multiValued": false,
                       "required": false, "caseExact": false, "mutability": "immutable", "returned": "default",
                       "uniqueness": "none"}),
            ]),
        ],
        "meta": {"resourceType": "Schema", "location": services.link(&format!("/scim/v2/Schemas/{GROUP_SCHEMA}"))},
    })
}

pub async fn schemas(State(services): State<Services>) -> Response {
    let all = vec![user_schema(&services), enterprise_schema(&services), group_schema(&services)];
    scim_json(StatusCode::OK, &list(all))
}

pub async fn schema(State(services): State<Services>, Path(id): Path<String>) -> Result<Response, ScimError> {
    let found = match id.to_ascii_lowercase() {
        id if id == USER_SCHEMA.to_ascii_lowercase() => user_schema(&services),
        id if id == ENTERPRISE_USER => enterprise_schema(&services),
        id if id == GROUP_SCHEMA.to_ascii_lowercase() => group_schema(&services),
        _ => return Err(ScimError::new(StatusCode::NOT_FOUND, None, "no such schema")),
    };
    Ok(scim_json(StatusCode::OK, &found))
}

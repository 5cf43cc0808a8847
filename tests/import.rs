//! The CSV import's first pieces: the template (query and download) and the country list.
//! (The upload, validation job and error log come with the rest of the import issue.)

mod common;

use common::{TestApp, data, error_code};
use serde_json::json;

backend_tests!(the_template_and_countries_are_downloadable);

async fn the_template_and_countries_are_downloadable(app: TestApp) {
    let response = app.http.get(app.url("/imports/template.csv")).send().await.unwrap();
    assert_eq!(response.status(), 401);
    let owner = app.company_owner("Imports", "owner@imports.example").await;

    let response = app.http.get(app.url("/imports/template.csv")).bearer_auth(&owner).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
    let template = response.text().await.unwrap();
    assert!(template.starts_with(
        "\u{feff}Given Name,Surname,Email address,Job title,Manager's email address,Country,Is Active\r\n"
    ));
    assert_eq!(template.lines().count(), 3, "header and two example rows");
    let body = app.graphql_as(Some(&owner), "{ userImportTemplate }", json!({})).await;
    assert_eq!(data(&body)["userImportTemplate"], template.as_str());

    let countries =
        app.http.get(app.url("/imports/countries.csv")).bearer_auth(&owner).send().await.unwrap().text().await.unwrap();
    assert_eq!(countries.lines().count(), 250);
    assert!(countries.contains("CO,\"Colombia\""));

    // A user without USER_MANAGEMENT gets neither.
    let operator = app.operator_token().await;
    let response = app.http.get(app.url("/imports/template.csv")).bearer_auth(&operator).send().await.unwrap();
    assert_eq!(response.status(), 403);
    let body = app.graphql_as(Some(&operator), "{ userImportTemplate }", json!({})).await;
    assert_eq!(error_code(&body), "FORBIDDEN");
}

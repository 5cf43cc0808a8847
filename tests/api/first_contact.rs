//! What people meet first: the landing page, the pages their emails open (a dead link said at
//! once, the password rules judged as they type, a way to sign in after), in a real browser
//! at phone and desktop widths, and where "Sign in" leads (`PORTAL_SIGN_IN_URL`).

use crate::common;

use common::{TestApp, data};
use serde_json::json;

backend_tests!(
    the_landing_page_says_what_this_is_and_where_to_go,
    a_link_is_judged_before_anyone_types,
    the_reset_page_guides_a_person_through_in_a_browser,
);

async fn the_landing_page_says_what_this_is_and_where_to_go(app: TestApp) {
    let response = app.http.get(app.url("/")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let page = response.text().await.unwrap();
    for link in ["href=\"/graphql\"", "href=\"/health\"", "href=\"http://127.0.0.1:8080/graphql\""] {
        assert!(page.contains(link), "{link} missing from the landing page");
    }
}

const LINK: &str = "query ($t: String!, $k: PasswordLinkKind!) { passwordLink(token: $t, kind: $k) { state email } }";

async fn reset_link(app: &TestApp, email: &str) -> String {
    app.graphql("mutation ($e: String!) { requestPasswordReset(email: $e) }", json!({"e": email})).await;
    app.settle().await;
    let text = app.wait_for_email(email).await.body_text(0).unwrap().into_owned();
    common::mail::link(&text, "http://127.0.0.1:8080/reset-password?token=")
}

/// `passwordLink` tells a page whether its link still works, without using it: a usable link
/// stays usable however often it is asked about, and says who it is for; used, expired, unknown
/// and wrong-kind links say so and name nobody.
async fn a_link_is_judged_before_anyone_types(app: TestApp) {
    app.company_owner("Links", "owner@links.example").await;
    let url = reset_link(&app, "owner@links.example").await;
    let token = url.split("token=").nth(1).unwrap().to_owned();
    let state = async |token: &str, kind: &str| {
        data(&app.graphql(LINK, json!({"t": token, "k": kind})).await)["passwordLink"].clone()
    };
    for _ in 0..3 {
        assert_eq!(state(&token, "PASSWORD").await, json!({"state": "USABLE", "email": "owner@links.example"}));
    }
    assert_eq!(state(&token, "INVITATION").await, json!({"state": "INVALID", "email": null}), "the wrong page");
    assert_eq!(state("unknown", "PASSWORD").await, json!({"state": "INVALID", "email": null}));
    assert_eq!(state(&"x".repeat(10_000), "PASSWORD").await["state"], "INVALID");

    app.clock.advance(chrono::Duration::minutes(6));
    assert_eq!(state(&token, "PASSWORD").await, json!({"state": "EXPIRED", "email": null}));

    let fresh = reset_link(&app, "owner@links.example").await;
    let fresh = fresh.split("token=").nth(1).unwrap().to_owned();
    let reset = "mutation ($t: String!, $p: String!) { resetPassword(token: $t, newPassword: $p) }";
    data(&app.graphql(reset, json!({"t": fresh, "p": "Quiet-Harbour-2031!"})).await);
    assert_eq!(state(&fresh, "PASSWORD").await, json!({"state": "USED", "email": null}));
}

async fn the_reset_page_guides_a_person_through_in_a_browser(app: TestApp) {
    app.company_owner("Pages", "harbour.master@pages.example").await;
    let url = reset_link(&app, "harbour.master@pages.example").await;
    let path = url.trim_start_matches("http://127.0.0.1:8080");
    let origin = app.url("");
    let args = [origin.trim_end_matches('/'), path, common::OWNER_PASSWORD, "Quiet-Harbour-2031!"];
    let Some(seen) = common::node::run("password-pages.mjs", &args).await else { return };
    let text = |key: &str| seen[key].as_str().unwrap_or_else(|| panic!("{key} in {seen:#}")).to_owned();
    assert!(text("noToken").contains("has no link"), "{seen:#}");
    assert!(text("badToken").contains("not valid") && seen["badTokenFormHidden"] == true, "{seen:#}");
    assert_eq!(text("forWhom"), "For harbour.master@pages.example");
    assert_eq!(seen["overflows"], false, "the page fits a phone");
    assert!(text("laterRule").contains("checked when you submit"));
    let met = |key: &str, rule: &str| seen[key][rule].as_bool().unwrap();
    assert!(!met("metAfterAbc", "MIN_LENGTH") && met("metAfterAbc", "LOWERCASE") && !met("metAfterAbc", "DIGIT"));
    assert!(!met("metWithEmailName", "NOT_EMAIL") && met("metWithEmailName", "SYMBOL"), "{seen:#}");
    let rules = seen["metWithCurrent"].as_object().unwrap();
    let all_met = rules.iter().filter(|(rule, _)| *rule != "NOT_RECENTLY_USED").all(|(_, met)| met == true);
    assert!(all_met && rules["NOT_RECENTLY_USED"] == false, "the page cannot judge history: {seen:#}");
    assert!(text("submitError").contains("Must not be one of your last 5 passwords"), "{seen:#}");
    assert_eq!(text("messageAfterTyping"), "", "the old error goes while typing");
    assert!(text("success").contains("Your password has been changed") && text("success").contains("Sign in"));
    assert_eq!(text("signInHref"), "http://127.0.0.1:8080/graphql", "PORTAL_SIGN_IN_URL, by default GraphiQL");
    assert!(text("usedAgain").contains("already been used") && seen["usedFormHidden"] == true, "{seen:#}");
    assert_eq!(seen["pageErrors"], json!([]));
}

/// A company's own front end: the welcome email's sign-in link and the pages' links lead there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_links_follow_the_configured_front_end() {
    let front_end = "https://portal.example.com/sign-in";
    let app = TestApp::spawn_with(common::Backend::Sqlite, &[("PORTAL_SIGN_IN_URL", front_end)]).await;
    let page = app.http.get(app.url("/")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains(&format!("href=\"{front_end}\"")), "{page}");
    let reset_page = app.http.get(app.url("/reset-password?token=x")).send().await.unwrap().text().await.unwrap();
    assert!(reset_page.contains(&format!("const signIn = \"{front_end}\"")));
    app.provision_company("Front", "owner@front.example").await;
    let text = app.wait_for_email("owner@front.example").await.body_text(0).unwrap().into_owned();
    assert!(text.contains(front_end), "{text}");
}

//! The pages an email link opens (choose a new password from a reset link, set the first
//! password from a welcome email, accept an invitation) and the landing page at `/`.
//! Server-rendered HTML and a few lines of plain script that call the GraphQL API; nothing is
//! loaded from the network, so they work on any intranet.
//!
//! A password page first asks whether its link can still be used (`passwordLink`, which
//! changes nothing), so a used or expired link is said before anyone types; every password
//! rule that can be judged in the page is judged as the person types; the others say they are
//! checked on submit.

use axum::extract::State;
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};

use crate::domain::password_policy::{POLICY, PasswordRule};
use crate::http::AppState;

const CHANGE_PASSWORD: &str =
    "mutation ($token: String!, $password: String!) { resetPassword(token: $token, newPassword: $password) }";

pub async fn reset_password(State(state): State<AppState>) -> Response {
    page(Page {
        title: "Choose a new password",
        intro: "Type your new password. The link in your email works once and expires 5 minutes after it was sent.",
        kind: "PASSWORD",
        extra_fields: "",
        button: "Change password",
        mutation: CHANGE_PASSWORD,
        success: "Your password has been changed.",
        dead_end: "Ask for a new link with “Forgot password” where you sign in.",
        sign_in_url: state.services.settings.sign_in_url.as_str(),
    })
}

/// Where a new user's welcome email leads: the same mutation, with a 7-day activation link.
pub async fn set_password(State(state): State<AppState>) -> Response {
    page(Page {
        title: "Set your password",
        intro: "Choose the password you will sign in with. The link in your welcome email works once.",
        kind: "PASSWORD",
        extra_fields: "",
        button: "Set password",
        mutation: CHANGE_PASSWORD,
        success: "Your password is set.",
        dead_end: "Ask your administrator to send the welcome email again, or use “Forgot password” where you sign in.",
        sign_in_url: state.services.settings.sign_in_url.as_str(),
    })
}

pub async fn accept_invitation(State(state): State<AppState>) -> Response {
    page(Page {
        title: "Accept your invitation",
        intro: "Choose the password you will sign in with.",
        kind: "INVITATION",
        extra_fields: r#"<label for="givenName">Given name</label><input id="givenName" name="givenName" autocomplete="given-name">
<label for="surname">Surname</label><input id="surname" name="surname" autocomplete="family-name">"#,
        button: "Accept invitation",
        mutation: "mutation ($token: String!, $password: String!, $givenName: String, $surname: String) { acceptInvitation(token: $token, password: $password, givenName: $givenName, surname: $surname) { token } }",
        success: "Welcome! Your account is active.",
        dead_end: "Ask the person who invited you to send a new invitation.",
        sign_in_url: state.services.settings.sign_in_url.as_str(),
    })
}

/// `/`: what this server is and where to go, for whoever opens its address.
pub async fn home(State(state): State<AppState>) -> Response {
    let sign_in = html_escape(state.services.settings.sign_in_url.as_str());
    let html = format!(
        r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Customer Portal API</title>
<style>{STYLE}</style>
</head>
<body>
<main>
<h1>Customer Portal API</h1>
<p>This server runs Portal, the GraphQL API behind the company's customer portal: users,
imports, invitations, subscriptions and support.</p>
<ul>
<li><a id="sign-in" href="{sign_in}">Sign in</a></li>
<li><a href="/graphql">GraphiQL</a>: explore and run the API (run the <code>login</code>
mutation, then put its token in the Headers tab)</li>
<li><a href="/health">Health</a>: whether the server and its database answer</li>
<li>Documentation: the README and the <code>docs/</code> folder of Portal's source</li>
</ul>
</main>
</body>
</html>
"#
    );
    Html(html).into_response()
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

const STYLE: &str = "
body { font-family: system-ui, sans-serif; background: #f4f5f7; color: #1f2933; margin: 0; padding: 32px; }
main { max-width: 420px; margin: 0 auto; background: #fff; border-radius: 8px; padding: 32px; }
label { display: block; margin-top: 16px; font-weight: 600; }
input { width: 100%; box-sizing: border-box; padding: 10px; margin-top: 6px; font-size: 16px; }
button { margin-top: 20px; padding: 12px 20px; background: #2563eb; color: #fff; border: 0; border-radius: 6px; font-size: 16px; cursor: pointer; }
ul { padding-left: 20px; } li.met { color: #15803d; } li.met::before { content: '\\2713  '; }
li.later { color: #52606d; }
#message { margin-top: 16px; } .error { color: #b91c1c; } .ok { color: #15803d; }
@media (max-width: 480px) { body { padding: 8px; } main { padding: 20px; } }
";

struct Page<'a> {
    title: &'static str,
    intro: &'static str,
    /// The `PasswordLinkKind` of its links.
    kind: &'static str,
    extra_fields: &'static str,
    button: &'static str,
    mutation: &'static str,
    success: &'static str,
    /// What to do when the link can no longer be used.
    dead_end: &'static str,
    sign_in_url: &'a str,
}

fn page(page: Page) -> Response {
    // Every rule but history is checked as the person types; the server checks them all again.
    let rules: String = PasswordRule::ALL
        .iter()
        .map(|rule| {
            let (class, after) = match rule {
                PasswordRule::NotRecentlyUsed => (" class=\"later\"", " (checked when you submit)"),
                _ => ("", ""),
            };
            format!("<li{class} data-rule=\"{}\">{}{after}</li>", rule.code(), POLICY.describe(*rule))
        })
        .collect();
    // As JSON strings in the script; `<` escaped so no value can close the script element.
    let json = |text: &str| serde_json::Value::from(text).to_string().replace('<', "\\u003c");
    let html = format!(
        r##"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · Customer Portal</title>
<style>{STYLE}</style>
</head>
<body>
<main>
<h1>{title}</h1>
<p>{intro}</p>
<p id="for" hidden></p>
<form id="form" hidden>
{extra_fields}
<label for="password">New password</label>
<input id="password" name="password" type="password" autocomplete="new-password" required>
<p>Your password must meet these rules:</p>
<ul id="rules">{rules}</ul>
<button type="submit">{button}</button>
</form>
<div id="message" role="status">Checking your link…</div>
</main>
<script>
const token = new URLSearchParams(location.search).get("token") || "";
const form = document.getElementById("form");
const message = document.getElementById("message");
const password = document.getElementById("password");
const signIn = {sign_in_url};
const MUTATION = {mutation};
let emailName = "";
const checks = {{
  MIN_LENGTH: p => [...p].length >= {min}, MAX_LENGTH: p => [...p].length <= {max},
  UPPERCASE: p => /\p{{Lu}}/u.test(p), LOWERCASE: p => /\p{{Ll}}/u.test(p),
  DIGIT: p => /[0-9]/.test(p), SYMBOL: p => /[^\p{{L}}\p{{N}}\s]/u.test(p),
  NOT_EMAIL: p => [...emailName].length < 3 || !p.toLowerCase().includes(emailName),
}};
async function call(query, variables) {{
  const response = await fetch("/graphql", {{
    method: "POST", headers: {{ "content-type": "application/json" }},
    body: JSON.stringify({{ query, variables }}),
  }});
  return response.json();
}}
function say(className, ...nodes) {{
  message.className = className;
  message.replaceChildren(...nodes);
}}
function paragraph(text) {{ const p = document.createElement("p"); p.textContent = text; return p; }}
function signInLink() {{
  const a = document.createElement("a"); a.href = signIn; a.textContent = "Sign in"; a.id = "sign-in";
  const p = document.createElement("p"); p.append(a); return p;
}}
const deadLinks = {{
  USED: "This link has already been used.",
  EXPIRED: "This link has expired.",
  INVALID: "This link is not valid: it may have been replaced by a newer one, or copied only in part.",
}};
async function checkLink() {{
  if (!token) return say("error", paragraph("This page opens from the link in your email, and this address has no link in it."), paragraph({dead_end}));
  let link = null;
  try {{
    const body = await call("query ($t: String!, $k: PasswordLinkKind!) {{ passwordLink(token: $t, kind: $k) {{ state email }} }}", {{ t: token, k: "{kind}" }});
    link = body.data && body.data.passwordLink;
  }} catch (error) {{}}
  if (!link) return say("error", paragraph("Your link could not be checked: reload the page in a moment."));
  if (link.state !== "USABLE") return say("error", paragraph(deadLinks[link.state]), paragraph({dead_end}), signInLink());
  emailName = link.email.split("@")[0];
  const forWhom = document.getElementById("for");
  forWhom.textContent = "For " + link.email;
  forWhom.hidden = false;
  form.hidden = false;
  say("");
  judge();
}}
function judge() {{
  for (const li of document.querySelectorAll("#rules li")) {{
    const check = checks[li.dataset.rule];
    if (check) li.classList.toggle("met", password.value !== "" && check(password.value));
  }}
}}
form.addEventListener("input", () => {{
  judge();
  if (message.className === "error") say(""); // an old answer goes once the person types again
}});
form.addEventListener("submit", async (event) => {{
  event.preventDefault();
  const variables = {{ token, password: password.value }};
  for (const field of ["givenName", "surname"]) {{
    const input = document.getElementById(field);
    if (input && input.value.trim()) variables[field] = input.value.trim();
  }}
  say("");
  const body = await call(MUTATION, variables);
  if (body.errors && body.errors.length) {{
    const error = body.errors[0];
    const fields = (error.extensions && error.extensions.fields) || [];
    const lines = fields.length ? fields.map(f => f.message) : [error.message];
    say("error", ...lines.map(paragraph));
  }} else {{
    say("ok", paragraph({success}), signInLink());
    form.hidden = true;
  }}
}});
checkLink();
</script>
</body>
</html>
"##,
        title = page.title,
        intro = page.intro,
        kind = page.kind,
        extra_fields = page.extra_fields,
        button = page.button,
        min = POLICY.min_length,
        max = POLICY.max_length,
        mutation = json(page.mutation),
        success = json(page.success),
        dead_end = json(page.dead_end),
        sign_in_url = json(page.sign_in_url),
    );
    // The token is in the URL: keep it out of Referer headers and caches.
    ([(header::REFERRER_POLICY, "no-referrer"), (header::CACHE_CONTROL, "no-store")], Html(html)).into_response()
}

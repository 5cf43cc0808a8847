//! The two pages an email link opens: choose a new password (reset link) and accept an
//! invitation. Server-rendered HTML and a few lines of plain script that call the GraphQL
//! mutation; nothing is loaded from the network, so they work on any intranet.

use axum::http::header;
use axum::response::{Html, IntoResponse, Response};

use crate::domain::password_policy::{POLICY, PasswordRule};

pub async fn reset_password() -> Response {
    page(Page {
        title: "Choose a new password",
        intro: "Type your new password. The link in your email works once and expires 5 minutes after it was sent.",
        extra_fields: "",
        button: "Change password",
        mutation: "mutation ($token: String!, $password: String!) { resetPassword(token: $token, newPassword: $password) }",
        success: "Your password has been changed. You can now sign in with it.",
    })
}

/// Where a new user's welcome email leads: the same mutation, with a 7-day activation link.
pub async fn set_password() -> Response {
    page(Page {
        title: "Set your password",
        intro: "Choose the password you will sign in with. The link in your welcome email works once.",
        extra_fields: "",
        button: "Set password",
        mutation: "mutation ($token: String!, $password: String!) { resetPassword(token: $token, newPassword: $password) }",
        success: "Your password is set. You can now sign in with it.",
    })
}

pub async fn accept_invitation() -> Response {
    page(Page {
        title: "Accept your invitation",
        intro: "Choose the password you will sign in with.",
        extra_fields: r#"<label for="givenName">Given name</label><input id="givenName" name="givenName" autocomplete="given-name">
<label for="surname">Surname</label><input id="surname" name="surname" autocomplete="family-name">"#,
        button: "Accept invitation",
        mutation: "mutation ($token: String!, $password: String!, $givenName: String, $surname: String) { acceptInvitation(token: $token, password: $password, givenName: $givenName, surname: $surname) { token } }",
        success: "Welcome! Your account is active: you can now sign in.",
    })
}

struct Page {
    title: &'static str,
    intro: &'static str,
    extra_fields: &'static str,
    button: &'static str,
    mutation: &'static str,
    success: &'static str,
}

fn page(page: Page) -> Response {
    // Every rule but history is checked as the person types; the server checks them all again.
    let rules: String = PasswordRule::ALL
        .iter()
        .map(|rule| format!("<li data-rule=\"{}\">{}</li>", rule.code(), POLICY.describe(*rule)))
        .collect();
    #[allow(clippy::expect_used, reason = "a &str always serializes")]
    let mutation = serde_json::to_string(page.mutation).expect("a string serializes");
    #[allow(clippy::expect_used, reason = "a &str always serializes")]
    let success = serde_json::to_string(page.success).expect("a string serializes");
    let html = format!(
        r##"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · Customer Portal</title>
<style>
body {{ font-family: system-ui, sans-serif; background: #f4f5f7; color: #1f2933; margin: 0; padding: 32px; }}
main {{ max-width: 420px; margin: 0 auto; background: #fff; border-radius: 8px; padding: 32px; }}
label {{ display: block; margin-top: 16px; font-weight: 600; }}
input {{ width: 100%; box-sizing: border-box; padding: 10px; margin-top: 6px; font-size: 16px; }}
button {{ margin-top: 20px; padding: 12px 20px; background: #2563eb; color: #fff; border: 0; border-radius: 6px; font-size: 16px; cursor: pointer; }}
ul {{ padding-left: 20px; }} li.met {{ color: #15803d; }} li.met::before {{ content: "✓ "; }}
#message {{ margin-top: 16px; }} .error {{ color: #b91c1c; }} .ok {{ color: #15803d; }}
</style>
</head>
<body>
<main>
<h1>{title}</h1>
<p>{intro}</p>
<form id="form">
{extra_fields}
<label for="password">New password</label>
<input id="password" name="password" type="password" autocomplete="new-password" required>
<p>Your password must meet these rules:</p>
<ul id="rules">{rules}</ul>
<button type="submit">{button}</button>
</form>
<div id="message" role="status"></div>
</main>
<script>
const token = new URLSearchParams(location.search).get("token") || "";
const form = document.getElementById("form");
const message = document.getElementById("message");
const password = document.getElementById("password");
const checks = {{
  MIN_LENGTH: p => [...p].length >= {min}, MAX_LENGTH: p => [...p].length <= {max},
  UPPERCASE: p => /\p{{Lu}}/u.test(p), LOWERCASE: p => /\p{{Ll}}/u.test(p),
  DIGIT: p => /[0-9]/.test(p), SYMBOL: p => /[^\p{{L}}\p{{N}}\s]/u.test(p),
}};
password.addEventListener("input", () => {{
  for (const li of document.querySelectorAll("#rules li")) {{
    const check = checks[li.dataset.rule];
    if (check) li.classList.toggle("met", check(password.value));
  }}
}});
form.addEventListener("submit", async (event) => {{
  event.preventDefault();
  const variables = {{ token, password: password.value }};
  for (const field of ["givenName", "surname"]) {{
    const input = document.getElementById(field);
    if (input && input.value.trim()) variables[field] = input.value.trim();
  }}
  message.textContent = "";
  const response = await fetch("/graphql", {{
    method: "POST", headers: {{ "content-type": "application/json" }},
    body: JSON.stringify({{ query: {mutation}, variables }}),
  }});
  const body = await response.json();
  if (body.errors && body.errors.length) {{
    const error = body.errors[0];
    const fields = (error.extensions && error.extensions.fields) || [];
    const lines = fields.length ? fields.map(f => f.message) : [error.message];
    message.className = "error";
    message.replaceChildren(...lines.map(line => {{ const p = document.createElement("p"); p.textContent = line; return p; }}));
  }} else {{
    message.className = "ok";
    message.textContent = {success};
    form.hidden = true;
  }}
}});
</script>
</body>
</html>
"##,
        title = page.title,
        intro = page.intro,
        extra_fields = page.extra_fields,
        button = page.button,
        min = POLICY.min_length,
        max = POLICY.max_length,
    );
    // The token is in the URL: keep it out of Referer headers and caches.
    ([(header::REFERRER_POLICY, "no-referrer"), (header::CACHE_CONTROL, "no-store")], Html(html)).into_response()
}

//! Email templates: `email-templates/NAME[.LOCALE].PART.hbs` with PART one of `subject`,
//! `html`, `text`, sharing the `layout.html.hbs` / `layout.text.hbs` partials, and
//! `NAME.vars.json` declaring every variable with a sample value. Embedded in the binary;
//! a file of the same name in `PORTAL_TEMPLATES_DIR` replaces the embedded one.
//!
//! Rendering is strict: a variable the data lacks is an error, never an empty string in a
//! customer's inbox. HTML bodies are HTML-escaped; subjects and text bodies are not.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use handlebars::Handlebars;
use rust_embed::RustEmbed;
use serde_json::Value;

use super::Template;

#[derive(RustEmbed)]
#[folder = "email-templates/"]
struct Embedded;

pub const DEFAULT_LOCALE: &str = "en";
const PARTS: [&str; 3] = ["subject", "html", "text"];

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct RenderedEmail {
    pub subject: String,
    pub html: String,
    pub text: String,
}

pub struct Templates {
    html: Handlebars<'static>,
    plain: Handlebars<'static>,
    samples: BTreeMap<&'static str, Value>,
    locales: BTreeMap<&'static str, BTreeSet<String>>,
}

#[derive(Debug, thiserror::Error)]
#[error("email template {file}: {problem}")]
pub struct TemplateError {
    pub file: String,
    pub problem: String,
}

impl Templates {
    /// Loads the embedded templates, then the overrides, and renders every template in every
    /// locale with its sample values: a broken override stops start-up here.
    pub fn load(override_dir: Option<&Path>) -> Result<Templates, TemplateError> {
        let mut files: BTreeMap<String, String> = Embedded::iter()
            .filter_map(|name| {
                let file = Embedded::get(&name)?;
                Some((name.to_string(), String::from_utf8_lossy(&file.data).into_owned()))
            })
            .collect();
        if let Some(dir) = override_dir {
            let entries = std::fs::read_dir(dir).map_err(|e| error(&dir.display().to_string(), e))?;
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if name.ends_with(".hbs") || name.ends_with(".vars.json") {
                    let text = std::fs::read_to_string(entry.path()).map_err(|e| error(&name, e))?;
                    files.insert(name, text);
                }
            }
        }
        let templates = Templates::from_files(&files)?;
        templates.check_samples()?;
        Ok(templates)
    }

    fn from_files(files: &BTreeMap<String, String>) -> Result<Templates, TemplateError> {
        let mut html = Handlebars::new();
        let mut plain = Handlebars::new();
        html.set_strict_mode(true);
        plain.set_strict_mode(true);
        plain.register_escape_fn(handlebars::no_escape);
        let mut samples = BTreeMap::new();
        let mut locales: BTreeMap<&'static str, BTreeSet<String>> = BTreeMap::new();

        for (file, text) in files {
            if let Some(name) = file.strip_suffix(".vars.json") {
                let template = known(file, name)?;
                let sample: Value = serde_json::from_str(text).map_err(|e| error(file, e))?;
                if !sample.is_object() {
                    return Err(error(file, "must be a JSON object of variable names and sample values"));
                }
                samples.insert(template.name(), sample);
                continue;
            }
            let Some(stem) = file.strip_suffix(".hbs") else {
                continue;
            };
            match stem.split('.').collect::<Vec<_>>().as_slice() {
                ["layout", "html"] => html.register_partial("layout", text).map_err(|e| error(file, e))?,
                ["layout", "text"] => plain.register_partial("layout", text).map_err(|e| error(file, e))?,
                [name, part] => register(&mut html, &mut plain, &mut locales, file, name, DEFAULT_LOCALE, part, text)?,
                [name, locale, part] => register(&mut html, &mut plain, &mut locales, file, name, locale, part, text)?,
                _ => return Err(error(file, "is not NAME[.LOCALE].PART.hbs")),
            }
        }
        for template in Template::ALL {
            let name = template.name();
            if !samples.contains_key(name) {
                return Err(error(&format!("{name}.vars.json"), "is missing"));
            }
            for part in PARTS {
                if !html.has_template(&key(name, DEFAULT_LOCALE, part)) {
                    return Err(error(&format!("{name}.{part}.hbs"), "is missing"));
                }
            }
        }
        Ok(Templates { html, plain, samples, locales })
    }

    /// Every template in every locale with its samples; also what `load` checks.
    fn check_samples(&self) -> Result<(), TemplateError> {
        for template in Template::ALL {
            for locale in self.locales(template) {
                self.render_locale(template, &locale, self.sample(template))?;
            }
        }
        Ok(())
    }

    /// The locale's variant if there is one (`es-CO`, then `es`), else English.
    pub fn render(&self, template: Template, locale: &str, vars: &Value) -> Result<RenderedEmail, TemplateError> {
        let available = &self.locales[template.name()];
        let language = locale.split(['-', '_']).next().unwrap_or_default();
        let chosen =
            [locale, language].into_iter().find(|candidate| available.contains(*candidate)).unwrap_or(DEFAULT_LOCALE);
        self.render_locale(template, chosen, vars)
    }

    fn render_locale(&self, template: Template, locale: &str, vars: &Value) -> Result<RenderedEmail, TemplateError> {
        let name = template.name();
        let part = |registry: &Handlebars<'static>, part: &str| {
            let key = key(name, locale, part);
            // Parts a locale lacks fall back to English.
            let key = if registry.has_template(&key) { key } else { self::key(name, DEFAULT_LOCALE, part) };
            registry.render(&key, vars).map_err(|e| error(&file_name(&key), e))
        };
        Ok(RenderedEmail {
            subject: part(&self.plain, "subject")?.trim().to_owned(),
            html: part(&self.html, "html")?,
            text: part(&self.plain, "text")?,
        })
    }

    /// The declared variables with their sample values.
    pub fn sample(&self, template: Template) -> &Value {
        &self.samples[template.name()]
    }

    pub fn locales(&self, template: Template) -> Vec<String> {
        self.locales[template.name()].iter().cloned().collect()
    }
}

#[allow(clippy::too_many_arguments)]
fn register(
    html: &mut Handlebars<'static>,
    plain: &mut Handlebars<'static>,
    locales: &mut BTreeMap<&'static str, BTreeSet<String>>,
    file: &str,
    name: &str,
    locale: &str,
    part: &str,
    text: &str,
) -> Result<(), TemplateError> {
    let template = known(file, name)?;
    let registry = match part {
        "html" => &mut *html,
        "subject" | "text" => &mut *plain,
        _ => return Err(error(file, "part must be subject, html or text")),
    };
    // Both registries know every part, so `has_template` answers the same in either.
    let key = key(name, locale, part);
    registry.register_template_string(&key, text).map_err(|e| error(file, e))?;
    let other = if part == "html" { &mut *plain } else { &mut *html };
    other.register_template_string(&key, text).map_err(|e| error(file, e))?;
    locales.entry(template.name()).or_default().insert(locale.to_owned());
    Ok(())
}

fn known(file: &str, name: &str) -> Result<Template, TemplateError> {
    Template::from_name(name).ok_or_else(|| error(file, format!("`{name}` is not a known template")))
}

fn key(name: &str, locale: &str, part: &str) -> String {
    format!("{name}.{locale}.{part}")
}

fn file_name(key: &str) -> String {
    format!("{}.hbs", key.replace(&format!(".{DEFAULT_LOCALE}."), "."))
}

fn error(file: &str, problem: impl std::fmt::Display) -> TemplateError {
    TemplateError { file: file.to_owned(), problem: problem.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_renders_in_every_shipped_locale() {
        let templates = Templates::load(None).unwrap();
        for template in Template::ALL {
            assert_eq!(templates.locales(template), ["en", "es"], "{template:?}");
            for locale in ["en", "es"] {
                let email = templates.render(template, locale, templates.sample(template)).unwrap();
                assert!(!email.subject.is_empty() && !email.subject.contains('\n'));
                assert!(email.html.contains("<html") && !email.text.contains("<html"), "{template:?} {locale}");
            }
        }
    }

    #[test]
    fn a_missing_variable_is_an_error_not_a_blank() {
        let templates = Templates::load(None).unwrap();
        let mut vars = templates.sample(Template::Welcome).clone();
        vars.as_object_mut().unwrap().remove("givenName");
        let error = templates.render(Template::Welcome, "en", &vars).unwrap_err();
        assert!(error.to_string().contains("givenName"), "{error}");
    }

    #[test]
    fn html_is_escaped_and_text_is_not() {
        let templates = Templates::load(None).unwrap();
        let mut vars = templates.sample(Template::Welcome).clone();
        vars["companyName"] = "Smith & <Sons>".into();
        let email = templates.render(Template::Welcome, "en", &vars).unwrap();
        assert!(email.html.contains("Smith &amp; &lt;Sons&gt;"));
        assert!(email.text.contains("Smith & <Sons>"));
    }

    #[test]
    fn locales_fall_back_to_the_language_then_english() {
        let templates = Templates::load(None).unwrap();
        let sample = templates.sample(Template::ResetPassword);
        let spanish = templates.render(Template::ResetPassword, "es", sample).unwrap();
        assert_eq!(templates.render(Template::ResetPassword, "es-CO", sample).unwrap(), spanish);
        let english = templates.render(Template::ResetPassword, "en", sample).unwrap();
        assert_eq!(templates.render(Template::ResetPassword, "fr", sample).unwrap(), english);
        assert_ne!(spanish.subject, english.subject);
    }

    #[test]
    fn a_broken_override_is_refused_naming_the_file_and_variable() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("welcome.subject.hbs"), "Hi {{nickname}}").unwrap();
        let error = Templates::load(Some(dir.path())).err().expect("refused");
        let message = error.to_string();
        assert!(message.contains("welcome.subject.hbs") && message.contains("nickname"), "{message}");

        std::fs::write(dir.path().join("welcome.subject.hbs"), "Bienvenue {{givenName}}").unwrap();
        let templates = Templates::load(Some(dir.path())).unwrap();
        let email = templates.render(Template::Welcome, "en", templates.sample(Template::Welcome)).unwrap();
        assert!(email.subject.starts_with("Bienvenue "));
    }
}

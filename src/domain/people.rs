//! Company users as administrators manage them: create, edit, read, list and search,
//! administrators. Every query here is scoped to the caller's company: another company's user
//! is "not found", exactly like a user that does not exist.

use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, IntoActiveModel, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, Select, Set,
};
use serde_json::json;

use super::OnConstraint;
use super::audit::AuditEvent;
use super::countries;
use super::principal::Principal;
use super::services::Services;
use super::text;
use super::users::NewUser;
use super::welcome::{self, FirstSignIn};
use super::{DomainError, DomainResult, Email, FieldError, Problems, Role, UserStatus};
use crate::db::{companies, users};
use crate::notify::Notification;
use crate::types::{AuditAction, TargetKind};
use crate::types::{CompanyId, Line, Locale, UserId};

/// What a form sends; `None` leaves a field as it is (updates) or takes the default (creation).
#[derive(Clone, Debug, Default)]
pub struct PersonInput {
    pub given_name: Option<String>,
    pub surname: Option<String>,
    pub email: Option<String>,
    pub job_title: Option<String>,
    pub manager_email: Option<String>,
    pub country: Option<String>,
    pub locale: Option<String>,
    pub is_active: Option<bool>,
    /// The identity provider's id (SCIM `externalId`); `Some("")` clears it. Forms never send it.
    pub external_id: Option<String>,
    /// The identity provider's `userName` when it is not the address; `Some("")` clears it.
    pub scim_user_name: Option<String>,
}

/// An identity provider's id for a person: at most 255 characters, compared exactly.
pub type ExternalId = Line<255>;

/// An identity provider's name for a person (`externalId`, `userName`). `None`: leave it;
/// `Some(None)`: clear it.
fn parse_identifier(value: Option<&str>, field: &str) -> DomainResult<Option<Option<String>>> {
    let Some(value) = value else { return Ok(None) };
    let parsed = ExternalId::parse(value).map_err(|e| DomainError::invalid(field, e.to_string()))?;
    Ok(Some(Some(parsed.into_inner()).filter(|id| !id.is_empty())))
}

/// A write that may break either unique index of a user: the address or the external id.
fn unique_user_fields(error: sea_orm::DbErr) -> DomainError {
    if let Some(sea_orm::SqlErr::UniqueConstraintViolation(message)) = error.sql_err() {
        for (column, field) in [("external_id", "externalId"), ("scim_user_name", "userName")] {
            if message.contains(column) {
                let message = format!("Another user of the company has this {field}");
                return DomainError::Conflict { field: Some(field.into()), message };
            }
        }
    }
    error.into()
}

/// A person's fields, each checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Person {
    pub given_name: String,
    pub surname: String,
    pub email: Email,
    pub job_title: String,
    pub manager_email: Email,
    /// ISO 3166-1 alpha-2.
    pub country: Option<String>,
    pub locale: Locale,
    pub is_active: bool,
}

impl Person {
    /// A new USER of `company_id` with these fields, ACTIVE or INACTIVE.
    pub fn new_user(&self, company_id: CompanyId, now: chrono::DateTime<chrono::Utc>) -> users::ActiveModel {
        let mut user = NewUser {
            email: &self.email,
            company_id: Some(company_id),
            role: Role::User,
            status: if self.is_active { UserStatus::Active } else { UserStatus::Inactive },
            given_name: Some(self.given_name.clone()),
            surname: Some(self.surname.clone()),
            locale: self.locale.clone(),
        }
        .into_active_model(now);
        user.job_title = Set(Some(self.job_title.clone()));
        user.manager_email = Set(Some(self.manager_email.clone()));
        user.country = Set(self.country.clone());
        user
    }
}

/// Names of people: given name and surname.
pub type PersonName = Line<100>;
pub type JobTitle = Line<200>;

/// Every field's problem at once. `current` supplies the values an update leaves alone.
pub fn parse_person(input: &PersonInput, current: Option<&Person>) -> Result<Person, Vec<FieldError>> {
    let mut problems = Problems::default();
    let given = |value: &Option<String>, current: Option<&String>| {
        value.as_deref().or(current.map(String::as_str)).unwrap_or_default().to_owned()
    };
    let given_name = problems
        .field("givenName", PersonName::required(&given(&input.given_name, current.map(|c| &c.given_name))))
        .into_inner();
    let surname = problems
        .field("surname", PersonName::required(&given(&input.surname, current.map(|c| &c.surname))))
        .into_inner();
    let job_title = problems
        .field("jobTitle", JobTitle::required(&given(&input.job_title, current.map(|c| &c.job_title))))
        .into_inner();
    let mut email_field = |field: &str, value: &Option<String>, current: Option<&Email>| match (value, current) {
        (Some(value), _) => problems.check(field, Email::parse(value)),
        (None, Some(current)) => Some(current.clone()),
        (None, None) => {
            problems.push(FieldError::new(field, "is required"));
            None
        }
    };
    let email = email_field("email", &input.email, current.map(|c| &c.email));
    let manager_email = email_field("managerEmail", &input.manager_email, current.map(|c| &c.manager_email));
    if let (Some(email), Some(manager)) = (&email, &manager_email)
        && email == manager
    {
        problems.push(FieldError::new("managerEmail", "cannot be the user's own address"));
    }
    let country = match input.country.as_deref().map(str::trim) {
        Some("") => None,
        Some(value) => match countries::find(value) {
            Some(country) => Some(country.code.to_owned()),
            None => {
                problems.push(FieldError::new(
                    "country",
                    format!("{} is not a known country (ISO code or English name)", text::quoted(value)),
                ));
                None
            }
        },
        None => current.and_then(|c| c.country.clone()),
    };
    let locale = match input.locale.as_deref() {
        Some(value) => problems.field("locale", Locale::parse(value)),
        None => current.map(|c| c.locale.clone()).unwrap_or_default(),
    };
    let is_active = input.is_active.or(current.map(|c| c.is_active)).unwrap_or(true);
    match (email, manager_email) {
        (Some(email), Some(manager_email)) if problems.is_empty() => {
            Ok(Person { given_name, surname, email, job_title, manager_email, country, locale, is_active })
        }
        _ => Err(problems.into_vec()),
    }
}

fn person_of(user: &users::Model) -> Option<Person> {
    Some(Person {
        given_name: user.given_name.clone().unwrap_or_default(),
        surname: user.surname.clone().unwrap_or_default(),
        email: user.email.clone(),
        job_title: user.job_title.clone().unwrap_or_default(),
        manager_email: user.manager_email.clone()?,
        country: user.country.clone(),
        locale: user.locale.clone(),
        is_active: user.status != UserStatus::Inactive,
    })
}

/// Users of the caller's company.
pub fn of_company(principal: &Principal) -> DomainResult<Select<users::Entity>> {
    Ok(users::find().filter(users::Column::CompanyId.eq(principal.company()?)))
}

/// One user of the caller's company.
pub async fn get(db: &impl ConnectionTrait, principal: &Principal, id: UserId) -> DomainResult<users::Model> {
    of_company(principal)?.filter(users::Column::Id.eq(id)).one(db).await?.ok_or(DomainError::NotFound("user"))
}

/// The manager must be a user of the same company (the import accepts rows of the same file too).
async fn check_manager(db: &impl ConnectionTrait, principal: &Principal, manager: &Email) -> DomainResult<()> {
    let found = of_company(principal)?.filter(users::Column::Email.eq(manager.as_str())).count(db).await?;
    if found == 0 {
        return Err(DomainError::invalid("managerEmail", format!("{manager} is not a user of your company")));
    }
    Ok(())
}

fn email_in_use(email: &Email) -> impl FnOnce() -> String + '_ {
    move || format!("{email} is already in use")
}

/// Creates the user; an active one gets the welcome email with a 7-day link to set a password.
pub async fn create(svc: &Services, principal: &Principal, input: PersonInput) -> DomainResult<users::Model> {
    create_with(svc, principal, input, true).await
}

/// `create`, saying whether an active user gets the welcome email (a company may provision
/// people from its identity provider without one).
#[tracing::instrument(skip_all)]
pub async fn create_with(
    svc: &Services,
    principal: &Principal,
    input: PersonInput,
    welcome: bool,
) -> DomainResult<users::Model> {
    let person = parse_person(&input, None).map_err(DomainError::Validation)?;
    let external_id = parse_identifier(input.external_id.as_deref(), "externalId")?.flatten();
    let scim_user_name = parse_identifier(input.scim_user_name.as_deref(), "userName")?.flatten();
    let company_id = principal.company()?;
    let mut tx = svc.begin_as(principal).await?;
    let now = tx.now();
    check_manager(&tx, principal, &person.manager_email).await?;
    let mut new_user = person.new_user(company_id, now);
    new_user.external_id = Set(external_id);
    new_user.scim_user_name = Set(scim_user_name);
    let user =
        new_user.insert(&tx).await.map_err(unique_user_fields).on_constraint("email", email_in_use(&person.email))?;
    let email = if person.is_active && welcome {
        let company =
            companies::Entity::find_by_id(company_id).one(&tx).await?.ok_or(DomainError::NotFound("company"))?;
        Some(welcome::email(svc, &tx, &user, &company.name, FirstSignIn::ActivationLink, now).await?)
    } else {
        None
    };
    let data = json!({"userId": user.id, "email": user.email, "status": user.status, "role": user.role});
    tx.notify(Notification {
        company_id: Some(company_id),
        event_type: crate::types::EventType::UserCreated,
        data,
        email,
    })
    .await?;
    tx.audit(
        AuditEvent::new(AuditAction::UserCreated, TargetKind::User, user.id)
            .company(Some(company_id))
            .after(snapshot(&user)),
    );
    tx.commit().await?;
    Ok(user)
}

#[tracing::instrument(skip_all)]
pub async fn update(
    svc: &Services,
    principal: &Principal,
    id: UserId,
    input: PersonInput,
) -> DomainResult<users::Model> {
    let mut tx = svc.begin_as(principal).await?;
    let now = tx.now();
    let user = get(&tx, principal, id).await?;
    principal.may_manage(user.id, user.role)?;
    if user.status == UserStatus::Anonymized {
        return Err(DomainError::invalid("id", "an anonymized user cannot be edited"));
    }
    if input.is_active.is_some() {
        return Err(DomainError::invalid("isActive", "use deactivateUser or reactivateUser to change the status"));
    }
    // Users created before these fields were mandatory (owners, invited people) may lack some:
    // the update must then provide them.
    let current = person_of(&user);
    let person = parse_person(&input, current.as_ref()).map_err(DomainError::Validation)?;
    let external_id = parse_identifier(input.external_id.as_deref(), "externalId")?;
    let scim_user_name = parse_identifier(input.scim_user_name.as_deref(), "userName")?;
    if input.manager_email.is_some() {
        check_manager(&tx, principal, &person.manager_email).await?;
    }
    let before = snapshot(&user);
    let mut active = user.into_active_model();
    active.given_name = Set(Some(person.given_name.clone()));
    active.surname = Set(Some(person.surname.clone()));
    active.email = Set(person.email.clone());
    active.job_title = Set(Some(person.job_title));
    active.manager_email = Set(Some(person.manager_email.clone()));
    active.country = Set(person.country);
    active.locale = Set(person.locale);
    active.updated_at = Set(now);
    if let Some(external_id) = external_id {
        active.external_id = Set(external_id);
    }
    if let Some(scim_user_name) = scim_user_name {
        active.scim_user_name = Set(scim_user_name);
    }
    let user =
        active.update(&tx).await.map_err(unique_user_fields).on_constraint("email", email_in_use(&person.email))?;
    let audit = AuditEvent::new(AuditAction::UserUpdated, TargetKind::User, user.id)
        .company(user.company_id)
        .after(snapshot(&user))
        .before(before);
    tx.audit(audit);
    let data = json!({"userId": user.id});
    tx.notify(Notification {
        company_id: user.company_id,
        event_type: crate::types::EventType::UserUpdated,
        data,
        email: None,
    })
    .await?;
    tx.commit().await?;
    Ok(user)
}

/// What the audit trail keeps of a user (no secrets).
pub fn snapshot(user: &users::Model) -> serde_json::Value {
    json!({
        "email": user.email, "givenName": user.given_name, "surname": user.surname, "jobTitle": user.job_title,
        "managerEmail": user.manager_email, "country": user.country, "locale": user.locale, "externalId": user.external_id, "scimUserName": user.scim_user_name,
        "status": user.status, "role": user.role,
    })
}

/// At most this many ids in one `usersByIds`.
pub const MAX_IDS: usize = 100;

/// Users of the caller's company by id, in the order asked, `None` where an id names nobody
/// there (another company's user reads exactly like one that does not exist).
#[tracing::instrument(skip_all)]
pub async fn get_many(
    svc: &Services,
    principal: &Principal,
    ids: &[UserId],
) -> DomainResult<Vec<Option<users::Model>>> {
    if ids.len() > MAX_IDS {
        return Err(DomainError::invalid("ids", format!("names more than {MAX_IDS} users")));
    }
    let found =
        users::read_all(of_company(principal)?.filter(users::Column::Id.is_in(ids.iter().copied())), &svc.db).await?;
    let by_id: std::collections::HashMap<UserId, users::Model> = found.into_iter().map(|u| (u.id, u)).collect();
    // An id asked twice is answered twice.
    Ok(ids.iter().map(|id| by_id.get(id).cloned()).collect())
}

/// A page of the company's users (never the anonymized) matching `condition`, in creation
/// order, by position: what an identity provider's SCIM client asks for (`startIndex`,
/// `count`), with the total it requires. `condition` is built by the caller over the users'
/// columns; the company scope is added here.
#[tracing::instrument(skip_all)]
pub async fn page_where(
    svc: &Services,
    principal: &Principal,
    condition: Condition,
    offset: u64,
    limit: u64,
) -> DomainResult<(Vec<users::Model>, u64)> {
    let query = of_company(principal)?.filter(users::Column::Status.ne(UserStatus::Anonymized)).filter(condition);
    let total = query.clone().count(&svc.db).await?;
    let items = if limit == 0 {
        Vec::new()
    } else {
        let page =
            query.order_by_asc(users::Column::CreatedAt).order_by_asc(users::Column::Id).offset(offset).limit(limit);
        users::read_all(page, &svc.db).await?
    };
    Ok((items, total))
}

/// Makes an active user an administrator, or an administrator a user again. Only the owner may;
/// the owner's own role never changes here.
#[tracing::instrument(skip_all)]
pub async fn set_admin(svc: &Services, principal: &Principal, id: UserId, admin: bool) -> DomainResult<users::Model> {
    let mut tx = svc.begin_as(principal).await?;
    let now = tx.now();
    let user = get(&tx, principal, id).await?;
    if user.role == Role::Owner {
        return Err(DomainError::invalid("userId", "the owner is always an administrator"));
    }
    if admin && user.status != UserStatus::Active {
        return Err(DomainError::invalid("userId", "only an active user can become an administrator"));
    }
    let (from, to) = if admin { (Role::User, Role::Admin) } else { (Role::Admin, Role::User) };
    if user.role != from {
        let message = if admin { "is already an administrator" } else { "is not an administrator" };
        return Err(DomainError::invalid("userId", message));
    }
    let mut active = user.into_active_model();
    active.role = Set(to);
    active.updated_at = Set(now);
    let user = active.update(&tx).await?;
    let audit = AuditEvent::new(
        if admin { AuditAction::UserAdminAdded } else { AuditAction::UserAdminRemoved },
        TargetKind::User,
        user.id,
    )
    .company(user.company_id)
    .after(json!({"role": to}))
    .before(json!({"role": from}));
    tx.audit(audit);
    tx.commit().await?;
    Ok(user)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> PersonInput {
        PersonInput {
            given_name: Some(" Ana ".into()),
            surname: Some("Pérez".into()),
            email: Some("Ana@X.com".into()),
            job_title: Some("Buyer".into()),
            manager_email: Some("boss@x.com".into()),
            country: Some("colombia".into()),
            locale: Some("es-CO".into()),
            is_active: None,
            external_id: None,
            scim_user_name: None,
        }
    }

    #[test]
    fn parses_and_normalizes() {
        let person = parse_person(&input(), None).unwrap();
        assert_eq!(person.given_name, "Ana");
        assert_eq!(person.email.as_str(), "ana@x.com");
        assert_eq!(person.country.as_deref(), Some("CO"));
        assert!(person.is_active);
    }

    #[test]
    fn reports_every_problem() {
        let bad = PersonInput {
            given_name: Some(" ".into()),
            email: Some("not an email".into()),
            job_title: None,
            manager_email: Some("boss@x.com".into()),
            country: Some("Atlantis".into()),
            locale: Some("english".into()),
            ..PersonInput::default()
        };
        let fields: Vec<String> = parse_person(&bad, None).unwrap_err().into_iter().map(|f| f.field).collect();
        assert_eq!(fields, ["givenName", "surname", "jobTitle", "email", "country", "locale"]);
    }

    #[test]
    fn an_update_keeps_what_it_does_not_name() {
        let current = parse_person(&input(), None).unwrap();
        let change = PersonInput { job_title: Some("Head of buying".into()), ..PersonInput::default() };
        let updated = parse_person(&change, Some(&current)).unwrap();
        assert_eq!(updated, Person { job_title: "Head of buying".into(), ..current });
    }
}

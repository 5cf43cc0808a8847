//! Companies and the people who run the platform: the first operator, and provisioning a
//! company with its owner.

use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QuerySelect, QueryTrait, Set};

use super::ForField;
use sea_orm::sea_query::{Expr, ExprTrait, Func, LikeExpr};
use serde_json::json;

use super::OnConstraint;
use super::audit::AuditEvent;
use super::page::{Page, PageRequest, newest_first};
use super::password_policy::POLICY;
use super::people::PersonName;
use super::principal::Access;
use super::principal::Principal;
use super::services::Services;
use super::tokens::temporary_password;
use super::users::{NewUser, find_by_email};
use super::welcome::{self, FirstSignIn, insert_with_password};
use super::{CompanyStatus, DomainError, DomainResult, Email, Problems, Role, UserStatus};
use crate::db::{companies, sessions, users};
use crate::notify::Notification;
use crate::types::{AuditAction, TargetKind};
use crate::types::{CompanyId, Line, Locale, UserId};

/// What start-up did about the platform operator.
pub enum Bootstrap {
    /// An operator already exists: nothing done.
    AlreadyThere,
    /// Created with the configured password.
    Created { email: Email },
    /// Created with a random password, shown once, to be changed at first sign-in.
    CreatedWithTemporaryPassword { email: Email, password: String },
}

/// On a database with no operator, creates one. Never again once any operator exists.
#[tracing::instrument(skip_all)]
pub async fn bootstrap_operator(svc: &Services, email: &Email, password: Option<&str>) -> DomainResult<Bootstrap> {
    let operators = users::find().filter(users::Column::Role.eq(Role::Operator)).count(&svc.db).await?;
    if operators > 0 {
        return Ok(Bootstrap::AlreadyThere);
    }
    if let Some(password) = password {
        let broken = POLICY.broken_rules(password, Some(email));
        if !broken.is_empty() {
            return Err(DomainError::Validation(POLICY.field_errors("PORTAL_BOOTSTRAP_OPERATOR_PASSWORD", &broken)));
        }
    }
    let (password, temporary) = match password {
        Some(password) => (password.to_owned(), false),
        None => (temporary_password(), true),
    };
    let hash = svc.passwords.hash(&password).await?;
    let mut tx = svc.begin().await?;
    let now = tx.now();
    if find_by_email(&tx, email).await?.is_some() {
        return Err(DomainError::Conflict {
            field: Some("PORTAL_BOOTSTRAP_OPERATOR".into()),
            message: format!("{email} already belongs to a user who is not an operator"),
        });
    }
    let operator = NewUser {
        email,
        company_id: None,
        role: Role::Operator,
        status: UserStatus::Active,
        given_name: Some("Platform".into()),
        surname: Some("Operator".into()),
        locale: Locale::default(),
    }
    .into_active_model(now);
    let operator = insert_with_password(&tx, operator, &hash, temporary, now).await?;
    tx.audit(AuditEvent::new(AuditAction::OperatorBootstrapped, TargetKind::User, operator.id));
    tx.commit().await?;
    Ok(if temporary {
        Bootstrap::CreatedWithTemporaryPassword { email: email.clone(), password }
    } else {
        Bootstrap::Created { email: email.clone() }
    })
}

pub struct ProvisionCompany {
    pub name: String,
    pub owner_email: String,
    pub owner_given_name: String,
    pub owner_surname: String,
    pub owner_locale: Option<String>,
}

/// Creates the company and its owner with a temporary password, and queues the welcome email
/// that carries it, in one transaction. `actor` is the operator (None from the command line).
#[tracing::instrument(skip_all)]
pub async fn provision_company(
    svc: &Services,
    actor: Option<UserId>,
    input: ProvisionCompany,
) -> DomainResult<companies::Model> {
    let mut problems = Problems::default();
    let name = problems.field("name", CompanyName::required(&input.name)).into_inner();
    let given_name = problems.field("ownerGivenName", PersonName::required(&input.owner_given_name)).into_inner();
    let surname = problems.field("ownerSurname", PersonName::required(&input.owner_surname)).into_inner();
    let email = problems.check("ownerEmail", Email::parse(&input.owner_email));
    let locale = match input.owner_locale.as_deref().map(str::trim) {
        None | Some("") => Locale::default(),
        Some(locale) => problems.field("ownerLocale", Locale::parse(locale)),
    };
    let email = problems.finish_with(email)?;

    let password = temporary_password();
    let hash = svc.passwords.hash(&password).await?;
    let mut tx = svc.begin().await?;
    let now = tx.now();
    let company = companies::ActiveModel {
        id: Set(crate::types::CompanyId::new()),
        name: Set(name.clone()),
        created_at: Set(now),
        updated_at: Set(now),
        scim_enabled: Set(false),
        scim_default_job_title: Set(None),
        scim_default_manager_email: Set(None),
        scim_welcome_email: Set(false),
        status: Set(CompanyStatus::Active),
        suspended_at: Set(None),
    }
    .insert(&tx)
    .await
    .on_constraint("name", || format!("A company named {name} already exists"))?;
    let owner = NewUser {
        email: &email,
        company_id: Some(company.id),
        role: Role::Owner,
        status: UserStatus::Active,
        given_name: Some(given_name),
        surname: Some(surname),
        locale,
    }
    .into_active_model(now);
    let owner = insert_with_password(&tx, owner, &hash, true, now)
        .await
        .on_constraint("ownerEmail", || format!("{email} already has an account"))?;
    let welcome = welcome::email(svc, &tx, &owner, &name, FirstSignIn::TemporaryPassword(password), now).await?;
    tx.notify(Notification {
        company_id: Some(company.id),
        event_type: crate::types::EventType::UserCreated,
        data: json!({"userId": owner.id, "companyId": company.id, "role": "OWNER"}),
        email: Some(welcome),
    })
    .await?;
    tx.audit(
        AuditEvent::new(AuditAction::CompanyProvisioned, TargetKind::Company, company.id)
            .company(Some(company.id))
            .actor(actor)
            .after(json!({"name": company.name, "ownerId": owner.id, "ownerEmail": email.as_str()})),
    );
    tx.commit().await?;
    Ok(company)
}

pub type CompanyName = Line<200>;

/// The caller's own company: the only one a company user can ever read.
#[tracing::instrument(skip_all)]
pub async fn current(svc: &Services, principal: &Principal) -> DomainResult<companies::Model> {
    of_caller(&svc.db, principal).await
}

/// A change of the company's provisioning settings; `None` leaves a setting as it is, an empty
/// text clears it.
#[derive(Default)]
pub struct SettingsChange {
    pub scim_enabled: Option<bool>,
    pub scim_default_job_title: Option<String>,
    pub scim_default_manager_email: Option<String>,
    pub scim_welcome_email: Option<bool>,
}

/// The caller's company.
pub async fn of_caller(db: &impl sea_orm::ConnectionTrait, principal: &Principal) -> DomainResult<companies::Model> {
    companies::Entity::find_by_id(principal.company()?).one(db).await?.ok_or(DomainError::NotFound("company"))
}

/// The default manager must be an active user of the company (people provisioned without a
/// manager are given them).
#[tracing::instrument(skip_all)]
pub async fn update_settings(
    svc: &Services,
    principal: &Principal,
    change: SettingsChange,
) -> DomainResult<companies::Model> {
    use sea_orm::IntoActiveModel;
    let mut problems = Problems::default();
    let title = change
        .scim_default_job_title
        .as_deref()
        .map(|t| problems.field("scimDefaultJobTitle", super::people::JobTitle::parse(t)));
    let manager = match change.scim_default_manager_email.as_deref().map(str::trim) {
        Some("") => Some(None),
        Some(address) => problems.check("scimDefaultManagerEmail", Email::parse(address)).map(Some),
        None => None,
    };
    problems.finish()?;
    let mut tx = svc.begin_as(principal).await?;
    let company = of_caller(&tx, principal).await?;
    if let Some(Some(manager)) = &manager {
        let active = users::find()
            .filter(users::Column::CompanyId.eq(company.id))
            .filter(users::Column::Email.eq(manager.as_str()))
            .filter(users::Column::Status.eq(UserStatus::Active))
            .count(&tx)
            .await?;
        if active == 0 {
            return Err(DomainError::invalid(
                "scimDefaultManagerEmail",
                format!("{manager} is not an active user of your company"),
            ));
        }
    }
    let before = settings_snapshot(&company);
    let mut active = company.into_active_model();
    if let Some(enabled) = change.scim_enabled {
        active.scim_enabled = Set(enabled);
    }
    if let Some(title) = title {
        active.scim_default_job_title = Set(Some(title.into_inner()).filter(|t| !t.is_empty()));
    }
    if let Some(manager) = manager {
        active.scim_default_manager_email = Set(manager);
    }
    if let Some(welcome) = change.scim_welcome_email {
        active.scim_welcome_email = Set(welcome);
    }
    active.updated_at = Set(tx.now());
    let company = active.update(&tx).await?;
    tx.audit(
        AuditEvent::new(AuditAction::CompanySettingsChanged, TargetKind::Company, company.id)
            .before(before)
            .after(settings_snapshot(&company)),
    );
    tx.commit().await?;
    Ok(company)
}

fn settings_snapshot(company: &companies::Model) -> serde_json::Value {
    json!({
        "scimEnabled": company.scim_enabled,
        "scimDefaultJobTitle": company.scim_default_job_title,
        "scimDefaultManagerEmail": company.scim_default_manager_email,
        "scimWelcomeEmail": company.scim_welcome_email,
    })
}

/// Refuses a sign-in, a session or an API key of a suspended company (platform staff have no
/// company and are never refused here).
/// Rows whose `company` column names no suspended company (NULL, platform staff, passes): folded
/// into the session and API-key look-ups, so refusing a suspended company costs them no
/// statement of its own (an API key is looked up on every request).
pub fn not_suspended(company: impl ColumnTrait) -> sea_orm::Condition {
    let suspended = companies::Entity::find()
        .select_only()
        .column(companies::Column::Id)
        .filter(companies::Column::Status.eq(CompanyStatus::Suspended))
        .into_query();
    sea_orm::Condition::any().add(company.is_null()).add(company.not_in_subquery(suspended))
}

pub async fn ensure_not_suspended(
    db: &impl sea_orm::ConnectionTrait,
    company_id: Option<CompanyId>,
) -> DomainResult<()> {
    let Some(company_id) = company_id else { return Ok(()) };
    let suspended = companies::Entity::find_by_id(company_id)
        .filter(companies::Column::Status.eq(CompanyStatus::Suspended))
        .count(db)
        .await?;
    if suspended > 0 {
        return Err(DomainError::Forbidden(
            "Your company's access to the portal is suspended: contact the platform's support".into(),
        ));
    }
    Ok(())
}

/// What platform staff filter the company list by.
#[derive(Default)]
pub struct CompanyFilter {
    /// Part of the name, any case.
    pub search: Option<String>,
    pub status: Option<CompanyStatus>,
}

/// Every company, newest first: platform staff only (operators and support agents).
#[tracing::instrument(skip_all)]
pub async fn list(
    svc: &Services,
    principal: &Principal,
    filter: CompanyFilter,
    page: PageRequest,
) -> DomainResult<Page<companies::Model>> {
    principal.authorize(Access::PlatformStaff)?;
    let mut query = companies::Entity::find();
    if let Some(search) = filter.search.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        let search = CompanyName::required(search).for_field("filter.search")?.into_inner().to_lowercase();
        let pattern = format!("%{}%", search.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_"));
        let lowered = Func::lower(Expr::col(companies::Column::Name));
        query = query.filter(Expr::expr(lowered).like(LikeExpr::new(pattern).escape('\\')));
    }
    if let Some(status) = filter.status {
        query = query.filter(companies::Column::Status.eq(status));
    }
    newest_first(&svc.db, query, companies::Column::Id, page).await
}

/// One company by id: platform staff see any; a company's user only their own (another
/// company's id reads as not found, like one that does not exist).
pub async fn by_id(svc: &Services, principal: &Principal, id: CompanyId) -> DomainResult<companies::Model> {
    if !principal.role.is_platform_staff() && principal.company_id != Some(id) {
        return Err(DomainError::NotFound("company"));
    }
    companies::Entity::find_by_id(id).one(&svc.db).await?.ok_or(DomainError::NotFound("company"))
}

/// Suspends or reactivates a company (operators). Suspension ends every session of its users
/// at once (API keys are refused while it lasts); both are audited and sent to the company's
/// webhooks. Asking for the state the company is already in changes nothing.
#[tracing::instrument(skip_all)]
pub async fn set_status(
    svc: &Services,
    principal: &Principal,
    id: CompanyId,
    status: CompanyStatus,
) -> DomainResult<companies::Model> {
    use sea_orm::IntoActiveModel;
    principal.authorize(Access::Operator)?;
    let mut tx = svc.begin_as(principal).await?;
    let now = tx.now();
    let company = companies::Entity::find_by_id(id).one(&tx).await?.ok_or(DomainError::NotFound("company"))?;
    if company.status == status {
        return Ok(company);
    }
    let mut active = company.into_active_model();
    active.status = Set(status);
    active.suspended_at = Set((status == CompanyStatus::Suspended).then_some(now));
    active.updated_at = Set(now);
    let company = active.update(&tx).await?;
    if status == CompanyStatus::Suspended {
        let members = users::find()
            .select_only()
            .column(users::Column::Id)
            .filter(users::Column::CompanyId.eq(company.id))
            .into_query();
        sessions::Entity::update_many()
            .col_expr(sessions::Column::RevokedAt, Expr::value(now))
            .filter(sessions::Column::UserId.in_subquery(members))
            .filter(sessions::Column::RevokedAt.is_null())
            .exec(&tx)
            .await?;
    }
    let (action, event) = match status {
        CompanyStatus::Suspended => (AuditAction::CompanySuspended, crate::types::EventType::CompanySuspended),
        CompanyStatus::Active => (AuditAction::CompanyReactivated, crate::types::EventType::CompanyReactivated),
    };
    tx.notify(Notification {
        company_id: Some(company.id),
        event_type: event,
        data: json!({"companyId": company.id, "status": status, "at": now}),
        email: None,
    })
    .await?;
    tx.audit(
        AuditEvent::new(action, TargetKind::Company, company.id).company(Some(company.id)).actor(principal.person_id()),
    );
    tx.commit().await?;
    Ok(company)
}

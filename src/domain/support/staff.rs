//! Platform staff (operators, support agents), who handle tickets.

use crate::domain::Problems;
use crate::domain::people::PersonName;
use serde_json::json;

use crate::db::users;
use crate::domain::audit::AuditEvent;
use crate::domain::principal::Principal;
use crate::domain::services::Services;
use crate::domain::tokens::temporary_password;
use crate::domain::users::{NewUser, find_by_email};
use crate::domain::welcome::{self, FirstSignIn};
use crate::domain::{DomainError, DomainResult, Email, Role, UserStatus};
use crate::notify::Notification;
use crate::types::{AuditAction, TargetKind};

/// Platform staff (operators, support agents), created by an operator with a temporary
/// password sent by email.
#[tracing::instrument(skip_all)]
pub async fn create_staff_user(
    svc: &Services,
    principal: &Principal,
    email: &str,
    given_name: &str,
    surname: &str,
    role: Role,
) -> DomainResult<users::Model> {
    if !role.is_platform_staff() {
        return Err(DomainError::invalid("role", "must be OPERATOR or SUPPORT_AGENT"));
    }
    let email = Email::parse(email).map_err(|e| DomainError::invalid("email", e.to_string()))?;
    let mut problems = Problems::default();
    let given_name = problems.field("givenName", PersonName::required(given_name)).into_inner();
    let surname = problems.field("surname", PersonName::required(surname)).into_inner();
    problems.finish()?;
    let password = temporary_password();
    let hash = svc.passwords.hash(&password).await?;
    let mut tx = svc.begin_as(principal).await?;
    let now = tx.now();
    if find_by_email(&tx, &email).await?.is_some() {
        return Err(DomainError::Conflict {
            field: Some("email".into()),
            message: format!("{email} is already in use"),
        });
    }
    let user = NewUser {
        email: &email,
        company_id: None,
        role,
        status: UserStatus::Active,
        given_name: Some(given_name),
        surname: Some(surname),
        locale: crate::types::Locale::default(),
    }
    .into_active_model(now);
    let user = welcome::insert_with_password(&tx, user, &hash, true, now).await?;
    let welcome =
        welcome::email(svc, &tx, &user, "platform staff", FirstSignIn::TemporaryPassword(password), now).await?;
    tx.notify(Notification {
        company_id: None,
        event_type: crate::types::EventType::StaffCreated,
        data: json!({"userId": user.id}),
        email: Some(welcome),
    })
    .await?;
    tx.audit(AuditEvent::new(AuditAction::StaffCreated, TargetKind::User, user.id).after(json!({"role": role})));
    tx.commit().await?;
    Ok(user)
}

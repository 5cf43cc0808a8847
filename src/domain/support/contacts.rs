//! Support contacts: who a subscription's users reach, with their roles.

use crate::domain::Problems;
use crate::domain::people::PersonName;
use std::collections::BTreeSet;

use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, PaginatorTrait, QueryFilter,
    QueryOrder, Set,
};
use serde_json::json;

use crate::db::{companies, service_subscriptions, support_contact_roles, support_contacts, user_modules, users};
use crate::domain::OnConstraint;
use crate::domain::audit::AuditEvent;
use crate::domain::principal::Principal;
use crate::domain::services::Services;
use crate::domain::subscriptions::get as subscription_of;
use crate::domain::users::{NewUser, find_by_email};
use crate::domain::welcome::{self, FirstSignIn};
use crate::domain::work::UnitOfWork;
use crate::domain::{ContactRole, ContactStatus, DomainError, DomainResult, Email, Module, Role, UserStatus};
use crate::notify::Notification;
use crate::types::{AuditAction, TargetKind, UserId};
use crate::types::{ContactId, SubscriptionId};

pub struct ContactInput {
    pub subscription_id: SubscriptionId,
    pub email: String,
    pub given_name: Option<String>,
    pub surname: Option<String>,
    pub phone: Option<String>,
    pub roles: Vec<ContactRole>,
}

#[derive(Clone, Debug)]
pub struct Contact {
    pub contact: support_contacts::Model,
    pub roles: Vec<ContactRole>,
}

pub(super) async fn roles_of(db: &impl ConnectionTrait, contact_id: ContactId) -> DomainResult<Vec<ContactRole>> {
    Ok(crate::domain::batch::roles_of_contacts(db, &[contact_id]).await?.remove(&contact_id).unwrap_or_default())
}

async fn write_roles(
    db: &impl ConnectionTrait,
    contact_id: ContactId,
    roles: &BTreeSet<ContactRole>,
) -> DomainResult<()> {
    support_contact_roles::Entity::delete_many()
        .filter(support_contact_roles::Column::ContactId.eq(contact_id))
        .exec(db)
        .await?;
    for role in roles {
        support_contact_roles::ActiveModel { contact_id: Set(contact_id), role: Set(*role) }.insert(db).await?;
    }
    Ok(())
}

fn check_roles(roles: &[ContactRole]) -> DomainResult<BTreeSet<ContactRole>> {
    let roles: BTreeSet<ContactRole> = roles.iter().copied().collect();
    if roles.is_empty() {
        return Err(DomainError::invalid("roles", "name at least one of ADMINISTRATOR, SUPPORT, BILLING, LICENSE"));
    }
    Ok(roles)
}

fn check_phone(phone: Option<String>) -> DomainResult<Option<String>> {
    let phone = phone.map(|p| p.trim().to_owned()).filter(|p| !p.is_empty());
    if let Some(phone) = &phone
        && (phone.len() > 40 || !phone.chars().all(|c| c.is_ascii_digit() || " +-().".contains(c)))
    {
        return Err(DomainError::invalid("phone", "is not a phone number (digits, spaces, + - ( ) .)"));
    }
    Ok(phone)
}

/// The subscription's primary contact, company owners and administrators manage contacts.
async fn check_manages_contacts(
    db: &impl ConnectionTrait,
    principal: &Principal,
    subscription_id: SubscriptionId,
) -> DomainResult<()> {
    if principal.role.is_company_admin() {
        return Ok(());
    }
    let primary = support_contacts::Entity::find()
        .filter(support_contacts::Column::SubscriptionId.eq(subscription_id))
        .filter(support_contacts::Column::UserId.eq(principal.person()?))
        .filter(support_contacts::Column::IsPrimary.eq(true))
        .filter(support_contacts::Column::Status.eq(ContactStatus::Active))
        .count(db)
        .await?;
    if primary == 0 {
        return Err(DomainError::Forbidden(
            "Only the subscription's primary contact, the company owner and administrators manage contacts".into(),
        ));
    }
    Ok(())
}

/// A contact is a company user; a new address creates the user (welcome email with a link to
/// set a password). The first ADMINISTRATOR contact of a subscription is its primary contact.
#[tracing::instrument(skip_all)]
pub async fn create_contact(svc: &Services, principal: &Principal, input: ContactInput) -> DomainResult<Contact> {
    let roles = check_roles(&input.roles)?;
    let phone = check_phone(input.phone)?;
    let email = Email::parse(&input.email).map_err(|e| DomainError::invalid("email", e.to_string()))?;
    let mut tx = svc.begin_as(principal).await?;
    let now = tx.now();
    let subscription = subscription_of(&tx, principal, input.subscription_id).await?;
    check_manages_contacts(&tx, principal, subscription.id).await?;
    let user = contact_user(svc, &tx, &subscription, &email, input.given_name, input.surname).await?;
    crate::domain::subscriptions::check_reaches(&tx, &user, &subscription, "email").await?;
    let phone = match phone {
        Some(phone) => Some(phone),
        None => known_phone(&tx, user.id).await?,
    };
    let has_primary = support_contacts::Entity::find()
        .filter(support_contacts::Column::SubscriptionId.eq(subscription.id))
        .filter(support_contacts::Column::IsPrimary.eq(true))
        .count(&tx)
        .await?
        > 0;
    let contact = support_contacts::ActiveModel {
        id: Set(crate::types::ContactId::new()),
        subscription_id: Set(subscription.id),
        user_id: Set(user.id),
        is_primary: Set(!has_primary && roles.contains(&ContactRole::Administrator)),
        phone: Set(phone),
        status: Set(ContactStatus::Active),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&tx)
    .await
    .on_constraint("email", || "This person is already a contact".into())?;
    write_roles(&tx, contact.id, &roles).await?;
    // Contacts open tickets: a USER contact gets the SUPPORT module (kept if held already).
    if user.role == Role::User {
        let support = user_modules::ActiveModel { user_id: Set(user.id), module: Set(Module::Support) };
        user_modules::Entity::insert(support).on_conflict_do_nothing().exec(&tx).await?;
    }
    tx.audit(
        AuditEvent::new(AuditAction::SupportContactCreated, TargetKind::SupportContact, contact.id)
            .company(Some(subscription.company_id))
            .after(json!({"userId": user.id, "roles": roles, "primary": contact.is_primary})),
    );
    tx.commit().await?;
    Ok(Contact { contact, roles: roles.into_iter().collect() })
}

/// The contact's user: an active user of the company with that address, or a new one (with
/// the welcome email) when the address is new to the portal.
async fn contact_user(
    svc: &Services,
    tx: &UnitOfWork<'_>,
    subscription: &service_subscriptions::Model,
    email: &Email,
    given_name: Option<String>,
    surname: Option<String>,
) -> DomainResult<users::Model> {
    if let Some(user) = find_by_email(tx, email).await? {
        let of_company = user.company_id == Some(subscription.company_id);
        return match user.status {
            UserStatus::Active if of_company => Ok(user),
            _ if of_company => Err(DomainError::invalid("email", format!("{email} is a user who is not active"))),
            _ => Err(DomainError::Conflict {
                field: Some("email".into()),
                message: format!("{email} is already in use"),
            }),
        };
    }
    // A new address: a new user of the company, who needs a name.
    let mut problems = Problems::default();
    let required = |value: Option<String>| PersonName::required(value.as_deref().unwrap_or_default());
    let given_name = problems.field("givenName", required(given_name)).into_inner();
    let surname = problems.field("surname", required(surname)).into_inner();
    problems.finish()?;
    let now = tx.now();
    let user = NewUser {
        email,
        company_id: Some(subscription.company_id),
        role: Role::User,
        status: UserStatus::Active,
        given_name: Some(given_name),
        surname: Some(surname),
        locale: crate::types::Locale::default(),
    }
    .into_active_model(now)
    .insert(tx)
    .await?;
    let company = companies::Entity::find_by_id(subscription.company_id)
        .one(tx)
        .await?
        .ok_or(DomainError::NotFound("company"))?;
    let email = welcome::email(svc, tx, &user, &company.name, FirstSignIn::ActivationLink, now).await?;
    tx.notify(Notification {
        company_id: Some(subscription.company_id),
        event_type: crate::types::EventType::UserCreated,
        data: json!({"userId": user.id, "email": user.email}),
        email: Some(email),
    })
    .await?;
    Ok(user)
}

/// What the portal already knows: the phone this person gave as a contact elsewhere in the
/// company (their location is their user's country).
async fn known_phone(db: &impl ConnectionTrait, user_id: UserId) -> DomainResult<Option<String>> {
    Ok(support_contacts::Entity::find()
        .filter(support_contacts::Column::UserId.eq(user_id))
        .filter(support_contacts::Column::Phone.is_not_null())
        .one(db)
        .await?
        .and_then(|c| c.phone))
}

async fn contact(
    db: &impl ConnectionTrait,
    principal: &Principal,
    id: ContactId,
) -> DomainResult<support_contacts::Model> {
    let found =
        support_contacts::Entity::find_by_id(id).one(db).await?.ok_or(DomainError::NotFound("support contact"))?;
    subscription_of(db, principal, found.subscription_id)
        .await
        .map_err(|_| DomainError::NotFound("support contact"))?;
    Ok(found)
}

#[tracing::instrument(skip_all)]
pub async fn list_contacts(
    svc: &Services,
    principal: &Principal,
    subscription_id: SubscriptionId,
    status: Option<ContactStatus>,
) -> DomainResult<Vec<Contact>> {
    let subscription = subscription_of(&svc.db, principal, subscription_id).await?;
    let mut query =
        support_contacts::Entity::find().filter(support_contacts::Column::SubscriptionId.eq(subscription.id));
    if let Some(status) = status {
        query = query.filter(support_contacts::Column::Status.eq(status));
    }
    let contacts = query.order_by_asc(support_contacts::Column::Id).all(&svc.db).await?;
    crate::domain::batch::with_roles(&svc.db, contacts).await
}

#[tracing::instrument(skip_all)]
pub async fn update_contact(
    svc: &Services,
    principal: &Principal,
    id: ContactId,
    phone: Option<String>,
    roles: Option<Vec<ContactRole>>,
) -> DomainResult<Contact> {
    let mut tx = svc.begin_as(principal).await?;
    let now = tx.now();
    let found = contact(&tx, principal, id).await?;
    check_manages_contacts(&tx, principal, found.subscription_id).await?;
    let mut active = found.clone().into_active_model();
    if phone.is_some() {
        active.phone = Set(check_phone(phone)?);
    }
    active.updated_at = Set(now);
    let updated = active.update(&tx).await?;
    if let Some(roles) = roles {
        write_roles(&tx, updated.id, &check_roles(&roles)?).await?;
    }
    let roles = roles_of(&tx, updated.id).await?;
    tx.audit(
        AuditEvent::new(AuditAction::SupportContactUpdated, TargetKind::SupportContact, updated.id)
            .company(principal.company_id)
            .after(json!({"phone": updated.phone, "roles": roles})),
    );
    tx.commit().await?;
    Ok(Contact { contact: updated, roles })
}

#[tracing::instrument(skip_all)]
pub async fn set_contact_status(
    svc: &Services,
    principal: &Principal,
    id: ContactId,
    status: ContactStatus,
) -> DomainResult<Contact> {
    let mut tx = svc.begin_as(principal).await?;
    let now = tx.now();
    let found = contact(&tx, principal, id).await?;
    check_manages_contacts(&tx, principal, found.subscription_id).await?;
    if found.status == status {
        let state = if status == ContactStatus::Active { "active" } else { "inactive" };
        return Err(DomainError::invalid("id", format!("this contact is already {state}")));
    }
    let mut active = found.into_active_model();
    active.status = Set(status);
    active.updated_at = Set(now);
    let updated = active.update(&tx).await?;
    let action = if status == ContactStatus::Active {
        AuditAction::SupportContactReactivated
    } else {
        AuditAction::SupportContactDeactivated
    };
    tx.audit(AuditEvent::new(action, TargetKind::SupportContact, updated.id).company(principal.company_id));
    let roles = roles_of(&tx, updated.id).await?;
    tx.commit().await?;
    Ok(Contact { contact: updated, roles })
}

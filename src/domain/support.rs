//! Support contacts and tickets, and the platform staff who handle tickets.

use std::collections::BTreeSet;

use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, PaginatorTrait, QueryFilter,
    QueryOrder, Set,
};
use serde_json::json;

use super::OnConstraint;
use super::audit::AuditEvent;
use super::lifecycle::{plan, scrub};
use super::page::{Page, PageRequest, newest_first};
use super::principal::Principal;
use super::services::Services;
use super::subscriptions::{confirm_admin_membership, get as subscription_of};
use super::text::{self, Lines};
use super::tokens::temporary_password;
use super::users::{NewUser, find_by_email, greeting_name};
use super::welcome::{self, FirstSignIn};
use super::work::UnitOfWork;
use super::{
    ContactRole, ContactStatus, DomainError, DomainResult, Email, FieldError, MemberStatus, Module, Role,
    SubscriptionRole, TicketKind, TicketStatus, UserStatus,
};
use crate::db::{
    companies, service_subscriptions, subscription_members, support_contact_roles, support_contacts, support_tickets,
    user_modules, users,
};
use crate::notify::{EmailNotification, Notification, Template};
use crate::types::{AuditAction, TargetKind};
use crate::types::{ContactId, SubscriptionId, TicketId, UserId};

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

async fn roles_of(db: &impl ConnectionTrait, contact_id: ContactId) -> DomainResult<Vec<ContactRole>> {
    Ok(super::batch::roles_of_contacts(db, &[contact_id]).await?.remove(&contact_id).unwrap_or_default())
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
        .filter(support_contacts::Column::UserId.eq(principal.user_id))
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
    let user = match find_by_email(&tx, &email).await? {
        Some(user) if user.company_id == Some(subscription.company_id) && user.status == UserStatus::Active => user,
        Some(user) if user.company_id == Some(subscription.company_id) => {
            return Err(DomainError::invalid("email", format!("{email} is a user who is not active")));
        }
        Some(_) => {
            return Err(DomainError::Conflict {
                field: Some("email".into()),
                message: format!("{email} is already in use"),
            });
        }
        None => new_contact_user(svc, &tx, &subscription, &email, input.given_name, input.surname, now).await?,
    };
    // What the portal already knows: the phone this person gave as a contact elsewhere in the
    // company (their location is their user's country).
    let phone = match phone {
        Some(phone) => Some(phone),
        None => support_contacts::Entity::find()
            .filter(support_contacts::Column::UserId.eq(user.id))
            .filter(support_contacts::Column::Phone.is_not_null())
            .one(&tx)
            .await?
            .and_then(|c| c.phone),
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
    // Contacts open tickets: a USER contact gets the SUPPORT module.
    if user.role == Role::User {
        let holds = user_modules::Entity::find()
            .filter(user_modules::Column::UserId.eq(user.id))
            .filter(user_modules::Column::Module.eq(Module::Support))
            .count(&tx)
            .await?;
        if holds == 0 {
            user_modules::ActiveModel { user_id: Set(user.id), module: Set(Module::Support) }.insert(&tx).await?;
        }
    }
    tx.audit(
        AuditEvent::new(AuditAction::SupportContactCreated, TargetKind::SupportContact, contact.id)
            .company(Some(subscription.company_id))
            .after(json!({"userId": user.id, "roles": roles, "primary": contact.is_primary})),
    );
    tx.commit().await?;
    Ok(Contact { contact, roles: roles.into_iter().collect() })
}

async fn new_contact_user(
    svc: &Services,
    tx: &UnitOfWork<'_>,
    subscription: &service_subscriptions::Model,
    email: &Email,
    given_name: Option<String>,
    surname: Option<String>,
    now: chrono::DateTime<chrono::Utc>,
) -> DomainResult<users::Model> {
    let mut problems = Vec::new();
    let mut clean = |field: &str, value: Option<String>| match text::parse(field, value.as_deref()?, 100, Lines::One) {
        Ok(text) => Some(text).filter(|t| !t.is_empty()),
        Err(problem) => {
            problems.push(problem);
            None
        }
    };
    let (given_name, surname) = (clean("givenName", given_name), clean("surname", surname));
    if given_name.is_none() {
        problems.push(FieldError::new("givenName", "is required for a new user"));
    }
    if surname.is_none() {
        problems.push(FieldError::new("surname", "is required for a new user"));
    }
    if !problems.is_empty() {
        return Err(DomainError::Validation(problems));
    }
    let user = NewUser {
        email,
        company_id: Some(subscription.company_id),
        role: Role::User,
        status: UserStatus::Active,
        given_name,
        surname,
        locale: "en".into(),
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
    super::batch::with_roles(&svc.db, contacts).await
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

pub struct TicketInput {
    pub subscription_id: SubscriptionId,
    pub kind: TicketKind,
    pub subject: String,
    pub description: String,
    pub related_user_id: Option<UserId>,
}

/// Opened by an active contact with the SUPPORT role; administrators may open the delegation
/// and removal kinds. The opener gets the confirmation email.
#[tracing::instrument(skip_all)]
pub async fn create_ticket(
    svc: &Services,
    principal: &Principal,
    input: TicketInput,
) -> DomainResult<support_tickets::Model> {
    let mut problems = Vec::new();
    let mut required = |field: &str, value: &str, max: usize, lines: Lines| {
        text::required(field, value, max, lines).unwrap_or_else(|problem| {
            problems.push(problem);
            String::new()
        })
    };
    let subject = required("subject", &input.subject, 300, Lines::One);
    let description = required("description", &input.description, 20_000, Lines::Many);
    if !problems.is_empty() {
        return Err(DomainError::Validation(problems));
    }
    let mut tx = svc.begin_as(principal).await?;
    let now = tx.now();
    let subscription = subscription_of(&tx, principal, input.subscription_id).await?;
    let is_support_contact = support_contacts::Entity::find()
        .filter(support_contacts::Column::SubscriptionId.eq(subscription.id))
        .filter(support_contacts::Column::UserId.eq(principal.user_id))
        .filter(support_contacts::Column::Status.eq(ContactStatus::Active))
        .all(&tx)
        .await?;
    let mut may = false;
    for contact in &is_support_contact {
        may |= roles_of(&tx, contact.id).await?.contains(&ContactRole::Support);
    }
    may |= principal.role.is_company_admin() && input.kind != TicketKind::General;
    if !may {
        return Err(DomainError::Forbidden("Only the subscription's active SUPPORT contacts open tickets".into()));
    }
    let mut related_member_id = None;
    // Resolved within the company for every kind: a raw id from the input is never stored.
    let related = match input.related_user_id {
        Some(id) => Some(
            users::Entity::find_by_id(id)
                .filter(users::Column::CompanyId.eq(subscription.company_id))
                .one(&tx)
                .await?
                .ok_or_else(|| DomainError::invalid("relatedUserId", "is not a user of the company"))?,
        ),
        None => None,
    };
    if matches!(input.kind, TicketKind::AdminDelegation | TicketKind::UserRemoval) {
        let user =
            related.as_ref().ok_or_else(|| DomainError::invalid("relatedUserId", "is required for this kind"))?;
        // Contacts may ask to remove users; only the owner, to remove an administrator.
        if input.kind == TicketKind::UserRemoval && user.role.is_company_admin() {
            principal.may_manage(user.id, user.role)?;
        }
        if input.kind == TicketKind::AdminDelegation {
            let member = subscription_members::Entity::find()
                .filter(subscription_members::Column::SubscriptionId.eq(subscription.id))
                .filter(subscription_members::Column::UserId.eq(user.id))
                .filter(subscription_members::Column::Role.eq(SubscriptionRole::Admin))
                .filter(subscription_members::Column::Status.eq(MemberStatus::PendingConfirmation))
                .one(&tx)
                .await?
                .ok_or_else(|| {
                    DomainError::invalid("relatedUserId", "has no ADMIN membership waiting for confirmation")
                })?;
            related_member_id = Some(member.id);
        }
    }
    let ticket = support_tickets::ActiveModel {
        id: Set(crate::types::TicketId::new()),
        company_id: Set(subscription.company_id),
        subscription_id: Set(subscription.id),
        opened_by: Set(principal.user_id),
        kind: Set(input.kind),
        status: Set(TicketStatus::Open),
        subject: Set(subject),
        description: Set(description),
        related_user_id: Set(related.map(|user| user.id)),
        related_member_id: Set(related_member_id),
        confirmed_by: Set(None),
        confirmed_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&tx)
    .await?;
    let opener = users::Entity::find_by_id(principal.user_id).one(&tx).await?.ok_or(DomainError::NotFound("user"))?;
    let to = opener.email.clone();
    let vars = json!({
        "givenName": greeting_name(&opener), "ticketId": ticket.id.to_string(), "subject": ticket.subject,
        "kind": ticket.kind, "product": subscription.product,
        "ticketUrl": svc.link(&format!("support/tickets/{}", ticket.id)),
    });
    tx.notify(Notification {
        company_id: Some(subscription.company_id),
        event_type: crate::types::EventType::TicketCreated,
        data: json!({"ticketId": ticket.id, "kind": ticket.kind, "subscriptionId": subscription.id}),
        email: Some(EmailNotification::new(&to, Template::SupportTicketConfirmation, &opener.locale, vars)),
    })
    .await?;
    tx.audit(
        AuditEvent::new(AuditAction::TicketCreated, TargetKind::SupportTicket, ticket.id)
            .company(Some(subscription.company_id))
            .after(json!({"kind": ticket.kind, "subject": ticket.subject, "relatedUserId": ticket.related_user_id})),
    );
    tx.commit().await?;
    Ok(ticket)
}

/// Support agents see every ticket; anyone else only the tickets they opened (support
/// accounts are independent even within one company).
#[tracing::instrument(skip_all)]
pub async fn list_tickets(
    svc: &Services,
    principal: &Principal,
    page: PageRequest,
) -> DomainResult<Page<support_tickets::Model>> {
    let mut query = support_tickets::Entity::find();
    if principal.role != Role::SupportAgent {
        query = query
            .filter(support_tickets::Column::CompanyId.eq(principal.company()?))
            .filter(support_tickets::Column::OpenedBy.eq(principal.user_id));
    }
    newest_first(&svc.db, query, support_tickets::Column::Id, page).await
}

async fn ticket_for_agent(db: &impl ConnectionTrait, id: TicketId) -> DomainResult<support_tickets::Model> {
    support_tickets::Entity::find_by_id(id).one(db).await?.ok_or(DomainError::NotFound("ticket"))
}

/// Applies an open ticket: an ADMIN_DELEGATION activates the pending membership; a
/// USER_REMOVAL erases the user's personal data for good (their audit trail stays).
#[tracing::instrument(skip_all)]
pub async fn confirm_ticket(
    svc: &Services,
    principal: &Principal,
    id: TicketId,
) -> DomainResult<support_tickets::Model> {
    let mut tx = svc.begin_as(principal).await?;
    let now = tx.now();
    let ticket = ticket_for_agent(&tx, id).await?;
    if ticket.status != TicketStatus::Open {
        return Err(DomainError::Conflict {
            field: Some("id".into()),
            message: format!("This ticket is {:?}", ticket.status),
        });
    }
    match ticket.kind {
        TicketKind::AdminDelegation => {
            let member = ticket.related_member_id.ok_or(DomainError::NotFound("membership"))?;
            confirm_admin_membership(&tx, member, now).await?;
        }
        TicketKind::UserRemoval => {
            let user_id = ticket.related_user_id.ok_or(DomainError::NotFound("user"))?;
            let user = users::Entity::find_by_id(user_id).one(&tx).await?.ok_or(DomainError::NotFound("user"))?;
            if user.role == Role::Owner {
                return Err(DomainError::invalid("id", "the company owner cannot be removed"));
            }
            let held = plan(&tx, user.id).await?;
            if !held.is_empty() {
                let fields = held
                    .iter()
                    .map(|h| {
                        FieldError::new(
                            "relatedUserId",
                            format!(
                                "{} {} must first be transferred (deactivateUser with transferTo)",
                                h.held.kind().name(),
                                h.name
                            ),
                        )
                    })
                    .collect();
                return Err(DomainError::Validation(fields));
            }
            if user.status != UserStatus::Anonymized {
                scrub(&mut tx, user, Some(principal.user_id), now).await?;
            }
        }
        TicketKind::General => {}
    }
    let mut active = ticket.into_active_model();
    active.status = Set(TicketStatus::Confirmed);
    active.confirmed_by = Set(Some(principal.user_id));
    active.confirmed_at = Set(Some(now));
    active.updated_at = Set(now);
    let ticket = active.update(&tx).await?;
    tx.audit(
        AuditEvent::new(AuditAction::TicketConfirmed, TargetKind::SupportTicket, ticket.id)
            .company(Some(ticket.company_id))
            .after(json!({"kind": ticket.kind})),
    );
    tx.notify(Notification {
        company_id: Some(ticket.company_id),
        event_type: crate::types::EventType::TicketConfirmed,
        data: json!({"ticketId": ticket.id, "kind": ticket.kind}),
        email: None,
    })
    .await?;
    tx.commit().await?;
    Ok(ticket)
}

/// `resolveSupportTicket` / `closeSupportTicket`.
#[tracing::instrument(skip_all)]
pub async fn set_ticket_status(
    svc: &Services,
    principal: &Principal,
    id: TicketId,
    status: TicketStatus,
) -> DomainResult<support_tickets::Model> {
    let mut tx = svc.begin_as(principal).await?;
    let now = tx.now();
    let ticket = ticket_for_agent(&tx, id).await?;
    if ticket.status == TicketStatus::Closed {
        return Err(DomainError::Conflict { field: Some("id".into()), message: "This ticket is closed".into() });
    }
    let mut active = ticket.into_active_model();
    active.status = Set(status);
    active.updated_at = Set(now);
    let ticket = active.update(&tx).await?;
    tx.audit(
        AuditEvent::new(AuditAction::TicketStatusChanged, TargetKind::SupportTicket, ticket.id)
            .company(Some(ticket.company_id))
            .after(json!({"status": status})),
    );
    tx.commit().await?;
    Ok(ticket)
}

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
    let mut problems = Vec::new();
    let mut name = |field: &str, value: &str| {
        text::required(field, value, 100, Lines::One).unwrap_or_else(|problem| {
            problems.push(problem);
            String::new()
        })
    };
    let (given_name, surname) = (name("givenName", given_name), name("surname", surname));
    if !problems.is_empty() {
        return Err(DomainError::Validation(problems));
    }
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
        locale: "en".into(),
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

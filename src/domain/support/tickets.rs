//! Support tickets: opened by contacts, confirmed or closed by support agents.

use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter, Set};
use serde_json::json;

use crate::db::{subscription_members, support_contacts, support_tickets, users};
use crate::domain::audit::AuditEvent;
use crate::domain::lifecycle::{plan, scrub};
use crate::domain::page::{Page, PageRequest, newest_first};
use crate::domain::principal::Principal;
use crate::domain::services::Services;
use crate::domain::subscriptions::{confirm_admin_membership, get as subscription_of};
use crate::domain::text::{self, Lines};
use crate::domain::users::greeting_name;
use crate::domain::{
    ContactRole, ContactStatus, DomainError, DomainResult, FieldError, MemberStatus, Role, SubscriptionRole,
    TicketKind, TicketStatus, UserStatus,
};
use crate::notify::{EmailNotification, Notification, Template};
use crate::types::{AuditAction, TargetKind};
use crate::types::{SubscriptionId, TicketId, UserId};

use super::contacts::roles_of;
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
                scrub(&mut tx, user, Some(principal.user_id)).await?;
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

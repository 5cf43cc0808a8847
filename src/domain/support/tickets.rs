//! Support tickets: opened by contacts, confirmed or closed by support agents.

use crate::domain::Problems;
use crate::types::{Line, Paragraphs};
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter, Set};
use serde_json::json;

use crate::db::{service_subscriptions, subscription_members, support_contacts, support_tickets, users};
use crate::domain::audit::AuditEvent;
use crate::domain::lifecycle::{Holding, plan, scrub};
use crate::domain::page::{Page, PageRequest, newest_first};
use crate::domain::principal::Principal;
use crate::domain::services::Services;
use crate::domain::subscriptions::{self, confirm_admin_membership, get as subscription_of};
use crate::domain::users::greeting_name;
use crate::domain::work::UnitOfWork;
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
    let mut problems = Problems::default();
    let subject = problems.field("subject", Line::<300>::required(&input.subject)).into_inner();
    let description = problems.field("description", Paragraphs::<20_000>::required(&input.description)).into_inner();
    problems.finish()?;
    let mut tx = svc.begin_as(principal).await?;
    let now = tx.now();
    let subscription = subscription_of(&tx, principal, input.subscription_id).await?;
    may_open(&tx, principal, &subscription, input.kind).await?;
    let related = related_of(&tx, principal, &subscription, input.kind, input.related_user_id).await?;
    let ticket = support_tickets::ActiveModel {
        id: Set(crate::types::TicketId::new()),
        company_id: Set(subscription.company_id),
        subscription_id: Set(subscription.id),
        opened_by: Set(principal.person()?),
        kind: Set(input.kind),
        status: Set(TicketStatus::Open),
        subject: Set(subject),
        description: Set(description),
        related_user_id: Set(related.user),
        related_member_id: Set(related.member),
        confirmed_by: Set(None),
        confirmed_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&tx)
    .await?;
    let opener = users::find_by_id(principal.person()?).one(&tx).await?.ok_or(DomainError::NotFound("user"))?;
    tx.notify(created_notification(svc, &opener, &ticket, &subscription)).await?;
    tx.audit(
        AuditEvent::new(AuditAction::TicketCreated, TargetKind::SupportTicket, ticket.id)
            .company(Some(subscription.company_id))
            .after(json!({"kind": ticket.kind, "subject": ticket.subject, "relatedUserId": ticket.related_user_id})),
    );
    tx.commit().await?;
    Ok(ticket)
}

/// The subscription's active SUPPORT contacts open any kind; administrators the kinds that
/// are about users (delegation, removal).
async fn may_open(
    db: &impl ConnectionTrait,
    principal: &Principal,
    subscription: &service_subscriptions::Model,
    kind: TicketKind,
) -> DomainResult<()> {
    if principal.role.is_company_admin() && kind != TicketKind::General {
        return Ok(());
    }
    let contacts = support_contacts::Entity::find()
        .filter(support_contacts::Column::SubscriptionId.eq(subscription.id))
        .filter(support_contacts::Column::UserId.eq(principal.person()?))
        .filter(support_contacts::Column::Status.eq(ContactStatus::Active))
        .all(db)
        .await?;
    for contact in &contacts {
        if roles_of(db, contact.id).await?.contains(&ContactRole::Support) {
            return Ok(());
        }
    }
    Err(DomainError::Forbidden("Only the subscription's active SUPPORT contacts open tickets".into()))
}

/// Whom a ticket is about, resolved within the company (a raw id from the input is never
/// stored), and for a delegation the membership waiting for it.
struct Related {
    user: Option<UserId>,
    member: Option<crate::types::MemberId>,
}

async fn related_of(
    db: &impl ConnectionTrait,
    principal: &Principal,
    subscription: &service_subscriptions::Model,
    kind: TicketKind,
    related_user_id: Option<UserId>,
) -> DomainResult<Related> {
    let user = match related_user_id {
        Some(id) => Some(
            users::find_by_id(id)
                .filter(users::Column::CompanyId.eq(subscription.company_id))
                .one(db)
                .await?
                .ok_or_else(|| DomainError::invalid("relatedUserId", "is not a user of the company"))?,
        ),
        None => None,
    };
    let mut related = Related { user: user.as_ref().map(|u| u.id), member: None };
    if kind == TicketKind::General {
        return Ok(related);
    }
    let user = user.ok_or_else(|| DomainError::invalid("relatedUserId", "is required for this kind"))?;
    match kind {
        // Contacts may ask to remove users; only the owner, to remove an administrator.
        TicketKind::UserRemoval if user.role.is_company_admin() => principal.may_manage(user.id, user.role)?,
        TicketKind::AdminDelegation => {
            let member = subscription_members::Entity::find()
                .filter(subscription_members::Column::SubscriptionId.eq(subscription.id))
                .filter(subscription_members::Column::UserId.eq(user.id))
                .filter(subscription_members::Column::Role.eq(SubscriptionRole::Admin))
                .filter(subscription_members::Column::Status.eq(MemberStatus::PendingConfirmation))
                .one(db)
                .await?
                .ok_or_else(|| {
                    DomainError::invalid("relatedUserId", "has no ADMIN membership waiting for confirmation")
                })?;
            related.member = Some(member.id);
        }
        _ => {}
    }
    Ok(related)
}

/// `ticket.created`, with the confirmation email to the opener.
fn created_notification(
    svc: &Services,
    opener: &users::Model,
    ticket: &support_tickets::Model,
    subscription: &service_subscriptions::Model,
) -> Notification {
    let vars = json!({
        "givenName": greeting_name(opener), "ticketId": ticket.id.to_string(), "subject": ticket.subject,
        "kind": ticket.kind, "product": subscription.product,
        "ticketUrl": svc.link(&format!("support/tickets/{}", ticket.id)),
    });
    Notification {
        company_id: Some(subscription.company_id),
        event_type: crate::types::EventType::TicketCreated,
        data: json!({"ticketId": ticket.id, "kind": ticket.kind, "subscriptionId": subscription.id}),
        email: Some(EmailNotification::new(&opener.email, Template::SupportTicketConfirmation, &opener.locale, vars)),
    }
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
            .filter(support_tickets::Column::OpenedBy.eq(principal.person()?))
            // Someone whose reach shrank no longer sees tickets about what they left.
            .filter(support_tickets::Column::SubscriptionId.in_subquery(subscriptions::ids_in_reach(principal)?));
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
        TicketKind::UserRemoval => remove_related_user(&mut tx, principal, &ticket).await?,
        TicketKind::General => {}
    }
    let mut active = ticket.into_active_model();
    active.status = Set(TicketStatus::Confirmed);
    active.confirmed_by = Set(Some(principal.person()?));
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

/// A confirmed USER_REMOVAL: the user's personal data erased for good, once they own nothing.
async fn remove_related_user(
    tx: &mut UnitOfWork<'_>,
    principal: &Principal,
    ticket: &support_tickets::Model,
) -> DomainResult<()> {
    let user_id = ticket.related_user_id.ok_or(DomainError::NotFound("user"))?;
    let user = users::find_by_id(user_id).one(&*tx).await?.ok_or(DomainError::NotFound("user"))?;
    if user.role == Role::Owner {
        return Err(DomainError::invalid("id", "the company owner cannot be removed"));
    }
    let held = plan(&*tx, user.id).await?;
    if !held.is_empty() {
        let transfer_first = |h: &Holding| {
            let what = format!("{} {}", h.held.kind().name(), h.name);
            FieldError::new(
                "relatedUserId",
                format!("{what} must first be transferred (deactivateUser with transferTo)"),
            )
        };
        return Err(DomainError::Validation(held.iter().map(transfer_first).collect()));
    }
    if user.status != UserStatus::Anonymized {
        scrub(tx, user, principal.person_id()).await?;
    }
    Ok(())
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

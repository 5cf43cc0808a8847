//! Inviting people by email: many at once, 7-day links, resend, revoke, accept.
//! An invited person is a `users` row with status INVITED (listed with the others, holding the
//! role, modules and sub-accounts granted) plus an `invitations` row and a single-use link.

use super::people::PersonName;
use super::{ForField, Problems};
use std::collections::BTreeSet;
use std::net::IpAddr;

use chrono::{DateTime, Duration, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder, Set,
};
use serde_json::json;

use super::accounts::{NewSession, issue_link, open_session, redeem_link, set_password};
use super::audit::AuditEvent;
use super::page::{Page, PageRequest, newest_first};
use super::permissions::{check_modules, check_sub_accounts, write};
use super::principal::Principal;
use super::services::Services;
use super::text;
use super::users::{NewUser, find_by_email, greeting_name};
use super::work::UnitOfWork;
use super::{DomainError, DomainResult, Email, FieldError, InvitationStatus, LinkPurpose, Module, Role, UserStatus};
use crate::db::{companies, invitations, link_tokens, users};
use crate::notify::{EmailNotification, Notification, Template};
use crate::types::{AuditAction, TargetKind};
use crate::types::{CompanyId, InvitationId, SubAccountId, UserId};

pub const VALIDITY: Duration = Duration::days(7);
pub const MAX_ADDRESSES: usize = 100;
pub const MAX_RESENDS_PER_HOUR: u64 = 5;

pub struct Invite {
    pub emails: Vec<String>,
    pub role: Role,
    pub modules: Vec<Module>,
    pub sub_account_ids: Vec<SubAccountId>,
}

/// The status a person sees: PENDING past its expiry is EXPIRED (derived, never stored, so it
/// cannot lag behind the clock).
pub fn status(invitation: &invitations::Model, now: DateTime<Utc>) -> InvitationStatus {
    match invitation.status {
        InvitationStatus::Pending if invitation.expires_at <= now => InvitationStatus::Expired,
        other => other,
    }
}

enum Plan {
    New(Email),
    Resend(invitations::Model),
}

/// Invites every address, or none: a problem with any address lists them all (`emails[i]`).
#[tracing::instrument(skip_all)]
pub async fn invite(svc: &Services, principal: &Principal, input: Invite) -> DomainResult<Vec<invitations::Model>> {
    let company_id = principal.company()?;
    principal.may_grant(input.role)?;
    if input.emails.is_empty() || input.emails.len() > MAX_ADDRESSES {
        // Before anything looks at the addresses: refusing 100,000 of them costs nothing.
        return Err(DomainError::invalid("emails", format!("give between 1 and {MAX_ADDRESSES} addresses")));
    }
    let mut problems = Problems::default();
    let modules = problems.record(check_modules(input.role, &input.modules)).unwrap_or_default();
    let mut tx = svc.begin_as(principal).await?;
    let now = tx.now();
    let sub_accounts =
        problems.record(check_sub_accounts(&tx, company_id, &input.sub_account_ids).await).unwrap_or_default();
    let plans = plan_addresses(&tx, company_id, &input.emails, &mut problems).await?;
    problems.finish()?;

    let inviter = users::find_by_id(principal.person()?).one(&tx).await?.ok_or(DomainError::NotFound("user"))?;
    let company = companies::Entity::find_by_id(company_id).one(&tx).await?.ok_or(DomainError::NotFound("company"))?;
    let grant = Grant { role: input.role, modules: &modules, sub_accounts: &sub_accounts };
    let mut sent = Vec::new();
    for plan in plans {
        let invitation = match plan {
            Plan::Resend(invitation) => invitation,
            Plan::New(email) => create(&mut tx, principal, &email, &grant).await?,
        };
        sent.push(send(svc, &tx, invitation, &inviter, &company, now).await?);
    }
    tx.commit().await?;
    Ok(sent)
}

/// What each address gets: a new invitation, or the pending one sent again. Each address's
/// problem (unreadable, listed twice, taken) is recorded under `emails[i]`.
async fn plan_addresses(
    db: &impl ConnectionTrait,
    company_id: CompanyId,
    emails: &[String],
    problems: &mut Problems,
) -> DomainResult<Vec<Plan>> {
    let mut plans = Vec::new();
    let mut seen = Vec::new();
    for (i, raw) in emails.iter().enumerate() {
        let field = format!("emails[{i}]");
        let email = match Email::parse(raw) {
            Ok(email) => email,
            Err(e) => {
                problems.push(FieldError::new(field, format!("{} {e}", text::quoted(raw))));
                continue;
            }
        };
        if seen.contains(&email) {
            problems.push(FieldError::new(field, format!("{email} is listed twice")));
            continue;
        }
        seen.push(email.clone());
        let member = || FieldError::new(&field, format!("{email} is already a member of the company"));
        match find_by_email(db, &email).await? {
            None => plans.push(Plan::New(email)),
            Some(user) if user.company_id == Some(company_id) && user.status == UserStatus::Invited => {
                match pending_of(db, user.id).await? {
                    Some(invitation) => plans.push(Plan::Resend(invitation)),
                    None => problems.push(member()),
                }
            }
            Some(user) if user.company_id == Some(company_id) => problems.push(member()),
            Some(_) => problems.push(FieldError::new(&field, format!("{email} already has an account elsewhere"))),
        }
    }
    Ok(plans)
}

/// What an invitation grants once accepted.
struct Grant<'a> {
    role: Role,
    modules: &'a BTreeSet<Module>,
    sub_accounts: &'a BTreeSet<SubAccountId>,
}

/// The INVITED user holding the future role, modules and sub-accounts, and their invitation.
async fn create(
    tx: &mut UnitOfWork<'_>,
    principal: &Principal,
    email: &Email,
    grant: &Grant<'_>,
) -> DomainResult<invitations::Model> {
    let (company_id, now) = (principal.company()?, tx.now());
    let user = NewUser {
        email,
        company_id: Some(company_id),
        role: grant.role,
        status: UserStatus::Invited,
        given_name: None,
        surname: None,
        locale: crate::types::Locale::default(),
    }
    .into_active_model(now)
    .insert(&*tx)
    .await?;
    write(&*tx, user.id, grant.modules, grant.sub_accounts).await?;
    let invitation = invitations::ActiveModel {
        id: Set(crate::types::InvitationId::new()),
        company_id: Set(company_id),
        user_id: Set(Some(user.id)),
        email: Set(email.clone()),
        role: Set(grant.role),
        status: Set(InvitationStatus::Pending),
        invited_by: Set(Some(principal.person()?)),
        send_count: Set(0),
        last_sent_at: Set(now),
        expires_at: Set(now + VALIDITY),
        accepted_at: Set(None),
        revoked_at: Set(None),
        created_at: Set(now),
    }
    .insert(&*tx)
    .await?;
    let after = json!({"email": invitation.email, "role": grant.role, "modules": grant.modules, "userId": user.id});
    tx.audit(
        AuditEvent::new(AuditAction::InvitationCreated, TargetKind::Invitation, invitation.id)
            .company(Some(company_id))
            .after(after),
    );
    Ok(invitation)
}

async fn pending_of(db: &impl ConnectionTrait, user_id: UserId) -> DomainResult<Option<invitations::Model>> {
    Ok(invitations::Entity::find()
        .filter(invitations::Column::UserId.eq(user_id))
        .filter(invitations::Column::Status.eq(InvitationStatus::Pending))
        .one(db)
        .await?)
}

/// Issues a new link (voiding the previous one), restarts the 7 days, queues the email.
async fn send(
    svc: &Services,
    db: &UnitOfWork<'_>,
    invitation: invitations::Model,
    inviter: &users::Model,
    company: &companies::Model,
    now: DateTime<Utc>,
) -> DomainResult<invitations::Model> {
    let user_id = invitation.user_id.ok_or(DomainError::NotFound("invited user"))?;
    let token = issue_link(db, user_id, LinkPurpose::Invitation, now + VALIDITY, now).await?;
    let modules: Vec<Module> = if invitation.role == Role::User {
        crate::db::user_modules::Entity::find()
            .filter(crate::db::user_modules::Column::UserId.eq(user_id))
            .all(db)
            .await?
            .into_iter()
            .map(|row| row.module)
            .collect()
    } else {
        <Module as sea_orm::Iterable>::iter().collect()
    };
    let inviter_name = match (&inviter.given_name, &inviter.surname) {
        (Some(given), Some(surname)) => format!("{given} {surname}"),
        _ => greeting_name(inviter),
    };
    let vars = json!({
        "inviterName": inviter_name,
        "companyName": company.name,
        "acceptUrl": svc.link(&format!("accept-invitation?token={token}")),
        "validDays": VALIDITY.num_days(),
        "modules": modules,
    });
    let email = invitation.email.clone();
    db.notify(Notification {
        company_id: Some(invitation.company_id),
        event_type: crate::types::EventType::InvitationSent,
        data: json!({"invitationId": invitation.id, "email": invitation.email}),
        email: Some(EmailNotification::new(&email, Template::Invitation, "en", vars)),
    })
    .await?;
    let send_count = invitation.send_count + 1;
    let mut active = invitation.into_active_model();
    active.send_count = Set(send_count);
    active.last_sent_at = Set(now);
    active.expires_at = Set(now + VALIDITY);
    Ok(active.update(db).await?)
}

fn of_company(principal: &Principal) -> DomainResult<sea_orm::Select<invitations::Entity>> {
    Ok(invitations::Entity::find().filter(invitations::Column::CompanyId.eq(principal.company()?)))
}

async fn find(db: &impl ConnectionTrait, principal: &Principal, id: InvitationId) -> DomainResult<invitations::Model> {
    of_company(principal)?
        .filter(invitations::Column::Id.eq(id))
        .one(db)
        .await?
        .ok_or(DomainError::NotFound("invitation"))
}

/// A pending invitation of the caller's company; any other status is a CONFLICT ending in `hint`.
async fn find_pending(
    db: &impl ConnectionTrait,
    principal: &Principal,
    id: InvitationId,
    hint: &str,
) -> DomainResult<invitations::Model> {
    let invitation = find(db, principal, id).await?;
    if invitation.status != InvitationStatus::Pending {
        return Err(DomainError::Conflict {
            field: Some("id".into()),
            message: format!("This invitation is {:?}: {hint}", invitation.status),
        });
    }
    Ok(invitation)
}

#[tracing::instrument(skip_all)]
pub async fn list(
    svc: &Services,
    principal: &Principal,
    wanted: Option<InvitationStatus>,
    page: PageRequest,
) -> DomainResult<Page<invitations::Model>> {
    let now = svc.clock.now();
    let mut query = of_company(principal)?;
    query = match wanted {
        Some(InvitationStatus::Pending) => query
            .filter(invitations::Column::Status.eq(InvitationStatus::Pending))
            .filter(invitations::Column::ExpiresAt.gt(now)),
        Some(InvitationStatus::Expired) => query
            .filter(invitations::Column::Status.eq(InvitationStatus::Pending))
            .filter(invitations::Column::ExpiresAt.lte(now)),
        Some(other) => query.filter(invitations::Column::Status.eq(other)),
        None => query,
    };
    newest_first(&svc.db, query, invitations::Column::Id, page).await
}

/// A new link for a pending (or expired) invitation; at most 5 resends an hour.
#[tracing::instrument(skip_all)]
pub async fn resend(svc: &Services, principal: &Principal, id: InvitationId) -> DomainResult<invitations::Model> {
    let mut tx = svc.begin_as(principal).await?;
    let now = tx.now();
    let invitation = find_pending(&tx, principal, id, "invite the address again instead").await?;
    principal.may_grant(invitation.role)?;
    let user_id = invitation.user_id.ok_or(DomainError::NotFound("invited user"))?;
    let hour_ago = now - Duration::hours(1);
    let recent: Vec<DateTime<Utc>> = link_tokens::Entity::find()
        .filter(link_tokens::Column::UserId.eq(user_id))
        .filter(link_tokens::Column::Purpose.eq(LinkPurpose::Invitation))
        .filter(link_tokens::Column::CreatedAt.gt(hour_ago))
        .order_by_asc(link_tokens::Column::CreatedAt)
        .all(&tx)
        .await?
        .into_iter()
        .map(|t| t.created_at)
        .collect();
    // The first sending is not a resend.
    let resends = recent.len() as u64 - u64::from(invitation.created_at > hour_ago).min(recent.len() as u64);
    if resends >= MAX_RESENDS_PER_HOUR {
        let oldest = recent.first().copied().unwrap_or(now);
        let retry_after = (oldest + Duration::hours(1) - now).to_std().unwrap_or_default();
        return Err(DomainError::RateLimited { retry_after });
    }
    let inviter = users::find_by_id(principal.person()?).one(&tx).await?.ok_or(DomainError::NotFound("user"))?;
    let company =
        companies::Entity::find_by_id(invitation.company_id).one(&tx).await?.ok_or(DomainError::NotFound("company"))?;
    let invitation = send(svc, &tx, invitation, &inviter, &company, now).await?;
    tx.audit(
        AuditEvent::new(AuditAction::InvitationResent, TargetKind::Invitation, invitation.id)
            .company(Some(invitation.company_id))
            .after(json!({"sendCount": invitation.send_count})),
    );
    tx.commit().await?;
    Ok(invitation)
}

/// Voids the link and removes the invited person; the address can be invited again.
#[tracing::instrument(skip_all)]
pub async fn revoke(svc: &Services, principal: &Principal, id: InvitationId) -> DomainResult<invitations::Model> {
    let mut tx = svc.begin_as(principal).await?;
    let now = tx.now();
    let invitation = find_pending(&tx, principal, id, "nothing to revoke").await?;
    principal.may_grant(invitation.role)?;
    if let Some(user_id) = invitation.user_id {
        // Deleting the INVITED user takes their grants and links with it (foreign keys).
        users::Entity::delete_many()
            .filter(users::Column::Id.eq(user_id))
            .filter(users::Column::Status.eq(UserStatus::Invited))
            .exec(&tx)
            .await?;
    }
    let mut active = invitation.into_active_model();
    active.status = Set(InvitationStatus::Revoked);
    active.revoked_at = Set(Some(now));
    active.user_id = Set(None);
    let invitation = active.update(&tx).await?;
    tx.audit(
        AuditEvent::new(AuditAction::InvitationRevoked, TargetKind::Invitation, invitation.id)
            .company(Some(invitation.company_id)),
    );
    tx.commit().await?;
    Ok(invitation)
}

fn ask_again() -> DomainError {
    DomainError::invalid(
        "token",
        "This invitation link is no longer valid (expired, revoked, used, or replaced by a newer one): ask for a new invitation",
    )
}

/// Accepting: the person chooses a password (the policy applies) and becomes ACTIVE with the
/// role, modules and sub-accounts they were invited with; they are signed in.
#[tracing::instrument(skip_all)]
pub async fn accept(
    svc: &Services,
    token: &str,
    password: &str,
    given_name: Option<String>,
    surname: Option<String>,
    client: Option<IpAddr>,
) -> DomainResult<NewSession> {
    let mut tx = svc.begin().await?;
    let now = tx.now();
    let link = redeem_link(&tx, token, &[LinkPurpose::Invitation], now).await.map_err(|_| ask_again())?;
    let invitation = pending_of(&tx, link.user_id).await?.filter(|i| i.expires_at > now).ok_or_else(ask_again)?;
    let user = users::find_by_id(link.user_id)
        .one(&tx)
        .await?
        .filter(|u| u.status == UserStatus::Invited)
        .ok_or_else(ask_again)?;
    let clean = |field: &str, value: Option<String>| -> DomainResult<Option<String>> {
        let Some(value) = value else { return Ok(None) };
        let text = PersonName::parse(&value).for_field(field)?;
        Ok(Some(text.into_inner()).filter(|t| !t.is_empty()))
    };
    let (given_name, surname) = (
        clean("givenName", given_name)?.or(user.given_name.clone()),
        clean("surname", surname)?.or(user.surname.clone()),
    );
    let user = set_password(svc, &mut tx, user, "password", password, None).await?;
    let mut active = user.into_active_model();
    active.status = Set(UserStatus::Active);
    active.activated_at = Set(Some(now));
    active.given_name = Set(given_name);
    active.surname = Set(surname);
    let user = active.update(&tx).await?;
    invitations::Entity::update_many()
        .col_expr(invitations::Column::Status, Expr::value(InvitationStatus::Accepted))
        .col_expr(invitations::Column::AcceptedAt, Expr::value(now))
        .filter(invitations::Column::Id.eq(invitation.id))
        .exec(&tx)
        .await?;
    tx.audit(
        AuditEvent::new(AuditAction::InvitationAccepted, TargetKind::Invitation, invitation.id)
            .company(user.company_id)
            .actor(Some(user.id))
            .after(json!({"userId": user.id})),
    );
    let data = json!({"invitationId": invitation.id, "userId": user.id, "email": user.email});
    tx.notify(Notification {
        company_id: user.company_id,
        event_type: crate::types::EventType::InvitationAccepted,
        data,
        email: None,
    })
    .await?;
    let (token, expires_at) = open_session(svc, &tx, &user, client, now).await?;
    tx.commit().await?;
    Ok(NewSession { token, expires_at, user })
}

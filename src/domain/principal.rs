//! Who is calling, and the one place that decides what they may do.

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, Iterable, QueryFilter};
use uuid::Uuid;

use super::tokens::hash_token;
use super::{DomainError, DomainResult, Module, Role, Services, UserStatus, api_keys};
use crate::db::{sessions, user_modules, user_sub_accounts, users};
use crate::types::{ApiKeyId, CompanyId, SubAccountId, UserId};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    pub actor: Actor,
    /// None for platform staff.
    pub company_id: Option<CompanyId>,
    /// An API key's is always `User`: a key is never an administrator, whoever made it.
    pub role: Role,
    /// Owners and administrators hold every module; a key, those it was given that its
    /// creator still holds.
    pub modules: Vec<Module>,
    pub must_change_password: bool,
    /// Which of the company's service subscriptions (and everything under them) the caller
    /// sees and acts on: every query of that tree filters by it (`subscriptions::in_reach`).
    pub reach: Reach,
}

/// The part of a company's service subscriptions a caller reaches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reach {
    /// Owners, administrators, users limited to no sub-account, platform staff.
    WholeCompany,
    /// A user limited to these sub-accounts (never empty): the subscriptions they hold only,
    /// not the company-level ones.
    SubAccounts(Vec<SubAccountId>),
}

impl Reach {
    /// Whether a subscription held by `holder` (None: the company as a whole) is in reach.
    pub fn covers(&self, holder: Option<SubAccountId>) -> bool {
        match self {
            Reach::WholeCompany => true,
            Reach::SubAccounts(ids) => holder.is_some_and(|holder| ids.contains(&holder)),
        }
    }

    /// The reach of `user` now: administrators reach everything, whatever rows say.
    pub async fn of(db: &impl ConnectionTrait, user: &users::Model) -> DomainResult<Reach> {
        if user.role != Role::User {
            return Ok(Reach::WholeCompany);
        }
        let limits: Vec<SubAccountId> = user_sub_accounts::Entity::find()
            .filter(user_sub_accounts::Column::UserId.eq(user.id))
            .all(db)
            .await?
            .into_iter()
            .map(|row| row.sub_account_id)
            .collect();
        Ok(if limits.is_empty() { Reach::WholeCompany } else { Reach::SubAccounts(limits) })
    }
}

/// Who acts: a person through a session, or an integration through a company's API key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Actor {
    Person { user_id: UserId, session_id: Uuid },
    ApiKey { key_id: ApiKeyId },
}

/// What an operation requires of its caller. Every resolver names one; `Principal::authorize`
/// is the only code that interprets them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Any signed-in user, even one who must still change a temporary password (`viewer`,
    /// `changePassword`, `logout`).
    SignedInEvenWithTemporaryPassword,
    /// A person signed in with a session, even with a temporary password (`logout`,
    /// `changePassword`): an API key has neither a session nor a password.
    PersonEvenWithTemporaryPassword,
    /// Any signed-in user of a company.
    CompanyMember,
    /// A company user holding the module (owners and administrators hold all).
    Module(Module),
    /// The company's owner or an administrator.
    CompanyAdmin,
    /// The company's owner.
    CompanyOwner,
    Operator,
    SupportAgent,
    /// Platform staff: an operator or a support agent.
    PlatformStaff,
    /// A company's user (their own company), or platform staff (any, named by id).
    CompanyMemberOrStaff,
    /// A company's owner or administrator, or a platform operator.
    AnyAdministrator,
    /// A person of a company, signed in with a session: an API key cannot (keys do not mint
    /// keys, so a leaked key cannot outlive its revocation through another).
    CompanyPerson,
    /// A platform operator, or a company's owner (for their company).
    OperatorOrCompanyOwner,
    /// A company user with the SUPPORT module, or a support agent.
    SupportModuleOrAgent,
    /// A company user holding the module, or a platform operator (who sets such things up for
    /// companies: the members of a subscription they just created).
    ModuleOrOperator(Module),
}

impl Principal {
    pub fn authorize(&self, access: Access) -> DomainResult<()> {
        let even_temporary =
            matches!(access, Access::SignedInEvenWithTemporaryPassword | Access::PersonEvenWithTemporaryPassword);
        if self.must_change_password && !even_temporary {
            return Err(DomainError::Forbidden(
                "You signed in with a temporary password: change it (changePassword) before doing anything else".into(),
            ));
        }
        let allowed = match access {
            Access::SignedInEvenWithTemporaryPassword => true,
            Access::PersonEvenWithTemporaryPassword => self.person_id().is_some(),
            Access::CompanyMember => self.company_id.is_some(),
            Access::CompanyPerson => self.company_id.is_some() && self.person_id().is_some(),
            Access::Module(module) => self.company_id.is_some() && self.modules.contains(&module),
            Access::CompanyAdmin => self.company_id.is_some() && self.role.is_company_admin(),
            Access::CompanyOwner => self.company_id.is_some() && self.role == Role::Owner,
            Access::Operator => self.role == Role::Operator,
            Access::SupportAgent => self.role == Role::SupportAgent,
            Access::PlatformStaff => self.role.is_platform_staff(),
            Access::CompanyMemberOrStaff => self.company_id.is_some() || self.role.is_platform_staff(),
            Access::AnyAdministrator => self.role == Role::Operator || self.role.is_company_admin(),
            Access::OperatorOrCompanyOwner => matches!(self.role, Role::Operator | Role::Owner),
            Access::ModuleOrOperator(module) => {
                self.role == Role::Operator || (self.company_id.is_some() && self.modules.contains(&module))
            }
            Access::SupportModuleOrAgent => {
                self.role == Role::SupportAgent
                    || (self.company_id.is_some() && self.modules.contains(&Module::Support))
            }
        };
        if allowed {
            return Ok(());
        }
        Err(DomainError::Forbidden(match access {
            Access::Module(module) | Access::ModuleOrOperator(module) => {
                format!("This needs the {} module, which you do not hold", module.code())
            }
            Access::CompanyAdmin | Access::AnyAdministrator => "Only administrators may do this".into(),
            Access::CompanyOwner => "Only the company's owner may do this".into(),
            Access::Operator => "Only platform operators may do this".into(),
            Access::OperatorOrCompanyOwner => "Only platform operators and company owners may do this".into(),
            Access::SupportModuleOrAgent => "This needs the SUPPORT module".into(),
            Access::SupportAgent => "Only support agents may do this".into(),
            Access::PlatformStaff => "Only platform staff may do this".into(),
            Access::CompanyPerson | Access::PersonEvenWithTemporaryPassword if self.api_key_id().is_some() => {
                "Only people signed in with a session may do this, not an API key".into()
            }
            _ => "This is only for users of a company".into(),
        }))
    }

    /// Who may change whom: a user's address, names, role, permissions, status, and tickets
    /// about them. The owner may change anyone of the company; an administrator, users and
    /// themself; nobody else anyone. Every mutation that changes a person asks here, so an
    /// administrator can never rewrite the owner's address and reset their way into it.
    /// An API key holding USER_MANAGEMENT (only administrators can give it one) manages users
    /// as an administrator would, never the owner or an administrator.
    pub fn may_manage(&self, target_id: UserId, target_role: Role) -> DomainResult<()> {
        if self.role == Role::Owner || Some(target_id) == self.person_id() {
            return Ok(());
        }
        match target_role {
            Role::Owner => Err(DomainError::Forbidden("Only the owner may change the owner's account".into())),
            Role::Admin => Err(DomainError::Forbidden("Only the owner may change an administrator".into())),
            _ if self.role.is_company_admin() => Ok(()),
            _ if self.api_key_id().is_some() && self.modules.contains(&Module::UserManagement) => Ok(()),
            _ => Err(DomainError::Forbidden("Only administrators may change other users".into())),
        }
    }

    /// Only the owner makes administrators (by invitation as well as by `addCompanyAdmin`).
    pub fn may_grant(&self, role: Role) -> DomainResult<()> {
        match role {
            Role::User => Ok(()),
            Role::Admin if self.role == Role::Owner => Ok(()),
            Role::Admin => Err(DomainError::Forbidden("Only the owner may make administrators".into())),
            _ => Err(DomainError::invalid("role", "must be ADMIN or USER")),
        }
    }

    /// The signed-in person, for what only a person can do (their own password, a ticket they
    /// open, an invitation signed with their name); an API key is refused.
    pub fn person(&self) -> DomainResult<UserId> {
        self.person_id().ok_or_else(|| DomainError::Forbidden(API_KEY_REFUSED.into()))
    }

    /// The signed-in person, if a person is calling.
    pub fn person_id(&self) -> Option<UserId> {
        match self.actor {
            Actor::Person { user_id, .. } => Some(user_id),
            Actor::ApiKey { .. } => None,
        }
    }

    /// The session a person signed in with (to end it, or keep it when the password changes).
    pub fn session(&self) -> DomainResult<Uuid> {
        match self.actor {
            Actor::Person { session_id, .. } => Ok(session_id),
            Actor::ApiKey { .. } => Err(DomainError::Forbidden(API_KEY_REFUSED.into())),
        }
    }

    pub fn api_key_id(&self) -> Option<ApiKeyId> {
        match self.actor {
            Actor::ApiKey { key_id } => Some(key_id),
            Actor::Person { .. } => None,
        }
    }

    /// The caller's company, for scoping every query; platform staff have none.
    pub fn company(&self) -> DomainResult<CompanyId> {
        self.company_id.ok_or_else(|| DomainError::Forbidden("This is only for users of a company".into()))
    }
}

/// What a rule that needs a person answers a key (the access table's own refusal of keys says
/// something else, so the two cannot be taken for each other).
/// The modules `user` holds now: every one for owners and administrators, else their grants.
pub async fn held_modules(db: &impl ConnectionTrait, user: &users::Model) -> DomainResult<Vec<Module>> {
    if user.role.is_company_admin() {
        return Ok(Module::iter().collect());
    }
    Ok(user_modules::Entity::find()
        .filter(user_modules::Column::UserId.eq(user.id))
        .all(db)
        .await?
        .into_iter()
        .map(|row| row.module)
        .collect())
}

const API_KEY_REFUSED: &str =
    "An API key acts for no person: passwords, tickets and invitations are for people signed in";

/// Resolves a bearer token: a session's, or an API key (`pk_live_…`). An unknown, expired or
/// revoked token, or one whose user is no longer active, is `Unauthenticated` (the client must
/// log in again), never a silent anonymous. A session resolved a moment ago comes from
/// `svc.principals` (see `principal_cache` for why that is never stale).
pub async fn authenticate(svc: &Services, token: &str) -> DomainResult<Principal> {
    let now = svc.clock.now();
    if api_keys::looks_like_key(token) {
        return api_keys::authenticate(&svc.db, token, now).await;
    }
    let token_hash = hash_token(token);
    if let Some(principal) = svc.principals.get(&token_hash, now) {
        return Ok(principal);
    }
    let epoch = svc.principals.epoch();
    // The reader pool: a request is not held up by a long write (an import on SQLite).
    let (principal, expires_at) = session_principal(&svc.reads, &token_hash, now).await?;
    svc.principals.store(token_hash, principal.clone(), expires_at, epoch);
    Ok(principal)
}

/// The principal of a session from the database, and when the session expires.
async fn session_principal(
    db: &impl ConnectionTrait,
    token_hash: &str,
    now: DateTime<Utc>,
) -> DomainResult<(Principal, DateTime<Utc>)> {
    // A suspended company's sessions were revoked with the suspension; its users are also
    // left out here, for one opened in the same instant.
    let found = sessions::Entity::find()
        .filter(sessions::Column::TokenHash.eq(token_hash))
        .find_also_related(users::Entity)
        .filter(super::companies::not_suspended(users::Column::CompanyId))
        .one(db)
        .await?;
    let rejected = || DomainError::Unauthenticated("the session token is invalid or has expired".into());
    let (session, Some(user)) = found.ok_or_else(rejected)? else {
        return Err(rejected());
    };
    if session.revoked_at.is_some() || session.expires_at <= now || user.status != UserStatus::Active {
        return Err(rejected());
    }
    // Read with the session, so a change of permissions applies to live sessions at once.
    let modules = held_modules(db, &user).await?;
    let principal = Principal {
        actor: Actor::Person { user_id: user.id, session_id: session.id },
        company_id: user.company_id,
        role: user.role,
        modules,
        must_change_password: user.must_change_password,
        reach: Reach::of(db, &user).await?,
    };
    Ok((principal, session.expires_at))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(role: Role, modules: Vec<Module>, must_change_password: bool) -> Principal {
        let company_id = (!role.is_platform_staff()).then(CompanyId::new);
        Principal {
            actor: Actor::Person { user_id: UserId::new(), session_id: Uuid::now_v7() },
            company_id,
            role,
            modules,
            must_change_password,
            reach: Reach::WholeCompany,
        }
    }

    #[test]
    fn a_temporary_password_allows_only_changing_it() {
        let owner = principal(Role::Owner, Module::iter().collect(), true);
        assert!(owner.authorize(Access::SignedInEvenWithTemporaryPassword).is_ok());
        assert!(
            matches!(owner.authorize(Access::CompanyMember), Err(DomainError::Forbidden(m)) if m.contains("temporary password"))
        );
    }

    #[test]
    fn roles_and_modules() {
        let user = principal(Role::User, vec![Module::Reports], false);
        assert!(user.authorize(Access::Module(Module::Reports)).is_ok());
        assert!(user.authorize(Access::Module(Module::UserManagement)).is_err());
        assert!(user.authorize(Access::CompanyAdmin).is_err());
        let operator = principal(Role::Operator, vec![], false);
        assert!(operator.authorize(Access::Operator).is_ok());
        assert!(operator.authorize(Access::CompanyMember).is_err(), "staff are not company users");
        assert!(operator.company().is_err());
        let admin = principal(Role::Admin, Module::iter().collect(), false);
        assert!(admin.authorize(Access::CompanyAdmin).is_ok());
        assert!(admin.authorize(Access::CompanyOwner).is_err());
    }

    #[test]
    fn an_api_key_is_nobody_and_never_an_administrator() {
        let key = Principal {
            actor: Actor::ApiKey { key_id: ApiKeyId::new() },
            company_id: Some(CompanyId::new()),
            role: Role::User,
            modules: vec![Module::UserManagement],
            must_change_password: false,
            reach: Reach::WholeCompany,
        };
        assert!(key.authorize(Access::Module(Module::UserManagement)).is_ok());
        for refused in [Access::CompanyPerson, Access::PersonEvenWithTemporaryPassword, Access::CompanyAdmin] {
            assert!(key.authorize(refused).is_err(), "{refused:?}");
        }
        assert!(key.person().is_err() && key.session().is_err() && key.person_id().is_none());
        assert!(key.may_manage(UserId::new(), Role::User).is_ok(), "USER_MANAGEMENT manages plain users");
        assert!(key.may_manage(UserId::new(), Role::Admin).is_err());
        assert!(key.may_manage(UserId::new(), Role::Owner).is_err());
        let reports_key = Principal { modules: vec![Module::Reports], ..key };
        assert!(reports_key.may_manage(UserId::new(), Role::User).is_err());
    }

    #[test]
    fn a_limited_reach_covers_its_sub_accounts_only() {
        let (alpha, beta) = (SubAccountId::new(), SubAccountId::new());
        let limited = Reach::SubAccounts(vec![alpha]);
        assert!(limited.covers(Some(alpha)));
        assert!(!limited.covers(Some(beta)), "another sub-account's");
        assert!(!limited.covers(None), "the company-level ones are for unlimited users");
        assert!(Reach::WholeCompany.covers(None) && Reach::WholeCompany.covers(Some(beta)));
    }

    #[test]
    fn who_may_change_whom() {
        let owner = principal(Role::Owner, Module::iter().collect(), false);
        let admin = principal(Role::Admin, Module::iter().collect(), false);
        let user = principal(Role::User, vec![], false);
        let other = UserId::new();
        assert!(owner.may_manage(other, Role::Admin).is_ok());
        assert!(admin.may_manage(owner.person().unwrap(), Role::Owner).is_err(), "no takeover of the owner");
        assert!(admin.may_manage(other, Role::Admin).is_err(), "nor of another administrator");
        assert!(admin.may_manage(admin.person().unwrap(), Role::Admin).is_ok(), "an administrator edits themself");
        assert!(admin.may_manage(other, Role::User).is_ok());
        assert!(user.may_manage(other, Role::User).is_err());
        assert!(owner.may_grant(Role::Admin).is_ok());
        assert!(admin.may_grant(Role::Admin).is_err());
        assert!(admin.may_grant(Role::User).is_ok());
        assert!(owner.may_grant(Role::Owner).is_err());
    }
}

//! What the password pages say when they open: whether the link in the address can still be
//! used, checked without using it (nothing is written, no attempt is counted). The link's
//! holder learns only what the email already told them: the address it was sent to, and only
//! while the link is usable (the pages check "must not contain your email name" with it).

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

use super::tokens::hash_token;
use super::{DomainResult, Email, InvitationStatus, LinkPurpose, UserStatus};
use crate::db::{invitations, link_tokens, users};

/// Which page asks: the reset and set-password pages take reset and activation links, the
/// invitation page takes invitation links.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkKind {
    Password,
    Invitation,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkState {
    Usable,
    Used,
    Expired,
    /// Not a link of this kind at all, or replaced by a newer one, or its person has changed
    /// (deactivated, already active): the page says to ask for a new one.
    Invalid,
}

#[derive(Clone, Debug)]
pub struct LinkInspection {
    pub state: LinkState,
    /// Only while usable.
    pub email: Option<Email>,
}

/// Longer than any token we make (43 characters); a longer one is not hashed, just refused.
const MAX_TOKEN_CHARS: usize = 128;

pub async fn inspect(
    db: &impl ConnectionTrait,
    token: &str,
    kind: LinkKind,
    now: DateTime<Utc>,
) -> DomainResult<LinkInspection> {
    let invalid = LinkInspection { state: LinkState::Invalid, email: None };
    let token = token.trim();
    if token.is_empty() || token.len() > MAX_TOKEN_CHARS {
        return Ok(invalid);
    }
    let purposes = match kind {
        LinkKind::Password => vec![LinkPurpose::PasswordReset, LinkPurpose::Activation],
        LinkKind::Invitation => vec![LinkPurpose::Invitation],
    };
    let Some(link) = link_tokens::Entity::find()
        .filter(link_tokens::Column::TokenHash.eq(hash_token(token)))
        .filter(link_tokens::Column::Purpose.is_in(purposes))
        .one(db)
        .await?
    else {
        return Ok(invalid);
    };
    let state = if link.voided_at.is_some() {
        LinkState::Invalid
    } else if link.used_at.is_some() {
        LinkState::Used
    } else if link.expires_at <= now {
        LinkState::Expired
    } else {
        LinkState::Usable
    };
    if state != LinkState::Usable {
        return Ok(LinkInspection { state, email: None });
    }
    let Some(user) = users::find_by_id(link.user_id).one(db).await? else { return Ok(invalid) };
    let person_fits = match kind {
        LinkKind::Password => user.status == UserStatus::Active,
        LinkKind::Invitation => {
            let pending = invitations::Entity::find()
                .filter(invitations::Column::UserId.eq(link.user_id))
                .filter(invitations::Column::Status.eq(InvitationStatus::Pending))
                .one(db)
                .await?;
            if pending.as_ref().is_some_and(|i| i.expires_at <= now) {
                return Ok(LinkInspection { state: LinkState::Expired, email: None });
            }
            user.status == UserStatus::Invited && pending.is_some()
        }
    };
    if !person_fits {
        return Ok(invalid);
    }
    Ok(LinkInspection { state: LinkState::Usable, email: Some(user.email) })
}

//! What the outbox carries: one list of every event, with the name webhook consumers see and
//! whether an endpoint may subscribe to it. Subscription checks, the error that lists the known
//! names, and `enqueue` all read this list, so an event cannot be sent under a name nobody can
//! ask for by accident.

macro_rules! event_types {
    ($($(#[$meta:meta])* $variant:ident = $name:literal, subscribable: $subscribable:literal;)+) => {
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum EventType {
            $($(#[$meta])* $variant,)+
        }

        impl EventType {
            pub const ALL: &[EventType] = &[$(EventType::$variant),+];

            /// The dotted name: `user.created`.
            pub fn name(self) -> &'static str {
                match self {
                    $(EventType::$variant => $name,)+
                }
            }

            /// Whether a webhook endpoint may ask for it (see each variant for why not).
            pub fn subscribable(self) -> bool {
                match self {
                    $(EventType::$variant => $subscribable,)+
                }
            }
        }
    };
}

event_types! {
    UserCreated = "user.created", subscribable: true;
    UserUpdated = "user.updated", subscribable: true;
    UserDeactivated = "user.deactivated", subscribable: true;
    UserReactivated = "user.reactivated", subscribable: true;
    UserAnonymized = "user.anonymized", subscribable: true;
    InvitationSent = "invitation.sent", subscribable: true;
    InvitationAccepted = "invitation.accepted", subscribable: true;
    ImportProgress = "import.progress", subscribable: true;
    ImportCompleted = "import.completed", subscribable: true;
    TicketCreated = "ticket.created", subscribable: true;
    TicketConfirmed = "ticket.confirmed", subscribable: true;
    ApiKeyCreated = "api_key.created", subscribable: true;
    ApiKeyRevoked = "api_key.revoked", subscribable: true;
    ApiKeyRotated = "api_key.rotated", subscribable: true;
    /// The platform suspended the company (its users cannot sign in) or lifted it.
    CompanySuspended = "company.suspended", subscribable: true;
    CompanyReactivated = "company.reactivated", subscribable: true;
    /// Sent by `testWebhookEndpoint` to one endpoint, whatever it subscribed to; subscribing
    /// to it is allowed (and harmless) so that a consumer can list it among its events.
    WebhookTest = "webhook.test", subscribable: true;
    /// Carries a reset link to the account's own address only: a webhook would hand the
    /// link (a way into the account) to a third party.
    PasswordResetRequested = "user.password_reset_requested", subscribable: false;
    /// Platform staff belong to no company, and webhook endpoints belong to companies.
    StaffCreated = "staff.created", subscribable: false;
}

impl EventType {
    /// The events an endpoint may subscribe to, by name.
    pub fn subscribable_names() -> impl Iterator<Item = &'static str> {
        EventType::ALL.iter().filter(|e| e.subscribable()).map(|e| e.name())
    }

    /// An event an endpoint may subscribe to, by its dotted name.
    pub fn subscribable_by_name(name: &str) -> Option<EventType> {
        EventType::ALL.iter().copied().find(|e| e.subscribable() && e.name() == name)
    }
}

impl std::fmt::Display for EventType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::EventType;

    #[test]
    fn names_are_unique_and_dotted() {
        let names: std::collections::HashSet<&str> = EventType::ALL.iter().map(|e| e.name()).collect();
        assert_eq!(names.len(), EventType::ALL.len());
        assert!(
            names.iter().all(|n| n.contains('.') && n.chars().all(|c| c.is_ascii_lowercase() || c == '.' || c == '_'))
        );
        assert_eq!(EventType::subscribable_by_name("user.created"), Some(EventType::UserCreated));
        assert_eq!(EventType::subscribable_by_name("user.password_reset_requested"), None);
    }
}

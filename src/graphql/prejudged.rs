//! Judging a whole document before it runs, so that most requests need no per-field hook.
//!
//! The field guard (`field_access.rs`) judges every field as it resolves, through the schema's
//! extension. async-graphql pays for any extension on every field of every response (a boxed
//! future, a `ResolveInfo`, two formatted type names per list item): about a fifth of a list's
//! time. Yet who may read a field depends only on the caller and on where the field sits in the
//! document, both known before execution. So an HTTP request first has its document walked
//! here with the same judgement (`field_access::judge`) against every field it selects, through
//! fragments too; if every one is allowed, it runs on a schema without the extension. If any
//! field is refused, undeclared or not understood, the request runs on the guarded schema as
//! before, which answers the refusals field by field: this walk can only let a request skip
//! checks that would all have passed.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::parser::types::{
    BaseType, ExecutableDocument, OperationType, Selection, SelectionSet, TypeKind, TypeSystemDefinition,
};

use super::PortalSchema;
use super::field_access::{judge, opens_own_account};
use super::limits::QueryLimits;
use crate::domain::principal::Principal;

/// Deeper than the request limits allow; a walk that gets here gives up (runs guarded).
const MOST_NESTING: usize = 128;
/// More field visits than the request limits allow after expanding fragments.
const MOST_FIELDS: usize = 20_000;

/// The schema without the field guard's extension, and what it takes to clear a request for it.
#[derive(Clone)]
pub struct Prejudged {
    schema: PortalSchema,
    fields: Arc<FieldTypes>,
}

impl Prejudged {
    pub fn new(schema: PortalSchema) -> Prejudged {
        let fields = Arc::new(FieldTypes::of_sdl(&schema.sdl()));
        Prejudged { schema, fields }
    }

    /// The unguarded schema, if the request passes the limits (which bound this walk) and
    /// every field it selects is one the caller may read; otherwise None, and the request
    /// runs guarded.
    pub fn clear(
        &self,
        limits: &QueryLimits,
        request: &mut async_graphql::Request,
        principal: Option<&Principal>,
    ) -> Option<&PortalSchema> {
        limits.check_request(request).ok()?;
        let operation_name = request.operation_name.clone();
        let document = request.parsed_query().ok()?;
        every_field_allowed(&self.fields, document, operation_name.as_deref(), principal).then_some(&self.schema)
    }
}

/// For every object type, the named type of each field's value (lists and non-null stripped),
/// read once from the served SDL.
pub struct FieldTypes {
    objects: HashMap<String, HashMap<String, String>>,
}

impl FieldTypes {
    pub fn of_sdl(sdl: &str) -> FieldTypes {
        let mut objects = HashMap::new();
        // The schema's own SDL always parses; an empty table would only send every request
        // down the guarded path.
        let definitions = async_graphql::parser::parse_schema(sdl).map(|doc| doc.definitions).unwrap_or_default();
        for definition in definitions {
            let TypeSystemDefinition::Type(ty) = definition else { continue };
            let TypeKind::Object(object) = &ty.node.kind else { continue };
            let fields = object
                .fields
                .iter()
                .map(|field| (field.node.name.node.to_string(), named(&field.node.ty.node.base).to_owned()))
                .collect();
            objects.insert(ty.node.name.node.to_string(), fields);
        }
        FieldTypes { objects }
    }

    fn of_field(&self, parent: &str, field: &str) -> Option<&str> {
        self.objects.get(parent)?.get(field).map(String::as_str)
    }
}

fn named(base: &BaseType) -> &str {
    match base {
        BaseType::Named(name) => name.as_str(),
        BaseType::List(inner) => named(&inner.base),
    }
}

/// True only when the operation the request names exists and every field it selects, at
/// every depth and through every fragment, is one the caller may read, as the field guard
/// would judge it. Run after the request limits have passed.
pub fn every_field_allowed(
    types: &FieldTypes,
    document: &ExecutableDocument,
    operation_name: Option<&str>,
    principal: Option<&Principal>,
) -> bool {
    // As async-graphql chooses: the named one, or without a name the only one (named or not).
    let mut operations = document.operations.iter();
    let chosen = match operation_name {
        Some(name) => operations.find(|(n, _)| n.is_some_and(|n| n.as_str() == name)),
        None if operations.len() == 1 => operations.next(),
        None => None,
    };
    let Some((_, operation)) = chosen else { return false };
    let root = match operation.node.ty {
        OperationType::Query => "Query",
        OperationType::Mutation => "Mutation",
        OperationType::Subscription => return false,
    };
    let mut walk = Walk { types, document, principal, fields_left: MOST_FIELDS };
    walk.selections(&operation.node.selection_set.node, root, true, false, 0)
}

struct Walk<'a> {
    types: &'a FieldTypes,
    document: &'a ExecutableDocument,
    principal: Option<&'a Principal>,
    fields_left: usize,
}

impl Walk<'_> {
    /// `own` says the selection set is that of the caller's own account (`viewer`, a new
    /// session's `user`), as the field guard's own-account paths do.
    fn selections(&mut self, set: &SelectionSet, parent: &str, root: bool, own: bool, nesting: usize) -> bool {
        if nesting > MOST_NESTING {
            return false;
        }
        set.items.iter().all(|selection| match &selection.node {
            Selection::Field(field) => {
                let name = field.node.name.node.as_str();
                if name == "__typename" {
                    return true;
                }
                // Introspection runs guarded: rare, and exempt from the guard's judgement.
                if name.starts_with("__") || self.fields_left == 0 {
                    return false;
                }
                self.fields_left -= 1;
                let Some(value_type) = self.types.of_field(parent, name) else { return false };
                if judge(self.principal, parent, name, root, || own).is_err() {
                    return false;
                }
                let children = &field.node.selection_set.node;
                children.items.is_empty()
                    || self.selections(children, value_type, false, opens_own_account(parent, name), nesting + 1)
            }
            Selection::InlineFragment(fragment) => {
                let on = fragment.node.type_condition.as_ref().map(|condition| condition.node.on.node.as_str());
                // The schema has no interfaces or unions: a fragment is on the type itself.
                on.is_none_or(|on| on == parent)
                    && self.selections(&fragment.node.selection_set.node, parent, root, own, nesting + 1)
            }
            Selection::FragmentSpread(spread) => match self.document.fragments.get(&spread.node.fragment_name.node) {
                Some(fragment) if fragment.node.type_condition.node.on.node.as_str() == parent => {
                    self.selections(&fragment.node.selection_set.node, parent, root, own, nesting + 1)
                }
                _ => false,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use sea_orm::Iterable;
    use uuid::Uuid;

    use super::*;
    use crate::domain::principal::{Actor, Reach};
    use crate::domain::{Module, Role};
    use crate::types::{CompanyId, UserId};

    fn person(role: Role, modules: Vec<Module>, must_change_password: bool) -> Principal {
        Principal {
            actor: Actor::Person { user_id: UserId(Uuid::nil()), session_id: Uuid::nil() },
            company_id: Some(CompanyId(Uuid::nil())),
            role,
            modules,
            must_change_password,
            reach: Reach::WholeCompany,
        }
    }

    fn allowed(query: &str, operation: Option<&str>, principal: Option<&Principal>) -> bool {
        let types = FieldTypes::of_sdl(&crate::graphql::sdl());
        let document = async_graphql::parser::parse_query(query).expect("a valid document");
        every_field_allowed(&types, &document, operation, principal)
    }

    const LIST: &str = "{ users(first: 50) { totalCount edges { node { email manager { email } } } } }";

    #[test]
    fn a_document_every_field_of_which_the_caller_may_read_is_cleared() {
        let admin = person(Role::Admin, Module::iter().collect(), false);
        assert!(allowed(LIST, None, Some(&admin)));
        assert!(allowed(
            "query { ...All } fragment All on Query { users { edges { node { modules } } } }",
            None,
            Some(&admin)
        ));
        let plain = person(Role::User, vec![], false);
        assert!(allowed("{ viewer { email modules lastSignedInAt manager { email } } }", None, Some(&plain)));
        assert!(allowed("query { me: viewer { ...Mine } } fragment Mine on User { modules }", None, Some(&plain)));
        assert!(allowed("{ viewer { __typename id } countries { code } }", None, Some(&plain)));
        assert!(allowed("{ viewer { id } }", None, None), "viewer answers the anonymous with null");
        let signing_in = "mutation { login(email: \"a@b.example\", password: \"x\") { token user { modules } } }";
        assert!(allowed(signing_in, None, None), "the user of a new session is the caller's own");
    }

    #[test]
    fn any_field_the_guard_would_refuse_sends_the_request_to_the_guarded_schema() {
        let plain = person(Role::User, vec![Module::Projects], false);
        for query in [
            LIST,
            "{ viewer { manager { modules } } }",
            "{ viewer { manager { ... on User { modules } } } }",
            "query { viewer { manager { ...G } } } fragment G on User { modules }",
            "query { viewer { id } ...All } fragment All on Query { users { totalCount } }",
            "{ projects { subscription { members { user { email } } } } }",
            "{ projects { members { user { subscriptions { role } } } } }",
        ] {
            assert!(!allowed(query, None, Some(&plain)), "{query}");
        }
        assert!(allowed("{ projects { name members { user { email } } } }", None, Some(&plain)));
        assert!(!allowed(LIST, None, None), "anonymous");
        let temporary = person(Role::Admin, Module::iter().collect(), true);
        assert!(!allowed(LIST, None, Some(&temporary)), "a temporary password");
        assert!(allowed("{ viewer { id } }", None, Some(&temporary)));
    }

    #[test]
    fn what_the_walk_does_not_understand_runs_guarded() {
        let admin = person(Role::Admin, Module::iter().collect(), false);
        // Unknown fields, introspection, a fragment on another type, subscriptions.
        assert!(!allowed("{ viewer { nope } }", None, Some(&admin)));
        assert!(!allowed("{ __schema { types { name } } }", None, Some(&admin)));
        assert!(!allowed("query { viewer { ...F } } fragment F on Company { name }", None, Some(&admin)));
        assert!(!allowed("query { viewer { ...Missing } }", None, Some(&admin)));
        assert!(!allowed("subscription { importProgress(jobId: \"x\") { status } }", None, Some(&admin)));
        // The operation the request names is the one judged.
        let two = "query Mine { viewer { id } } query Theirs { users { totalCount } }";
        let plain = person(Role::User, vec![], false);
        assert!(allowed(two, Some("Mine"), Some(&plain)));
        assert!(!allowed(two, Some("Theirs"), Some(&plain)));
        assert!(!allowed(two, None, Some(&plain)));
        assert!(!allowed(two, Some("Other"), Some(&plain)));
        assert!(allowed("query Mine { viewer { id } }", None, Some(&plain)), "the only operation, named");
        // A fragment cycle (the limits refuse it first) ends the walk instead of looping.
        assert!(!allowed("query { viewer { ...A } } fragment A on User { manager { ...A } }", None, Some(&admin)));
    }
}

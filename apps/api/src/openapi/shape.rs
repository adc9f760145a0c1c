//! What the annotations cannot say on their own: public operations say so (`security: []`),
//! the paging and tenant parameters are declared once, request fields list the values the
//! server accepts, and response fields that are always sent (as `null` when unknown) are
//! required.

use chom_agent_protocol::{PhpVersion, SiteType};
use chom_auth::Ability;
use chom_backup::{Frequency, Weekday};
use chom_kernel::Role;
use chom_site_hosting::SiteStatus;
use serde_json::Value;
use std::collections::BTreeSet;
use utoipa::Modify;
use utoipa::openapi::path::{Operation, ParameterBuilder, ParameterIn};
use utoipa::openapi::schema::{
    AdditionalProperties, ArrayItems, KnownFormat, SchemaFormat, SchemaType,
};
use utoipa::openapi::{ObjectBuilder, OpenApi, Ref, RefOr, Required, Schema, Type};

/// See the module documentation.
#[derive(Debug)]
pub struct Shape;

/// The name of the `X-Tenant-Id` parameter component.
pub const TENANT_PARAMETER: &str = "TenantId";

/// `(schema, property, accepted values)`: the enumerations the server checks by hand (fields
/// read as strings so that a wrong value is a field error with the others, not a type error).
/// For an array, the values of its items.
#[must_use]
pub fn request_enums() -> Vec<(&'static str, &'static str, Vec<&'static str>)> {
    let php: Vec<_> = PhpVersion::ALL.iter().map(|v| v.as_str()).collect();
    vec![
        (
            "CreateSiteRequest",
            "site_type",
            SiteType::ALL.iter().map(|t| t.as_str()).collect(),
        ),
        ("CreateSiteRequest", "php_version", php.clone()),
        ("UpdateSiteRequest", "php_version", php),
        (
            "ChangeRoleRequest",
            "role",
            [Role::Owner, Role::Admin, Role::Member, Role::Viewer]
                .iter()
                .map(|r| r.as_str())
                .collect(),
        ),
        (
            "CreateTokenRequest",
            "abilities",
            Ability::ALL.iter().map(|a| a.as_str()).collect(),
        ),
        ("VpsRequest", "allocation", vec!["shared", "dedicated"]),
        (
            "BackupScheduleRequest",
            "frequency",
            Frequency::ALL.iter().map(|f| f.as_str()).collect(),
        ),
        (
            "BackupScheduleRequest",
            "weekday",
            Weekday::ALL.iter().map(|d| d.as_str()).collect(),
        ),
    ]
}

/// `(operation, query parameter, accepted values)`: the list filters the server checks.
#[must_use]
pub fn query_enums() -> Vec<(&'static str, &'static str, Vec<&'static str>)> {
    vec![
        (
            "list_sites",
            "status",
            SiteStatus::ALL.iter().map(|s| s.as_str()).collect(),
        ),
        (
            "list_sites",
            "type",
            SiteType::ALL.iter().map(|t| t.as_str()).collect(),
        ),
    ]
}

impl Modify for Shape {
    fn modify(&self, openapi: &mut OpenApi) {
        declare_parameters(openapi);
        for item in openapi.paths.paths.values_mut() {
            for op in [
                item.get.as_mut(),
                item.put.as_mut(),
                item.post.as_mut(),
                item.delete.as_mut(),
                item.patch.as_mut(),
            ]
            .into_iter()
            .flatten()
            {
                shape_operation(op);
            }
        }
        enumerate_request_values(openapi);
        require_always_sent_fields(openapi);
        open_problem(openapi);
    }
}

/// `Problem` as one object that allows the members of its type (`extensions`, flattened by
/// serde), rather than `allOf` an object-or-null and the fixed members: generators read it as a
/// plain model with additional properties.
fn open_problem(openapi: &mut OpenApi) {
    let Some(components) = openapi.components.as_mut() else {
        return;
    };
    let Some(RefOr::T(Schema::AllOf(all))) = components.schemas.get("Problem") else {
        return;
    };
    let fixed = all.items.iter().find_map(|i| match i {
        RefOr::T(Schema::Object(o)) if !o.properties.is_empty() => Some(o.clone()),
        _ => None,
    });
    let description = all.description.clone();
    if let Some(mut problem) = fixed {
        problem.description = description;
        problem.additional_properties = Some(Box::new(AdditionalProperties::FreeForm(true)));
        components
            .schemas
            .insert("Problem".to_owned(), RefOr::T(Schema::Object(problem)));
    }
}

fn parameter_ref(name: &str) -> RefOr<utoipa::openapi::path::Parameter> {
    RefOr::Ref(Ref::new(format!("#/components/parameters/{name}")))
}

/// `cursor`, `limit` and `X-Tenant-Id`, once.
fn declare_parameters(openapi: &mut OpenApi) {
    let components = openapi.components.get_or_insert_with(Default::default);
    let limit = ParameterBuilder::new()
        .name("limit")
        .parameter_in(ParameterIn::Query)
        .required(Required::False)
        .description(Some(format!(
            "Page size, 1 to {} ({} when absent). Out of range: 422 `VALIDATION_FAILED` naming `limit`; not a number: 400.",
            crate::routes::paging::MAX_LIMIT,
            crate::routes::paging::DEFAULT_LIMIT
        )))
        .schema(Some(
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
                .minimum(Some(1))
                .maximum(Some(crate::routes::paging::MAX_LIMIT))
                .default(Some(crate::routes::paging::DEFAULT_LIMIT.into())),
        ))
        .build();
    let cursor = ParameterBuilder::new()
        .name("cursor")
        .parameter_in(ParameterIn::Query)
        .required(Required::False)
        .description(Some(
            "The `meta.next_cursor` of the previous page (absent: the first page). Pages are \
             keyset positions: an item created or deleted meanwhile never shifts them. A cursor \
             that is not one of this list's: 422 `VALIDATION_FAILED` naming `cursor`.",
        ))
        .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
        .build();
    let tenant = ParameterBuilder::new()
        .name("X-Tenant-Id")
        .parameter_in(ParameterIn::Header)
        .required(Required::False)
        .description(Some(
            "The tenant this request acts for (default: the organization's default tenant). One \
             outside the caller's organization, existing or not: 404 `TENANT_NOT_FOUND`; not a \
             UUID: 422 `VALIDATION_FAILED` naming `x-tenant-id`.",
        ))
        .schema(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .format(Some(SchemaFormat::KnownFormat(KnownFormat::Uuid))),
        ))
        .build();
    for (name, parameter) in [
        ("Cursor", cursor),
        ("Limit", limit),
        (TENANT_PARAMETER, tenant),
    ] {
        components
            .parameters
            .insert(name.to_owned(), RefOr::T(parameter));
    }
}

fn shape_operation(op: &mut Operation) {
    let secured = op
        .security
        .as_ref()
        .is_some_and(|s| s.iter().any(|r| *r != Default::default()));
    if !secured {
        // Public: no bearer token needed (not "whatever the document's default is").
        op.security = Some(Vec::new());
    }
    let enums = query_enums();
    let operation_id = op.operation_id.clone().unwrap_or_default();
    let params = op.parameters.get_or_insert_with(Vec::new);
    for p in params.iter_mut() {
        let RefOr::T(inline) = p else { continue };
        if let Some((.., values)) = enums
            .iter()
            .find(|(o, name, _)| *o == operation_id && *name == inline.name)
        {
            inline.schema = Some(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .enum_values(Some(values.clone()))
                    .into(),
            );
        }
        let shared = match (&inline.parameter_in, inline.name.as_str()) {
            (ParameterIn::Query, "cursor") => "Cursor",
            (ParameterIn::Query, "limit") => "Limit",
            (ParameterIn::Header, name) if name.eq_ignore_ascii_case("x-tenant-id") => {
                TENANT_PARAMETER
            }
            _ => continue,
        };
        *p = parameter_ref(shared);
    }
    let tenant = parameter_ref(TENANT_PARAMETER);
    if secured && !params.contains(&tenant) {
        // `extract::Auth` honours the header on every authenticated request.
        params.push(tenant);
    }
    if params.is_empty() {
        op.parameters = None;
    }
}

fn enumerate_request_values(openapi: &mut OpenApi) {
    let Some(components) = openapi.components.as_mut() else {
        return;
    };
    for (schema, property, values) in request_enums() {
        let Some(RefOr::T(Schema::Object(object))) = components.schemas.get_mut(schema) else {
            continue;
        };
        let Some(RefOr::T(field)) = object.properties.get_mut(property) else {
            continue;
        };
        let target = match field {
            Schema::Object(o) => Some(o),
            Schema::Array(a) => match &mut a.items {
                ArrayItems::RefOrSchema(items) => match items.as_mut() {
                    RefOr::T(Schema::Object(o)) => Some(o),
                    _ => None,
                },
                ArrayItems::False => None,
            },
            _ => None,
        };
        if let Some(target) = target {
            target.enum_values = Some(values.into_iter().map(Value::from).collect());
        }
    }
}

/// The component schemas `value` refers to, directly or not.
fn referenced(
    value: &Value,
    schemas: &serde_json::Map<String, Value>,
    into: &mut BTreeSet<String>,
) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                if k == "$ref"
                    && let Some(name) = v
                        .as_str()
                        .and_then(|r| r.strip_prefix("#/components/schemas/"))
                {
                    if into.insert(name.to_owned())
                        && let Some(schema) = schemas.get(name)
                    {
                        referenced(schema, schemas, into);
                    }
                } else {
                    referenced(v, schemas, into);
                }
            }
        }
        Value::Array(items) => {
            for v in items {
                referenced(v, schemas, into);
            }
        }
        _ => {}
    }
}

/// Whether a property may be `null`.
fn nullable(schema: &RefOr<Schema>) -> bool {
    match schema {
        RefOr::T(Schema::Object(o)) => {
            matches!(&o.schema_type, SchemaType::Array(types) if types.contains(&Type::Null))
        }
        RefOr::T(Schema::Array(a)) => {
            matches!(&a.schema_type, SchemaType::Array(types) if types.contains(&Type::Null))
        }
        RefOr::T(Schema::OneOf(one)) => one.items.iter().any(|i| {
            matches!(i, RefOr::T(Schema::Object(o)) if o.schema_type == SchemaType::Type(Type::Null))
        }),
        _ => false,
    }
}

fn require_nullable(schema: &mut Schema) {
    match schema {
        Schema::Object(o) => {
            let names: Vec<String> = o
                .properties
                .iter()
                .filter(|(name, p)| nullable(p) && !o.required.contains(name))
                .map(|(name, _)| name.clone())
                .collect();
            o.required.extend(names);
        }
        Schema::AllOf(all) => {
            for item in &mut all.items {
                if let RefOr::T(s) = item {
                    require_nullable(s);
                }
            }
        }
        _ => {}
    }
}

/// In the schemas of answers (only), a field that may be `null` is always sent: the API
/// serializes `None` as `null`, except for the few fields it leaves out instead
/// (`#[serde(skip_serializing_if)]`), which are declared `nullable = false` so they stay
/// optional here.
fn require_always_sent_fields(openapi: &mut OpenApi) {
    let Ok(Value::Object(schemas)) = serde_json::to_value(
        openapi
            .components
            .as_ref()
            .map(|c| &c.schemas)
            .cloned()
            .unwrap_or_default(),
    ) else {
        return;
    };
    let mut answers = BTreeSet::new();
    let mut requests = BTreeSet::new();
    for item in openapi.paths.paths.values() {
        for op in [&item.get, &item.put, &item.post, &item.delete, &item.patch]
            .into_iter()
            .flatten()
        {
            if let Ok(v) = serde_json::to_value(&op.responses) {
                referenced(&v, &schemas, &mut answers);
            }
            if let Ok(v) = serde_json::to_value(&op.request_body) {
                referenced(&v, &schemas, &mut requests);
            }
        }
    }
    let Some(components) = openapi.components.as_mut() else {
        return;
    };
    for name in answers.difference(&requests) {
        if let Some(RefOr::T(schema)) = components.schemas.get_mut(name) {
            require_nullable(schema);
        }
    }
}

//! The breaking changes between two OpenAPI 3.1 documents (`cargo xtask openapi --breaking
//! PREVIOUS`): what a client generated from the previous document relies on and the new one no
//! longer promises. Additions (operations, optional request fields, response fields, statuses,
//! enum values) are not breaking.
//!
//! Reported: a removed operation; a removed or newly required parameter; a removed request
//! body or media type, or one that became required; a request field that was removed or became
//! required (new or not); a request type that no longer accepts what it did (`string` no
//! longer, `null` no longer…); a removed response status, media type or header; a response
//! field that was removed or is no longer always present; a response type that may now be
//! something else (`null`…); a removed enum value; a security requirement a previous client no
//! longer meets (a public route made private, another scheme).
//!
//! Schemas are compared through `$ref`s; a component compared once is not compared again, and
//! its findings are named after it (`RegisterRequest.email: …`).

use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// Whether a schema is sent by the client (a request body, a parameter) or received by it (a
/// response).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Dir {
    Request,
    /// A parameter's value: sent, and never `null` (a query string or a header cannot say
    /// null, so a `null` alternative dropped from its schema narrows nothing).
    Parameter,
    Response,
}

/// Every breaking change from `old` to `new`, one sentence each, sorted.
pub fn breaking_changes(old: &Value, new: &Value) -> Vec<String> {
    let mut diff = Diff {
        old,
        new,
        found: BTreeSet::new(),
        seen: BTreeSet::new(),
    };
    diff.documents();
    diff.found.into_iter().collect()
}

struct Diff<'a> {
    old: &'a Value,
    new: &'a Value,
    found: BTreeSet<String>,
    seen: BTreeSet<(String, Dir, String)>,
}

/// Follows `$ref`s (`#/components/…`) within `doc`; an unresolvable one stays as it is.
fn resolve<'v>(doc: &'v Value, mut v: &'v Value) -> &'v Value {
    for _ in 0..32 {
        let Some(reference) = v.get("$ref").and_then(Value::as_str) else {
            return v;
        };
        match reference
            .strip_prefix('#')
            .and_then(|pointer| doc.pointer(pointer))
        {
            Some(target) => v = target,
            None => return v,
        }
    }
    v
}

/// The component name a `$ref` names (`#/components/schemas/X` → `X`).
fn ref_name(v: &Value) -> Option<&str> {
    v.get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| r.rsplit('/').next())
}

fn object(v: &Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap_or_default()
}

fn strings(v: Option<&Value>) -> BTreeSet<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// The types a schema allows: `type` as a string or a list; empty for any type.
fn types(v: &Value) -> BTreeSet<String> {
    match v.get("type") {
        Some(Value::String(t)) => BTreeSet::from([t.clone()]),
        Some(t @ Value::Array(_)) => strings(Some(t)),
        _ => BTreeSet::new(),
    }
}

/// A schema with its `$ref`s followed and its `allOf` merged into one object schema
/// (properties and `required` united, types intersected).
fn flatten(doc: &Value, v: &Value) -> Value {
    let v = resolve(doc, v);
    let Some(parts) = v.get("allOf").and_then(Value::as_array) else {
        return v.clone();
    };
    let mut merged = object(v);
    merged.remove("allOf");
    let mut properties = object(merged.get("properties").unwrap_or(&Value::Null));
    let mut required = strings(merged.get("required"));
    let mut allowed = types(v);
    for part in parts.iter().map(|p| flatten(doc, p)) {
        properties.extend(object(part.get("properties").unwrap_or(&Value::Null)));
        required.extend(strings(part.get("required")));
        let t = types(&part);
        if !t.is_empty() {
            allowed = if allowed.is_empty() {
                t
            } else {
                allowed.intersection(&t).cloned().collect()
            };
        }
        for (k, val) in object(&part) {
            if !matches!(k.as_str(), "properties" | "required" | "type") {
                merged.entry(k).or_insert(val);
            }
        }
    }
    merged.insert("properties".into(), Value::Object(properties));
    merged.insert(
        "required".into(),
        Value::Array(required.into_iter().map(Value::String).collect()),
    );
    if !allowed.is_empty() {
        merged.insert(
            "type".into(),
            Value::Array(allowed.into_iter().map(Value::String).collect()),
        );
    }
    Value::Object(merged)
}

/// The alternatives a schema allows, each keyed by its type (`object`, `string`, `null`…, or
/// `any`) with the schema that describes it (as written: possibly a `$ref`).
fn alternatives(doc: &Value, v: &Value) -> Vec<(String, Value)> {
    let flat = flatten(doc, v);
    if let Some(alts) = flat
        .get("oneOf")
        .or_else(|| flat.get("anyOf"))
        .and_then(Value::as_array)
    {
        return alts.iter().flat_map(|a| alternatives(doc, a)).collect();
    }
    // Keep the `$ref` itself (not the flattened copy) so that components are named.
    let written = if v.get("$ref").is_some() {
        v.clone()
    } else {
        flat.clone()
    };
    let t = types(&flat);
    if t.is_empty() {
        return vec![("any".to_owned(), written)];
    }
    t.into_iter().map(|t| (t, written.clone())).collect()
}

fn grouped(alts: Vec<(String, Value)>) -> BTreeMap<String, Vec<Value>> {
    let mut groups: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for (k, v) in alts {
        groups.entry(k).or_default().push(v);
    }
    groups
}

/// The security alternatives of an operation: each a sorted list of `scheme[scopes]`; a public
/// operation (no requirement, or an empty one) has the empty alternative.
fn security(doc: &Value, op: &Value) -> BTreeSet<Vec<String>> {
    let requirements = op
        .get("security")
        .or_else(|| doc.get("security"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if requirements.is_empty() {
        return BTreeSet::from([Vec::new()]);
    }
    requirements
        .iter()
        .map(|r| {
            let mut schemes: Vec<String> = object(r)
                .into_iter()
                .map(|(name, scopes)| {
                    let scopes: Vec<String> = strings(Some(&scopes)).into_iter().collect();
                    format!("{name}[{}]", scopes.join(","))
                })
                .collect();
            schemes.sort();
            schemes
        })
        .collect()
}

fn describe(alternative: &[String]) -> String {
    if alternative.is_empty() {
        "no authentication".into()
    } else {
        alternative.join(" + ")
    }
}

/// An operation's parameters (path-level ones first, overridden by its own), by `in` and name.
fn parameters(doc: &Value, item: &Value, op: &Value) -> BTreeMap<(String, String), Value> {
    let mut params = BTreeMap::new();
    for list in [item.get("parameters"), op.get("parameters")] {
        for p in list.and_then(Value::as_array).into_iter().flatten() {
            let p = resolve(doc, p);
            let field = |k: &str| p.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
            let key = (field("in"), field("name").to_ascii_lowercase());
            params.insert(key, p.clone());
        }
    }
    params
}

fn required(v: &Value) -> bool {
    v.get("required").and_then(Value::as_bool).unwrap_or(false)
}

impl Diff<'_> {
    fn report(&mut self, finding: String) {
        self.found.insert(finding);
    }

    fn documents(&mut self) {
        let empty = Map::new();
        let old_paths = self
            .old
            .get("paths")
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        let new_paths = self.new.get("paths").and_then(Value::as_object);
        for (path, old_item) in old_paths {
            let old_item = resolve(self.old, old_item);
            let new_item = new_paths
                .and_then(|p| p.get(path))
                .map(|i| resolve(self.new, i));
            for method in METHODS {
                let Some(old_op) = old_item.get(method) else {
                    continue;
                };
                let label = format!("{} {path}", method.to_ascii_uppercase());
                match new_item.and_then(|i| i.get(method)) {
                    None => self.report(format!("{label}: operation removed")),
                    Some(new_op) => {
                        self.operation(
                            &label,
                            (old_item, old_op),
                            (new_item.unwrap_or(&Value::Null), new_op),
                        );
                    }
                }
            }
        }
    }

    fn operation(&mut self, label: &str, old: (&Value, &Value), new: (&Value, &Value)) {
        let (old_item, old_op) = old;
        let (new_item, new_op) = new;

        // A route that is public now accepts every client it accepted before.
        let (old_auth, new_auth) = (security(self.old, old_op), security(self.new, new_op));
        let public = new_auth.contains(&Vec::new());
        for gone in old_auth.difference(&new_auth).filter(|_| !public) {
            self.report(format!(
                "{label}: security changed: {} is no longer accepted",
                describe(gone)
            ));
        }

        let old_params = parameters(self.old, old_item, old_op);
        let new_params = parameters(self.new, new_item, new_op);
        for ((place, name), old_p) in &old_params {
            match new_params.get(&(place.clone(), name.clone())) {
                None => self.report(format!("{label}: {place} parameter `{name}` removed")),
                Some(new_p) => {
                    if required(new_p) && !required(old_p) {
                        self.report(format!(
                            "{label}: {place} parameter `{name}` became required"
                        ));
                    }
                    if let (Some(o), Some(n)) = (old_p.get("schema"), new_p.get("schema")) {
                        let at = format!("{label} {place} parameter `{name}`");
                        self.schema(o, n, Dir::Parameter, &at);
                    }
                }
            }
        }
        for ((place, name), new_p) in &new_params {
            if required(new_p) && !old_params.contains_key(&(place.clone(), name.clone())) {
                self.report(format!("{label}: new required {place} parameter `{name}`"));
            }
        }

        self.request_body(label, old_op, new_op);
        self.responses(label, old_op, new_op);
    }

    fn request_body(&mut self, label: &str, old_op: &Value, new_op: &Value) {
        let old_body = old_op.get("requestBody").map(|b| resolve(self.old, b));
        let new_body = new_op.get("requestBody").map(|b| resolve(self.new, b));
        match (old_body, new_body) {
            (None, Some(n)) if required(n) => {
                self.report(format!("{label}: a request body became required"));
            }
            (Some(_), None) => self.report(format!("{label}: request body removed")),
            (Some(o), Some(n)) => {
                if required(n) && !required(o) {
                    self.report(format!("{label}: the request body became required"));
                }
                let old_content = object(o.get("content").unwrap_or(&Value::Null));
                let new_content = object(n.get("content").unwrap_or(&Value::Null));
                for (media, old_media) in &old_content {
                    match new_content.get(media) {
                        None => self.report(format!(
                            "{label}: request media type {media} no longer accepted"
                        )),
                        Some(new_media) => {
                            if let (Some(os), Some(ns)) =
                                (old_media.get("schema"), new_media.get("schema"))
                            {
                                self.schema(
                                    os,
                                    ns,
                                    Dir::Request,
                                    &format!("{label} request {media}"),
                                );
                            }
                        }
                    }
                }
            }
            _ => {}
        }
    }

    fn responses(&mut self, label: &str, old_op: &Value, new_op: &Value) {
        let old_responses = object(old_op.get("responses").unwrap_or(&Value::Null));
        let new_responses = object(new_op.get("responses").unwrap_or(&Value::Null));
        for (status, old_r) in &old_responses {
            let Some(new_r) = new_responses.get(status) else {
                self.report(format!("{label}: response status {status} removed"));
                continue;
            };
            let (old_r, new_r) = (resolve(self.old, old_r), resolve(self.new, new_r));
            let new_headers = object(new_r.get("headers").unwrap_or(&Value::Null));
            for header in object(old_r.get("headers").unwrap_or(&Value::Null)).keys() {
                let present = new_headers.keys().any(|h| h.eq_ignore_ascii_case(header));
                if !present {
                    self.report(format!(
                        "{label}: {status} response header {header} removed"
                    ));
                }
            }
            let new_content = object(new_r.get("content").unwrap_or(&Value::Null));
            for (media, old_media) in object(old_r.get("content").unwrap_or(&Value::Null)) {
                match new_content.get(&media) {
                    None => self.report(format!(
                        "{label}: {status} response media type {media} removed"
                    )),
                    Some(new_media) => {
                        if let (Some(os), Some(ns)) =
                            (old_media.get("schema"), new_media.get("schema"))
                        {
                            let at = format!("{label} {status} {media}");
                            self.schema(os, ns, Dir::Response, &at);
                        }
                    }
                }
            }
        }
    }

    /// Compares two schemas of the same place.
    fn schema(&mut self, old: &Value, new: &Value, dir: Dir, at: &str) {
        let old_alts = grouped(alternatives(self.old, old));
        let new_alts = grouped(alternatives(self.new, new));
        let (old_any, new_any) = (old_alts.contains_key("any"), new_alts.contains_key("any"));
        // A number accepts (and may be) any integer: integer → number is no narrowing of a
        // request, number → integer no widening of an answer.
        if dir != Dir::Response && !new_any {
            for key in old_alts.keys().filter(|k| !new_alts.contains_key(*k)) {
                let unsayable = dir == Dir::Parameter && key == "null";
                let widened = key == "integer" && new_alts.contains_key("number");
                if !unsayable && !widened {
                    self.report(format!("{at}: no longer accepts {key}"));
                }
            }
        }
        if dir == Dir::Response && !old_any {
            for key in new_alts.keys().filter(|k| !old_alts.contains_key(*k)) {
                let narrowed = key == "integer" && old_alts.contains_key("number");
                if !narrowed {
                    self.report(format!("{at}: may now be {key}"));
                }
            }
        }
        for (key, olds) in &old_alts {
            if let Some(news) = new_alts.get(key) {
                for (o, n) in olds.iter().zip(news) {
                    self.same_type(o, n, key, dir, at);
                }
            }
        }
    }

    /// Compares two alternatives of the same type.
    fn same_type(&mut self, old: &Value, new: &Value, key: &str, dir: Dir, at: &str) {
        let mut at = at.to_owned();
        if let (Some(o), Some(n)) = (ref_name(old), ref_name(new))
            && o == n
        {
            if !self.seen.insert((o.to_owned(), dir, key.to_owned())) {
                return;
            }
            o.clone_into(&mut at);
        }
        let (old, new) = (flatten(self.old, old), flatten(self.new, new));

        if let (Some(old_enum), Some(new_enum)) = (old.get("enum"), new.get("enum")) {
            let new_values = new_enum.as_array().cloned().unwrap_or_default();
            let removed: Vec<String> = old_enum
                .as_array()
                .into_iter()
                .flatten()
                .filter(|v| !new_values.contains(v))
                .map(Value::to_string)
                .collect();
            if !removed.is_empty() {
                self.report(format!(
                    "{at}: enum value(s) removed: {}",
                    removed.join(", ")
                ));
            }
        }

        match key {
            "object" | "any" => self.properties(&old, &new, dir, &at),
            "array" => {
                if let (Some(o), Some(n)) = (old.get("items"), new.get("items")) {
                    self.schema(o, n, dir, &format!("{at}[]"));
                }
            }
            _ => {}
        }
    }

    fn properties(&mut self, old: &Value, new: &Value, dir: Dir, at: &str) {
        let old_props = object(old.get("properties").unwrap_or(&Value::Null));
        let new_props = object(new.get("properties").unwrap_or(&Value::Null));
        let old_required = strings(old.get("required"));
        let new_required = strings(new.get("required"));
        for (name, old_p) in &old_props {
            match (new_props.get(name), dir) {
                (None, Dir::Response) => {
                    self.report(format!("{at}.{name}: response field removed"));
                }
                (None, _) => self.report(format!("{at}.{name}: request field removed")),
                (Some(new_p), _) => {
                    if dir == Dir::Response
                        && old_required.contains(name)
                        && !new_required.contains(name)
                    {
                        self.report(format!("{at}.{name}: no longer always in the response"));
                    }
                    self.schema(old_p, new_p, dir, &format!("{at}.{name}"));
                }
            }
        }
        if dir != Dir::Response {
            for name in new_required.difference(&old_required) {
                if old_props.contains_key(name) {
                    self.report(format!("{at}.{name}: request field became required"));
                } else {
                    self.report(format!("{at}.{name}: new required request field"));
                }
            }
        }
        if let (Some(o), Some(n)) = (
            old.get("additionalProperties").filter(|v| v.is_object()),
            new.get("additionalProperties").filter(|v| v.is_object()),
        ) {
            self.schema(o, n, dir, &format!("{at}.*"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::breaking_changes;
    use serde_json::{Value, json};

    /// A small document: `POST /things` (a `NewThing` body, a `Thing` answer, 422), and
    /// `GET /things/{id}` (a `Thing`, 404), both behind `bearer`.
    fn doc() -> Value {
        json!({
            "openapi": "3.1.0",
            "paths": {
                "/things": {"post": {
                    "operationId": "create_thing",
                    "requestBody": {"required": true, "content": {"application/json": {
                        "schema": {"$ref": "#/components/schemas/NewThing"}}}},
                    "responses": {
                        "201": {"description": "made", "content": {"application/json": {
                            "schema": {"$ref": "#/components/schemas/Thing"}}}},
                        "422": {"$ref": "#/components/responses/Invalid"}
                    },
                    "security": [{"bearer": []}]
                }},
                "/things/{id}": {"get": {
                    "operationId": "get_thing",
                    "parameters": [{"name": "id", "in": "path", "required": true,
                                    "schema": {"type": "string"}}],
                    "responses": {
                        "200": {"description": "it", "content": {"application/json": {
                            "schema": {"$ref": "#/components/schemas/Thing"}}}},
                        "404": {"description": "none"}
                    },
                    "security": [{"bearer": []}]
                }}
            },
            "components": {
                "responses": {"Invalid": {"description": "bad", "content": {
                    "application/problem+json": {"schema": {"type": "object"}}}}},
                "schemas": {
                    "NewThing": {"type": "object", "required": ["name"], "properties": {
                        "name": {"type": "string"},
                        "colour": {"type": ["string", "null"], "enum": ["red", "blue", null]}
                    }},
                    "Thing": {"type": "object", "required": ["id", "name"], "properties": {
                        "id": {"type": "string"},
                        "name": {"type": "string"},
                        "tags": {"type": "array", "items": {"type": "string"}},
                        "owner": {"oneOf": [{"$ref": "#/components/schemas/Owner"},
                                            {"type": "null"}]}
                    }},
                    "Owner": {"type": "object", "required": ["email"], "properties": {
                        "email": {"type": "string"}
                    }}
                }
            }
        })
    }

    fn changed(edit: impl FnOnce(&mut Value)) -> Vec<String> {
        let mut new = doc();
        edit(&mut new);
        breaking_changes(&doc(), &new)
    }

    fn remove(v: &mut Value, pointer: &str) {
        let (parent, key) = pointer.rsplit_once('/').unwrap();
        v.pointer_mut(parent)
            .unwrap()
            .as_object_mut()
            .unwrap()
            .remove(&key.replace("~1", "/").replace("~0", "~"))
            .unwrap();
    }

    #[test]
    fn the_same_document_has_no_breaking_change() {
        assert_eq!(breaking_changes(&doc(), &doc()), Vec::<String>::new());
    }

    #[test]
    fn a_removed_operation_is_breaking() {
        let found = changed(|d| remove(d, "/paths/~1things~1{id}/get"));
        assert_eq!(found, ["GET /things/{id}: operation removed"]);
    }

    #[test]
    fn a_removed_path_is_every_operation_removed() {
        let found = changed(|d| remove(d, "/paths/~1things"));
        assert_eq!(found, ["POST /things: operation removed"]);
    }

    #[test]
    fn a_removed_response_field_is_breaking_also_in_a_nested_component() {
        let found = changed(|d| remove(d, "/components/schemas/Thing/properties/tags"));
        assert_eq!(found, ["Thing.tags: response field removed"]);
        let found = changed(|d| {
            remove(d, "/components/schemas/Owner/properties/email");
            d["components"]["schemas"]["Owner"]["required"] = json!([]);
        });
        assert_eq!(found, ["Owner.email: response field removed"]);
    }

    #[test]
    fn a_response_field_no_longer_required_is_breaking() {
        let found = changed(|d| d["components"]["schemas"]["Thing"]["required"] = json!(["id"]));
        assert_eq!(found, ["Thing.name: no longer always in the response"]);
    }

    #[test]
    fn a_newly_required_request_field_is_breaking() {
        let found = changed(|d| {
            d["components"]["schemas"]["NewThing"]["required"] = json!(["name", "colour"]);
        });
        assert_eq!(found, ["NewThing.colour: request field became required"]);
        let found = changed(|d| {
            d["components"]["schemas"]["NewThing"]["properties"]["size"] =
                json!({"type": "integer"});
            d["components"]["schemas"]["NewThing"]["required"] = json!(["name", "size"]);
        });
        assert_eq!(found, ["NewThing.size: new required request field"]);
    }

    #[test]
    fn a_removed_status_and_a_removed_enum_value_are_breaking() {
        let found = changed(|d| {
            remove(d, "/paths/~1things~1{id}/get/responses/404");
            d["components"]["schemas"]["NewThing"]["properties"]["colour"]["enum"] =
                json!(["red", null]);
        });
        assert_eq!(
            found,
            [
                "GET /things/{id}: response status 404 removed",
                "NewThing.colour: enum value(s) removed: \"blue\"",
            ]
        );
    }

    #[test]
    fn narrowed_request_and_widened_response_types_are_breaking() {
        let found = changed(|d| {
            d["components"]["schemas"]["NewThing"]["properties"]["colour"]["type"] =
                json!("string");
            d["components"]["schemas"]["Thing"]["properties"]["name"]["type"] =
                json!(["string", "null"]);
        });
        assert_eq!(
            found,
            [
                "NewThing.colour: no longer accepts null",
                "Thing.name: may now be null",
            ]
        );
    }

    #[test]
    fn a_parameter_that_no_longer_says_null_narrows_nothing() {
        let mut nullable = doc();
        nullable["paths"]["/things/{id}"]["get"]["parameters"][0]["schema"] =
            json!({"type": ["string", "null"]});
        assert_eq!(breaking_changes(&nullable, &doc()), Vec::<String>::new());
        let mut integer = doc();
        integer["paths"]["/things/{id}"]["get"]["parameters"][0]["schema"] =
            json!({"type": "integer"});
        assert_eq!(
            breaking_changes(&nullable, &integer),
            ["GET /things/{id} path parameter `id`: no longer accepts string"]
        );
    }

    #[test]
    fn changed_auth_and_a_new_required_parameter_are_breaking() {
        let found = changed(|d| {
            d["paths"]["/things/{id}"]["get"]["security"] = json!([{"apiKey": []}]);
            d["paths"]["/things/{id}"]["get"]["parameters"]
                .as_array_mut()
                .unwrap()
                .push(json!({"name": "X-Tenant", "in": "header", "required": true}));
        });
        assert_eq!(
            found,
            [
                "GET /things/{id}: new required header parameter `x-tenant`",
                "GET /things/{id}: security changed: bearer[] is no longer accepted",
            ]
        );
    }

    #[test]
    fn a_public_route_made_private_is_breaking_and_the_reverse_is_not() {
        let mut public = doc();
        public["paths"]["/things/{id}"]["get"]["security"] = json!([]);
        assert_eq!(
            breaking_changes(&public, &doc()),
            ["GET /things/{id}: security changed: no authentication is no longer accepted"]
        );
        assert_eq!(breaking_changes(&doc(), &public), Vec::<String>::new());
    }

    #[test]
    fn a_removed_shared_response_is_a_removed_media_type() {
        let found = changed(|d| {
            d["components"]["responses"]["Invalid"] = json!({"description": "bad"});
        });
        assert_eq!(
            found,
            ["POST /things: 422 response media type application/problem+json removed"]
        );
    }

    #[test]
    fn additions_are_not_breaking() {
        let found = changed(|d| {
            // A new operation, a new status, a new optional request field, a new response
            // field, a new enum value, an optional parameter, a request that accepts more.
            d["paths"]["/things/{id}"]["delete"] =
                json!({"responses": {"204": {"description": "gone"}}});
            d["paths"]["/things/{id}"]["get"]["responses"]["401"] = json!({"description": "who"});
            d["paths"]["/things/{id}"]["get"]["parameters"]
                .as_array_mut()
                .unwrap()
                .push(json!({"name": "fields", "in": "query", "required": false}));
            let schemas = &mut d["components"]["schemas"];
            schemas["NewThing"]["properties"]["size"] = json!({"type": ["integer", "null"]});
            schemas["NewThing"]["properties"]["colour"]["enum"] =
                json!(["red", "blue", "green", null]);
            schemas["NewThing"]["properties"]["name"]["type"] = json!(["string", "null"]);
            schemas["Thing"]["properties"]["created_at"] = json!({"type": "string"});
            schemas["Thing"]["required"] = json!(["id", "name", "created_at"]);
            schemas["Owner"]["description"] = json!("the owner");
            // An inline schema described through a component instead.
            schemas["Id"] = json!({"type": "string"});
            d["paths"]["/things/{id}"]["get"]["parameters"][0]["schema"] =
                json!({"$ref": "#/components/schemas/Id"});
        });
        assert_eq!(found, Vec::<String>::new());
    }

    #[test]
    fn the_released_document_compares_clean_with_itself() {
        let path = crate::util::root()
            .unwrap()
            .join("docs/openapi/released.json");
        let released: Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        assert_eq!(breaking_changes(&released, &released), Vec::<String>::new());
    }
}

//! The document as a contract: counted from the generated document itself.

use super::problems::{CODES, FIELD_CODES, KINDS, PROBLEM_JSON, codes_in, status_of};
use serde_json::Value;
use std::collections::BTreeSet;

fn doc() -> Value {
    serde_json::to_value(super::document()).unwrap()
}

const METHODS: [&str; 5] = ["get", "put", "post", "delete", "patch"];

/// `(path, method, operation)` of every operation.
fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for m in METHODS {
            if let Some(op) = item.get(m) {
                ops.push((path.clone(), m.to_owned(), op.clone()));
            }
        }
    }
    ops
}

/// Follows a `$ref` inside the document.
fn resolve<'a>(doc: &'a Value, v: &'a Value) -> &'a Value {
    match v.get("$ref").and_then(Value::as_str) {
        Some(r) => doc
            .pointer(r.trim_start_matches('#'))
            .unwrap_or(&Value::Null),
        None => v,
    }
}

/// What the document fails to say, counted.
#[derive(Debug, Default, PartialEq, Eq)]
struct Gaps {
    /// Operations with a bearer token and no 401.
    secured_without_401: Vec<String>,
    /// … or no 403 or no 429.
    secured_without_403_429: Vec<String>,
    /// Operations with a body missing one of 400, 413, 415, 422.
    body_without_400_413_415_422: Vec<String>,
    /// Operations with an id in the path and no 404.
    path_without_404: Vec<String>,
    /// Authenticated POSTs (Idempotency-Key) without 409 or 422.
    idempotent_without_409_422: Vec<String>,
    /// Operations under /api/v1 without 503.
    v1_without_503: Vec<String>,
    /// Operations without 500.
    without_500: Vec<String>,
    /// Public operations that do not say so (`security: []`).
    public_unsaid: Vec<String>,
    /// Public POSTs under `/api/v1/auth` (per-address rate limit) without 429.
    auth_route_without_429: Vec<String>,
    /// Required request bodies whose schema requires no field.
    request_schemas_without_required: Vec<String>,
}

impl Gaps {
    fn total(&self) -> usize {
        [
            &self.secured_without_401,
            &self.secured_without_403_429,
            &self.body_without_400_413_415_422,
            &self.path_without_404,
            &self.idempotent_without_409_422,
            &self.v1_without_503,
            &self.without_500,
            &self.public_unsaid,
            &self.auth_route_without_429,
            &self.request_schemas_without_required,
        ]
        .iter()
        .map(|v| v.len())
        .sum()
    }
}

fn gaps(doc: &Value) -> Gaps {
    let mut g = Gaps::default();
    let mut schemas = BTreeSet::new();
    for (path, method, op) in operations(doc) {
        let name = format!("{} {path}", method.to_uppercase());
        let has = |status: &str| op["responses"].get(status).is_some();
        let secured = op["security"].as_array().is_some_and(|s| {
            s.iter()
                .any(|r| r.as_object().is_some_and(|r| !r.is_empty()))
        });
        let params = op["parameters"].as_array().cloned().unwrap_or_default();
        let path_params = params.iter().any(|p| resolve(doc, p)["in"] == "path");
        if secured && !has("401") {
            g.secured_without_401.push(name.clone());
        }
        if secured && !(has("403") && has("429")) {
            g.secured_without_403_429.push(name.clone());
        }
        if op.get("requestBody").is_some() && !["400", "413", "415", "422"].iter().all(|s| has(s)) {
            g.body_without_400_413_415_422.push(name.clone());
        }
        if path_params && !has("404") {
            g.path_without_404.push(name.clone());
        }
        if secured
            && method == "post"
            && path.starts_with("/api/v1/")
            && !(has("409") && has("422"))
        {
            g.idempotent_without_409_422.push(name.clone());
        }
        if path.starts_with("/api/v1/") && !has("503") {
            g.v1_without_503.push(name.clone());
        }
        if !has("500") {
            g.without_500.push(name.clone());
        }
        if !secured && op["security"] != serde_json::json!([]) {
            g.public_unsaid.push(name.clone());
        }
        if !secured && method == "post" && path.starts_with("/api/v1/auth/") && !has("429") {
            g.auth_route_without_429.push(name.clone());
        }
        let body = &op["requestBody"];
        if body["required"] == true {
            for content in body["content"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(_, c)| c)
            {
                let schema = resolve(doc, &content["schema"]);
                let named = content["schema"]["$ref"]
                    .as_str()
                    .unwrap_or("inline")
                    .to_owned();
                let required = schema["required"].as_array().is_some_and(|r| !r.is_empty());
                if !required && schemas.insert(named.clone()) {
                    g.request_schemas_without_required.push(named);
                }
            }
        }
    }
    g
}

/// The acceptance count of the issue: 0 operations without their refusal statuses, 0 request
/// schemas without their required fields.
#[test]
fn the_document_declares_every_refusal_and_required_field() {
    let doc = doc();
    let g = gaps(&doc);
    println!(
        "operations: {}; secured without 401: {}; secured without 403/429: {}; with a body \
         without 400/413/415/422: {}; with path parameters without 404: {}; authenticated \
         POSTs without 409/422: {}; /api/v1 without 503: {}; without 500: {}; public not \
         saying so: {}; public auth POSTs without 429: {}; request schemas without required: {}",
        operations(&doc).len(),
        g.secured_without_401.len(),
        g.secured_without_403_429.len(),
        g.body_without_400_413_415_422.len(),
        g.path_without_404.len(),
        g.idempotent_without_409_422.len(),
        g.v1_without_503.len(),
        g.without_500.len(),
        g.public_unsaid.len(),
        g.auth_route_without_429.len(),
        g.request_schemas_without_required.len(),
    );
    assert_eq!(g.total(), 0, "{g:#?}");
}

/// The count is real: a route that loses its 401, or a request schema that loses its
/// `required`, is counted.
#[test]
fn the_count_sees_a_lost_refusal_and_a_lost_required_field() {
    let mut doc = doc();
    doc["paths"]["/api/v1/members"]["get"]["responses"]
        .as_object_mut()
        .unwrap()
        .remove("401");
    doc["components"]["schemas"]["RegisterRequest"]
        .as_object_mut()
        .unwrap()
        .remove("required");
    doc["paths"]["/api/v1/sites"]["post"]["responses"]
        .as_object_mut()
        .unwrap()
        .remove("415");
    let g = gaps(&doc);
    assert_eq!(g.secured_without_401, ["GET /api/v1/members"]);
    assert_eq!(g.body_without_400_413_415_422, ["POST /api/v1/sites"]);
    assert_eq!(
        g.request_schemas_without_required,
        ["#/components/schemas/RegisterRequest"]
    );
    assert_eq!(g.total(), 3);
}

/// Every refusal is a `Problem` as `application/problem+json`, every code it names is a code
/// of its status with an example, and every example it points to exists.
#[test]
fn every_refusal_is_a_problem_with_an_example_per_code() {
    let doc = doc();
    let mut problems = Vec::new();
    for (path, method, op) in operations(&doc) {
        for (status, response) in op["responses"].as_object().unwrap() {
            if !status.starts_with('2') {
                problems.push((
                    format!("{method} {path} {status}"),
                    status.clone(),
                    response.clone(),
                ));
            }
        }
    }
    for kind in KINDS {
        let response = &doc["components"]["responses"][kind.name];
        assert!(response.is_object(), "component {} missing", kind.name);
        problems.push((
            kind.name.to_owned(),
            kind.status.to_string(),
            response.clone(),
        ));
    }
    let mut errors = Vec::new();
    for (at, status, response) in problems {
        let response = resolve(&doc, &response);
        let content = &response["content"][PROBLEM_JSON];
        if content["schema"]["$ref"] != "#/components/schemas/Problem" {
            errors.push(format!("{at}: not a Problem as {PROBLEM_JSON}"));
        }
        let description = response["description"].as_str().unwrap_or_default();
        let named: Vec<&str> = codes_in(description);
        if named.is_empty() {
            errors.push(format!("{at}: names no code"));
        }
        for code in named {
            match status_of(code) {
                None => errors.push(format!("{at}: unknown code {code}")),
                Some(s) if s.to_string() != status => {
                    errors.push(format!("{at}: {code} is a {s}"));
                }
                Some(_) if content["examples"].get(code).is_none() => {
                    errors.push(format!("{at}: no example of {code}"));
                }
                Some(_) => {}
            }
        }
        for (code, example) in content["examples"].as_object().into_iter().flatten() {
            let example = resolve(&doc, example);
            if example["value"]["code"] != code.as_str() {
                errors.push(format!("{at}: example {code} missing"));
            }
        }
        for (name, header) in response["headers"].as_object().into_iter().flatten() {
            if !resolve(&doc, header).is_object() {
                errors.push(format!("{at}: header {name} missing"));
            }
        }
    }
    assert!(errors.is_empty(), "{errors:#?}");
    for (code, status, _) in CODES {
        assert!(!FIELD_CODES.contains(code), "{code} is both");
        let example = &doc["components"]["examples"][code]["value"];
        assert_eq!(example["status"], *status, "{code}");
        assert_eq!(example["code"], *code);
    }
}

/// Stable, meaningful operation ids (the handlers' names: unique, snake_case) and one declared
/// tag per operation.
#[test]
fn operation_ids_are_unique_snake_case_and_tags_are_declared() {
    let doc = doc();
    let tags: BTreeSet<&str> = doc["tags"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    let mut ids = BTreeSet::new();
    for (path, method, op) in operations(&doc) {
        let id = op["operationId"].as_str().unwrap_or_default().to_owned();
        assert!(
            !id.is_empty()
                && id
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
            "{method} {path}: operationId {id:?}"
        );
        assert!(ids.insert(id.clone()), "{id} is not unique");
        let op_tags = op["tags"].as_array().unwrap();
        assert_eq!(op_tags.len(), 1, "{method} {path}: {op_tags:?}");
        assert!(
            tags.contains(op_tags[0].as_str().unwrap()),
            "{method} {path}"
        );
    }
}

/// Every request schema has an example, and the values the server accepts are enumerated.
#[test]
fn request_schemas_have_examples_and_their_enumerations() {
    let doc = doc();
    for (path, method, op) in operations(&doc) {
        for (_, content) in op["requestBody"]["content"]
            .as_object()
            .into_iter()
            .flatten()
        {
            let schema = &content["schema"];
            let schema = schema.get("oneOf").and_then(|o| o.get(0)).unwrap_or(schema);
            let schema = resolve(&doc, schema);
            assert!(
                schema.get("example").is_some() || schema.get("examples").is_some(),
                "{method} {path}: the request schema has no example"
            );
        }
    }
    for (schema, property, values) in super::shape::request_enums() {
        let p = &doc["components"]["schemas"][schema]["properties"][property];
        let listed = p.get("enum").or_else(|| p["items"].get("enum"));
        assert_eq!(
            listed,
            Some(&serde_json::json!(values)),
            "{schema}.{property}: {p}"
        );
    }
}

/// A response field that may be `null` is always sent (so required); the few left out instead
/// are not nullable.
#[test]
fn nullable_response_fields_are_required() {
    let doc = doc();
    let schemas = &doc["components"]["schemas"];
    for name in ["UserView", "SiteView", "TenantView", "PageMeta", "VpsView"] {
        let s = &schemas[name];
        let required: Vec<&str> = s["required"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        for (field, p) in s["properties"].as_object().unwrap() {
            assert!(required.contains(&field.as_str()), "{name}.{field}: {p}");
        }
    }
    let problem = &schemas["Problem"];
    assert_eq!(problem["additionalProperties"], true);
    for optional in ["detail", "request_id", "errors"] {
        let required = problem["required"].as_array().unwrap();
        assert!(
            !required.contains(&Value::from(optional)),
            "Problem.{optional}"
        );
    }
}

/// utoipa names a component after its Rust type and a second type of the same name silently
/// replaces the first (an answer then fails its own schema): every `ToSchema` type of the API
/// has a name of its own.
#[test]
fn schema_names_are_unique() {
    fn sources(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                sources(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    sources(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut files,
    );
    let mut seen: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        let mut derives_schema = false;
        for line in text.lines().map(str::trim) {
            if line.starts_with("#[derive(") && line.contains("ToSchema") {
                derives_schema = true;
            } else if derives_schema
                && let Some(rest) = line
                    .strip_prefix("pub struct ")
                    .or_else(|| line.strip_prefix("pub enum "))
                    .or_else(|| line.strip_prefix("struct "))
            {
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                seen.entry(name)
                    .or_default()
                    .push(file.display().to_string());
                derives_schema = false;
            } else if !line.starts_with("#[") && !line.starts_with("///") && !line.is_empty() {
                derives_schema = false;
            }
        }
    }
    let twice: Vec<_> = seen.iter().filter(|(_, files)| files.len() > 1).collect();
    assert!(seen.len() > 50, "found only {} schema types", seen.len());
    assert!(twice.is_empty(), "{twice:#?}");
}

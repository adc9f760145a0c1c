//! The API's answers checked against its OpenAPI 3.1 document: the status is declared for the
//! operation (or `NXX`, or `default`), the content type is declared for that status, the
//! headers the document marks `required` are there, and a JSON body validates against the
//! declared schema (JSON Schema 2020-12, `$ref`s into `components` resolved).
//!
//! The document knows nothing of answers to requests that reach no operation; for those the
//! rules are the API's conventions (`docs/API.md`): a documented path asked with another
//! method answers 405 with `Allow`, an unknown path 404, and every error, operation or not, is
//! an RFC 9457 `application/problem+json` document valid against `Problem`. Paths served
//! outside the document on purpose (the docs page, test-only routes) are named with
//! [`Contract::undocumented`]: their successes are taken as they are, their errors are still
//! problems. An event stream (`text/event-stream`) is checked by status and content type only.
//!
//! [`Contract::check`] is pure; [`Recorder`] collects what it finds while an app answers, and
//! its [`Guard`] reports when the test ends: to stderr, to the JSON-lines file named by
//! `CHOM_CONFORMANCE_REPORT`, and by failing the test as `CHOM_CONFORMANCE` says ([`Mode`]).

use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::fmt;
use std::io::Write as _;
use std::sync::{Arc, Mutex};

/// An answer as the client received it.
#[derive(Debug, Clone)]
pub struct Answer<'a> {
    /// `GET`, `POST`… (any case).
    pub method: &'a str,
    /// The request's path, without the query.
    pub path: &'a str,
    pub status: u16,
    /// Header names in any case.
    pub headers: Vec<(String, String)>,
    /// The whole body; `None` when it was not read (an event stream).
    pub body: Option<&'a [u8]>,
}

impl Answer<'_> {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The `code` of a problem document.
    fn problem_code(&self) -> Option<String> {
        if self.media_type().as_deref() != Some("application/problem+json") {
            return None;
        }
        let body: Value = serde_json::from_slice(self.body?).ok()?;
        body.get("code")?.as_str().map(ToOwned::to_owned)
    }

    /// The media type without parameters, lower case (`application/json`).
    fn media_type(&self) -> Option<String> {
        self.header("content-type").map(essence)
    }
}

/// `type/subtype` of a content type, lower case, without parameters.
fn essence(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

fn is_json(media: &str) -> bool {
    media == "application/json" || media.ends_with("+json")
}

/// What is wrong with an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// The operation does not declare this status (nor its range, nor `default`).
    UndeclaredStatus,
    /// The status is declared, but not with this content type (or with no body at all).
    UndeclaredContentType,
    /// A header the document marks `required` for this answer is missing.
    MissingHeader,
    /// The body does not validate against the declared schema, or is not JSON.
    InvalidBody,
    /// A documented path asked with an undeclared method did not answer 405 with `Allow`.
    MethodNotRefused,
    /// A success on a path the document does not have (and no [`Contract::undocumented`]).
    Undocumented,
    /// An error outside any operation that is not a valid `application/problem+json`.
    NotAProblem,
    /// The declared schema does not compile.
    BadSchema,
}

impl Kind {
    /// A stable name (`undeclared-status`…), as in reports.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::UndeclaredStatus => "undeclared-status",
            Self::UndeclaredContentType => "undeclared-content-type",
            Self::MissingHeader => "missing-header",
            Self::InvalidBody => "invalid-body",
            Self::MethodNotRefused => "method-not-refused",
            Self::Undocumented => "undocumented",
            Self::NotAProblem => "not-a-problem",
            Self::BadSchema => "bad-schema",
        }
    }
}

/// One answer the document does not account for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub kind: Kind,
    /// `GET /api/v1/sites/{id}`, or the method and concrete path when no operation matched.
    pub operation: String,
    /// The concrete path asked.
    pub path: String,
    pub status: u16,
    /// The answer's media type, without parameters.
    pub content_type: Option<String>,
    /// The problem's `code`, when the answer is a problem document.
    pub code: Option<String>,
    /// What was expected, what was found.
    pub detail: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} ({}): {} {}",
            self.kind.name(),
            self.operation,
            self.path,
            self.status,
            self.content_type.as_deref().unwrap_or("(no content type)"),
        )?;
        if let Some(code) = &self.code {
            write!(f, " {code}")?;
        }
        write!(f, ": {}", self.detail)
    }
}

impl Violation {
    /// The violation as one JSON object (a line of the report file).
    #[must_use]
    pub fn to_json(&self) -> Value {
        json!({
            "kind": self.kind.name(),
            "operation": self.operation,
            "path": self.path,
            "status": self.status,
            "content_type": self.content_type,
            "code": self.code,
            "detail": self.detail,
        })
    }
}

/// A path template of the document, split in segments.
struct Template {
    template: String,
    segments: Vec<String>,
    /// Literal segments: the most literal template wins (`/vps/stats` over `/vps/{id}`).
    literals: usize,
}

impl Template {
    fn matches(&self, path: &[&str]) -> bool {
        self.segments.len() == path.len()
            && self
                .segments
                .iter()
                .zip(path)
                .all(|(t, p)| (t.starts_with('{') && t.ends_with('}') && !p.is_empty()) || t == p)
    }
}

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// The document, ready to check answers against.
pub struct Contract {
    doc: Value,
    /// `components.schemas`, `$ref`s rewritten to `#/$defs/…`.
    defs: Map<String, Value>,
    templates: Vec<Template>,
    undocumented: Vec<String>,
    validators: Mutex<HashMap<String, Arc<jsonschema::Validator>>>,
}

impl fmt::Debug for Contract {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Contract")
            .field("paths", &self.templates.len())
            .field("undocumented", &self.undocumented)
            .finish_non_exhaustive()
    }
}

/// Where the schemas of `components` are put in a schema compiled on its own.
const DEFS: &str = "#/$defs/";
const COMPONENT_SCHEMAS: &str = "#/components/schemas/";

fn rewrite_refs(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                if key == "$ref"
                    && let Value::String(r) = v
                    && let Some(name) = r.strip_prefix(COMPONENT_SCHEMAS)
                {
                    *r = format!("{DEFS}{name}");
                } else {
                    rewrite_refs(v);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(rewrite_refs),
        _ => {}
    }
}

/// Encodes one JSON Pointer token.
fn escape(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

impl Contract {
    /// The contract of `doc`, an OpenAPI 3.1 document as JSON.
    #[must_use]
    pub fn new(doc: Value) -> Self {
        let mut defs = doc
            .pointer("/components/schemas")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        defs.values_mut().for_each(rewrite_refs);
        let templates = doc
            .get("paths")
            .and_then(Value::as_object)
            .map(|paths| {
                paths
                    .keys()
                    .map(|template| {
                        let segments: Vec<String> =
                            template.split('/').map(str::to_owned).collect();
                        let literals = segments.iter().filter(|s| !s.starts_with('{')).count();
                        Template {
                            template: template.clone(),
                            segments,
                            literals,
                        }
                    })
                    .collect()
            })
            .unwrap_or_default();
        Self {
            doc,
            defs,
            templates,
            undocumented: Vec::new(),
            validators: Mutex::new(HashMap::new()),
        }
    }

    /// Paths starting with `prefix` are served outside the document on purpose (the docs
    /// page, test-only routes): their successes are not checked; their errors must still be
    /// problems.
    #[must_use]
    pub fn undocumented(mut self, prefix: &str) -> Self {
        self.undocumented.push(prefix.to_owned());
        self
    }

    /// The document checked against.
    #[must_use]
    pub fn document(&self) -> &Value {
        &self.doc
    }

    /// Follows `$ref`s within the document (`#/components/responses/…`); the pointer of the
    /// object reached, and the object.
    fn resolve<'d>(&'d self, pointer: String, value: &'d Value) -> (String, &'d Value) {
        let mut pointer = pointer;
        let mut value = value;
        for _ in 0..16 {
            let Some(target) = value
                .get("$ref")
                .and_then(Value::as_str)
                .and_then(|r| r.strip_prefix('#'))
            else {
                break;
            };
            let Some(next) = self.doc.pointer(target) else {
                break;
            };
            pointer = target.to_owned();
            value = next;
        }
        (pointer, value)
    }

    /// The template matching `path`, the most literal first.
    fn template(&self, path: &str) -> Option<&Template> {
        let wanted: Vec<&str> = path.split('/').collect();
        self.templates
            .iter()
            .filter(|t| t.matches(&wanted))
            .max_by_key(|t| t.literals)
    }

    /// Every way `answer` departs from the document (empty: it conforms).
    #[must_use]
    pub fn check(&self, answer: &Answer<'_>) -> Vec<Violation> {
        let method = answer.method.to_ascii_lowercase();
        let Some(template) = self.template(answer.path) else {
            return self.check_off_document(answer);
        };
        let item = &self.doc["paths"][&template.template];
        let Some(operation) = item.get(&method) else {
            return self.check_wrong_method(answer, template, item);
        };
        let operation_name = format!("{} {}", answer.method.to_uppercase(), template.template);
        let violation = |kind, detail: String| Violation {
            kind,
            operation: operation_name.clone(),
            path: answer.path.to_owned(),
            status: answer.status,
            content_type: answer.media_type(),
            code: answer.problem_code(),
            detail,
        };
        let responses = operation.get("responses").and_then(Value::as_object);
        let status = answer.status.to_string();
        let range = format!("{}XX", answer.status / 100);
        let Some((key, response)) = responses.and_then(|r| {
            [status.as_str(), range.as_str(), "default"]
                .into_iter()
                .find_map(|k| r.get(k).map(|v| (k, v)))
        }) else {
            let declared = responses
                .map(|r| r.keys().cloned().collect::<Vec<_>>().join(", "))
                .unwrap_or_default();
            return vec![violation(
                Kind::UndeclaredStatus,
                format!("not declared (declared: {declared})"),
            )];
        };
        let pointer = format!(
            "/paths/{}/{method}/responses/{key}",
            escape(&template.template)
        );
        let (pointer, response) = self.resolve(pointer, response);
        let mut found = Vec::new();
        for (name, detail) in self.missing_headers(answer, &pointer, response) {
            found.push(violation(Kind::MissingHeader, format!("{name}: {detail}")));
        }
        found.extend(
            self.check_content(answer, &pointer, response)
                .into_iter()
                .map(|(kind, detail)| violation(kind, detail)),
        );
        found
    }

    /// The `required` headers of `response` missing from `answer`.
    fn missing_headers(
        &self,
        answer: &Answer<'_>,
        pointer: &str,
        response: &Value,
    ) -> Vec<(String, String)> {
        let Some(headers) = response.get("headers").and_then(Value::as_object) else {
            return Vec::new();
        };
        headers
            .iter()
            .filter_map(|(name, header)| {
                let (_, header) =
                    self.resolve(format!("{pointer}/headers/{}", escape(name)), header);
                let required = header.get("required").and_then(Value::as_bool) == Some(true);
                (required && answer.header(name).is_none())
                    .then(|| (name.clone(), "declared required, not sent".to_owned()))
            })
            .collect()
    }

    /// The answer's content type and body against the `content` of `response`.
    fn check_content(
        &self,
        answer: &Answer<'_>,
        pointer: &str,
        response: &Value,
    ) -> Vec<(Kind, String)> {
        let media = answer.media_type();
        let has_body = answer.body.is_some_and(|b| !b.is_empty());
        let content = response
            .get("content")
            .and_then(Value::as_object)
            .filter(|c| !c.is_empty());
        let Some(content) = content else {
            return if has_body || (answer.body.is_none() && media.is_some()) {
                vec![(
                    Kind::UndeclaredContentType,
                    "the status is declared without a body".to_owned(),
                )]
            } else {
                Vec::new()
            };
        };
        let declared = || content.keys().cloned().collect::<Vec<_>>().join(", ");
        let Some(media) = media else {
            return if has_body {
                vec![(
                    Kind::UndeclaredContentType,
                    format!("a body without Content-Type (declared: {})", declared()),
                )]
            } else {
                // No body at all where one is declared (a HEAD, say): nothing to check.
                Vec::new()
            };
        };
        let Some((key, declared_media)) = content.iter().find(|(key, _)| {
            let key = essence(key);
            key == media
                || key == "*/*"
                || key
                    .strip_suffix("/*")
                    .is_some_and(|t| media.split('/').next() == Some(t))
        }) else {
            return vec![(
                Kind::UndeclaredContentType,
                format!("not declared for this status (declared: {})", declared()),
            )];
        };
        let (Some(body), true) = (answer.body, is_json(&media)) else {
            return Vec::new();
        };
        let instance: Value = match serde_json::from_slice(body) {
            Ok(v) => v,
            Err(e) => return vec![(Kind::InvalidBody, format!("not JSON: {e}"))],
        };
        let mut found = Vec::new();
        if media == "application/problem+json"
            && instance.get("status").and_then(Value::as_u64) != Some(u64::from(answer.status))
        {
            found.push((
                Kind::InvalidBody,
                format!(
                    "the problem's status {} is not the answer's",
                    instance.get("status").unwrap_or(&Value::Null)
                ),
            ));
        }
        let Some(schema) = declared_media.get("schema") else {
            return found;
        };
        let key = format!("{pointer}/content/{}/schema", escape(key));
        match self.validator(&key, schema) {
            Ok(validator) => {
                let errors: Vec<String> = validator
                    .iter_errors(&instance)
                    .take(5)
                    .map(|e| format!("at `{}`: {e}", e.instance_path()))
                    .collect();
                if !errors.is_empty() {
                    found.push((
                        Kind::InvalidBody,
                        format!("{}; body: {}", errors.join("; "), shorten(&instance)),
                    ));
                }
            }
            Err(e) => found.push((Kind::BadSchema, format!("{key}: {e}"))),
        }
        found
    }

    /// The compiled schema at `key` (compiled once per contract).
    fn validator(&self, key: &str, schema: &Value) -> Result<Arc<jsonschema::Validator>, String> {
        if let Some(v) = self.lock().get(key) {
            return Ok(v.clone());
        }
        let mut target = schema.clone();
        rewrite_refs(&mut target);
        let mut defs = self.defs.clone();
        defs.insert("__answer".to_owned(), target);
        let root = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$defs": defs,
            "$ref": format!("{DEFS}__answer"),
        });
        let validator = jsonschema::options()
            .with_draft(jsonschema::Draft::Draft202012)
            .should_validate_formats(true)
            .build(&root)
            .map_err(|e| e.to_string())?;
        let validator = Arc::new(validator);
        self.lock().insert(key.to_owned(), validator.clone());
        Ok(validator)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<jsonschema::Validator>>> {
        self.validators
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A documented path asked with a method it does not declare: 405 with `Allow`, a
    /// problem.
    fn check_wrong_method(
        &self,
        answer: &Answer<'_>,
        template: &Template,
        item: &Value,
    ) -> Vec<Violation> {
        let allowed: Vec<String> = METHODS
            .iter()
            .filter(|m| item.get(**m).is_some())
            .map(|m| m.to_uppercase())
            .collect();
        let operation = format!(
            "{} {} (not an operation)",
            answer.method.to_uppercase(),
            template.template
        );
        let mut found = self.problem_violations(answer, &operation);
        let expected = format!("405 with `Allow: {}`", allowed.join(", "));
        if answer.status != 405 {
            found.push(self.violation(
                answer,
                &operation,
                Kind::MethodNotRefused,
                format!("expected {expected}"),
            ));
        } else if answer.header("allow").is_none() {
            found.push(self.violation(
                answer,
                &operation,
                Kind::MissingHeader,
                format!("Allow: expected {expected}"),
            ));
        }
        found
    }

    /// A path the document does not have.
    fn check_off_document(&self, answer: &Answer<'_>) -> Vec<Violation> {
        let operation = format!(
            "{} {} (no such path)",
            answer.method.to_uppercase(),
            answer.path
        );
        if answer.status >= 400 {
            return self.problem_violations(answer, &operation);
        }
        if self.undocumented.iter().any(|p| answer.path.starts_with(p)) {
            return Vec::new();
        }
        vec![self.violation(
            answer,
            &operation,
            Kind::Undocumented,
            "a success on a path the document does not have".to_owned(),
        )]
    }

    /// An error outside any operation must be a problem (`components.schemas.Problem`).
    fn problem_violations(&self, answer: &Answer<'_>, operation: &str) -> Vec<Violation> {
        if answer.status < 400 {
            return Vec::new();
        }
        if answer.media_type().as_deref() != Some("application/problem+json") {
            return vec![self.violation(
                answer,
                operation,
                Kind::NotAProblem,
                "an error must be application/problem+json".to_owned(),
            )];
        }
        let problem = json!({
            "description": "an error outside any operation",
            "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
        });
        self.check_content(answer, "/components/schemas/Problem", &problem)
            .into_iter()
            .map(|(kind, detail)| {
                let kind = if kind == Kind::InvalidBody {
                    Kind::NotAProblem
                } else {
                    kind
                };
                self.violation(answer, operation, kind, detail)
            })
            .collect()
    }

    fn violation(
        &self,
        answer: &Answer<'_>,
        operation: &str,
        kind: Kind,
        detail: String,
    ) -> Violation {
        Violation {
            kind,
            operation: operation.to_owned(),
            path: answer.path.to_owned(),
            status: answer.status,
            content_type: answer.media_type(),
            code: answer.problem_code(),
            detail,
        }
    }

    /// `(operation, declared statuses)` of every operation: `("GET /api/v1/sites", ["200",
    /// "401"…])`.
    #[must_use]
    pub fn operations(&self) -> Vec<(String, Vec<String>)> {
        let mut out = Vec::new();
        for t in &self.templates {
            let item = &self.doc["paths"][&t.template];
            for m in METHODS {
                if let Some(op) = item.get(m) {
                    let statuses = op
                        .get("responses")
                        .and_then(Value::as_object)
                        .map(|r| r.keys().cloned().collect())
                        .unwrap_or_default();
                    out.push((format!("{} {}", m.to_uppercase(), t.template), statuses));
                }
            }
        }
        out
    }
}

/// A body cut to a readable length for a message.
fn shorten(v: &Value) -> String {
    let s = v.to_string();
    if s.len() <= 300 {
        return s;
    }
    let mut end = 300;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// What a test run does with the violations it found (`CHOM_CONFORMANCE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Nothing is checked.
    Off,
    /// Violations are printed (and written to `CHOM_CONFORMANCE_REPORT`); the test passes.
    Report,
    /// As `Report`; the test fails on any violation but an undeclared status, which is only
    /// reported (for a document being completed).
    StatusesPending,
    /// As `Report`, and the test fails on any violation: the default.
    Enforce,
}

impl Mode {
    /// `CHOM_CONFORMANCE`: `off`, `report`, `statuses-pending` or `enforce`;
    /// `enforce` when unset.
    ///
    /// # Panics
    /// Another value (a typo must not turn the check off).
    #[must_use]
    pub fn from_env() -> Self {
        match std::env::var("CHOM_CONFORMANCE").as_deref() {
            Ok("statuses-pending") => Self::StatusesPending,
            Ok("report") => Self::Report,
            Err(_) | Ok("" | "enforce") => Self::Enforce,
            Ok("off") => Self::Off,
            Ok(other) => panic!(
                "CHOM_CONFORMANCE={other}: expected off, report, statuses-pending or enforce"
            ),
        }
    }

    /// Whether a violation of `kind` fails the test.
    #[must_use]
    pub fn fails_on(self, kind: Kind) -> bool {
        match self {
            Self::Off | Self::Report => false,
            Self::StatusesPending => kind != Kind::UndeclaredStatus,
            Self::Enforce => true,
        }
    }
}

/// Checks answers against a [`Contract`] as they happen and keeps the violations; cheap to
/// clone (the clones share them). Give a clone to the app's observer and keep the [`Guard`].
#[derive(Clone, Debug)]
pub struct Recorder {
    contract: Arc<Contract>,
    mode: Mode,
    found: Arc<Mutex<Vec<Violation>>>,
}

impl Recorder {
    #[must_use]
    pub fn new(contract: Arc<Contract>, mode: Mode) -> Self {
        Self {
            contract,
            mode,
            found: Arc::default(),
        }
    }

    /// Checks `answer` (unless the mode is [`Mode::Off`]) and keeps what is wrong with it.
    pub fn record(&self, answer: &Answer<'_>) {
        if self.mode == Mode::Off {
            return;
        }
        let found = self.contract.check(answer);
        if !found.is_empty() {
            self.lock().extend(found);
        }
    }

    /// The violations so far, removed (a test that provokes some on purpose takes them).
    #[must_use]
    pub fn take(&self) -> Vec<Violation> {
        std::mem::take(&mut *self.lock())
    }

    /// The contract it checks against.
    #[must_use]
    pub fn contract(&self) -> &Arc<Contract> {
        &self.contract
    }

    /// The mode it runs in.
    #[must_use]
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// What reports the violations when dropped (see [`Guard`]).
    #[must_use]
    pub fn guard(&self) -> Guard {
        Guard {
            recorder: self.clone(),
            test: std::thread::current()
                .name()
                .unwrap_or("unnamed test")
                .to_owned(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Violation>> {
        self.found
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Reports the recorder's violations when dropped (with the app under test, so no test can
/// forget it): each on stderr and, when `CHOM_CONFORMANCE_REPORT` names a file, appended to it
/// as a JSON line with the test's name; then it panics, failing the test (unless the test is
/// already failing), if one of them is of a kind the mode fails on ([`Mode::fails_on`]).
#[derive(Debug)]
pub struct Guard {
    recorder: Recorder,
    test: String,
}

impl Guard {
    /// The recorder it reports for.
    #[must_use]
    pub fn recorder(&self) -> &Recorder {
        &self.recorder
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        let found = self.recorder.take();
        if found.is_empty() {
            return;
        }
        let mut unique: Vec<String> = found.iter().map(ToString::to_string).collect();
        unique.sort();
        unique.dedup();
        eprintln!(
            "{}: {} answer(s) the OpenAPI document does not account for:\n  {}",
            self.test,
            found.len(),
            unique.join("\n  ")
        );
        if let Some(path) = std::env::var_os("CHOM_CONFORMANCE_REPORT") {
            let lines: String = found
                .iter()
                .map(|v| {
                    let mut line = v.to_json();
                    line["test"] = Value::String(self.test.clone());
                    format!("{line}\n")
                })
                .collect();
            // One write per test: tests of one binary run in parallel processes.
            let written = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .and_then(|mut f| f.write_all(lines.as_bytes()));
            if let Err(e) = written {
                eprintln!("CHOM_CONFORMANCE_REPORT: cannot write: {e}");
            }
        }
        let mode = self.recorder.mode;
        let mut failing: Vec<String> = found
            .iter()
            .filter(|v| mode.fails_on(v.kind))
            .map(ToString::to_string)
            .collect();
        failing.sort();
        failing.dedup();
        if !failing.is_empty() && !std::thread::panicking() {
            panic!(
                "{} answer(s) do not conform to the OpenAPI document (CHOM_CONFORMANCE: {mode:?}):\n  {}",
                failing.len(),
                failing.join("\n  ")
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc() -> Value {
        json!({
            "openapi": "3.1.0",
            "paths": {
                "/items/{id}": {
                    "get": {"responses": {
                        "200": {"description": "ok", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Item"}}}},
                        "404": {"$ref": "#/components/responses/NotFound"},
                    }},
                    "delete": {"responses": {"204": {"description": "gone"}}},
                },
                "/items/special": {
                    "get": {"responses": {"200": {"description": "ok", "content": {"text/plain": {"schema": {"type": "string"}}}}}},
                },
                "/stream": {
                    "get": {"responses": {"200": {"description": "events", "content": {"text/event-stream": {}}}}},
                },
                "/limited": {
                    "get": {"responses": {"429": {"description": "slow down", "headers": {"Retry-After": {"required": true, "schema": {"type": "integer"}}}, "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}}},
                },
            },
            "components": {
                "schemas": {
                    "Item": {"type": "object", "required": ["id", "name"], "properties": {"id": {"type": "string", "format": "uuid"}, "name": {"type": "string"}, "tags": {"type": "array", "items": {"$ref": "#/components/schemas/Tag"}}}},
                    "Tag": {"type": "string", "minLength": 1},
                    "Problem": {"type": "object", "required": ["type", "title", "status", "code"], "properties": {"status": {"type": "integer"}, "code": {"type": "string"}}},
                },
                "responses": {
                    "NotFound": {"description": "no such item", "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}},
                },
            },
        })
    }

    fn contract() -> Contract {
        Contract::new(doc()).undocumented("/docs/")
    }

    fn answer<'a>(
        method: &'a str,
        path: &'a str,
        status: u16,
        content_type: Option<&str>,
        body: &'a str,
    ) -> Answer<'a> {
        Answer {
            method,
            path,
            status,
            headers: content_type
                .map(|c| vec![("Content-Type".to_owned(), c.to_owned())])
                .unwrap_or_default(),
            body: Some(body.as_bytes()),
        }
    }

    const PROBLEM_404: &str = r#"{"type":"urn:chom:problem:not-found","title":"Not Found","status":404,"code":"NOT_FOUND"}"#;
    const ITEM: &str = r#"{"id":"0190d8e4-5b65-7136-bf6e-2b079378585f","name":"a","tags":["x"]}"#;

    fn kinds(found: &[Violation]) -> Vec<Kind> {
        found.iter().map(|v| v.kind).collect()
    }

    #[test]
    fn a_declared_answer_conforms() {
        let c = contract();
        let ok = answer(
            "GET",
            "/items/abc",
            200,
            Some("application/json; charset=utf-8"),
            ITEM,
        );
        assert_eq!(c.check(&ok), []);
        // Through a shared response component.
        let missing = answer(
            "get",
            "/items/abc",
            404,
            Some("application/problem+json"),
            PROBLEM_404,
        );
        assert_eq!(c.check(&missing), []);
        assert_eq!(c.check(&answer("DELETE", "/items/abc", 204, None, "")), []);
    }

    #[test]
    fn an_undeclared_status_is_found() {
        let c = contract();
        let found = c.check(&answer(
            "DELETE",
            "/items/abc",
            404,
            Some("application/problem+json"),
            PROBLEM_404,
        ));
        assert_eq!(kinds(&found), [Kind::UndeclaredStatus]);
        assert_eq!(found[0].operation, "DELETE /items/{id}");
        assert!(found[0].detail.contains("declared: 204"), "{}", found[0]);
    }

    /// Removing one declared status from one route is enough for its answers to fail.
    #[test]
    fn removing_a_declared_status_makes_its_answers_fail() {
        let mut d = doc();
        let responses = d["paths"]["/items/{id}"]["get"]["responses"]
            .as_object_mut()
            .unwrap();
        responses.remove("404");
        let c = Contract::new(d);
        let found = c.check(&answer(
            "GET",
            "/items/abc",
            404,
            Some("application/problem+json"),
            PROBLEM_404,
        ));
        assert_eq!(kinds(&found), [Kind::UndeclaredStatus]);
    }

    #[test]
    fn a_wrong_content_type_or_an_unexpected_body_is_found() {
        let c = contract();
        let html = answer("GET", "/items/abc", 200, Some("text/html"), "<p>");
        assert_eq!(kinds(&c.check(&html)), [Kind::UndeclaredContentType]);
        let body_on_204 = answer("DELETE", "/items/abc", 204, Some("application/json"), "{}");
        assert_eq!(kinds(&c.check(&body_on_204)), [Kind::UndeclaredContentType]);
    }

    #[test]
    fn a_body_off_its_schema_is_found() {
        let c = contract();
        for body in [
            r#"{"id":"0190d8e4-5b65-7136-bf6e-2b079378585f"}"#,
            r#"{"id":"not a uuid","name":"a"}"#,
            r#"{"id":"0190d8e4-5b65-7136-bf6e-2b079378585f","name":"a","tags":[""]}"#,
            "not json",
        ] {
            let found = c.check(&answer(
                "GET",
                "/items/abc",
                200,
                Some("application/json"),
                body,
            ));
            assert_eq!(kinds(&found), [Kind::InvalidBody], "{body}: {found:?}");
        }
        let wrong_status = r#"{"type":"t","title":"t","status":400,"code":"NOT_FOUND"}"#;
        let found = c.check(&answer(
            "GET",
            "/items/abc",
            404,
            Some("application/problem+json"),
            wrong_status,
        ));
        assert_eq!(kinds(&found), [Kind::InvalidBody]);
    }

    #[test]
    fn the_most_literal_template_wins() {
        let c = contract();
        let text = answer("GET", "/items/special", 200, Some("text/plain"), "hello");
        assert_eq!(c.check(&text), []);
    }

    #[test]
    fn a_required_header_must_be_sent() {
        let c = contract();
        let body = r#"{"type":"t","title":"t","status":429,"code":"RATE_LIMITED"}"#;
        let mut limited = answer(
            "GET",
            "/limited",
            429,
            Some("application/problem+json"),
            body,
        );
        assert_eq!(kinds(&c.check(&limited)), [Kind::MissingHeader]);
        limited
            .headers
            .push(("retry-after".to_owned(), "1".to_owned()));
        assert_eq!(c.check(&limited), []);
    }

    #[test]
    fn an_event_stream_is_checked_by_status_and_content_type() {
        let c = contract();
        let mut stream = answer("GET", "/stream", 200, Some("text/event-stream"), "");
        stream.body = None;
        assert_eq!(c.check(&stream), []);
        stream.status = 500;
        assert_eq!(kinds(&c.check(&stream)), [Kind::UndeclaredStatus]);
    }

    #[test]
    fn answers_outside_the_document_follow_the_conventions() {
        let c = contract();
        let unknown = answer(
            "GET",
            "/nope",
            404,
            Some("application/problem+json"),
            PROBLEM_404,
        );
        assert_eq!(c.check(&unknown), []);
        let plain_404 = answer("GET", "/nope", 404, Some("text/plain"), "not found");
        assert_eq!(kinds(&c.check(&plain_404)), [Kind::NotAProblem]);
        let served = answer("GET", "/nope", 200, Some("text/html"), "<p>");
        assert_eq!(kinds(&c.check(&served)), [Kind::Undocumented]);
        let docs = answer("GET", "/docs/index.html", 200, Some("text/html"), "<p>");
        assert_eq!(c.check(&docs), []);
        let broken = r#"{"status":404}"#;
        let docs_404 = answer(
            "GET",
            "/docs/x",
            404,
            Some("application/problem+json"),
            broken,
        );
        assert_eq!(kinds(&c.check(&docs_404)), [Kind::NotAProblem]);
    }

    #[test]
    fn a_wrong_method_answers_405_with_allow() {
        let c = contract();
        let body = r#"{"type":"t","title":"t","status":405,"code":"METHOD_NOT_ALLOWED"}"#;
        let mut refused = answer(
            "PUT",
            "/items/abc",
            405,
            Some("application/problem+json"),
            body,
        );
        assert_eq!(kinds(&c.check(&refused)), [Kind::MissingHeader]);
        refused
            .headers
            .push(("Allow".to_owned(), "GET, DELETE".to_owned()));
        assert_eq!(c.check(&refused), []);
        let served = answer("PUT", "/items/abc", 200, Some("application/json"), "{}");
        assert_eq!(kinds(&c.check(&served)), [Kind::MethodNotRefused]);
    }

    #[test]
    fn the_guard_fails_a_test_as_its_mode_says() {
        let body_on_204 = answer("DELETE", "/items/abc", 204, Some("application/json"), "{}");
        let report = Recorder::new(Arc::new(contract()), Mode::Report);
        let guard = report.guard();
        report.record(&body_on_204);
        drop(guard);
        let enforce = Recorder::new(Arc::new(contract()), Mode::Enforce);
        let guard = enforce.guard();
        enforce.record(&body_on_204);
        let dropped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(guard)));
        let message = dropped.expect_err("the guard panics");
        let message = message
            .downcast_ref::<String>()
            .cloned()
            .unwrap_or_default();
        assert!(
            message.contains("undeclared-content-type DELETE /items/{id}"),
            "{message}"
        );
        // An undeclared status is only reported while statuses are pending; the rest fails.
        let pending = Recorder::new(Arc::new(contract()), Mode::StatusesPending);
        let guard = pending.guard();
        let undeclared_404 = answer(
            "DELETE",
            "/items/abc",
            404,
            Some("application/problem+json"),
            PROBLEM_404,
        );
        pending.record(&undeclared_404);
        drop(guard);
        let guard = pending.guard();
        pending.record(&body_on_204);
        let dropped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(guard)));
        assert!(
            dropped.is_err(),
            "a body on a 204 fails while statuses are pending"
        );
        let off = Recorder::new(Arc::new(contract()), Mode::Off);
        off.record(&body_on_204);
        assert_eq!(off.take(), []);
    }
}

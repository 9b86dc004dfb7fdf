//! The event catalogue: every event id the program can log, with its level, recorded fields
//! and their types (redacted ones marked), metric families and objectives; as Markdown for
//! people and as JSON Schema (draft 2020-12) for log pipelines that validate lines.

use super::promql::{families, num};
use crate::callsite::Site;
use crate::slo::{Slo, Target, duration_text};
use serde_json::{Map, Value, json};

/// One recorded field of an event.
#[derive(Clone, Debug)]
pub struct Field {
    /// Its key in the line.
    pub name: &'static str,
    /// The Rust type declared for it (`expr` for an expression).
    pub rust_type: &'static str,
    /// Always written as `[REDACTED]` (a sensitive name or `Secret<T>`).
    pub redacted: bool,
}

/// One `#[observed]` event family (`<event>.completed`, `.failed`, optionally `.started`).
#[derive(Clone, Debug)]
pub struct Event {
    /// The event id (`orders.get`).
    pub id: &'static str,
    /// Level of `<event>.completed`.
    pub level: &'static str,
    /// The `tracing` target.
    pub target: &'static str,
    /// Recorded fields.
    pub fields: Vec<Field>,
    /// Whether `<event>.started` is written.
    pub started: bool,
    /// Metric family prefix, `None` with `metrics = false`.
    pub family: Option<&'static str>,
}

/// The events of the program's `#[observed]` sites (one per event id).
pub fn events() -> Vec<Event> {
    let mut out: Vec<Event> = Vec::new();
    for s in crate::slo::sites() {
        if out.iter().any(|e| e.id == s.event()) {
            continue;
        }
        out.push(event_of(s));
    }
    out
}

fn event_of(s: &'static Site) -> Event {
    let o = s.opts();
    let fields = s
        .fields()
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let rust_type = o.field_types.get(i).copied().unwrap_or("expr");
            Field {
                name,
                rust_type,
                redacted: crate::sensitive::is_sensitive(name) || rust_type.starts_with("Secret<"),
            }
        })
        .collect();
    Event {
        id: s.event(),
        level: level_name(o.level),
        target: s.target(),
        fields,
        started: o.started,
        family: o.metrics.then_some(o.metric),
    }
}

fn level_name(l: tracing::Level) -> &'static str {
    match l {
        tracing::Level::TRACE => "TRACE",
        tracing::Level::DEBUG => "DEBUG",
        tracing::Level::INFO => "INFO",
        tracing::Level::WARN => "WARN",
        _ => "ERROR",
    }
}

/// JSON Schema of a Rust type as observa records it.
fn type_schema(f: &Field) -> Value {
    if f.redacted {
        return json!({ "const": crate::record::REDACTED, "description": "always redacted" });
    }
    let t = f
        .rust_type
        .trim_start_matches('&')
        .trim_start_matches("mut ");
    let t = t
        .strip_prefix("'")
        .map_or(t, |r| r.split_once(' ').map_or(r, |(_, x)| x));
    let base = |t: &str| -> Value {
        match t {
            "u8" | "u16" | "u32" | "u64" | "usize" | "i8" | "i16" | "i32" | "i64" | "isize"
            | "u128" | "i128" => json!({ "type": "integer" }),
            "f32" | "f64" => json!({ "type": ["number", "string"] }),
            "bool" => json!({ "type": "boolean" }),
            "str" | "String" | "char" => json!({ "type": "string" }),
            _ => json!({}),
        }
    };
    if let Some(inner) = t.strip_prefix("Option<").and_then(|r| r.strip_suffix('>')) {
        let mut v = base(inner);
        if let Some(ty) = v.get("type").cloned() {
            let mut types = match ty {
                Value::Array(a) => a,
                other => vec![other],
            };
            types.push(json!("null"));
            v["type"] = Value::Array(types);
        }
        return v;
    }
    base(t)
}

/// The JSON Schema of every line the program's events write (the canonical fields, then one
/// `if`/`then` per event id).
pub(super) fn schema(events: &[Event], http: bool) -> Value {
    let s = |d: &str| json!({ "type": "string", "description": d });
    let mut defs = Map::new();
    let mut all_of = Vec::new();
    let completion = |fields: &[Field], required_extra: &[&str]| -> Value {
        let mut props = Map::new();
        props.insert(
            "duration_ms".into(),
            json!({ "type": "number", "minimum": 0 }),
        );
        props.insert(
            "outcome".into(),
            json!({ "enum": ["ok", "client_error", "server_error", "panic", "cancelled"] }),
        );
        props.insert("error".into(), json!({ "type": "string" }));
        props.insert("error_type".into(), json!({ "type": "string" }));
        let mut required: Vec<Value> = vec![json!("duration_ms"), json!("outcome")];
        for r in required_extra {
            required.push(json!(r));
        }
        for f in fields {
            props.insert(f.name.into(), type_schema(f));
        }
        json!({ "properties": props, "required": required })
    };
    for e in events {
        let done = completion(&e.fields, &[]);
        let failed = completion(&e.fields, &["error"]);
        let mut started = Map::new();
        for f in &e.fields {
            started.insert(f.name.into(), type_schema(f));
        }
        let mut variants = vec![
            (format!("{}.completed", e.id), done),
            (format!("{}.failed", e.id), failed),
        ];
        if e.started {
            variants.push((
                format!("{}.started", e.id),
                json!({ "properties": started }),
            ));
        }
        for (id, def) in variants {
            all_of.push(json!({
                "if": { "properties": { "event": { "const": id } }, "required": ["event"] },
                "then": { "$ref": format!("#/$defs/{}", id.replace('/', "~1")) }
            }));
            defs.insert(id, def);
        }
    }
    if http {
        let req = json!({
            "properties": {
                "method": { "type": "string" }, "route": { "type": "string" },
                "status": { "type": "integer" }, "duration_ms": { "type": "number", "minimum": 0 },
                "outcome": { "type": "string" }, "client_ip": { "type": "string" },
                "user_agent": { "type": "string" }
            },
            "required": ["method", "route", "status", "duration_ms"]
        });
        for id in ["request.completed", "request.failed"] {
            all_of.push(json!({
                "if": { "properties": { "event": { "const": id } }, "required": ["event"] },
                "then": { "$ref": format!("#/$defs/{id}") }
            }));
            defs.insert(id.into(), req.clone());
        }
    }
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "urn:observa:events",
        "title": "observa log lines",
        "description": "Generated by observa::ops from the program's #[observed] sites: do not edit. Lines of other events are checked against the canonical fields only.",
        "type": "object",
        "required": ["timestamp", "level", "event"],
        "properties": {
            "timestamp": { "type": "string", "format": "date-time" },
            "level": { "enum": ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "trace", "debug", "info", "warn", "error"] },
            "event": s("stable event id"),
            "target": s("tracing target"),
            "message": s("free text of events that are not observa's own"),
            "correlation_id": s("request or job correlation id"),
            "tenant_id": s("bound tenant"),
            "user_id": s("bound user"),
            "trace_id": s("W3C trace id"),
            "span_id": s("W3C span id"),
        },
        "allOf": all_of,
        "$defs": defs,
    })
}

/// The Markdown catalogue.
pub(super) fn markdown(events: &[Event], slos: &[Slo], http: bool) -> String {
    let mut md = String::from(
        "# Event catalogue\n\nGenerated by `observa::ops` from the program's `#[observed]` sites: do not edit. Every line also carries `timestamp`, `level`, `event`, `target` and, when bound, `correlation_id`, `tenant_id`, `user_id`; completion lines carry `duration_ms` and `outcome`, failures `error` and `error_type`. The JSON Schema of the lines is `events.schema.json`.\n\n",
    );
    md.push_str("| event id | level | target | recorded fields | metric families | objectives |\n|---|---|---|---|---|---|\n");
    for e in events {
        let mut ids = format!("`{0}.completed`, `{0}.failed`", e.id);
        if e.started {
            ids.push_str(&format!(", `{}.started`", e.id));
        }
        let fields = if e.fields.is_empty() {
            "none".to_owned()
        } else {
            e.fields
                .iter()
                .map(|f| {
                    let mut t = format!("`{}`: `{}`", f.name, f.rust_type);
                    if f.redacted {
                        t.push_str(" (redacted)");
                    }
                    t
                })
                .collect::<Vec<_>>()
                .join("<br>")
        };
        let metrics = match e.family {
            Some(f) => {
                let (a, b, c) = families(&Target::Event {
                    event: e.id,
                    family: f,
                });
                format!("`{a}`<br>`{b}`<br>`{c}`")
            }
            None => "none (`metrics = false`)".to_owned(),
        };
        let objectives = objectives_text(
            slos.iter()
                .filter(|s| matches!(&s.target, Target::Event { event, .. } if *event == e.id)),
        );
        md.push_str(&format!(
            "| {ids} | {} (failures: ERROR for server errors, INFO/DEBUG for client errors) | `{}` | {fields} | {metrics} | {objectives} |\n",
            e.level, e.target
        ));
    }
    if http {
        let routes = objectives_text(
            slos.iter()
                .filter(|s| matches!(s.target, Target::Route { .. })),
        );
        md.push_str(&format!(
            "| `request.completed`, `request.failed` | INFO (4xx DEBUG/INFO, 5xx ERROR) | `observa::http` | `method`: string<br>`route`: string<br>`status`: integer<br>`client_ip`: string<br>`user_agent`: string | `http_requests_total`<br>`http_request_duration_seconds`<br>`http_requests_in_flight` | {routes} |\n"
        ));
    }
    md
}

fn objectives_text<'a>(slos: impl Iterator<Item = &'a Slo>) -> String {
    let v: Vec<String> = slos
        .map(|s| {
            let mut parts = Vec::new();
            if let Some(p) = s.objective.success {
                parts.push(format!("success {}%", num(p)));
            }
            if let Some(ms) = s.objective.latency_ms {
                parts.push(format!("p{} within {ms} ms", num(s.objective.percentile)));
            }
            let who = match &s.target {
                Target::Route { route } => format!("`{route}`: "),
                Target::Event { .. } => String::new(),
            };
            format!(
                "{who}{} over {}",
                parts.join(", "),
                duration_text(s.objective.window_secs)
            )
        })
        .collect();
    if v.is_empty() {
        "none".to_owned()
    } else {
        v.join("<br>")
    }
}

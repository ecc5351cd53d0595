//! docs/api.yaml stays in step with the router and the wire types.

use super::*;

pub(crate) const API_DOC: &str = include_str!("../../../docs/api.yaml");

/// The (METHOD, path) pairs under `paths:`, by indentation: paths at two spaces, methods at four.
pub(crate) fn documented_routes(doc: &str) -> BTreeSet<(String, String)> {
    const METHODS: &[&str] = &["get", "put", "post", "delete", "options", "head", "patch"];
    let mut routes = BTreeSet::new();
    let mut in_paths = false;
    let mut path = None;
    for line in doc.lines() {
        if !line.starts_with(' ') && !line.trim().is_empty() {
            in_paths = line.trim_end() == "paths:";
            continue;
        }
        if !in_paths {
            continue;
        }
        if let Some(key) = line.strip_prefix("  ").and_then(|l| l.strip_suffix(':'))
            && !key.starts_with(' ')
        {
            path = Some(key.trim_matches(['"', '\'']).to_string());
            continue;
        }
        if let Some(key) = line.strip_prefix("    ").and_then(|l| l.strip_suffix(':'))
            && METHODS.contains(&key)
        {
            let path = path.clone().expect("a method under a path");
            routes.insert((key.to_ascii_uppercase(), path));
        }
    }
    routes
}

/// The keys directly under `components:` → `schemas:`.
fn documented_schemas(doc: &str) -> BTreeSet<String> {
    let mut schemas = BTreeSet::new();
    let mut in_components = false;
    let mut in_schemas = false;
    for line in doc.lines() {
        if !line.starts_with(' ') && !line.trim().is_empty() {
            in_components = line.trim_end() == "components:";
            in_schemas = false;
            continue;
        }
        if in_components && line.starts_with("  ") && !line.starts_with("   ") {
            in_schemas = line.trim_end() == "  schemas:";
            continue;
        }
        if in_schemas
            && let Some(key) = line.strip_prefix("    ").and_then(|l| l.strip_suffix(':'))
            && !key.starts_with(' ')
        {
            schemas.insert(key.to_string());
        }
    }
    schemas
}

/// The names of the `pub struct`s and `pub enum`s of `wire.rs`.
fn wire_types() -> BTreeSet<String> {
    include_str!("../wire.rs")
        .lines()
        .filter_map(|line| {
            let rest = line
                .strip_prefix("pub struct ")
                .or_else(|| line.strip_prefix("pub enum "))?;
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            Some(name)
        })
        .collect()
}

#[test]
fn every_route_is_documented() {
    let registered: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|(method, path)| (method.to_string(), path.to_string()))
        .collect();
    assert_eq!(registered.len(), ROUTES.len(), "ROUTES has duplicates");
    let documented = documented_routes(API_DOC);
    let undocumented: Vec<_> = registered.difference(&documented).collect();
    // The other direction (everything documented is served, here or by the dashboard's
    // listener) is checked by the dashboard's tests, which know both lists.
    assert!(
        undocumented.is_empty(),
        "routes not in docs/api.yaml: {undocumented:?}"
    );
}

#[test]
fn every_wire_type_is_a_documented_schema() {
    let types = wire_types();
    assert!(
        types.contains("ProjectStatus") && types.len() >= 12,
        "{types:?}"
    );
    let schemas = documented_schemas(API_DOC);
    let missing: Vec<_> = types.difference(&schemas).collect();
    assert!(
        missing.is_empty(),
        "wire types missing under components/schemas: {missing:?}"
    );
}

#[test]
fn the_doc_parsers_see_what_they_should() {
    let doc = "openapi: 3.1.0\npaths:\n  /v1/a:\n    get:\n      x: 1\n    post:\n  \"/v1/b/{name}\":\n    \
               delete:\ncomponents:\n  schemas:\n    A:\n      type: object\n    B:\n  responses:\n    C:\n";
    let routes = documented_routes(doc);
    let expected: BTreeSet<(String, String)> = [
        ("GET", "/v1/a"),
        ("POST", "/v1/a"),
        ("DELETE", "/v1/b/{name}"),
    ]
    .iter()
    .map(|(m, p)| (m.to_string(), p.to_string()))
    .collect();
    assert_eq!(routes, expected);
    assert_eq!(
        documented_schemas(doc),
        BTreeSet::from(["A".to_string(), "B".to_string()])
    );
}

//! Which route pattern a request path belongs to, looked up once per request.
//!
//! actix-web's `match_pattern()` walks every registered resource and runs its regex, and the
//! log span, the HTTP metrics and the authorization gate each asked for it: a third of the CPU of
//! a unit read (measured, docs/performance.md). The patterns are the OpenAPI document's paths;
//! a segment trie answers in one pass over the path, and the first middleware stores the answer
//! in the request's extensions for the others. A test checks it against actix's own answer for
//! every path of the document.

use std::collections::HashMap;
use std::sync::OnceLock;

use actix_web::dev::ServiceRequest;
use actix_web::HttpMessage;

/// The route pattern of a request (`/v1/units/{serial}`), or `None` for a path outside the
/// API's documented routes (the console, the docs UI, an unknown path).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route(pub Option<&'static str>);

impl Route {
    /// The request's route, from its extensions or looked up (and stored) now.
    pub fn of(req: &ServiceRequest) -> Route {
        if let Some(r) = req.extensions().get::<Route>() {
            return *r;
        }
        let r = Route(table().lookup(req.path()));
        req.extensions_mut().insert(r);
        r
    }

    /// The label for logs and metrics: the pattern, or `unmatched` (never the raw path, which
    /// would let a scanner create a time series per URL).
    pub fn label(&self) -> &'static str {
        self.0.unwrap_or("unmatched")
    }
}

#[derive(Default)]
struct Node {
    literal: HashMap<String, Node>,
    param: Option<Box<Node>>,
    pattern: Option<&'static str>,
}

/// The patterns of the OpenAPI document as a trie of path segments.
pub struct RouteTable {
    root: Node,
}

impl RouteTable {
    pub fn new<'a>(patterns: impl IntoIterator<Item = &'a str>) -> RouteTable {
        let mut root = Node::default();
        for p in patterns {
            let pattern: &'static str = Box::leak(p.to_string().into_boxed_str());
            let mut node = &mut root;
            for seg in segments(pattern) {
                node = if seg.starts_with('{') && seg.ends_with('}') {
                    node.param.get_or_insert_with(Default::default)
                } else {
                    node.literal.entry(seg.to_string()).or_default()
                };
            }
            node.pattern = Some(pattern);
        }
        RouteTable { root }
    }

    /// A literal segment is preferred over a parameter (`/v1/penalties/tallies` over
    /// `/v1/penalties/{penalty_id}`), as the router registers them.
    pub fn lookup(&self, path: &str) -> Option<&'static str> {
        fn walk<'s>(
            node: &Node,
            mut rest: impl Iterator<Item = &'s str> + Clone,
        ) -> Option<&'static str> {
            let Some(seg) = rest.next() else {
                return node.pattern;
            };
            if seg.is_empty() {
                return None;
            }
            if let Some(found) = node.literal.get(seg).and_then(|n| walk(n, rest.clone())) {
                return Some(found);
            }
            node.param.as_deref().and_then(|n| walk(n, rest))
        }
        let rest = path.strip_prefix('/')?;
        walk(&self.root, rest.split('/'))
    }
}

fn segments(pattern: &str) -> impl Iterator<Item = &str> {
    pattern.trim_start_matches('/').split('/')
}

/// The table of the served OpenAPI document, built once.
pub fn table() -> &'static RouteTable {
    static TABLE: OnceLock<RouteTable> = OnceLock::new();
    TABLE.get_or_init(|| {
        let doc = crate::openapi::document();
        RouteTable::new(doc.paths.paths.keys().map(String::as_str))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_finds_its_pattern_literals_first_and_nothing_else() {
        let t = RouteTable::new([
            "/v1/penalties/{penalty_id}",
            "/v1/penalties/tallies",
            "/v1/units/{serial}/handovers/{handover_id}/signature",
            "/healthz",
        ]);
        assert_eq!(
            t.lookup("/v1/penalties/tallies"),
            Some("/v1/penalties/tallies")
        );
        assert_eq!(
            t.lookup("/v1/penalties/P-1"),
            Some("/v1/penalties/{penalty_id}")
        );
        assert_eq!(
            t.lookup("/v1/units/SN-1/handovers/H-1/signature"),
            Some("/v1/units/{serial}/handovers/{handover_id}/signature")
        );
        assert_eq!(t.lookup("/healthz"), Some("/healthz"));
        for unknown in [
            "/",
            "",
            "/v1",
            "/v1/penalties",
            "/v1/penalties/",
            "/v1/penalties/a/b",
            "/healthz/",
        ] {
            assert_eq!(t.lookup(unknown), None, "{unknown:?}");
        }
    }
}

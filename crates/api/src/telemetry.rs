//! The request span: one per request, with its id, route, method, target, client and status.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::{Error, HttpMessage};
use tracing::Span;
use tracing_actix_web::{DefaultRootSpanBuilder, RequestId, RootSpanBuilder};

use crate::route::Route;

/// tracing-actix-web's default span with the same fields, but its route from [`Route`] (one
/// trie lookup) instead of actix's `match_pattern()` (a regex per registered resource, worked
/// out even when the span is filtered away). Wrap the `App` with
/// `TracingLogger::<RouteSpan>::new()`.
pub struct RouteSpan;

impl RootSpanBuilder for RouteSpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        let route = Route::of(request).label();
        let request_id = request.extensions().get::<RequestId>().copied();
        // The fields are only worked out when the span is enabled.
        tracing::info_span!(
            "HTTP request",
            http.method = %request.method(),
            http.route = route,
            http.flavor = ?request.version(),
            http.scheme = %request.connection_info().scheme(),
            http.host = %request.connection_info().host(),
            http.client_ip = %request.connection_info().realip_remote_addr().unwrap_or(""),
            http.user_agent = %request
                .headers()
                .get("User-Agent")
                .and_then(|h| h.to_str().ok())
                .unwrap_or(""),
            http.target = %request.uri().path_and_query().map(|p| p.as_str()).unwrap_or(""),
            http.status_code = tracing::field::Empty,
            otel.name = %format_args!("{} {}", request.method(), route),
            otel.kind = "server",
            otel.status_code = tracing::field::Empty,
            request_id = %request_id.map(|r| r.to_string()).unwrap_or_default(),
            exception.message = tracing::field::Empty,
            exception.details = tracing::field::Empty,
        )
    }

    fn on_request_end<B: MessageBody>(span: Span, outcome: &Result<ServiceResponse<B>, Error>) {
        DefaultRootSpanBuilder::on_request_end(span, outcome);
    }
}

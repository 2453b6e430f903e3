//! Prometheus metrics for operators: appends, command outcomes and latency, HTTP requests by
//! route, the log head, projection lag and the write queue's depth.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use prometheus::{
    Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
};

use crate::route::Route;
use crate::AppState;

pub struct Metrics {
    pub registry: Registry,
    pub events_appended: IntCounter,
    /// By outcome: accepted, replayed (idempotent retry), refused (a rule or a precondition),
    /// failed (the log could not write, or a bug).
    pub commands: IntCounterVec,
    pub command_seconds: Histogram,
    pub head_position: IntGauge,
    pub projection_position: IntGauge,
    pub projection_lag: IntGauge,
    pub write_queue_depth: IntGauge,
    pub http: HttpMetrics,
}

/// HTTP requests and their latency by route pattern, method and status.
#[derive(Clone)]
pub struct HttpMetrics {
    requests: IntCounterVec,
    seconds: HistogramVec,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let registry = Registry::new();
        let gauge = |name: &str, help: &str| {
            let g = IntGauge::new(name, help).expect("valid gauge");
            registry
                .register(Box::new(g.clone()))
                .expect("registered once");
            g
        };
        let events_appended = IntCounter::new(
            "repairledger_events_appended_total",
            "Events appended to the log by commands",
        )
        .expect("valid counter");
        registry
            .register(Box::new(events_appended.clone()))
            .expect("registered once");
        let commands = IntCounterVec::new(
            Opts::new("repairledger_commands_total", "Commands by outcome"),
            &["outcome"],
        )
        .expect("valid counter");
        registry
            .register(Box::new(commands.clone()))
            .expect("registered once");
        let command_seconds = Histogram::with_opts(
            HistogramOpts::new(
                "repairledger_command_duration_seconds",
                "Time from a command's arrival to its durable append (or refusal)",
            )
            .buckets(vec![
                0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
            ]),
        )
        .expect("valid histogram");
        registry
            .register(Box::new(command_seconds.clone()))
            .expect("registered once");
        let labels = &["endpoint", "method", "status"];
        let requests = IntCounterVec::new(
            Opts::new(
                "repairledger_http_requests_total",
                "Total number of HTTP requests",
            ),
            labels,
        )
        .expect("valid counter");
        let seconds = HistogramVec::new(
            HistogramOpts::new(
                "repairledger_http_requests_duration_seconds",
                "HTTP request duration in seconds for all requests",
            ),
            labels,
        )
        .expect("valid histogram");
        registry
            .register(Box::new(requests.clone()))
            .expect("registered once");
        registry
            .register(Box::new(seconds.clone()))
            .expect("registered once");
        Metrics {
            http: HttpMetrics { requests, seconds },
            events_appended,
            commands,
            command_seconds,
            head_position: gauge("repairledger_log_head_position", "The log's last position"),
            projection_position: gauge(
                "repairledger_projection_position",
                "The last position folded into the live projections",
            ),
            projection_lag: gauge(
                "repairledger_projection_lag_events",
                "Events in the log not yet in the live projections",
            ),
            write_queue_depth: gauge(
                "repairledger_write_queue_depth",
                "Commits waiting for the writer",
            ),
            registry,
        }
    }

    /// Reads the gauges from the store and the projector (called before each scrape and by a
    /// background tick).
    pub fn refresh(&self, state: &AppState) {
        if let Ok(head) = state.store.head() {
            let projected = state.projector.position();
            self.head_position.set(head.position as i64);
            self.projection_position.set(projected as i64);
            self.projection_lag
                .set(head.position.saturating_sub(projected) as i64);
        }
        self.write_queue_depth.set(state.store.queue_depth() as i64);
    }
}

/// The outermost HTTP middleware: finds the request's route once (for the log span, these
/// metrics and the authorization gate, see [`crate::route`]) and counts the request and its
/// latency by route into the registry of `/metrics`. Wrap the `App` with
/// `from_fn(move |req, next| observe(http.clone(), req, next))`.
pub async fn observe(
    http: HttpMetrics,
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let start = std::time::Instant::now();
    let route = Route::of(&req).label();
    let method = req.method().clone();
    let res = next.call(req).await;
    let status = match &res {
        Ok(r) => r.status(),
        Err(e) => e.as_response_error().status_code(),
    };
    let labels = [route, method.as_str(), status.as_str()];
    http.requests.with_label_values(&labels).inc();
    http.seconds
        .with_label_values(&labels)
        .observe(start.elapsed().as_secs_f64());
    res
}

/// The Prometheus text exposition of every metric, gauges read at the scrape.
#[utoipa::path(get, path = "/metrics", tag = "operations", operation_id = "metrics", security(()),
    responses((status = 200, description = "Prometheus text format 0.0.4", content_type = "text/plain")))]
#[actix_web::get("/metrics")]
pub async fn scrape(state: actix_web::web::Data<AppState>) -> actix_web::HttpResponse {
    use prometheus::Encoder;
    state.metrics.refresh(&state);
    let encoder = prometheus::TextEncoder::new();
    let mut body = Vec::new();
    encoder
        .encode(&state.metrics.registry.gather(), &mut body)
        .expect("metrics encode");
    actix_web::HttpResponse::Ok()
        .content_type(encoder.format_type())
        .body(body)
}

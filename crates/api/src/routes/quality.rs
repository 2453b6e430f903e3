//! Quality information feedback (seed 000 part 1), the accident analysis archive, the monthly QC
//! report (rule 16) and the unit file (domain.md §4).

use std::collections::{BTreeMap, BTreeSet};

use actix_web::web::{Data, Path, Query};
use actix_web::{get, post, HttpRequest, HttpResponse};
use chrono::Datelike;
use repairledger_domain::quality::{QualityCommand, QualityState};
use repairledger_domain::unit::CauseCategory;
use repairledger_domain::DomainError;
use repairledger_projections::{FailureSource, QualityCaseView, ReadModel};

use crate::auth::Caller;
use crate::command::{aggregate_command, check_id, Meta};
use crate::dto::{CommandResponse, ReadQuery, StepRequest};
use crate::field_dto::ReasonRequest;
use crate::json::Json;
use crate::problem::ApiError;
use crate::quality_dto::*;
use crate::routes::reads::{view, At};
use crate::AppState;

/// Every step of this aggregate takes the same path: load, fold, decide, append.
async fn quality_command(
    state: &AppState,
    meta: Meta,
    id: &str,
    make: impl Fn(&AppState) -> Result<QualityCommand, ApiError>,
) -> Result<HttpResponse, ApiError> {
    aggregate_command::<QualityState>(state, meta, id, make).await
}

/// Raise a quality issue (QC): an inspector's internal anomaly alert, or a customer's quality
/// feedback registered by QC.
#[utoipa::path(
    post, path = "/v1/quality-cases", tag = "quality", operation_id = "raiseQualityIssue",
    request_body = RaiseQualityIssueRequest,
    responses((status = 200, description = "Raised", body = CommandResponse))
)]
#[post("/quality-cases")]
pub async fn raise(
    req: HttpRequest,
    state: Data<AppState>,
    caller: Caller,
    body: Json<RaiseQualityIssueRequest>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    let meta = Meta::new(&req, &state, &caller, b.occurred_at, &b)?;
    quality_command(&state, meta, &b.case_id, |_| {
        Ok(QualityCommand::Raise {
            source: b.source,
            severity: b.severity,
            model: b.model.clone(),
            batch: b.batch.clone(),
            complaint_id: b.complaint_id.clone(),
            description: b.description.clone(),
        })
    })
    .await
}

macro_rules! quality_step {
    ($($t:tt)*) => {
        command_step!(quality_command, "case_id", "The quality case", "quality", $($t)*);
    };
}

quality_step!(
    /// Record an investigation (QC): a same-batch check or a retained-sample recheck.
    investigate, "/quality-cases/{case_id}/investigations", InvestigationRequest, "recordInvestigation", "Recorded",
    |state, b| QualityCommand::Investigate { investigation: b.investigation, findings: b.findings.clone() }
);
quality_step!(
    /// Escalate a major issue to the general manager (QC).
    escalate, "/quality-cases/{case_id}/escalation", ReasonRequest, "escalateQualityIssue", "Escalated",
    |state, b| QualityCommand::Escalate { reason: b.reason.clone() }
);
quality_step!(
    /// The general manager's instruction on an escalated issue.
    instruct, "/quality-cases/{case_id}/instruction", InstructionRequest, "instructOnQualityIssue", "Recorded",
    |state, b| QualityCommand::Instruct { instruction: b.instruction.clone() }
);
quality_step!(
    /// Analyse the cause (QC): files the case in the accident analysis archive under its
    /// common cause.
    analyse, "/quality-cases/{case_id}/analysis", AnalysisRequest, "analyseQualityCase", "Analysed",
    |state, b| QualityCommand::Analyse {
        cause: b.cause,
        common_cause: b.common_cause.clone(),
        analysis: b.analysis.clone(),
        corrective_action: b.corrective_action.clone(),
    }
);
quality_step!(
    /// Close an analysed case (QC); an escalated one needs the general manager's instruction.
    close, "/quality-cases/{case_id}/closure", StepRequest, "closeQualityCase", "Closed",
    |state, b| QualityCommand::Close
);

/// Quality cases by id.
#[utoipa::path(get, path = "/v1/quality-cases", tag = "quality", operation_id = "listQualityCases",
    params(ReadQuery),
    responses((status = 200, description = "Cases", body = [QualityCaseView])))]
#[get("/quality-cases")]
pub async fn list(
    state: Data<AppState>,
    _caller: Caller,
    q: Query<ReadQuery>,
) -> Result<HttpResponse, ApiError> {
    let at = At::new(q.min_position, q.as_of, q.as_of_position);
    let found = view(&state, at, |m| {
        m.quality_cases.values().cloned().collect::<Vec<_>>()
    })?;
    Ok(HttpResponse::Ok().json(found))
}

/// One quality case.
#[utoipa::path(get, path = "/v1/quality-cases/{case_id}", tag = "quality", operation_id = "getQualityCase",
    params(("case_id" = String, Path, description = "The quality case"), ReadQuery),
    responses((status = 200, description = "The case", body = QualityCaseView)))]
#[get("/quality-cases/{case_id}")]
pub async fn get_one(
    state: Data<AppState>,
    _caller: Caller,
    case_id: Path<String>,
    q: Query<ReadQuery>,
) -> Result<HttpResponse, ApiError> {
    check_id("case_id", &case_id)?;
    let at = At::new(q.min_position, q.as_of, q.as_of_position);
    match view(&state, at, |m| {
        m.quality_cases.get(case_id.as_str()).cloned()
    })? {
        Some(c) => Ok(HttpResponse::Ok().json(c)),
        None => Err(ApiError::Domain(DomainError::QualityCaseNotFound {
            case_id: case_id.to_string(),
        })),
    }
}

/// The accident analysis archive: analysed cases grouped by their common cause.
#[utoipa::path(get, path = "/v1/accident-archive", tag = "quality", operation_id = "accidentArchive",
    params(ReadQuery),
    responses((status = 200, description = "Groups, by common cause", body = [ArchiveGroup])))]
#[get("/accident-archive")]
pub async fn archive(
    state: Data<AppState>,
    _caller: Caller,
    q: Query<ReadQuery>,
) -> Result<HttpResponse, ApiError> {
    let at = At::new(q.min_position, q.as_of, q.as_of_position);
    let groups = view(&state, at, |m| {
        let mut by: BTreeMap<String, ArchiveGroup> = BTreeMap::new();
        for c in m.quality_cases.values() {
            let Some(a) = &c.analysis else { continue };
            let g = by.entry(a.common_cause.clone()).or_insert(ArchiveGroup {
                common_cause: a.common_cause.clone(),
                cases: Vec::new(),
                causes: Vec::new(),
                models: Vec::new(),
                corrective_actions: Vec::new(),
            });
            g.cases.push(c.case_id.clone());
            if !g.causes.contains(&a.cause) {
                g.causes.push(a.cause);
            }
            if !g.models.contains(&c.model) {
                g.models.push(c.model.clone());
            }
            g.corrective_actions.push(a.corrective_action.clone());
        }
        by.into_values().collect::<Vec<_>>()
    })?;
    Ok(HttpResponse::Ok().json(groups))
}

/// `YYYY-MM` exactly (the pattern of `ReportQuery::month`): four digits, a dash, month 01 to 12.
fn check_month(month: &str) -> Result<(), ApiError> {
    let b = month.as_bytes();
    let ok = b.len() == 7
        && b[4] == b'-'
        && b[..4].iter().chain(&b[5..]).all(u8::is_ascii_digit)
        && matches!(month[5..].parse::<u8>(), Ok(1..=12));
    if ok {
        Ok(())
    } else {
        Err(ApiError::MalformedRequest(format!(
            "month is YYYY-MM, got {month:?}"
        )))
    }
}

/// Builds the report from the failures on record. The month of a failure is its local month
/// under the current policy's calendar.
fn report(state: &AppState, m: &ReadModel, month: Option<&str>) -> QcReport {
    let calendar = state.policy.calendar();
    let mut cells: BTreeMap<(String, String, CauseCategory), (u32, u32)> = BTreeMap::new();
    for f in &m.failures {
        let mo = calendar.local_month(f.at);
        if month.is_some_and(|x| x != mo) {
            continue;
        }
        let cell = cells.entry((mo, f.model.clone(), f.cause)).or_default();
        match f.source {
            FailureSource::Repair => cell.0 += 1,
            FailureSource::Complaint => cell.1 += 1,
        }
    }
    let rows: Vec<ReportRow> = cells
        .into_iter()
        .map(|((month, model, cause), (repairs, complaints))| ReportRow {
            month,
            model,
            cause,
            repairs,
            complaints,
            total: repairs + complaints,
        })
        .collect();
    let mut by_cause: BTreeMap<CauseCategory, u32> = BTreeMap::new();
    for r in &rows {
        *by_cause.entry(r.cause).or_default() += r.total;
    }
    let mut tally: BTreeMap<(String, String), InspectionRow> = BTreeMap::new();
    let mut all = inspection_row(String::new(), String::new());
    for i in &m.inspections {
        let mo = calendar.local_month(i.at);
        if month.is_some_and(|x| x != mo) {
            continue;
        }
        let row = tally
            .entry((mo.clone(), i.model.clone()))
            .or_insert_with(|| inspection_row(mo, i.model.clone()));
        for r in [row, &mut all] {
            r.inspections += 1;
            if i.first {
                r.first_inspections += 1;
                r.first_pass_passes += u32::from(i.passed);
            } else {
                r.reinspections += 1;
            }
        }
    }
    let mut inspections: Vec<InspectionRow> = tally.into_values().collect();
    for r in inspections.iter_mut().chain([&mut all]) {
        r.first_pass_yield_bp = yield_bp(r.first_pass_passes, r.first_inspections);
        r.first_pass_yield = r.first_pass_yield_bp.map(percent);
    }
    QcReport {
        month: month.map(str::to_string),
        position: m.position,
        total: rows.iter().map(|r| r.total).sum(),
        by_cause: by_cause
            .into_iter()
            .map(|(cause, total)| CauseTotal { cause, total })
            .collect(),
        rows,
        registration: registration_tally(state, m, month),
        inspections,
        inspection_total: all,
    }
}

/// Rules 5 and 13: how the month's receipts by after-sales went to registration. The month of a
/// unit is the local month it was received in; a late registration is judged at its stop.
fn registration_tally(state: &AppState, m: &ReadModel, month: Option<&str>) -> RegistrationTally {
    let calendar = state.policy.calendar();
    let mut tally = RegistrationTally::default();
    let timers = m.timers.values().filter(|t| {
        t.rule == repairledger_domain::sla::TimerRule::Registration
            && month.is_none_or(|x| x == calendar.local_month(t.started_at))
    });
    for t in timers {
        tally.received += 1;
        match t.stopped_at {
            None => tally.awaiting_registration += 1,
            Some(stop) => {
                let judged = crate::routes::sla::judge(state, m, t, stop);
                if judged.evaluation.state == repairledger_domain::sla::TimerState::Breached {
                    tally.registered_late += 1;
                } else {
                    tally.registered_in_time += 1;
                }
            }
        }
    }
    tally
}

fn inspection_row(month: String, model: String) -> InspectionRow {
    InspectionRow {
        month,
        model,
        inspections: 0,
        first_inspections: 0,
        first_pass_passes: 0,
        reinspections: 0,
        first_pass_yield_bp: None,
        first_pass_yield: None,
    }
}

/// `passes / first` in basis points, rounded down: integers only, so the same log gives the same
/// bytes on every machine.
fn yield_bp(passes: u32, first: u32) -> Option<u32> {
    (first > 0).then(|| (u64::from(passes) * 10_000 / u64::from(first)) as u32)
}

/// Basis points as a percentage with two decimals: 6666 -> "66.66 %".
fn percent(bp: u32) -> String {
    format!("{}.{:02} %", bp / 100, bp % 100)
}

fn csv(r: &QcReport) -> String {
    let field = |s: &str| {
        if s.contains([',', '"', '\n']) {
            format!("\"{}\"", s.replace('"', "\"\""))
        } else {
            s.to_string()
        }
    };
    // The first six columns are those of the first version; the inspection figures are appended.
    // They belong to the month and model, so they repeat on each cause row of it (do not sum
    // them over causes); a month and model inspected without a product-caused failure gets a
    // row of its own with an empty cause and zero failures.
    let mut out = String::from(
        "month,model,cause,repairs,complaints,total,inspections,first_pass_passes,reinspections,first_pass_yield_bp\n",
    );
    let inspected = |month: &str, model: &str| {
        r.inspections
            .iter()
            .find(|i| i.month == month && i.model == model)
    };
    let figures = |i: Option<&InspectionRow>| match i {
        Some(i) => format!(
            "{},{},{},{}",
            i.inspections,
            i.first_pass_passes,
            i.reinspections,
            i.first_pass_yield_bp
                .map_or(String::new(), |b| b.to_string())
        ),
        None => "0,0,0,".to_string(),
    };
    let mut lines: Vec<((&str, &str), String)> = Vec::new();
    for row in &r.rows {
        lines.push((
            (&row.month, &row.model),
            format!(
                "{},{},{},{},{},{},{}\n",
                row.month,
                field(&row.model),
                row.cause.as_str(),
                row.repairs,
                row.complaints,
                row.total,
                figures(inspected(&row.month, &row.model))
            ),
        ));
    }
    for i in &r.inspections {
        if !r
            .rows
            .iter()
            .any(|row| row.month == i.month && row.model == i.model)
        {
            lines.push((
                (&i.month, &i.model),
                format!(
                    "{},{},,0,0,0,{}\n",
                    i.month,
                    field(&i.model),
                    figures(Some(i))
                ),
            ));
        }
    }
    // Stable: the cause rows keep their order within a month and model.
    lines.sort_by(|a, b| a.0.cmp(&b.0));
    for (_, line) in lines {
        out.push_str(&line);
    }
    out
}

fn xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A horizontal bar per product cause, split by model, with the counts written on it: what a
/// manager reads at a glance. Same report, same bytes.
fn svg(r: &QcReport) -> String {
    const PALETTE: [&str; 8] = [
        "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#9c755f",
    ];
    let causes = [
        CauseCategory::ComponentQuality,
        CauseCategory::DesignDefect,
        CauseCategory::ProcessDefect,
        CauseCategory::ProductionControl,
    ];
    let models: Vec<String> = r
        .rows
        .iter()
        .map(|row| row.model.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let colour = |model: &str| {
        let i = models.iter().position(|m| m == model).unwrap_or(0);
        PALETTE[i % PALETTE.len()]
    };
    let max = causes
        .iter()
        .map(|c| {
            r.by_cause
                .iter()
                .find(|t| t.cause == *c)
                .map_or(0, |t| t.total)
        })
        .max()
        .unwrap_or(0)
        .max(1);
    let (left, width, bar, gap) = (170.0, 420.0, 28.0, 14.0);
    let top = 56.0;
    let legend_y = top + causes.len() as f64 * (bar + gap) + 20.0;
    // Below the legend, QC's first-pass yield: one line per month and model, then the total.
    let yield_y = legend_y + 24.0 * models.len().max(1) as f64 + 12.0;
    let height = yield_y + 20.0 * (r.inspections.len() + 1) as f64 + 16.0;
    let title = match &r.month {
        Some(m) => format!("Product-caused failures, {m}"),
        None => "Product-caused failures, all months".to_string(),
    };
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{height}\" viewBox=\"0 0 {w} {height}\" font-family=\"sans-serif\" font-size=\"13\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n\
         <text x=\"16\" y=\"28\" font-size=\"17\" font-weight=\"bold\">{}</text>\n\
         <text x=\"16\" y=\"46\" fill=\"#555\">{} failures; repairs and complaints by cause and model (log position {})</text>\n",
        xml(&title),
        r.total,
        r.position,
        w = left + width + 60.0,
    );
    for (i, cause) in causes.iter().enumerate() {
        let y = top + i as f64 * (bar + gap);
        out.push_str(&format!(
            "<text x=\"16\" y=\"{}\">{}</text>\n",
            y + bar * 0.65,
            cause.as_str().replace('_', " ")
        ));
        let mut x = left;
        let mut total = 0;
        for row in r.rows.iter().filter(|row| row.cause == *cause) {
            // Rows are per month too; a bar sums a model's months.
            total += row.total;
            let w = width * f64::from(row.total) / f64::from(max);
            out.push_str(&format!(
                "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"{bar}\" fill=\"{}\"><title>{} {}: {}</title></rect>\n",
                colour(&row.model),
                xml(&row.model),
                row.month,
                row.total
            ));
            x += w;
        }
        out.push_str(&format!(
            "<text x=\"{:.1}\" y=\"{}\" font-weight=\"bold\">{total}</text>\n",
            x + 6.0,
            y + bar * 0.65
        ));
    }
    for (i, model) in models.iter().enumerate() {
        let y = legend_y + 24.0 * i as f64;
        out.push_str(&format!(
            "<rect x=\"16\" y=\"{y:.1}\" width=\"14\" height=\"14\" fill=\"{}\"/><text x=\"36\" y=\"{:.1}\">{}</text>\n",
            colour(model),
            y + 12.0,
            xml(model)
        ));
    }
    let yield_line = |i: &InspectionRow| {
        format!(
            "first-pass yield {} ({} of {} first inspections passed), {} re-inspection cycle{}",
            i.first_pass_yield.as_deref().unwrap_or("n/a"),
            i.first_pass_passes,
            i.first_inspections,
            i.reinspections,
            if i.reinspections == 1 { "" } else { "s" }
        )
    };
    let mut lines: Vec<(String, bool)> = r
        .inspections
        .iter()
        .map(|i| (format!("{} {}: {}", i.model, i.month, yield_line(i)), false))
        .collect();
    lines.push((format!("QC: {}", yield_line(&r.inspection_total)), true));
    for (k, (text, bold)) in lines.iter().enumerate() {
        out.push_str(&format!(
            "<text x=\"16\" y=\"{:.1}\"{}>{}</text>\n",
            yield_y + 20.0 * k as f64 + 14.0,
            if *bold { " font-weight=\"bold\"" } else { "" },
            xml(text)
        ));
    }
    out.push_str("</svg>\n");
    out
}

/// The monthly QC report (rule 16): failures caused by the product itself (component quality,
/// design, process, production control), from repairs and graded complaints, by month, model
/// and cause. `format=csv` for a spreadsheet, `format=svg` for the chart. The same log position
/// gives the same report, byte for byte.
#[utoipa::path(get, path = "/v1/reports/qc-monthly", tag = "quality", operation_id = "qcMonthlyReport",
    params(ReportQuery),
    responses((status = 200, description = "The report (JSON; CSV or SVG with `format`)",
        content((QcReport = "application/json"), (String = "text/csv"), (String = "image/svg+xml")))))]
#[get("/reports/qc-monthly")]
pub async fn qc_monthly(
    state: Data<AppState>,
    _caller: Caller,
    q: Query<ReportQuery>,
) -> Result<HttpResponse, ApiError> {
    if let Some(m) = &q.month {
        check_month(m)?;
    }
    let at = At::new(q.min_position, q.as_of, q.as_of_position);
    let r = view(&state, at, |m| report(&state, m, q.month.as_deref()))?;
    match q.format.as_deref().unwrap_or("json") {
        "json" => Ok(HttpResponse::Ok().json(r)),
        "csv" => Ok(HttpResponse::Ok()
            .content_type("text/csv; charset=utf-8")
            .body(csv(&r))),
        "svg" => Ok(HttpResponse::Ok()
            .content_type("image/svg+xml")
            .body(svg(&r))),
        other => Err(ApiError::MalformedRequest(format!(
            "format is json, csv or svg, got {other:?}"
        ))),
    }
}

/// The unit file (产品档案): original and shipped state, the user, satisfaction records,
/// yearly follow-ups, and the whole service history across returns, field service and
/// complaints.
#[utoipa::path(get, path = "/v1/units/{serial}/file", tag = "units", operation_id = "getUnitFile",
    params(("serial" = String, Path, description = "The unit's serial number"), ReadQuery),
    responses((status = 200, description = "The unit file", body = UnitFile)))]
#[get("/units/{serial}/file")]
pub async fn unit_file(
    state: Data<AppState>,
    _caller: Caller,
    serial: Path<String>,
    q: Query<ReadQuery>,
) -> Result<HttpResponse, ApiError> {
    check_id("serial", &serial)?;
    let calendar = state.policy.calendar();
    let now = state.clock.now();
    let current_year = calendar.local_date(now).year();
    let at = At::new(q.min_position, q.as_of, q.as_of_position);
    let file = view(&state, at, |m| {
        let u = m.units.get(serial.as_str())?;
        let field_service: Vec<_> = m
            .services
            .values()
            .filter(|s| {
                s.serial.as_deref() == Some(serial.as_str())
                    || s.escalated_to.as_ref().is_some_and(|e| e.serial == *serial)
            })
            .cloned()
            .collect();
        let mut satisfaction: Vec<SatisfactionEntry> = u
            .follow_ups
            .iter()
            .map(|f| SatisfactionEntry {
                source: "follow_up".into(),
                reference: f.year.to_string(),
                satisfaction: f.satisfaction,
                note: f.notes.clone(),
                at: f.at,
            })
            .collect();
        for s in &field_service {
            for f in &s.feedback {
                satisfaction.push(SatisfactionEntry {
                    source: "field_service_feedback".into(),
                    reference: s.request_id.clone(),
                    satisfaction: f.satisfaction,
                    note: f.opinion.clone(),
                    at: f.at,
                });
            }
            if let Some(c) = &s.satisfaction {
                satisfaction.push(SatisfactionEntry {
                    source: "field_service_check".into(),
                    reference: s.request_id.clone(),
                    satisfaction: c.satisfaction,
                    note: c.note.clone(),
                    at: c.at,
                });
            }
        }
        satisfaction.sort_by(|a, b| (a.at, &a.reference).cmp(&(b.at, &b.reference)));
        // A year is missing once it has ended without a follow-up.
        let follow_ups_missing = match u.shipments.first() {
            Some(s) => (s.shipped_on.year() + 1..current_year)
                .filter(|y| !u.state.follow_up_years.contains(y))
                .collect(),
            None => Vec::new(),
        };
        let ids = |map: &BTreeMap<String, Vec<String>>| {
            map.get(serial.as_str()).cloned().unwrap_or_default()
        };
        Some(UnitFile {
            serial: u.serial.clone(),
            product: u.state.product.clone(),
            shipments: u.shipments.clone(),
            user: u
                .shipments
                .last()
                .map(|s| s.customer.clone())
                .or_else(|| u.state.returns.last().map(|r| r.customer.clone())),
            satisfaction,
            follow_ups: u.follow_ups.clone(),
            follow_ups_missing,
            returns: u.records.clone(),
            field_service,
            complaints: ids(&m.unit_complaints)
                .iter()
                .filter_map(|id| m.complaints.get(id).cloned())
                .collect(),
            recalls: ids(&m.recalled_units)
                .iter()
                .filter_map(|id| m.recalls.get(id).cloned())
                .collect(),
        })
    })?;
    match file {
        Some(f) => Ok(HttpResponse::Ok().json(f)),
        None => Err(ApiError::UnitNotFound(serial.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_pass_yield_is_integer_basis_points_rounded_down() {
        assert_eq!(yield_bp(2, 3), Some(6666));
        assert_eq!(yield_bp(3, 3), Some(10_000));
        assert_eq!(yield_bp(0, 1), Some(0));
        assert_eq!(yield_bp(0, 0), None);
        assert_eq!(percent(6666), "66.66 %");
        assert_eq!(percent(5), "0.05 %");
    }

    #[test]
    fn the_csv_appends_the_inspection_columns_and_gives_an_inspected_model_without_failures_its_own_row(
    ) {
        let mut rd90 = inspection_row("2026-03".into(), "RD-90".into());
        rd90.inspections = 1;
        rd90.first_inspections = 1;
        rd90.first_pass_passes = 1;
        rd90.first_pass_yield_bp = Some(10_000);
        let r = QcReport {
            month: Some("2026-03".into()),
            position: 9,
            rows: vec![ReportRow {
                month: "2026-03".into(),
                model: "RD-40".into(),
                cause: CauseCategory::ComponentQuality,
                repairs: 1,
                complaints: 0,
                total: 1,
            }],
            by_cause: vec![],
            total: 1,
            registration: RegistrationTally::default(),
            inspections: vec![rd90],
            inspection_total: inspection_row(String::new(), String::new()),
        };
        assert_eq!(
            csv(&r),
            "month,model,cause,repairs,complaints,total,inspections,first_pass_passes,reinspections,first_pass_yield_bp\n\
             2026-03,RD-40,component_quality,1,0,1,0,0,0,\n\
             2026-03,RD-90,,0,0,0,1,1,0,10000\n"
        );
    }
}

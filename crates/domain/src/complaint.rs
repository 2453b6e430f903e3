//! Customer complaints (客户投诉; domain.md §3, seeds 002 and 004), one stream each
//! (`complaint-{id}`): registered, sampled and graded by QC, traced back to the supplier,
//! resolved by return, exchange, discount or explanation, never by a cash refund. A grade-A
//! (safety-critical) finding opens a recall over the batch; B and C put the batch under
//! nonconforming product control; D is settled by exchange or usage guidance. Returned goods go
//! back into stock only after QC has inspected them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::actor::Role;
use crate::error::DomainError;
use crate::guard::{out_of_order, role_in, specific};
use crate::unit::{CauseCategory, Ctx, CustomerRef};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Market {
    /// Resolved within the policy's domestic days (10).
    Domestic,
    /// Resolved within the policy's foreign days (15).
    Foreign,
}

/// QC's grade of the sample (seed 002).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Grade {
    /// Safety-critical: recall.
    A,
    /// Nonconforming product control.
    B,
    /// Nonconforming product control.
    C,
    /// Exchange or usage guidance.
    D,
}

/// The links of the trace chain, in order from what the customer holds to the supplier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum TraceLink {
    Label,
    /// Print code: production date and number.
    PrintCode,
    InspectionReport,
    ProductionRecord,
    Material,
    Requisition,
    MaterialBatch,
    Receipt,
    Supplier,
}

impl TraceLink {
    pub fn as_str(self) -> &'static str {
        match self {
            TraceLink::Label => "label",
            TraceLink::PrintCode => "print_code",
            TraceLink::InspectionReport => "inspection_report",
            TraceLink::ProductionRecord => "production_record",
            TraceLink::Material => "material",
            TraceLink::Requisition => "requisition",
            TraceLink::MaterialBatch => "material_batch",
            TraceLink::Receipt => "receipt",
            TraceLink::Supplier => "supplier",
        }
    }

    pub const CHAIN: [TraceLink; 9] = [
        TraceLink::Label,
        TraceLink::PrintCode,
        TraceLink::InspectionReport,
        TraceLink::ProductionRecord,
        TraceLink::Material,
        TraceLink::Requisition,
        TraceLink::MaterialBatch,
        TraceLink::Receipt,
        TraceLink::Supplier,
    ];
}

/// How a complaint is settled. `CashRefund` exists so that asking for one is refused by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The goods come back (approval by weight first).
    Return,
    /// Replacement products.
    Exchange,
    Discount,
    /// The complaint was a misunderstanding: explained, with usage guidance.
    Explanation,
    /// Never granted: the customer gets replacement products instead.
    CashRefund,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type", deny_unknown_fields)]
pub enum ComplaintEvent {
    ComplaintRegistered {
        complaint_id: String,
        customer: CustomerRef,
        market: Market,
        model: String,
        batch: Option<String>,
        print_code: Option<String>,
        /// The complained-about units, when known by serial.
        serials: Vec<String>,
        quantity: u32,
        weight_kg: u32,
        description: String,
        registered_by: String,
        at: DateTime<Utc>,
    },
    SampleInspected {
        grade: Grade,
        cause: CauseCategory,
        findings: String,
        inspected_by: String,
        at: DateTime<Utc>,
    },
    /// Grade A: every unit of the batch is recalled.
    RecallOpened {
        recall_id: String,
        batch: String,
        serials: Vec<String>,
        at: DateTime<Utc>,
    },
    /// Grades B and C: the batch is put under nonconforming product control.
    NonconformingControlRecorded {
        measures: String,
        by: String,
        at: DateTime<Utc>,
    },
    TraceLinkRecorded {
        link: TraceLink,
        reference: String,
        /// The department this link shows responsible for the quality problem (确定质量责任部门):
        /// the chain reached its root cause here. Absent in events written before it existed.
        #[serde(default)]
        responsible_dept: Option<String>,
        recorded_by: String,
        at: DateTime<Utc>,
    },
    /// The chain cannot be followed past `at_link` (the record is missing or unreadable); the
    /// technical vice-president accepts the complaint being resolved without the root cause.
    TraceChainBroken {
        at_link: TraceLink,
        reason: String,
        approved_by: String,
        at: DateTime<Utc>,
    },
    ReturnApproved {
        weight_kg: u32,
        approved_by: String,
        role: Role,
        at: DateTime<Utc>,
    },
    ComplaintResolved {
        outcome: Outcome,
        detail: String,
        at: DateTime<Utc>,
    },
    ReturnedGoodsReceived {
        quantity: u32,
        at: DateTime<Utc>,
    },
    ReturnedGoodsInspected {
        passed: bool,
        findings: String,
        inspected_by: String,
        at: DateTime<Utc>,
    },
    /// Back into stock, only after a passed inspection.
    ReturnedGoodsRestocked {
        quantity: u32,
        at: DateTime<Utc>,
    },
    ComplaintClosed {
        at: DateTime<Utc>,
    },
}

impl ComplaintEvent {
    pub fn event_type(&self) -> &'static str {
        use ComplaintEvent::*;
        match self {
            ComplaintRegistered { .. } => "ComplaintRegistered",
            SampleInspected { .. } => "SampleInspected",
            RecallOpened { .. } => "RecallOpened",
            NonconformingControlRecorded { .. } => "NonconformingControlRecorded",
            TraceLinkRecorded { .. } => "TraceLinkRecorded",
            TraceChainBroken { .. } => "TraceChainBroken",
            ReturnApproved { .. } => "ReturnApproved",
            ComplaintResolved { .. } => "ComplaintResolved",
            ReturnedGoodsReceived { .. } => "ReturnedGoodsReceived",
            ReturnedGoodsInspected { .. } => "ReturnedGoodsInspected",
            ReturnedGoodsRestocked { .. } => "ReturnedGoodsRestocked",
            ComplaintClosed { .. } => "ComplaintClosed",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ComplaintState {
    pub registered: bool,
    pub batch: Option<String>,
    pub weight_kg: u32,
    pub grade: Option<Grade>,
    /// QC found a product cause (component, design, process, production control).
    #[serde(default)]
    pub product_cause: bool,
    /// The links recorded so far, in chain order.
    #[serde(default)]
    pub trace_links: Vec<TraceLink>,
    /// A link named the responsible department: the chain reached its root cause.
    #[serde(default)]
    pub trace_root_found: bool,
    /// Where the chain was accepted as broken.
    #[serde(default)]
    pub trace_broken_at: Option<TraceLink>,
    pub recall_opened: bool,
    pub nonconforming_control: bool,
    pub return_approved: bool,
    pub outcome: Option<Outcome>,
    pub goods_received: u32,
    pub goods_inspected_passed: Option<bool>,
    pub restocked: bool,
    pub closed: bool,
}

impl ComplaintState {
    /// The first link of the chain not yet recorded: the only one that may be recorded next.
    pub fn next_trace_link(&self) -> Option<TraceLink> {
        TraceLink::CHAIN
            .into_iter()
            .find(|l| !self.trace_links.contains(l))
    }

    /// A quality problem (grade A to C, or a product cause) is traced to the department
    /// responsible before it is resolved (seed 004: 追溯……确定质量责任部门); a grade D
    /// misunderstanding or misuse has nothing to trace.
    pub fn needs_trace(&self) -> bool {
        self.product_cause || matches!(self.grade, Some(Grade::A | Grade::B | Grade::C))
    }

    pub fn evolve(mut self, e: &ComplaintEvent) -> Self {
        use ComplaintEvent::*;
        match e {
            ComplaintRegistered {
                batch, weight_kg, ..
            } => {
                self.registered = true;
                self.batch = batch.clone();
                self.weight_kg = *weight_kg;
            }
            SampleInspected { grade, cause, .. } => {
                self.grade = Some(*grade);
                self.product_cause = cause.is_product_caused();
            }
            RecallOpened { .. } => self.recall_opened = true,
            NonconformingControlRecorded { .. } => self.nonconforming_control = true,
            TraceLinkRecorded {
                link,
                responsible_dept,
                ..
            } => {
                if !self.trace_links.contains(link) {
                    self.trace_links.push(*link);
                }
                self.trace_root_found |= responsible_dept.is_some();
            }
            TraceChainBroken { at_link, .. } => self.trace_broken_at = Some(*at_link),
            ReturnApproved { .. } => self.return_approved = true,
            ComplaintResolved { outcome, .. } => self.outcome = Some(*outcome),
            ReturnedGoodsReceived { quantity, .. } => self.goods_received += quantity,
            ReturnedGoodsInspected { passed, .. } => self.goods_inspected_passed = Some(*passed),
            ReturnedGoodsRestocked { .. } => self.restocked = true,
            ComplaintClosed { .. } => self.closed = true,
        }
        self
    }

    pub fn from_events(events: &[ComplaintEvent]) -> Self {
        events
            .iter()
            .fold(ComplaintState::default(), |s, e| s.evolve(e))
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum ComplaintCommand {
    Register {
        customer: CustomerRef,
        market: Market,
        model: String,
        batch: Option<String>,
        print_code: Option<String>,
        serials: Vec<String>,
        quantity: u32,
        weight_kg: u32,
        description: String,
    },
    /// `batch_units`: the serials of the complaint's batch, as the adapter found them.
    InspectSample {
        grade: Grade,
        cause: CauseCategory,
        findings: String,
        batch_units: Vec<String>,
    },
    RecordNonconformingControl {
        measures: String,
    },
    RecordTraceLink {
        link: TraceLink,
        reference: String,
        /// Set on the link where the responsible department was determined.
        responsible_dept: Option<String>,
    },
    /// Accept that the chain cannot be followed past `at_link` (the first missing link).
    RecordTraceBroken {
        at_link: TraceLink,
        reason: String,
    },
    ApproveReturn,
    Resolve {
        outcome: Outcome,
        detail: String,
    },
    ReceiveReturnedGoods {
        quantity: u32,
    },
    InspectReturnedGoods {
        passed: bool,
        findings: String,
    },
    Restock,
    Close,
}

/// The rules of §3, one guard per step.
pub fn decide(
    s: &ComplaintState,
    complaint_id: &str,
    c: &ComplaintCommand,
    ctx: &Ctx,
) -> Result<Vec<ComplaintEvent>, DomainError> {
    use ComplaintCommand as C;
    use ComplaintEvent as E;
    let at = ctx.at;
    let me = ctx.actor.person_id.clone();
    if let C::Register {
        customer,
        market,
        model,
        batch,
        print_code,
        serials,
        quantity,
        weight_kg,
        description,
    } = c
    {
        role_in(
            ctx,
            &[Role::AfterSales, Role::Qc, Role::Sales],
            "register a complaint",
        )?;
        if s.registered {
            return Err(out_of_order("registered", "a new complaint id"));
        }
        specific(ctx, "description", description)?;
        if *quantity == 0 {
            return Err(DomainError::InvalidInput {
                field: "quantity",
                reason: "at least 1".into(),
            });
        }
        return Ok(vec![E::ComplaintRegistered {
            complaint_id: complaint_id.into(),
            customer: customer.clone(),
            market: *market,
            model: model.clone(),
            batch: batch.clone(),
            print_code: print_code.clone(),
            serials: serials.clone(),
            quantity: *quantity,
            weight_kg: *weight_kg,
            description: description.clone(),
            registered_by: me,
            at,
        }]);
    }
    if !s.registered {
        return Err(DomainError::ComplaintNotFound {
            complaint_id: complaint_id.into(),
        });
    }
    if s.closed {
        return Err(out_of_order("closed", "an open complaint"));
    }
    match c {
        C::Register { .. } => unreachable!("handled above"),
        C::InspectSample {
            grade,
            cause,
            findings,
            batch_units,
        } => {
            role_in(ctx, &[Role::Qc], "inspect and grade a complaint sample")?;
            if s.grade.is_some() {
                return Err(out_of_order("graded", "an ungraded complaint"));
            }
            specific(ctx, "findings", findings)?;
            let mut events = vec![E::SampleInspected {
                grade: *grade,
                cause: *cause,
                findings: findings.clone(),
                inspected_by: me,
                at,
            }];
            if *grade == Grade::A {
                // Safety-critical: the whole batch, so it must be known.
                let batch = s.batch.clone().ok_or(DomainError::RecallNeedsBatch)?;
                events.push(E::RecallOpened {
                    recall_id: format!("{complaint_id}-recall"),
                    batch,
                    serials: batch_units.clone(),
                    at,
                });
            }
            Ok(events)
        }
        C::RecordNonconformingControl { measures } => {
            role_in(ctx, &[Role::Qc], "record nonconforming product control")?;
            if !matches!(s.grade, Some(Grade::B | Grade::C)) {
                return Err(out_of_order(
                    "not graded B or C",
                    "a grade B or C complaint",
                ));
            }
            specific(ctx, "measures", measures)?;
            Ok(vec![E::NonconformingControlRecorded {
                measures: measures.clone(),
                by: me,
                at,
            }])
        }
        C::RecordTraceLink {
            link,
            reference,
            responsible_dept,
        } => {
            role_in(
                ctx,
                &[Role::Qc, Role::Production, Role::AfterSales],
                "record a trace link",
            )?;
            // Seed 004 traces label → print code → … → supplier: each link is found from the one
            // before it, so a link is recorded only once every earlier one is (a recorded link
            // may be recorded again, as a correction).
            if !s.trace_links.contains(link) {
                if let Some(next) = s.next_trace_link().filter(|n| n != link) {
                    return Err(DomainError::TraceLinkOutOfOrder {
                        link: link.as_str(),
                        missing: next.as_str(),
                    });
                }
            }
            specific(ctx, "reference", reference)?;
            if let Some(dept) = responsible_dept {
                specific(ctx, "responsible_dept", dept)?;
            }
            Ok(vec![E::TraceLinkRecorded {
                link: *link,
                reference: reference.clone(),
                responsible_dept: responsible_dept.clone(),
                recorded_by: me,
                at,
            }])
        }
        C::RecordTraceBroken { at_link, reason } => {
            // Giving up the search for the responsible department is approved above the depts
            // that trace (production, technical): by the technical vice-president.
            role_in(ctx, &[Role::TechnicalVp], "accept a broken trace chain")?;
            if s.trace_root_found || s.trace_broken_at.is_some() {
                return Err(out_of_order(
                    "trace chain concluded",
                    "a trace chain still open",
                ));
            }
            let next = s.next_trace_link();
            if next != Some(*at_link) {
                return Err(DomainError::TraceLinkOutOfOrder {
                    link: at_link.as_str(),
                    missing: next.map_or("none", TraceLink::as_str),
                });
            }
            specific(ctx, "reason", reason)?;
            Ok(vec![E::TraceChainBroken {
                at_link: *at_link,
                reason: reason.clone(),
                approved_by: me,
                at,
            }])
        }
        C::ApproveReturn => {
            // §3: up to the policy's weight the sales dept approves, above it the technical VP.
            let limit = ctx.policy.complaints.sales_approval_max_kg;
            let needed = if s.weight_kg <= limit {
                Role::Sales
            } else {
                Role::TechnicalVp
            };
            if ctx.actor.role != needed {
                return Err(DomainError::ReturnApprovalRole {
                    weight_kg: s.weight_kg,
                    limit_kg: limit,
                    needed,
                });
            }
            if s.return_approved {
                return Err(out_of_order("approved", "an unapproved return"));
            }
            Ok(vec![E::ReturnApproved {
                weight_kg: s.weight_kg,
                approved_by: me,
                role: needed,
                at,
            }])
        }
        C::Resolve { outcome, detail } => {
            role_in(ctx, &[Role::AfterSales, Role::Sales], "resolve a complaint")?;
            if *outcome == Outcome::CashRefund {
                return Err(DomainError::CashRefundNotAllowed);
            }
            let grade = s.grade.ok_or(DomainError::ComplaintNotGraded)?;
            if s.outcome.is_some() {
                return Err(out_of_order("resolved", "an unresolved complaint"));
            }
            match grade {
                Grade::B | Grade::C if !s.nonconforming_control => {
                    return Err(DomainError::NonconformingControlRequired)
                }
                Grade::D if !matches!(outcome, Outcome::Exchange | Outcome::Explanation) => {
                    return Err(DomainError::OutcomeNotForGrade {
                        grade: "D",
                        allowed: "exchange or explanation (usage guidance)",
                    })
                }
                _ => {}
            }
            if *outcome == Outcome::Return && !s.return_approved {
                return Err(DomainError::ReturnNotApproved);
            }
            if s.needs_trace() && !s.trace_root_found && s.trace_broken_at.is_none() {
                return Err(DomainError::TraceChainIncomplete {
                    next: s.next_trace_link().map_or("none", TraceLink::as_str),
                });
            }
            specific(ctx, "detail", detail)?;
            Ok(vec![E::ComplaintResolved {
                outcome: *outcome,
                detail: detail.clone(),
                at,
            }])
        }
        C::ReceiveReturnedGoods { quantity } => {
            role_in(ctx, &[Role::AfterSales], "receive returned goods")?;
            if s.outcome != Some(Outcome::Return) {
                return Err(out_of_order(
                    "no return agreed",
                    "a complaint resolved by return",
                ));
            }
            if *quantity == 0 {
                return Err(DomainError::InvalidInput {
                    field: "quantity",
                    reason: "at least 1".into(),
                });
            }
            Ok(vec![E::ReturnedGoodsReceived {
                quantity: *quantity,
                at,
            }])
        }
        C::InspectReturnedGoods { passed, findings } => {
            role_in(ctx, &[Role::Qc], "inspect returned goods")?;
            if s.goods_received == 0 {
                return Err(out_of_order("nothing received", "returned goods received"));
            }
            specific(ctx, "findings", findings)?;
            Ok(vec![E::ReturnedGoodsInspected {
                passed: *passed,
                findings: findings.clone(),
                inspected_by: me,
                at,
            }])
        }
        C::Restock => {
            role_in(
                ctx,
                &[Role::AfterSales],
                "put returned goods back into stock",
            )?;
            if s.goods_inspected_passed != Some(true) {
                return Err(DomainError::StockEntryBeforeInspection);
            }
            if s.restocked {
                return Err(out_of_order(
                    "restocked",
                    "inspected goods not yet in stock",
                ));
            }
            Ok(vec![E::ReturnedGoodsRestocked {
                quantity: s.goods_received,
                at,
            }])
        }
        C::Close => {
            role_in(ctx, &[Role::AfterSales], "close a complaint")?;
            if s.outcome.is_none() {
                return Err(out_of_order("unresolved", "a resolved complaint"));
            }
            if s.goods_received > 0 && s.goods_inspected_passed.is_none() {
                return Err(DomainError::StockEntryBeforeInspection);
            }
            Ok(vec![E::ComplaintClosed { at }])
        }
    }
}

impl crate::Aggregate for ComplaintState {
    type Event = ComplaintEvent;
    type Command = ComplaintCommand;
    const ID: &'static str = "complaint_id";
    fn stream(id: &str) -> String {
        crate::streams::complaint(id)
    }
    fn fold(_id: &str, events: &[ComplaintEvent]) -> Self {
        ComplaintState::from_events(events)
    }
    fn decide(
        &self,
        id: &str,
        c: &ComplaintCommand,
        ctx: &Ctx,
    ) -> Result<Vec<ComplaintEvent>, DomainError> {
        decide(self, id, c, ctx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Actor, Policy};
    use chrono::TimeZone;

    #[derive(Clone)]
    struct G {
        policy: Policy,
        state: ComplaintState,
    }

    fn who(role: Role) -> Actor {
        Actor::new(format!("{role}-1"), role)
    }

    impl G {
        fn new(weight_kg: u32, batch: Option<&str>) -> G {
            let mut g = G {
                policy: Policy::default_policy(),
                state: ComplaintState::default(),
            };
            g = g.did(
                Role::AfterSales,
                ComplaintCommand::Register {
                    customer: CustomerRef {
                        customer_id: "C-7".into(),
                        name: "Jinan Steel".into(),
                    },
                    market: Market::Domestic,
                    model: "RD-40".into(),
                    batch: batch.map(str::to_string),
                    print_code: Some("20260115-0042".into()),
                    serials: vec![],
                    quantity: 12,
                    weight_kg,
                    description: "housings crack at the mounting lugs after a week".into(),
                },
            );
            g
        }

        fn try_do(
            &self,
            role: Role,
            c: ComplaintCommand,
        ) -> Result<Vec<ComplaintEvent>, DomainError> {
            let at = Utc.with_ymd_and_hms(2026, 3, 3, 2, 0, 0).unwrap();
            decide(
                &self.state,
                "CP-1",
                &c,
                &Ctx::new(&who(role), at, &self.policy),
            )
        }

        fn did(mut self, role: Role, c: ComplaintCommand) -> G {
            let events = self
                .try_do(role, c.clone())
                .unwrap_or_else(|e| panic!("{c:?}: {e}"));
            self.state = events.iter().fold(self.state, |s, e| s.evolve(e));
            self
        }

        fn refused(&self, role: Role, c: ComplaintCommand) -> &'static str {
            self.try_do(role, c).expect_err("refused").code()
        }

        fn graded(self, grade: Grade) -> G {
            self.did(Role::Qc, inspect(grade))
        }

        /// Label and print code recorded; the print code names the responsible department.
        fn traced(self) -> G {
            self.did(Role::Qc, link(TraceLink::Label, None)).did(
                Role::Production,
                link(TraceLink::PrintCode, Some("casting shop, line 2")),
            )
        }
    }

    fn link(link: TraceLink, responsible: Option<&str>) -> ComplaintCommand {
        ComplaintCommand::RecordTraceLink {
            link,
            reference: format!("{} of sample 3", link.as_str()),
            responsible_dept: responsible.map(str::to_string),
        }
    }

    fn broken(at_link: TraceLink) -> ComplaintCommand {
        ComplaintCommand::RecordTraceBroken {
            at_link,
            reason: "the inspection reports of January were lost in the archive flood".into(),
        }
    }

    fn inspect(grade: Grade) -> ComplaintCommand {
        ComplaintCommand::InspectSample {
            grade,
            cause: CauseCategory::ComponentQuality,
            findings: "casting porosity at the lug".into(),
            batch_units: vec!["SN-1".into(), "SN-2".into()],
        }
    }

    fn resolve(outcome: Outcome) -> ComplaintCommand {
        ComplaintCommand::Resolve {
            outcome,
            detail: "twelve replacement housings shipped".into(),
        }
    }

    #[test]
    fn grade_a_opens_a_recall_over_the_batch_and_needs_the_batch() {
        let g = G::new(40, Some("B-2026-01"));
        let events = g.try_do(Role::Qc, inspect(Grade::A)).unwrap();
        assert!(
            matches!(&events[1], ComplaintEvent::RecallOpened { batch, serials, .. }
            if batch == "B-2026-01" && serials.len() == 2)
        );
        let g = G::new(40, None);
        assert_eq!(g.refused(Role::Qc, inspect(Grade::A)), "recall-needs-batch");
        assert_eq!(
            g.refused(Role::AfterSales, inspect(Grade::B)),
            "role-not-permitted"
        );
    }

    #[test]
    fn grades_b_and_c_need_nonconforming_control_before_resolution() {
        for grade in [Grade::B, Grade::C] {
            let g = G::new(40, Some("B-1")).graded(grade).traced();
            assert_eq!(
                g.refused(Role::AfterSales, resolve(Outcome::Exchange)),
                "nonconforming-control-required"
            );
            let g = g.did(
                Role::Qc,
                ComplaintCommand::RecordNonconformingControl {
                    measures: "batch B-1 isolated in the warehouse, 100 % re-inspection".into(),
                },
            );
            assert!(g
                .try_do(Role::AfterSales, resolve(Outcome::Exchange))
                .is_ok());
        }
        let g = G::new(40, Some("B-1")).graded(Grade::D);
        let control = ComplaintCommand::RecordNonconformingControl {
            measures: "isolate".into(),
        };
        assert_eq!(g.refused(Role::Qc, control), "step-out-of-order");
    }

    #[test]
    fn grade_d_is_settled_by_exchange_or_usage_guidance_only() {
        let g = G::new(40, Some("B-1")).graded(Grade::D).traced();
        assert_eq!(
            g.refused(Role::AfterSales, resolve(Outcome::Discount)),
            "outcome-not-for-grade"
        );
        assert!(g
            .try_do(Role::AfterSales, resolve(Outcome::Explanation))
            .is_ok());
        assert!(g
            .try_do(Role::AfterSales, resolve(Outcome::Exchange))
            .is_ok());
    }

    #[test]
    fn a_cash_refund_is_refused_and_an_ungraded_complaint_is_not_resolved() {
        let g = G::new(40, Some("B-1"));
        assert_eq!(
            g.refused(Role::AfterSales, resolve(Outcome::CashRefund)),
            "cash-refund-not-allowed"
        );
        assert_eq!(
            g.refused(Role::AfterSales, resolve(Outcome::Exchange)),
            "complaint-not-graded"
        );
    }

    #[test]
    fn returns_are_approved_by_weight_sales_up_to_the_limit_the_vp_above() {
        let light = G::new(500, Some("B-1")).graded(Grade::A).traced();
        assert_eq!(
            light.refused(Role::AfterSales, resolve(Outcome::Return)),
            "return-not-approved"
        );
        assert_eq!(
            light.refused(Role::TechnicalVp, ComplaintCommand::ApproveReturn),
            "return-approval-role"
        );
        let light = light.did(Role::Sales, ComplaintCommand::ApproveReturn);
        assert!(light
            .try_do(Role::AfterSales, resolve(Outcome::Return))
            .is_ok());
        let heavy = G::new(501, Some("B-1")).graded(Grade::A);
        assert_eq!(
            heavy.refused(Role::Sales, ComplaintCommand::ApproveReturn),
            "return-approval-role"
        );
        assert!(heavy
            .try_do(Role::TechnicalVp, ComplaintCommand::ApproveReturn)
            .is_ok());
    }

    #[test]
    fn returned_goods_enter_stock_only_after_a_passed_qc_inspection() {
        let g = G::new(100, Some("B-1"))
            .graded(Grade::A)
            .traced()
            .did(Role::Sales, ComplaintCommand::ApproveReturn)
            .did(Role::AfterSales, resolve(Outcome::Return));
        assert_eq!(
            g.refused(Role::AfterSales, ComplaintCommand::Restock),
            "stock-entry-before-inspection"
        );
        let g = g.did(
            Role::AfterSales,
            ComplaintCommand::ReceiveReturnedGoods { quantity: 12 },
        );
        assert_eq!(
            g.refused(Role::AfterSales, ComplaintCommand::Restock),
            "stock-entry-before-inspection"
        );
        assert_eq!(
            g.refused(Role::AfterSales, ComplaintCommand::Close),
            "stock-entry-before-inspection"
        );
        let failed = g.clone().did(
            Role::Qc,
            ComplaintCommand::InspectReturnedGoods {
                passed: false,
                findings: "cracked lugs on all twelve".into(),
            },
        );
        assert_eq!(
            failed.refused(Role::AfterSales, ComplaintCommand::Restock),
            "stock-entry-before-inspection"
        );
        let passed = g.did(
            Role::Qc,
            ComplaintCommand::InspectReturnedGoods {
                passed: true,
                findings: "sorted: twelve sound".into(),
            },
        );
        assert!(passed
            .try_do(Role::AfterSales, ComplaintCommand::Restock)
            .is_ok());
    }

    #[test]
    fn trace_links_are_specific_and_a_closed_complaint_refuses_steps() {
        let g = G::new(10, Some("B-1"));
        let vague = ComplaintCommand::RecordTraceLink {
            link: TraceLink::Label,
            reference: "不详".into(),
            responsible_dept: None,
        };
        assert_eq!(g.refused(Role::Qc, vague), "placeholder-description");
        let g = g
            .graded(Grade::D)
            .traced()
            .did(Role::AfterSales, resolve(Outcome::Explanation))
            .did(Role::AfterSales, ComplaintCommand::Close);
        assert_eq!(
            g.refused(Role::Qc, link(TraceLink::Label, None)),
            "step-out-of-order"
        );
        let none = G {
            policy: Policy::default_policy(),
            state: ComplaintState::default(),
        };
        assert_eq!(
            none.refused(Role::Qc, inspect(Grade::D)),
            "complaint-not-found"
        );
    }

    #[test]
    fn trace_links_are_recorded_in_chain_order_from_the_label() {
        let g = G::new(40, Some("B-1")).graded(Grade::B);
        let skip = g.try_do(Role::Qc, link(TraceLink::PrintCode, None));
        assert_eq!(
            skip,
            Err(DomainError::TraceLinkOutOfOrder {
                link: "print_code",
                missing: "label",
            })
        );
        let g = g.did(Role::Qc, link(TraceLink::Label, None));
        assert!(g.try_do(Role::Qc, link(TraceLink::PrintCode, None)).is_ok());
        assert_eq!(
            g.try_do(Role::Qc, link(TraceLink::InspectionReport, None)),
            Err(DomainError::TraceLinkOutOfOrder {
                link: "inspection_report",
                missing: "print_code",
            })
        );
        assert!(
            g.try_do(Role::Qc, link(TraceLink::Label, None)).is_ok(),
            "a recorded link may be recorded again, as a correction"
        );
    }

    #[test]
    fn a_quality_complaint_is_resolved_only_once_the_chain_names_the_responsible_department() {
        let g = G::new(40, Some("B-1"))
            .graded(Grade::B)
            .did(
                Role::Qc,
                ComplaintCommand::RecordNonconformingControl {
                    measures: "batch B-1 isolated in the warehouse".into(),
                },
            )
            .did(Role::Qc, link(TraceLink::Label, None));
        assert_eq!(
            g.try_do(Role::AfterSales, resolve(Outcome::Exchange)),
            Err(DomainError::TraceChainIncomplete { next: "print_code" })
        );
        let g = g.did(
            Role::Production,
            link(TraceLink::PrintCode, Some("casting shop, line 2")),
        );
        assert!(g
            .try_do(Role::AfterSales, resolve(Outcome::Exchange))
            .is_ok());
    }

    #[test]
    fn a_misuse_graded_d_needs_no_trace_chain() {
        let g = G::new(40, Some("B-1")).did(
            Role::Qc,
            ComplaintCommand::InspectSample {
                grade: Grade::D,
                cause: CauseCategory::CustomerMisuse,
                findings: "wired to 380 V".into(),
                batch_units: vec![],
            },
        );
        assert!(g
            .try_do(Role::AfterSales, resolve(Outcome::Explanation))
            .is_ok());
        let product = G::new(40, Some("B-1")).graded(Grade::D);
        assert_eq!(
            product.try_do(Role::AfterSales, resolve(Outcome::Explanation)),
            Err(DomainError::TraceChainIncomplete { next: "label" }),
            "grade D with a product cause is still a quality problem"
        );
    }

    #[test]
    fn a_broken_chain_accepted_by_the_technical_vp_at_the_first_missing_link_allows_resolution() {
        let g = G::new(40, Some("B-1"))
            .graded(Grade::A)
            .did(Role::Qc, link(TraceLink::Label, None))
            .did(Role::Qc, link(TraceLink::PrintCode, None));
        assert_eq!(
            g.refused(Role::Qc, broken(TraceLink::InspectionReport)),
            "role-not-permitted"
        );
        assert_eq!(
            g.try_do(Role::TechnicalVp, broken(TraceLink::Supplier)),
            Err(DomainError::TraceLinkOutOfOrder {
                link: "supplier",
                missing: "inspection_report",
            })
        );
        let g = g.did(Role::TechnicalVp, broken(TraceLink::InspectionReport));
        assert!(g
            .try_do(Role::AfterSales, resolve(Outcome::Exchange))
            .is_ok());
        assert_eq!(
            g.refused(Role::TechnicalVp, broken(TraceLink::InspectionReport)),
            "step-out-of-order"
        );
    }
}

//! The read models: pure folds of the log. The same events give the same model, byte for byte
//! (BTreeMaps only, no clock), which is what the rebuild test checks.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, NaiveDate, Utc};
use repairledger_domain::plan::{PlanEvent, PlanStatus};
use repairledger_domain::production::ProductionEvent;
use repairledger_domain::unit::*;
use repairledger_store::RecordedEvent;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::codec::{decode, stream_kind, DecodeError, StreamKind};

/// A unit as after-sales and auditors see it: its current state and the paper trail of each return.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct UnitView {
    pub serial: String,
    /// The unit stream's version: send it back as `If-Match` to act on this state.
    pub version: u64,
    pub last_position: u64,
    pub state: UnitState,
    /// The records of each return, in the order of `state.returns`.
    pub records: Vec<ReturnRecord>,
    /// Every signed handover of the unit, oldest first.
    pub handovers: Vec<HandoverLine>,
    /// The faulty unit this one replaced (exchange), if any.
    pub issued_for: Option<String>,
    /// Emergency uses of this unit as a spare on site.
    pub field_uses: Vec<FieldUse>,
    /// The unit file's shipped states (出厂状态), oldest first.
    pub shipments: Vec<ShipmentRecord>,
    /// Yearly follow-ups with the user (年度回访).
    pub follow_ups: Vec<FollowUpRecord>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ShipmentRecord {
    pub customer: CustomerRef,
    pub shipped_on: NaiveDate,
    pub configuration: String,
    pub recorded_by: String,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct FollowUpRecord {
    pub year: i32,
    pub satisfaction: repairledger_domain::service::Satisfaction,
    pub notes: String,
    pub recorded_by: String,
    pub at: DateTime<Utc>,
}

/// The documents of one return: the information transfer form and what followed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ReturnRecord {
    pub return_id: String,
    pub form: OffSiteInfo,
    pub opened_by: PersonRef,
    pub customer_signature: Option<Signature>,
    pub receiver_returned_at: Option<DateTime<Utc>>,
    pub customer_due_date: Option<NaiveDate>,
    pub registration: Option<Registration>,
    pub diagnoses: Vec<Diagnosis>,
    pub repairs: Vec<Entry>,
    pub unrepairable: Option<Entry>,
    pub inspections: Vec<Inspection>,
    /// QC filed the original form (rule 8): the archive reference, who, when. Absent until
    /// then, and for returns whose events never recorded it.
    #[serde(default)]
    pub form_archive: Option<Entry>,
    pub disposition: Option<Disposition>,
    pub disposition_explanation: Option<String>,
    pub two_strikes: Option<String>,
    pub customer_fee_minor: Option<i64>,
    pub development_confirmation: Option<Entry>,
    /// Rule 12: the customer's recorded decision not to take the unit back, and why.
    #[serde(default)]
    pub customer_declined: Option<Entry>,
    pub scrapped: Option<Entry>,
    pub delivered_to: Option<Signature>,
    pub closed_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Registration {
    pub arrived_on: NaiveDate,
    pub warranty_end: NaiveDate,
    pub in_warranty: bool,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Diagnosis {
    pub finding: Finding,
    pub analysis: String,
    pub at: DateTime<Utc>,
}

/// A dated text entry of a record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Entry {
    pub text: String,
    pub by: String,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Inspection {
    pub passed: bool,
    pub label: Option<String>,
    pub findings: String,
    pub inspector: String,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct HandoverLine {
    pub handover_id: String,
    pub from: PersonRef,
    pub to: PersonRef,
    pub at: DateTime<Utc>,
    pub position: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct FieldUse {
    pub faulty_serial: String,
    pub site: String,
    pub record: String,
    pub used_by: PersonRef,
    pub at: DateTime<Utc>,
}

/// A zone's ledger (管理台帐): who is in it now and every entry and exit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ZoneLedger {
    pub zone: Zone,
    pub occupants: BTreeSet<String>,
    pub lines: Vec<LedgerLine>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Movement {
    Entry,
    Exit,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LedgerLine {
    pub position: u64,
    pub at: DateTime<Utc>,
    pub serial: String,
    pub movement: Movement,
    pub reason: String,
    pub recorded_by: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PlanView {
    pub plan_id: String,
    pub version: u64,
    pub status: PlanStatus,
    pub serials: Vec<String>,
    pub notes: String,
    pub compiled_by: String,
    pub compiled_at: DateTime<Utc>,
    /// Written amendments and revisions, in order.
    pub amendments: Vec<Entry>,
    pub co_signed_by: Option<String>,
    pub issued_by: Option<String>,
    pub issued_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ProductionOrderView {
    pub order_id: String,
    pub model: String,
    pub customer: CustomerRef,
    pub faulty_serial: Option<String>,
    pub reason: String,
    pub ordered_by: String,
    pub ordered_at: DateTime<Utc>,
    pub built_serial: Option<String>,
    pub built_at: Option<DateTime<Utc>>,
}

/// An open return, for the after-sales work list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct OpenReturnView {
    pub serial: String,
    pub return_id: String,
    pub mode: ReturnMode,
    pub step: Step,
    pub customer_id: String,
    pub opened_at: DateTime<Utc>,
    pub custody: Option<Custody>,
    pub zone: Option<Zone>,
    pub in_warranty: Option<bool>,
    pub plan_id: Option<String>,
    pub emergency_retrieval: bool,
}

/// The log's head at the end of a day (UTC, by `recorded_at`): publish it outside the system and
/// any later tampering with that day or before shows as a different hash at that position.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Anchor {
    pub date: NaiveDate,
    /// The last position recorded that day.
    pub position: u64,
    /// Its hash, which covers every event before it.
    pub hash: String,
    /// Events recorded that day.
    pub events: u64,
}

/// Everything the projections hold, as of `position`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ReadModel {
    pub position: u64,
    pub anchors: BTreeMap<NaiveDate, Anchor>,
    pub units: BTreeMap<String, UnitView>,
    pub zones: BTreeMap<Zone, ZoneLedger>,
    pub plans: BTreeMap<String, PlanView>,
    pub orders: BTreeMap<String, ProductionOrderView>,
    pub webhooks: BTreeMap<String, crate::integration::WebhookView>,
    /// Policy versions published to the log, by version: the TOML text.
    pub policies: BTreeMap<u32, String>,
    /// Field service requests by id.
    pub services: BTreeMap<String, crate::field::ServiceRequestView>,
    /// Every SLA timer ever started, by timer id.
    pub timers: BTreeMap<String, crate::field::TimerView>,
    /// The running timer of each `{subject}|{rule}`.
    pub open_timers: BTreeMap<String, String>,
    /// How many timers each `{subject}|{rule}` has had (the `n` of timer ids).
    pub timer_counts: BTreeMap<String, u32>,
    /// Unapproved departures from a site, by breach id.
    pub departures: BTreeMap<String, crate::field::UnapprovedDeparture>,
    /// Penalties by id (the breach id).
    pub penalties: BTreeMap<String, crate::field::PenaltyView>,
    /// Service requests escalated to a return, by unit serial.
    pub service_links: BTreeMap<String, Vec<String>>,
    pub complaints: BTreeMap<String, crate::quality::ComplaintView>,
    pub recalls: BTreeMap<String, crate::quality::RecallView>,
    /// Recalls by unit serial.
    pub recalled_units: BTreeMap<String, Vec<String>>,
    /// Complaints naming a unit, by serial.
    pub unit_complaints: BTreeMap<String, Vec<String>>,
    pub quality_cases: BTreeMap<String, crate::quality::QualityCaseView>,
    /// Product-caused failures, in log order (the monthly QC report's input).
    pub failures: Vec<crate::quality::FailureLine>,
    /// QC's functional inspections of repaired units, in log order (the report's first-pass
    /// yield).
    #[serde(default)]
    pub inspections: Vec<crate::quality::InspectionLine>,
    /// The log position of each return's failure line, by `{serial}/{return_id}`.
    #[serde(default)]
    pub repair_failures: BTreeMap<String, u64>,
    /// API tokens by token id.
    pub tokens: BTreeMap<String, crate::security::TokenView>,
    /// Customers whose personal data was erased, by customer id.
    pub erasures: BTreeMap<String, crate::security::ErasureView>,
}

impl ReadModel {
    pub fn new() -> Self {
        let mut m = ReadModel::default();
        for zone in Zone::ALL {
            m.zones.insert(
                zone,
                ZoneLedger {
                    zone,
                    occupants: BTreeSet::new(),
                    lines: Vec::new(),
                },
            );
        }
        m
    }

    /// Folds one event. Positions must come in order; an event already folded is ignored, so
    /// catching up twice is harmless.
    pub fn apply(&mut self, e: &RecordedEvent) -> Result<(), DecodeError> {
        if e.position <= self.position {
            return Ok(());
        }
        let anchor = self
            .anchors
            .entry(e.recorded_at.date_naive())
            .or_insert_with(|| Anchor {
                date: e.recorded_at.date_naive(),
                position: 0,
                hash: String::new(),
                events: 0,
            });
        anchor.position = e.position;
        anchor.hash = e.hash.clone();
        anchor.events += 1;
        let (kind, id) = stream_kind(&e.stream);
        match kind {
            StreamKind::Unit => self.apply_unit(id, e, &decode::<UnitEvent>(e)?),
            StreamKind::Plan => self.apply_plan(id, e, &decode::<PlanEvent>(e)?),
            StreamKind::Production => self.apply_order(id, e, &decode::<ProductionEvent>(e)?),
            StreamKind::Service => self.apply_service(
                id,
                e,
                &decode::<repairledger_domain::service::ServiceEvent>(e)?,
            ),
            StreamKind::Complaint => self.apply_complaint(
                id,
                e,
                &decode::<repairledger_domain::complaint::ComplaintEvent>(e)?,
            ),
            StreamKind::Quality => self.apply_quality(
                id,
                e,
                &decode::<repairledger_domain::quality::QualityEvent>(e)?,
            ),
            StreamKind::Penalty => {
                self.apply_penalty(e, &decode::<repairledger_domain::penalty::PenaltyEvent>(e)?)
            }
            StreamKind::Webhook => {
                use crate::integration::{WebhookEvent, WebhookView};
                match decode::<WebhookEvent>(e)? {
                    WebhookEvent::WebhookSubscribed {
                        subscription_id,
                        url,
                        event_types,
                        stream_prefix,
                        from_position,
                        secret_sha256,
                        at,
                    } => {
                        self.webhooks.insert(
                            subscription_id.clone(),
                            WebhookView {
                                subscription_id,
                                url,
                                event_types,
                                stream_prefix,
                                from_position,
                                secret_sha256,
                                subscribed_by: e.actor.person_id.clone(),
                                subscribed_at: at,
                                active: true,
                            },
                        );
                    }
                    WebhookEvent::WebhookUnsubscribed {
                        subscription_id, ..
                    } => {
                        if let Some(w) = self.webhooks.get_mut(&subscription_id) {
                            w.active = false;
                        }
                    }
                }
                let _ = id;
            }
            StreamKind::Policy => {
                if let Some(text) = e.payload.get("toml").and_then(|t| t.as_str()) {
                    let version = e
                        .payload
                        .get("version")
                        .and_then(|v| v.as_u64())
                        .unwrap_or(0) as u32;
                    self.policies.insert(version, text.to_string());
                }
            }
            StreamKind::Token => {
                self.apply_token(e, &decode::<repairledger_domain::access::TokenEvent>(e)?)
            }
            StreamKind::Customer => {
                self.apply_privacy(e, &decode::<repairledger_domain::privacy::PrivacyEvent>(e)?)
            }
            StreamKind::Other => {}
        }
        self.position = e.position;
        Ok(())
    }

    fn apply_unit(&mut self, serial: &str, e: &RecordedEvent, ev: &UnitEvent) {
        let view = self
            .units
            .entry(serial.to_string())
            .or_insert_with(|| UnitView {
                serial: serial.to_string(),
                version: 0,
                last_position: 0,
                state: UnitState::new(serial),
                records: Vec::new(),
                handovers: Vec::new(),
                issued_for: None,
                field_uses: Vec::new(),
                shipments: Vec::new(),
                follow_ups: Vec::new(),
            });
        view.version = e.version;
        view.last_position = e.position;
        view.state = std::mem::replace(&mut view.state, UnitState::new(serial)).evolve(ev);
        let by = e.actor.person_id.clone();
        let entry = |text: &str, at: &DateTime<Utc>| Entry {
            text: text.to_string(),
            by: by.clone(),
            at: *at,
        };
        let record = view.records.last_mut().filter(|r| r.closed_at.is_none());
        use UnitEvent::*;
        match ev {
            ReturnOpened {
                return_id,
                form,
                opened_by,
                customer_signature,
                receiver_returned_at,
                customer_due_date,
                ..
            } => view.records.push(ReturnRecord {
                return_id: return_id.clone(),
                form: form.clone(),
                opened_by: opened_by.clone(),
                customer_signature: customer_signature.clone(),
                receiver_returned_at: *receiver_returned_at,
                customer_due_date: *customer_due_date,
                registration: None,
                diagnoses: Vec::new(),
                repairs: Vec::new(),
                unrepairable: None,
                inspections: Vec::new(),
                form_archive: None,
                disposition: None,
                disposition_explanation: None,
                two_strikes: None,
                customer_fee_minor: None,
                development_confirmation: None,
                customer_declined: None,
                scrapped: None,
                delivered_to: None,
                closed_at: None,
            }),
            HandoverSigned {
                handover_id,
                from,
                to,
                at,
            } => view.handovers.push(HandoverLine {
                handover_id: handover_id.clone(),
                from: from.clone(),
                to: to.clone(),
                at: *at,
                position: e.position,
            }),
            ZoneEntered { zone, reason, at } | ZoneExited { zone, reason, at } => {
                let movement = if matches!(ev, ZoneEntered { .. }) {
                    Movement::Entry
                } else {
                    Movement::Exit
                };
                if let Some(ledger) = self.zones.get_mut(zone) {
                    match movement {
                        Movement::Entry => ledger.occupants.insert(serial.to_string()),
                        Movement::Exit => ledger.occupants.remove(serial),
                    };
                    ledger.lines.push(LedgerLine {
                        position: e.position,
                        at: *at,
                        serial: serial.to_string(),
                        movement,
                        reason: reason.clone(),
                        recorded_by: e.actor.person_id.clone(),
                    });
                }
            }
            UnitRegistered {
                arrived_on,
                warranty,
                at,
                ..
            } => {
                if let Some(r) = record {
                    r.registration = Some(Registration {
                        arrived_on: *arrived_on,
                        warranty_end: warranty.end,
                        in_warranty: warranty.in_warranty,
                        at: *at,
                    });
                }
            }
            FaultConfirmed {
                cause,
                analysis,
                at,
                ..
            } => {
                if let Some(r) = record {
                    r.diagnoses.push(Diagnosis {
                        finding: Finding::Fault { cause: *cause },
                        analysis: analysis.clone(),
                        at: *at,
                    });
                }
            }
            NoFaultFound { analysis, at, .. } => {
                if let Some(r) = record {
                    r.diagnoses.push(Diagnosis {
                        finding: Finding::NoFault,
                        analysis: analysis.clone(),
                        at: *at,
                    });
                }
            }
            TwoStrikesRepairedReached { prior_repairs, .. } => {
                if let Some(r) = record {
                    r.two_strikes = Some(format!(
                        "failed again after {prior_repairs} in-warranty repairs: scrap and exchange"
                    ));
                }
            }
            TwoStrikesNoFaultReached {
                no_fault_returns, ..
            } => {
                if let Some(r) = record {
                    r.two_strikes = Some(format!(
                        "{no_fault_returns} returns found no fault: not returned, exchange"
                    ));
                }
            }
            UnitRepaired { work_done, at, .. } => {
                if let Some(r) = record {
                    r.repairs.push(entry(work_done, at));
                }
            }
            UnitDeclaredUnrepairable { detail, at, .. } => {
                if let Some(r) = record {
                    r.unrepairable = Some(entry(detail, at));
                }
            }
            InspectionPassed {
                label,
                findings,
                at,
                ..
            } => {
                if let Some(r) = record {
                    r.inspections.push(Inspection {
                        passed: true,
                        label: Some(label.clone()),
                        findings: findings.clone(),
                        inspector: by.clone(),
                        at: *at,
                    });
                }
            }
            FormArchived {
                return_id,
                archive_ref,
                at,
            } => {
                // The return may be closed already (archived after delivery).
                if let Some(r) = view
                    .records
                    .iter_mut()
                    .rev()
                    .find(|r| &r.return_id == return_id)
                {
                    r.form_archive = Some(entry(archive_ref, at));
                }
            }
            InspectionFailed { findings, at, .. } => {
                if let Some(r) = record {
                    r.inspections.push(Inspection {
                        passed: false,
                        label: None,
                        findings: findings.clone(),
                        inspector: by.clone(),
                        at: *at,
                    });
                }
            }
            DispositionDecided {
                disposition,
                explanation,
                ..
            } => {
                if let Some(r) = record {
                    r.disposition = Some(*disposition);
                    r.disposition_explanation = explanation.clone();
                }
            }
            CustomerInsistedOnReturn { fee_minor, .. } => {
                if let Some(r) = record {
                    r.customer_fee_minor = Some(*fee_minor);
                }
            }
            NoFaultConfirmedByDevelopment { finding, at, .. } => {
                if let Some(r) = record {
                    r.development_confirmation = Some(entry(finding, at));
                }
            }
            CustomerDeclinedReturn { reason, at, .. } => {
                if let Some(r) = record {
                    r.customer_declined = Some(entry(reason, at));
                }
            }
            UnitScrapped { reason, at, .. } => {
                if let Some(r) = record {
                    r.scrapped = Some(entry(reason, at));
                }
            }
            ReturnedToCustomer {
                customer_signature, ..
            } => {
                if let Some(r) = record {
                    r.delivered_to = Some(customer_signature.clone());
                }
            }
            ReturnClosed { at, .. } => {
                if let Some(r) = record {
                    r.closed_at = Some(*at);
                }
            }
            SpareUsedOnSite {
                faulty_serial,
                site,
                record: text,
                used_by,
                at,
                ..
            } => view.field_uses.push(FieldUse {
                faulty_serial: faulty_serial.clone(),
                site: site.clone(),
                record: text.clone(),
                used_by: used_by.clone(),
                at: *at,
            }),
            IssuedAsExchange { faulty_serial, .. } => view.issued_for = Some(faulty_serial.clone()),
            UnitShipped {
                customer,
                shipped_on,
                configuration,
                at,
            } => view.shipments.push(ShipmentRecord {
                customer: customer.clone(),
                shipped_on: *shipped_on,
                configuration: configuration.clone(),
                recorded_by: by.clone(),
                at: *at,
            }),
            FollowUpRecorded {
                year,
                satisfaction,
                notes,
                at,
            } => view.follow_ups.push(FollowUpRecord {
                year: *year,
                satisfaction: *satisfaction,
                notes: notes.clone(),
                recorded_by: by.clone(),
                at: *at,
            }),
            _ => {}
        }
        self.unit_timers(serial, e, ev);
        self.unit_failures(serial, e, ev);
    }

    fn apply_plan(&mut self, plan_id: &str, e: &RecordedEvent, ev: &PlanEvent) {
        let by = e.actor.person_id.clone();
        match ev {
            PlanEvent::RepairPlanCompiled {
                serials, notes, at, ..
            } => {
                self.plans.insert(
                    plan_id.to_string(),
                    PlanView {
                        plan_id: plan_id.to_string(),
                        version: e.version,
                        status: PlanStatus::AwaitingCoSign,
                        serials: serials.clone(),
                        notes: notes.clone(),
                        compiled_by: by,
                        compiled_at: *at,
                        amendments: Vec::new(),
                        co_signed_by: None,
                        issued_by: None,
                        issued_at: None,
                    },
                );
            }
            _ => {
                let Some(p) = self.plans.get_mut(plan_id) else {
                    return;
                };
                p.version = e.version;
                match ev {
                    PlanEvent::RepairPlanAmendmentRequested { reason, at, .. } => {
                        p.status = PlanStatus::AmendmentRequested;
                        p.amendments.push(Entry {
                            text: format!("amendment requested: {reason}"),
                            by,
                            at: *at,
                        });
                    }
                    PlanEvent::RepairPlanRevised {
                        serials,
                        reason,
                        at,
                        ..
                    } => {
                        p.status = PlanStatus::AwaitingCoSign;
                        p.serials = serials.clone();
                        p.amendments.push(Entry {
                            text: format!("revised: {reason}"),
                            by,
                            at: *at,
                        });
                    }
                    PlanEvent::RepairPlanCoSigned { .. } => {
                        p.status = PlanStatus::CoSigned;
                        p.co_signed_by = Some(by);
                    }
                    PlanEvent::RepairPlanIssued { at, .. } => {
                        p.status = PlanStatus::Issued;
                        p.issued_by = Some(by);
                        p.issued_at = Some(*at);
                    }
                    PlanEvent::RepairPlanCompiled { .. } => {}
                }
            }
        }
    }

    fn apply_order(&mut self, order_id: &str, e: &RecordedEvent, ev: &ProductionEvent) {
        match ev {
            ProductionEvent::EmergencyProductionOrdered {
                model,
                customer,
                faulty_serial,
                reason,
                at,
                ..
            } => {
                self.orders.insert(
                    order_id.to_string(),
                    ProductionOrderView {
                        order_id: order_id.to_string(),
                        model: model.clone(),
                        customer: customer.clone(),
                        faulty_serial: faulty_serial.clone(),
                        reason: reason.clone(),
                        ordered_by: e.actor.person_id.clone(),
                        ordered_at: *at,
                        built_serial: None,
                        built_at: None,
                    },
                );
            }
            ProductionEvent::EmergencyProductionCompleted { serial, at, .. } => {
                if let Some(o) = self.orders.get_mut(order_id) {
                    o.built_serial = Some(serial.clone());
                    o.built_at = Some(*at);
                }
            }
        }
    }

    /// Open returns, oldest first.
    pub fn open_returns(&self) -> Vec<OpenReturnView> {
        let mut v: Vec<OpenReturnView> = self
            .units
            .values()
            .filter_map(|u| {
                let r = u.state.open_return()?;
                Some(OpenReturnView {
                    serial: u.serial.clone(),
                    return_id: r.return_id.clone(),
                    mode: r.mode,
                    step: u.state.step,
                    customer_id: r.customer.customer_id.clone(),
                    opened_at: r.opened_at,
                    custody: u.state.custody.clone(),
                    zone: u.state.zone,
                    in_warranty: r.in_warranty,
                    plan_id: r.plan_id.clone(),
                    emergency_retrieval: r.emergency_retrieval,
                })
            })
            .collect();
        v.sort_by(|a, b| (a.opened_at, &a.serial).cmp(&(b.opened_at, &b.serial)));
        v
    }

    /// Repair spares of a model in the spares zone (rule 14: emergency production only without one).
    pub fn spares_available(&self, model: &str) -> u32 {
        self.zones
            .get(&Zone::Spares)
            .map(|z| {
                z.occupants
                    .iter()
                    .filter(|s| {
                        self.units
                            .get(*s)
                            .and_then(|u| u.state.product.as_ref())
                            .is_some_and(|p| p.model == model)
                    })
                    .count() as u32
            })
            .unwrap_or(0)
    }
}

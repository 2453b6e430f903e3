//! A unit's state, folded from its events. `evolve` never fails and never refuses: the events
//! are facts already decided.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::events::UnitEvent;
use super::types::*;

/// Where the unit stands in the process. Custody (who holds it) is kept apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// Never seen.
    New,
    /// With a customer (delivered, exchanged, or before any return).
    AtCustomer,
    /// Replaced on site by a spare; must be retrieved (rule 14).
    AwaitingRetrieval,
    /// Travelling to after-sales with the receiver or in the post.
    ReturnOpened,
    /// With after-sales, not yet registered.
    Received,
    /// Registered, in the awaiting-repair zone.
    Registered,
    /// With the repair dept.
    InRepair,
    Repaired,
    NoFaultFound,
    Unrepairable,
    /// Rule 10 reached: only scrapping (and exchange) remain.
    MustScrap,
    /// Rule 11 reached: not returned unless the customer insists and pays.
    NoFaultTwice,
    /// With QC for the functional inspection.
    InInspection,
    InspectionFailed,
    /// Passed QC, carries the "repair qualified" label.
    Qualified,
    /// In the repaired-awaiting-return zone.
    AwaitingReturn,
    /// With technical service on the way to the customer.
    OutForDelivery,
    /// An unrepairable unit whose disposition is decided.
    Disposed,
    /// A repair spare in the spares zone.
    Spare,
    /// A spare taken out for use on site.
    SpareIssued,
    Scrapped,
    /// A young scrapped unit with the development dept.
    WithDevelopment,
    /// Returned to stock (退库).
    InStock,
}

impl Step {
    pub fn as_str(self) -> &'static str {
        match self {
            Step::New => "new",
            Step::AtCustomer => "at_customer",
            Step::AwaitingRetrieval => "awaiting_retrieval",
            Step::ReturnOpened => "return_opened",
            Step::Received => "received",
            Step::Registered => "registered",
            Step::InRepair => "in_repair",
            Step::Repaired => "repaired",
            Step::NoFaultFound => "no_fault_found",
            Step::Unrepairable => "unrepairable",
            Step::MustScrap => "must_scrap",
            Step::NoFaultTwice => "no_fault_twice",
            Step::InInspection => "in_inspection",
            Step::InspectionFailed => "inspection_failed",
            Step::Qualified => "qualified",
            Step::AwaitingReturn => "awaiting_return",
            Step::OutForDelivery => "out_for_delivery",
            Step::Disposed => "disposed",
            Step::Spare => "spare",
            Step::SpareIssued => "spare_issued",
            Step::Scrapped => "scrapped",
            Step::WithDevelopment => "with_development",
            Step::InStock => "in_stock",
        }
    }
}

/// One return of the unit, open or closed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReturnCase {
    pub return_id: String,
    pub mode: ReturnMode,
    pub customer: CustomerRef,
    pub opened_at: DateTime<Utc>,
    pub emergency_retrieval: bool,
    /// When after-sales took custody (warranty is judged on this date).
    pub arrived_at: Option<DateTime<Utc>>,
    pub in_warranty: Option<bool>,
    pub plan_id: Option<String>,
    pub finding: Option<Finding>,
    pub repaired: bool,
    pub inspections_failed: u32,
    pub passed: bool,
    /// QC filed the original form (rule 8).
    #[serde(default)]
    pub form_archived: bool,
    pub disposition: Option<Disposition>,
    pub customer_insisted_fee: Option<i64>,
    pub development_confirmed: bool,
    /// Rule 12: the customer's recorded decision not to take the unit back.
    #[serde(default)]
    pub customer_declined: bool,
    pub outcome: Option<ReturnOutcome>,
}

/// A handover signed by the giver, waiting for the receiver.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PendingHandover {
    pub handover_id: String,
    pub from: PersonRef,
    pub to: PersonRef,
    pub plan_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UnitState {
    pub serial: String,
    pub product: Option<ProductInfo>,
    pub step: Step,
    pub custody: Option<Custody>,
    pub zone: Option<Zone>,
    pub pending_handover: Option<PendingHandover>,
    /// Every return, the current one last.
    pub returns: Vec<ReturnCase>,
    /// Rules 9–11: the customer is owed an exchange.
    pub exchange_due: bool,
    pub exchanged_with: Option<String>,
    /// The spare's young-unit flag: after scrapping it goes to development (rule 11).
    pub to_development: bool,
    /// Times this unit was used on site as a spare (rule 12's "low use").
    pub field_uses: u32,
    pub retrieval_due: Option<DateTime<Utc>>,
    /// Times the unit's shipped state was recorded (产品档案).
    pub shipments: u32,
    /// Years with a recorded follow-up visit or call.
    pub follow_up_years: std::collections::BTreeSet<i32>,
}

impl UnitState {
    /// A unit never seen before.
    pub fn new(serial: impl Into<String>) -> Self {
        UnitState {
            serial: serial.into(),
            product: None,
            step: Step::New,
            custody: None,
            zone: None,
            pending_handover: None,
            returns: Vec::new(),
            exchange_due: false,
            exchanged_with: None,
            to_development: false,
            field_uses: 0,
            retrieval_due: None,
            shipments: 0,
            follow_up_years: Default::default(),
        }
    }
}

impl UnitState {
    /// Folds a whole history.
    pub fn from_events<'a>(
        serial: impl Into<String>,
        events: impl IntoIterator<Item = &'a UnitEvent>,
    ) -> UnitState {
        events
            .into_iter()
            .fold(UnitState::new(serial), |s, e| s.evolve(e))
    }

    /// The open return, if any.
    pub fn open_return(&self) -> Option<&ReturnCase> {
        self.returns.last().filter(|r| r.outcome.is_none())
    }

    fn open_return_mut(&mut self) -> Option<&mut ReturnCase> {
        self.returns.last_mut().filter(|r| r.outcome.is_none())
    }

    /// The person holding the unit, if a person does.
    pub fn custodian(&self) -> Option<(&str, crate::Role)> {
        match &self.custody {
            Some(Custody::Person { person_id, role }) => Some((person_id.as_str(), *role)),
            _ => None,
        }
    }

    /// Closed returns that ended with a repair (a fault found and fixed).
    pub fn prior_repairs(&self) -> u32 {
        self.returns
            .iter()
            .filter(|r| r.outcome.is_some() && r.repaired)
            .count() as u32
    }

    /// Returns (closed or current) whose last finding was "no fault".
    pub fn no_fault_returns(&self) -> u32 {
        self.returns
            .iter()
            .filter(|r| r.finding == Some(Finding::NoFault))
            .count() as u32
    }

    /// Days from production to `on`, if the production date is known.
    pub fn age_days(&self, on: NaiveDate) -> Option<i64> {
        self.product
            .as_ref()
            .map(|p| (on - p.production_date).num_days())
    }

    /// Applies one event.
    pub fn evolve(mut self, event: &UnitEvent) -> UnitState {
        use UnitEvent::*;
        match event {
            ProductIdentified { product, .. } => {
                self.product = Some(product.clone());
            }
            ReturnOpened {
                return_id,
                mode,
                customer,
                custody,
                emergency_retrieval,
                at,
                ..
            } => {
                let received = matches!(
                    custody,
                    Custody::Person {
                        role: crate::Role::AfterSales,
                        ..
                    }
                );
                self.returns.push(ReturnCase {
                    return_id: return_id.clone(),
                    mode: *mode,
                    customer: customer.clone(),
                    opened_at: *at,
                    emergency_retrieval: *emergency_retrieval,
                    arrived_at: received.then_some(*at),
                    in_warranty: None,
                    plan_id: None,
                    finding: None,
                    repaired: false,
                    inspections_failed: 0,
                    passed: false,
                    form_archived: false,
                    disposition: None,
                    customer_insisted_fee: None,
                    development_confirmed: false,
                    customer_declined: false,
                    outcome: None,
                });
                self.custody = Some(custody.clone());
                self.step = if received {
                    Step::Received
                } else {
                    Step::ReturnOpened
                };
                self.retrieval_due = None;
                self.exchange_due = false;
                self.exchanged_with = None;
            }
            ReceivedByPost {
                received_by, at, ..
            } => {
                self.custody = Some(Custody::Person {
                    person_id: received_by.person_id.clone(),
                    role: received_by.role,
                });
                self.step = Step::Received;
                if let Some(r) = self.open_return_mut() {
                    r.arrived_at = Some(*at);
                }
            }
            HandoverInitiated {
                handover_id,
                from,
                to,
                plan_id,
                ..
            } => {
                self.pending_handover = Some(PendingHandover {
                    handover_id: handover_id.clone(),
                    from: from.clone(),
                    to: to.clone(),
                    plan_id: plan_id.clone(),
                });
            }
            HandoverSigned { to, at, .. } => {
                let pending = self.pending_handover.take();
                self.custody = Some(Custody::Person {
                    person_id: to.person_id.clone(),
                    role: to.role,
                });
                self.step = super::decide::step_after_handover(self.step, to.role);
                let step = self.step;
                if let Some(r) = self.open_return_mut() {
                    if step == Step::Received && r.arrived_at.is_none() {
                        r.arrived_at = Some(*at);
                    }
                    if step == Step::InRepair {
                        if let Some(plan) = pending.and_then(|p| p.plan_id) {
                            r.plan_id = Some(plan);
                        }
                        r.finding = None;
                        r.repaired = false;
                    }
                }
            }
            HandoverCancelled { .. } => self.pending_handover = None,
            ZoneEntered { zone, .. } => {
                self.zone = Some(*zone);
                self.step = match zone {
                    Zone::AwaitingRepair => Step::Registered,
                    Zone::RepairedAwaitingReturn => Step::AwaitingReturn,
                    Zone::Spares => Step::Spare,
                    Zone::Scrap => Step::Scrapped,
                };
            }
            ZoneExited { .. } => self.zone = None,
            UnitRegistered { warranty, .. } => {
                if let Some(r) = self.open_return_mut() {
                    r.in_warranty = Some(warranty.in_warranty);
                }
            }
            FaultConfirmed { cause, .. } => {
                if let Some(r) = self.open_return_mut() {
                    r.finding = Some(Finding::Fault { cause: *cause });
                }
            }
            NoFaultFound { .. } => {
                if let Some(r) = self.open_return_mut() {
                    r.finding = Some(Finding::NoFault);
                }
                self.step = Step::NoFaultFound;
            }
            TwoStrikesRepairedReached { .. } => {
                self.step = Step::MustScrap;
                self.exchange_due = true;
            }
            TwoStrikesNoFaultReached { .. } => {
                self.step = Step::NoFaultTwice;
                self.exchange_due = true;
            }
            UnitRepaired { .. } => {
                if let Some(r) = self.open_return_mut() {
                    r.repaired = true;
                }
                self.step = Step::Repaired;
            }
            UnitDeclaredUnrepairable { .. } => self.step = Step::Unrepairable,
            InspectionPassed { .. } => {
                if let Some(r) = self.open_return_mut() {
                    r.passed = true;
                }
                self.step = Step::Qualified;
            }
            FormArchived { return_id, .. } => {
                if let Some(r) = self.returns.iter_mut().find(|r| &r.return_id == return_id) {
                    r.form_archived = true;
                }
            }
            InspectionFailed { .. } => {
                if let Some(r) = self.open_return_mut() {
                    r.inspections_failed += 1;
                }
                self.step = Step::InspectionFailed;
            }
            DispositionDecided { disposition, .. } => {
                if let Some(r) = self.open_return_mut() {
                    r.disposition = Some(*disposition);
                }
                if *disposition == Disposition::ScrapAndExchange {
                    self.exchange_due = true;
                }
                self.step = Step::Disposed;
            }
            CustomerInsistedOnReturn { fee_minor, .. } => {
                if let Some(r) = self.open_return_mut() {
                    r.customer_insisted_fee = Some(*fee_minor);
                }
            }
            NoFaultConfirmedByDevelopment { .. } => {
                if let Some(r) = self.open_return_mut() {
                    r.development_confirmed = true;
                }
            }
            UnitScrapped { to_development, .. } => {
                self.to_development = *to_development;
                self.step = Step::Scrapped;
            }
            ReturnedToCustomer { .. } => {
                let customer_id = self
                    .open_return()
                    .map(|r| r.customer.customer_id.clone())
                    .unwrap_or_default();
                self.custody = Some(Custody::Customer { customer_id });
                self.step = Step::AtCustomer;
            }
            ReturnClosed { outcome, .. } => {
                if let Some(r) = self.open_return_mut() {
                    r.outcome = Some(*outcome);
                }
            }
            CustomerDeclinedReturn { .. } => {
                if let Some(r) = self.open_return_mut() {
                    r.customer_declined = true;
                }
            }
            RegisteredAsSpare { .. } => self.step = Step::Spare,
            ReturnedToStock { .. } => {
                self.custody = Some(Custody::Stock);
                self.step = Step::InStock;
            }
            SpareUsedOnSite { customer, .. } => {
                self.custody = Some(Custody::Customer {
                    customer_id: customer.customer_id.clone(),
                });
                self.field_uses += 1;
                self.step = Step::AtCustomer;
            }
            ReplacedBySpareOnSite {
                customer,
                retrieval_due,
                ..
            } => {
                self.custody = Some(Custody::Customer {
                    customer_id: customer.customer_id.clone(),
                });
                self.retrieval_due = Some(*retrieval_due);
                self.step = Step::AwaitingRetrieval;
            }
            CustomerUnitExchanged {
                replacement_serial, ..
            } => {
                self.exchange_due = false;
                self.exchanged_with = Some(replacement_serial.clone());
            }
            IssuedAsExchange { customer, .. } => {
                self.custody = Some(Custody::Customer {
                    customer_id: customer.customer_id.clone(),
                });
                self.step = Step::AtCustomer;
            }
            UnitProduced { .. } => {
                self.custody = Some(Custody::Stock);
                self.step = Step::InStock;
            }
            UnitShipped { .. } => self.shipments += 1,
            FollowUpRecorded { year, .. } => {
                self.follow_up_years.insert(*year);
            }
        }
        self
    }
}

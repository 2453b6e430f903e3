//! Commands on a unit: the return-for-repair process, one endpoint per step.

use actix_web::web::{Data, Path};
use actix_web::{post, HttpRequest, HttpResponse};
use repairledger_domain::plan::{PlanEvent, PlanState, PlanStatus};
use repairledger_domain::streams;
use repairledger_domain::unit::{self, *};
use repairledger_domain::{DomainError, Role};

use crate::auth::Caller;
use crate::command::{check_id, execute, load, refused, Meta, Planned};
use crate::dto::*;
use crate::json::Json;
use crate::problem::ApiError;
use crate::routes::signatures::resolve as resolve_signature;
use crate::AppState;

/// Loads a unit's state and version. Unknown units exist only for the commands that create them.
pub fn load_unit(state: &AppState, serial: &str) -> Result<(UnitState, u64), ApiError> {
    let (events, version) = load::<UnitEvent>(state, &streams::unit(serial))?;
    Ok((UnitState::from_events(serial, events.iter()), version))
}

fn known_unit(state: &AppState, serial: &str) -> Result<(UnitState, u64), ApiError> {
    let loaded = load_unit(state, serial)?;
    if loaded.1 == 0 {
        return Err(ApiError::UnitNotFound(serial.into()));
    }
    Ok(loaded)
}

/// The shared path of single-unit commands.
async fn unit_command(
    state: &AppState,
    meta: Meta,
    serial: &str,
    creates: bool,
    make: impl Fn(&AppState, &UnitState) -> Result<UnitCommand, ApiError>,
) -> Result<HttpResponse, ApiError> {
    check_id("serial", serial)?;
    execute(state, meta, &streams::unit(serial), |state, ctx| {
        let (unit, version) = if creates {
            load_unit(state, serial)?
        } else {
            known_unit(state, serial)?
        };
        let cmd = make(state, &unit)?;
        let events = unit::decide(&unit, &cmd, ctx).map_err(refused)?;
        Ok(vec![Planned::new(streams::unit(serial), version, &events)])
    })
    .await
}

/// Open a return for a unit.
///
/// Rule 1: carried back by a field receiver, mailed by the on-site handler, or brought by the
/// customer (after-sales fills the form). Placeholder descriptions are refused unless the form
/// records why they could not be verified.
#[utoipa::path(
    post, path = "/v1/units/{serial}/returns", tag = "returns", operation_id = "openReturn",
    request_body = OpenReturnRequest,
    params(("serial" = String, Path, description = "The unit's serial number")),
    responses((status = 200, description = "The return was opened", body = CommandResponse))
)]
#[post("/units/{serial}/returns")]
pub async fn open_return(
    req: HttpRequest,
    state: Data<AppState>,
    caller: Caller,
    serial: Path<String>,
    body: Json<OpenReturnRequest>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    check_id("return_id", &b.return_id)?;
    unit_command(
        &state,
        Meta::new(&req, &state, &caller, b.occurred_at, &b)?,
        &serial,
        true,
        |state, _| {
            Ok(UnitCommand::OpenReturn(OpenReturn {
                return_id: b.return_id.clone(),
                mode: b.mode,
                customer: b.customer.clone(),
                product: b.product.clone(),
                form: b.form.clone(),
                customer_signature: b
                    .customer_signature
                    .as_ref()
                    .map(|s| resolve_signature(state, s))
                    .transpose()?,
                receiver_returned_at: b.receiver_returned_at,
                customer_due_date: b.customer_due_date,
            }))
        },
    )
    .await
}

/// Receive a mailed unit from the post (after-sales).
#[utoipa::path(
    post, path = "/v1/units/{serial}/receipt-by-post", tag = "returns", operation_id = "receiveByPost",
    request_body = ReceiveByPostRequest,
    params(("serial" = String, Path, description = "The unit's serial number")),
    responses((status = 200, description = "After-sales holds the unit", body = CommandResponse))
)]
#[post("/units/{serial}/receipt-by-post")]
pub async fn receive_by_post(
    req: HttpRequest,
    state: Data<AppState>,
    caller: Caller,
    serial: Path<String>,
    body: Json<ReceiveByPostRequest>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    unit_command(
        &state,
        Meta::new(&req, &state, &caller, b.occurred_at, &b)?,
        &serial,
        false,
        |_, _| {
            Ok(UnitCommand::ReceiveByPost {
                waybill: b.waybill.clone(),
            })
        },
    )
    .await
}

/// Start a signed handover (the custodian signs).
///
/// Rule 2: only the custodian hands over; custody moves when the receiver signs. Rule 4: a unit
/// goes to the repair dept only after after-sales registered it. Rule 6: and only on an issued
/// plan that lists it (`plan_id`).
#[utoipa::path(
    post, path = "/v1/units/{serial}/handovers", tag = "handovers", operation_id = "initiateHandover",
    request_body = InitiateHandoverRequest,
    params(("serial" = String, Path, description = "The unit's serial number")),
    responses((status = 200, description = "The handover waits for the receiver's signature", body = CommandResponse))
)]
#[post("/units/{serial}/handovers")]
pub async fn initiate_handover(
    req: HttpRequest,
    state: Data<AppState>,
    caller: Caller,
    serial: Path<String>,
    body: Json<InitiateHandoverRequest>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    check_id("handover_id", &b.handover_id)?;
    let serial_s = serial.clone();
    unit_command(
        &state,
        Meta::new(&req, &state, &caller, b.occurred_at, &b)?,
        &serial,
        false,
        |state, _| {
            let to = state
                .directory
                .person(&b.to_person_id)
                .ok_or_else(|| ApiError::UnknownPerson(b.to_person_id.clone()))?;
            let plan = match (&b.plan_id, to.role) {
                (Some(plan_id), Role::Repair) => {
                    check_id("plan_id", plan_id)?;
                    let (events, _) = load::<PlanEvent>(state, &streams::plan(plan_id))?;
                    let plan = PlanState::from_events(plan_id, events.iter());
                    if plan.status == PlanStatus::None {
                        return Err(ApiError::PlanNotFound(plan_id.clone()));
                    }
                    Some(PlanSnapshot {
                        plan_id: plan_id.clone(),
                        issued: plan.status == PlanStatus::Issued,
                        lists_unit: plan.lists(&serial_s),
                    })
                }
                _ => None,
            };
            Ok(UnitCommand::InitiateHandover(InitiateHandover {
                handover_id: b.handover_id.clone(),
                to: PersonRefInput {
                    person_id: to.person_id.clone(),
                    role: to.role,
                },
                plan,
            }))
        },
    )
    .await
}

/// Sign a handover as its receiver: custody moves to you.
#[utoipa::path(
    post, path = "/v1/units/{serial}/handovers/{handover_id}/signature", tag = "handovers",
    operation_id = "signHandover", request_body = StepRequest,
    params(
        ("serial" = String, Path, description = "The unit's serial number"),
        ("handover_id" = String, Path, description = "The handover to sign")
    ),
    responses((status = 200, description = "Custody moved", body = CommandResponse))
)]
#[post("/units/{serial}/handovers/{handover_id}/signature")]
pub async fn sign_handover(
    req: HttpRequest,
    state: Data<AppState>,
    caller: Caller,
    path: Path<(String, String)>,
    body: Json<StepRequest>,
) -> Result<HttpResponse, ApiError> {
    let (serial, handover_id) = path.into_inner();
    check_id("handover_id", &handover_id)?;
    let b = body.into_inner();
    unit_command(
        &state,
        Meta::new(&req, &state, &caller, b.occurred_at, &b)?,
        &serial,
        false,
        |_, _| {
            Ok(UnitCommand::SignHandover {
                handover_id: handover_id.clone(),
            })
        },
    )
    .await
}

/// Withdraw a handover before the receiver signs (either party).
#[utoipa::path(
    post, path = "/v1/units/{serial}/handovers/{handover_id}/cancellation", tag = "handovers",
    operation_id = "cancelHandover", request_body = CancelHandoverRequest,
    params(
        ("serial" = String, Path, description = "The unit's serial number"),
        ("handover_id" = String, Path, description = "The handover to withdraw")
    ),
    responses((status = 200, description = "The handover was withdrawn", body = CommandResponse))
)]
#[post("/units/{serial}/handovers/{handover_id}/cancellation")]
pub async fn cancel_handover(
    req: HttpRequest,
    state: Data<AppState>,
    caller: Caller,
    path: Path<(String, String)>,
    body: Json<CancelHandoverRequest>,
) -> Result<HttpResponse, ApiError> {
    let (serial, handover_id) = path.into_inner();
    check_id("handover_id", &handover_id)?;
    let b = body.into_inner();
    unit_command(
        &state,
        Meta::new(&req, &state, &caller, b.occurred_at, &b)?,
        &serial,
        false,
        |_, _| {
            Ok(UnitCommand::CancelHandover {
                handover_id: handover_id.clone(),
                reason: b.reason.clone(),
            })
        },
    )
    .await
}

/// Defines a unit command endpoint whose body maps directly to one domain command.
macro_rules! unit_step {
    ($(#[$doc:meta])* $name:ident, $route:literal, $api_path:literal, $body:ty, $op:literal, $tag:literal, $ok:literal,
     |$b:ident| $cmd:expr) => {
        $(#[$doc])*
        #[utoipa::path(
            post, path = $api_path, tag = $tag, operation_id = $op,
            request_body = $body,
            params(("serial" = String, Path, description = "The unit's serial number")),
            responses((status = 200, description = $ok, body = CommandResponse))
        )]
        #[post($route)]
        pub async fn $name(
            req: HttpRequest,
            state: Data<AppState>,
            caller: Caller,
            serial: Path<String>,
            body: Json<$body>,
        ) -> Result<HttpResponse, ApiError> {
            let $b = body.into_inner();
            unit_command(&state, Meta::new(&req, &state, &caller, $b.occurred_at, &$b)?, &serial, false, |_, _| Ok($cmd)).await
        }
    };
}

unit_step!(
    /// Record the unit's shipped state in its file (production or after-sales): customer, date,
    /// configuration.
    record_shipment, "/units/{serial}/shipments", "/v1/units/{serial}/shipments", crate::quality_dto::ShipmentRequest,
    "recordShipment", "units", "On file",
    |b| UnitCommand::RecordShipment { customer: b.customer.clone(), shipped_on: b.shipped_on, configuration: b.configuration.clone() }
);
unit_step!(
    /// Record the yearly follow-up with the user (after-sales), one per year.
    record_follow_up, "/units/{serial}/follow-ups", "/v1/units/{serial}/follow-ups", crate::quality_dto::FollowUpRequest,
    "recordFollowUp", "units", "On file",
    |b| UnitCommand::RecordFollowUp { year: b.year, satisfaction: b.satisfaction, notes: b.notes.clone() }
);
unit_step!(
    /// Register a received unit (after-sales): warranty is fixed at arrival and the unit enters
    /// the awaiting-repair zone (rule 5).
    register, "/units/{serial}/registration", "/v1/units/{serial}/registration", StepRequest, "registerUnit", "returns", "Registered",
    |b| UnitCommand::Register
);
unit_step!(
    /// Confirm the fault and its cause, or find no fault (repair dept, rule 7). The two-strikes
    /// rules (10, 11) are evaluated here.
    confirm_fault, "/units/{serial}/fault-confirmation", "/v1/units/{serial}/fault-confirmation", ConfirmFaultRequest, "confirmFault", "repair", "Finding recorded",
    |b| UnitCommand::ConfirmFault { fault_found: b.fault_found, cause: b.cause, analysis: b.analysis.clone() }
);
unit_step!(
    /// Record the repair (repair dept). Refused after the two-strikes rule 10.
    record_repair, "/units/{serial}/repair", "/v1/units/{serial}/repair", RecordRepairRequest, "recordRepair", "repair", "Repair recorded",
    |b| UnitCommand::RecordRepair { work_done: b.work_done.clone() }
);
unit_step!(
    /// Declare the unit unrepairable: badly damaged or not worth repairing (rule 9).
    declare_unrepairable, "/units/{serial}/unrepairable", "/v1/units/{serial}/unrepairable", DeclareUnrepairableRequest, "declareUnrepairable", "repair",
    "Declared unrepairable",
    |b| UnitCommand::DeclareUnrepairable { reason: b.reason, detail: b.detail.clone() }
);
unit_step!(
    /// QC's functional inspection (rule 8): a pass labels the unit; a fail sends it back to
    /// repair.
    inspect, "/units/{serial}/inspections", "/v1/units/{serial}/inspections", InspectRequest, "inspectUnit", "inspection", "Inspection recorded",
    |b| UnitCommand::Inspect { passed: b.passed, label: b.label.clone(), findings: b.findings.clone() }
);
unit_step!(
    /// QC files the original information transfer form (rule 8), once it has travelled with the
    /// passed unit to after-sales, or the return ended.
    archive_form, "/units/{serial}/form-archive", "/v1/units/{serial}/form-archive", ArchiveFormRequest, "archiveForm", "inspection", "Form archived",
    |b| UnitCommand::ArchiveForm { archive_ref: b.archive_ref.clone() }
);
unit_step!(
    /// Put a qualified unit in the repaired-awaiting-return zone (after-sales, rule 12).
    place_for_return, "/units/{serial}/placement-for-return", "/v1/units/{serial}/placement-for-return", StepRequest, "placeForReturn", "dispositions",
    "The unit entered the repaired-awaiting-return zone",
    |b| UnitCommand::PlaceForReturn
);
unit_step!(
    /// Record the customer's decision not to take the repaired unit back, with the reason
    /// (after-sales or technical service, rule 12): without it, or an exchange, or a spare left
    /// on site, the customer's unit does not become a spare.
    record_customer_declined_return, "/units/{serial}/customer-declined-return", "/v1/units/{serial}/customer-declined-return",
    CustomerDeclinedReturnRequest, "recordCustomerDeclinedReturn", "spares", "Decision recorded",
    |b| UnitCommand::RecordCustomerDeclinedReturn { reason: b.reason.clone() }
);
unit_step!(
    /// Register a qualified unit as a repair spare in the spares zone (after-sales, rule 12):
    /// only a unit not to be returned (exchanged, replaced on site, or declined by the customer).
    register_as_spare, "/units/{serial}/spare-registration", "/v1/units/{serial}/spare-registration", StepRequest, "registerAsSpare", "spares",
    "The unit entered the spares zone",
    |b| UnitCommand::RegisterAsSpare
);
/// Deliver the unit to the customer, who signs (technical service, rule 12).
///
/// The signature is evidence: a record uploaded with `POST /v1/signatures` (captured, or
/// portal when the customer uploaded it), or a name typed by staff with the reason.
#[utoipa::path(
    post, path = "/v1/units/{serial}/delivery", tag = "dispositions", operation_id = "deliverToCustomer",
    request_body = DeliverRequest,
    params(("serial" = String, Path, description = "The unit's serial number")),
    responses((status = 200, description = "Delivered", body = CommandResponse))
)]
#[post("/units/{serial}/delivery")]
pub async fn deliver(
    req: HttpRequest,
    state: Data<AppState>,
    caller: Caller,
    serial: Path<String>,
    body: Json<DeliverRequest>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    unit_command(
        &state,
        Meta::new(&req, &state, &caller, b.occurred_at, &b)?,
        &serial,
        false,
        |state, _| {
            Ok(UnitCommand::DeliverToCustomer {
                customer_signature: resolve_signature(state, &b.customer_signature)?,
            })
        },
    )
    .await
}
unit_step!(
    /// Decide an unrepairable unit's fate by warranty and cause (technical service, rule 9).
    decide_disposition, "/units/{serial}/disposition", "/v1/units/{serial}/disposition", DispositionRequest, "decideDisposition", "dispositions",
    "Disposition decided",
    |b| UnitCommand::DecideDisposition {
        customer_cause: b.customer_cause,
        customer_needs_unit: b.customer_needs_unit,
        explanation: b.explanation.clone(),
    }
);
unit_step!(
    /// The customer insists on getting a twice-no-fault unit back and pays the fee (rule 11).
    customer_insists, "/units/{serial}/customer-insistence", "/v1/units/{serial}/customer-insistence", CustomerInsistsRequest, "recordCustomerInsistence",
    "dispositions", "Fee recorded",
    |b| UnitCommand::RecordCustomerInsists { fee_minor: b.fee_minor }
);
unit_step!(
    /// The development dept confirms a twice-no-fault finding (rule 11).
    confirm_no_fault, "/units/{serial}/development-confirmation", "/v1/units/{serial}/development-confirmation", DevelopmentConfirmationRequest,
    "confirmNoFaultByDevelopment", "dispositions", "Confirmation recorded",
    |b| UnitCommand::ConfirmNoFault { finding: b.finding.clone() }
);
unit_step!(
    /// Scrap by the factory procedure (after-sales): the unit enters the scrap zone (rules 9–11).
    scrap, "/units/{serial}/scrap", "/v1/units/{serial}/scrap", ScrapRequest, "scrapUnit", "dispositions", "Scrapped",
    |b| UnitCommand::Scrap { reason: b.reason.clone() }
);
unit_step!(
    /// Return a spare of high value, recent production and low use to stock (退库, rule 12).
    return_to_stock, "/units/{serial}/return-to-stock", "/v1/units/{serial}/return-to-stock", ReturnToStockRequest, "returnSpareToStock", "spares",
    "Returned to stock",
    |b| UnitCommand::ReturnToStock { value_minor: b.value_minor }
);

/// Exchange the customer's unit for a replacement (after-sales, rules 9–11).
///
/// Both units' histories record the other serial. Atomic: both streams or neither.
#[utoipa::path(
    post, path = "/v1/units/{serial}/exchange", tag = "dispositions", operation_id = "exchangeUnit",
    request_body = ExchangeRequest,
    params(("serial" = String, Path, description = "The faulty unit's serial number")),
    responses((status = 200, description = "Exchanged", body = CommandResponse))
)]
#[post("/units/{serial}/exchange")]
pub async fn exchange(
    req: HttpRequest,
    state: Data<AppState>,
    caller: Caller,
    serial: Path<String>,
    body: Json<ExchangeRequest>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    check_id("serial", &serial)?;
    check_id("replacement_serial", &b.replacement_serial)?;
    // Well-formed, but no exchange: a rule the schema cannot state (422).
    if b.replacement_serial == *serial {
        return Err(ApiError::Domain(DomainError::InvalidInput {
            field: "replacement_serial",
            reason: "a unit cannot replace itself".into(),
        }));
    }
    let meta = Meta::new(&req, &state, &caller, b.occurred_at, &b)?;
    execute(&state, meta, &streams::unit(&serial), |state, ctx| {
        let (faulty, fv) = known_unit(state, &serial)?;
        let (replacement, rv) = load_unit(state, &b.replacement_serial)?;
        let cmd = Exchange {
            replacement_serial: b.replacement_serial.clone(),
            replacement_product: b.replacement_product.clone(),
            customer_signature: resolve_signature(state, &b.customer_signature)?,
        };
        let (fe, re) = unit::exchange(&faulty, &replacement, &cmd, ctx).map_err(refused)?;
        Ok(vec![
            Planned::new(streams::unit(&serial), fv, &fe),
            Planned::new(streams::unit(&b.replacement_serial), rv, &re),
        ])
    })
    .await
}

/// Use this repair spare on site in place of a faulty unit (rule 14).
///
/// The faulty unit must then be retrieved by the policy's deadline; once repaired it becomes a spare.
#[utoipa::path(
    post, path = "/v1/units/{serial}/emergency-use", tag = "spares", operation_id = "useSpareOnSite",
    request_body = EmergencyUseRequest,
    params(("serial" = String, Path, description = "The spare's serial number")),
    responses((status = 200, description = "The spare replaced the faulty unit", body = CommandResponse))
)]
#[post("/units/{serial}/emergency-use")]
pub async fn emergency_use(
    req: HttpRequest,
    state: Data<AppState>,
    caller: Caller,
    serial: Path<String>,
    body: Json<EmergencyUseRequest>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    check_id("serial", &serial)?;
    check_id("faulty_serial", &b.faulty_serial)?;
    if b.faulty_serial == *serial {
        return Err(ApiError::Domain(DomainError::InvalidInput {
            field: "faulty_serial",
            reason: "a spare cannot replace itself".into(),
        }));
    }
    let meta = Meta::new(&req, &state, &caller, b.occurred_at, &b)?;
    execute(&state, meta, &streams::unit(&serial), |state, ctx| {
        let (spare, sv) = known_unit(state, &serial)?;
        let (faulty, fv) = load_unit(state, &b.faulty_serial)?;
        let cmd = UseSpareOnSite {
            faulty_serial: b.faulty_serial.clone(),
            customer: b.customer.clone(),
            site: b.site.clone(),
            record: b.record.clone(),
            customer_signature: resolve_signature(state, &b.customer_signature)?,
        };
        let (se, fe) = unit::use_spare_on_site(&spare, &faulty, &cmd, ctx).map_err(refused)?;
        Ok(vec![
            Planned::new(streams::unit(&serial), sv, &se),
            Planned::new(streams::unit(&b.faulty_serial), fv, &fe),
        ])
    })
    .await
}

//! Arbitrary bytes as a command body, decoded the way the API decodes one.
//!
//! The bytes are parsed as JSON (`serde_json::Value`, as the body extractor does) and the body's
//! top-level strings go through the public id checks of `command.rs`. Then, for every request
//! body type, what a handler does with the body: deserialize the DTO from the `Value`, and
//! `Meta::new` turns the DTO back into a `Value` (with `expect`), runs the size checks of
//! `command.rs` over it (`check_sizes`, private, so not called here) and serializes it for the
//! idempotency fingerprint (with `expect`). Deserializing from the `Value` runs the same derived
//! code as `serde_json::from_slice::<T>` (what `actix_web::web::Json<T>` does) and halves the
//! build time of this target.
//!
//! Nothing here may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use repairledger_api::command::{check_id, check_id_up_to};
use repairledger_api::dto::*;
use repairledger_api::field_dto::*;
use repairledger_api::quality_dto::*;
use repairledger_api::routes::access::{EraseRequest, IssueTokenRequest, RevokeTokenRequest};
use repairledger_api::routes::webhooks::{SubscribeRequest, UnsubscribeRequest};
use serde::{de::DeserializeOwned, Serialize};
use serde_json::Value;

/// `Meta::new` with an accepted body: both `expect`s are the API's own.
fn meta<T: Serialize>(dto: &T) {
    let v = serde_json::to_value(dto).expect("request bodies serialize");
    let _ = serde_json::to_vec(&v).expect("request bodies serialize");
}

/// One request body type: the steps a body of this type takes in the API.
fn body<T: DeserializeOwned + Serialize>(value: &Value) {
    if let Ok(dto) = T::deserialize(value) {
        meta(&dto);
    }
}

/// Every request body type of the API (dto.rs, field_dto.rs, quality_dto.rs, routes).
macro_rules! bodies {
    ($value:expr; $($t:ty),+ $(,)?) => {
        $( body::<$t>($value); )+
    };
}

fuzz_target!(|data: &[u8]| {
    let Ok(value) = serde_json::from_slice::<Value>(data) else {
        // Not JSON: no body type accepts it either.
        return;
    };
    if let Value::Object(o) = &value {
        for s in o.values().filter_map(Value::as_str) {
            let _ = check_id("id", s);
            let _ = check_id_up_to("id", s, 200);
        }
    }
    bodies!(&value;
        // dto.rs
        OpenReturnRequest,
        ReceiveByPostRequest,
        InitiateHandoverRequest,
        StepRequest,
        CancelHandoverRequest,
        ConfirmFaultRequest,
        RecordRepairRequest,
        DeclareUnrepairableRequest,
        InspectRequest,
        DeliverRequest,
        DispositionRequest,
        CustomerInsistsRequest,
        DevelopmentConfirmationRequest,
        ScrapRequest,
        ReturnToStockRequest,
        ExchangeRequest,
        EmergencyUseRequest,
        CompilePlanRequest,
        AmendmentRequest,
        RevisePlanRequest,
        OrderProductionRequest,
        CompleteProductionRequest,
        // field_dto.rs
        ReceiveServiceRequest,
        RelayRequest,
        NoteRequest,
        ReasonRequest,
        CompetitorApprovalRequest,
        WarrantyDecisionRequest,
        AnswerRequest,
        SolutionRequest,
        QuoteRequest,
        QuoteConfirmationRequest,
        DepartureRequest,
        WorkLogRequest,
        FeedbackRequest,
        SiteDepartureApprovalRequest,
        LeaveSiteRequest,
        TripReportRequest,
        PartsReturnRequest,
        ReinspectionRequest,
        SatisfactionCheckRequest,
        ClockPauseRequest,
        ClockResumeRequest,
        EscalationRequest,
        ClosureRequest,
        AssessPenaltyRequest,
        UnclearRecordPenaltyRequest,
        // quality_dto.rs
        RegisterComplaintRequest,
        SampleInspectionRequest,
        NonconformingControlRequest,
        TraceLinkRequest,
        ResolveComplaintRequest,
        QuantityRequest,
        GoodsInspectionRequest,
        RaiseQualityIssueRequest,
        InvestigationRequest,
        InstructionRequest,
        AnalysisRequest,
        ShipmentRequest,
        FollowUpRequest,
        // routes/webhooks.rs, routes/access.rs
        SubscribeRequest,
        UnsubscribeRequest,
        IssueTokenRequest,
        RevokeTokenRequest,
        EraseRequest,
    );
});

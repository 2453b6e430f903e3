//! Emergency production (rule 14; stream `production-{order}`): ordered by after-sales only when
//! no repair spare of the model is available; production builds the unit and opens its file.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::actor::Role;
use crate::error::DomainError;
use crate::unit::{Ctx, CustomerRef, ProductInfo, Step, UnitEvent, UnitState};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type", deny_unknown_fields)]
pub enum ProductionEvent {
    EmergencyProductionOrdered {
        order_id: String,
        model: String,
        customer: CustomerRef,
        faulty_serial: Option<String>,
        reason: String,
        ordered_by: String,
        at: DateTime<Utc>,
    },
    EmergencyProductionCompleted {
        order_id: String,
        serial: String,
        built_by: String,
        at: DateTime<Utc>,
    },
}

impl ProductionEvent {
    pub fn event_type(&self) -> &'static str {
        match self {
            ProductionEvent::EmergencyProductionOrdered { .. } => "EmergencyProductionOrdered",
            ProductionEvent::EmergencyProductionCompleted { .. } => "EmergencyProductionCompleted",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OrderState {
    pub order_id: String,
    pub model: Option<String>,
    pub built_serial: Option<String>,
}

impl OrderState {
    pub fn new(order_id: impl Into<String>) -> Self {
        OrderState {
            order_id: order_id.into(),
            model: None,
            built_serial: None,
        }
    }

    pub fn evolve(mut self, e: &ProductionEvent) -> Self {
        match e {
            ProductionEvent::EmergencyProductionOrdered { model, .. } => {
                self.model = Some(model.clone())
            }
            ProductionEvent::EmergencyProductionCompleted { serial, .. } => {
                self.built_serial = Some(serial.clone())
            }
        }
        self
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct OrderEmergencyProduction {
    pub model: String,
    pub customer: CustomerRef,
    pub faulty_serial: Option<String>,
    pub reason: String,
    /// Spares of this model in the spares zone, as the adapter counted them.
    pub spares_available: u32,
}

pub fn order(
    state: &OrderState,
    c: &OrderEmergencyProduction,
    ctx: &Ctx,
) -> Result<Vec<ProductionEvent>, DomainError> {
    if ctx.actor.role != Role::AfterSales {
        return Err(DomainError::RoleNotPermitted {
            role: ctx.actor.role,
            action: "order emergency production",
        });
    }
    if state.model.is_some() {
        return Err(DomainError::StepOutOfOrder {
            step: "ordered",
            expected: "a new order id",
        });
    }
    if c.spares_available > 0 {
        return Err(DomainError::SpareAvailable {
            model: c.model.clone(),
            count: c.spares_available,
        });
    }
    if ctx.policy.is_placeholder(&c.reason) {
        return Err(DomainError::PlaceholderDescription { field: "reason" });
    }
    Ok(vec![ProductionEvent::EmergencyProductionOrdered {
        order_id: state.order_id.clone(),
        model: c.model.clone(),
        customer: c.customer.clone(),
        faulty_serial: c.faulty_serial.clone(),
        reason: c.reason.clone(),
        ordered_by: ctx.actor.person_id.clone(),
        at: ctx.at,
    }])
}

/// Completes an order: the order's event and the new unit's first events (its product file).
pub fn complete(
    state: &OrderState,
    unit: &UnitState,
    production_date: NaiveDate,
    warranty_end: NaiveDate,
    ctx: &Ctx,
) -> Result<(Vec<ProductionEvent>, Vec<UnitEvent>), DomainError> {
    if ctx.actor.role != Role::Production {
        return Err(DomainError::RoleNotPermitted {
            role: ctx.actor.role,
            action: "complete emergency production",
        });
    }
    let model = state.model.clone().ok_or(DomainError::StepOutOfOrder {
        step: "not ordered",
        expected: "an emergency production order",
    })?;
    if state.built_serial.is_some() {
        return Err(DomainError::StepOutOfOrder {
            step: "completed",
            expected: "an open order",
        });
    }
    if unit.step != Step::New {
        return Err(DomainError::InvalidInput {
            field: "serial",
            reason: "a unit with this serial already exists".into(),
        });
    }
    if warranty_end < production_date {
        return Err(DomainError::InvalidInput {
            field: "warranty_end",
            reason: "must not be before the production date".into(),
        });
    }
    Ok((
        vec![ProductionEvent::EmergencyProductionCompleted {
            order_id: state.order_id.clone(),
            serial: unit.serial.clone(),
            built_by: ctx.actor.person_id.clone(),
            at: ctx.at,
        }],
        vec![
            UnitEvent::ProductIdentified {
                serial: unit.serial.clone(),
                product: ProductInfo {
                    model,
                    production_date,
                    warranty_end,
                    batch: Some(format!("EMERGENCY-{}", state.order_id)),
                },
            },
            UnitEvent::UnitProduced {
                order_id: state.order_id.clone(),
                at: ctx.at,
            },
        ],
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Policy;
    use chrono::TimeZone;

    fn order_cmd(spares: u32) -> OrderEmergencyProduction {
        OrderEmergencyProduction {
            model: "RD-90".into(),
            customer: CustomerRef {
                customer_id: "C1".into(),
                name: "Plant".into(),
            },
            faulty_serial: None,
            reason: "line stopped, no spare".into(),
            spares_available: spares,
        }
    }

    #[test]
    fn emergency_production_is_refused_while_a_spare_is_available() {
        let policy = Policy::default_policy();
        let at = Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap();
        let actor = crate::Actor::new("as1", Role::AfterSales);
        let ctx = Ctx::new(&actor, at, &policy);
        let e = order(&OrderState::new("O1"), &order_cmd(2), &ctx).unwrap_err();
        assert_eq!(
            e,
            DomainError::SpareAvailable {
                model: "RD-90".into(),
                count: 2
            }
        );
        let events = order(&OrderState::new("O1"), &order_cmd(0), &ctx).unwrap();
        let state = events
            .iter()
            .fold(OrderState::new("O1"), |s, e| s.evolve(e));
        let d = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
        let prod = crate::Actor::new("pr1", Role::Production);
        let pctx = Ctx::new(&prod, at, &policy);
        assert_eq!(
            complete(
                &state,
                &UnitState::new("N1"),
                d(2026, 3, 5),
                d(2028, 3, 5),
                &ctx
            )
            .unwrap_err()
            .code(),
            "role-not-permitted"
        );
        let (oe, ue) = complete(
            &state,
            &UnitState::new("N1"),
            d(2026, 3, 5),
            d(2028, 3, 5),
            &pctx,
        )
        .unwrap();
        assert_eq!(oe.len(), 1);
        let unit = UnitState::from_events("N1", &ue);
        assert_eq!(unit.step, Step::InStock);
        assert_eq!(unit.product.unwrap().model, "RD-90");
    }
}
